/**
 * kube's RateLimitedTimedQueue: node names waiting to be acted on (tainted NoExecute), handed
 * out no faster than a token bucket allows — one queue per zone, so a failing zone is evicted at
 * a bounded pace and a disrupted one not at all. Time comes from the injected Clock.
 */
import type { Clock } from '../../lib/index.js';

/**
 * A token bucket (client-go's `NewTokenBucketRateLimiter`): `qps` tokens a second, at most
 * `burst` saved up, full at the start. A `qps` of 0 never accepts (kube's "never" limiter).
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    /** Tokens per second; 0 (or less) stops everything. */
    readonly qps: number,
    /** The most tokens saved up (kube uses 1 for evictions). */
    readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = qps > 0 ? burst : 0;
    this.refilledAt = clock.now();
  }

  /** Takes a token if one is there. */
  tryAccept(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is there (0 now, Infinity never). */
  msUntilToken(): number {
    if (this.qps <= 0) return Infinity;
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.qps) * 1000);
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.qps > 0) this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.qps);
    this.refilledAt = now;
  }
}

/** How long a value whose action threw waits before it is tried again. */
export const FAILED_ACTION_RETRY_MS = 1000;

/** One waiting value: when it was added and when it may be processed. */
export interface TimedValue {
  value: string;
  addedAt: number;
  processAt: number;
}

/** What the action answers: `true` when done, or after how many ms to try that value again. */
export type TimedAction = (value: string) => Promise<true | number>;

/** Values processed in `processAt` order (first added first), at most as fast as the limiter allows. */
export class RateLimitedTimedQueue {
  private items: TimedValue[] = [];
  private limiter: TokenBucket;
  private inFlight: { value: string; removed: boolean } | undefined;

  constructor(
    private readonly clock: Clock,
    qps: number,
    private readonly burst = 1,
  ) {
    this.limiter = new TokenBucket(qps, burst, clock);
  }

  /** The current rate (values per second). */
  get qps(): number {
    return this.limiter.qps;
  }

  /** The values waiting, in processing order. */
  values(): string[] {
    return this.items.map((item) => item.value);
  }

  /** True if the value waits. */
  has(value: string): boolean {
    return this.items.some((item) => item.value === value);
  }

  /** Adds a value to process now; false if it already waits. */
  add(value: string): boolean {
    if (this.has(value)) return false;
    const now = this.clock.now();
    this.insert({ value, addedAt: now, processAt: now });
    return true;
  }

  /** Removes a value (also one being processed: it is not retried); false if it was not there. */
  remove(value: string): boolean {
    let removed = false;
    if (this.inFlight?.value === value && !this.inFlight.removed) {
      this.inFlight.removed = true;
      removed = true;
    }
    const before = this.items.length;
    this.items = this.items.filter((item) => item.value !== value);
    return removed || this.items.length !== before;
  }

  /**
   * Changes the rate (kube's SwapLimiter): a no-op for the same rate; 0 stops processing. A new
   * bucket starts empty if the old one was empty, so swapping is no way around the limit.
   */
  swapLimiter(qps: number): void {
    if (this.limiter.qps === qps || (this.limiter.qps <= 0 && qps <= 0)) return;
    const next = new TokenBucket(qps, this.burst, this.clock);
    if (qps > 0 && !this.limiter.tryAccept()) next.tryAccept();
    this.limiter = next;
  }

  /**
   * Processes the values that are due, one at a time, while the limiter gives tokens. A value
   * whose action answers a delay is tried again after it. Answers the ms until another call can
   * do something, or undefined when nothing waits or the rate is 0 (a rate change or an add is
   * the caller's cue then). Not reentrant: one call at a time.
   */
  async try(action: TimedAction): Promise<number | undefined> {
    for (;;) {
      const head = this.items[0];
      if (!head) return undefined;
      const now = this.clock.now();
      if (head.processAt > now) return head.processAt - now;
      if (!this.limiter.tryAccept()) {
        const wait = this.limiter.msUntilToken();
        return Number.isFinite(wait) ? Math.max(1, wait) : undefined;
      }
      this.items.shift();
      const inFlight = (this.inFlight = { value: head.value, removed: false });
      // An action that throws is retried like one answering FAILED_ACTION_RETRY_MS; the error goes on to the caller.
      let outcome: true | number = FAILED_ACTION_RETRY_MS;
      try {
        outcome = await action(head.value);
      } finally {
        this.inFlight = undefined;
        if (outcome !== true && !inFlight.removed && !this.has(head.value)) {
          this.insert({ ...head, processAt: this.clock.now() + Math.max(1, outcome) });
        }
      }
    }
  }

  private insert(item: TimedValue): void {
    const at = this.items.findIndex((other) => other.processAt > item.processAt);
    if (at < 0) this.items.push(item);
    else this.items.splice(at, 0, item);
  }
}
