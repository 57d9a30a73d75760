/**
 * The real kubectl (≥ 1.32) against `keelson up`, as a user would drive it: each case asserts
 * on kubectl's output and on the store (read through a second connection to the same SQLite
 * file). kubectl must be installed: this suite fails loudly, it never skips.
 */
import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { ConfigMap, Pod, ReplicationController } from '../lib/api/kinds.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { waitFor } from './harness/wait.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(dist, '..');
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('kubectl against keelson up', function () {
  this.timeout(120_000);
  let dir: string;
  let up: ChildProcess;
  let upOutput = '';
  let kubeconfig: string;
  let store: Client;

  function kubectl(args: string[], options: { input?: string; kubeconfigPath?: string } = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(KUBECTL, ['--kubeconfig', options.kubeconfigPath ?? kubeconfig, '--cache-dir', join(dir, 'kubectl-cache'), '--request-timeout', '20s', ...args], {
        env: { ...process.env, HOME: dir, KUBECONFIG: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`kubectl ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
      }, 60_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(options.input ?? '');
    });
  }

  async function ok(args: string[], input?: string): Promise<string> {
    const run = await kubectl(args, input !== undefined ? { input } : {});
    expect(run.code, `kubectl ${args.join(' ')}\n${run.stdout}\n${run.stderr}`).to.equal(0);
    return run.stdout;
  }

  before(async () => {
    const version = execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
    const minor = Number((JSON.parse(version) as { clientVersion: { minor: string } }).clientVersion.minor.replace(/\D/g, ''));
    expect(minor, `kubectl ≥ 1.32 is required (found ${version})`).to.be.at.least(32);
    dir = mkdtempSync(join(tmpdir(), 'keelson-kubectl-'));
    kubeconfig = join(dir, 'data', 'kubeconfig');
    up = spawn(process.execPath, [join(dist, 'bin/keelson.js'), 'up', '--data-dir', join(dir, 'data'), '--port', '0', '--metrics-port', '0', '--kubelet-port', '0', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (d: Buffer) => (upOutput += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (upOutput += d.toString()));
    await waitFor(() => upOutput.includes('keelson is up') && existsSync(kubeconfig), { timeoutMs: 30_000, what: 'keelson up to start' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${upOutput}`);
    });
    store = await connect({ store: `sqlite:${join(dir, 'data', 'keelson.db')}`, compactionIntervalMs: 0 });
  });

  after(async () => {
    await store?.close();
    if (up && up.exitCode === null) {
      const exited = new Promise((resolve) => up.once('exit', resolve));
      up.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (up.exitCode === null) up.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a kubeconfig (mode 0600) that kubectl uses over HTTPS with a token', async () => {
    const config = parseYaml(readFileSync(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
    expect(config.clusters[0]!.cluster.server).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(config.clusters[0]!.cluster['certificate-authority-data']).to.be.a('string');
    expect(config.users[0]!.user.token).to.be.a('string');
    const out = await ok(['get', 'namespaces']);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) expect(out).to.match(new RegExp(`^${ns}\\s+Active`, 'm'));
  });

  it('refuses kubectl without the token (Unauthorized)', async () => {
    const config = parseYaml(readFileSync(kubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
    config.users[0]!.user.token = 'wrong-token';
    const bad = join(dir, 'bad-kubeconfig');
    writeFileSync(bad, toYaml(config), { mode: 0o600 });
    const run = await kubectl(['get', 'pods'], { kubeconfigPath: bad });
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.contain('Unauthorized');
  });

  const manifest = (image: string, data: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels: {app: shop}
data:
  mode: "${data}"
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: shop
  labels: {app: shop}
spec:
  replicas: 2
  selector: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: web
        image: ${image}
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: busybox:1.36
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
`;

  it('applies a multi-document manifest, then re-applies a change as a strategic merge', async () => {
    const file = join(dir, 'shop.yaml');
    writeFileSync(file, manifest('nginx:1.27', 'a'));
    const created = await ok(['apply', '-f', file]);
    expect(created).to.contain('configmap/app-config created');
    expect(created).to.contain('replicationcontroller/shop created');
    expect(created).to.contain('service/shop created');
    writeFileSync(file, manifest('nginx:1.28', 'b'));
    const configured = await ok(['apply', '-f', file]);
    expect(configured).to.contain('configmap/app-config configured');
    expect(configured).to.contain('replicationcontroller/shop configured');
    expect(configured).to.contain('service/shop unchanged');
    const rc = await store.get(ReplicationController, 'shop', { namespace: 'default' });
    const containers = (rc.spec as { template: { spec: { containers: { name: string; image: string }[] } } }).template.spec.containers;
    expect(containers.map((c) => `${c.name}=${c.image}`)).to.deep.equal(['web=nginx:1.28', 'sidecar=busybox:1.36']);
    expect((await store.get(ConfigMap, 'app-config', { namespace: 'default' })).data).to.deep.equal({ mode: 'b' });
    const svc = await store.get({ apiVersion: 'v1', kind: 'Service' }, 'shop', { namespace: 'default' });
    expect((svc as { spec?: { clusterIP?: string } }).spec?.clusterIP).to.match(/^127\.(9[6-9]|10[0-9]|11[01])\./);
  });

  it('gets objects as tables, YAML, by label and across namespaces', async () => {
    await ok(['create', 'namespace', 'team-b']);
    await ok(['create', '-n', 'team-b', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: lonely, labels: {app: other}}\nspec: {containers: [{name: c, image: busybox}]}\n');
    // (Not app=shop: the shop RC would adopt a matching pod and scale it away, as kube's does.)
    // keelson up runs the scheduler and a node agent: the pod is placed and its command runs.
    await ok(['run', 'web-1', '--image=busybox', '--labels=app=solo', '--restart=Never', '--', 'sleep', '300']);
    let pods = '';
    await waitFor(async () => /^web-1\s+1\/1\s+Running\s+0\s+\d+s$/m.test((pods = await ok(['get', 'pods']))), { timeoutMs: 30_000, what: 'web-1 running' });
    expect(pods.split('\n')[0]).to.match(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    const wide = await ok(['get', 'pods', '-o', 'wide']);
    expect(wide.split('\n')[0]).to.match(/IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    const all = await ok(['get', 'pods', '-A']);
    expect(all).to.match(/^team-b\s+lonely\s/m);
    expect(all).to.match(/^default\s+web-1\s/m);
    const labelled = await ok(['get', 'pods', '-A', '-l', 'app=solo', '-o', 'name']);
    expect(labelled.trim().split('\n')).to.deep.equal(['pod/web-1']);
    const yaml = parseYaml(await ok(['get', 'pod', 'web-1', '-o', 'yaml'])) as Pod;
    expect(yaml.metadata?.labels).to.deep.equal({ app: 'solo' });
    expect(yaml.metadata?.resourceVersion).to.be.a('string');
    expect((yaml.spec as { containers: { image: string }[] }).containers[0]!.image).to.equal('busybox');
    expect((yaml.spec as { nodeName?: string }).nodeName).to.be.a('string').and.not.empty;
    const services = await ok(['get', 'svc', 'shop']);
    expect(services).to.match(/^shop\s+ClusterIP\s+127\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);
  });

  it('creates, labels, annotates, scales and describes', async () => {
    expect(await ok(['create', 'configmap', 'settings', '--from-literal=color=blue'])).to.contain('configmap/settings created');
    expect(await ok(['label', 'configmap', 'settings', 'tier=front'])).to.contain('configmap/settings labeled');
    expect(await ok(['annotate', 'configmap', 'settings', 'owner=team-a'])).to.contain('configmap/settings annotated');
    const settings = await store.get(ConfigMap, 'settings', { namespace: 'default' });
    expect(settings.data).to.deep.equal({ color: 'blue' });
    expect(settings.metadata?.labels).to.deep.equal({ tier: 'front' });
    expect(settings.metadata?.annotations).to.deep.include({ owner: 'team-a' });
    expect(await ok(['scale', 'rc', 'shop', '--replicas=5'])).to.contain('replicationcontroller/shop scaled');
    expect(((await store.get(ReplicationController, 'shop', { namespace: 'default' })).spec as { replicas: number }).replicas).to.equal(5);
    const described = await ok(['describe', 'pod', 'web-1']);
    expect(described).to.match(/^Name:\s+web-1$/m);
    expect(described).to.match(/^Status:\s+Running$/m);
    expect(described).to.match(/^Node:\s+\S+\/127\.\d+\.\d+\.\d+$/m);
    expect(described).to.contain('Events:');
  });

  it('watches a change with get -w', async () => {
    const watch = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kubectl-cache'), 'get', 'configmap', 'settings', '-w', '--output-watch-events', '-o', 'custom-columns=EVENT:.type,NAME:.object.metadata.name,COLOR:.object.data.color'], {
      env: { ...process.env, HOME: dir, KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    watch.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      await waitFor(() => /ADDED\s+settings\s+blue/.test(seen), { timeoutMs: 20_000, what: 'the initial event' });
      await ok(['patch', 'configmap', 'settings', '-p', '{"data":{"color":"green"}}']);
      await waitFor(() => /MODIFIED\s+settings\s+green/.test(seen), { timeoutMs: 20_000, what: 'the change' });
    } finally {
      watch.kill('SIGTERM');
    }
  });

  it('deletes, with and without finalizers', async () => {
    expect(await ok(['delete', 'configmap', 'settings'])).to.contain('configmap "settings" deleted');
    expect(await store.get(ConfigMap, 'settings', { namespace: 'default' }).catch((e: unknown) => (e as { code: number }).code)).to.equal(404);
    await ok(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n');
    expect(await ok(['delete', 'configmap', 'held', '--wait=false'])).to.contain('configmap "held" deleted');
    const held = await store.get(ConfigMap, 'held', { namespace: 'default' });
    expect(held.metadata?.deletionTimestamp).to.be.a('string');
    await ok(['patch', 'configmap', 'held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    await waitFor(async () => (await store.get(ConfigMap, 'held', { namespace: 'default' }).catch(() => undefined)) === undefined, { what: 'held to go' });
  });

  it('applies a CRD from crds/ and serves its kind with its printer columns', async () => {
    expect(await ok(['apply', '-f', join(root, 'crds/websites.example.com.yaml')])).to.contain('customresourcedefinition.apiextensions.k8s.io/websites.example.com created');
    await waitFor(async () => (await kubectl(['get', 'websites'])).code === 0, { timeoutMs: 10_000, what: 'the Website kind to be served' });
    await ok(['apply', '-f', '-'], 'apiVersion: example.com/v1\nkind: Website\nmetadata: {name: blog}\nspec: {image: nginx:1.27, replicas: 3}\n');
    const out = await ok(['get', 'websites']);
    expect(out.split('\n')[0]).to.match(/^NAME\s+IMAGE\s+DESIRED\s+READY\s+URL\s+AGE$/);
    expect(out).to.match(/^blog\s+nginx:1\.27\s+3\s+/m);
    const invalid = await kubectl(['apply', '-f', '-'], { input: 'apiVersion: example.com/v1\nkind: Website\nmetadata: {name: huge}\nspec: {image: x, replicas: 500}\n' });
    expect(invalid.code).to.not.equal(0);
    expect(invalid.stderr).to.contain('should be less than or equal to 100');
  });

  it('keeps every object across a restart of keelson up', async () => {
    const exited = new Promise((resolve) => up.once('exit', resolve));
    up.kill('SIGINT');
    await exited;
    expect(up.exitCode).to.equal(0);
    upOutput = '';
    up = spawn(process.execPath, [join(dist, 'bin/keelson.js'), 'up', '--data-dir', join(dir, 'data'), '--port', '0', '--metrics-port', '0', '--kubelet-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => (upOutput += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (upOutput += d.toString()));
    await waitFor(() => upOutput.includes('keelson is up'), { timeoutMs: 30_000, what: 'the restart' });
    const out = await ok(['get', 'rc,svc,cm,websites', '-o', 'name']);
    for (const name of ['replicationcontroller/shop', 'service/shop', 'configmap/app-config', 'website.example.com/blog']) expect(out).to.contain(name);
  });
});
