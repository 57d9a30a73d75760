/**
 * Debian packages for the benchmarks that drive real programs (`bench/proxy`: wrk, HAProxy;
 * `bench/vip`: keepalived, iproute2): {@link ensureTools} finds each tool on the PATH (plus the
 * sbin folders) and, when one is missing, installs its package with apt-get — as root, or
 * through passwordless `sudo -n` — running `apt-get update` first only when the install fails
 * (a fresh machine has no package lists), like `scripts/ensure-tools.mjs`. When that is
 * impossible it throws one clear message, so the benchmark reports the measurement as failed.
 */
import { spawnSync } from 'node:child_process';
import { findExecutable } from '../controllers/vip-failover/index.js';

/** A program a benchmark runs, and the Debian package that ships it. */
export interface DebianTool {
  /** The executable's name, e.g. `wrk`. */
  tool: string;
  /** Its Debian package, e.g. `wrk`. */
  pkg: string;
}

/** The first executable `name` on PATH (plus the sbin and bin folders a PATH may lack), or undefined. */
export const onPath: (name: string) => string | undefined = findExecutable;

/** Runs apt-get with `args` (through `sudo -n` unless root), its output on stderr; true on success. */
function aptGet(args: readonly string[], log: (line: string) => void): boolean {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const [command, commandArgs] = isRoot ? ['apt-get', [...args]] : ['sudo', ['-n', 'apt-get', ...args]];
  if (!onPath(command)) return false;
  log(`${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 300_000,
  });
  return result.status === 0;
}

/**
 * Makes sure every tool of `tools` is installed, installing the missing ones' packages; resolves
 * with each tool's path by name. Throws, naming the missing tools and how to install them, when
 * that is not possible. `log` gets one line per apt-get run (e.g. the report's notes).
 */
export function ensureTools(tools: readonly DebianTool[], log: (line: string) => void = () => undefined): Record<string, string> {
  const missing = tools.filter((t) => !onPath(t.tool));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => t.pkg))];
    log(`missing ${missing.map((t) => t.tool).join(', ')}: installing Debian package(s) ${packages.join(' ')}`);
    const install = ['install', '-y', '--no-install-recommends', ...packages];
    if (onPath('apt-get') && !aptGet(install, log) && aptGet(['update'], log)) aptGet(install, log);
  }
  const stillMissing = tools.filter((t) => !onPath(t.tool));
  if (stillMissing.length > 0) {
    throw new Error(
      `${stillMissing.map((t) => t.tool).join(', ')} not installed and could not be installed automatically ` +
        `(needs apt-get and root or passwordless sudo): sudo apt-get update && sudo apt-get install -y ${[...new Set(stillMissing.map((t) => t.pkg))].join(' ')}`,
    );
  }
  return Object.fromEntries(tools.map((t) => [t.tool, onPath(t.tool)!]));
}
