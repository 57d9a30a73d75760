/**
 * The examples are part of the documentation: each one runs, as a user would run it, and does
 * what it says.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { relative } from 'node:path';
import { childrenNamed, DIST, expectNoProcessesMentioning, ROOT, stopProcess, TestCluster } from './harness/cluster.js';
import { writePlainKubeconfig } from './harness/kubeconfig.js';
import { endpointIPs, helloManifest, readyHello, readyNodes } from './harness/pods.js';
import { runProcess, startProcess, type ProcessRun, type StartedProcess } from './harness/process.js';
import { waitFor } from './harness/wait.js';
import { ApiServer } from '../lib/apiserver/server.js';
import { createRegistry } from '../lib/client/connect.js';
import { StoreClient } from '../lib/client/store-client.js';
import { MemoryKV } from '../lib/storage/memory.js';
import { Pod } from '../lib/api/kinds.js';

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
      writePlainKubeconfig(kubeconfig, server.url);
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

/** One GET on a new connection: `hello from …`, or the error code (ECONNREFUSED once nothing listens). */
function get(url: string): Promise<string> {
  return new Promise<string>((resolveGet) => {
    const req = request(url, { agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolveGet(res.statusCode === 200 ? body : `HTTP ${res.statusCode}`));
      res.on('error', (err: NodeJS.ErrnoException) => resolveGet(err.code ?? err.message));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolveGet(err.code ?? err.message));
    req.end();
  });
}

/** The hello manifest running the example server of this build (the manifest names dist/'s). */
function helloOfThisBuild(marker: string): string {
  return helloManifest(marker, 3).replace('dist/examples/http-server/server.js', `${relative(ROOT, DIST)}/examples/http-server/server.js`);
}

