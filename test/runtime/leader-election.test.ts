/**
 * Leader election, simulated: several electors in one process over one in-memory store, time
 * driven by a FakeClock in small steps. After every step the safety property is checked: at
 * most one elector says it leads, and the Lease names that elector as holder.
 */
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { Lease } from '../../lib/api/kinds.js';
import type { Client } from '../../lib/client/client.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { LeaderElector, type LeaderElectorOptions } from '../../lib/runtime/leader-election.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';

const NAMESPACE = 'kube-system';
const LEASE = 'keelson-controller-manager';
const LEASE_DURATION = 15_000;
const RENEW_DEADLINE = 10_000;
const RETRY_PERIOD = 2_000;
const STEP = 100;

/** A Client whose writes can be made to fail (503) or to wait for a gate. */
class FaultyClient {
  failWrites = false;
  /** Writes go through, but the caller is told they failed (a reply lost on the way back). */
  loseReplies = false;
  gate: Promise<void> | undefined;
  readonly client: Client;

  constructor(inner: Client) {
    const guard = async <T>(write: () => Promise<T>): Promise<T> => {
      if (this.gate) await this.gate;
      if (this.failWrites) throw new ApiError({ code: 503, reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' });
      const result = await write();
      if (this.loseReplies) throw new ApiError({ code: 504, reason: 'Timeout', message: 'the reply was lost' });
      return result;
    };
    this.client = {
      get: (kind, name, options) => inner.get(kind, name, options),
      list: (kind, options) => inner.list(kind, options),
      watch: (kind, options) => inner.watch(kind, options),
      create: (obj, options) => guard(() => inner.create(obj, options)),
      update: (obj, options) => guard(() => inner.update(obj, options)),
      updateStatus: (obj, options) => guard(() => inner.updateStatus(obj, options)),
      patch: (kind, name, patch, options) => guard(() => inner.patch(kind, name, patch, options)),
      delete: (kind, name, options) => guard(() => inner.delete(kind, name, options)),
      close: () => inner.close(),
    };
  }
}

interface Candidate {
  identity: string;
  elector: LeaderElector;
  stop: AbortController;
  done: Promise<void>;
  started: number;
  stopped: number;
  leaderSignal: AbortSignal | undefined;
  newLeaders: string[];
  faults: FaultyClient;
  metrics: Metrics;
}

/** A small seeded PRNG, so the random simulation is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('LeaderElector', () => {
  let clock: FakeClock;
  let client: Client;
  let candidates: Candidate[];

  beforeEach(async () => {
    clock = new FakeClock();
    client = await memoryClient({ clock });
    candidates = [];
  });

  afterEach(async () => {
    for (const c of candidates) c.stop.abort();
    await Promise.all(candidates.map((c) => c.done));
    await client.close();
  });

  function start(identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
    const faults = new FaultyClient(client);
    const metrics = new Metrics();
    const candidate: Candidate = {
      identity,
      stop: new AbortController(),
      started: 0,
      stopped: 0,
      leaderSignal: undefined,
      newLeaders: [],
      faults,
      metrics,
      done: Promise.resolve(),
      elector: undefined as never,
    };
    candidate.elector = new LeaderElector({
      client: faults.client,
      namespace: NAMESPACE,
      name: LEASE,
      identity,
      clock,
      metrics,
      onStartedLeading: (signal) => {
        candidate.started++;
        candidate.leaderSignal = signal;
      },
      onStoppedLeading: () => void candidate.stopped++,
      onNewLeader: (leader) => void candidate.newLeaders.push(leader),
      ...options,
    });
    candidate.done = candidate.elector.run(candidate.stop.signal);
    candidates.push(candidate);
    return candidate;
  }

  async function lease(): Promise<Lease | undefined> {
    try {
      return await client.get(Lease, LEASE, { namespace: NAMESPACE });
    } catch {
      return undefined;
    }
  }

  function leaders(): Candidate[] {
    return candidates.filter((c) => c.elector.isLeader());
  }

  /** The safety property: at most one leader, and the Lease names it. */
  async function checkSafety(): Promise<void> {
    const current = leaders();
    expect(current.map((c) => c.identity), `leaders at ${clock.now()}`).to.have.length.at.most(1);
    if (current.length === 1) expect((await lease())?.spec?.holderIdentity, 'holder of the Lease').to.equal(current[0]!.identity);
  }

  /** Advances time in small steps, checking safety after each, until `done()` or `maxMs`; answers the time taken. */
  async function simulate(maxMs: number, done: () => boolean = () => false, safety = true): Promise<number> {
    const from = clock.now();
    while (clock.now() - from < maxMs && !done()) {
      await clock.advance(STEP);
      if (safety) await checkSafety();
    }
    return clock.now() - from;
  }

  async function firstLeader(): Promise<Candidate> {
    await simulate(60_000, () => leaders().length > 0);
    expect(leaders()).to.have.length(1);
    return leaders()[0]!;
  }

  it('elects exactly one of several candidates, and everyone learns who', async () => {
    start('a');
    start('b');
    start('c');
    const leader = await firstLeader();
    await simulate(60_000);
    expect(leaders()).to.deep.equal([leader]);
    expect(leader.started).to.equal(1);
    for (const c of candidates) {
      expect(c.elector.getLeader()).to.equal(leader.identity);
      expect(c.newLeaders).to.deep.equal([leader.identity]);
    }
  });

  it('writes the Lease as client-go does (holder, duration, MicroTimes, transitions)', async () => {
    const a = start('a');
    await firstLeader();
    const spec = (await lease())!.spec!;
    expect(spec.holderIdentity).to.equal('a');
    expect(spec.leaseDurationSeconds).to.equal(15);
    expect(spec.leaseTransitions).to.equal(0);
    expect(spec.acquireTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const acquired = spec.acquireTime;
    await simulate(5_000);
    const renewed = (await lease())!.spec!;
    expect(renewed.acquireTime).to.equal(acquired);
    expect(Date.parse(renewed.renewTime!)).to.be.greaterThan(Date.parse(acquired!));
    expect(a.elector.isLeader()).to.equal(true);
  });

  it('reports leader_election_master_status 1 for the leader and 0 for the others', async () => {
    start('a');
    start('b');
    const leader = await firstLeader();
    const follower = candidates.find((c) => c !== leader)!;
    expect(await leader.metrics.registry.metrics()).to.include(`leader_election_master_status{name="${LEASE}"} 1`);
    expect(await follower.metrics.registry.metrics()).to.include(`leader_election_master_status{name="${LEASE}"} 0`);
  });

  for (const mode of [
    { title: 'watching the Lease', options: {} },
    { title: 'polling only', options: { watchLease: false, jitterFactor: 0 } },
  ]) {
    describe(`(${mode.title})`, () => {
      it('replaces a crashed leader within leaseDuration + 2 × retryPeriod, never two at once', async () => {
        start('a', { ...mode.options, releaseOnCancel: false });
        start('b', { ...mode.options, releaseOnCancel: false });
        const leader = await firstLeader();
        const follower = candidates.find((c) => c !== leader)!;
        // Crash right after a renewal: the worst moment for the successor.
        await simulate(7_000);
        const renewTime = (await lease())!.spec!.renewTime;
        for (let i = 0; i < 1000 && (await lease())!.spec!.renewTime === renewTime; i++) await clock.advance(10);
        expect((await lease())!.spec!.renewTime).to.not.equal(renewTime);
        leader.stop.abort(); // a crash: the Lease is not released
        await leader.done;
        expect(leader.elector.isLeader()).to.equal(false);
        expect((await lease())!.spec!.holderIdentity).to.equal(leader.identity);
        const takeover = await simulate(60_000, () => follower.elector.isLeader());
        expect(follower.elector.isLeader()).to.equal(true);
        expect(takeover).to.be.at.most(LEASE_DURATION + 2 * RETRY_PERIOD);
        // Not before the Lease expired by the follower's observation of the last renewal.
        expect(takeover).to.be.at.least(LEASE_DURATION - 100);
        expect((await lease())!.spec!.leaseTransitions).to.equal(1);
      });

      it('hands over at once when the leader releases the Lease on shutdown', async () => {
        start('a', mode.options);
        start('b', mode.options);
        const leader = await firstLeader();
        const follower = candidates.find((c) => c !== leader)!;
        await simulate(3_300);
        leader.stop.abort();
        await leader.done;
        expect(leader.stopped).to.equal(1);
        expect(leader.leaderSignal?.aborted).to.equal(true);
        const takeover = await simulate(60_000, () => follower.elector.isLeader());
        expect(takeover).to.be.at.most(RETRY_PERIOD);
        expect(follower.elector.getLeader()).to.equal(follower.identity);
      });
    });
  }

  it('releases by clearing the holder with a 1 s duration', async () => {
    const a = start('a');
    await firstLeader();
    a.stop.abort();
    await a.done;
    const spec = (await lease())!.spec!;
    expect(spec.holderIdentity ?? '').to.equal('');
    expect(spec.leaseDurationSeconds).to.equal(1);
    expect(spec.renewTime).to.match(/\.\d{6}Z$/);
  });

  it('steps down within renewDeadline when it cannot renew, and the other takes over', async () => {
    const a = start('a');
    await firstLeader();
    const b = start('b');
    await simulate(5_000);
    expect(a.elector.isLeader()).to.equal(true);
    a.faults.failWrites = true;
    const failedAt = clock.now();
    const stepDown = await simulate(60_000, () => !a.elector.isLeader());
    expect(stepDown).to.be.at.most(RENEW_DEADLINE);
    expect(a.stopped).to.equal(1);
    expect(a.leaderSignal?.aborted).to.equal(true);
    await simulate(60_000, () => b.elector.isLeader());
    expect(b.elector.isLeader()).to.equal(true);
    expect(clock.now() - failedAt).to.be.at.most(LEASE_DURATION + 2 * RETRY_PERIOD);
    await a.done; // a lost leader's run returns
  });

  it('never makes two leaders when a stale update loses the compare-and-swap', async () => {
    // An expired Lease of a departed holder; both candidates poll at the same instants.
    await client.create<Lease>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NAMESPACE },
      spec: { holderIdentity: 'gone', leaseDurationSeconds: 15, leaseTransitions: 4 },
    });
    const options = { watchLease: false, jitterFactor: 0 };
    const logged: Array<{ msg?: string; err?: { message?: string } }> = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void logged.push(JSON.parse(line)) } });
    const a = start('a', { ...options, logger });
    let releaseGate!: () => void;
    a.faults.gate = new Promise((resolve) => (releaseGate = resolve));
    const b = start('b', options);
    await simulate(60_000, () => b.elector.isLeader());
    // a read the same Lease as b and its update has waited; now it goes out with a stale resourceVersion.
    a.faults.gate = undefined;
    releaseGate();
    await simulate(30_000);
    expect(a.elector.isLeader()).to.equal(false);
    expect(a.started).to.equal(0);
    expect(b.elector.isLeader()).to.equal(true);
    expect(a.elector.getLeader()).to.equal('b');
    expect((await lease())!.spec!.leaseTransitions).to.equal(5);
    expect(logged.some((line) => /has been modified/.test(line.err?.message ?? '')), JSON.stringify(logged)).to.equal(true);
  });

  it('steps down as soon as it sees another holder in the Lease', async () => {
    const a = start('a');
    await firstLeader();
    const current = (await lease())!;
    await client.update<Lease>({ ...current, spec: { ...current.spec, holderIdentity: 'intruder' } });
    const stepDown = await simulate(60_000, () => !a.elector.isLeader(), false);
    expect(stepDown).to.be.at.most(RETRY_PERIOD);
    expect(a.elector.getLeader()).to.equal('intruder');
    await a.done;
  });

  it('does not start leading when stopped before acquiring', async () => {
    await client.create<Lease>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NAMESPACE },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 0 },
    });
    const a = start('a');
    await simulate(5_000);
    a.stop.abort();
    await a.done;
    expect(a.started).to.equal(0);
    expect(a.stopped).to.equal(0);
    expect((await lease())!.spec!.holderIdentity).to.equal('other');
  });

  it('keeps at most one leader through random crashes, releases, write failures and lost replies', async () => {
    const random = mulberry32(20260101);
    const pick = <T>(items: T[]): T | undefined => items[Math.floor(random() * items.length)];
    let next = 0;
    const spawn = () => start(`candidate-${next++}`, { random, releaseOnCancel: random() < 0.5, watchLease: random() < 0.7 });
    for (let i = 0; i < 3; i++) spawn();
    let leaderships = 0;
    for (let round = 0; round < 60; round++) {
      await simulate(Math.floor(random() * 8_000));
      const alive = candidates.filter((c) => !c.stop.signal.aborted);
      const roll = random();
      const target = roll < 0.5 ? (leaders()[0] ?? pick(alive)) : pick(alive);
      if (!target) continue;
      if (roll < 0.3) {
        target.stop.abort(); // crash or graceful stop, per its releaseOnCancel
        await target.done;
        spawn();
      } else if (roll < 0.6) {
        target.faults.failWrites = !target.faults.failWrites;
      } else if (roll < 0.75) {
        target.faults.loseReplies = !target.faults.loseReplies;
      }
      leaderships = candidates.reduce((sum, c) => sum + c.started, 0);
    }
    // Heal everything: someone leads again within leaseDuration + 2 × retryPeriod (+ one renew deadline for a stepping-down leader).
    for (const c of candidates) {
      c.faults.failWrites = false;
      c.faults.loseReplies = false;
    }
    spawn();
    const recovery = await simulate(60_000, () => leaders().length === 1);
    expect(leaders()).to.have.length(1);
    expect(recovery).to.be.at.most(RENEW_DEADLINE + LEASE_DURATION + 2 * RETRY_PERIOD);
    expect(leaderships).to.be.greaterThan(3);
  });

  it('rejects inconsistent durations as client-go does', () => {
    const base = { client, namespace: NAMESPACE, name: LEASE, identity: 'a', onStartedLeading() {}, onStoppedLeading() {} };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).to.throw(/leaseDuration must be greater than renewDeadline/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).to.throw(/renewDeadline must be greater/);
    expect(() => new LeaderElector({ ...base, identity: '' })).to.throw(/identity/);
  });

  it('refuses to run twice at once', async () => {
    const a = start('a');
    await firstLeader();
    let error: unknown;
    await a.elector.run(new AbortController().signal).catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/already running/);
  });
});
