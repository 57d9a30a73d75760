/**
 * One node's part in the election of one VirtualIP's holder — with fencing, so that two nodes
 * never serve the address at once, and with heartbeats, so that a dead holder is replaced in a
 * few hundred milliseconds.
 *
 * **The Lease decides** (`lease-record.ts`). A node holds the address only while it holds the
 * VIP's Lease, which it takes and renews by compare-and-swap. Its right lasts `leaseDurationMs`
 * (300 ms by default) from the *start* of its last successful renewal, and it renews every
 * `heartbeatIntervalMs` (100 ms). Each acquisition increments the fencing token.
 *
 * **The holder fences itself.** It stops serving `fenceMarginMs` before its right ends unless a
 * renewal succeeded meanwhile: a holder cut off from the store drops the address by itself, and
 * the announcer stops on its own too if the election does not extend it in time (a second,
 * independent timer — for arp, in another process). A renewal that fails with a conflict means
 * another node took over: the holder drops the address at once.
 *
 * **A standby takes over only when the holder is certainly gone.** It counts the holder's right
 * from moments it *observed* after the holder wrote (the answer to its own read, or a heartbeat's
 * arrival plus the `remainingMs` it carries), never from a timestamp written on another
 * machine's clock — so the standby's moment comes after the holder's own deadline, whatever the
 * clocks say. Then it compare-and-swaps the version it knows: if the holder renewed meanwhile,
 * that fails, it reads again and waits again. Heartbeats make a standby learn the latest version
 * and deadline within one datagram, and `released` lets it take over at once; without them
 * (UDP lost) it still works, through reads of the Lease, only slower.
 *
 * **Who goes first** when the address is free: the node the last holder stepped down for, then
 * the highest priority, then the name; a node waits one heartbeat interval per live candidate
 * before it (VRRP's skew time, in ranks). A new participant listens for `missedHeartbeats`
 * intervals before contending, to learn who is alive. **Preemption**: a holder that hears, for
 * `missedHeartbeats` intervals, a standby with a higher priority steps down for it (releasing
 * the address first) when the VirtualIP's `preempt` is true (VRRP's default; false is
 * `nopreempt`).
 */
import { isAlreadyExists, isConflict, isNotFound, Lease, type Client, type Clock, type Logger, type OwnerReference, type TimerHandle, Wakeup } from '../../lib/index.js';
import type { Announcer } from './announcer.js';
import type { Heartbeat, HeartbeatTransport } from './heartbeat.js';
import { acquiredLease, leaseView, releasedLease, renewedLease, VIP_LEASE_NAMESPACE, vipLeaseName, type LeaseView } from './lease-record.js';

/** The timing of an election; see {@link electionTiming} for the defaults. */
export interface ElectionTiming {
  /** How often heartbeats are sent and the holder renews its Lease (default 100 ms). */
  heartbeatIntervalMs: number;
  /** How long a renewal gives the holder the right to serve (default 3 heartbeat intervals). */
  leaseDurationMs: number;
  /** The holder stops serving this long before its right ends, if not renewed (default a fifth of the lease, at least 20 ms). */
  fenceMarginMs: number;
  /** A peer not heard for this many intervals is presumed gone (default 3). */
  missedHeartbeats: number;
}

/** Fills in the defaults of {@link ElectionTiming} and checks that the numbers can work. */
export function electionTiming(partial: Partial<ElectionTiming> = {}): ElectionTiming {
  const heartbeatIntervalMs = partial.heartbeatIntervalMs ?? 100;
  const leaseDurationMs = partial.leaseDurationMs ?? 3 * heartbeatIntervalMs;
  const fenceMarginMs = partial.fenceMarginMs ?? Math.max(20, Math.round(leaseDurationMs / 5));
  const missedHeartbeats = partial.missedHeartbeats ?? 3;
  if (!(heartbeatIntervalMs > 0)) throw new RangeError('heartbeatIntervalMs must be greater than 0');
  if (leaseDurationMs - fenceMarginMs <= heartbeatIntervalMs) {
    throw new RangeError(`leaseDurationMs (${leaseDurationMs}) minus fenceMarginMs (${fenceMarginMs}) must exceed heartbeatIntervalMs (${heartbeatIntervalMs}): the holder could never renew in time`);
  }
  if (!(missedHeartbeats >= 1)) throw new RangeError('missedHeartbeats must be at least 1');
  return { heartbeatIntervalMs, leaseDurationMs, fenceMarginMs, missedHeartbeats };
}

