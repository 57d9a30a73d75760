import { expect } from 'chai';
import { pino } from 'pino';
import { ApiError, expired } from '../../lib/api/errors.js';
import { ConfigMap } from '../../lib/api/kinds.js';
import type { KubeObject, WatchEvent } from '../../lib/api/meta.js';
import type { KindRef } from '../../lib/api/resources.js';
import type { Client, ListOptions, WatchOptions } from '../../lib/client/client.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { ExponentialBackoff } from '../../lib/util/backoff.js';
import { metaNamespaceKey } from '../../lib/runtime/cache.js';
import { Informer, type InformerLogger } from '../../lib/runtime/informer.js';
import type { InformerEventHandler } from '../../lib/runtime/types.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';
import { systemClock, type Clock } from '../../lib/util/clock.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';

/** A log that keeps what it is told. */
function captureLog(): InformerLogger & { lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> } {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields: fields as Record<string, unknown>, message });
  return { lines, warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** Records handler calls as readable lines. */
function recorder(): { events: string[]; handler: InformerEventHandler<ConfigMap> } {
  const events: string[] = [];
  const v = (obj: ConfigMap) => obj.data?.['v'] ?? '-';
  return {
    events,
    handler: {
      onAdd: (obj, initial) => events.push(`ADDED ${metaNamespaceKey(obj)} v=${v(obj)}${initial ? ' initial' : ''}`),
      onUpdate: (oldObj, newObj) => events.push(`MODIFIED ${metaNamespaceKey(newObj)} v=${v(oldObj)}->${v(newObj)}`),
      onDelete: (obj) => events.push(`DELETED ${metaNamespaceKey(obj)} v=${v(obj)}`),
    },
  };
}

function cm(name: string, v: string): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data: { v } };
}

async function modify(client: Client, name: string, v: string): Promise<void> {
  await client.patch(ConfigMap, name, { data: { v } }, { namespace: NS });
}

/**
 * The real client with faults a test turns on: failing lists or watches, watches that hang, and
 * a gate that holds a watch's events back and then cuts the stream (the held events are lost).
 */
class FaultyClient implements Client {
  readonly listCalls: Array<{ at: number; options: ListOptions }> = [];
  readonly watchCalls: Array<{ at: number; options: WatchOptions }> = [];
  listFailures = 0;
  watchFailures: ApiError[] = [];
  hangWatches = false;
  hangLists = false;
  private paused = false;
  private generation = 0;
  private resume: Array<() => void> = [];
  private readonly active = new Set<AsyncIterator<unknown>>();

