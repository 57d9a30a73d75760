/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's `leaderelection`
 * semantics, through the Client — so it works on every source, an existing cluster included.
 *
 * Candidates read the Lease; the holder renews `renewTime` every retry period. A candidate may
 * take the Lease only once `leaseDurationSeconds` has passed since *it last saw the record
 * change* — a local observation time, so clocks on different machines need not agree. Every
 * write is an update carrying the resourceVersion just read (compare-and-swap): of two
 * candidates racing for an expired Lease, one gets 409 Conflict. A leader that cannot renew for
 * `renewDeadline` (< `leaseDuration`) stops leading before anyone else may take over, so two
 * leaders never coexist. On shutdown the leader releases the Lease so a successor starts at once.
 *
 * Beyond client-go: candidates also watch the Lease, so they see each renewal and a release the
 * moment it is written (polling every jittered retry period remains the fallback), and they wake
 * exactly when the observed Lease expires. A crashed leader is replaced within `leaseDuration`
 * of its last renewal; a released Lease is taken over at once.
 */
import { isNotFound } from '../api/errors.js';
import { Lease } from '../api/kinds.js';
import { formatMicroTime } from '../api/meta.js';
import type { LeaseSpec } from '../api/types/coordination.js';
import type { Client } from '../client/client.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Logger } from './tokens.js';

/** client-go's JitterFactor: a candidate waits retryPeriod × (1 + random × 1.2) between attempts. */
export const JITTER_FACTOR = 1.2;

/** Options of {@link LeaderElector}; durations in milliseconds, defaults are client-go's. */
export interface LeaderElectorOptions {
  /** Reads, watches and writes the Lease. */
  client: Client;
  /** Namespace and name of the Lease. */
  namespace: string;
  name: string;
  /** This candidate's identity, unique among candidates (e.g. hostname + random suffix). */
  identity: string;
  /** How long a Lease is valid after a candidate last saw it change (default 15 s, whole seconds on the wire, rounded up). */
  leaseDurationMs?: number;
  /** The leader stops leading if it could not renew for this long (default 10 s; < leaseDuration). */
  renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  /** Candidates wait retryPeriod × (1 + random × jitterFactor) between attempts (default {@link JITTER_FACTOR}). */
  jitterFactor?: number;
  /** Watch the Lease while a candidate, to react to renewals and releases at once (default true). */
  watchLease?: boolean;
  /** Time source of every timer and timestamp (default the system clock). */
  clock?: Clock;
  /** Release the Lease when `run`'s signal aborts, so a successor need not wait (default true). */
  releaseOnCancel?: boolean;
  /** Called once leading; `signal` aborts when leadership is lost or the elector stops. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called once when leadership ends (only after onStartedLeading). */
  onStoppedLeading(): void;
  /** Called when the observed holder changes to a new, non-empty identity (this one included). */
  onNewLeader?(identity: string): void;
  /** Sets `leader_election_master_status{name}` to 1 while leading, 0 otherwise. */
  metrics?: Metrics;
  /** Where acquisitions, renewal failures and step-downs are logged (default: nowhere). */
  logger?: Logger;
  /** Source of randomness for jitter (tests make it deterministic); default Math.random. */
  random?: () => number;
}

/** A candidate for leadership of one Lease (client-go's LeaderElector). */
export class LeaderElector {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly jitterFactor: number;
  private readonly description: string;

