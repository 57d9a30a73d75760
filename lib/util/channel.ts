/**
 * An unbounded single-consumer async queue exposed as an AsyncIterableIterator: producers
 * `push` values, `fail` with an error or `end`; the consumer iterates with `for await`. Used to
 * turn callback-driven sources (store watchers, HTTP streams) into iterators with an owner that
 * can stop them (`return()` or an AbortSignal).
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private error: unknown;
  private done = false;
  private readonly onClose: (() => void) | undefined;
  private closed = false;

  /**
   * @param onClose called once when the consumer stops (`return()`, abort) or the producer ends,
   *   so the producer can release what feeds the channel.
   */
  constructor(options: { signal?: AbortSignal; onClose?: () => void } = {}) {
    this.onClose = options.onClose;
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.end();
      else signal.addEventListener('abort', () => this.end(), { once: true });
    }
  }

  /** Values queued and not yet consumed. */
  get size(): number {
    return this.queue.length;
  }

  /** True once ended or failed. */
  get isDone(): boolean {
    return this.done;
  }

  /** Queues a value (ignored after end). */
  push(value: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value, done: false });
    } else {
      this.queue.push(value);
    }
  }

  /**
   * Queues a value, or folds it into the last queued (not yet consumed) value when `merge`
   * returns the combination — so a slow consumer gets one batch instead of many messages.
   */
  pushCoalesced(value: T, merge: (last: T, next: T) => T | undefined): void {
    if (!this.done && this.queue.length > 0) {
      const merged = merge(this.queue[this.queue.length - 1]!, value);
      if (merged !== undefined) {
        this.queue[this.queue.length - 1] = merged;
        return;
      }
    }
    this.push(value);
  }

  /** Ends the stream with an error, delivered after the values already queued. */
  fail(err: unknown): void {
    if (this.done) return;
    this.error = err ?? new Error('channel failed');
    this.finish();
  }

  /** Ends the stream normally after the values already queued. */
  end(): void {
    if (this.done) return;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    if (this.waiter && this.queue.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (this.error !== undefined) w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
    if (this.done) {
      if (this.error !== undefined) {
        const err = this.error;
        this.error = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
