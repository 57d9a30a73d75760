import { expect } from 'chai';
import { ApiError, isBadRequest, isNotFound } from '../../lib/api/errors.js';
import { ConfigMap, Endpoints, Namespace, Secret } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Client } from '../../lib/client/client.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { CachedClient, InformerCache } from '../../lib/runtime/cached-client.js';
import type { InformerLogger } from '../../lib/runtime/informer.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';
const quiet: InformerLogger = { warn: () => undefined, info: () => undefined, debug: () => undefined };

function cm(name: string, v: string, labels: Record<string, string> = {}, namespace = NS): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { v } };
}

/** The source, counting the calls that reach it. */
function counting(client: Client): { client: Client; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client: proxy, calls };
}

async function failure(work: Promise<unknown>): Promise<ApiError> {
  try {
    await work;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected a failure');
}

const names = (objs: KubeObject[]) => objs.map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`);

describe('CachedClient', () => {
  let source: Client;
  let informers: InformerCache;
  let cached: CachedClient;
  let calls: string[];

  beforeEach(async () => {
    source = await memoryClient();
    const counted = counting(source);
    calls = counted.calls;
    informers = new InformerCache(counted.client, { logger: quiet });
    cached = new CachedClient({
      delegate: counted.client,
      informers,
      resourceInfoFor: (gvk) => (source as StoreClient).registry.types.forKind(gvk.apiVersion, gvk.kind),
    });
    await source.create(cm('a', '1', { app: 'web' }));
    await source.create(cm('b', '2', { app: 'db' }));
    await source.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    await source.create(cm('c', '1', { app: 'web' }, 'other'));
    informers.informerFor(ConfigMap);
    informers.start();
    await informers.waitForSync(10_000);
    calls.length = 0;
  });

  afterEach(async () => {
    await informers.stop();
    await source.close();
  });

  it('gets from the cache, handing out deep copies', async () => {
    const first = await cached.get(ConfigMap, 'a', { namespace: NS });
    const second = await cached.get(ConfigMap, 'a', { namespace: NS });
    expect(first).to.deep.equal(await source.get(ConfigMap, 'a', { namespace: NS }));
    expect(first).to.not.equal(second);
    expect(Object.isFrozen(first)).to.equal(false);
    first.data!['v'] = 'changed';
    expect((await cached.get(ConfigMap, 'a', { namespace: NS })).data).to.deep.equal({ v: '1' });
    expect(calls).to.deep.equal([]);
  });

  it('answers a missing object with the same 404 as the source, for class and literal kind refs', async () => {
    const fromSource = await failure(source.get(ConfigMap, 'nope', { namespace: NS }));
    const fromCache = await failure(cached.get(ConfigMap, 'nope', { namespace: NS }));
    expect(isNotFound(fromCache)).to.equal(true);
    expect(fromCache.status).to.deep.equal(fromSource.status);

    informers.informerFor({ apiVersion: 'v1', kind: 'Endpoints' });
    await informers.waitForSync(10_000);
    calls.length = 0;
    const literal = await failure(cached.get({ apiVersion: 'v1', kind: 'Endpoints' }, 'nope', { namespace: NS }));
    expect(literal.status).to.deep.equal((await failure(source.get(Endpoints, 'nope', { namespace: NS }))).status);
    expect(literal.message).to.equal('endpoints "nope" not found');
    expect(calls).to.deep.equal([]);
  });

  it('lists from the cache with namespace, label and field selectors, serving every item for limit/continue', async () => {
    const all = await cached.list(ConfigMap);
    expect(names(all.items)).to.deep.equal(names((await source.list(ConfigMap)).items));
    expect(all.kind).to.equal('ConfigMapList');
    expect(all.metadata.resourceVersion).to.equal(informers.informerFor(ConfigMap).lastSyncResourceVersion);
    expect(names((await cached.list(ConfigMap, { namespace: NS })).items)).to.deep.equal(['default/a', 'default/b']);
    expect(names((await cached.list(ConfigMap, { labelSelector: 'app=web' })).items)).to.deep.equal(['default/a', 'other/c']);
    expect(names((await cached.list(ConfigMap, { labelSelector: { matchLabels: { app: 'db' } } })).items)).to.deep.equal(['default/b']);
    expect(names((await cached.list(ConfigMap, { fieldSelector: 'metadata.name!=a', namespace: NS })).items)).to.deep.equal(['default/b']);
    const paged = await cached.list(ConfigMap, { limit: 1 });
    expect(paged.items).to.have.length(3);
    expect(paged.metadata.continue).to.equal(undefined);
    paged.items[0]!.metadata!.name = 'mutated';
    expect(names((await cached.list(ConfigMap, { namespace: NS })).items)).to.deep.equal(['default/a', 'default/b']);
    expect(calls).to.deep.equal([]);
  });

  it('refuses an unsupported field selector with the source\'s 400', async () => {
    const fromSource = await failure(source.list(ConfigMap, { fieldSelector: 'data.v=1' }));
    const fromCache = await failure(cached.list(ConfigMap, { fieldSelector: 'data.v=1' }));
    expect(isBadRequest(fromCache)).to.equal(true);
    expect(fromCache.status).to.deep.equal(fromSource.status);
    informers.informerFor(ConfigMap).indexer.addIndexer('field:data.v', (obj) => [obj.data?.['v'] ?? '']);
    expect(names((await cached.list(ConfigMap, { fieldSelector: 'data.v=1' })).items)).to.deep.equal(['default/a', 'other/c']);
  });

  it('reads cluster-scoped kinds, ignoring a namespace as the source does', async () => {
    await source.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    informers.informerFor(Namespace);
    await informers.waitForSync(10_000);
    expect((await cached.get(Namespace, 'team', { namespace: 'x' })).metadata?.name).to.equal('team');
    expect((await cached.get({ apiVersion: 'v1', kind: 'Namespace' }, 'team')).metadata?.name).to.equal('team');
    expect(names((await cached.list(Namespace, { namespace: 'x' })).items)).to.include('/team');
  });

  it('lists by index from the cache, and refuses kinds without a synced informer or unknown indexes', async () => {
    informers.informerFor(ConfigMap).indexer.addIndexer('byValue', (obj) => [obj.data?.['v'] ?? '']);
    const found = cached.listByIndex(ConfigMap, 'byValue', '1');
    expect(names(found)).to.deep.equal(['default/a', 'other/c']);
    expect(Object.isFrozen(found[0])).to.equal(false);
    expect(() => cached.listByIndex(Secret, 'byValue', '1')).to.throw('no synced informer for Secret (v1)');
    expect(() => cached.listByIndex(ConfigMap, 'nope', '1')).to.throw().that.satisfies(isBadRequest);
  });

  it('sends reads of kinds without an informer, every write and every watch to the source', async () => {
    await cached.list(Secret, { namespace: NS });
    const created = await cached.create(cm('d', '1'));
    await cached.update({ ...created, data: { v: '2' } });
    await cached.patch(ConfigMap, 'd', { data: { v: '3' } }, { namespace: NS });
    const watch = cached.watch(ConfigMap, { namespace: NS, resourceVersion: created.metadata!.resourceVersion! });
    await watch.return?.();
    await waitFor(async () => (await cached.get(ConfigMap, 'd', { namespace: NS })).data?.['v'] === '3', { what: 'the cache to see d' });
    await cached.delete(ConfigMap, 'd', { namespace: NS });
    await waitFor(async () => (await cached.list(ConfigMap, { namespace: NS })).items.length === 2, { what: 'the cache to drop d' });
    expect(calls).to.deep.equal(['list', 'create', 'update', 'patch', 'watch', 'delete']);
  });

  it('falls back to the source once the informers are stopped', async () => {
    await informers.stop();
    expect((await cached.get(ConfigMap, 'a', { namespace: NS })).metadata?.name).to.equal('a');
    expect(calls).to.deep.equal(['get']);
  });
});

describe('InformerCache', () => {
  let source: Client;

  beforeEach(async () => {
    source = await memoryClient();
  });

  afterEach(async () => {
    await source.close();
  });

  it('shares one informer per kind and selection, and starts ones requested after start', async () => {
    const cache = new InformerCache(source, { logger: quiet });
    const all = cache.informerFor(ConfigMap);
    expect(cache.informerFor({ apiVersion: 'v1', kind: 'ConfigMap' })).to.equal(all);
    const inNs = cache.informerFor(ConfigMap, { namespace: NS });
    expect(inNs).to.not.equal(all);
    expect(cache.informerFor(ConfigMap, { labelSelector: 'b=1,a=2' })).to.equal(cache.informerFor(ConfigMap, { labelSelector: { matchLabels: { a: '2', b: '1' } } }));
    expect(cache.lookup({ apiVersion: 'v1', kind: 'ConfigMap' }, NS)).to.equal(all);
    cache.start();
    const late = cache.informerFor(Secret);
    expect(late.isRunning).to.equal(true);
    await cache.waitForSync(10_000);
    expect(cache.informers().every((i) => i.hasSynced())).to.equal(true);
    await cache.stop();
    expect(cache.informers().some((i) => i.isRunning)).to.equal(false);
  });

  it('waitForSync rejects with a 504 naming the kinds that did not sync', async () => {
    const clock = new FakeClock();
    const secretsDown = new Proxy(source, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (property !== 'list' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return (kind: { kind?: string; name?: string }, options: unknown) =>
          kind === Secret ? Promise.reject(new ApiError({ code: 503, reason: 'ServiceUnavailable', message: 'down' })) : (value as Client['list']).call(target, kind as never, options as never);
      },
    });
    const cache = new InformerCache(secretsDown, { clock, logger: quiet });
    cache.informerFor(ConfigMap);
    cache.informerFor(Secret, { namespace: NS });
    cache.start();
    await cache.informerFor(ConfigMap).waitForSync();
    const waiting = failure(cache.waitForSync(5000));
    await clock.advance(5000);
    const err = await waiting;
    expect(err.code).to.equal(504);
    expect(err.message).to.equal('caches did not sync (timed out after 5000 ms): Secret (v1) in namespace "default"');
    await cache.stop();
    expect(clock.pendingTimers).to.equal(0);
  });
});
