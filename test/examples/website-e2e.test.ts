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
import { connect, type ConnectOptions } from '../../lib/client/connect.js';
import { Website } from '../../examples/website/website.js';
import { EtcdServer } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../..');
const NS = 'default';

interface Backend {
  name: string;
  /** Prepares the source; returns the `keelson run` flags naming it and how the test connects. */
  setup(): Promise<{ flags: string[]; connect: ConnectOptions }>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'keelson-e2e-'));
      const store = `sqlite:${join(dir, 'store.db')}`;
      return { flags: ['--store', store], connect: { store, compactionIntervalMs: 0 } };
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
      const store = `etcd://${server.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
      return { flags: ['--store', store], connect: { store, compactionIntervalMs: 0 } };
    },
    async teardown() {
      await server?.stop();
    },
  };
}

/** `keelson up` in its own process; the operator then runs against its API server with `--kubeconfig`. */
function keelsonUpBackend(): Backend {
  let dir = '';
  let up: ChildProcess | undefined;
  return {
    name: 'keelson up + --kubeconfig',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'keelson-e2e-up-'));
      up = spawn(process.execPath, [join(dist, 'bin/keelson.js'), 'up', '--data-dir', dir, '--port', '0', '--metrics-port', '0', '--kubelet-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      up.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      up.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      await waitFor(() => output.includes('keelson is up'), { timeoutMs: 30_000, what: 'keelson up' }).catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      });
      const kubeconfig = join(dir, 'kubeconfig');
      return { flags: ['--kubeconfig', kubeconfig], connect: { kubeconfig } };
    },
    async teardown() {
      if (up && up.exitCode === null) {
        const exited = new Promise((resolve) => up!.once('exit', resolve));
        up.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startOperator(flags: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(
    process.execPath,
    [join(dist, 'bin/keelson.js'), 'run', '--module', join(dist, 'examples/website/website.js'), ...flags, '--metrics-port', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } },
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

for (const backend of [sqliteBackend(), etcdBackend(), keelsonUpBackend()]) {
  describe(`Example operator under keelson run [${backend.name}]`, function () {
    this.timeout(60_000);
    let operator: { child: ChildProcess; output: () => string } | undefined;
    let client: Client;

    before(async () => {
      const source = await backend.setup();
      operator = startOperator(source.flags);
      client = await connect(source.connect);
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
