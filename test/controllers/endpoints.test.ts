/**
 * The endpoints controller: unit tests of each rule with the ReconcileHarness (one reconcile
 * against an in-memory store), the pure subset computation, and an integration test under a
 * manager where Endpoints follow pods becoming ready and not ready.
 */
import { expect } from 'chai';
import { Endpoints, Pod, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { EndpointSubset, PodStatus, ServiceSpec } from '../../lib/api/types/core.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { ReconcileHarness, TestEnv } from '../../lib/testing/env.js';
import {
  EndpointsController,
  HEADLESS_SERVICE_LABEL,
  LAST_CHANGE_TRIGGER_TIME_ANNOTATION,
  OVER_CAPACITY_ANNOTATION,
  repackSubsets,
  sameSubsets,
  TriggerTimeTracker,
  truncateSubsets,
} from '../../controllers/endpoints/index.js';

const NS = 'default';
const T0 = '2026-01-01T00:00:00Z';

function service(name: string, spec: Partial<ServiceSpec>, labels?: Record<string, string>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec: { ports: [{ port: 80 }], ...spec } };
}

interface PodOptions {
  labels?: Record<string, string>;
  ip?: string;
  ready?: boolean;
  node?: string;
  phase?: PodStatus['phase'];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  hostname?: string;
  subdomain?: string;
  /** Set a finalizer and delete the pod, so it stays terminating. */
  terminating?: boolean;
}

/** Creates a pod, sets its status as a node agent would, and answers it as stored. */
async function createPod(client: StoreClient, name: string, options: PodOptions = {}): Promise<Pod> {
  const created = await client.create<Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: options.labels ?? { app: 'web' }, ...(options.terminating ? { finalizers: ['test/hold'] } : {}) },
    spec: {
      containers: [{ name: 'c', image: 'nginx', ports: options.ports ?? [{ name: 'http', containerPort: 8080 }] }],
      ...(options.node !== undefined ? { nodeName: options.node } : { nodeName: 'n1' }),
      ...(options.hostname ? { hostname: options.hostname } : {}),
      ...(options.subdomain ? { subdomain: options.subdomain } : {}),
    },
  });
  const pod = await setStatus(client, created, { ip: options.ip, ready: options.ready ?? true, phase: options.phase ?? 'Running' });
  if (options.terminating) {
    await client.delete(Pod, name, { namespace: NS });
    return client.get(Pod, name, { namespace: NS });
  }
  return pod;
}

async function setStatus(client: StoreClient, pod: Pod, status: { ip?: string | undefined; ready: boolean; phase?: PodStatus['phase'] }): Promise<Pod> {
  const current = await client.get(Pod, pod.metadata!.name!, { namespace: NS });
  return client.updateStatus<Pod>({
    ...current,
    status: {
      phase: status.phase ?? 'Running',
      ...(status.ip ? { podIP: status.ip, podIPs: [{ ip: status.ip }] } : {}),
      conditions: [{ type: 'Ready', status: status.ready ? 'True' : 'False', lastTransitionTime: T0 }],
    },
  });
}

function ref(pod: Pod) {
  return { kind: 'Pod', namespace: NS, name: pod.metadata!.name!, uid: pod.metadata!.uid! };
}

async function endpointsOf(client: StoreClient, name: string): Promise<Endpoints> {
  return client.get(Endpoints, name, { namespace: NS });
}

