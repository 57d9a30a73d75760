/**
 * The EventRecorder writes core/v1 Events as client-go's recorder does — including the
 * EventCorrelator's deduplication, combining and spam filtering — in the background, never
 * throwing at the caller.
 */
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { ConfigMap, Event, Node } from '../../lib/api/kinds.js';
import { formatTimestamp } from '../../lib/api/meta.js';
import type { Client } from '../../lib/client/client.js';
import { ClientEventRecorder, EventRecorder, FakeEventRecorder, type ClientEventRecorderOptions } from '../../lib/runtime/events.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { EventRecorderToken } from '../../lib/runtime/tokens.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';

const NS = 'default';

/** A Client delegating to `inner`, with some methods replaced. */
function wrap(inner: Client, overrides: Partial<Client>): Client {
  const methods = ['get', 'list', 'watch', 'create', 'update', 'updateStatus', 'patch', 'delete', 'close'] as const;
  const delegate = Object.fromEntries(methods.map((m) => [m, (inner[m] as (...args: unknown[]) => unknown).bind(inner)]));
  return { ...delegate, ...overrides } as Client;
}

/** Wraps a Client so its creates and patches fail while `failure()` answers an error. */
function failingWrites(inner: Client, failure: () => Error | undefined): Client {
  const guard = async <T>(write: () => Promise<T>): Promise<T> => {
    const err = failure();
    if (err) throw err;
    return write();
  };
  return wrap(inner, {
    create: (obj, options) => guard(() => inner.create(obj, options)),
    patch: (kind, name, patch, options) => guard(() => inner.patch(kind, name, patch, options)),
  });
}

function captureLogs(): { logger: ReturnType<typeof createLogger>; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  return { lines, logger: createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }) };
}

