/**
 * The retry delays of {@link KubeClient}'s watch: jittered exponential backoff like client-go's
 * reflector (800 ms doubling to a 30 s cap, each delay stretched by up to `jitter` times itself),
 * starting over once no retry was needed for `resetAfterMs` (a healthy period). A small copy of
 * the idea of lib/runtime's ExponentialBackoff, which lib/client may not import.
 */
import type { Clock } from '../util/clock.js';

/** Options of {@link RetryBackoff}; the defaults are client-go reflector's. */
export interface RetryBackoffOptions {
  /** The first base delay (default 800 ms). */
  initialMs?: number;
  /** The cap of the base delay (default 30 s). */
  maxMs?: number;
  /** Growth of the base delay per retry (default 2). */
  factor?: number;
  /** Each delay is `base + random() * jitter * base` (default 1; 0 disables jitter). */
  jitter?: number;
  /** Start over at `initialMs` after this long without a retry (default 2 min). */
  resetAfterMs?: number;
  /** Randomness in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** A stateful backoff: each {@link next} is one failure and answers how long to wait. */
export class RetryBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly resetAfterMs: number;
  private readonly random: () => number;
  private baseMs: number;
  private lastAt: number | undefined;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    options: RetryBackoffOptions = {},
  ) {
    this.initialMs = options.initialMs ?? 800;
    this.maxMs = options.maxMs ?? 30_000;
    this.factor = options.factor ?? 2;
    this.jitter = options.jitter ?? 1;
    this.resetAfterMs = options.resetAfterMs ?? 120_000;
    this.random = options.random ?? Math.random;
    this.baseMs = this.initialMs;
  }

  /** The delay before the next attempt, in ms. */
  next(): number {
    const now = this.clock.now();
    if (this.lastAt !== undefined && now - this.lastAt > this.resetAfterMs) this.baseMs = this.initialMs;
    this.lastAt = now;
    const base = this.baseMs;
    this.baseMs = Math.min(base * this.factor, this.maxMs);
    return base + this.random() * this.jitter * base;
  }

  /** Starts over at the initial delay. */
  reset(): void {
    this.baseMs = this.initialMs;
    this.lastAt = undefined;
  }
}