describe('Endpoints controller', () => {
  let h: ReconcileHarness<EndpointsController>;
  afterEach(async () => h?.close());

  async function harness(...objects: KubeObject[]): Promise<ReconcileHarness<EndpointsController>> {
    h = await ReconcileHarness.create(EndpointsController, { objects });
    return h;
  }

  it('lists ready pods in addresses and the others in notReadyAddresses, with targetRef and nodeName', async () => {
    await harness(service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }, { tier: 'front' }));
    const a = await createPod(h.client, 'a', { ip: '10.0.0.1', node: 'n1' });
    const b = await createPod(h.client, 'b', { ip: '10.0.0.2', ready: false, node: 'n2' });
    await createPod(h.client, 'other', { ip: '10.0.0.3', labels: { app: 'db' } });
    await h.reconcile('default/web');
    const ep = await endpointsOf(h.client, 'web');
    expect(ep.subsets).to.deep.equal([
      {
        addresses: [{ ip: '10.0.0.1', nodeName: 'n1', targetRef: ref(a) }],
        notReadyAddresses: [{ ip: '10.0.0.2', nodeName: 'n2', targetRef: ref(b) }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    expect(ep.metadata?.labels).to.deep.equal({ tier: 'front' });
    const svc = await h.client.get(Service, 'web', { namespace: NS });
    expect(ep.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME_ANNOTATION]).to.equal(svc.metadata?.creationTimestamp);
    expect(ep.metadata?.ownerReferences).to.equal(undefined);
  });

  it('skips pods without an IP and terminal pods', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    await createPod(h.client, 'no-ip');
    await createPod(h.client, 'done', { ip: '10.0.0.2', phase: 'Succeeded', ready: false });
    await createPod(h.client, 'failed', { ip: '10.0.0.3', phase: 'Failed', ready: false });
    const live = await createPod(h.client, 'live', { ip: '10.0.0.4' });
    await h.reconcile('default/web');
    const ep = await endpointsOf(h.client, 'web');
    expect(ep.subsets).to.deep.equal([{ addresses: [{ ip: '10.0.0.4', nodeName: 'n1', targetRef: ref(live) }], ports: [{ port: 80, protocol: 'TCP' }] }]);
  });

  it('excludes terminating pods', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    await createPod(h.client, 'leaving', { ip: '10.0.0.1', terminating: true });
    const staying = await createPod(h.client, 'staying', { ip: '10.0.0.2' });
    await h.reconcile('default/web');
    const ep = await endpointsOf(h.client, 'web');
    expect(ep.subsets?.flatMap((s) => [...(s.addresses ?? []), ...(s.notReadyAddresses ?? [])]).map((a) => a.targetRef?.name)).to.deep.equal([staying.metadata!.name]);
  });

  it('publishes every address as ready, terminating ones included, with publishNotReadyAddresses', async () => {
    await harness(service('web', { selector: { app: 'web' }, publishNotReadyAddresses: true }));
    await createPod(h.client, 'leaving', { ip: '10.0.0.1', terminating: true });
    await createPod(h.client, 'starting', { ip: '10.0.0.2', ready: false });
    await createPod(h.client, 'up', { ip: '10.0.0.3' });
    await h.reconcile('default/web');
    const [subset, ...rest] = (await endpointsOf(h.client, 'web')).subsets ?? [];
    expect(rest).to.deep.equal([]);
    expect(subset!.notReadyAddresses).to.equal(undefined);
    expect(subset!.addresses!.map((a) => a.ip)).to.deep.equal(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  });

  it('resolves named target ports per pod; a pod without the port gets no endpoint for it; distinct port sets make distinct subsets', async () => {
    await harness(
      service('web', {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'metrics', port: 9090, targetPort: 'metrics' },
          { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
        ],
      }),
    );
    const both = await createPod(h.client, 'both', {
      ip: '10.0.0.1',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9100 },
        { name: 'dns', containerPort: 5353, protocol: 'TCP' },
      ],
    });
    const httpOnly = await createPod(h.client, 'http-only', { ip: '10.0.0.2', ports: [{ name: 'http', containerPort: 8081 }] });
    const same = await createPod(h.client, 'same', {
      ip: '10.0.0.3',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9100 },
      ],
    });
    await h.reconcile('default/web');
    const ep = await endpointsOf(h.client, 'web');
    expect(ep.subsets).to.deep.equal([
      {
        addresses: [
          { ip: '10.0.0.1', nodeName: 'n1', targetRef: ref(both) },
          { ip: '10.0.0.3', nodeName: 'n1', targetRef: ref(same) },
        ],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
      { addresses: [{ ip: '10.0.0.2', nodeName: 'n1', targetRef: ref(httpOnly) }], ports: [{ name: 'http', port: 8081, protocol: 'TCP' }] },
    ]);
  });

  it('labels a headless Service’s Endpoints, publishes them without ports, and sets hostnames under the subdomain', async () => {
    await harness(service('db', { selector: { app: 'db' }, clusterIP: 'None', ports: [] }));
    const named = await createPod(h.client, 'db-0', { ip: '10.0.0.1', labels: { app: 'db' }, hostname: 'db-0', subdomain: 'db' });
    const other = await createPod(h.client, 'db-1', { ip: '10.0.0.2', labels: { app: 'db' }, hostname: 'db-1', subdomain: 'elsewhere' });
    await h.reconcile('default/db');
    const ep = await endpointsOf(h.client, 'db');
    expect(ep.metadata?.labels).to.deep.equal({ [HEADLESS_SERVICE_LABEL]: '' });
    expect(ep.subsets).to.deep.equal([
      {
        addresses: [
          { ip: '10.0.0.1', hostname: 'db-0', nodeName: 'n1', targetRef: ref(named) },
          { ip: '10.0.0.2', nodeName: 'n1', targetRef: ref(other) },
        ],
      },
    ]);
  });

  it('writes only when the result changed', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    const a = await createPod(h.client, 'a', { ip: '10.0.0.1' });
    await h.reconcile('default/web');
    const first = await endpointsOf(h.client, 'web');
    await h.reconcile('default/web');
    expect((await endpointsOf(h.client, 'web')).metadata?.resourceVersion).to.equal(first.metadata?.resourceVersion);
    // A change that does not touch addresses (an annotation) writes nothing either.
    await h.client.patch(Pod, 'a', { metadata: { annotations: { note: 'x' } } }, { namespace: NS });
    await h.reconcile('default/web');
    expect((await endpointsOf(h.client, 'web')).metadata?.resourceVersion).to.equal(first.metadata?.resourceVersion);
    // Readiness does.
    await setStatus(h.client, a, { ip: '10.0.0.1', ready: false });
    await h.reconcile('default/web');
    const second = await endpointsOf(h.client, 'web');
    expect(second.metadata?.resourceVersion).to.not.equal(first.metadata?.resourceVersion);
    expect(second.subsets?.[0]?.notReadyAddresses?.map((x) => x.ip)).to.deep.equal(['10.0.0.1']);
  });

  it('puts back Endpoints edited by someone else', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    await createPod(h.client, 'a', { ip: '10.0.0.1' });
    await h.reconcile('default/web');
    const ep = await endpointsOf(h.client, 'web');
    await h.client.update<Endpoints>({ ...ep, subsets: [{ addresses: [{ ip: '10.9.9.9' }], ports: [{ port: 1, protocol: 'TCP' }] }] });
    expect(await h.reconciler.endpointsToService(ep)).to.deep.equal([{ namespace: NS, name: 'web' }]);
    await h.reconcile('default/web');
    expect((await endpointsOf(h.client, 'web')).subsets?.[0]?.addresses?.map((x) => x.ip)).to.deep.equal(['10.0.0.1']);
  });

  it('leaves the Endpoints of Services without a selector, and ExternalName Services, alone', async () => {
    const manual: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'external', namespace: NS },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432, protocol: 'TCP' }] }],
    };
    await harness(service('external', {}), manual, service('alias', { type: 'ExternalName', externalName: 'db.example.com', selector: { app: 'web' }, ports: [] }));
    await createPod(h.client, 'a', { ip: '10.0.0.1' });
    const before = await endpointsOf(h.client, 'external');
    await h.reconcile('default/external');
    await h.reconcile('default/alias');
    expect((await endpointsOf(h.client, 'external')).metadata?.resourceVersion).to.equal(before.metadata?.resourceVersion);
    const alias = await h.client.get(Endpoints, 'alias', { namespace: NS }).catch((err: unknown) => err);
    expect((alias as { code?: number }).code).to.equal(404);
    // Endpoints without a Service are nobody's business of this controller's watch.
    expect(await h.reconciler.endpointsToService({ ...manual, metadata: { name: 'nothing', namespace: NS } })).to.deep.equal([]);
  });

  it('deletes the Endpoints when the Service is deleted', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    await h.reconcile('default/web');
    await endpointsOf(h.client, 'web');
    await h.client.delete(Service, 'web', { namespace: NS });
    await h.reconcile('default/web');
    const gone = await endpointsOf(h.client, 'web').catch((err: unknown) => err);
    expect((gone as { code?: number }).code).to.equal(404);
  });

  it('records a Warning event and fails when the Endpoints cannot be written', async () => {
    await harness(service('web', { selector: { app: 'web' } }));
    // Link-local addresses are valid pod IPs but never valid endpoints.
    await createPod(h.client, 'a', { ip: '169.254.0.7' });
    const err = await h.reconcile('default/web').catch((e: unknown) => e);
    expect((err as { code?: number }).code).to.equal(422);
    expect(h.recorder.events.map((e) => `${e.type} ${e.reason}`)).to.deep.equal(['Warning FailedToCreateEndpoint']);
    expect(h.recorder.events[0]!.message).to.match(/^Failed to create endpoint for service default\/web: /);
  });

  it('maps a pod to the Services selecting it', async () => {
    await harness(service('web', { selector: { app: 'web' } }), service('all-web', { selector: { app: 'web' } }), service('db', { selector: { app: 'db' } }), service('manual', {}));
    const pod = await createPod(h.client, 'a', { ip: '10.0.0.1' });
    const requests = await h.reconciler.podToServices(pod);
    expect(requests.map((r) => r.name).sort()).to.deep.equal(['all-web', 'web']);
  });
});

