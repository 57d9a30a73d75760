/**
 * Kubernetes object semantics, one suite for every storage backend (memory, SQLite, etcd),
 * exercised through the public Client. Each case's title names the backend.
 */
import { expect } from 'chai';
import { ApiError, isAlreadyExists, isConflict, isExpired, isInvalid, isNotFound, type Status } from '../../lib/api/errors.js';
import { ConfigMap, Event, Namespace, Pod, ReplicationController } from '../../lib/api/kinds.js';
import type { KubeObject, WatchEvent } from '../../lib/api/meta.js';
import { objectKey } from '../../lib/registry/keys.js';
import { defineResource } from '../../lib/api/resources.js';
import { kvBackends } from '../harness/backends.js';
import { openTestStore, type TestStore } from '../harness/store.js';
import { collectUntil } from '../harness/wait.js';

const NS = 'default';

function configMap(name: string, data: Record<string, string> = { k: 'v' }, labels?: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, data };
}

function pod(name: string, extra: { nodeName?: string; labels?: Record<string, string>; finalizers?: string[] } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.finalizers ? { finalizers: extra.finalizers } : {}) },
    spec: { containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }], ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
  } as Pod;
}

function rc(name: string, replicas = 2): ReplicationController {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { app: name },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    },
  } as ReplicationController;
}

async function expectApiError(promise: Promise<unknown>, code: number, reason?: string): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(ApiError);
    const apiError = err as ApiError;
    expect(apiError.code, apiError.message).to.equal(code);
    if (reason !== undefined) expect(apiError.reason).to.equal(reason);
    return apiError;
  }
  throw new Error(`expected an ApiError ${code}`);
}

function names(events: WatchEvent[]): string[] {
  return events.map((e) => `${e.type}:${(e.object as KubeObject).metadata?.name ?? ''}`);
}

