/**
 * The examples are part of the documentation: each one runs, as a user would run it, and does
 * what it says.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, type ProcessRun } from './harness/process.js';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { ApiServer } from '../lib/apiserver/server.js';
import { createRegistry } from '../lib/client/connect.js';
import { StoreClient } from '../lib/client/store-client.js';
import { MemoryKV } from '../lib/storage/memory.js';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function run(script: string, env: Record<string, string>, timeoutMs = 20_000, args: string[] = []): Promise<ProcessRun> {
  return runProcess(process.execPath, [join(dist, script), ...args], { env: { ...process.env, ...env }, timeoutMs });
}

describe('Examples', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keelson-example-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('cluster-watch lists pods through a kubeconfig (the existing-cluster source)', async () => {
    const kv = new MemoryKV();
    const registry = createRegistry(kv);
    const store = new StoreClient(registry, async () => {
      await (registry as { system?: { stop(): Promise<void> } }).system?.stop();
      await registry.crds.stop();
      await kv.close();
    });
    const server = new ApiServer({ registry, port: 0 });
    await server.start();
    try {
      await (registry as { system?: { ready?: Promise<unknown> } }).system?.ready;
      await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } as never);
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'k', cluster: { server: server.url } }],
          users: [{ name: 'k', user: {} }],
          contexts: [{ name: 'k', context: { cluster: 'k', user: 'k' } }],
          'current-context': 'k',
        }),
      );
      const { code, stdout, stderr } = await run('examples/cluster-watch.js', {}, 20_000, ['--kubeconfig', kubeconfig, '--once']);
      expect(code, stderr).to.equal(0);
      expect(stdout).to.match(/^1 pods at resourceVersion \d+$/m);
      expect(stdout).to.contain('  default/web Pending');
    } finally {
      await server.stop();
      await store.close();
    }
  });

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
