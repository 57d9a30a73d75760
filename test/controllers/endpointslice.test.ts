/**
 * The endpointslice controller: each rule with the ReconcileHarness (one reconcile against an
 * in-memory store) — slices mirrored from Endpoints with kube's shape, labels and owner; the
 * placeholder slice; mirroring a user's Endpoints; updates in place, splitting past 100
 * endpoints, deleting what is no longer wanted, leaving others' slices alone — and, under a
 * manager next to the endpoints controller, slices following pods.
 */
import { expect } from 'chai';
import { EndpointSlice, Endpoints, Pod, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { EndpointSubset, ServiceSpec } from '../../lib/api/types/core.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { ReconcileHarness, TestEnv } from '../../lib/testing/env.js';
import { EndpointsController, LAST_CHANGE_TRIGGER_TIME_ANNOTATION } from '../../controllers/endpoints/index.js';
import { EndpointSliceController, MANAGED_BY_CONTROLLER, MANAGED_BY_LABEL, MANAGED_BY_MIRRORING, SERVICE_NAME_LABEL } from '../../controllers/endpointslice/index.js';

const NS = 'default';

function service(name: string, spec: Partial<ServiceSpec>, labels?: Record<string, string>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec: { ports: [{ name: 'http', port: 80 }], ...spec } };
}

function endpoints(name: string, subsets: EndpointSubset[], annotations?: Record<string, string>): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}) }, subsets };
}

async function slicesOf(client: StoreClient, name: string): Promise<EndpointSlice[]> {
  const items = (await client.list(EndpointSlice, { namespace: NS, labelSelector: `${SERVICE_NAME_LABEL}=${name}` })).items;
  return items.sort((a, b) => ((a.endpoints?.length ?? 0) === (b.endpoints?.length ?? 0) ? (a.metadata!.name! < b.metadata!.name! ? -1 : 1) : (b.endpoints?.length ?? 0) - (a.endpoints?.length ?? 0)));
}

const podRef = (name: string) => ({ kind: 'Pod', namespace: NS, name, uid: `uid-${name}` });

