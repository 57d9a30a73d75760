/**
 * The resource metrics API (`metrics.k8s.io/v1beta1`) for real: an API server over a memory store,
 * real node agents running real processes (the process runtime of a test Sandbox) that sample
 * them every 300 ms, and plain HTTP requests as kubectl and the HPA send them. It proves that:
 *
 * - the group is discovered as an aggregated API server's would be (`/apis` plain and aggregated,
 *   `/apis/metrics.k8s.io`, the v1beta1 resource list);
 * - NodeMetrics and PodMetrics are served as metrics-server serves them — lists sorted, one object
 *   by name, across namespaces or in one, with the Node's or Pod's labels, canonical quantities and
 *   the sampling window — and their figures are the processes' own (a busy loop's CPU is well
 *   above zero, memory is the RSS that /proc shows);
 * - label and field selectors filter as metrics-server's do (a field other than `metadata.name` /
 *   `metadata.namespace` is a 400), only Running pods have metrics, a node whose agent refuses or
 *   never answers is left out within the scrape timeout (and the failure logged);
 * - the errors are metrics-server's: NotFound from its listers (`node "x" not found`, `pods "x"
 *   not found`) or for the metrics kind (`nodemetrics.metrics.k8s.io "x" not found`,
 *   `podmetrics.metrics.k8s.io "ns/x" not found`), a 405 for a watch and for every write;
 * - `as=Table` answers metrics-server's table (Name, cpu, memory, Window; a pod's usage summed
 *   over its containers).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { Pod as PodKind, type Client, type Namespace, type Node, type Pod } from '../../lib/index.js';
import { ApiServer } from '../../lib/apiserver/server.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import type { NodeAgent } from '../../controllers/node-agent/index.js';
import { assignPodCIDR, boundPod, memoryStore, nodeAddressForTest, podCIDRForTest, startAgent, waitForPod } from '../fixtures/node-agent-kit.js';
import { freePort, Sandbox } from '../fixtures/pod-runtime-kit.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'metrics-api-test-token-0123456789abcdefgh';
const BASE = '/apis/metrics.k8s.io/v1beta1';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
const AGGREGATED_ACCEPT = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';

interface Usage {
  cpu: string;
  memory: string;
}
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  creationTimestamp: string;
}
interface NodeMetrics {
  kind?: string;
  apiVersion?: string;
  metadata: Meta;
  timestamp: string;
  window: string;
  usage: Usage;
}
interface PodMetrics {
  kind?: string;
  apiVersion?: string;
  metadata: Meta;
  timestamp: string;
  window: string;
  containers: { name: string; usage: Usage }[];
}
interface MetricsList<T> {
  kind: string;
  apiVersion: string;
  metadata: Record<string, unknown>;
  items: T[];
}

/** A CPU quantity (`123456789n`, `250u`, `5m`, `2`) in cores. */
function cores(quantity: string): number {
  const match = /^(\d+)(n|u|m)?$/.exec(quantity);
  expect(match, `a canonical CPU quantity: ${quantity}`).to.not.equal(null);
  return Number(match![1]) * { n: 1e-9, u: 1e-6, m: 1e-3, '': 1 }[match![2] ?? '']!;
}

/** A memory quantity (`20480Ki`, `3Mi`, `1234567`, `1k`) in bytes. */
function bytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  expect(match, `a canonical memory quantity: ${quantity}`).to.not.equal(null);
  return Number(match![1]) * { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9, '': 1 }[match![2] ?? '']!;
}

/** The RSS of a process, bytes, from /proc. */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

