/**
 * The garbage collector under a manager, over an in-memory store that adds the `orphan` and
 * `foregroundDeletion` finalizers on delete (`garbageCollection: true`): Background, Orphan and
 * Foreground deletion, owners matched by uid, several owners, cluster-scoped owners, owners in
 * another namespace, custom kinds that appear while it runs — and the graph on its own.
 */
import { expect } from 'chai';
import { ConfigMap, Event, Namespace, Node, ReplicationController, Secret } from '../../lib/api/kinds.js';
import type { KubeObject, OwnerReference } from '../../lib/api/meta.js';
import { createRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import { installCrds } from '../../lib/runtime/crd-gen.js';
import { Resource } from '../../lib/runtime/decorators.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Manager } from '../../lib/runtime/manager.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import { MemoryKV } from '../../lib/storage/memory.js';
import { DependencyGraph, GarbageCollector } from '../../controllers/gc/index.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';

/** A custom kind, installed while the collector runs. */
@Resource({ group: 'gc.keelson.dev', version: 'v1', kind: 'Widget' })
class Widget implements KubeObject {
  declare apiVersion?: string;
  declare kind?: string;
  declare metadata?: KubeObject['metadata'];
}

/** A manager running the garbage collector over a store with garbage collection finalizers. */
class GcEnv {
  private constructor(
    readonly client: StoreClient,
    private readonly manager: Manager,
    private readonly running: Promise<void>,
    readonly gc: GarbageCollector,
  ) {}

  static async start(): Promise<GcEnv> {
    const kv = new MemoryKV();
    const registry = createRegistry(kv, { garbageCollection: true });
    await registry.crds.waitForSync();
    await registry.system.ready;
    const client = new StoreClient(registry, async () => {
      await registry.system.stop();
      await registry.crds.stop();
      await kv.close();
    });
    const manager = new Manager({
      client,
      logger: silentLogger(),
      metrics: new Metrics(),
      gracefulShutdownTimeoutMs: 5000,
      cacheSyncTimeoutMs: 10_000,
      resourceInfoFor: (gvk) => registry.types.forKind(gvk.apiVersion, gvk.kind),
      isServed: (kind) => registry.types.resolve(kind) !== undefined,
    });
    manager.add(GarbageCollector);
    const running = manager.start();
    running.catch(() => undefined);
    while (!manager.ready) await new Promise((r) => setTimeout(r, 5));
    // The runnable part (graph, workers) runs between start and stop.
    const gc = manager.container.get(GarbageCollector);
    gc.start();
    expect(await gc.waitForSync()).to.equal(true);
    return new GcEnv(client, manager, running, gc);
  }

  eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
    return waitFor(check, { timeoutMs });
  }


  /** The object, or undefined once it is gone. */
  async find<T extends KubeObject>(kind: Parameters<StoreClient['get']>[0], name: string, namespace = NS): Promise<T | undefined> {
    return (this.client.get(kind, name, { namespace }) as Promise<T>).catch((err: { code?: number }) => {
      if (err.code === 404) return undefined;
      throw err;
    });
  }

  async gone(kind: Parameters<StoreClient['get']>[0], name: string, namespace = NS): Promise<boolean> {
    return (await this.find(kind, name, namespace)) === undefined;
  }

  async stop(): Promise<void> {
    await this.gc.stop();
    await this.manager.stop();
    await this.running;
    await this.client.close();
  }
}

function ownerRef(owner: KubeObject, options: { block?: boolean } = {}): OwnerReference {
  return {
    apiVersion: owner.apiVersion!,
    kind: owner.kind!,
    name: owner.metadata!.name!,
    uid: owner.metadata!.uid!,
    ...(options.block !== undefined ? { blockOwnerDeletion: options.block } : {}),
  };
}

function configMap(name: string, options: { owners?: OwnerReference[]; finalizers?: string[]; namespace?: string } = {}): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: options.namespace ?? NS,
      ...(options.owners ? { ownerReferences: options.owners } : {}),
      ...(options.finalizers ? { finalizers: options.finalizers } : {}),
    },
    data: { a: '1' },
  };
}