/** Where an election stands. */
export type ElectionState = 'new' | 'listening' | 'standby' | 'holding' | 'stopped';

/** A change of holding, for the status and for logs. */
export interface HoldingChange {
  /** `holding`: this node now serves the address; `standby`: it stopped. */
  state: 'holding' | 'standby';
  /** The fencing token of the holding that started or ended. */
  token: number;
  /** When (ms, this node's clock). */
  atMs: number;
  /** Why it stopped: `released`, `preempted`, `lost`, `fenced`. */
  reason?: string;
}

/** Options of a {@link VipElection}. */
export interface VipElectionOptions {
  /** The VirtualIP's name. */
  vipName: string;
  /** The VirtualIP's uid: the Lease gets an ownerReference to it (deleted with it). */
  vipUid?: string;
  /** This node. */
  nodeName: string;
  client: Client;
  clock: Clock;
  logger: Logger;
  announcer: Announcer;
  transport: HeartbeatTransport;
  timing: ElectionTiming;
  /** A node's priority for this VirtualIP (from its current spec). */
  priorityOf: (nodeName: string) => number;
  /** Whether the VirtualIP's current spec allows preemption. */
  preempt: () => boolean;
  /** Told of every change of this node's holding (after the address is up, or down). */
  onChange?: (change: HoldingChange) => void;
}

interface PeerView {
  state: Heartbeat['state'];
  priority: number;
  firstHeardMs: number;
  lastHeardMs: number;
  incarnation: string;
  seq: number;
}

