/**
 * Periodic compaction, as kube-apiserver runs it against etcd: every interval, compact to the
 * revision observed at the previous tick. History therefore always covers at least one
 * interval (5 minutes by default) — watches and continue tokens younger than that resume
 * exactly; older ones get 410 Expired — and the store never grows without bound.
 */
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import type { KV } from './kv.js';

/** Options of {@link startCompactor}. */
export interface CompactorOptions {
  /** Time between compactions; history kept is at least this long (default 5 min). */
  intervalMs?: number;
  clock?: Clock;
  /** Called when a compaction fails (it is retried at the next tick). */
  onError?: (err: unknown) => void;
}

/** A running compactor; `stop()` cancels it. */
export interface Compactor {
  stop(): void;
  /** Runs one tick now (tests, shutdown); resolves when the compaction is done. */
  tick(): Promise<void>;
}

/** Starts compacting `kv` periodically. */
export function startCompactor(kv: KV, options: CompactorOptions = {}): Compactor {
  const intervalMs = options.intervalMs ?? 5 * 60 * 1000;
  const clock = options.clock ?? systemClock;
  let previousRevision = 0;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const tick = async () => {
    try {
      const current = await kv.revision();
      if (previousRevision > 0) await kv.compact(previousRevision);
      previousRevision = current;
    } catch (err) {
      options.onError?.(err);
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      void tick().finally(schedule);
    }, intervalMs);
  };
  schedule();
  return {
    stop() {
      stopped = true;
      timer?.cancel();
    },
    tick,
  };
}
