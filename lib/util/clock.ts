/**
 * Time as a dependency. Logic never calls `Date.now()` or `setTimeout` directly: it asks a
 * {@link Clock}, so tests can drive time with a fake clock (see `keelson/testing`).
 */

/** A cancellable timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Cancels the timer; a no-op if it already fired. */
  cancel(): void;
}

/** The source of time for every keelson component. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Resolves after `ms` milliseconds, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The wall clock: `Date.now()` and Node timers. Timers set with `setTimeout` run in the
 * background and do not keep the process alive; `sleep` does.
 */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  }

  /** Unlike background timers, a sleep keeps the process alive: someone is waiting for it. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith({ setTimeout: refTimeout }, ms, signal);
  }
}

function refTimeout(fn: () => void, ms: number): TimerHandle {
  const t = setTimeout(fn, Math.max(0, ms));
  return { cancel: () => clearTimeout(t) };
}

/** Implements {@link Clock.sleep} on top of a clock's `setTimeout`, honouring an AbortSignal. */
export function sleepWith(clock: Pick<Clock, 'setTimeout'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A sleep a loop can cut short: {@link sleep} resolves when its time is up (no time: only
 * otherwise), when the signal aborts, or when {@link wake} is called — a loop waiting for its
 * next tick or for news. It never rejects. A wake while nobody sleeps does nothing.
 */
export class Wakeup {
  private wakeNow: (() => void) | undefined;

  constructor(private readonly clock: Pick<Clock, 'setTimeout'>) {}

  /** Sleeps `ms` (undefined: until woken or aborted). */
  sleep(ms: number | undefined, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        timer?.cancel();
        signal.removeEventListener('abort', done);
        if (this.wakeNow === done) this.wakeNow = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : this.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wakeNow = done;
    });
  }

  /** Ends the current sleep now. */
  wake(): void {
    this.wakeNow?.();
  }
}

/** The process-wide system clock. */
export const systemClock: Clock = new SystemClock();