describe('EventRecorder', () => {
  let clock: FakeClock;
  let client: Client;
  let cm: ConfigMap;

  beforeEach(async () => {
    clock = new FakeClock();
    client = await memoryClient({ clock });
    cm = await client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: NS }, data: { a: '1' } });
  });

  afterEach(() => client.close());

  function recorder(options: Partial<ClientEventRecorderOptions> = {}, through: Client = client): ClientEventRecorder {
    return new ClientEventRecorder(through, { component: 'web-controller', host: 'node-1', clock, ...options });
  }

  async function events(namespace = NS): Promise<Event[]> {
    return (await client.list(Event, { namespace })).items;
  }

  it('is a DI token and a type under one name', () => {
    expect(EventRecorder).to.equal(EventRecorderToken);
    expect(EventRecorder).to.equal(Symbol.for('keelson.EventRecorder'));
    const typed: EventRecorder = new FakeEventRecorder();
    expect(typed).to.be.instanceOf(FakeEventRecorder);
  });

  it('creates a core/v1 Event shaped as client-go writes it', async () => {
    const r = recorder();
    r.event(cm, 'Normal', 'Updated', 'configuration reloaded');
    await r.flush();
    const [event, ...rest] = await events();
    expect(rest).to.deep.equal([]);
    expect(event!.metadata!.name).to.match(/^web-config\.[0-9a-f]+$/);
    expect(event!.metadata!.namespace).to.equal(NS);
    expect(event!.involvedObject).to.deep.equal({
      kind: 'ConfigMap',
      namespace: NS,
      name: 'web-config',
      uid: cm.metadata!.uid,
      apiVersion: 'v1',
      resourceVersion: cm.metadata!.resourceVersion,
    });
    expect(event).to.include({ reason: 'Updated', message: 'configuration reloaded', type: 'Normal', count: 1, reportingComponent: 'web-controller', reportingInstance: 'node-1' });
    expect(event!.source).to.deep.equal({ component: 'web-controller', host: 'node-1' });
    expect(event!.firstTimestamp).to.equal(formatTimestamp(clock.now()));
    expect(event!.lastTimestamp).to.equal(event!.firstTimestamp);
  });

  it('writes events about cluster-scoped objects to the default namespace', async () => {
    const node = await client.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } });
    const r = recorder();
    r.event(node, 'Warning', 'NodeNotReady', 'kubelet stopped posting status');
    await r.flush();
    const [event] = await events('default');
    expect(event!.involvedObject).to.include({ kind: 'Node', name: 'node-1' });
    expect(event!.involvedObject!.namespace).to.equal(undefined);
  });

  it('formats eventf messages printf-style', async () => {
    const r = recorder();
    r.eventf(cm, 'Normal', 'Scaled', 'scaled from %d to %d replicas', 1, 3);
    await r.flush();
    expect((await events())[0]!.message).to.equal('scaled from 1 to 3 replicas');
  });

  it('counts a repeat within the correlation window on the existing Event', async () => {
    const r = recorder();
    r.event(cm, 'Warning', 'FailedMount', 'volume not found');
    await r.flush();
    const first = (await events())[0]!;
    await clock.advance(5_000);
    r.event(cm, 'Warning', 'FailedMount', 'volume not found');
    await clock.advance(7_000);
    r.event(cm, 'Warning', 'FailedMount', 'volume not found');
    await r.flush();
    const all = await events();
    expect(all).to.have.length(1);
    expect(all[0]!.metadata!.name).to.equal(first.metadata!.name);
    expect(all[0]!.count).to.equal(3);
    expect(all[0]!.firstTimestamp).to.equal(first.firstTimestamp);
    expect(all[0]!.lastTimestamp).to.equal(formatTimestamp(clock.now()));
  });

  it('creates a new Event for a different message, type or reason, or after the window', async () => {
    const r = recorder({ correlationWindowMs: 60_000 });
    r.event(cm, 'Warning', 'FailedMount', 'volume not found');
    r.event(cm, 'Warning', 'FailedMount', 'volume busy');
    r.event(cm, 'Normal', 'FailedMount', 'volume not found');
    r.event(cm, 'Warning', 'FailedAttach', 'volume not found');
    await r.flush();
    expect(await events()).to.have.length(4);
    await clock.advance(61_000);
    r.event(cm, 'Warning', 'FailedMount', 'volume not found');
    await r.flush();
    const all = await events();
    expect(all).to.have.length(5);
    expect(all.every((e) => e.count === 1)).to.equal(true);
  });

  it('gives distinct names to events recorded in the same millisecond', async () => {
    const r = recorder();
    for (let i = 0; i < 5; i++) r.event(cm, 'Normal', `Reason${i}`, 'same instant');
    await r.flush();
    const names = new Set((await events()).map((e) => e.metadata!.name));
    expect(names.size).to.equal(5);
  });

  it('combines similar events with different messages after 10, as the EventAggregator', async () => {
    const r = recorder();
    for (let i = 0; i < 13; i++) r.event(cm, 'Warning', 'BackOff', `restarting container ${i}`);
    await r.flush();
    const all = await events();
    const combined = all.filter((e) => e.message!.startsWith('(combined from similar events): '));
    expect(all).to.have.length(10);
    expect(combined).to.have.length(1);
    expect(combined[0]!.count).to.equal(4);
    expect(combined[0]!.message).to.equal('(combined from similar events): restarting container 12');
  });

  it('filters spam: a burst of 25 per object, then one per 5 minutes', async () => {
    const r = recorder();
    for (let i = 0; i < 30; i++) r.event(cm, 'Normal', `Reason${i}`, 'message');
    await r.flush();
    expect(await events()).to.have.length(25);
    await clock.advance(5 * 60_000);
    r.event(cm, 'Normal', 'Later', 'message');
    r.event(cm, 'Normal', 'TooSoon', 'message');
    await r.flush();
    const reasons = (await events()).map((e) => e.reason);
    expect(reasons).to.include('Later');
    expect(reasons).to.not.include('TooSoon');
  });

  it('never throws at the caller when writes fail, and logs the failure', async () => {
    const { logger, lines } = captureLogs();
    const broken = failingWrites(client, () => new ApiError({ code: 500, reason: 'InternalError', message: 'etcdserver: request timed out' }));
    const r = recorder({ logger }, broken);
    expect(() => r.event(cm, 'Warning', 'Failed', 'boom')).to.not.throw();
    await r.flush();
    expect(await events()).to.deep.equal([]);
    expect(lines.some((l) => l.level >= 50 && /unable to write event/.test(l.msg))).to.equal(true);
  });

  it('retries transport failures after a pause, not API errors', async () => {
    let failures = 2;
    const flaky = failingWrites(client, () => (failures-- > 0 ? new Error('ECONNRESET') : undefined));
    const r = recorder({ retryDelayMs: 10_000 }, flaky);
    r.event(cm, 'Normal', 'Synced', 'ok');
    const flushed = r.flush();
    await clock.advance(10_000);
    expect(await events()).to.have.length(0);
    await clock.advance(10_000);
    await flushed;
    expect(await events()).to.have.length(1);
  });

  it('recreates the Event when the one to count on is gone', async () => {
    const r = recorder();
    r.event(cm, 'Normal', 'Synced', 'ok');
    await r.flush();
    const [first] = await events();
    await client.delete(Event, first!.metadata!.name!, { namespace: NS });
    r.event(cm, 'Normal', 'Synced', 'ok');
    await r.flush();
    const all = await events();
    expect(all).to.have.length(1);
    expect(all[0]!.count).to.equal(2);
  });

  it('bounds its queue, dropping events beyond it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = wrap(client, {
      create: async (obj, options) => {
        await gate;
        return client.create(obj, options);
      },
    });
    const r = recorder({ maxQueuedEvents: 2 }, slow);
    for (let i = 0; i < 6; i++) r.event(cm, 'Normal', `Reason${i}`, 'message');
    release();
    await r.flush();
    expect((await events()).map((e) => e.reason).sort()).to.deep.equal(['Reason0', 'Reason1', 'Reason2']);
  });

  it('ignores events after stop()', async () => {
    const r = recorder();
    await r.stop();
    r.event(cm, 'Normal', 'Late', 'after stop');
    await r.flush();
    expect(await events()).to.deep.equal([]);
  });
});

describe('FakeEventRecorder', () => {
  it('records events in order, as client-go FakeRecorder strings', () => {
    const r = new FakeEventRecorder();
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'default', uid: 'u1' } };
    r.event(pod, 'Normal', 'Scheduled', 'assigned to node-1');
    r.eventf(pod, 'Warning', 'BackOff', 'back-off %ds', 10);
    expect(r.strings()).to.deep.equal(['Normal Scheduled assigned to node-1', 'Warning BackOff back-off 10s']);
    expect(r.events[0]!.involvedObject).to.deep.equal({ kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'u1', apiVersion: 'v1' });
    r.clear();
    expect(r.events).to.deep.equal([]);
  });
});
