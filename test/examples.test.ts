/**
 * The examples are part of the documentation: each one runs, as a user would run it, and does
 * what it says.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function run(script: string, env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(dist, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe('Examples', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keelson-example-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('quickstart runs on embedded SQLite, twice on the same file', async () => {
    const env = { KEELSON_STORE: `sqlite:${join(dir, 'quickstart.db')}` };
    for (let i = 0; i < 2; i++) {
      const { code, stdout, stderr } = await run('examples/quickstart.js', env);
      expect(code, stderr).to.equal(0);
      expect(stdout).to.contain('stale update refused: Operation cannot be fulfilled on configmaps "web-config"');
      expect(stdout).to.contain('tier=back: cache-config, db-config');
      expect(stdout).to.contain('watch saw 6 events: ADDED ADDED ADDED MODIFIED MODIFIED DELETED');
    }
  });
});
