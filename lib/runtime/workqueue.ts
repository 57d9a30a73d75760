/**
 * The work queue between event handlers and reconcile workers, with client-go's
 * `util/workqueue` semantics (Type, DelayingQueue and RateLimitingQueue in one class):
 *
 * - A key is queued at most once: adding a key that is already waiting does nothing, so a burst
 *   of events for one object collapses into one reconcile.
 * - A key is never handed to two workers at once: adding a key while it is being processed
 *   marks it dirty, and `done` puts it back in the queue, behind the keys already waiting.
 * - `addAfter` holds an item back for a while (RequeueAfter); re-adding it with an earlier time
 *   moves it earlier, a later time is ignored. `addRateLimited` waits as long as the rate
 *   limiter says (per-item exponential backoff, overall token bucket); `forget` resets it.
 *
 * Items are told apart by a string key (controllers queue ReconcileRequests keyed by
 * `requestKey`); the first item added under a key is the one handed out. A worker loops:
 *
 * ```ts
 * for (let request; (request = await queue.get(signal)) !== undefined; ) {
 *   try { await reconcile(request); queue.forget(request); }
 *   catch { queue.addRateLimited(request); }
 *   finally { queue.done(request); }
 * }
 * ```
 *
 * Time comes from the injected Clock; a shut down queue holds no timers.
 */
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { NO_QUEUE_METRICS, type Metrics, type WorkQueueMetrics } from './metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

/** How often the unfinished-work gauges are refreshed (client-go's period). */
const UNFINISHED_WORK_UPDATE_PERIOD_MS = 500;
/** Node timers cannot wait longer (a longer delay would fire at once); longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A rate-limited, delaying work queue (client-go's TypedRateLimitingInterface). Every item
 * handed out by `get` must be passed to `done` when its processing ends, whatever the outcome.
 */
export interface RateLimitingQueue<T> {
  /** Marks `item` as needing processing; ignored after shutdown or if its key is already waiting. */
  add(item: T): void;
  /** The number of keys waiting to be handed out (not counting delayed or in-process ones). */
  len(): number;
  /**
   * The next item in FIFO order, waiting for one if the queue is empty. Resolves `undefined`
   * once the queue is shut down and empty (items queued before the shutdown are still handed
   * out), or when `signal` aborts first (no item is taken then).
   */
  get(signal?: AbortSignal): Promise<T | undefined>;
  /** Ends the processing of `item`; if it was added meanwhile, it is queued again. */
  done(item: T): void;
  /** Ignores further adds, releases waiting getters with `undefined` and drops delayed items. */
  shutDown(): void;
  /**
   * As `shutDown`, then resolves once no item is being processed (every `get` answered by a
   * `done`). A later `shutDown()` resolves it at once.
   */
  shutDownWithDrain(): Promise<void>;
  /** True once `shutDown` or `shutDownWithDrain` was called. */
  isShuttingDown(): boolean;
  /** Adds `item` after `delayMs` (at once if ≤ 0); an earlier pending time for its key wins. */
  addAfter(item: T, delayMs: number): void;
  /** Adds `item` after the delay the rate limiter gives it (a retry after a failure). */
  addRateLimited(item: T): void;
  /** Resets the rate limiter's memory of `item` (it succeeded); does not remove it from the queue. */
  forget(item: T): void;
  /** How many times `item` was rate-limited since it was last forgotten. */
  numRequeues(item: T): number;
}

/** Options of {@link WorkQueue}; every field is optional. */
export interface WorkQueueOptions<T> {
  /** The queue's name: the `name` label of its metrics (controllers use the controller's name). */
  name?: string;
  /** The time source; default the system clock. */
  clock?: Clock;
  /** The limiter of `addRateLimited`, over item keys; default `defaultControllerRateLimiter` on `clock`. */
  rateLimiter?: RateLimiter<string>;
  /**
   * Where the `workqueue_*` metrics go: a manager's Metrics (the queue's children are taken by
   * `name`, which is then required) or one queue's WorkQueueMetrics. Default: nowhere.
   */
  metrics?: Metrics | WorkQueueMetrics;
  /** The key that identifies an item; default: the item itself, which must then be a string. */
  key?: (item: T) => string;
}

/** An item held back by `addAfter` until `readyAt`; `seq` keeps equal times in FIFO order. */
interface WaitFor<T> {
  key: string;
  item: T;
  readyAt: number;
  seq: number;
  index: number;
}

/** A getter waiting for an item. */
interface Getter<T> {
  resolve(item: T | undefined): void;
}

/** The default key: a string item is its own key. */
function stringKey(item: unknown): string {
  if (typeof item !== 'string') throw new TypeError('WorkQueue items are not strings: pass a key function');
  return item;
}

