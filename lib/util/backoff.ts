/**
 * Jittered exponential backoff, as client-go's `wait.NewExponentialBackoffManager` that the
 * Reflector uses between failed list/watch attempts: the delay starts at 800 ms and doubles up
 * to a 30 s cap; each delay is stretched by a random amount up to `jitter` times itself (so with
 * jitter 1.0 a delay of base `d` lies in `[d, 2d)`, and the capped delay in `[30 s, 60 s)`, as in
 * client-go); and the sequence starts over once no backoff was asked for during `resetAfterMs`
 * (2 minutes of healthy running). Used by the informers' list/watch and by KubeClient's watch
 * retries (here in util, below both).
 */
import type { Clock } from './clock.js';

/** Options of {@link ExponentialBackoff}; every default is client-go reflector's. */
export interface BackoffOptions {
  /** The first base delay (default 800 ms). */
  initialMs?: number;
  /** The cap of the base delay (default 30 s); jitter may stretch a delay beyond it. */
  maxMs?: number;
  /** Growth of the base delay per step (default 2). */
  factor?: number;
  /** Each delay is `base + random() * jitter * base` (default 1.0; 0 disables jitter). */
  jitter?: number;
  /** Start over at `initialMs` when the previous backoff was longer ago than this (default 2 min). */
  resetAfterMs?: number;
  /** The source of randomness in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** The reflector's backoff defaults (client-go tools/cache/reflector.go). */
export const REFLECTOR_BACKOFF: Readonly<Required<Omit<BackoffOptions, 'random'>>> = Object.freeze({
  initialMs: 800,
  maxMs: 30_000,
  factor: 2,
  jitter: 1.0,
  resetAfterMs: 2 * 60_000,
});

/** A stateful backoff: each {@link next} call is one failure and answers how long to wait. */
export class ExponentialBackoff {
  private readonly options: Required<BackoffOptions>;
  private baseMs: number;
  private lastBackoffAt: number | undefined;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    options: BackoffOptions = {},
  ) {
    this.options = { ...REFLECTOR_BACKOFF, random: Math.random, ...definedOnly(options) };
    this.baseMs = this.options.initialMs;
  }

  /** The delay before the next attempt, in ms; grows the base for the attempt after it. */
  next(): number {
    const now = this.clock.now();
    if (this.lastBackoffAt !== undefined && now - this.lastBackoffAt > this.options.resetAfterMs) this.reset();
    this.lastBackoffAt = now;
    const base = this.baseMs;
    this.baseMs = Math.min(base * this.options.factor, this.options.maxMs);
    return this.options.jitter > 0 ? base + this.options.random() * this.options.jitter * base : base;
  }

  /** Starts the sequence over at the initial delay. */
  reset(): void {
    this.baseMs = this.options.initialMs;
    this.lastBackoffAt = undefined;
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