describe('Endpoints subsets', () => {
  const addr = (ip: string, uid = ip) => ({ ip, targetRef: { kind: 'Pod', namespace: NS, name: uid, uid } });
  const port = (name: string, n: number) => ({ name, port: n, protocol: 'TCP' });

  it('packs addresses by identical port sets, de-duplicated, not ready winning over ready', () => {
    const packed = repackSubsets([
      { addresses: [addr('10.0.0.2')], ports: [port('a', 1)] },
      { addresses: [addr('10.0.0.1')], ports: [port('a', 1)] },
      { addresses: [addr('10.0.0.1')], ports: [port('b', 2)] },
      { addresses: [addr('10.0.0.2')], notReadyAddresses: [addr('10.0.0.2')], ports: [port('b', 2)] },
      { addresses: [addr('10.0.0.1')], ports: [port('a', 1)] },
      { addresses: [addr('10.0.0.1'), addr('10.0.0.2')], ports: [port('c', 3)] },
      { addresses: [addr('10.0.0.3')] },
    ]);
    expect(packed).to.deep.equal([
      // Ports a and c are served by exactly the same ready addresses; b by one ready and one not.
      { addresses: [addr('10.0.0.1'), addr('10.0.0.2')], ports: [port('a', 1), port('c', 3)] },
      { addresses: [addr('10.0.0.1')], notReadyAddresses: [addr('10.0.0.2')], ports: [port('b', 2)] },
      { addresses: [addr('10.0.0.3')] },
    ]);
  });

  it('is deterministic whatever the input order, and keeps the same IP of two pods apart', () => {
    const input: EndpointSubset[] = [
      { addresses: [addr('10.0.0.1', 'x')], ports: [port('a', 1)] },
      { addresses: [addr('10.0.0.1', 'y')], ports: [port('a', 1)] },
      { notReadyAddresses: [addr('10.0.0.3')], ports: [port('a', 1)] },
    ];
    const forward = repackSubsets(input);
    expect(repackSubsets([...input].reverse())).to.deep.equal(forward);
    expect(forward[0]!.addresses!.map((a) => a.targetRef!.uid)).to.deep.equal(['x', 'y']);
    expect(sameSubsets(forward, [...structuredClone(forward)].reverse())).to.equal(true);
    expect(sameSubsets(forward, forward.slice(1))).to.equal(false);
  });

  it('truncates beyond 1000 addresses, not-ready ones first', () => {
    const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => addr(`${prefix}.${Math.floor(i / 250)}.${i % 250}`));
    const subsets: EndpointSubset[] = [{ addresses: many('10.1', 600), notReadyAddresses: many('10.2', 600), ports: [port('a', 1)] }];
    expect(truncateSubsets(subsets)).to.equal(true);
    expect(subsets[0]!.addresses).to.have.length(600);
    expect(subsets[0]!.notReadyAddresses).to.have.length(400);
    const small: EndpointSubset[] = [{ addresses: many('10.1', 10) }];
    expect(truncateSubsets(small)).to.equal(false);
    expect(OVER_CAPACITY_ANNOTATION).to.equal('endpoints.kubernetes.io/over-capacity');
  });

  it('tracks the last change trigger time: the Service’s creation first, then the earliest pod change since', () => {
    const tracker = new TriggerTimeTracker();
    const svc = service('web', {});
    svc.metadata!.creationTimestamp = T0;
    const podAt = (name: string, time: string): Pod => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: time }] } });
    expect(tracker.compute(svc, [podAt('a', '2026-01-01T00:00:05Z')])).to.equal(Date.parse(T0));
    expect(tracker.compute(svc, [podAt('a', '2026-01-01T00:00:05Z')])).to.equal(undefined);
    expect(tracker.compute(svc, [podAt('a', '2026-01-01T00:00:09Z'), podAt('b', '2026-01-01T00:00:07Z')])).to.equal(Date.parse('2026-01-01T00:00:07Z'));
  });
});

