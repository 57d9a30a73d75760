/**
 * Namespaces as kube-apiserver and kube-controller-manager keep them: the system namespaces
 * exist from the start and cannot be deleted; nothing is created in a namespace that does not
 * exist (404) or is being terminated (403), with kube's messages; deleting a namespace marks it
 * Terminating at once, deletes everything in it (custom resources included), reports progress in
 * its conditions, waits for objects held by finalizers, and lets it go once finalized. Runs
 * against every backend.
 */
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { ConfigMap, CustomResourceDefinition, Namespace, Pod, Secret, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { KindRef } from '../../lib/api/resources.js';
import type { NamespaceCondition } from '../../lib/api/types/core.js';
import { createRegistry, type SystemOptions, type SystemRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import { finalizeNamespace } from '../../lib/registry/namespaces.js';
import type { KV } from '../../lib/storage/kv.js';
import { kvBackends } from '../harness/backends.js';
import { waitFor } from '../harness/wait.js';

interface Opened {
  kv: KV;
  registry: SystemRegistry;
  client: StoreClient;
}

/** A fast controller: tests wait milliseconds, not kube's seconds, for content to go. */
const FAST: SystemOptions = { namespaceLifecycle: { controller: { recheckDelayMs: 50, retryDelayMs: 20 } } };

function openOn(kv: KV, options: SystemOptions = FAST): Opened {
  const registry = createRegistry(kv, options);
  const client = new StoreClient(registry, async () => {
    await registry.system.stop();
    await kv.close();
  });
  return { kv, registry, client };
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the request to be refused');
}

function configMap(name: string, namespace: string, extra: Partial<KubeObject['metadata']> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...extra }, data: { k: 'v' } } as ConfigMap;
}

function namespace(name: string, finalizers?: string[]): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, ...(finalizers ? { spec: { finalizers } } : {}) } as Namespace;
}

function condition(ns: Namespace | undefined, type: string): NamespaceCondition | undefined {
  return ns?.status?.conditions?.find((c) => c.type === type);
}

async function gone(client: StoreClient, name: string): Promise<boolean> {
  return client.get(Namespace, name).then(
    () => false,
    (err: unknown) => (err as ApiError).code === 404,
  );
}

const WIDGET_CRD: CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
} as CustomResourceDefinition;

