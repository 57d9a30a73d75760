// Runs as `npm test`'s `pretest`: the storage suites start real etcd-server processes, so
// etcd must be installed. If it is on PATH, print its version. Otherwise install Debian's
// `etcd-server` with apt-get (as root, or through passwordless sudo), running `apt-get update`
// first only when the install fails (a fresh machine has no package lists). If that is not
// possible, fail with one clear message: the etcd suites are never skipped silently.
//
// The package may start an `etcd` system service where no policy-rc.d prevents it; that is left
// alone: the tests run their own members on random loopback ports.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable `name` on PATH, or undefined. */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
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

/** Prints etcd's version line and returns true if etcd is installed and runs. */
function reportVersion() {
  const etcd = onPath('etcd');
  if (!etcd) return false;
  const result = spawnSync(etcd, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return false;
  const version = (result.stdout || '').split('\n').find((line) => line.startsWith('etcd Version')) ?? result.stdout.trim();
  console.log(`ensure-etcd: ${etcd}: ${version}`);
  return true;
}

/** Runs apt-get with `args` (through `sudo -n` unless root); true on success. */
function aptGet(args) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const [command, commandArgs] = isRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
  if (!onPath(command)) return false;
  console.log(`ensure-etcd: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

if (reportVersion()) process.exit(0);

console.log('ensure-etcd: etcd is not on PATH; installing Debian package etcd-server');
const install = ['install', '-y', '--no-install-recommends', 'etcd-server'];
if (onPath('apt-get')) {
  if (!aptGet(install) && aptGet(['update'])) aptGet(install);
}
if (reportVersion()) process.exit(0);

console.error(
  [
    'ensure-etcd: ERROR: etcd is required by the storage test suites (they start real etcd-server',
    'processes on loopback), is not on PATH, and could not be installed automatically (that needs',
    'apt-get and either root or passwordless sudo). Install it, then run the tests again:',
    '    sudo apt-get update && sudo apt-get install -y etcd-server    # Debian/Ubuntu',
    'or put an etcd 3.4+ binary (https://github.com/etcd-io/etcd/releases) on PATH.',
  ].join('\n'),
);
process.exit(1);
