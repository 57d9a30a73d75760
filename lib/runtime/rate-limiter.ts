/**
 * Rate limiters decide how long a failed item waits before it is retried, as client-go's
 * `util/workqueue` default_rate_limiters.go: a per-item exponential backoff, an overall token
 * bucket, a fast-then-slow limiter and the max of several. Delays are milliseconds. A limiter
 * tracks items by a string key: the work queue passes its item keys (`namespace/name`), and a
 * limiter used on its own takes a `key` function when its items are not strings.
 */
import { systemClock, type Clock } from '../util/clock.js';

/**
 * Decides the delay before an item is retried (client-go's TypedRateLimiter). `when` records a
 * failure and returns the wait in milliseconds; `forget` ends the tracking of an item (it
 * succeeded, or was given up on); `numRequeues` counts the failures recorded since.
 */
export interface RateLimiter<T = string> {
  /** Records a failure of `item` and returns how long (ms) to wait before retrying it. */
  when(item: T): number;
  /** Stops tracking `item`: its next failure starts from the first delay again. */
  forget(item: T): void;
  /** The failures recorded for `item` since it was last forgotten. */
  numRequeues(item: T): number;
}

/** How a per-item limiter names an item; strings are their own key. */
export type ItemKeyFunc<T> = (item: T) => string;

/** The default ItemKeyFunc: a string item is its own key; anything else needs a key function. */
function stringKey(item: unknown): string {
  if (typeof item !== 'string') throw new TypeError('rate limiter items are not strings: pass a key function');
  return item;
}

/** Options of {@link ItemExponentialFailureRateLimiter}. */
export interface ItemExponentialFailureRateLimiterOptions<T> {
  /** The delay after the first failure; default 5 ms. */
  baseDelayMs?: number;
  /** The delay never grows beyond this; default 1000 s. */
  maxDelayMs?: number;
  /** How items are told apart; default: the item, which must be a string. */
  key?: ItemKeyFunc<T>;
}

/**
 * Per-item exponential backoff: the n-th failure of an item (counting from 0) waits
 * `baseDelayMs · 2^n`, capped at `maxDelayMs` — 5, 10, 20, 40 ms … 1000 s by default.
 */
export class ItemExponentialFailureRateLimiter<T = string> implements RateLimiter<T> {
  private readonly failures = new Map<string, number>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly key: ItemKeyFunc<T>;

  constructor(options: ItemExponentialFailureRateLimiterOptions<T> = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.key = options.key ?? stringKey;
  }

  when(item: T): number {
    const key = this.key(item);
    const exponent = this.failures.get(key) ?? 0;
    this.failures.set(key, exponent + 1);
    // 2^1023 is the largest finite power; past it the cap applies anyway (and 0 · ∞ would be NaN).
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(exponent, 1023));
  }

  forget(item: T): void {
    this.failures.delete(this.key(item));
  }

  numRequeues(item: T): number {
    return this.failures.get(this.key(item)) ?? 0;
  }
}

/** Options of {@link ItemFastSlowRateLimiter}. */
export interface ItemFastSlowRateLimiterOptions<T> {
  /** The delay of the first `maxFastAttempts` failures. */
  fastDelayMs: number;
  /** The delay of every failure after those. */
  slowDelayMs: number;
  /** How many failures get the fast delay. */
  maxFastAttempts: number;
  /** How items are told apart; default: the item, which must be a string. */
  key?: ItemKeyFunc<T>;
}

/** Retries an item quickly a few times, then slowly (client-go's ItemFastSlowRateLimiter). */
export class ItemFastSlowRateLimiter<T = string> implements RateLimiter<T> {
  private readonly failures = new Map<string, number>();
  private readonly options: Required<ItemFastSlowRateLimiterOptions<T>>;

  constructor(options: ItemFastSlowRateLimiterOptions<T>) {
    this.options = { ...options, key: options.key ?? stringKey };
  }

  when(item: T): number {
    const key = this.options.key(item);
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return failures <= this.options.maxFastAttempts ? this.options.fastDelayMs : this.options.slowDelayMs;
  }

