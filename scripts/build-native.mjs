// Builds keelson's native relay (native/keelson-relay.c → dist/native/keelson-relay): the userspace
// service proxy hands lasting TCP connections to it (controllers/service-proxy/native-relay.ts).
//
// Run by `npm run build`, `npm start`, `npm test` and `npm run bench` after tsc. Without a C
// compiler the relay is not built and the proxy copies every connection in JavaScript (a note says
// so); with `--required` (the test command: `pretest` installs Debian's gcc) that is an error, as
// its tests are never skipped. Rebuilds only when the source is newer than the program.
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'keelson-relay.c');
const program = join(root, 'dist', 'native', 'keelson-relay');
const required = process.argv.includes('--required');

/** Modification time of `path` in ms, or -1 when missing. */
function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

if (process.platform !== 'linux') {
  console.log(`build-native: the native relay is for Linux (this is ${process.platform}); the service proxy copies in JavaScript`);
  process.exit(required ? 1 : 0);
}
if (mtime(program) >= mtime(source)) process.exit(0);

mkdirSync(dirname(program), { recursive: true });
const compiler = process.env.CC || 'cc';
const partial = `${program}.${process.pid}.tmp`;
const result = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', partial, source], { encoding: 'utf8' });
if (result.status === 0) {
  renameSync(partial, program);
  console.log(`build-native: built ${program}`);
  process.exit(0);
}
const why = result.error ? `${compiler} not found` : `${compiler} failed:\n${result.stdout}${result.stderr}`;
if (required) {
  console.error(`build-native: ERROR: cannot build the native relay (${why}); the tests need it. Install a C compiler (Debian: apt-get install gcc libc6-dev).`);
  process.exit(1);
}
console.log(`build-native: not built (${why.split('\n')[0]}): the userspace service proxy copies every connection in JavaScript. For the native relay, install a C compiler (Debian: apt-get install gcc libc6-dev) and run npm run build.`);