for (const backend of kvBackends) {
  describe(`Namespaces [${backend.name}]`, function () {
    this.timeout(60_000);
    let store: Opened;

    before(() => backend.setup());
    after(() => backend.teardown());
    afterEach(() => store.client.close());

    describe('with the namespace controller', () => {
      beforeEach(async () => {
        store = openOn(await backend.open());
        await store.registry.system.ready;
      });

      it('has default, kube-system, kube-public and kube-node-lease from the start, Active and finalized by `kubernetes`', async () => {
        const names = (await store.client.list(Namespace)).items.map((ns) => ns.metadata!.name).sort();
        expect(names).to.deep.equal(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
        const ns = await store.client.get(Namespace, 'default');
        expect(ns.status).to.deep.equal({ phase: 'Active' });
        expect(ns.spec).to.deep.equal({ finalizers: ['kubernetes'] });
        expect(ns.metadata!.labels).to.deep.equal({ 'kubernetes.io/metadata.name': 'default' });
      });

      it('refuses to delete a system namespace (403)', async () => {
        for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
          const err = await refusal(store.client.delete(Namespace, name));
          expect(err.code).to.equal(403);
          expect(err.reason).to.equal('Forbidden');
          expect(err.message).to.equal(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
          expect(err.details).to.deep.equal({ name, kind: 'namespaces' });
        }
        expect((await store.client.get(Namespace, 'default')).metadata!.deletionTimestamp).to.equal(undefined);
      });

      it('refuses to create or update in a namespace that does not exist (404), and lets cluster-scoped kinds and Namespaces through', async () => {
        const err = await refusal(store.client.create(configMap('c', 'nowhere')));
        expect(err.code).to.equal(404);
        expect(err.reason).to.equal('NotFound');
        expect(err.message).to.equal('namespaces "nowhere" not found');
        expect(err.details).to.deep.equal({ name: 'nowhere', kind: 'namespaces' });
        expect((await refusal(store.client.update(configMap('c', 'nowhere')))).code).to.equal(404);
        await store.client.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
        await store.client.create(namespace('somewhere'));
        // Created a moment ago: found at once (a cache miss reads the store).
        await store.client.create(configMap('c', 'somewhere'));
      });

      it('finds a namespace another registry over the same store just created', async () => {
        const other = openOn(store.kv, { namespaceLifecycle: { controller: false } });
        try {
          await other.client.create(namespace('elsewhere'));
          await store.client.create(configMap('c', 'elsewhere'));
        } finally {
          await other.registry.system.stop();
        }
      });

      it('deletes everything in a namespace — ConfigMaps, Secrets, Pods, Services, custom resources — then the namespace', async () => {
        await store.client.create(WIDGET_CRD);
        await store.registry.crds.waitForKind('example.com/v1', 'Widget');
        await store.client.create(namespace('doomed'));
        await store.client.create(configMap('c1', 'doomed'));
        await store.client.create(configMap('c2', 'doomed'));
        await store.client.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'doomed' }, data: {} } as Secret);
        await store.client.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'doomed' }, spec: { containers: [{ name: 'c', image: 'x' }] } } as Pod);
        const svc = await store.client.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'doomed' }, spec: { ports: [{ port: 80 }] } } as Service);
        await store.client.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'doomed' }, spec: {} });
        await store.client.create(configMap('bystander', 'default'));

        const { object } = await store.registry.delete(store.registry.resolve(Namespace), undefined, 'doomed');
        expect((object as Namespace).status?.phase).to.equal('Terminating');
        expect(object.metadata!.deletionTimestamp).to.be.a('string');
        await waitFor(() => gone(store.client, 'doomed'), { what: 'namespace doomed gone' });
        const kinds = [ConfigMap, Secret, Pod, Service, { apiVersion: 'example.com/v1', kind: 'Widget' }] as KindRef<KubeObject>[];
        for (const kind of kinds) {
          expect((await store.client.list(kind, { namespace: 'doomed' })).items, JSON.stringify(kind)).to.deep.equal([]);
        }
        expect((await store.client.get(ConfigMap, 'bystander', { namespace: 'default' })).data).to.deep.equal({ k: 'v' });
        // The Service's IP went back with it.
        const ips = (await store.registry.system.serviceAllocation!.clusterIPs.read()).owners;
        expect(ips[svc.spec!.clusterIP!]).to.equal(undefined);
      });

      it('waits for an object held by a finalizer, reporting it in the conditions, then lets the namespace go', async () => {
        await store.client.create(namespace('held'));
        await store.client.create(configMap('held', 'held', { finalizers: ['example.com/hold'] }));
        await store.client.delete(Namespace, 'held');
        const waiting = await waitFor(
          async () => {
            const ns = await store.client.get(Namespace, 'held');
            return condition(ns, 'NamespaceFinalizersRemaining')?.status === 'True' ? ns : undefined;
          },
          { what: 'NamespaceFinalizersRemaining' },
        );
        expect(waiting.status!.phase).to.equal('Terminating');
        expect(waiting.spec!.finalizers).to.deep.equal(['kubernetes']);
        const summary = Object.fromEntries(waiting.status!.conditions!.map((c) => [c.type, [c.status, c.reason, c.message]]));
        expect(summary).to.deep.equal({
          NamespaceDeletionDiscoveryFailure: ['False', 'ResourcesDiscovered', 'All resources successfully discovered'],
          NamespaceDeletionGroupVersionParsingFailure: ['False', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
          NamespaceDeletionContentFailure: ['False', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
          NamespaceContentRemaining: ['True', 'SomeResourcesRemain', 'Some resources are remaining: configmaps. has 1 resource instances'],
          NamespaceFinalizersRemaining: ['True', 'SomeFinalizerRemain', 'Some finalizers are remaining: example.com/hold in 1 resource instances'],
        });
        for (const c of waiting.status!.conditions!) expect(c.lastTransitionTime).to.be.a('string');
        const cm = await store.client.get(ConfigMap, 'held', { namespace: 'held' });
        expect(cm.metadata!.deletionTimestamp).to.be.a('string');
        await store.client.update({ ...cm, metadata: { ...cm.metadata, finalizers: [] } });
        await waitFor(() => gone(store.client, 'held'), { what: 'namespace held gone' });
      });

      it('keeps a namespace whose other spec finalizer remains, until /finalize removes it', async () => {
        const created = await store.client.create(namespace('other', ['example.com/other']));
        expect(created.spec!.finalizers).to.deep.equal(['example.com/other', 'kubernetes']);
        await store.client.delete(Namespace, 'other');
        const left = await waitFor(
          async () => {
            const ns = await store.client.get(Namespace, 'other');
            return ns.spec?.finalizers?.length === 1 ? ns : undefined;
          },
          { what: 'the kubernetes finalizer removed' },
        );
        expect(left.spec!.finalizers).to.deep.equal(['example.com/other']);
        expect(left.status!.phase).to.equal('Terminating');
        const result = await finalizeNamespace(store.registry, { ...left, spec: { finalizers: [] } });
        expect(result.deleted).to.equal(true);
        expect(await gone(store.client, 'other')).to.equal(true);
      });
    });

    describe('without a namespace controller', () => {
      beforeEach(async () => {
        store = openOn(await backend.open(), { namespaceLifecycle: { controller: false } });
        await store.registry.system.ready;
      });

      it('marks a deleted namespace Terminating in the same write as its deletionTimestamp, and keeps it', async () => {
        const ns = await store.client.create(namespace('doomed'));
        const events = store.client.watch(Namespace, { resourceVersion: ns.metadata!.resourceVersion! });
        await store.client.delete(Namespace, 'doomed');
        const first = (await events.next()).value as { type: string; object: Namespace };
        await events.return?.(undefined);
        expect(first.type).to.equal('MODIFIED');
        expect(first.object.metadata!.deletionTimestamp).to.be.a('string');
        expect(first.object.status!.phase).to.equal('Terminating');
        // An update of the main resource (spec kept as is) does not let it go.
        const current = await store.client.get(Namespace, 'doomed');
        await store.client.update({ ...current, metadata: { ...current.metadata, labels: { ...current.metadata!.labels, x: 'y' }, finalizers: [] }, spec: {} });
        const after = await store.client.get(Namespace, 'doomed');
        expect(after.metadata!.labels!.x).to.equal('y');
        expect(after.spec!.finalizers).to.deep.equal(['kubernetes']);
        expect(after.metadata!.finalizers, 'no metadata finalizer stands in for the spec ones').to.equal(undefined);
      });

      it('refuses new content in a terminating namespace (403), but lets updates and deletes through', async () => {
        await store.client.create(namespace('doomed'));
        const cm = await store.client.create(configMap('old', 'doomed'));
        await store.client.delete(Namespace, 'doomed');
        const err = await refusal(store.client.create(configMap('new', 'doomed')));
        expect(err.code).to.equal(403);
        expect(err.reason).to.equal('Forbidden');
        expect(err.message).to.equal('configmaps "new" is forbidden: unable to create new content in namespace doomed because it is being terminated');
        expect(err.details).to.deep.equal({
          name: 'new',
          kind: 'configmaps',
          causes: [{ reason: 'NamespaceTerminating', message: 'namespace doomed is being terminated', field: 'metadata.namespace' }],
        });
        // A generated name is reported by its prefix, as kube's admission sees the request.
        const generated = await refusal(store.client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-', namespace: 'doomed' } }));
        expect(generated.message).to.equal('configmaps "gen-" is forbidden: unable to create new content in namespace doomed because it is being terminated');
        // Events too: kube's plugin makes no exception for them.
        const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'doomed' }, involvedObject: { kind: 'ConfigMap', name: 'old', namespace: 'doomed' }, reason: 'R', message: 'm' };
        expect((await refusal(store.client.create(event))).code).to.equal(403);
        await store.client.update({ ...cm, data: { k: 'v2' } });
        await store.client.delete(ConfigMap, 'old', { namespace: 'doomed' });
        // Finalized by hand (what the controller would do): the namespace goes.
        const current = await store.client.get(Namespace, 'doomed');
        await finalizeNamespace(store.registry, { ...current, spec: { finalizers: [] } });
        expect(await gone(store.client, 'doomed')).to.equal(true);
      });
    });
  });
}