describe('Garbage collector', () => {
  let env: GcEnv;
  beforeEach(async () => {
    env = await GcEnv.start();
  });
  afterEach(async () => env?.stop());

  it('deletes the dependents of a deleted owner, of every kind (Background)', async () => {
    const owner = await env.client.create(configMap('owner'));
    await env.client.create(configMap('child', { owners: [ownerRef(owner)] }));
    await env.client.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'child-secret', namespace: NS, ownerReferences: [ownerRef(owner)] } });
    const bystander = await env.client.create(configMap('bystander'));
    await env.client.delete(ConfigMap, 'owner', { namespace: NS, propagationPolicy: 'Background' });
    await env.eventually(async () => (await env.gone(ConfigMap, 'child')) && (await env.gone(Secret, 'child-secret')));
    expect((await env.find<ConfigMap>(ConfigMap, 'bystander'))?.metadata?.uid).to.equal(bystander.metadata!.uid);
  });

  it('orphans the pods of a ReplicationController deleted without a policy (its default), and on Orphan', async () => {
    const labels = { app: 'web' };
    const rc = await env.client.create<ReplicationController>({
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'rc', namespace: NS },
      spec: { replicas: 0, selector: labels, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    await env.client.create(configMap('of-rc', { owners: [ownerRef(rc, { block: true })] }));
    await env.client.delete(ReplicationController, 'rc', { namespace: NS });
    await env.eventually(() => env.gone(ReplicationController, 'rc'));
    expect((await env.find<ConfigMap>(ConfigMap, 'of-rc'))?.metadata?.ownerReferences).to.equal(undefined);

    const owner = await env.client.create(configMap('owner'));
    await env.client.create(configMap('kept', { owners: [ownerRef(owner)] }));
    const other = await env.client.create(configMap('other-owner'));
    await env.client.create(configMap('kept-too', { owners: [ownerRef(owner), ownerRef(other)] }));
    const deleting = await env.client.delete(ConfigMap, 'owner', { namespace: NS, propagationPolicy: 'Orphan' });
    expect((deleting as KubeObject).metadata?.finalizers).to.deep.equal(['orphan']);
    await env.eventually(() => env.gone(ConfigMap, 'owner'));
    expect((await env.find<ConfigMap>(ConfigMap, 'kept'))?.metadata?.ownerReferences).to.equal(undefined);
    expect((await env.find<ConfigMap>(ConfigMap, 'kept-too'))?.metadata?.ownerReferences).to.deep.equal([ownerRef(other)]);
  });

  it('holds a Foreground-deleted owner until its blocking dependents are gone', async () => {
    const owner = await env.client.create(configMap('owner'));
    await env.client.create(configMap('blocker', { owners: [ownerRef(owner, { block: true })], finalizers: ['test/hold'] }));
    await env.client.create(configMap('free', { owners: [ownerRef(owner, { block: false })], finalizers: ['test/hold'] }));
    await env.client.create(configMap('plain', { owners: [ownerRef(owner, { block: true })] }));
    await env.client.delete(ConfigMap, 'owner', { namespace: NS, propagationPolicy: 'Foreground' });

    // Every dependent is deleted; those with finalizers stay, terminating.
    await env.eventually(async () => (await env.gone(ConfigMap, 'plain')) && (await env.find(ConfigMap, 'blocker'))?.metadata?.deletionTimestamp);
    await env.eventually(async () => (await env.find(ConfigMap, 'free'))?.metadata?.deletionTimestamp);
    await new Promise((r) => setTimeout(r, 100));
    const waiting = await env.find<ConfigMap>(ConfigMap, 'owner');
    expect(waiting?.metadata?.finalizers).to.deep.equal(['foregroundDeletion']);

    // The blocking one goes: so does the owner — though the non-blocking one is still terminating.
    await env.client.patch(ConfigMap, 'blocker', { metadata: { finalizers: null } }, { namespace: NS });
    await env.eventually(() => env.gone(ConfigMap, 'owner'));
    expect((await env.find(ConfigMap, 'free'))?.metadata?.deletionTimestamp).to.be.a('string');
    await env.client.patch(ConfigMap, 'free', { metadata: { finalizers: null } }, { namespace: NS });
  });

  it('cascades a Foreground deletion through dependents that have dependents', async () => {
    const top = await env.client.create(configMap('top'));
    const middle = await env.client.create(configMap('middle', { owners: [ownerRef(top, { block: true })] }));
    await env.client.create(configMap('leaf', { owners: [ownerRef(middle, { block: true })], finalizers: ['test/hold'] }));
    await env.client.delete(ConfigMap, 'top', { namespace: NS, propagationPolicy: 'Foreground' });
    await env.eventually(async () => (await env.find(ConfigMap, 'leaf'))?.metadata?.deletionTimestamp);
    const held = await env.find<ConfigMap>(ConfigMap, 'middle');
    expect(held?.metadata?.finalizers).to.deep.equal(['foregroundDeletion']);
    expect(await env.find(ConfigMap, 'top')).to.not.equal(undefined);
    await env.client.patch(ConfigMap, 'leaf', { metadata: { finalizers: null } }, { namespace: NS });
    await env.eventually(async () => (await env.gone(ConfigMap, 'middle')) && (await env.gone(ConfigMap, 'top')));
  });

  it('matches owners by uid: a recreated owner does not keep the old one’s dependents, nor does an owner that never existed', async () => {
    const first = await env.client.create(configMap('owner'));
    await env.client.delete(ConfigMap, 'owner', { namespace: NS });
    const second = await env.client.create(configMap('owner'));
    await env.client.create(configMap('of-first', { owners: [ownerRef(first)] }));
    await env.client.create(configMap('of-second', { owners: [ownerRef(second)] }));
    await env.client.create(configMap('of-nobody', { owners: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: '00000000-0000-4000-8000-000000000000' }] }));
    await env.eventually(async () => (await env.gone(ConfigMap, 'of-first')) && (await env.gone(ConfigMap, 'of-nobody')));
    expect(await env.find(ConfigMap, 'of-second')).to.not.equal(undefined);
  });

  it('keeps a dependent with another live owner, dropping only the reference to the gone one', async () => {
    const a = await env.client.create(configMap('a'));
    const b = await env.client.create(configMap('b'));
    await env.client.create(configMap('shared', { owners: [ownerRef(a), ownerRef(b)] }));
    await env.client.delete(ConfigMap, 'a', { namespace: NS });
    await env.eventually(async () => (await env.find<ConfigMap>(ConfigMap, 'shared'))?.metadata?.ownerReferences?.length === 1);
    expect((await env.find<ConfigMap>(ConfigMap, 'shared'))?.metadata?.ownerReferences).to.deep.equal([ownerRef(b)]);
  });

  it('collects the namespaced dependents of a cluster-scoped owner', async () => {
    const node = await env.client.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    await env.client.create(configMap('on-node', { owners: [ownerRef(node)] }));
    await new Promise((r) => setTimeout(r, 100));
    expect(await env.find(ConfigMap, 'on-node')).to.not.equal(undefined);
    await env.client.delete(Node, 'n1');
    await env.eventually(() => env.gone(ConfigMap, 'on-node'));
  });

  it('treats a namespaced owner in another namespace as absent, and says so', async () => {
    await env.client.create<Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'elsewhere' } });
    const owner = await env.client.create(configMap('owner', { namespace: 'elsewhere' }));
    await env.client.create(configMap('stray', { owners: [ownerRef(owner)] }));
    await env.eventually(() => env.gone(ConfigMap, 'stray'));
    expect(await env.find(ConfigMap, 'owner', 'elsewhere')).to.not.equal(undefined);
    await env.eventually(async () => (await env.client.list(Event, { namespace: NS })).items.some((e) => e.reason === 'OwnerRefInvalidNamespace'));
  });

  it('never deletes a cluster-scoped object for a namespaced owner reference (it cannot have one), and says so', async () => {
    const cm = await env.client.create(configMap('cm'));
    await env.client.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2', ownerReferences: [ownerRef(cm)] } });
    await env.eventually(async () => (await env.client.list(Event)).items.some((e) => e.reason === 'OwnerRefInvalidNamespace' && e.involvedObject?.name === 'n2'));
    await env.client.delete(ConfigMap, 'cm', { namespace: NS });
    await new Promise((r) => setTimeout(r, 100));
    expect(await env.find(Node, 'n2', '')).to.not.equal(undefined);
  });

  it('watches custom kinds that appear while it runs, as owners and as dependents', async () => {
    await installCrds(env.client, [Widget]);
    const widget = await env.client.create<Widget>({ apiVersion: 'gc.keelson.dev/v1', kind: 'Widget', metadata: { name: 'w', namespace: NS } });
    await env.client.create(configMap('of-widget', { owners: [ownerRef(widget)] }));
    const cm = await env.client.create(configMap('cm-owner'));
    await env.client.create<Widget>({ apiVersion: 'gc.keelson.dev/v1', kind: 'Widget', metadata: { name: 'of-cm', namespace: NS, ownerReferences: [ownerRef(cm)] } });
    await env.client.delete(Widget, 'w', { namespace: NS });
    await env.client.delete(ConfigMap, 'cm-owner', { namespace: NS });
    await env.eventually(async () => (await env.gone(ConfigMap, 'of-widget')) && (await env.gone(Widget, 'of-cm')), 10_000);
  });
});

