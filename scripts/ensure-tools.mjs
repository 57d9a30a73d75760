// Runs as `npm test`'s `pretest`: the suites drive real programs, so they must be installed.
//
// - `etcd` (Debian `etcd-server`): the storage suites start real etcd members on random loopback
//   ports (a system service the package may start is left alone);
// - `ip` (`iproute2`) and `arping` (`iputils-arping`): the VIP failover tests build network
//   namespaces, veths and a bridge, add and remove addresses, and send gratuitous ARP;
// - `nft` (`nftables`), `conntrack` (`conntrack`) and `sysctl` (`procps`): the nftables proxy
//   mode and its tests (rules, stale UDP flows, route_localnet inside their namespaces);
// - `cc` (`gcc` with `libc6-dev`, its headers): builds the userspace proxy's native relay
//   (scripts/build-native.mjs), whose tests run with the rest.
//
// Each tool found prints its version line. Missing ones are installed with apt-get (as root, or
// through passwordless sudo), running `apt-get update` first only when the install fails (a fresh
// machine has no package lists). If that is not possible, fail with one clear message: those
// suites are never skipped.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Each tool the tests run, the Debian package that ships it, and how to ask its version. */
const TOOLS = [
  { tool: 'etcd', pkg: 'etcd-server', versionArgs: ['--version'], sbin: false },
  { tool: 'ip', pkg: 'iproute2', versionArgs: ['-V'], sbin: true },
  { tool: 'arping', pkg: 'iputils-arping', versionArgs: ['-V'], sbin: true },
  { tool: 'nft', pkg: 'nftables', versionArgs: ['--version'], sbin: true },
  { tool: 'sysctl', pkg: 'procps', versionArgs: ['--version'], sbin: true },
  { tool: 'conntrack', pkg: 'conntrack', versionArgs: ['--version'], sbin: true },
  { tool: 'cc', pkg: 'gcc libc6-dev', versionArgs: ['--version'], sbin: false, header: '/usr/include/stdio.h' },
];

/** The first executable `name` on PATH (and in the sbin folders root's PATH may lack, if `sbin`), or undefined. */
function onPath(name, sbin = true) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...(sbin ? ['/usr/sbin', '/sbin'] : [])];
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

/** Prints the tool's version line; true if it is installed and runs (and its `header`, if any, exists). */
function report({ tool, versionArgs, sbin, header }) {
  const path = onPath(tool, sbin);
  if (!path) return false;
  if (header) {
    try {
      accessSync(header, constants.R_OK);
    } catch {
      return false;
    }
  }
  const result = spawnSync(path, versionArgs, { encoding: 'utf8' });
  if (result.error || (tool === 'etcd' && result.status !== 0)) return false;
  const line = `${result.stdout || ''}${result.stderr || ''}`.split('\n').find((l) => l.trim()) ?? '';
  console.log(`ensure-tools: ${path}: ${line.trim()}`);
  return true;
}

/** Runs apt-get with `args` (through `sudo -n` unless root); true on success. */
function aptGet(args) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const [command, commandArgs] = isRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
  if (!onPath(command)) return false;
  console.log(`ensure-tools: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return result.status === 0;
}

const missing = TOOLS.filter((t) => !report(t));
if (missing.length === 0) process.exit(0);

const packages = missing.flatMap((t) => t.pkg.split(' '));
console.log(`ensure-tools: missing ${missing.map((t) => t.tool).join(', ')}; installing Debian package(s) ${packages.join(' ')}`);
const install = ['install', '-y', '--no-install-recommends', ...packages];
if (onPath('apt-get')) {
  if (!aptGet(install) && aptGet(['update'])) aptGet(install);
}
const stillMissing = missing.filter((t) => !report(t));
if (stillMissing.length === 0) process.exit(0);

console.error(
  [
    `ensure-tools: ERROR: ${stillMissing.map((t) => t.tool).join(', ')} is required by the test suites (etcd: the storage`,
    'suites; ip, arping, nft, conntrack, sysctl: the VIP failover and nftables proxy tests; cc: the native relay), is not',
    'installed, and could not be installed automatically (that needs apt-get and either root or passwordless sudo).',
    'Install it, then run the tests again:',
    `    sudo apt-get update && sudo apt-get install -y ${stillMissing.map((t) => t.pkg).join(' ')}    # Debian/Ubuntu`,
  ].join('\n'),
);
process.exit(1);