for (const backend of kvBackends) for (const via of ['store', 'http'] as const) {
  describe(`Client semantics [${backend.name}, ${via === 'store' ? 'StoreClient' : 'KubeClient over HTTP'}]`, function () {
    this.timeout(30_000);
    let store: TestStore;

    before(async () => backend.setup());
    after(async () => backend.teardown());
    beforeEach(async () => {
      store = await openTestStore(backend, { bookmarkIntervalMs: 100 }, via);
    });
    afterEach(async () => store.close());

    describe(`create and get [${backend.name}]`, () => {
      it(`fills uid, creationTimestamp, resourceVersion and kind on create [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('a'));
        expect(created.metadata?.uid).to.match(/^[0-9a-f-]{36}$/);
        expect(created.metadata?.creationTimestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(Number(created.metadata?.resourceVersion)).to.be.greaterThan(0);
        expect(created).to.include({ apiVersion: 'v1', kind: 'ConfigMap' });
        const got = await store.client.get(ConfigMap, 'a', { namespace: NS });
        expect(got).to.deep.equal(created);
      });

      it(`sets generation 1 and applies defaults [${backend.name}]`, async () => {
        const created = await store.client.create({ ...rc('web'), spec: { ...rc('web').spec, replicas: undefined } } as ReplicationController);
        expect(created.metadata?.generation).to.equal(1);
        expect((created.spec as { replicas?: number }).replicas).to.equal(1);
      });

      it(`generates a name from generateName [${backend.name}]`, async () => {
        const created = await store.client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-', namespace: NS } });
        expect(created.metadata?.name).to.match(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      });

      it(`answers 409 AlreadyExists for an existing name [${backend.name}]`, async () => {
        await store.client.create(configMap('dup'));
        const err = await expectApiError(store.client.create(configMap('dup', { other: 'x' })), 409, 'AlreadyExists');
        expect(err.message).to.equal('configmaps "dup" already exists');
        expect(err.details).to.deep.equal({ name: 'dup', kind: 'configmaps' });
        expect(isAlreadyExists(err)).to.equal(true);
        expect((await store.client.get(ConfigMap, 'dup', { namespace: NS })).data).to.deep.equal({ k: 'v' });
      });

      it(`answers 404 NotFound for a missing object [${backend.name}]`, async () => {
        const err = await expectApiError(store.client.get(ConfigMap, 'nope', { namespace: NS }), 404, 'NotFound');
        expect(err.message).to.equal('configmaps "nope" not found');
        expect(isNotFound(err)).to.equal(true);
      });

      it(`drops the namespace of a cluster-scoped object [${backend.name}]`, async () => {
        const created = await store.client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', namespace: 'x' } });
        expect(created.metadata?.namespace).to.equal(undefined);
        expect((await store.client.get(Namespace, 'team-a')).metadata?.name).to.equal('team-a');
      });

      it(`stores nothing on dryRun [${backend.name}]`, async () => {
        const before = await store.kv.revision();
        const answer = await store.client.create(configMap('dry'), { dryRun: true });
        expect(answer.metadata?.name).to.equal('dry');
        expect(await store.kv.revision()).to.equal(before);
        await expectApiError(store.client.get(ConfigMap, 'dry', { namespace: NS }), 404);
      });

      it(`resets a pod's status on create [${backend.name}]`, async () => {
        const created = await store.client.create({ ...pod('p'), status: { phase: 'Running', podIP: '1.2.3.4' } } as Pod);
        expect((created.status as { phase?: string }).phase).to.equal('Pending');
        expect((created.status as { podIP?: string }).podIP).to.equal(undefined);
      });
    });

    describe(`update [${backend.name}]`, () => {
      it(`rejects a stale resourceVersion with 409 Conflict [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('c'));
        const updated = await store.client.update({ ...created, data: { k: 'v2' } });
        expect(Number(updated.metadata!.resourceVersion)).to.be.greaterThan(Number(created.metadata!.resourceVersion));
        const err = await expectApiError(store.client.update({ ...created, data: { k: 'stale' } }), 409, 'Conflict');
        expect(err.message).to.equal(
          'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again',
        );
        expect(isConflict(err)).to.equal(true);
        expect((await store.client.get(ConfigMap, 'c', { namespace: NS })).data).to.deep.equal({ k: 'v2' });
      });

      it(`updates unconditionally without a resourceVersion [${backend.name}]`, async () => {
        await store.client.create(configMap('u'));
        const { metadata, ...rest } = configMap('u', { k: 'forced' });
        const updated = await store.client.update({ ...rest, metadata: { name: metadata!.name!, namespace: NS } });
        expect(updated.data).to.deep.equal({ k: 'forced' });
      });

      it(`answers 404 when updating a missing object [${backend.name}]`, async () => {
        await expectApiError(store.client.update(configMap('ghost')), 404, 'NotFound');
      });

      it(`bumps generation on spec changes only [${backend.name}]`, async () => {
        const created = await store.client.create(rc('gen'));
        const relabeled = await store.client.update({ ...created, metadata: { ...created.metadata, labels: { a: 'b' } } });
        expect(relabeled.metadata?.generation).to.equal(1);
        const scaled = await store.client.update({ ...relabeled, spec: { ...relabeled.spec, replicas: 5 } } as ReplicationController);
        expect(scaled.metadata?.generation).to.equal(2);
      });

      it(`ignores status on the main resource and spec on /status [${backend.name}]`, async () => {
        const created = await store.client.create(rc('st'));
        const main = await store.client.update({ ...created, status: { replicas: 7 } } as ReplicationController);
        expect((main.status as { replicas?: number } | undefined)?.replicas ?? 0).to.equal(0);
        const status = await store.client.updateStatus({
          ...main,
          spec: { ...main.spec, replicas: 9 },
          metadata: { ...main.metadata, labels: { sneaky: 'yes' } },
          status: { replicas: 2, observedGeneration: 1 },
        } as ReplicationController);
        expect((status.status as { replicas: number }).replicas).to.equal(2);
        expect((status.spec as { replicas: number }).replicas).to.equal(2);
        // The RC's labels were defaulted from its template on create; /status cannot change them.
        expect(status.metadata?.labels).to.deep.equal({ app: 'st' });
        expect(status.metadata?.generation).to.equal(1);
      });

      it(`writes nothing for a no-op update [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('noop'));
        const again = await store.client.update(created);
        expect(again.metadata?.resourceVersion).to.equal(created.metadata?.resourceVersion);
      });

      it(`refuses an update whose uid does not match [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('uid'));
        const err = await expectApiError(store.client.update({ ...created, metadata: { ...created.metadata, uid: 'other' } }), 409, 'Conflict');
        expect(err.message).to.contain('Precondition failed: UID in precondition: other');
      });
    });

    describe(`patch [${backend.name}]`, () => {
      it(`applies a JSON merge patch, null deleting keys [${backend.name}]`, async () => {
        await store.client.create(configMap('mp', { a: '1', b: '2' }, { x: 'y' }));
        const patched = await store.client.patch(ConfigMap, 'mp', { data: { a: null, c: '3' }, metadata: { labels: { z: 'w' } } }, { namespace: NS });
        expect(patched.data).to.deep.equal({ b: '2', c: '3' });
        expect(patched.metadata?.labels).to.deep.equal({ x: 'y', z: 'w' });
      });

      it(`applies a JSON patch and refuses a failed test with 422, unchanged [${backend.name}]`, async () => {
        await store.client.create(configMap('jp', { a: '1' }));
        const patched = await store.client.patch(
          ConfigMap,
          'jp',
          [
            { op: 'add', path: '/data/b', value: '2' },
            { op: 'replace', path: '/data/a', value: 'one' },
          ],
          { namespace: NS, type: 'json' },
        );
        expect(patched.data).to.deep.equal({ a: 'one', b: '2' });
        const err = await expectApiError(
          store.client.patch(ConfigMap, 'jp', [{ op: 'test', path: '/data/a', value: 'nope' }, { op: 'remove', path: '/data/a' }], {
            namespace: NS,
            type: 'json',
          }),
          422,
          'Invalid',
        );
        expect(err.details?.causes?.[0]?.message).to.contain('/data/a');
        expect((await store.client.get(ConfigMap, 'jp', { namespace: NS })).data).to.deep.equal({ a: 'one', b: '2' });
      });

      it(`treats a resourceVersion in the patch as a precondition [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('pv'));
        await store.client.patch(ConfigMap, 'pv', { data: { k: 'v2' } }, { namespace: NS });
        await expectApiError(
          store.client.patch(ConfigMap, 'pv', { metadata: { resourceVersion: created.metadata!.resourceVersion }, data: { k: 'v3' } }, { namespace: NS }),
          409,
          'Conflict',
        );
      });

      it(`merges containers by name with a strategic merge patch [${backend.name}]`, async () => {
        await store.client.create({
          ...pod('smp'),
          metadata: { name: 'smp', namespace: NS, finalizers: ['example.com/a'] },
          spec: {
            containers: [
              { name: 'a', image: 'img:1', env: [{ name: 'X', value: '1' }] },
              { name: 'b', image: 'img:1' },
            ],
          },
        } as Pod);
        const patched = await store.client.patch(
          Pod,
          'smp',
          {
            metadata: { finalizers: ['example.com/b'] },
            spec: { containers: [{ name: 'b', image: 'img:2' }], activeDeadlineSeconds: 100 },
          },
          { namespace: NS, type: 'strategic' },
        );
        const containers = (patched.spec as { containers: { name: string; image: string; env?: unknown[] }[] }).containers;
        expect(containers.map((c) => `${c.name}=${c.image}`)).to.deep.equal(['a=img:1', 'b=img:2']);
        expect(containers[0]!.env).to.deep.equal([{ name: 'X', value: '1' }]);
        expect(patched.metadata?.finalizers).to.deep.equal(['example.com/a', 'example.com/b']);
        const removed = await store.client.patch(Pod, 'smp', { metadata: { $deleteFromPrimitiveList: undefined, finalizers: null } }, { namespace: NS, type: 'strategic' });
        expect(removed.metadata?.finalizers).to.equal(undefined);
        await store.client.delete(Pod, 'smp', { namespace: NS });
      });

      it(`refuses a strategic merge patch on a custom kind with 415 [${backend.name}]`, async () => {
        const types = store.registry.types;
        types.register(defineResource({ group: 'example.com', version: 'v1', kind: 'Widget' }));
        await store.client.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: NS } });
        await expectApiError(store.client.patch({ apiVersion: 'example.com/v1', kind: 'Widget' }, 'w', { spec: {} }, { namespace: NS, type: 'strategic' }), 415, 'UnsupportedMediaType');
      });

      it(`patches the status subresource [${backend.name}]`, async () => {
        await store.client.create(rc('ps'));
        const patched = await store.client.patch(ReplicationController, 'ps', { status: { replicas: 3 }, spec: { replicas: 10 } }, { namespace: NS, subresource: 'status' });
        expect((patched.status as { replicas: number }).replicas).to.equal(3);
        expect((patched.spec as { replicas: number }).replicas).to.equal(2);
      });

      it(`serializes concurrent merge patches without losing any [${backend.name}]`, async () => {
        await store.client.create(configMap('race', {}));
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.client.patch(ConfigMap, 'race', { data: { [`k${i}`]: String(i) } }, { namespace: NS })));
        const final = await store.client.get(ConfigMap, 'race', { namespace: NS });
        expect(Object.keys(final.data ?? {})).to.have.length(10);
      });
    });

    describe(`delete, finalizers and graceful deletion [${backend.name}]`, () => {
      it(`answers a Success Status naming the deleted object [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('del'));
        const answer = (await store.client.delete(ConfigMap, 'del', { namespace: NS })) as Status;
        expect(answer).to.deep.include({ kind: 'Status', status: 'Success' });
        expect(answer.details).to.deep.equal({ name: 'del', kind: 'configmaps', uid: created.metadata!.uid });
        await expectApiError(store.client.get(ConfigMap, 'del', { namespace: NS }), 404);
        await expectApiError(store.client.delete(ConfigMap, 'del', { namespace: NS }), 404, 'NotFound');
      });

      it(`checks uid and resourceVersion preconditions [${backend.name}]`, async () => {
        const created = await store.client.create(configMap('pre'));
        const uidErr = await expectApiError(store.client.delete(ConfigMap, 'pre', { namespace: NS, preconditions: { uid: 'x' } }), 409, 'Conflict');
        expect(uidErr.message).to.contain('the UID in the precondition (x) does not match the UID in record');
        await store.client.patch(ConfigMap, 'pre', { data: { k: 'changed' } }, { namespace: NS });
        await expectApiError(
          store.client.delete(ConfigMap, 'pre', { namespace: NS, preconditions: { resourceVersion: created.metadata!.resourceVersion! } }),
          409,
          'Conflict',
        );
        await store.client.delete(ConfigMap, 'pre', { namespace: NS, preconditions: { uid: created.metadata!.uid! } });
      });

      it(`keeps an object with finalizers until the last one is removed [${backend.name}]`, async () => {
        const created = await store.client.create({ ...configMap('fin'), metadata: { ...configMap('fin').metadata, finalizers: ['example.com/a', 'example.com/b'] } });
        const ac = new AbortController();
        const events = store.client.watch(ConfigMap, { namespace: NS, resourceVersion: created.metadata!.resourceVersion!, signal: ac.signal });
        const first = (await store.client.delete(ConfigMap, 'fin', { namespace: NS })) as ConfigMap;
        expect(first.metadata?.deletionTimestamp).to.be.a('string');
        expect(first.metadata?.deletionGracePeriodSeconds).to.equal(0);
        const second = (await store.client.delete(ConfigMap, 'fin', { namespace: NS })) as ConfigMap;
        expect(second.metadata?.resourceVersion).to.equal(first.metadata?.resourceVersion);
        const stillThere = await store.client.get(ConfigMap, 'fin', { namespace: NS });
        const one = await store.client.update({ ...stillThere, metadata: { ...stillThere.metadata, finalizers: ['example.com/b'] } });
        expect(one.metadata?.deletionTimestamp).to.equal(first.metadata?.deletionTimestamp);
        await store.client.update({ ...one, metadata: { ...one.metadata, finalizers: [] } });
        await expectApiError(store.client.get(ConfigMap, 'fin', { namespace: NS }), 404);
        const seen = await collectUntil(events, (es) => es.some((e) => e.type === 'DELETED'));
        ac.abort();
        expect(seen.map((e) => e.type)).to.deep.equal(['MODIFIED', 'MODIFIED', 'DELETED']);
      });

      it(`deletes a bound pod gracefully and an unbound one at once [${backend.name}]`, async () => {
        await store.client.create(pod('bound', { nodeName: 'n1' }));
        await store.client.create(pod('loose'));
        const graceful = (await store.client.delete(Pod, 'bound', { namespace: NS })) as Pod;
        expect(graceful.metadata?.deletionGracePeriodSeconds).to.equal(30);
        expect(Date.parse(graceful.metadata!.deletionTimestamp!) - Date.now()).to.be.within(25_000, 31_000);
        expect((await store.client.get(Pod, 'bound', { namespace: NS })).metadata?.deletionTimestamp).to.be.a('string');
        const shorter = (await store.client.delete(Pod, 'bound', { namespace: NS, gracePeriodSeconds: 5 })) as Pod;
        expect(shorter.metadata?.deletionGracePeriodSeconds).to.equal(5);
        await store.client.delete(Pod, 'bound', { namespace: NS, gracePeriodSeconds: 0 });
        await expectApiError(store.client.get(Pod, 'bound', { namespace: NS }), 404);
        await store.client.delete(Pod, 'loose', { namespace: NS });
        await expectApiError(store.client.get(Pod, 'loose', { namespace: NS }), 404);
      });
    });

    describe(`list [${backend.name}]`, () => {
      it(`filters by namespace, labels and fields [${backend.name}]`, async () => {
        await store.client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
        await store.client.create(configMap('a', {}, { app: 'web', tier: 'front' }));
        await store.client.create(configMap('b', {}, { app: 'web', tier: 'back' }));
        await store.client.create(configMap('c', {}, { app: 'db' }));
        await store.client.create({ ...configMap('d', {}, { app: 'web' }), metadata: { name: 'd', namespace: 'other', labels: { app: 'web' } } });
        const web = await store.client.list(ConfigMap, { namespace: NS, labelSelector: 'app=web' });
        expect(web.items.map((i) => i.metadata?.name)).to.deep.equal(['a', 'b']);
        const all = await store.client.list(ConfigMap, { labelSelector: 'app in (web),tier!=back' });
        expect(all.items.map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`)).to.deep.equal(['default/a', 'other/d']);
        const byObject = await store.client.list(ConfigMap, { labelSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } });
        expect(byObject.items.map((i) => i.metadata?.name)).to.deep.equal(['a', 'b']);
        const byName = await store.client.list(ConfigMap, { fieldSelector: 'metadata.name=c' });
        expect(byName.items.map((i) => i.metadata?.name)).to.deep.equal(['c']);
        const byNs = await store.client.list(ConfigMap, { fieldSelector: 'metadata.namespace!=default' });
        expect(byNs.items.map((i) => i.metadata?.name)).to.deep.equal(['d']);
        expect(Number(all.metadata.resourceVersion)).to.equal(await store.kv.revision());
      });

      it(`filters pods by spec.nodeName and status.phase [${backend.name}]`, async () => {
        await store.client.create(pod('p1', { nodeName: 'n1' }));
        await store.client.create(pod('p2', { nodeName: 'n2' }));
        await store.client.create(pod('p3'));
        const onN1 = await store.client.list(Pod, { namespace: NS, fieldSelector: 'spec.nodeName=n1' });
        expect(onN1.items.map((p) => p.metadata?.name)).to.deep.equal(['p1']);
        const unbound = await store.client.list(Pod, { fieldSelector: 'spec.nodeName=,status.phase=Pending' });
        expect(unbound.items.map((p) => p.metadata?.name)).to.deep.equal(['p3']);
      });

      it(`pages consistently at the first page's revision [${backend.name}]`, async () => {
        for (let i = 0; i < 10; i++) await store.client.create(configMap(`item-${i}`));
        const first = await store.client.list(ConfigMap, { namespace: NS, limit: 4 });
        expect(first.items).to.have.length(4);
        expect(first.metadata.continue).to.be.a('string');
        await store.client.create(configMap('item-99'));
        await store.client.delete(ConfigMap, 'item-8', { namespace: NS });
        const seen = first.items.map((i) => i.metadata?.name);
        let token = first.metadata.continue;
        while (token) {
          const page = await store.client.list(ConfigMap, { namespace: NS, limit: 4, continue: token });
          expect(page.metadata.resourceVersion).to.equal(first.metadata.resourceVersion);
          seen.push(...page.items.map((i) => i.metadata?.name));
          token = page.metadata.continue;
        }
        expect(seen).to.deep.equal(Array.from({ length: 10 }, (_, i) => `item-${i}`));
      });

      it(`pages through a filtered list [${backend.name}]`, async () => {
        for (let i = 0; i < 12; i++) await store.client.create(configMap(`f-${String(i).padStart(2, '0')}`, {}, { even: String(i % 2 === 0) }));
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = await store.client.list(ConfigMap, { namespace: NS, limit: 2, labelSelector: 'even=true', ...(token ? { continue: token } : {}) });
          expect(page.items.length).to.be.at.most(2);
          seen.push(...page.items.map((i) => i.metadata!.name!));
          token = page.metadata.continue;
        } while (token);
        expect(seen).to.deep.equal(['f-00', 'f-02', 'f-04', 'f-06', 'f-08', 'f-10']);
      });

      it(`answers 410 Expired for a continue token older than the compacted history [${backend.name}]`, async () => {
        for (let i = 0; i < 5; i++) await store.client.create(configMap(`old-${i}`));
        const first = await store.client.list(ConfigMap, { namespace: NS, limit: 2 });
        await store.client.patch(ConfigMap, 'old-4', { data: { k: 'x' } }, { namespace: NS });
        await store.client.patch(ConfigMap, 'old-4', { data: { k: 'y' } }, { namespace: NS });
        await store.kv.compact(await store.kv.revision());
        const err = await expectApiError(store.client.list(ConfigMap, { namespace: NS, limit: 2, continue: first.metadata.continue! }), 410, 'Expired');
        expect(isExpired(err)).to.equal(true);
        expect(err.status.metadata.continue).to.be.a('string');
      });

      it(`refuses a malformed continue token with 400 [${backend.name}]`, async () => {
        await expectApiError(store.client.list(ConfigMap, { namespace: NS, continue: 'garbage!!' }), 400, 'BadRequest');
      });

      it(`reads an exact earlier resourceVersion [${backend.name}]`, async () => {
        const a = await store.client.create(configMap('ex'));
        await store.client.patch(ConfigMap, 'ex', { data: { k: 'later' } }, { namespace: NS });
        const then = await store.client.list(ConfigMap, { namespace: NS, resourceVersion: a.metadata!.resourceVersion!, resourceVersionMatch: 'Exact' });
        expect(then.items[0]!.data).to.deep.equal({ k: 'v' });
        expect(then.metadata.resourceVersion).to.equal(a.metadata!.resourceVersion);
      });
    });

    describe(`watch [${backend.name}]`, () => {
      it(`starts with ADDED for current objects when no resourceVersion is given [${backend.name}]`, async () => {
        await store.client.create(configMap('w1'));
        await store.client.create(configMap('w2'));
        const ac = new AbortController();
        const it = store.client.watch(ConfigMap, { namespace: NS, signal: ac.signal });
        const initial = await collectUntil(it, (es) => es.length >= 2);
        await store.client.create(configMap('w3'));
        await store.client.delete(ConfigMap, 'w1', { namespace: NS });
        const later = await collectUntil(it, (es) => es.length >= 2);
        ac.abort();
        expect(names(initial)).to.deep.equal(['ADDED:w1', 'ADDED:w2']);
        expect(names(later)).to.deep.equal(['ADDED:w3', 'DELETED:w1']);
        const deletedRv = Number(later[1]!.object.metadata?.resourceVersion);
        expect(deletedRv).to.equal(await store.kv.revision());
      });

      it(`resumes exactly after a resourceVersion [${backend.name}]`, async () => {
        const a = await store.client.create(configMap('r'));
        const b = await store.client.patch(ConfigMap, 'r', { data: { k: '2' } }, { namespace: NS });
        await store.client.patch(ConfigMap, 'r', { data: { k: '3' } }, { namespace: NS });
        const ac = new AbortController();
        const it = store.client.watch(ConfigMap, { namespace: NS, resourceVersion: a.metadata!.resourceVersion!, signal: ac.signal });
        const events = await collectUntil(it, (es) => es.length >= 2);
        ac.abort();
        expect(events.map((e) => [e.type, (e.object as ConfigMap).data?.k])).to.deep.equal([
          ['MODIFIED', '2'],
          ['MODIFIED', '3'],
        ]);
        expect(events[0]!.object.metadata?.resourceVersion).to.equal(b.metadata?.resourceVersion);
      });

      it(`sends DELETED when an object stops matching the selector and ADDED when it starts [${backend.name}]`, async () => {
        await store.client.create(configMap('sel', {}, { app: 'web' }));
        const rv = await store.kv.revision();
        const ac = new AbortController();
        const it = store.client.watch(ConfigMap, { namespace: NS, labelSelector: 'app=web', resourceVersion: String(rv), signal: ac.signal });
        await store.client.patch(ConfigMap, 'sel', { metadata: { labels: { app: 'db' } } }, { namespace: NS });
        await store.client.patch(ConfigMap, 'sel', { data: { k: 'unseen' } }, { namespace: NS });
        await store.client.patch(ConfigMap, 'sel', { metadata: { labels: { app: 'web' } } }, { namespace: NS });
        const events = await collectUntil(it, (es) => es.length >= 2);
        ac.abort();
        expect(names(events)).to.deep.equal(['DELETED:sel', 'ADDED:sel']);
        expect(events[0]!.object.metadata?.labels).to.deep.equal({ app: 'web' });
        expect(Number(events[0]!.object.metadata?.resourceVersion)).to.equal(rv + 1);
      });

      it(`ends with an ERROR 410 event for a compacted resourceVersion [${backend.name}]`, async () => {
        await store.client.create(configMap('first'));
        const a = await store.client.create(configMap('cw'));
        await store.client.patch(ConfigMap, 'cw', { data: { k: '2' } }, { namespace: NS });
        await store.client.patch(ConfigMap, 'cw', { data: { k: '3' } }, { namespace: NS });
        await store.kv.compact(await store.kv.revision());
        const it = store.client.watch(ConfigMap, { namespace: NS, resourceVersion: String(Number(a.metadata!.resourceVersion) - 1) });
        const events = await collectUntil(it, (es) => es.length >= 1);
        expect(events[0]!.type).to.equal('ERROR');
        expect(events[0]!.object).to.deep.include({ kind: 'Status', code: 410, reason: 'Expired' });
        const end = await it.next();
        expect(end.done).to.equal(true);
      });

      it(`sends bookmarks when asked, and the initial-events-end bookmark [${backend.name}]`, async () => {
        await store.client.create(configMap('bm'));
        const ac = new AbortController();
        const it = store.client.watch(ConfigMap, { namespace: NS, allowWatchBookmarks: true, sendInitialEvents: true, signal: ac.signal });
        const events = await collectUntil(it, (es) => es.filter((e) => e.type === 'BOOKMARK').length >= 2, 15_000);
        ac.abort();
        expect(events[0]!.type).to.equal('ADDED');
        expect(events[1]!.type).to.equal('BOOKMARK');
        expect(events[1]!.object.metadata?.annotations).to.deep.equal({ 'k8s.io/initial-events-end': 'true' });
        const last = events[events.length - 1]!;
        expect(Number(last.object.metadata?.resourceVersion)).to.be.at.least(Number(events[0]!.object.metadata?.resourceVersion));
      });

      it(`watches only the namespace asked for [${backend.name}]`, async () => {
        await store.client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns2' } });
        const rv = await store.kv.revision();
        const ac = new AbortController();
        const it = store.client.watch(ConfigMap, { namespace: 'ns2', resourceVersion: String(rv), signal: ac.signal });
        await store.client.create(configMap('elsewhere'));
        await store.client.create({ ...configMap('here'), metadata: { name: 'here', namespace: 'ns2' } });
        const events = await collectUntil(it, (es) => es.length >= 1);
        ac.abort();
        expect(names(events)).to.deep.equal(['ADDED:here']);
      });
    });

    describe(`limits and expiry [${backend.name}]`, () => {
      it(`refuses an object over 1.5 MiB with 413 and stores nothing [${backend.name}]`, async () => {
        const before = await store.kv.revision();
        const big = pod('big');
        (big.spec as { containers: { args?: string[] }[] }).containers[0]!.args = ['x'.repeat(1.6 * 1024 * 1024)];
        await expectApiError(store.client.create(big), 413, 'RequestEntityTooLarge');
        expect(await store.kv.revision()).to.equal(before);
      });

      it(`binds Events to an expiring lease [${backend.name}]`, async () => {
        const created = await store.client.create({
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'ev1', namespace: NS },
          involvedObject: { kind: 'Pod', name: 'p', namespace: NS },
          reason: 'Test',
          message: 'hello',
        } as Event);
        expect(created.metadata?.name).to.equal('ev1');
        const raw = await store.kv.get(objectKey({ group: '', plural: 'events', namespaced: true }, NS, 'ev1'));
        expect(raw?.lease).to.be.greaterThan(0);
      });

      it(`reports isInvalid for a bad object and stores nothing [${backend.name}]`, async () => {
        const before = await store.kv.revision();
        try {
          await store.client.create(configMap('Bad_Name'));
          expect.fail('expected 422');
        } catch (err) {
          expect(isInvalid(err)).to.equal(true);
        }
        expect(await store.kv.revision()).to.equal(before);
      });
    });
  });
}

describe('Registry semantics with a fake clock', () => {
  it('expires Events after an hour, as kube-apiserver --event-ttl', async () => {
    const { FakeClock } = await import('../../lib/testing/fake-clock.js');
    const { MemoryKV } = await import('../../lib/storage/memory.js');
    const { createRegistry } = await import('../../lib/client/connect.js');
    const { StoreClient } = await import('../../lib/client/store-client.js');
    const clock = new FakeClock();
    const kv = new MemoryKV({ clock });
    const client = new StoreClient(createRegistry(kv, { clock }), () => kv.close());
    try {
      await client.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'old', namespace: NS },
        involvedObject: { kind: 'Pod', name: 'p', namespace: NS },
        reason: 'Test',
      } as Event);
      await clock.advance(59 * 60_000);
      expect((await client.get(Event, 'old', { namespace: NS })).metadata?.name).to.equal('old');
      await clock.advance(3 * 60_000);
      await expectApiError(client.get(Event, 'old', { namespace: NS }), 404);
    } finally {
      await client.close();
    }
  });
});