  forget(item: T): void {
    this.failures.delete(this.options.key(item));
  }

  numRequeues(item: T): number {
    return this.failures.get(this.options.key(item)) ?? 0;
  }
}

/** Options of {@link BucketRateLimiter}. */
export interface BucketRateLimiterOptions {
  /** Tokens added per second (the sustained rate); default 10. `Infinity` never delays. */
  qps?: number;
  /** The bucket's size: how many retries may go at once; default 100. */
  burst?: number;
  /** The time source; default the system clock. */
  clock?: Clock;
}

/**
 * An overall token bucket shared by all items (client-go's BucketRateLimiter over
 * `rate.Limiter`). The bucket starts full and refills at `qps` tokens a second up to `burst`.
 * Each `when` reserves one token: immediately (0 ms) while tokens remain, otherwise the token is
 * borrowed from the future and the wait until it exists is returned — so reservations queue
 * up, 1/qps apart. Items are not tracked: `forget` does nothing and `numRequeues` is 0.
 */
export class BucketRateLimiter<T = string> implements RateLimiter<T> {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  /** Tokens available at `lastMs`; negative while reservations wait for future tokens. */
  private tokens: number;
  private lastMs: number | undefined;

  /** @throws RangeError unless `qps > 0` and `burst` is an integer ≥ 1 (such a bucket never grants). */
  constructor(options: BucketRateLimiterOptions = {}) {
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    this.clock = options.clock ?? systemClock;
    if (!(this.qps > 0)) throw new RangeError(`BucketRateLimiter: qps must be > 0, got ${this.qps}`);
    if (!Number.isInteger(this.burst) || this.burst < 1) throw new RangeError(`BucketRateLimiter: burst must be an integer >= 1, got ${this.burst}`);
    this.tokens = this.burst;
  }

  when(_item: T): number {
    if (this.qps === Infinity) return 0;
    const nowMs = this.clock.now();
    const lastMs = this.lastMs === undefined ? nowMs : Math.min(this.lastMs, nowMs);
    // Refill for the time passed, never beyond the bucket's size; then take one token.
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - lastMs) / 1000) * this.qps) - 1;
    this.lastMs = nowMs;
    return this.tokens < 0 ? (-this.tokens / this.qps) * 1000 : 0;
  }

  forget(_item: T): void {}

  numRequeues(_item: T): number {
    return 0;
  }
}

/**
 * The strictest of several limiters (client-go's MaxOfRateLimiter): `when` asks every limiter
 * (each records the failure) and returns the longest delay; `numRequeues` is the largest count;
 * `forget` forgets in all.
 */
export class MaxOfRateLimiter<T = string> implements RateLimiter<T> {
  private readonly limiters: readonly RateLimiter<T>[];

  constructor(...limiters: RateLimiter<T>[]) {
    this.limiters = limiters;
  }

  when(item: T): number {
    let delayMs = 0;
    for (const limiter of this.limiters) delayMs = Math.max(delayMs, limiter.when(item));
    return delayMs;
  }

  forget(item: T): void {
    for (const limiter of this.limiters) limiter.forget(item);
  }

  numRequeues(item: T): number {
    let requeues = 0;
    for (const limiter of this.limiters) requeues = Math.max(requeues, limiter.numRequeues(item));
    return requeues;
  }
}

/** Options of {@link defaultControllerRateLimiter}: the parts' options, each with its default. */
export interface DefaultControllerRateLimiterOptions<T> extends ItemExponentialFailureRateLimiterOptions<T>, BucketRateLimiterOptions {}

/**
 * The limiter controllers use unless told otherwise (client-go's DefaultControllerRateLimiter):
 * the max of a per-item exponential backoff (5 ms doubling to 1000 s) and an overall bucket
 * (10 qps, burst 100), so one failing item backs off on its own while a mass failure cannot
 * retry faster than 10 items a second.
 */
export function defaultControllerRateLimiter<T = string>(options: DefaultControllerRateLimiterOptions<T> = {}): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(new ItemExponentialFailureRateLimiter<T>(options), new BucketRateLimiter<T>(options));
}