  constructor(
    readonly inner: Client,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Holds back every event of the open watches from now on. */
  pause(): void {
    this.paused = true;
  }

  /** Ends the open watches, dropping what they held back; later watches flow normally. */
  cut(): void {
    this.generation++;
    this.paused = false;
    for (const wake of this.resume.splice(0)) wake();
    for (const it of this.active) void it.return?.();
  }

  async list<T extends KubeObject>(kind: KindRef<T>, options: ListOptions = {}) {
    this.listCalls.push({ at: this.clock.now(), options });
    if (this.listFailures > 0) {
      this.listFailures--;
      throw new ApiError({ code: 503, reason: 'ServiceUnavailable', message: 'the source is down' });
    }
    if (this.hangLists) return new Promise<never>(() => undefined);
    return this.inner.list(kind, options);
  }

  watch<T extends KubeObject>(kind: KindRef<T>, options: WatchOptions = {}): AsyncIterableIterator<WatchEvent<T>> {
    this.watchCalls.push({ at: this.clock.now(), options });
    const failure = this.watchFailures.shift();
    if (failure) throw failure;
    if (this.hangWatches) {
      const hanging: AsyncIterableIterator<WatchEvent<T>> = {
        next: () => new Promise(() => undefined),
        return: async () => ({ done: true, value: undefined }),
        [Symbol.asyncIterator]: () => hanging,
      };
      return hanging;
    }
    const inner = this.inner.watch(kind, options);
    const born = this.generation;
    this.active.add(inner);
    const gated: AsyncIterableIterator<WatchEvent<T>> = {
      next: async () => {
        const result = await inner.next();
        while (this.paused && this.generation === born) await new Promise<void>((wake) => this.resume.push(wake));
        if (this.generation !== born) {
          this.active.delete(inner);
          return { done: true, value: undefined };
        }
        return result;
      },
      return: async () => {
        this.active.delete(inner);
        await inner.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => gated,
    };
    return gated;
  }

  create<T extends KubeObject>(obj: T) {
    return this.inner.create(obj);
  }
  update<T extends KubeObject>(obj: T) {
    return this.inner.update(obj);
  }
  updateStatus<T extends KubeObject>(obj: T) {
    return this.inner.updateStatus(obj);
  }
  get<T extends KubeObject>(kind: KindRef<T>, name: string, options?: { namespace?: string }) {
    return this.inner.get(kind, name, options);
  }
  patch<T extends KubeObject>(kind: KindRef<T>, name: string, patch: unknown, options?: { namespace?: string }) {
    return this.inner.patch(kind, name, patch, options);
  }
  delete<T extends KubeObject>(kind: KindRef<T>, name: string, options?: { namespace?: string }) {
    return this.inner.delete(kind, name, options);
  }
  close() {
    return this.inner.close();
  }
}

describe('Informer', () => {
  let source: Client;
  let informer: Informer<ConfigMap> | undefined;

  beforeEach(async () => {
    source = await memoryClient();
  });

  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    await source.close();
  });

  it('lists in pages, then delivers onAdd for each object with isInInitialList', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) await source.create(cm(name, '1'));
    const client = new FaultyClient(source);
    const { events, handler } = recorder();
    informer = new Informer(client, ConfigMap, { pageSize: 2, logger: captureLog() });
    informer.addEventHandler(handler);
    informer.start();
    expect(await informer.waitForSync()).to.equal(true);
    expect(events).to.deep.equal(['a', 'b', 'c', 'd', 'e'].map((n) => `ADDED default/${n} v=1 initial`));
    expect(client.listCalls.map((c) => [c.options.limit, !!c.options.continue])).to.deep.equal([[2, false], [2, true], [2, true]]);
    const list = await source.list(ConfigMap, {});
    expect(informer.lastSyncResourceVersion).to.equal(list.metadata.resourceVersion);
    expect(client.watchCalls[0]?.options).to.include({ resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true });
    expect(client.watchCalls[0]?.options.timeoutSeconds).to.be.within(300, 600);
    expect(informer.indexer.size).to.equal(5);
  });

  it('delivers live ADDED, MODIFIED and DELETED events after the cache has them', async () => {
    const { events, handler } = recorder();
    informer = new Informer(source, ConfigMap, { logger: captureLog() });
    const seenInCache: boolean[] = [];
    informer.addEventHandler(handler);
    informer.addEventHandler({ onAdd: (obj) => void seenInCache.push(informer!.indexer.get(NS, obj.metadata!.name!) === obj) });
    informer.start();
    await informer.waitForSync();
    await source.create(cm('a', '1'));
    await modify(source, 'a', '2');
    await source.delete(ConfigMap, 'a', { namespace: NS });
    await waitFor(() => events.length === 3, { what: 'three events' });
    expect(events).to.deep.equal(['ADDED default/a v=1', 'MODIFIED default/a v=1->2', 'DELETED default/a v=2']);
    expect(seenInCache).to.deep.equal([true]);
    expect(informer.indexer.size).to.equal(0);
  });

  it('after a 410 relists and delivers exactly the ADDED, MODIFIED and DELETED that happened meanwhile', async () => {
    for (const name of ['untouched', 'changed', 'deleted']) await source.create(cm(name, '1'));
    const client = new FaultyClient(source);
    const log = captureLog();
    const { events, handler } = recorder();
    informer = new Informer(client, ConfigMap, { logger: log });
    informer.addEventHandler(handler);
    informer.start();
    await informer.waitForSync();
    await source.create(cm('live', '1'));
    await waitFor(() => events.includes('ADDED default/live v=1'), { what: 'the live event' });
    events.length = 0;

    client.pause();
    await source.create(cm('new', '1'));
    await modify(source, 'changed', '2');
    await modify(source, 'live', '2');
    await source.delete(ConfigMap, 'deleted', { namespace: NS });
    await source.create(cm('ephemeral', '1'));
    await source.delete(ConfigMap, 'ephemeral', { namespace: NS });
    const head = (await source.list(ConfigMap, {})).metadata.resourceVersion!;
    await (source as StoreClient).registry.kv.compact(Number(head));
    expect(Number(informer.lastSyncResourceVersion)).to.be.lessThan(Number(head));
    client.cut();

    await waitFor(() => client.listCalls.length === 2 && informer!.lastSyncResourceVersion === head, { what: 'the relist' });
    expect([...events].sort()).to.deep.equal([
      'ADDED default/new v=1',
      'DELETED default/deleted v=1',
      'MODIFIED default/changed v=1->2',
      'MODIFIED default/live v=1->2',
    ]);
    expect(log.lines.some((l) => l.message.includes('410'))).to.equal(true);
    expect(log.lines.filter((l) => l.level === 'warn')).to.deep.equal([]);
    expect(informer.indexer.keys().sort()).to.deep.equal(['default/changed', 'default/live', 'default/new', 'default/untouched']);

    events.length = 0;
    await source.create(cm('after', '1'));
    await waitFor(() => events.length === 1, { what: 'a live event after the relist' });
    expect(events).to.deep.equal(['ADDED default/after v=1']);
  });

  it('relists when starting the watch itself fails with 410', async () => {
    await source.create(cm('a', '1'));
    const client = new FaultyClient(source);
    const { events, handler } = recorder();
    informer = new Informer(client, ConfigMap, { logger: captureLog() });
    informer.addEventHandler(handler);
    informer.start();
    await informer.waitForSync();
    await source.create(cm('live', '1'));
    await waitFor(() => events.length === 2, { what: 'the live event' });
    events.length = 0;
    client.pause();
    await modify(source, 'a', '2');
    client.watchFailures.push(expired('too old resource version: 1 (5)'));
    client.cut();
    await waitFor(() => events.length === 1, { what: 'the relist' });
    expect(events).to.deep.equal(['MODIFIED default/a v=1->2']);
    expect(client.listCalls).to.have.length(2);
  });

  it('retries a failing source with jittered exponential backoff, 800 ms doubling to 30 s, logging each failure', async () => {
    const clock = new FakeClock();
    const client = new FaultyClient(source, clock);
    client.listFailures = 9;
    const log = captureLog();
    informer = new Informer(client, ConfigMap, { clock, logger: log });
    informer.start();
    for (let i = 0; i < 200 && client.listCalls.length < 10; i++) await clock.advance(5000);
    expect(await informer.waitForSync()).to.equal(true);
    const delays = client.listCalls.slice(1).map((call, i) => call.at - client.listCalls[i]!.at);
    const bases = [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000];
    expect(delays).to.have.length(bases.length);
    delays.forEach((delay, i) => expect(delay, `delay ${i}`).to.be.within(bases[i]!, 2 * bases[i]!));
    const warnings = log.lines.filter((l) => l.level === 'warn');
    expect(warnings).to.have.length(9);
    expect(warnings[0]!.message).to.include('the source is down');
    expect((warnings[0]!.fields['err'] as ApiError).code).to.equal(503);
  });

  it('backs off and re-watches from the last resourceVersion when a watch fails', async () => {
    const clock = new FakeClock();
    const client = new FaultyClient(source, clock);
    const unavailable = () => new ApiError({ code: 500, reason: 'InternalError', message: 'watch broke' });
    client.watchFailures.push(unavailable(), unavailable());
    const { events, handler } = recorder();
    const log = captureLog();
    informer = new Informer(client, ConfigMap, { clock, logger: log });
    informer.addEventHandler(handler);
    informer.start();
    await informer.waitForSync();
    const rv = informer.lastSyncResourceVersion;
    await waitFor(() => client.watchCalls.length === 1, { what: 'the first watch' });
    for (let i = 0; i < 20 && client.watchCalls.length < 3; i++) await clock.advance(500);
    expect(client.watchCalls).to.have.length(3);
    expect(client.watchCalls.map((c) => c.options.resourceVersion)).to.deep.equal([rv, rv, rv]);
    expect(client.watchCalls[1]!.at - client.watchCalls[0]!.at).to.be.within(800, 1600);
    expect(client.watchCalls[2]!.at - client.watchCalls[1]!.at).to.be.within(1600, 3200);
    expect(log.lines.filter((l) => l.level === 'warn')).to.have.length(2);
    expect(client.listCalls).to.have.length(1);
    await source.create(cm('a', '1'));
    await waitFor(() => events.length === 1, { what: 'an event on the third watch' });
  });

  it('restarts a watch that stays silent past its timeout', async () => {
    const clock = new FakeClock();
    const client = new FaultyClient(source, clock);
    client.hangWatches = true;
    const log = captureLog();
    informer = new Informer(client, ConfigMap, { clock, logger: log });
    informer.start();
    await informer.waitForSync();
    await waitFor(() => client.watchCalls.length === 1, { what: 'the first watch' });
    const limitMs = client.watchCalls[0]!.options.timeoutSeconds! * 1000 + 30_000;
    await clock.advance(limitMs - 1);
    expect(client.watchCalls).to.have.length(1);
    await clock.advance(1);
    expect(client.watchCalls).to.have.length(2);
    expect(log.lines.some((l) => l.level === 'info' && l.message.includes('silent'))).to.equal(true);
    expect(client.listCalls).to.have.length(1);
  });

  it('resyncs every resyncPeriodMs with onUpdate(obj, obj), and stop() releases every timer', async () => {
    await source.create(cm('a', '1'));
    await source.create(cm('b', '1'));
    const clock = new FakeClock();
    const updates: Array<[ConfigMap, ConfigMap]> = [];
    informer = new Informer(source, ConfigMap, { clock, resyncPeriodMs: 10_000, logger: captureLog() });
    informer.addEventHandler({ onUpdate: (o, n) => void updates.push([o, n]) });
    informer.start();
    await informer.waitForSync();
    await clock.advance(9_999);
    expect(updates).to.have.length(0);
    await clock.advance(1);
    expect(updates).to.have.length(2);
    expect(updates.every(([o, n]) => o === n)).to.equal(true);
    await clock.advance(10_000);
    expect(updates).to.have.length(4);
    await informer.stop();
    expect(clock.pendingTimers).to.equal(0);
    expect(informer.isRunning).to.equal(false);
  });

  it('gives a handler added after sync a synthetic onAdd for every cached object', async () => {
    await source.create(cm('a', '1'));
    await source.create(cm('b', '1'));
    informer = new Informer(source, ConfigMap, { logger: captureLog() });
    informer.start();
    await informer.waitForSync();
    const { events, handler } = recorder();
    const registration = informer.addEventHandler(handler);
    expect(events).to.deep.equal(['ADDED default/a v=1 initial', 'ADDED default/b v=1 initial']);
    registration.remove();
    await source.create(cm('c', '1'));
    await waitFor(() => informer!.indexer.size === 3, { what: 'c in the cache' });
    expect(events).to.have.length(2);
  });

  it('catches and logs handler exceptions; other handlers and later events are unaffected', async () => {
    const log = captureLog();
    const { events, handler } = recorder();
    informer = new Informer(source, ConfigMap, { logger: log });
    informer.addEventHandler({
      onAdd: () => {
        throw new Error('handler bug');
      },
    });
    informer.addEventHandler({ onAdd: (obj) => void (obj.metadata!.name = 'mutated') });
    informer.addEventHandler(handler);
    informer.start();
    await informer.waitForSync();
    await source.create(cm('a', '1'));
    await source.create(cm('b', '1'));
    await waitFor(() => events.length === 2, { what: 'two events' });
    expect(events).to.deep.equal(['ADDED default/a v=1', 'ADDED default/b v=1']);
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings.filter((m) => m.includes('handler bug'))).to.have.length(2);
    // Cached objects are frozen: the mutating handler failed instead of corrupting the cache.
    expect(warnings.filter((m) => m.includes('read only') || m.includes('read-only'))).to.have.length(2);
    expect(informer.indexer.get(NS, 'a')?.metadata?.name).to.equal('a');
  });

  it('waitForSync resolves false when aborted or stopped before sync', async () => {
    informer = new Informer(source, ConfigMap, { logger: captureLog() });
    const aborted = new AbortController();
    const waiting = informer.waitForSync(aborted.signal);
    aborted.abort();
    expect(await waiting).to.equal(false);
    const stopped = informer.waitForSync();
    await informer.stop();
    expect(await stopped).to.equal(false);
    expect(() => informer!.start()).to.throw('was stopped');
  });

  it('stops when the start signal aborts, with no timer left behind', async () => {
    const clock = new FakeClock();
    const client = new FaultyClient(source, clock);
    client.listFailures = 1_000_000;
    informer = new Informer(client, ConfigMap, { clock, logger: captureLog() });
    const stop = new AbortController();
    informer.start(stop.signal);
    await clock.advance(10_000);
    expect(client.listCalls.length).to.be.greaterThan(1);
    stop.abort();
    await informer.stop();
    expect(clock.pendingTimers).to.equal(0);
    expect(informer.hasSynced()).to.equal(false);
  });

  it('fails a list that does not answer within listTimeoutMs and retries it; stop() ends the wait', async () => {
    const clock = new FakeClock();
    const client = new FaultyClient(source, clock);
    client.hangLists = true;
    const log = captureLog();
    informer = new Informer(client, ConfigMap, { clock, logger: log, listTimeoutMs: 60_000 });
    informer.start();
    await clock.advance(59_999);
    expect(log.lines).to.deep.equal([]);
    await clock.advance(1);
    expect(log.lines.map((l) => l.message)).to.deep.equal(['list of ConfigMap (v1) failed: list of ConfigMap (v1) did not answer within 60000 ms']);
    await clock.advance(1600);
    expect(client.listCalls).to.have.length(2);
    await informer.stop();
    expect(clock.pendingTimers).to.equal(0);
  });

  it('accepts a pino logger', () => {
    const logger: InformerLogger = pino({ enabled: false });
    expect(logger).to.have.property('warn');
  });
});

describe('ExponentialBackoff', () => {
  it('doubles from 800 ms to a 30 s cap, jitter stretching each delay by up to 100 %', () => {
    const clock = new FakeClock();
    const low = new ExponentialBackoff(clock, { random: () => 0 });
    expect(Array.from({ length: 9 }, () => low.next())).to.deep.equal([800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000]);
    const high = new ExponentialBackoff(clock, { random: () => 0.5 });
    expect(Array.from({ length: 3 }, () => high.next())).to.deep.equal([1200, 2400, 4800]);
  });

  it('starts over after two minutes without a backoff', async () => {
    const clock = new FakeClock();
    const backoff = new ExponentialBackoff(clock, { jitter: 0 });
    backoff.next();
    backoff.next();
    await clock.advance(120_000);
    expect(backoff.next()).to.equal(3200);
    await clock.advance(120_001);
    expect(backoff.next()).to.equal(800);
  });
});
