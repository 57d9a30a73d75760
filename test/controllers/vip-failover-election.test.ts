/**
 * VIP election, as a specification: nodes elect a holder through the VIP's Lease in an
 * in-memory store on a FakeClock, with heartbeats on an in-memory bus and announcers that only
 * record who serves — and a referee that fails the test the moment two nodes serve at once.
 */
import { expect } from 'chai';
import { Lease } from '../../lib/api/kinds.js';
import type { Client } from '../../lib/client/client.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';
import {
  electionTiming,
  leaseView,
  VIP_LEASE_NAMESPACE,
  VipElection,
  vipLeaseName,
  type Announcer,
  type ElectionTiming,
  type Heartbeat,
  type HeartbeatTransport,
} from '../../controllers/vip-failover/index.js';

const VIP = 'web';
const logger = createLogger({ level: 'silent' });

/** Who serves the address, over time; records every moment two nodes serve at once. */
class Referee {
  readonly serving = new Set<string>();
  readonly violations: string[] = [];
  readonly history: { atMs: number; node: string; op: 'hold' | 'release'; token?: number }[] = [];
  constructor(private readonly clock: FakeClock) {}

  hold(node: string, token: number): void {
    if (this.serving.size > 0 && !this.serving.has(node)) this.violations.push(`${node} (token ${token}) serves while ${[...this.serving].join(',')} does at ${this.clock.now()}`);
    this.serving.add(node);
    this.history.push({ atMs: this.clock.now(), node, op: 'hold', token });
  }

  release(node: string): void {
    if (this.serving.delete(node)) this.history.push({ atMs: this.clock.now(), node, op: 'release' });
  }

  /** The tokens of every hold, in order. */
  get tokens(): number[] {
    return this.history.filter((h) => h.op === 'hold').map((h) => h.token!);
  }
}

/** An announcer that tells the referee. */
class RecordingAnnouncer implements Announcer {
  readonly description: string;
  holding = false;
  constructor(
    private readonly node: string,
    private readonly referee: Referee,
  ) {
    this.description = `fake on ${node}`;
  }
  async hold(token: number): Promise<void> {
    this.holding = true;
    this.referee.hold(this.node, token);
  }
  extend(): void {}
  async release(): Promise<void> {
    this.holding = false;
    this.referee.release(this.node);
  }
  close(): Promise<void> {
    return this.release();
  }
}

/** Heartbeats between nodes, delivered after a microtask; a node can be cut off. */
class Bus {
  private readonly handlers = new Map<string, Set<(hb: Heartbeat) => void>>();
  readonly cut = new Set<string>();

  transport(node: string): HeartbeatTransport {
    return {
      send: (hb) => {
        if (this.cut.has(node)) return;
        for (const [peer, handlers] of this.handlers) {
          if (peer === node || this.cut.has(peer)) continue;
          queueMicrotask(() => handlers.forEach((h) => h(structuredClone(hb))));
        }
      },
      subscribe: (handler) => {
        const set = this.handlers.get(node) ?? new Set();
        set.add(handler);
        this.handlers.set(node, set);
        return () => set.delete(handler);
      },
    };
  }
}

type StoreMode = 'up' | 'failing' | 'hanging';

/** A client whose calls fail or never answer when the test says so (a node cut off from the store). */
function controllable(client: Client): { client: Client; mode: StoreMode } {
  const state = { mode: 'up' as StoreMode, client: undefined as unknown as Client };
  state.client = new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        if (state.mode === 'failing') return Promise.reject(new Error('connect ECONNREFUSED (store unreachable)'));
        if (state.mode === 'hanging') return new Promise(() => undefined);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return state;
}

interface TestNode {
  name: string;
  election: VipElection;
  store: { mode: StoreMode };
  announcer: RecordingAnnouncer;
}

/** A set of nodes electing one VIP's holder. */
class Scenario {
  readonly clock = new FakeClock();
  readonly referee = new Referee(this.clock);
  readonly bus = new Bus();
  readonly nodes = new Map<string, TestNode>();
  priorities: Record<string, number> = {};
  preempt = true;
  client!: Client;

  constructor(readonly timing: ElectionTiming = electionTiming()) {}

  async init(): Promise<this> {
    this.client = await memoryClient({ clock: this.clock });
    return this;
  }

  add(name: string): TestNode {
    const store = controllable(this.client);
    const announcer = new RecordingAnnouncer(name, this.referee);
    const election = new VipElection({
      vipName: VIP,
      nodeName: name,
      client: store.client,
      clock: this.clock,
      logger,
      announcer,
      transport: this.bus.transport(name),
      timing: this.timing,
      priorityOf: (node) => this.priorities[node] ?? 100,
      preempt: () => this.preempt,
    });
    const node = { name, election, store, announcer };
    this.nodes.set(name, node);
    election.start();
    return node;
  }

