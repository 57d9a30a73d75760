/**
 * The real kubectl (≥ 1.32) against `keelson up`, as a user would drive it: each case asserts
 * on kubectl's output and on the store (read through a second connection to the same SQLite
 * file). kubectl must be installed: this suite fails loudly, it never skips.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { ConfigMap, Pod, ReplicationController } from '../lib/api/kinds.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { requireKubectl, ROOT, TestCluster } from './harness/cluster.js';
import { waitFor } from './harness/wait.js';

describe('kubectl against keelson up', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let store: Client;
  const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
  const ok = (args: string[], input?: string) => cluster.ok(args, input);

  before(async () => {
    requireKubectl();
    cluster = await TestCluster.start({ nodes: 1 });
    store = await connect({ store: `sqlite:${join(cluster.dataDir, 'keelson.db')}`, compactionIntervalMs: 0 });
  });

  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('writes a kubeconfig (mode 0600) that kubectl uses over HTTPS with a token', async () => {
    const config = parseYaml(readFileSync(cluster.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
    expect(config.clusters[0]!.cluster.server).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(config.clusters[0]!.cluster['certificate-authority-data']).to.be.a('string');
    expect(config.users[0]!.user.token).to.be.a('string');
    const out = await ok(['get', 'namespaces']);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) expect(out).to.match(new RegExp(`^${ns}\\s+Active`, 'm'));
  });

  it('refuses kubectl without the token (Unauthorized)', async () => {
    const config = parseYaml(readFileSync(cluster.kubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
    config.users[0]!.user.token = 'wrong-token';
    const bad = join(cluster.dir, 'bad-kubeconfig');
    writeFileSync(bad, toYaml(config), { mode: 0o600 });
    const run = await cluster.kubectl(['get', 'pods'], '', bad);
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
    const file = join(cluster.dir, 'shop.yaml');
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
    const watch = cluster.startKubectl(['get', 'configmap', 'settings', '-w', '--output-watch-events', '-o', 'custom-columns=EVENT:.type,NAME:.object.metadata.name,COLOR:.object.data.color']);
    try {
      await waitFor(() => /ADDED\s+settings\s+blue/.test(watch.output()), { timeoutMs: 20_000, what: 'the initial event' });
      await ok(['patch', 'configmap', 'settings', '-p', '{"data":{"color":"green"}}']);
      await waitFor(() => /MODIFIED\s+settings\s+green/.test(watch.output()), { timeoutMs: 20_000, what: 'the change' });
    } finally {
      watch.child.kill('SIGTERM');
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
    expect(await ok(['apply', '-f', join(ROOT, 'crds/websites.example.com.yaml')])).to.contain('customresourcedefinition.apiextensions.k8s.io/websites.example.com created');
    await waitFor(async () => (await kubectl(['get', 'websites'])).code === 0, { timeoutMs: 10_000, what: 'the Website kind to be served' });
    await ok(['apply', '-f', '-'], 'apiVersion: example.com/v1\nkind: Website\nmetadata: {name: blog}\nspec: {image: nginx:1.27, replicas: 3}\n');
    const out = await ok(['get', 'websites']);
    expect(out.split('\n')[0]).to.match(/^NAME\s+IMAGE\s+DESIRED\s+READY\s+URL\s+AGE$/);
    expect(out).to.match(/^blog\s+nginx:1\.27\s+3\s+/m);
    const invalid = await kubectl(['apply', '-f', '-'], 'apiVersion: example.com/v1\nkind: Website\nmetadata: {name: huge}\nspec: {image: x, replicas: 500}\n');
    expect(invalid.code).to.not.equal(0);
    expect(invalid.stderr).to.contain('should be less than or equal to 100');
  });

  it('keeps every object across a restart of keelson up', async () => {
    expect(await cluster.restart('SIGINT'), 'exit code of keelson up after SIGINT').to.equal(0);
    const out = await ok(['get', 'rc,svc,cm,websites', '-o', 'name']);
    for (const name of ['replicationcontroller/shop', 'service/shop', 'configmap/app-config', 'website.example.com/blog']) expect(out).to.contain(name);
  });
});