describe('Dependency graph', () => {
  const work = () => {
    const seen = { delete: [] as string[], orphan: [] as string[] };
    return { seen, graph: new DependencyGraph({ attemptToDelete: (uid) => seen.delete.push(uid), attemptToOrphan: (uid) => seen.orphan.push(uid) }) };
  };
  const obj = (uid: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: uid, namespace: NS, uid, ...extra },
  });
  const refTo = (uid: string, block = false): OwnerReference => ({ apiVersion: 'v1', kind: 'ConfigMap', name: uid, uid, blockOwnerDeletion: block });

  it('asks for a look at dependents whose owner is unobserved, then at those of a deleted owner', () => {
    const { seen, graph } = work();
    graph.observe(obj('child', { ownerReferences: [refTo('owner')] }));
    expect(seen.delete).to.deep.equal(['child']);
    graph.observe(obj('owner'));
    graph.observe(obj('child', { ownerReferences: [refTo('owner')], labels: { x: 'y' } }));
    expect(seen.delete).to.deep.equal(['child']);
    expect(graph.ownersLookSolid(graph.node('child')!)).to.equal(true);
    graph.remove(obj('owner'));
    expect(seen.delete).to.deep.equal(['child', 'child']);
  });

  it('tracks foreground owners and their blocking dependents, and orphaning owners', () => {
    const { seen, graph } = work();
    graph.observe(obj('owner'));
    graph.observe(obj('blocker', { ownerReferences: [refTo('owner', true)] }));
    graph.observe(obj('free', { ownerReferences: [refTo('owner', false)] }));
    graph.observe(obj('owner', { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] }));
    expect(seen.delete.sort()).to.deep.equal(['blocker', 'free', 'owner']);
    expect(graph.blockingDependentsOf('owner').map((n) => n.identity.uid)).to.deep.equal(['blocker']);
    seen.delete.length = 0;
    graph.remove(obj('free'));
    graph.remove(obj('blocker'));
    expect(seen.delete).to.deep.equal(['owner', 'owner']);
    graph.observe(obj('other', { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['orphan'] }));
    expect(seen.orphan).to.deep.equal(['other']);
  });

  it('flags a reference naming an observed owner in another namespace', () => {
    const { seen, graph } = work();
    graph.observe({ ...obj('owner'), metadata: { name: 'owner', namespace: 'elsewhere', uid: 'owner' } });
    graph.observe(obj('child', { ownerReferences: [refTo('owner')] }));
    expect(seen.delete).to.deep.equal(['child']);
    expect(graph.ownersLookSolid(graph.node('child')!)).to.equal(false);
  });
});
