/**
 * Crash-loop back-off, with kubelet's semantics (client-go's `flowcontrol.Backoff` as kubelet's
 * `doBackOff` uses it): the first restart of a failed container is immediate; after that a
 * restart waits until `delay` has passed since the container finished, the delay doubling from
 * 10 s to at most 5 min. An entry older than twice the maximum (a container that ran for 10 min)
 * starts over at the initial delay.
 */

/** Back-off settings; kubelet's defaults are 10 s and 5 min. */
export interface BackOffOptions {
  initialMs: number;
  maxMs: number;
}

/** kubelet's crash-loop back-off defaults. */
export const DEFAULT_BACKOFF: BackOffOptions = { initialMs: 10_000, maxMs: 300_000 };

interface Entry {
  delayMs: number;
  lastUpdateMs: number;
}

/** Per-key exponential back-off (a key per container of a pod). */
export class CrashLoopBackOff {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: BackOffOptions = DEFAULT_BACKOFF) {}

  /** The current delay of `key` (0 when it has none). */
  get(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0;
  }

  /**
   * Whether a restart of `key`, whose last instance finished at `finishedAtMs`, must still wait
   * at `nowMs`; the wait ends at `finishedAtMs + get(key)`.
   */
  isInBackOffSince(key: string, finishedAtMs: number, nowMs: number): boolean {
    const entry = this.entries.get(key);
    if (!entry || this.expired(finishedAtMs, entry)) return false;
    return nowMs - finishedAtMs < entry.delayMs;
  }

  /** Records a restart at `nowMs`: doubles the delay (or starts over after a long, stable run). */
  next(key: string, finishedAtMs: number, nowMs: number): void {
    const entry = this.entries.get(key);
    if (!entry || this.expired(finishedAtMs, entry)) {
      this.entries.set(key, { delayMs: this.options.initialMs, lastUpdateMs: nowMs });
      return;
    }
    entry.delayMs = Math.min(entry.delayMs * 2, this.options.maxMs);
    entry.lastUpdateMs = nowMs;
  }

  /** Forgets `key`. */
  reset(key: string): void {
    this.entries.delete(key);
  }

  private expired(eventMs: number, entry: Entry): boolean {
    return eventMs - entry.lastUpdateMs > this.options.maxMs * 2;
  }
}

/** Formats a duration as Go's `time.Duration.String()` does: `10s`, `1m20s`, `5m0s`, `1.5s`, `250ms`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${trimFraction(ms)}ms`;
  const totalSeconds = ms / 1000;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds - hours * 3600 - minutes * 60;
  const secondsText = `${trimFraction(seconds)}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

function trimFraction(value: number): string {
  return String(Number(value.toFixed(6)));
}