  /** The Lease as last read or written (its resourceVersion is the CAS token of the next write). */
  private observedLease: Lease | undefined;
  /** The record part of that Lease, compared to notice changes. */
  private observedRecord = '';
  /** When this elector last saw the record change (its own clock). */
  private observedTime = 0;
  private reportedLeader = '';
  private leading = false;
  private running = false;
  /** Set by the Lease watch; a candidate with it set retries at once instead of sleeping. */
  private leaseChanged = false;
  private wakeCandidate: AbortController | undefined;
  private renewDeadline: TimerHandle | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.jitterFactor = options.jitterFactor ?? JITTER_FACTOR;
    this.description = `${options.namespace}/${options.name}`;
    if (!options.identity) throw new TypeError('leader election: identity must not be empty');
    if (!options.namespace || !options.name) throw new TypeError('leader election: the Lease needs a namespace and a name');
    if (leaseDurationMs < 1000) throw new TypeError('leader election: leaseDuration must be at least 1 s');
    if (leaseDurationMs <= this.renewDeadlineMs) throw new TypeError('leader election: leaseDuration must be greater than renewDeadline');
    if (this.retryPeriodMs <= 0) throw new TypeError('leader election: retryPeriod must be positive');
    if (this.renewDeadlineMs <= this.jitterFactor * this.retryPeriodMs) {
      throw new TypeError('leader election: renewDeadline must be greater than retryPeriod × jitterFactor');
    }
    // Rounded up, so the duration others wait is never shorter than the one configured here.
    this.leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
  }

  /** True while this elector leads: from acquiring the Lease until leadership is lost or given up. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder identity last observed in the Lease ('' if none yet, or released). */
  getLeader(): string {
    return this.observedLease?.spec?.holderIdentity ?? '';
  }

  /**
   * Campaigns until leading, leads until leadership is lost or `signal` aborts, then returns
   * (as client-go's Run: a lost leader does not campaign again — start a new run to do so).
   * With `releaseOnCancel` the Lease is released on the way out.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`leader election on ${this.description} is already running`);
    this.running = true;
    this.setStatusMetric(0);
    try {
      if (await this.acquire(signal)) await this.lead(signal);
    } finally {
      this.running = false;
    }
  }

  /** Tries every (jittered) retry period until the Lease is ours; false if `signal` aborted first. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.logger.info(`attempting to acquire leader lease ${this.description}...`);
    const stopWatch = new AbortController();
    const watching = this.options.watchLease === false ? Promise.resolve() : this.watchLease(AbortSignal.any([signal, stopWatch.signal]));
    try {
      for (;;) {
        if (signal.aborted) return false;
        this.leaseChanged = false;
        const acquired = await this.tryAcquireOrRenew();
        this.maybeReportTransition();
        if (acquired) return true;
        if (this.leaseChanged) continue;
        const jittered = this.retryPeriodMs * (1 + (this.options.random ?? Math.random)() * this.jitterFactor);
        const untilExpiry = this.observedTime + this.observedDurationMs() - this.clock.now();
        await this.sleepAsCandidate(untilExpiry > 0 ? Math.min(jittered, untilExpiry) : jittered, signal);
      }
    } finally {
      stopWatch.abort();
      await watching;
    }
  }

  /** Leads: renews every retry period until the renew deadline passes, the Lease is lost, or `signal` aborts. */
  private async lead(signal: AbortSignal): Promise<void> {
    const releaseOnCancel = this.options.releaseOnCancel ?? true;
    if (signal.aborted) {
      // Stopped while the winning write was in flight: never start leading.
      if (releaseOnCancel) await this.release();
      return;
    }
    const term = new AbortController();
    const stop = () => this.stopLeading(term);
    this.leading = true;
    this.setStatusMetric(1);
    this.logger.info(`successfully acquired lease ${this.description}`);
    this.armRenewDeadline(this.clock.now(), term);
    signal.addEventListener('abort', stop, { once: true });
    try {
      Promise.resolve()
        .then(() => this.options.onStartedLeading(term.signal))
        .catch((err: unknown) => this.logger.error({ err }, 'onStartedLeading failed'));
      while (!term.signal.aborted) {
        try {
          await this.clock.sleep(this.retryPeriodMs, term.signal);
        } catch {
          break;
        }
        const attemptAt = this.clock.now();
        const renewed = await this.tryAcquireOrRenew();
        if (term.signal.aborted) break;
        this.maybeReportTransition();
        if (renewed) {
          this.armRenewDeadline(attemptAt, term);
        } else if (this.getLeader() !== '' && this.getLeader() !== this.options.identity) {
          this.logger.info(`lease ${this.description} is now held by ${this.getLeader()}`);
          break;
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      stop();
    }
    if (releaseOnCancel) await this.release();
  }

  /** The renew deadline counts from the start of the last successful attempt: the earliest renewTime others can see. */
  private armRenewDeadline(attemptAt: number, term: AbortController): void {
    this.renewDeadline?.cancel();
    this.renewDeadline = this.clock.setTimeout(() => {
      this.logger.error(`failed to renew lease ${this.description}: renew deadline of ${this.renewDeadlineMs} ms exceeded`);
      this.stopLeading(term);
    }, attemptAt + this.renewDeadlineMs - this.clock.now());
  }

  /** Ends leadership at once (idempotent): status, the leader's signal, onStoppedLeading. */
  private stopLeading(term: AbortController): void {
    this.renewDeadline?.cancel();
    this.renewDeadline = undefined;
    if (!this.leading) return;
    this.leading = false;
    this.setStatusMetric(0);
    this.logger.info(`stopped leading ${this.description}`);
    term.abort();
    try {
      this.options.onStoppedLeading();
    } catch (err) {
      this.logger.error({ err }, 'onStoppedLeading failed');
    }
  }

  /**
   * One attempt (client-go's tryAcquireOrRenew): the leader first updates the Lease it knows
   * (fast path); otherwise read it — create it if absent, leave it if another holds it and it
   * has not expired by our observation — and update it with the resourceVersion just read.
   */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const identity = this.options.identity;
    const desired = (current: LeaseSpec | undefined): LeaseSpec => {
      const renewing = current?.holderIdentity === identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseDurationSeconds,
        acquireTime: renewing && current?.acquireTime ? current.acquireTime : formatMicroTime(now),
        renewTime: formatMicroTime(now),
        leaseTransitions: renewing ? (current?.leaseTransitions ?? 0) : (current?.leaseTransitions ?? -1) + 1,
      };
    };
    if (this.leading && this.observedLease && this.isLeaseValid(now)) {
      if (await this.write(() => this.options.client.update<Lease>({ ...this.observedLease, spec: desired(this.observedLease!.spec) }), 'update lease optimistically')) return true;
    }
    let current: Lease;
    try {
      current = await this.options.client.get(Lease, this.options.name, { namespace: this.options.namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.logger.error({ err }, `error retrieving lease ${this.description}`);
        return false;
      }
      const lease: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.options.name, namespace: this.options.namespace }, spec: desired(undefined) };
      return this.write(() => this.options.client.create(lease), 'create lease');
    }
    this.observe(current);
    const holder = current.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && this.isLeaseValid(this.clock.now())) return false;
    return this.write(() => this.options.client.update<Lease>({ ...current, spec: desired(current.spec) }), 'update lease');
  }

  /** Performs a write of the Lease; on success the written Lease becomes the observed one. */
  private async write(perform: () => Promise<Lease>, what: string): Promise<boolean> {
    try {
      this.observe(await perform());
      return true;
    } catch (err) {
      this.logger.warn({ err }, `failed to ${what} ${this.description}`);
      return false;
    }
  }

  /** Gives the Lease up (client-go's release): holder cleared, duration 1 s, so a successor need not wait. */
  private async release(): Promise<void> {
    const lease = this.observedLease;
    if (!lease || lease.spec?.holderIdentity !== this.options.identity) return;
    const now = formatMicroTime(this.clock.now());
    const spec: LeaseSpec = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec.leaseTransitions ?? 0 };
    if (await this.write(() => this.options.client.update<Lease>({ ...lease, spec }), 'release lease')) {
      this.logger.info(`released lease ${this.description}`);
    }
  }

  /** Records a Lease read or written; the observation time moves only when the record changed. */
  private observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity ?? '', spec.leaseDurationSeconds ?? 0, spec.acquireTime ?? '', spec.renewTime ?? '', spec.leaseTransitions ?? 0]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedTime = this.clock.now();
    }
    this.observedLease = lease;
  }

  private observedDurationMs(): number {
    return (this.observedLease?.spec?.leaseDurationSeconds ?? 0) * 1000;
  }

  /** Valid while less than its duration has passed since we saw the record change. */
  private isLeaseValid(now: number): boolean {
    return this.observedTime + this.observedDurationMs() > now;
  }

  /** Reports a new leader once per change of holder (client-go's maybeReportTransition). */
  private maybeReportTransition(): void {
    const holder = this.getLeader();
    if (holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    if (holder === '' || !this.options.onNewLeader) return;
    try {
      this.options.onNewLeader(holder);
    } catch (err) {
      this.logger.error({ err }, 'onNewLeader failed');
    }
  }

  /** Sleeps as a candidate; a change seen by the Lease watch ends the sleep early. */
  private async sleepAsCandidate(ms: number, signal: AbortSignal): Promise<void> {
    const wake = new AbortController();
    this.wakeCandidate = wake;
    try {
      await this.clock.sleep(ms, AbortSignal.any([signal, wake.signal]));
    } catch {
      // Woken or stopped: the loop looks at the signal.
    } finally {
      this.wakeCandidate = undefined;
    }
  }

  /** Watches the Lease while a candidate; restarts after a retry period when the watch ends or fails. */
  private async watchLease(signal: AbortSignal): Promise<void> {
    const { client, namespace, name } = this.options;
    while (!signal.aborted) {
      try {
        for await (const event of client.watch(Lease, { namespace, fieldSelector: `metadata.name=${name}`, signal })) {
          if (event.type === 'ERROR') break;
          if (event.type === 'BOOKMARK') continue;
          this.leaseChanged = true;
          this.wakeCandidate?.abort();
        }
      } catch (err) {
        if (!signal.aborted) this.logger.debug({ err }, `watch of lease ${this.description} failed`);
      }
      try {
        await this.clock.sleep(this.retryPeriodMs, signal);
      } catch {
        return;
      }
    }
  }

  private setStatusMetric(value: 0 | 1): void {
    this.options.metrics?.leaderElectionStatus.labels({ name: this.options.name }).set(value);
  }
}