  /** Moves time in small steps (the store answers between them). */
  async run(ms: number, stepMs = 5): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) await this.clock.advance(Math.min(stepMs, ms - t));
  }

  /** Runs until `check` holds, at most `ms`; returns the time it took. */
  async runUntil(check: () => boolean, ms: number, what: string): Promise<number> {
    const start = this.clock.now();
    while (!check()) {
      if (this.clock.now() - start > ms) throw new Error(`not within ${ms} ms (fake time): ${what}`);
      await this.clock.advance(5);
    }
    return this.clock.now() - start;
  }

  holders(): string[] {
    return [...this.nodes.values()].filter((n) => n.election.serving).map((n) => n.name);
  }

  /** The node dies: no more heartbeats or store calls; its address vanishes (the guard's job). */
  async crash(name: string): Promise<void> {
    const node = this.nodes.get(name)!;
    this.bus.cut.add(name);
    node.store.mode = 'hanging';
    await node.announcer.release();
  }

  async lease(): Promise<Lease> {
    return this.client.get(Lease, vipLeaseName(VIP), { namespace: VIP_LEASE_NAMESPACE });
  }

  async stop(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (node.store.mode === 'up') await node.election.stop();
    }
    await this.client.close();
  }
}

describe('VIP election', () => {
  let s: Scenario;

  afterEach(async () => {
    await s?.stop();
    expect(s.referee.violations, 'two holders at once').to.deep.equal([]);
  });

  it('elects exactly one holder, which owns the Lease with fencing token 1', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    await s.run(1000);
    expect(s.holders()).to.have.length(1);
    const lease = await s.lease();
    expect(lease.spec?.holderIdentity).to.equal(s.holders()[0]);
    expect(lease.spec?.leaseTransitions).to.equal(1);
    expect(leaseView(lease, 0).durationMs).to.equal(300);
  });

  it('the holder renews every heartbeat interval, so no standby takes over while it lives', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    const holder = s.holders()[0];
    const rv = (await s.lease()).metadata?.resourceVersion;
    await s.run(3000);
    expect(s.holders()).to.deep.equal([holder]);
    expect((await s.lease()).spec?.leaseTransitions).to.equal(1);
    expect(Number((await s.lease()).metadata?.resourceVersion)).to.be.greaterThan(Number(rv) + 20);
  });

  it('takes over by compare-and-swap within the lease duration when the holder dies, with the next token', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    const first = s.holders()[0]!;
    await s.run(500);
    await s.crash(first);
    const gap = await s.runUntil(() => s.holders().some((h) => h !== first), 2000, 'a new holder');
    expect(gap).to.be.at.most(s.timing.leaseDurationMs + s.timing.heartbeatIntervalMs);
    const lease = await s.lease();
    expect(lease.spec?.holderIdentity).to.not.equal(first);
    expect(lease.spec?.leaseTransitions).to.equal(2);
  });

  it('the fencing token grows with every holding, and each holder serves with its own', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b', 'c', 'd']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    for (let round = 0; round < 3; round++) {
      const holder = s.holders()[0]!;
      await s.run(300);
      await s.crash(holder);
      await s.runUntil(() => s.holders().length === 1 && s.holders()[0] !== holder, 2000, `holder after ${holder}`);
    }
    expect(s.referee.tokens).to.deep.equal([1, 2, 3, 4]);
    expect((await s.lease()).spec?.leaseTransitions).to.equal(4);
  });

  it('a holder cut off from the store drops the address before its lease can expire, and no one serves before that', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    const holder = s.nodes.get(s.holders()[0]!)!;
    await s.run(500);
    const lastRenewal = s.clock.now();
    holder.store.mode = 'failing'; // heartbeats still flow: only the store is gone
    await s.runUntil(() => !holder.election.serving, 1000, 'self-fencing');
    const fencedAt = s.clock.now();
    expect(fencedAt - lastRenewal).to.be.at.most(s.timing.leaseDurationMs - s.timing.fenceMarginMs + 5);
    await s.runUntil(() => s.holders().length === 1 && s.holders()[0] !== holder.name, 2000, 'the standby takes over');
    const release = s.referee.history.find((h) => h.node === holder.name && h.op === 'release')!;
    const takeover = s.referee.history.filter((h) => h.op === 'hold').at(-1)!;
    expect(takeover.atMs).to.be.greaterThan(release.atMs);
    // The store comes back: the old holder learns it lost and stays a standby.
    holder.store.mode = 'up';
    await s.run(1000);
    expect(s.holders()).to.deep.equal([takeover.node]);
  });

  it('a holder whose store calls hang fences itself, and only then does a standby take over', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    const holder = s.nodes.get(s.holders()[0]!)!;
    holder.store.mode = 'hanging';
    await s.runUntil(() => s.holders().length === 1 && s.holders()[0] !== holder.name, 2000, 'takeover');
    expect(holder.election.serving).to.equal(false);
  });

  it('without heartbeats (UDP lost), a standby still never takes over from a live holder', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    const holder = s.holders()[0]!;
    s.bus.cut.add('a');
    s.bus.cut.add('b');
    await s.run(3000);
    expect(s.holders()).to.deep.equal([holder]);
    expect((await s.lease()).spec?.leaseTransitions).to.equal(1);
  });

  it('the highest priority takes a free address', async () => {
    s = await new Scenario().init();
    s.priorities = { a: 50, b: 200, c: 100 };
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    expect(s.holders()).to.deep.equal(['b']);
  });

  it('preempt: a higher-priority node that comes up takes over from the holder, handed over at once', async () => {
    s = await new Scenario().init();
    s.priorities = { low: 50, high: 200 };
    s.add('low');
    await s.runUntil(() => s.holders().length === 1, 2000, 'low holds');
    s.add('high');
    await s.runUntil(() => s.holders()[0] === 'high', 3000, 'high preempts');
    const release = s.referee.history.find((h) => h.node === 'low' && h.op === 'release')!;
    const hold = s.referee.history.find((h) => h.node === 'high' && h.op === 'hold')!;
    expect(hold.atMs - release.atMs, 'handover gap').to.be.at.most(s.timing.heartbeatIntervalMs);
    expect((await s.lease()).spec?.leaseTransitions).to.equal(2);
    await s.run(1000);
    expect(s.holders()).to.deep.equal(['high']);
  });

  it('a priorities update moves the address once, straight to the new highest (not via a node whose heartbeat still says the old)', async () => {
    s = await new Scenario().init();
    s.priorities = { a: 200, b: 150, c: 100 };
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders()[0] === 'a', 2000, 'a holds');
    await s.run(1000); // every node has heard every other's heartbeats, priorities included
    const before = (await s.lease()).spec?.leaseTransitions ?? 0;
    const heldBefore = s.referee.history.length;
    s.priorities = { c: 250 }; // kubectl patch: a and b fall back to the default 100
    await s.runUntil(() => s.holders()[0] === 'c', 3000, 'c takes over');
    await s.run(1000);
    expect(s.holders()).to.deep.equal(['c']);
    const holds = s.referee.history.slice(heldBefore).filter((h) => h.op === 'hold').map((h) => h.node);
    expect(holds, 'who held after the update').to.deep.equal(['c']);
    expect((await s.lease()).spec?.leaseTransitions).to.equal(before + 1);
  });

  it('nopreempt (preempt: false): the holder keeps the address when a higher priority comes up', async () => {
    s = await new Scenario().init();
    s.priorities = { low: 50, high: 200 };
    s.preempt = false;
    s.add('low');
    await s.runUntil(() => s.holders().length === 1, 2000, 'low holds');
    s.add('high');
    await s.run(3000);
    expect(s.holders()).to.deep.equal(['low']);
  });

  it('graceful release: a stopping holder drops the address and a standby serves within a heartbeat interval', async () => {
    s = await new Scenario().init();
    for (const n of ['a', 'b', 'c']) s.add(n);
    await s.runUntil(() => s.holders().length === 1, 2000, 'a holder');
    await s.run(300);
    const holder = s.nodes.get(s.holders()[0]!)!;
    const stopping = holder.election.stop();
    await s.run(20);
    await stopping;
    expect(holder.election.serving).to.equal(false);
    const releasedAt = s.referee.history.find((h) => h.node === holder.name && h.op === 'release')!.atMs;
    const gap = await s.runUntil(() => s.holders().length === 1, 1000, 'takeover after release');
    expect(s.clock.now() - releasedAt).to.be.at.most(s.timing.heartbeatIntervalMs);
    expect(gap).to.be.lessThan(s.timing.leaseDurationMs);
    const lease = await s.lease();
    expect(lease.spec?.holderIdentity).to.equal(s.holders()[0]);
    expect(lease.spec?.leaseTransitions).to.equal(2);
    s.nodes.delete(holder.name);
  });

  it('electionTiming refuses a lease too short to renew in time', () => {
    expect(() => electionTiming({ heartbeatIntervalMs: 100, leaseDurationMs: 120 })).to.throw(RangeError);
    expect(electionTiming({ heartbeatIntervalMs: 50 })).to.deep.equal({ heartbeatIntervalMs: 50, leaseDurationMs: 150, fenceMarginMs: 30, missedHeartbeats: 3 });
  });
});