describe('metrics.k8s.io/v1beta1', function () {
  this.timeout(60_000);
  let store: Client;
  let sandbox: Sandbox;
  let server: ApiServer;
  let agents: NodeAgent[] = [];
  /** Accepts connections and never answers: an agent that hangs. */
  let hung: Server;
  const hungSockets = new Set<Socket>();
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];

  async function request(path: string, init: { method?: string; accept?: string; body?: string } = {}): Promise<{ status: number; json: <T = Record<string, unknown>>() => T }> {
    const response = await fetch(`${server.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { accept: init.accept ?? 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}) },
      ...(init.body ? { body: init.body } : {}),
    });
    const text = await response.text();
    return { status: response.status, json: <T>() => JSON.parse(text) as T };
  }

  async function ok<T>(path: string, accept?: string): Promise<T> {
    const answer = await request(path, accept ? { accept } : {});
    expect(answer.status, `GET ${path}: ${JSON.stringify(answer.json())}`).to.equal(200);
    return answer.json<T>();
  }

  const names = (items: { metadata: Meta }[]) => items.map((i) => (i.metadata.namespace ? `${i.metadata.namespace}/${i.metadata.name}` : i.metadata.name));
  const running = (pod: Pod) => pod.status?.phase === 'Running' && !!pod.status.containerStatuses?.every((c) => c.state?.running);

  /** A Node that says it is Ready, at `address:port`, where no agent of ours answers. */
  async function fakeReadyNode(name: string, address: string, port: number): Promise<void> {
    const node = await store.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { tier: 'fake' } } } as Node);
    await store.updateStatus<Node>({
      ...node,
      status: {
        addresses: [{ type: 'InternalIP', address }],
        daemonEndpoints: { kubeletEndpoint: { Port: port } },
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake' }],
      },
    } as Node);
  }

  before(async () => {
    store = await memoryStore();
    sandbox = new Sandbox();
    server = new ApiServer({
      registry: (store as StoreClient).registry as CustomResourceRegistry,
      port: 0,
      nodeClient: { token: TOKEN },
      metrics: { windowMs: 300, scrapeTimeoutMs: 500 },
      logger: { info() {}, warn: (fields, message) => void warnings.push({ fields: fields as Record<string, unknown>, message }), error() {} },
    });
    await server.start();
    const authenticate = (header: string | undefined) => header === `Bearer ${TOKEN}`;
    agents = [
      await startAgent(store, sandbox, { name: 'n-a', authenticate, labels: { tier: 'a' } }),
      await startAgent(store, sandbox, { name: 'n-b', authenticate, labels: { tier: 'b' } }),
    ];
    await assignPodCIDR(store, 'n-a', podCIDRForTest());
    await assignPodCIDR(store, 'n-b', podCIDRForTest());

    // Two Ready nodes whose agents cannot be scraped: one refuses connections, one never answers.
    const deadAddress = nodeAddressForTest();
    await fakeReadyNode('dead', deadAddress, await freePort(deadAddress));
    const hungAddress = nodeAddressForTest();
    hung = createServer((socket) => {
      hungSockets.add(socket);
      socket.on('close', () => hungSockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung.listen(0, hungAddress, resolve));
    await fakeReadyNode('hung', hungAddress, (hung.address() as { port: number }).port);

    await store.create<Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'metrics-ns' } });
    const elsewhere = boundPod('idle', 'n-b', [sandbox.program('main', ['--every', '1000'])]);
    await Promise.all([
      store.create(boundPod('busy', 'n-a', [sandbox.program('main', ['--busy'])])),
      store.create(boundPod('idle', 'n-a', [sandbox.program('main', ['--every', '1000'])])),
      store.create(boundPod('twins', 'n-b', [sandbox.program('a', ['--every', '1000']), sandbox.program('b', ['--every', '1000'])])),
      store.create({ ...elsewhere, metadata: { ...elsewhere.metadata, namespace: 'metrics-ns' } }),
      store.create(boundPod('done', 'n-a', [sandbox.program('main', ['--print', '1', '--exit-after', '0'])], { restartPolicy: 'Never' })),
    ]);
    // A pod that is Running on the node that cannot be scraped.
    const stranded = await store.create(boundPod('stranded', 'dead', [sandbox.program('main', [])]));
    await store.updateStatus<Pod>({ ...stranded, status: { phase: 'Running' } });

    for (const name of ['busy', 'idle', 'twins']) await waitForPod(store, name, running, `${name} running`);
    await waitFor(async () => running(await store.get(PodKind, 'idle', { namespace: 'metrics-ns' })), { what: 'metrics-ns/idle running', timeoutMs: 20_000 });
    await waitForPod(store, 'done', (p) => p.status?.phase === 'Succeeded', 'done Succeeded');
    // Every running pod has a rate once two samples were taken after it started.
    await waitFor(async () => (await ok<MetricsList<PodMetrics>>(`${BASE}/pods`)).items.length === 4, { what: 'metrics of the four running pods', timeoutMs: 20_000, intervalMs: 100 });
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    for (const socket of hungSockets) socket.destroy();
    await new Promise<void>((resolve) => (hung ? hung.close(() => resolve()) : resolve()));
    await sandbox?.cleanup();
    await server?.stop();
    await store?.close();
  });

  describe('discovery', () => {
    it('lists the group in /apis, plain and aggregated, as an aggregated API server would', async () => {
      const plain = await ok<{ kind: string; groups: { name: string }[] }>('/apis');
      expect(plain.kind).to.equal('APIGroupList');
      expect(plain.groups.find((g) => g.name === 'metrics.k8s.io')).to.deep.equal({
        name: 'metrics.k8s.io',
        versions: [{ groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' }],
        preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' },
      });

      const aggregated = await ok<{ kind: string; items: { metadata: { name: string }; versions: { version: string; resources: Record<string, unknown>[]; freshness: string }[] }[] }>('/apis', AGGREGATED_ACCEPT);
      expect(aggregated.kind).to.equal('APIGroupDiscoveryList');
      const group = aggregated.items.find((g) => g.metadata.name === 'metrics.k8s.io')!;
      expect(group, 'metrics.k8s.io in aggregated discovery').to.not.equal(undefined);
      expect(group.versions.map((v) => v.version)).to.deep.equal(['v1beta1']);
      expect(group.versions[0]!.freshness).to.equal('Current');
      expect(group.versions[0]!.resources).to.deep.equal([
        { resource: 'nodes', responseKind: { group: '', version: '', kind: 'NodeMetrics' }, scope: 'Cluster', singularResource: 'node', verbs: ['get', 'list'] },
        { resource: 'pods', responseKind: { group: '', version: '', kind: 'PodMetrics' }, scope: 'Namespaced', singularResource: '', verbs: ['get', 'list'] },
      ]);
    });

    it('serves /apis/metrics.k8s.io and the v1beta1 resource list', async () => {
      expect(await ok('/apis/metrics.k8s.io')).to.deep.equal({
        kind: 'APIGroup',
        apiVersion: 'v1',
        name: 'metrics.k8s.io',
        versions: [{ groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' }],
        preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' },
      });
      expect(await ok(BASE)).to.deep.equal({
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'metrics.k8s.io/v1beta1',
        resources: [
          { name: 'nodes', singularName: 'node', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
          { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
        ],
      });
      for (const path of ['/apis/metrics.k8s.io/v1', '/apis/metrics.k8s.io/v1/nodes', `${BASE}/nodemetrics`, `${BASE}/namespaces/default/nodes`, `${BASE}/nodes/n-a/status`]) {
        const answer = await request(path);
        expect(answer.status, path).to.equal(404);
        expect(answer.json(), path).to.include({ kind: 'Status', reason: 'NotFound', message: 'the server could not find the requested resource' });
      }
    });
  });

  describe('NodeMetrics', () => {
    it('lists the scraped nodes sorted by name, with their labels, the window and canonical quantities; unscrapable nodes are left out', async () => {
      const started = Date.now();
      warnings.length = 0;
      const list = await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes`);
      // The hung agent costs at most the scrape timeout (0.5 s), not the client's patience.
      expect(Date.now() - started).to.be.lessThan(3000);
      expect(list).to.include({ kind: 'NodeMetricsList', apiVersion: 'metrics.k8s.io/v1beta1' });
      expect(list.metadata).to.deep.equal({});
      expect(names(list.items)).to.deep.equal(['n-a', 'n-b']); // not dead, not hung
      expect(warnings.map((w) => w.fields.node).sort()).to.deep.equal(['dead', 'hung']);
      for (const item of list.items) {
        expect(item.metadata.labels).to.include({ tier: item.metadata.name === 'n-a' ? 'a' : 'b', 'kubernetes.io/hostname': item.metadata.name });
        expect(item.window).to.equal('300ms');
        expect(Math.abs(Date.parse(item.metadata.creationTimestamp) - Date.now())).to.be.lessThan(5000);
        expect(Date.now() - Date.parse(item.timestamp)).to.be.within(-1000, 5000); // the last sample: at most a window or so old
        expect(cores(item.usage.cpu)).to.be.at.least(0);
        expect(bytes(item.usage.memory)).to.be.greaterThan(1024 * 1024);
        expect(item).to.not.have.property('kind'); // list items carry no kind, as metrics-server's
      }
    });

    it("gets one node's metrics; its figures are those of its pods", async () => {
      const node = await waitFor(async () => {
        const n = await ok<NodeMetrics>(`${BASE}/nodes/n-a`);
        return cores(n.usage.cpu) >= 0.05 ? n : undefined;
      }, { what: "n-a's CPU to show the busy pod", timeoutMs: 15_000, intervalMs: 100 });
      expect(node).to.include({ kind: 'NodeMetrics', apiVersion: 'metrics.k8s.io/v1beta1', window: '300ms' });
      expect(node.metadata.name).to.equal('n-a');
      // Memory is the sum of the RSS of the node's pods' processes: two node processes here.
      const pods = (await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/default/pods?fieldSelector=metadata.name%3Dbusy`)).items.concat(
        (await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/default/pods?fieldSelector=metadata.name%3Didle`)).items,
      );
      const podMemory = pods.flatMap((p) => p.containers).reduce((sum, c) => sum + bytes(c.usage.memory), 0);
      expect(bytes(node.usage.memory) / podMemory).to.be.within(0.7, 1.4);
    });

    it('answers NotFound as metrics-server does: the node lister\'s for an unknown node, the metrics kind\'s for a node without metrics', async () => {
      const unknown = await request(`${BASE}/nodes/nope`);
      expect(unknown.status).to.equal(404);
      expect(unknown.json()).to.deep.include({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'node "nope" not found', details: { name: 'nope', kind: 'node' } });
      for (const name of ['dead', 'hung']) {
        const unscraped = await request(`${BASE}/nodes/${name}`);
        expect(unscraped.status, name).to.equal(404);
        expect(unscraped.json(), name).to.deep.include({
          reason: 'NotFound',
          code: 404,
          message: `nodemetrics.metrics.k8s.io "${name}" not found`,
          details: { name, group: 'metrics.k8s.io', kind: 'nodemetrics' },
        });
      }
    });

    it('filters by label and field selectors', async () => {
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?labelSelector=tier%3Da`)).items)).to.deep.equal(['n-a']);
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?labelSelector=tier+in+(a,b,fake)`)).items)).to.deep.equal(['n-a', 'n-b']);
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?labelSelector=tier%3Dfake`)).items)).to.deep.equal([]);
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?fieldSelector=metadata.name%3Dn-b`)).items)).to.deep.equal(['n-b']);
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?fieldSelector=metadata.name!%3Dn-b`)).items)).to.deep.equal(['n-a']);
      // A node has no namespace: a selector on one matches none (kube's field set for a cluster-scoped object).
      expect(names((await ok<MetricsList<NodeMetrics>>(`${BASE}/nodes?fieldSelector=metadata.namespace%3Ddefault`)).items)).to.deep.equal([]);
    });
  });

  describe('PodMetrics', () => {
    it('lists the Running pods of every namespace sorted by namespace then name, each with its containers', async () => {
      const list = await ok<MetricsList<PodMetrics>>(`${BASE}/pods`);
      expect(list).to.include({ kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1' });
      // Not `done` (Succeeded: metrics-server only knows Running pods), not `stranded` (its node cannot be scraped).
      expect(names(list.items)).to.deep.equal(['default/busy', 'default/idle', 'default/twins', 'metrics-ns/idle']);
      const twins = list.items.find((p) => p.metadata.name === 'twins')!;
      expect(twins.containers.map((c) => c.name)).to.deep.equal(['a', 'b']);
      for (const pod of list.items) {
        expect(pod.metadata.labels).to.deep.equal({ app: pod.metadata.name });
        expect(pod.window).to.equal('300ms');
        expect(Date.now() - Date.parse(pod.timestamp)).to.be.within(-1000, 5000);
        for (const container of pod.containers) {
          expect(cores(container.usage.cpu)).to.be.at.least(0);
          expect(bytes(container.usage.memory)).to.be.greaterThan(1024 * 1024);
        }
      }
    });

    it('lists the pods of one namespace', async () => {
      expect(names((await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/metrics-ns/pods`)).items)).to.deep.equal(['metrics-ns/idle']);
      expect(names((await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/default/pods`)).items)).to.deep.equal(['default/busy', 'default/idle', 'default/twins']);
      expect((await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/empty/pods`)).items).to.deep.equal([]);
    });

    it("gets one pod's metrics: a busy loop's CPU is well above zero, memory is the process's RSS", async () => {
      const busy = await waitFor(async () => {
        const pod = await ok<PodMetrics>(`${BASE}/namespaces/default/pods/busy`);
        return cores(pod.containers[0]!.usage.cpu) >= 0.05 ? pod : undefined;
      }, { what: 'the busy pod to burn CPU', timeoutMs: 15_000, intervalMs: 100 });
      expect(busy).to.include({ kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', window: '300ms' });
      expect(busy.metadata).to.include({ name: 'busy', namespace: 'default' });
      expect(busy.containers.map((c) => c.name)).to.deep.equal(['main']);
      const idle = await ok<PodMetrics>(`${BASE}/namespaces/default/pods/idle`);
      expect(cores(busy.containers[0]!.usage.cpu)).to.be.greaterThan(cores(idle.containers[0]!.usage.cpu));
      expect(cores(busy.containers[0]!.usage.cpu)).to.be.at.most(1.5); // one thread: at most a core (plus rounding between samples)

      // The busy container is one process: its RSS, as /proc shows it now, is what was reported (give or take a sample).
      const [process] = sandbox.processes().filter((p) => p.cmdline.includes('--busy'));
      expect(process, 'the busy process').to.not.equal(undefined);
      expect(bytes(busy.containers[0]!.usage.memory) / rssOf(process!.pid)).to.be.within(0.7, 1.4);
    });

    it('answers NotFound as metrics-server does', async () => {
      const unknown = await request(`${BASE}/namespaces/default/pods/nope`);
      expect(unknown.status).to.equal(404);
      expect(unknown.json()).to.deep.include({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'pods "nope" not found', details: { name: 'nope', kind: 'pods' } });
      // metrics-server's pod lister holds Running pods only: a finished pod is not found at all.
      const done = await request(`${BASE}/namespaces/default/pods/done`);
      expect(done.status).to.equal(404);
      expect(done.json()).to.deep.include({ reason: 'NotFound', message: 'pods "done" not found', details: { name: 'done', kind: 'pods' } });
      // A Running pod without metrics (its node cannot be scraped).
      const stranded = await request(`${BASE}/namespaces/default/pods/stranded`);
      expect(stranded.status).to.equal(404);
      expect(stranded.json()).to.deep.include({
        reason: 'NotFound',
        message: 'podmetrics.metrics.k8s.io "default/stranded" not found',
        details: { name: 'default/stranded', group: 'metrics.k8s.io', kind: 'podmetrics' },
      });
      // The pod of another namespace is not this one.
      expect((await request(`${BASE}/namespaces/metrics-ns/pods/busy`)).json()).to.include({ message: 'pods "busy" not found' });
    });

    it('filters by label and field selectors', async () => {
      const list = async (query: string, path = `${BASE}/pods`) => names((await ok<MetricsList<PodMetrics>>(`${path}?${query}`)).items);
      expect(await list('labelSelector=app%3Dbusy')).to.deep.equal(['default/busy']);
      expect(await list('labelSelector=app+in+(idle,twins)')).to.deep.equal(['default/idle', 'default/twins', 'metrics-ns/idle']);
      expect(await list('labelSelector=app+notin+(idle,twins)')).to.deep.equal(['default/busy']);
      expect(await list('labelSelector=!app')).to.deep.equal([]);
      expect(await list('fieldSelector=metadata.name%3Didle')).to.deep.equal(['default/idle', 'metrics-ns/idle']);
      expect(await list('fieldSelector=metadata.namespace%3Dmetrics-ns')).to.deep.equal(['metrics-ns/idle']);
      expect(await list('fieldSelector=metadata.namespace!%3Dmetrics-ns,metadata.name!%3Dbusy')).to.deep.equal(['default/idle', 'default/twins']);
      expect(await list('labelSelector=app%3Didle&fieldSelector=metadata.name%3Didle', `${BASE}/namespaces/default/pods`)).to.deep.equal(['default/idle']);
    });

    it('rejects a malformed selector, and a field selector on anything but name and namespace, with a 400', async () => {
      const badLabel = await request(`${BASE}/pods?labelSelector=app%3D%3D%3D`);
      expect(badLabel.status).to.equal(400);
      expect(badLabel.json()).to.include({ kind: 'Status', reason: 'BadRequest', code: 400 });
      const badField = await request(`${BASE}/pods?fieldSelector=app`);
      expect(badField.status).to.equal(400);
      expect(badField.json()).to.include({ reason: 'BadRequest', message: "invalid selector: 'app'; can't understand 'app'" });
      // The metrics kinds have no field label conversion of their own: runtime.DefaultMetaV1FieldSelectorConversion.
      for (const path of [`${BASE}/pods`, `${BASE}/nodes`]) {
        const unknown = await request(`${path}?fieldSelector=spec.nodeName%3Dn-a`);
        expect(unknown.status, path).to.equal(400);
        expect(unknown.json(), path).to.include({ reason: 'BadRequest', message: '"spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"' });
      }
    });
  });

  describe('verbs', () => {
    it('answers a watch with 405, as metrics-server (no watch) does', async () => {
      for (const [path, resource] of [
        [`${BASE}/nodes?watch=true`, 'nodes'],
        [`${BASE}/watch/nodes`, 'nodes'],
        [`${BASE}/pods?watch=1`, 'pods'],
        [`${BASE}/namespaces/default/pods?watch=true`, 'pods'],
      ] as const) {
        const answer = await request(path);
        expect(answer.status, path).to.equal(405);
        expect(answer.json(), path).to.deep.include({
          kind: 'Status',
          reason: 'MethodNotAllowed',
          code: 405,
          message: `watch is not supported on resources of kind "${resource}.metrics.k8s.io"`,
          details: { group: 'metrics.k8s.io', kind: resource },
        });
      }
    });

    it('answers every write with 405: no such route, as a read-only API server', async () => {
      const writes: [string, string][] = [
        ['POST', `${BASE}/nodes`],
        ['PUT', `${BASE}/nodes/n-a`],
        ['PATCH', `${BASE}/nodes/n-a`],
        ['DELETE', `${BASE}/nodes/n-a`],
        ['DELETE', `${BASE}/nodes`],
        ['POST', `${BASE}/namespaces/default/pods`],
        ['DELETE', `${BASE}/namespaces/default/pods/busy`],
      ];
      for (const [method, path] of writes) {
        const answer = await request(path, { method, body: '{}' });
        expect(answer.status, `${method} ${path}`).to.equal(405);
        expect(answer.json(), `${method} ${path}`).to.include({ kind: 'Status', reason: 'MethodNotAllowed', code: 405, message: 'the server does not allow this method on the requested resource' });
      }
      // Nothing was touched.
      expect((await ok<MetricsList<PodMetrics>>(`${BASE}/namespaces/default/pods?fieldSelector=metadata.name%3Dbusy`)).items).to.have.length(1);
    });
  });

  describe('as=Table', () => {
    it("answers metrics-server's table for nodes: Name, cpu, memory, Window", async () => {
      const table = await ok<{ kind: string; apiVersion: string; columnDefinitions: { name: string; type: string; format: string }[]; rows: { cells: string[]; object: { kind: string; metadata: Meta } }[] }>(
        `${BASE}/nodes`,
        TABLE_ACCEPT,
      );
      expect(table).to.include({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
      expect(table.columnDefinitions.map((c) => [c.name, c.type, c.format])).to.deep.equal([
        ['Name', 'string', 'name'],
        ['cpu', 'string', 'quantity'],
        ['memory', 'string', 'quantity'],
        ['Window', 'string', 'duration'],
      ]);
      expect(table.rows.map((r) => r.cells[0])).to.deep.equal(['n-a', 'n-b']);
      for (const row of table.rows) {
        expect(row.cells).to.have.length(4);
        cores(row.cells[1]!);
        expect(bytes(row.cells[2]!)).to.be.greaterThan(0);
        expect(row.cells[3]).to.equal('300ms');
        expect(row.object).to.deep.include({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' });
        expect(row.object.metadata.name).to.equal(row.cells[0]);
      }
    });

    it("sums a pod's containers in its row, and includes the object when asked", async () => {
      const table = await ok<{ rows: { cells: string[]; object: PodMetrics }[] }>(`${BASE}/namespaces/default/pods/twins?includeObject=Object`, TABLE_ACCEPT);
      expect(table.rows).to.have.length(1);
      const [row] = table.rows;
      const object = row!.object;
      expect(object).to.include({ kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1' });
      expect(row!.cells[0]).to.equal('twins');
      const cpu = object.containers.reduce((sum, c) => sum + cores(c.usage.cpu), 0);
      const memory = object.containers.reduce((sum, c) => sum + bytes(c.usage.memory), 0);
      expect(cores(row!.cells[1]!)).to.be.closeTo(cpu, 1e-9);
      expect(bytes(row!.cells[2]!)).to.equal(memory);

      const empty = await ok<{ columnDefinitions: unknown[]; rows: unknown[] }>(`${BASE}/namespaces/empty/pods`, TABLE_ACCEPT);
      expect(empty.rows).to.deep.equal([]);
    });
  });
});
