/**
 * The example operator end to end under the real binary: `keelson run` in its own process
 * against SQLite and against a real etcd, while the test writes through another connection to
 * the same store and waits for the operator to converge after each create, edit and delete.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNotFound } from '../../lib/api/errors.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { KindRef } from '../../lib/api/resources.js';
import { ReplicationController, Service } from '../../lib/api/kinds.js';
import type { Client } from '../../lib/client/client.js';
import { connect } from '../../lib/client/connect.js';
import { Website } from '../../examples/website/website.js';
import { EtcdServer } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../..');
const NS = 'default';

interface Backend {
  name: string;
  setup(): Promise<string>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'keelson-e2e-'));
      return `sqlite:${join(dir, 'store.db')}`;
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function etcdBackend(): Backend {
  let server: EtcdServer | undefined;
  return {
    name: 'etcd',
    async setup() {
      server = await EtcdServer.start();
      return `etcd://${server.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
    },
    async teardown() {
      await server?.stop();
    },
  };
}

function startOperator(store: string): { child: ChildProcess; output: () => string } {
  const child = spawn(
    process.execPath,
    [join(dist, 'bin/keelson.js'), 'run', '--module', join(dist, 'examples/website/website.js'), '--store', store, '--metrics-port', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function gone(client: Client, kind: KindRef<KubeObject>, name: string): Promise<boolean> {
  try {
    await client.get(kind, name, { namespace: NS });
    return false;
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
}

for (const backend of [sqliteBackend(), etcdBackend()]) {
  describe(`Example operator under keelson run [${backend.name}]`, function () {
    this.timeout(60_000);
    let store: string;
    let operator: { child: ChildProcess; output: () => string } | undefined;
    let client: Client;

    before(async () => {
      store = await backend.setup();
      operator = startOperator(store);
      client = await connect({ store, compactionIntervalMs: 0 });
    });

    after(async () => {
      if (operator && operator.child.exitCode === null) operator.child.kill('SIGKILL');
      await client?.close();
      await backend.teardown();
    });

    it(`converges after a Website is created, edited and deleted, and stops on SIGTERM [${backend.name}]`, async () => {
      const op = operator!;
      // The operator installs the Website CRD; the kind is served once it has.
      await waitFor(async () => (await client.list(Website, { namespace: NS }), true), { timeoutMs: 20_000, what: `the Website kind to be served\n${op.output()}` });

      await client.create<Website>({ apiVersion: 'example.com/v1', kind: 'Website', metadata: { name: 'docs', namespace: NS }, spec: { image: 'nginx:1.27', replicas: 2 } } as Website);
      const rc = await waitFor(() => client.get(ReplicationController, 'docs', { namespace: NS }), { timeoutMs: 20_000, what: `the ReplicationController\n${op.output()}` });
      expect((rc.spec as { replicas: number }).replicas).to.equal(2);
      await waitFor(() => client.get(Service, 'docs', { namespace: NS }), { timeoutMs: 10_000, what: 'the Service' });
      const site = await waitFor(async () => {
        const w = await client.get(Website, 'docs', { namespace: NS });
        return w.status?.url ? w : undefined;
      }, { timeoutMs: 10_000, what: 'the status' });
      expect(site.status?.url).to.equal('http://docs.default.svc:8080');

      await client.patch(Website, 'docs', { spec: { replicas: 4 } }, { namespace: NS });
      await waitFor(async () => ((await client.get(ReplicationController, 'docs', { namespace: NS })).spec as { replicas: number }).replicas === 4, {
        timeoutMs: 10_000,
        what: 'the edit to reach the ReplicationController',
      });

      await client.delete(Website, 'docs', { namespace: NS });
      await waitFor(async () => (await gone(client, Website as KindRef<KubeObject>, 'docs')) && (await gone(client, ReplicationController, 'docs')) && (await gone(client, Service, 'docs')), {
        timeoutMs: 10_000,
        what: `the Website and what it owns to be deleted\n${op.output()}`,
      });

      const exited = new Promise<number | null>((resolve) => op.child.once('exit', (code) => resolve(code)));
      op.child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
      expect(code, op.output()).to.equal(0);
    });
  });
}
