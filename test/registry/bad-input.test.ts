/**
 * Bad input loses nothing: a table of malformed objects and requests, each answered with the
 * Status code and reason a real kube-apiserver gives, and the store byte-for-byte unchanged
 * afterwards. Runs against every backend.
 */
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { ConfigMap, Pod, ReplicationController, Secret, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Client } from '../../lib/client/client.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { kvBackends } from '../harness/backends.js';
import { openTestStore, type TestStore } from '../harness/store.js';
import { collectUntil } from '../harness/wait.js';

const NS = 'default';

function cm(name: string, extra: Partial<ConfigMap> = {}, meta: Record<string, unknown> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, ...meta }, data: { k: 'v' }, ...extra };
}

function pod(name: string, containers: unknown[] = [{ name: 'main', image: 'busybox' }]): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { containers } } as Pod;
}

interface Case {
  name: string;
  run(client: StoreClient, existing: Record<string, KubeObject>): Promise<unknown>;
  code: number;
  reason?: string;
  /** A substring of the message, or the field of the first cause. */
  message?: string;
  field?: string;
}

const cases: Case[] = [
  // Names and metadata (422 Invalid, with field causes).
  { name: 'upper-case name', run: (c) => c.create(cm('Bad')), code: 422, reason: 'Invalid', field: 'metadata.name', message: 'a lowercase RFC 1123 subdomain' },
  { name: 'name over 253 characters', run: (c) => c.create(cm('a'.repeat(254))), code: 422, reason: 'Invalid', field: 'metadata.name' },
  { name: 'name with an underscore', run: (c) => c.create(cm('a_b')), code: 422, reason: 'Invalid', field: 'metadata.name' },
  {
    name: 'neither name nor generateName',
    run: (c) => c.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: NS } }),
    code: 422,
    reason: 'Invalid',
    field: 'metadata.name',
    message: 'name or generateName is required',
  },
  { name: 'invalid generateName', run: (c) => c.create(cm('', {}, { name: undefined, generateName: 'Bad_' })), code: 422, reason: 'Invalid', field: 'metadata.generateName' },
  { name: 'label key with a space', run: (c) => c.create(cm('l1', {}, { labels: { 'bad key': 'v' } })), code: 422, reason: 'Invalid', field: 'metadata.labels' },
  { name: 'label value over 63 characters', run: (c) => c.create(cm('l2', {}, { labels: { k: 'v'.repeat(64) } })), code: 422, reason: 'Invalid', field: 'metadata.labels' },
  { name: 'label value with a space', run: (c) => c.create(cm('l3', {}, { labels: { k: 'a b' } })), code: 422, reason: 'Invalid', field: 'metadata.labels' },
  { name: 'annotation key not a qualified name', run: (c) => c.create(cm('a1', {}, { annotations: { '@@': 'x' } })), code: 422, reason: 'Invalid', field: 'metadata.annotations' },
  {
    name: 'annotations over 256 KiB',
    run: (c) => c.create(cm('a2', {}, { annotations: { big: 'x'.repeat(256 * 1024 + 1) } })),
    code: 422,
    reason: 'Invalid',
    field: 'metadata.annotations',
    message: 'Too long',
  },
  {
    name: 'Service name starting with a digit',
    run: (c) => c.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: '1svc', namespace: NS }, spec: { ports: [{ port: 80 }] } } as Service),
    code: 422,
    reason: 'Invalid',
    field: 'metadata.name',
  },
  { name: 'Namespace name with a dot', run: (c) => c.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }), code: 422, reason: 'Invalid', field: 'metadata.name' },
  {
    name: 'owner reference without uid',
    run: (c) => c.create(cm('o1', {}, { ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'rc' }] })),
    code: 422,
    reason: 'Invalid',
    field: 'metadata.ownerReferences.uid',
  },
  { name: 'invalid finalizer name', run: (c) => c.create(cm('f1', {}, { finalizers: ['not a/valid/finalizer'] })), code: 422, reason: 'Invalid', field: 'metadata.finalizers' },

  // Kind-specific validation.
  { name: 'pod without containers', run: (c) => c.create(pod('p1', [])), code: 422, reason: 'Invalid', field: 'spec.containers', message: 'Required value' },
  {
    name: 'pod with duplicate container names',
    run: (c) =>
      c.create(
        pod('p2', [
          { name: 'x', image: 'a' },
          { name: 'x', image: 'b' },
        ]),
      ),
    code: 422,
    reason: 'Invalid',
    field: 'spec.containers[1].name',
    message: 'Duplicate value',
  },
  { name: 'container without image', run: (c) => c.create(pod('p3', [{ name: 'x' }])), code: 422, reason: 'Invalid', field: 'spec.containers[0].image' },
  {
    name: 'RC selector not matching its template',
    run: (c) =>
      c.create<ReplicationController>({
        apiVersion: 'v1',
        kind: 'ReplicationController',
        metadata: { name: 'rc1', namespace: NS },
        spec: { replicas: 1, selector: { app: 'a' }, template: { metadata: { labels: { app: 'b' } }, spec: { containers: [{ name: 'm', image: 'i' }] } } },
      } as ReplicationController),
    code: 422,
    reason: 'Invalid',
    field: 'spec.template.metadata.labels',
  },
  {
    name: 'Service port out of range',
    run: (c) => c.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: NS }, spec: { ports: [{ port: 70000 }] } } as Service),
    code: 422,
    reason: 'Invalid',
    field: 'spec.ports[0].port',
  },
  {
    name: 'changing the data of an immutable ConfigMap',
    run: async (c, existing) => c.update({ ...(existing.immutable as ConfigMap), data: { k: 'changed' } }),
    code: 422,
    reason: 'Invalid',
    field: 'data',
  },
  {
    name: "changing a pod's containers",
    run: async (c, existing) => {
      const p = structuredClone(existing.pod as Pod);
      (p.spec as { containers: { name: string }[] }).containers[0]!.name = 'renamed';
      return c.update(p);
    },
    code: 422,
    reason: 'Invalid',
    field: 'spec',
    message: 'Forbidden',
  },

  // Malformed bodies (400 BadRequest).
  { name: 'unknown kind', run: (c) => c.create({ apiVersion: 'v1', kind: 'Frobnicator', metadata: { name: 'x', namespace: NS } }), code: 404, reason: 'NotFound' },
  { name: 'unknown apiVersion', run: (c) => c.create({ apiVersion: 'v9', kind: 'Pod', metadata: { name: 'x', namespace: NS } }), code: 404, reason: 'NotFound' },
  { name: 'missing kind', run: (c) => c.create({ apiVersion: 'v1', metadata: { name: 'x', namespace: NS } } as KubeObject), code: 400, reason: 'BadRequest' },
  {
    name: 'a Service body sent to pods',
    run: (c) => c.registry.create(c.registry.resolve(Pod), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: NS } }, { namespace: NS }),
    code: 400,
    reason: 'BadRequest',
  },
  { name: 'metadata that is not an object', run: (c) => c.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: 'x' } as unknown as KubeObject), code: 400, reason: 'BadRequest' },
  {
    name: 'a string where int32 is expected',
    run: (c) =>
      c.create({
        apiVersion: 'v1',
        kind: 'ReplicationController',
        metadata: { name: 'rc2', namespace: NS },
        spec: { replicas: 'three', selector: { a: 'b' }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'm', image: 'i' }] } } },
      } as unknown as KubeObject),
    code: 400,
    reason: 'BadRequest',
    message: 'replicas',
  },
  { name: 'a number as a label value', run: (c) => c.create(cm('n1', {}, { labels: { k: 5 } })), code: 400, reason: 'BadRequest' },
  { name: 'Secret data that is not base64', run: (c) => c.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NS }, data: { k: '***' } } as Secret), code: 400, reason: 'BadRequest' },
  { name: 'unknown field with fieldValidation=Strict', run: (c) => c.create({ ...cm('st'), bogus: 1 } as KubeObject, { fieldValidation: 'Strict' }), code: 400, reason: 'BadRequest', message: 'unknown field "bogus"' },
  {
    name: 'object namespace differs from the request',
    run: (c) => c.registry.create(c.registry.resolve(ConfigMap), cm('ns1'), { namespace: 'elsewhere' }),
    code: 400,
    reason: 'BadRequest',
    message: 'does not match the namespace',
  },
  { name: 'resourceVersion set on create', run: (c) => c.create(cm('rv', {}, { resourceVersion: '5' })), code: 500, message: 'resourceVersion should not be set on objects to be created' },
  {
    name: 'object over 1.5 MiB',
    run: (c) => c.create(pod('huge', [{ name: 'm', image: 'i', args: ['x'.repeat(1.6 * 1024 * 1024)] }])),
    code: 413,
    reason: 'RequestEntityTooLarge',
  },

  // Concurrency and existence.
  { name: 'stale resourceVersion', run: (c, existing) => c.update({ ...(existing.stale as ConfigMap), data: { k: 'lost' } }), code: 409, reason: 'Conflict' },
  { name: 'create of an existing name', run: (c) => c.create(cm('existing')), code: 409, reason: 'AlreadyExists' },
  { name: 'update of a missing object', run: (c) => c.update(cm('missing')), code: 404, reason: 'NotFound' },
  { name: 'delete of a missing object', run: (c) => c.delete(ConfigMap, 'missing', { namespace: NS }), code: 404, reason: 'NotFound' },
  { name: 'delete with a wrong uid precondition', run: (c) => c.delete(ConfigMap, 'existing', { namespace: NS, preconditions: { uid: 'nope' } }), code: 409, reason: 'Conflict' },
  { name: 'update with a different uid', run: (c, existing) => c.update({ ...(existing.cm as ConfigMap), metadata: { ...existing.cm!.metadata, uid: 'other' } }), code: 409, reason: 'Conflict' },
  { name: 'updateStatus of a kind without status', run: (c, existing) => c.updateStatus(existing.cm as ConfigMap), code: 404, reason: 'NotFound' },

  // Selectors and list parameters (400).
  { name: 'label selector with an unclosed set', run: (c) => c.list(ConfigMap, { labelSelector: 'a in (b' }), code: 400, reason: 'BadRequest' },
  { name: 'label selector with an invalid key', run: (c) => c.list(ConfigMap, { labelSelector: '-bad=x' }), code: 400, reason: 'BadRequest' },
  { name: 'field selector on an unsupported field', run: (c) => c.list(Pod, { fieldSelector: 'spec.foo=bar' }), code: 400, reason: 'BadRequest', message: 'spec.foo' },
  { name: 'field selector without an operator', run: (c) => c.list(Pod, { fieldSelector: 'metadata.name' }), code: 400, reason: 'BadRequest' },
  { name: 'malformed continue token', run: (c) => c.list(ConfigMap, { continue: 'not-a-token' }), code: 400, reason: 'BadRequest' },
  { name: 'non-numeric resourceVersion', run: (c) => c.list(ConfigMap, { resourceVersion: 'abc' }), code: 400, reason: 'BadRequest' },

  // Patches.
  { name: 'JSON patch with an unknown op', run: (c) => c.patch(ConfigMap, 'existing', [{ op: 'frob', path: '/data' }], { namespace: NS, type: 'json' }), code: 400, reason: 'BadRequest' },
  { name: 'JSON patch that is not a list', run: (c) => c.patch(ConfigMap, 'existing', { op: 'add' }, { namespace: NS, type: 'json' }), code: 400, reason: 'BadRequest' },
  {
    name: 'JSON patch replacing a missing path',
    run: (c) => c.patch(ConfigMap, 'existing', [{ op: 'replace', path: '/data/missing', value: 'x' }], { namespace: NS, type: 'json' }),
    code: 422,
    reason: 'Invalid',
  },
  { name: 'merge patch that is not JSON', run: (c) => c.patch(ConfigMap, 'existing', '{"data":', { namespace: NS }), code: 400, reason: 'BadRequest' },
  { name: 'merge patch that is a list', run: (c) => c.patch(ConfigMap, 'existing', [1, 2], { namespace: NS }), code: 400, reason: 'BadRequest' },
  { name: 'patch renaming the object', run: (c) => c.patch(ConfigMap, 'existing', { metadata: { name: 'other' } }, { namespace: NS }), code: 400, reason: 'BadRequest', message: 'does not match the name' },
  { name: 'patch producing an invalid object', run: (c) => c.patch(ConfigMap, 'existing', { metadata: { labels: { 'bad key': 'x' } } }, { namespace: NS }), code: 422, reason: 'Invalid' },
  { name: 'patch of a missing object', run: (c) => c.patch(ConfigMap, 'missing', { data: { a: 'b' } }, { namespace: NS }), code: 404, reason: 'NotFound' },
];