describe('Endpoints controller under a manager', () => {
  let env: TestEnv;
  afterEach(async () => env?.stop());

  it('follows pods becoming ready, not ready, and leaving the selector', async () => {
    env = await TestEnv.start({ controllers: [EndpointsController], objects: [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] })] });
    const { client } = env;
    // No pod yet: an Endpoints without subsets.
    await env.eventually(async () => (await endpointsOf(client, 'web')).metadata?.uid);
    const a = await createPod(client, 'a', { ready: false });
    const b = await createPod(client, 'b', { ready: false });
    const ips = async (field: 'addresses' | 'notReadyAddresses') =>
      ((await endpointsOf(client, 'web')).subsets ?? []).flatMap((s) => s[field] ?? []).map((x) => x.ip).sort().join(',');

    await setStatus(client, a, { ip: '10.0.0.1', ready: true });
    await setStatus(client, b, { ip: '10.0.0.2', ready: false });
    await env.eventually(async () => (await ips('addresses')) === '10.0.0.1' && (await ips('notReadyAddresses')) === '10.0.0.2');

    await setStatus(client, b, { ip: '10.0.0.2', ready: true });
    await env.eventually(async () => (await ips('addresses')) === '10.0.0.1,10.0.0.2' && (await ips('notReadyAddresses')) === '');

    await setStatus(client, a, { ip: '10.0.0.1', ready: false });
    await env.eventually(async () => (await ips('addresses')) === '10.0.0.2' && (await ips('notReadyAddresses')) === '10.0.0.1');

    // Relabelled out of the selector: the Endpoints still listing it bring the Service back.
    await client.patch(Pod, 'b', { metadata: { labels: { app: 'other' } } }, { namespace: NS });
    await env.eventually(async () => (await ips('addresses')) === '' && (await ips('notReadyAddresses')) === '10.0.0.1');

    // Someone deletes the Endpoints: they come back.
    await client.delete(Endpoints, 'web', { namespace: NS });
    await env.eventually(async () => (await ips('notReadyAddresses')) === '10.0.0.1');

    await client.delete(Service, 'web', { namespace: NS });
    await env.eventually(async () => endpointsOf(client, 'web').then(() => false, (err: { code?: number }) => err.code === 404));
  });
});