/** One node's part in one VirtualIP's election (see the file header). */
export class VipElection {
  private stateValue: ElectionState = 'new';
  /** The last Lease known (its resourceVersion possibly learned from a heartbeat); undefined: read it. */
  private lease: Lease | undefined;
  /** When the holder named in {@link lease} is certainly not serving any more (this node's clock). */
  private expiresAtMs = 0;
  /** True when the last read found no Lease (and none was learned of since). */
  private leaseAbsent = false;
  /** When the Lease was seen free (released or absent), this node's clock. */
  private freeSinceMs = 0;
  /** The highest fencing token seen. */
  private highestToken = 0;
  /** This node's holding: its token, and when its right ends unless renewed. */
  private myToken = 0;
  private deadlineMs = 0;
  private sinceMs = 0;
  private announced = false;
  /** An announcer `hold` is queued or running. */
  private announcePending = false;
  private fenceTimer: TimerHandle | undefined;
  /** Announcer calls, one at a time, in order. */
  private announcing: Promise<void> = Promise.resolve();
  private readonly peers = new Map<string, PeerView>();
  private readonly incarnation = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  private seq = 0;
  private readonly loopAbort = new AbortController();
  private loop: Promise<void> | undefined;
  /** The loop's sleep between ticks, cut short by news (a released lease, an expiry due). */
  private readonly wakeup: Wakeup;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: VipElectionOptions) {
    this.wakeup = new Wakeup(options.clock);
  }

  /** Where the election stands. */
  get state(): ElectionState {
    return this.stateValue;
  }

  /** True while this node serves the address (holding, and not fenced). */
  get serving(): boolean {
    return this.stateValue === 'holding' && this.announced;
  }

  /** The fencing token of this node's current or last holding (0: never held). */
  get token(): number {
    return this.myToken;
  }

  /** Starts listening, then contending. */
  start(): void {
    if (this.stateValue !== 'new') throw new Error(`election of ${this.options.vipName} starts once`);
    this.stateValue = 'listening';
    this.unsubscribe = this.options.transport.subscribe((hb) => this.onHeartbeat(hb));
    this.loop = this.run(this.loopAbort.signal).catch((err: unknown) => this.options.logger.error({ err, vip: this.options.vipName }, 'VIP election loop failed'));
  }

  /**
   * Stops: a holder drops the address first, then releases the Lease and tells the others, so
   * one of them takes over at once. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.loopAbort.abort();
    this.wakeup.wake();
    await this.loop;
    if (this.stateValue === 'holding') await this.release('released');
    this.stateValue = 'stopped';
    this.unsubscribe?.();
    await this.announcing;
  }

  private get vip(): string {
    return this.options.vipName;
  }

  private get me(): string {
    return this.options.nodeName;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { clock, timing } = this.options;
    const listenUntil = clock.now() + timing.missedHeartbeats * timing.heartbeatIntervalMs;
    while (!signal.aborted) {
      const tickStart = clock.now();
      if (this.stateValue === 'listening' && tickStart >= listenUntil) this.stateValue = 'standby';
      try {
        if (this.stateValue === 'holding') await this.renew();
        else if (this.stateValue === 'standby') await this.contend();
      } catch (err) {
        this.options.logger.warn({ err, vip: this.vip }, 'VIP election step failed; will retry');
      }
      if (signal.aborted) break;
      this.sendHeartbeat();
      await this.wakeup.sleep(this.nextDelay(tickStart), signal);
    }
  }

  /** Until the next step: one interval, or less when a takeover is due sooner. */
  private nextDelay(tickStart: number): number {
    const { clock, timing } = this.options;
    const now = clock.now();
    const interval = Math.max(0, tickStart + timing.heartbeatIntervalMs - now);
    if (this.stateValue !== 'standby' || (!this.lease && !this.leaseAbsent)) return interval;
    const due = this.takeoverAt(this.lease ? leaseView(this.lease, timing.leaseDurationMs) : { holder: '', token: 0, durationMs: timing.leaseDurationMs, resourceVersion: '' });
    return Math.max(0, Math.min(interval, due - now));
  }

  /** When this node may try to take the Lease (this node's clock). */
  private takeoverAt(view: LeaseView): number {
    const free = view.holder === '' ? this.freeSinceMs : this.expiresAtMs;
    return free + this.rank(view) * this.options.timing.heartbeatIntervalMs;
  }

  /** This node's place among the live candidates for a free address (0 = first). */
  private rank(view: LeaseView): number {
    const { clock, timing } = this.options;
    const aliveSince = clock.now() - timing.missedHeartbeats * timing.heartbeatIntervalMs;
    const candidates = [{ node: this.me, priority: this.options.priorityOf(this.me) }];
    for (const [node, peer] of this.peers) {
      // Priorities from the spec this node sees, not the peer's heartbeat: one just changed by an
      // update reaches every node with the update; a heartbeat would carry the old one a while.
      if (peer.lastHeardMs >= aliveSince && peer.state === 'standby' && node !== view.holder) candidates.push({ node, priority: this.options.priorityOf(node) });
    }
    candidates.sort((a, b) => Number(b.node === view.preferredHolder) - Number(a.node === view.preferredHolder) || b.priority - a.priority || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    return candidates.findIndex((c) => c.node === this.me);
  }

  // ---- standby ----

  private async contend(): Promise<void> {
    const { clock, timing } = this.options;
    if (!this.lease && !this.leaseAbsent) await this.read();
    const lease = this.lease;
    const view: LeaseView = lease ? leaseView(lease, timing.leaseDurationMs) : { holder: '', token: 0, durationMs: timing.leaseDurationMs, resourceVersion: '' };
    if (clock.now() < this.takeoverAt(view)) return;
    if (lease) await this.acquire(lease);
    else await this.create();
  }

  /** Reads the Lease; a missing one counts as free from now. */
  private async read(): Promise<void> {
    const { client, clock } = this.options;
    try {
      this.observe(await client.get(Lease, vipLeaseName(this.vip), { namespace: VIP_LEASE_NAMESPACE }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.leaseAbsent = true;
      this.freeSinceMs = clock.now();
    }
  }

  /** Creates the Lease, holding it (the first holding ever: token 1). */
  private async create(): Promise<void> {
    const { client, clock, timing } = this.options;
    const startMs = clock.now();
    try {
      const created = await client.create<Lease>(this.withOwner(acquiredLease(undefined, this.vip, this.me, startMs, timing.leaseDurationMs)));
      this.leaseAbsent = false;
      await this.becomeHolder(created, startMs);
    } catch (err) {
      this.leaseAbsent = false;
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /** Records a Lease read from the store: its version was written before now. */
  private observe(lease: Lease): void {
    const { clock, timing } = this.options;
    const now = clock.now();
    const view = leaseView(lease, timing.leaseDurationMs);
    const known = this.lease ? leaseView(this.lease, timing.leaseDurationMs) : undefined;
    this.leaseAbsent = false;
    this.highestToken = Math.max(this.highestToken, view.token);
    if (known?.resourceVersion === view.resourceVersion && known.holder === view.holder) {
      this.lease = lease;
      return;
    }
    this.lease = lease;
    this.expiresAtMs = now + view.durationMs;
    if (view.holder === '') this.freeSinceMs = now;
  }

  private async acquire(current: Lease): Promise<void> {
    const { client, clock, logger, timing } = this.options;
    const startMs = clock.now();
    let won: Lease;
    try {
      won = await client.update<Lease>(this.withOwner(acquiredLease(current, this.vip, this.me, startMs, timing.leaseDurationMs)));
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        // Renewed, released or taken meanwhile: read it again.
        logger.debug({ vip: this.vip }, 'VIP lease changed before takeover; reading it again');
        this.lease = undefined;
        return;
      }
      throw err;
    }
    await this.becomeHolder(won, startMs);
  }

  private async becomeHolder(lease: Lease, startMs: number): Promise<void> {
    const { timing, logger } = this.options;
    const view = leaseView(lease, timing.leaseDurationMs);
    this.lease = lease;
    this.myToken = view.token;
    this.highestToken = Math.max(this.highestToken, view.token);
    this.stateValue = 'holding';
    this.sinceMs = startMs;
    this.deadlineMs = startMs + timing.leaseDurationMs;
    this.armFence();
    this.sendHeartbeat();
    logger.info({ vip: this.vip, token: view.token, announcer: this.options.announcer.description }, 'took the VIP');
    this.announce();
  }

  private withOwner(lease: Lease): Lease {
    if (!this.options.vipUid) return lease;
    const owner: OwnerReference = { apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP', name: this.vip, uid: this.options.vipUid };
    return { ...lease, metadata: { ...lease.metadata, ownerReferences: [owner] } };
  }

  // ---- holder ----

  private async renew(): Promise<void> {
    const { client, clock, logger, timing } = this.options;
    const lease = this.lease;
    if (!lease) return this.lose('lost');
    const startMs = clock.now();
    let renewed: Lease;
    try {
      renewed = await client.update<Lease>(renewedLease(lease, startMs));
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        logger.warn({ vip: this.vip, token: this.myToken }, 'VIP lease taken or deleted by another: dropping the address');
        return this.lose('lost');
      }
      logger.warn({ err, vip: this.vip, token: this.myToken, fenceInMs: this.deadlineMs - timing.fenceMarginMs - clock.now() }, 'failed to renew the VIP lease');
      return;
    }
    if (this.stateValue !== 'holding' || this.lease !== lease) return; // lost meanwhile
    this.lease = renewed;
    this.deadlineMs = startMs + timing.leaseDurationMs;
    this.armFence();
    if (this.announced) this.options.announcer.extend(this.myToken, this.holdForMs());
    else if (!this.announcePending && this.holdForMs() > 0) {
      logger.info({ vip: this.vip, token: this.myToken }, 'VIP lease renewed again after self-fencing: serving the address again');
      this.announce();
    }
    const preferred = this.preemptor();
    if (preferred) {
      logger.info({ vip: this.vip, token: this.myToken, preferred }, 'a higher-priority node is alive: stepping down for it');
      await this.release('preempted', preferred);
    }
  }

  /** How long the announcer may serve from now without another extension. */
  private holdForMs(): number {
    return this.deadlineMs - this.options.timing.fenceMarginMs - this.options.clock.now();
  }

  private armFence(): void {
    this.fenceTimer?.cancel();
    this.fenceTimer = this.options.clock.setTimeout(() => this.fence(), this.holdForMs());
  }

  /** The right to serve ran out without a renewal: stop serving now (the Lease may still say us). */
  private fence(): void {
    if (this.stateValue !== 'holding' || !this.announced) return;
    this.options.logger.warn({ vip: this.vip, token: this.myToken }, 'could not renew the VIP lease in time: self-fencing (dropping the address)');
    this.unannounce('fenced');
  }

  /**
   * Brings the address up, in the background: the renewals go on meanwhile (bringing it up may
   * take longer than a renewal interval). Once up, it is kept only if the right still holds.
   */
  private announce(): void {
    const { announcer, logger, onChange } = this.options;
    if (this.announced || this.announcePending) return;
    this.announcePending = true;
    const token = this.myToken;
    const current = () => this.stateValue === 'holding' && this.myToken === token && this.holdForMs() > 0;
    this.announcing = this.announcing.then(async () => {
      try {
        if (!current()) return;
        try {
          await announcer.hold(token, this.holdForMs());
        } catch (err) {
          logger.error({ err, vip: this.vip, token }, `cannot announce ${announcer.description}: stepping down`);
          this.fenceTimer?.cancel();
          this.stateValue = 'standby';
          this.lease = undefined;
          await announcer.release();
          return;
        }
        // The right may have ended, or the Lease been lost, while the address came up.
        if (!current()) {
          await announcer.release();
          return;
        }
        announcer.extend(token, this.holdForMs());
        this.announced = true;
        onChange?.({ state: 'holding', token, atMs: this.sinceMs });
      } finally {
        this.announcePending = false;
      }
    });
  }

  private unannounce(reason: string): Promise<void> {
    const { announcer, clock, onChange } = this.options;
    const wasAnnounced = this.announced;
    this.announced = false;
    const token = this.myToken;
    this.announcing = this.announcing.then(async () => {
      await announcer.release();
      if (wasAnnounced) onChange?.({ state: 'standby', token, atMs: clock.now(), reason });
    });
    return this.announcing;
  }

  /** Lost the Lease to another node: drop the address at once. */
  private async lose(reason: string): Promise<void> {
    this.fenceTimer?.cancel();
    this.stateValue = 'standby';
    this.lease = undefined;
    await this.unannounce(reason);
  }

  /** Steps down: the address goes first, then the Lease is released, then the others are told. */
  private async release(reason: string, preferredHolder?: string): Promise<void> {
    const { client, clock, logger, timing } = this.options;
    this.fenceTimer?.cancel();
    this.stateValue = this.loopAbort.signal.aborted ? 'stopped' : 'standby';
    await this.unannounce(reason);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    try {
      const released = await client.update<Lease>(releasedLease(lease, clock.now(), timing.leaseDurationMs, preferredHolder));
      this.observe(released);
      this.sendHeartbeat('released', released.metadata?.resourceVersion);
    } catch (err) {
      // It expires by itself; the others wait for that.
      logger.warn({ err, vip: this.vip }, 'could not release the VIP lease; it will expire');
    }
  }

  /** A live standby with a higher priority, heard long enough, when preemption is on. */
  private preemptor(): string | undefined {
    const { clock, timing } = this.options;
    if (!this.options.preempt()) return undefined;
    const now = clock.now();
    const window = timing.missedHeartbeats * timing.heartbeatIntervalMs;
    const mine = this.options.priorityOf(this.me);
    let best: { node: string; priority: number } | undefined;
    for (const [node, peer] of this.peers) {
      if (peer.state !== 'standby' || peer.lastHeardMs < now - window || now - peer.firstHeardMs < window) continue;
      const priority = this.options.priorityOf(node); // from the spec, as in rank()
      if (priority > mine && (!best || priority > best.priority || (priority === best.priority && node < best.node))) best = { node, priority };
    }
    return best?.node;
  }

  // ---- heartbeats ----

  private sendHeartbeat(state?: Heartbeat['state'], resourceVersion?: string): void {
    const { clock, transport } = this.options;
    const holding = this.stateValue === 'holding';
    const hb: Heartbeat = {
      vip: this.vip,
      node: this.me,
      state: state ?? (holding ? 'holding' : 'standby'),
      priority: this.options.priorityOf(this.me),
      token: holding || state === 'released' ? this.myToken : this.highestToken,
      seq: ++this.seq,
      incarnation: this.incarnation,
    };
    const rv = resourceVersion ?? (holding ? this.lease?.metadata?.resourceVersion : undefined);
    if (rv) hb.resourceVersion = rv;
    if (holding && !state) hb.remainingMs = Math.max(0, this.deadlineMs - clock.now());
    transport.send(hb);
  }

  private onHeartbeat(hb: Heartbeat): void {
    if (hb.vip !== this.vip || hb.node === this.me || this.stateValue === 'stopped') return;
    const { clock, timing } = this.options;
    const now = clock.now();
    const window = timing.missedHeartbeats * timing.heartbeatIntervalMs;
    const previous = this.peers.get(hb.node);
    if (previous && previous.incarnation === hb.incarnation && hb.seq <= previous.seq) return; // reordered
    const continuous = previous && now - previous.lastHeardMs <= window && previous.state === hb.state;
    this.peers.set(hb.node, { state: hb.state, priority: hb.priority, firstHeardMs: continuous ? previous.firstHeardMs : now, lastHeardMs: now, incarnation: hb.incarnation, seq: hb.seq });
    if (hb.state === 'standby' || hb.token < this.highestToken) return;
    this.highestToken = hb.token;
    if (this.stateValue === 'holding') {
      if (hb.token > this.myToken) {
        // Someone holds a later token: our Lease is gone whatever we believe.
        this.options.logger.warn({ vip: this.vip, token: this.myToken, other: hb.node, otherToken: hb.token }, 'another node holds a later token: dropping the address');
        void this.lose('lost');
      }
      return;
    }
    if (hb.state === 'released') {
      // Read the Lease now (a datagram alone never frees it) and try at once.
      this.lease = undefined;
      this.wakeup.wake();
      return;
    }
    if (!hb.resourceVersion) return;
    const remaining = Math.min(hb.remainingMs ?? timing.leaseDurationMs, timing.leaseDurationMs);
    const known = this.lease ? leaseView(this.lease, timing.leaseDurationMs) : undefined;
    if (known && known.resourceVersion === hb.resourceVersion && known.holder === hb.node) {
      this.expiresAtMs = Math.min(this.expiresAtMs, now + remaining);
    } else {
      this.lease = leaseFromHeartbeat(this.lease, this.vip, hb);
      this.leaseAbsent = false;
      this.expiresAtMs = now + remaining;
    }
    if (this.expiresAtMs <= now + timing.heartbeatIntervalMs) this.wakeup.wake();
  }
}

/** The Lease as a holder's heartbeat describes it: enough to compare-and-swap its version. */
function leaseFromHeartbeat(known: Lease | undefined, vipName: string, hb: Heartbeat): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { ...(known?.metadata ?? { name: vipLeaseName(vipName), namespace: VIP_LEASE_NAMESPACE }), resourceVersion: hb.resourceVersion! },
    spec: { ...(known?.spec ?? {}), holderIdentity: hb.node, leaseTransitions: hb.token },
  };
}