async function snapshot(store: TestStore): Promise<string> {
  const all = await store.kv.range('/registry/');
  return JSON.stringify({ revision: all.revision, kvs: all.kvs });
}

for (const backend of kvBackends) {
  describe(`Bad input is refused and loses nothing [${backend.name}]`, function () {
    this.timeout(30_000);
    let store: TestStore;
    const existing: Record<string, KubeObject> = {};

    before(async () => {
      await backend.setup();
      store = await openTestStore(backend);
      const c: Client = store.client;
      existing.cm = await c.create(cm('existing'));
      existing.immutable = await c.create(cm('frozen', { immutable: true }));
      existing.pod = await c.create(pod('existing-pod'));
      const stale = await c.create(cm('stale'));
      await c.patch(ConfigMap, 'stale', { data: { k: 'newer' } }, { namespace: NS });
      existing.stale = stale;
    });
    after(async () => {
      await store.close();
      await backend.teardown();
    });

    it(`has at least 30 cases [${backend.name}]`, () => {
      expect(cases.length).to.be.at.least(30);
    });

    for (const testCase of cases) {
      it(`${testCase.name} → ${testCase.code}${testCase.reason ? ` ${testCase.reason}` : ''} [${backend.name}]`, async () => {
        const before = await snapshot(store);
        let error: unknown;
        try {
          await testCase.run(store.client as StoreClient, existing);
        } catch (err) {
          error = err;
        }
        expect(error, 'the request must fail').to.be.instanceOf(ApiError);
        const status = (error as ApiError).status;
        expect(status.kind).to.equal('Status');
        expect(status.status).to.equal('Failure');
        expect(status.code, status.message).to.equal(testCase.code);
        if (testCase.reason) expect(status.reason, status.message).to.equal(testCase.reason);
        if (testCase.message) expect(status.message).to.contain(testCase.message);
        if (testCase.field) {
          const fields = (status.details?.causes ?? []).map((c) => c.field);
          expect(fields.some((f) => f?.startsWith(testCase.field!)), `causes ${JSON.stringify(status.details?.causes)}`).to.equal(true);
        }
        expect(await snapshot(store), 'the store must be unchanged').to.equal(before);
      });
    }

    it(`answers a watch from a compacted resourceVersion with an ERROR 410 event [${backend.name}]`, async () => {
      const first = existing.cm!.metadata!.resourceVersion!;
      await store.client.patch(ConfigMap, 'existing', { data: { k: 'v2' } }, { namespace: NS });
      await store.client.patch(ConfigMap, 'existing', { data: { k: 'v3' } }, { namespace: NS });
      await store.kv.compact(await store.kv.revision());
      const events = await collectUntil(store.client.watch(ConfigMap, { namespace: NS, resourceVersion: first }), (es) => es.length > 0);
      expect(events[0]!.type).to.equal('ERROR');
      expect(events[0]!.object).to.deep.include({ code: 410, reason: 'Expired' });
      const err = await store.client.list(ConfigMap, { resourceVersion: first, resourceVersionMatch: 'Exact' }).catch((e: unknown) => e);
      expect((err as ApiError).code).to.equal(410);
    });
  });
}