/** The queue's metric children for the `metrics` option. */
function queueMetrics(metrics: Metrics | WorkQueueMetrics | undefined, name: string): WorkQueueMetrics {
  if (metrics === undefined) return NO_QUEUE_METRICS;
  if (!('forQueue' in metrics)) return metrics;
  if (!name) throw new TypeError('WorkQueue: a queue reporting to Metrics needs a name');
  return metrics.forQueue(name);
}

/** A rate-limited, delaying work queue with client-go's semantics (see the file header). */
export class WorkQueue<T = string> implements RateLimitingQueue<T> {
  /** The queue's name (its metrics' label). */
  readonly name: string;
  private readonly clock: Clock;
  private readonly keyOf: (item: T) => string;
  private readonly rateLimiter: RateLimiter<string>;
  private readonly metrics: WorkQueueMetrics;

  /** Keys waiting to be handed out, FIFO from `head`; each is in `dirty` and not in `processing`. */
  private readonly queue: string[] = [];
  private head = 0;
  /** Keys that need processing, with the item to hand out. */
  private readonly dirty = new Map<string, T>();
  /** Keys handed out and not yet `done`. */
  private readonly processing = new Set<string>();
  private readonly getters: Getter<T>[] = [];
  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];

  /** Metric bookkeeping: when a key was added (queue latency) and handed out (work duration). */
  private readonly addTimes = new Map<string, number>();
  private readonly processingStartTimes = new Map<string, number>();
  private metricsTimer: TimerHandle | undefined;

  /** The delayed items: a min-heap on `readyAt`, indexed by key; one timer for the earliest. */
  private readonly waiting: WaitFor<T>[] = [];
  private readonly waitingByKey = new Map<string, WaitFor<T>>();
  private waitingSeq = 0;
  private waitingTimer: { handle: TimerHandle; at: number } | undefined;

  /** @throws TypeError if `metrics` is a Metrics and `name` is missing. */
  constructor(options: WorkQueueOptions<T> = {}) {
    this.name = options.name ?? '';
    this.clock = options.clock ?? systemClock;
    this.keyOf = options.key ?? stringKey;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock: this.clock });
    this.metrics = queueMetrics(options.metrics, this.name);
    // As client-go, no ticking for a queue whose metrics go nowhere.
    if (this.metrics !== NO_QUEUE_METRICS) this.scheduleMetricsUpdate();
  }

  add(item: T): void {
    if (this.shuttingDown) return;
    const key = this.keyOf(item);
    if (this.dirty.has(key)) return;
    this.metrics.adds.inc();
    this.metrics.depth.inc();
    if (!this.addTimes.has(key)) this.addTimes.set(key, this.clock.now());
    this.dirty.set(key, item);
    if (this.processing.has(key)) return; // queued again by done()
    this.queue.push(key);
    this.dispatch();
  }

  len(): number {
    return this.queue.length - this.head;
  }

  get(signal?: AbortSignal): Promise<T | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined);
    if (this.len() > 0) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => {
        const index = this.getters.indexOf(getter);
        if (index >= 0) this.getters.splice(index, 1);
        resolve(undefined);
      };
      const getter: Getter<T> = {
        resolve: (item) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(item);
        },
      };
      this.getters.push(getter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  done(item: T): void {
    const key = this.keyOf(item);
    // Unlike client-go, a key that is not being processed is ignored: requeueing it here could
    // queue it twice.
    if (!this.processing.delete(key)) return;
    const startedAt = this.processingStartTimes.get(key);
    if (startedAt !== undefined) {
      this.metrics.workDuration.observe((this.clock.now() - startedAt) / 1000);
      this.processingStartTimes.delete(key);
    }
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.dispatch();
    } else if (this.processing.size === 0) {
      this.releaseDrainWaiters();
    }
  }

  shutDown(): void {
    this.stop();
    this.releaseDrainWaiters();
  }

  shutDownWithDrain(): Promise<void> {
    this.stop();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  addAfter(item: T, delayMs: number): void {
    if (this.shuttingDown) return;
    this.metrics.retries.inc(); // as client-go: every delayed add counts as a retry
    if (!(delayMs > 0)) {
      this.add(item);
      return;
    }
    const key = this.keyOf(item);
    const readyAt = this.clock.now() + delayMs;
    const existing = this.waitingByKey.get(key);
    if (existing === undefined) {
      const entry: WaitFor<T> = { key, item, readyAt, seq: this.waitingSeq++, index: this.waiting.length };
      this.waiting.push(entry);
      this.waitingByKey.set(key, entry);
      this.siftUp(entry.index);
    } else if (readyAt < existing.readyAt) {
      existing.readyAt = readyAt;
      this.siftUp(existing.index);
    } else {
      return; // a later time for a key already waiting is ignored
    }
    this.armWaitingTimer();
  }

  addRateLimited(item: T): void {
    this.addAfter(item, this.rateLimiter.when(this.keyOf(item)));
  }

  forget(item: T): void {
    this.rateLimiter.forget(this.keyOf(item));
  }

  numRequeues(item: T): number {
    return this.rateLimiter.numRequeues(this.keyOf(item));
  }

  /** Hands queued keys to waiting getters, oldest getter first. */
  private dispatch(): void {
    while (this.getters.length > 0 && this.len() > 0) this.getters.shift()!.resolve(this.take());
  }

  /** Moves the first queued key to processing and returns its item. */
  private take(): T {
    const key = this.queue[this.head++]!;
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    const item = this.dirty.get(key)!;
    const now = this.clock.now();
    this.metrics.depth.dec();
    const addedAt = this.addTimes.get(key);
    if (addedAt !== undefined) {
      this.metrics.queueLatency.observe((now - addedAt) / 1000);
      this.addTimes.delete(key);
    }
    this.processingStartTimes.set(key, now);
    this.processing.add(key);
    this.dirty.delete(key);
    return item;
  }

  /** Marks the queue shut down and releases its getters, delayed items and timers. */
  private stop(): void {
    this.shuttingDown = true;
    this.metricsTimer?.cancel();
    this.metricsTimer = undefined;
    this.waitingTimer?.handle.cancel();
    this.waitingTimer = undefined;
    this.waiting.length = 0;
    this.waitingByKey.clear();
    // Getters only wait while the queue is empty, so there is nothing left to give them.
    for (const getter of this.getters.splice(0)) getter.resolve(undefined);
  }

  private releaseDrainWaiters(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private scheduleMetricsUpdate(): void {
    this.metricsTimer = this.clock.setTimeout(() => {
      this.metricsTimer = undefined;
      if (this.shuttingDown) return;
      this.updateUnfinishedWork();
      this.scheduleMetricsUpdate();
    }, UNFINISHED_WORK_UPDATE_PERIOD_MS);
  }

  /** Sets the unfinished-work gauges from the items being processed (seconds). */
  private updateUnfinishedWork(): void {
    const now = this.clock.now();
    let totalSeconds = 0;
    let longestSeconds = 0;
    for (const startedAt of this.processingStartTimes.values()) {
      const seconds = (now - startedAt) / 1000;
      totalSeconds += seconds;
      longestSeconds = Math.max(longestSeconds, seconds);
    }
    this.metrics.unfinishedWork.set(totalSeconds);
    this.metrics.longestRunning.set(longestSeconds);
  }

  /** Keeps one timer armed for the earliest delayed item (re-armed only if that moved earlier). */
  private armWaitingTimer(): void {
    const next = this.waiting[0];
    if (next === undefined || (this.waitingTimer !== undefined && this.waitingTimer.at <= next.readyAt)) return;
    this.waitingTimer?.handle.cancel();
    const now = this.clock.now();
    const delayMs = Math.min(MAX_TIMER_MS, Math.max(0, next.readyAt - now));
    const handle = this.clock.setTimeout(() => this.onWaitingTimer(), delayMs);
    this.waitingTimer = { handle, at: now + delayMs };
  }

  /** Adds every delayed item that is due, in time order, and arms the timer for the rest. */
  private onWaitingTimer(): void {
    this.waitingTimer = undefined;
    const now = this.clock.now();
    for (let next = this.waiting[0]; next !== undefined && next.readyAt <= now; next = this.waiting[0]) {
      this.popWaiting();
      this.waitingByKey.delete(next.key);
      this.add(next.item);
    }
    this.armWaitingTimer();
  }

  private popWaiting(): void {
    const last = this.waiting.pop()!;
    if (this.waiting.length === 0) return;
    this.waiting[0] = last;
    last.index = 0;
    this.siftDown(0);
  }

  private before(a: WaitFor<T>, b: WaitFor<T>): boolean {
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq);
  }

  private siftUp(index: number): void {
    for (let i = index; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(this.waiting[i]!, this.waiting[parent]!)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(index: number): void {
    for (let i = index; ; ) {
      let smallest = i;
      for (const child of [2 * i + 1, 2 * i + 2]) {
        if (child < this.waiting.length && this.before(this.waiting[child]!, this.waiting[smallest]!)) smallest = child;
      }
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.waiting[i]!;
    const b = this.waiting[j]!;
    this.waiting[i] = b;
    this.waiting[j] = a;
    a.index = j;
    b.index = i;
  }
}