describe('endpointslice controller', () => {
  let h: ReconcileHarness<EndpointSliceController>;
  afterEach(async () => h?.close());

  async function harness(...objects: KubeObject[]): Promise<ReconcileHarness<EndpointSliceController>> {
    h = await ReconcileHarness.create(EndpointSliceController, { objects });
    return h;
  }

  it("mirrors a selector Service's Endpoints into a slice: ready and not-ready endpoints, ports, labels, owner", async () => {
    await harness(
      service('web', { selector: { app: 'web' }, clusterIP: '127.96.0.10' }, { tier: 'front' }),
      endpoints(
        'web',
        [
          {
            addresses: [{ ip: '127.64.0.3', nodeName: 'n2', targetRef: podRef('b') }, { ip: '127.64.0.2', nodeName: 'n1', targetRef: podRef('a') }],
            notReadyAddresses: [{ ip: '127.64.0.4', nodeName: 'n1', targetRef: podRef('c') }],
            ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
          },
        ],
        { [LAST_CHANGE_TRIGGER_TIME_ANNOTATION]: '2026-01-01T00:00:00Z' },
      ),
    );
    await h.reconcile('default/web');
    const [slice, ...more] = await slicesOf(h.client, 'web');
    expect(more).to.deep.equal([]);
    expect(slice!.metadata!.name).to.match(/^web-[a-z0-9]{5}$/);
    expect(slice!.addressType).to.equal('IPv4');
    expect(slice!.ports).to.deep.equal([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice!.endpoints).to.deep.equal([
      { addresses: ['127.64.0.2'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', targetRef: podRef('a') },
      { addresses: ['127.64.0.3'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n2', targetRef: podRef('b') },
      { addresses: ['127.64.0.4'], conditions: { ready: false, serving: false, terminating: false }, nodeName: 'n1', targetRef: podRef('c') },
    ]);
    expect(slice!.metadata!.labels).to.deep.equal({ tier: 'front', [SERVICE_NAME_LABEL]: 'web', [MANAGED_BY_LABEL]: MANAGED_BY_CONTROLLER });
    expect(slice!.metadata!.annotations?.[LAST_CHANGE_TRIGGER_TIME_ANNOTATION]).to.equal('2026-01-01T00:00:00Z');
    const svc = await h.client.get(Service, 'web', { namespace: NS });
    expect(slice!.metadata!.ownerReferences).to.deep.equal([{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: svc.metadata!.uid, controller: true, blockOwnerDeletion: true }]);

    // Nothing changed: nothing written.
    const rv = slice!.metadata!.resourceVersion;
    await h.reconcile('default/web');
    expect((await slicesOf(h.client, 'web'))[0]!.metadata!.resourceVersion).to.equal(rv);
  });

  it('gives a selector Service with nothing to list one empty slice (kube\'s placeholder), headless labelled', async () => {
    await harness(service('db', { selector: { app: 'db' }, clusterIP: 'None' }));
    await h.reconcile('default/db');
    const slices = await slicesOf(h.client, 'db');
    expect(slices.map((s) => [s.addressType, s.endpoints ?? [], s.ports ?? []])).to.deep.equal([['IPv4', [], []]]);
    expect(slices[0]!.metadata!.labels?.['service.kubernetes.io/headless']).to.equal('');
  });

  it("mirrors a user's Endpoints of a Service without a selector (managed by the mirroring controller); none without Endpoints", async () => {
    await harness(service('ext', {}), service('bare', {}), endpoints('ext', [{ addresses: [{ ip: '198.51.100.20' }], ports: [{ port: 5432 }] }]));
    await h.reconcile('default/ext');
    await h.reconcile('default/bare');
    const [slice] = await slicesOf(h.client, 'ext');
    expect(slice!.metadata!.labels?.[MANAGED_BY_LABEL]).to.equal(MANAGED_BY_MIRRORING);
    expect(slice!.ports).to.deep.equal([{ name: '', port: 5432, protocol: 'TCP' }]);
    expect(await slicesOf(h.client, 'bare')).to.deep.equal([]);
  });

  it('updates its slice in place, splits past 100 endpoints, deletes what is no longer wanted, and leaves slices of others alone', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ip: `127.64.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
    await harness(service('web', { selector: { app: 'web' } }), endpoints('web', [{ addresses: many(2), ports: [{ name: 'http', port: 8080 }] }]));
    const foreign: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-by-hand', namespace: NS, labels: { [SERVICE_NAME_LABEL]: 'web', [MANAGED_BY_LABEL]: 'someone-else' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.64.9.9'] }],
      ports: [],
    };
    await h.client.create(foreign);
    await h.reconcile('default/web');
    const first = (await slicesOf(h.client, 'web')).filter((s) => s.metadata!.name !== 'web-by-hand');
    expect(first.map((s) => s.endpoints!.length)).to.deep.equal([2]);

    const current = await h.client.get(Endpoints, 'web', { namespace: NS });
    await h.client.update({ ...current, subsets: [{ addresses: many(150), ports: [{ name: 'http', port: 8080 }] }] });
    await h.reconcile('default/web');
    const split = (await slicesOf(h.client, 'web')).filter((s) => s.metadata!.name !== 'web-by-hand');
    expect(split.map((s) => s.endpoints!.length)).to.deep.equal([100, 50]);
    expect(split.map((s) => s.metadata!.name)).to.include(first[0]!.metadata!.name, 'the first slice updated in place');

    // The port changes and the endpoints shrink: one slice left, the other deleted.
    const again = await h.client.get(Endpoints, 'web', { namespace: NS });
    await h.client.update({ ...again, subsets: [{ addresses: many(3), ports: [{ name: 'http', port: 9090 }] }] });
    await h.reconcile('default/web');
    const after = await slicesOf(h.client, 'web');
    expect(after.map((s) => [s.metadata!.name === 'web-by-hand' ? 'foreign' : 'ours', s.endpoints!.length, s.ports!.map((p) => p.port)])).to.deep.equal([
      ['ours', 3, [9090]],
      ['foreign', 1, []],
    ]);

    // The Service gone: its slices go (the foreign one stays).
    await h.client.delete(Service, 'web', { namespace: NS });
    await h.reconcile('default/web');
    expect((await slicesOf(h.client, 'web')).map((s) => s.metadata!.name)).to.deep.equal(['web-by-hand']);
  });

  it('under a manager next to the endpoints controller: slices follow pods, and a deleted slice comes back', async () => {
    const env = await TestEnv.start({ controllers: [EndpointsController, EndpointSliceController], objects: [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] })] });
    try {
      const { client } = env;
      const created = await client.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: NS, labels: { app: 'web' } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } });
      await client.updateStatus<Pod>({ ...created, status: { phase: 'Running', podIP: '127.64.0.2', podIPs: [{ ip: '127.64.0.2' }], conditions: [{ type: 'Ready', status: 'True' }] } });
      const ready = async () => (await slicesOf(client, 'web')).flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).map((e) => e.addresses[0]));
      await env.eventually(async () => (await ready()).includes('127.64.0.2') || undefined);
      const [slice] = await slicesOf(client, 'web');
      await client.delete(EndpointSlice, slice!.metadata!.name!, { namespace: NS });
      await env.eventually(async () => {
        const now = await slicesOf(client, 'web');
        return now.length === 1 && now[0]!.metadata!.name !== slice!.metadata!.name && (await ready()).includes('127.64.0.2') ? true : undefined;
      });
    } finally {
      await env.stop();
    }
  });
  it('lists a terminating pod (deleted, not yet gone) as kube does: ready false, serving its readiness, terminating — until it is gone', async () => {
    const env = await TestEnv.start({ controllers: [EndpointsController, EndpointSliceController], objects: [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] })] });
    try {
      const { client } = env;
      for (const [name, ip] of [['a', '127.64.0.2'], ['b', '127.64.0.3']] as const) {
        const created = await client.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: 'web' } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } });
        await client.updateStatus<Pod>({ ...created, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] } });
      }
      const conditions = async () =>
        Object.fromEntries((await slicesOf(client, 'web')).flatMap((s) => (s.endpoints ?? []).map((e) => [e.addresses[0], e.conditions])));
      await env.eventually(async () => (Object.keys(await conditions()).length === 2 ? true : undefined));
      // Graceful deletion: the pod stays, with a deletionTimestamp, until its node confirms.
      await client.delete(Pod, 'a', { namespace: NS, gracePeriodSeconds: 30 });
      await env.eventually(async () => ((await conditions())['127.64.0.2']?.terminating ? true : undefined));
      expect(await conditions()).to.deep.equal({
        '127.64.0.2': { ready: false, serving: true, terminating: true },
        '127.64.0.3': { ready: true, serving: true, terminating: false },
      });
      // The Endpoints list no terminating pod.
      const listed = (await client.get(Endpoints, 'web', { namespace: NS })).subsets?.flatMap((s) => (s.addresses ?? []).map((a) => a.ip));
      expect(listed).to.deep.equal(['127.64.0.3']);
      const [slice] = await slicesOf(client, 'web');
      expect(slice!.ports).to.deep.equal([{ name: 'http', port: 8080, protocol: 'TCP' }]);
      // Gone for good: it leaves the slice.
      await client.delete(Pod, 'a', { namespace: NS, gracePeriodSeconds: 0 });
      await env.eventually(async () => (Object.keys(await conditions()).join() === '127.64.0.3' ? true : undefined));
    } finally {
      await env.stop();
    }
  });
});
