// Runs from `npm test`'s `pretest`, after ensure-etcd.mjs: the VIP failover tests drive real
// network tools — `ip` (Debian `iproute2`) to build network namespaces, veths and a bridge, and
// to add and remove addresses, and `arping` (Debian `iputils-arping`) for gratuitous ARP. If a
// tool is missing, install its package with apt-get (as root, or through passwordless sudo),
// running `apt-get update` first only when the install fails (a fresh machine has no package
// lists). If that is not possible, fail with one clear message: those tests never skip.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Each tool the tests run, and the Debian package that ships it. */
const TOOLS = [
  { tool: 'ip', pkg: 'iproute2', versionArgs: ['-V'] },
  { tool: 'arping', pkg: 'iputils-arping', versionArgs: ['-V'] },
];

/** The first executable `name` on PATH (plus the sbin folders root's PATH may lack), or undefined. */
function onPath(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Prints the tool's version line; true if it is installed and runs. */
function report({ tool, versionArgs }) {
  const path = onPath(tool);
  if (!path) return false;
  const result = spawnSync(path, versionArgs, { encoding: 'utf8' });
  if (result.error) return false;
  const line = `${result.stdout || ''}${result.stderr || ''}`.split('\n').find((l) => l.trim()) ?? '';
  console.log(`ensure-net-tools: ${path}: ${line.trim()}`);
  return true;
}

/** Runs apt-get with `args` (through `sudo -n` unless root); true on success. */
function aptGet(args) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const [command, commandArgs] = isRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
  if (!onPath(command)) return false;
  console.log(`ensure-net-tools: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return result.status === 0;
}

const missing = TOOLS.filter((t) => !report(t));
if (missing.length === 0) process.exit(0);

const packages = missing.map((t) => t.pkg);
console.log(`ensure-net-tools: missing ${missing.map((t) => t.tool).join(', ')}; installing Debian package(s) ${packages.join(' ')}`);
const install = ['install', '-y', '--no-install-recommends', ...packages];
if (onPath('apt-get')) {
  if (!aptGet(install) && aptGet(['update'])) aptGet(install);
}
const stillMissing = missing.filter((t) => !report(t));
if (stillMissing.length === 0) process.exit(0);

console.error(
  [
    `ensure-net-tools: ERROR: ${stillMissing.map((t) => t.tool).join(', ')} is required by the VIP failover tests`,
    '(network namespaces, addresses, gratuitous ARP), is not installed, and could not be installed',
    'automatically (that needs apt-get and either root or passwordless sudo). Install it, then run the tests again:',
    `    sudo apt-get update && sudo apt-get install -y ${stillMissing.map((t) => t.pkg).join(' ')}    # Debian/Ubuntu`,
  ].join('\n'),
);
process.exit(1);