describe('examples/vip-failover and examples/services under keelson up --nodes 3', function () {
  this.timeout(90_000);
  let cluster: TestCluster;
  const address = '127.200.0.10';
  /** What the VIP's holder answers on <address>:7946 (a bare line: its node name), or undefined. */
  const holderAnswer = () =>
    new Promise<string | undefined>((resolveAnswer) => {
      const socket = connect({ host: address, port: 7946, timeout: 1000 });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolveAnswer(text.trim() || undefined));
      socket.on('error', () => resolveAnswer(undefined));
      socket.on('timeout', () => socket.destroy());
    });

  before(async () => {
    cluster = await TestCluster.start({ nodes: 3 });
  });
  after(async () => cluster?.stop());

  it('serves the loopback VIP from the highest-priority node, as the file says', async () => {
    await cluster.ok(['apply', '-f', join(ROOT, 'examples/vip-failover/loopback-vip.yaml')]);
    expect(await waitFor(holderAnswer, { timeoutMs: 20_000, intervalMs: 100, what: 'the VIP to answer' })).to.equal('node-1');
    const row = await waitFor(async () => {
      const out = await cluster.ok(['get', 'virtualips', 'demo', '--no-headers']);
      return /node-1/.test(out) ? out : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'the holder in the status' });
    expect(row).to.match(new RegExp(`^demo\\s+${address.replaceAll('.', '\\.')}\\s+loopback\\s+node-1\\s+\\d+\\s`));
    await cluster.ok(['delete', 'virtualip', 'demo']);
    await waitFor(async () => (await holderAnswer()) === undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the VIP to be released' });
  });

  it('serves the hello Service on the VIP of service-vip.yaml while it is held, and stops when it is deleted', async function () {
    this.timeout(120_000);
    const vipAddress = '127.200.0.20';
    const marker = `keelson-example-${randomUUID()}`;
    try {
      await cluster.ok(['apply', '-f', '-'], helloOfThisBuild(marker));
      const pods = await readyHello(cluster, 3);
      const ips = pods.map((p) => p.status!.podIP!).sort();
      await waitFor(async () => JSON.stringify((await endpointIPs(cluster, 'hello')).ready) === JSON.stringify(ips), { timeoutMs: 20_000, what: 'the Endpoints to list the three pods' });
      const url = `http://${vipAddress}:80/`;
      expect(await get(url)).to.equal('ECONNREFUSED');

      await cluster.ok(['apply', '-f', join(ROOT, 'examples/vip-failover/service-vip.yaml')]);
      const first = await waitFor(async () => {
        const body = await get(url);
        return body.startsWith('hello from ') ? body : undefined;
      }, { timeoutMs: 20_000, intervalMs: 100, what: 'the Service to answer on the VIP' });
      expect(first).to.match(/^hello from hello-\S+ \(127\./);
      const served = new Set<string>();
      for (let i = 0; i < 12; i++) served.add(/^hello from (\S+) /.exec(await get(url))?.[1] ?? 'failed');
      expect(served).to.deep.equal(new Set(pods.map((p) => p.metadata!.name!)));
      const holder = await waitFor(async () => (await cluster.ok(['get', 'virtualip', 'hello', '-o', 'jsonpath={.status.holder}'])).trim() || undefined, { timeoutMs: 10_000, intervalMs: 200, what: 'the holder in the status' });
      expect(holder).to.match(/^node-[123]$/);

      const deletedAt = performance.now();
      await cluster.ok(['delete', 'virtualip', 'hello']);
      await waitFor(async () => (await get(url)) === 'ECONNREFUSED', { timeoutMs: 10_000, intervalMs: 20, what: 'the VIP to stop serving the Service' });
      console.log(`      (the VIP stopped answering on :80 ${(performance.now() - deletedAt).toFixed(0)} ms after kubectl delete began)`);
      // The Service itself still answers on its cluster IP.
      const clusterIP = (await cluster.ok(['get', 'svc', 'hello', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
      expect(await get(`http://${clusterIP}:80/`)).to.match(/^hello from /);
    } finally {
      await cluster.kubectl(['delete', 'virtualip', 'hello', '--ignore-not-found']);
      await cluster.kubectl(['delete', '-f', '-', '--ignore-not-found'], helloManifest(marker, 3));
      await waitFor(async () => (await cluster.client.list(Pod, { namespace: 'default', labelSelector: 'app=hello' })).items.length === 0, { timeoutMs: 30_000, what: 'the hello pods to go' });
      await expectNoProcessesMentioning(marker);
    }
  });

  it('serves the hello Service of exposed.yaml on a node port of every node and on its external IP', async function () {
    this.timeout(120_000);
    const marker = `keelson-example-${randomUUID()}`;
    try {
      await cluster.ok(['apply', '-f', '-'], helloOfThisBuild(marker));
      const pods = await readyHello(cluster, 3);
      await cluster.ok(['apply', '-f', join(ROOT, 'examples/services/exposed.yaml')]);
      const nodePort = Number((await cluster.ok(['get', 'svc', 'hello-exposed', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim());
      expect(nodePort).to.be.within(30000, 32767);
      const nodes = (await cluster.ok(['get', 'nodes', '-o', 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'])).trim().split(/\s+/);
      expect(nodes).to.have.length(3);
      const names = new Set(pods.map((p) => p.metadata!.name!));
      for (const url of [...nodes.map((node) => `http://${node}:${nodePort}/`), 'http://127.77.0.10:8080/']) {
        const first = await waitFor(async () => {
          const body = await get(url);
          return body.startsWith('hello from ') ? body : undefined;
        }, { timeoutMs: 20_000, intervalMs: 100, what: `${url} to answer` });
        const served = new Set([/^hello from (\S+) /.exec(first)?.[1]]);
        for (let i = 0; i < 5; i++) served.add(/^hello from (\S+) /.exec(await get(url))?.[1]);
        expect([...served].every((name) => name && names.has(name)), `${url}: ${[...served].join(', ')}`).to.equal(true);
        expect(served.size, `${url} spreads over the pods`).to.be.greaterThan(1);
      }
      // The file's curl with three URLs: one keep-alive connection, one pod, handed to the native relay.
      const curl = await runProcess('curl', ['-s', 'http://127.77.0.10:8080/', 'http://127.77.0.10:8080/', 'http://127.77.0.10:8080/']);
      const bodies = curl.stdout.split('\n').filter(Boolean);
      expect(bodies, curl.stdout).to.have.length(3);
      expect(new Set(bodies.map((b) => /^hello from (\S+) /.exec(b)?.[1])).size, 'one connection, one pod').to.equal(1);
      await waitFor(() => childrenNamed(cluster.upPid, 'keelson-relay').length === 1, { timeoutMs: 5000, what: "keelson up's native relay process" });
      await cluster.ok(['delete', '-f', join(ROOT, 'examples/services/exposed.yaml')]);
      await waitFor(async () => (await get('http://127.77.0.10:8080/')) === 'ECONNREFUSED', { timeoutMs: 10_000, intervalMs: 50, what: 'the external IP to stop answering' });
    } finally {
      await cluster.kubectl(['delete', '-f', join(ROOT, 'examples/services/exposed.yaml'), '--ignore-not-found']);
      await cluster.kubectl(['delete', '-f', '-', '--ignore-not-found'], helloManifest(marker, 3));
      await waitFor(async () => (await cluster.client.list(Pod, { namespace: 'default', labelSelector: 'app=hello' })).items.length === 0, { timeoutMs: 30_000, what: 'the hello pods to go' });
      await expectNoProcessesMentioning(marker);
    }
  });
});

describe('examples/scheduler-plugin under keelson run, next to keelson up', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let scheduler: StartedProcess | undefined;

  before(async () => {
    // keelson up without its own scheduler: the one keelson run starts does the placing.
    cluster = await TestCluster.start({ nodes: 3, args: ['--controllers', '*,-scheduler'] });
    await readyNodes(cluster, 3);
    scheduler = startProcess(process.execPath, [join(dist, 'bin/keelson.js'), 'run', '--module', join(dist, 'examples/scheduler-plugin/prefer-label.js'), '--controllers', 'scheduler', '--kubeconfig', cluster.kubeconfig, '--metrics-port', '0', '--log-level', 'warn'], { cwd: ROOT });
  });
  after(async () => {
    await stopProcess(scheduler?.child);
    await cluster?.stop();
  });

  const pod = (name: string, extra: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${extra}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: main, image: busybox, command: [sleep, "60"]}]
`;

  it('places pods by the plugin: on the preferred label, never on a draining node', async () => {
    await cluster.ok(['label', 'node', 'node-3', 'disk=ssd']);
    await cluster.ok(['label', 'node', 'node-2', 'example.com/draining=true']);
    await cluster.ok(['apply', '-f', '-'], pod('fast', '  annotations: {example.com/prefer-node-label: disk=ssd}'));
    await cluster.ok(['apply', '-f', '-'], pod('plain', ''));
    const nodeOf = (name: string) => cluster.ok(['get', 'pod', name, '-o', 'jsonpath={.spec.nodeName}']).then((s) => s.trim());
    expect(await waitFor(() => nodeOf('fast'), { timeoutMs: 30_000, intervalMs: 200, what: 'fast to be scheduled' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${scheduler?.output()}`);
    })).to.equal('node-3');
    expect(await waitFor(() => nodeOf('plain'), { timeoutMs: 10_000, intervalMs: 200, what: 'plain to be scheduled' })).to.not.equal('node-2');
    // Pinned to the draining node by its selector: unschedulable, with the plugin's reason counted.
    await cluster.ok(['apply', '-f', '-'], pod('stuck', '') + '  nodeSelector: {kubernetes.io/hostname: node-2}\n');
    const message = await waitFor(async () => {
      const out = await cluster.ok(['get', 'pod', 'stuck', '-o', 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}']);
      return out.trim() || undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'the unschedulable message' });
    expect(message).to.equal("0/3 nodes are available: 1 node(s) were being drained, 2 node(s) didn't match Pod's node affinity/selector.");
  });
});
