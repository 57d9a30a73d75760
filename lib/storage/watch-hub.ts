/**
 * In-process watch fan-out for the backends that see every change themselves (MemoryKV, and
 * SqliteKV after reading new log rows). A watcher registered at revision R first receives the
 * history after R (read synchronously, so nothing can slip in between) and then every change
 * dispatched after, filtered by its prefix — every change exactly once, in revision order.
 */
import { Channel } from '../util/channel.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { KVError, type KVEvent, type KVWatchMessage, type WatchOptions } from './kv.js';

/** What the hub needs from its backend. */
export interface WatchHistory {
  /**
   * Changes with `from < revision <= upTo`, in revision order (all keys). Throws a `compacted`
   * KVError when history after `from` is gone.
   */
  historyBetween(from: number, upTo: number): KVEvent[];
}

interface Watcher {
  prefix: string;
  /** Only changes with a revision above this are delivered (a watch may start in the future). */
  after: number;
  channel: Channel<KVWatchMessage>;
  /** Whether anything was delivered since the last progress tick. */
  busy: boolean;
  progressTimer?: TimerHandle;
}

/** Events folded into one undelivered message at most. */
const MAX_BATCH = 10_000;
/** Undelivered messages per watcher before it is cut off (a stuck consumer: 1M events). */
const MAX_BACKLOG = 100;

/** Fans out dispatched changes to the watchers of one store. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  /** Every change up to this revision has been dispatched. */
  private dispatched: number;

  constructor(
    private readonly history: WatchHistory,
    private readonly clock: Clock,
    startRevision: number,
  ) {
    this.dispatched = startRevision;
  }

  /** The revision up to which every change has been dispatched. */
  get dispatchedRevision(): number {
    return this.dispatched;
  }

  /** Number of open watchers. */
  get size(): number {
    return this.watchers.size;
  }

  /** Opens a watcher on `prefix` for changes after `fromRevision` (see KV.watch). */
  watch(prefix: string, fromRevision: number, options: WatchOptions = {}): AsyncIterableIterator<KVWatchMessage> {
    // Read the catch-up history before registering: it throws `compacted` for a too-old start.
    const from = Math.max(0, fromRevision);
    let backlog: KVEvent[] = [];
    let failure: unknown;
    try {
      if (from < this.dispatched) backlog = this.history.historyBetween(from, this.dispatched);
    } catch (err) {
      failure = err;
    }
    const watcher: Watcher = {
      prefix,
      after: from,
      busy: false,
      channel: new Channel<KVWatchMessage>({
        ...(options.signal ? { signal: options.signal } : {}),
        onClose: () => this.remove(watcher),
      }),
    };
    if (failure !== undefined) {
      watcher.channel.fail(failure);
      return watcher.channel;
    }
    this.watchers.add(watcher);
    const matching = backlog.filter((e) => e.key.startsWith(prefix));
    if (matching.length > 0) this.deliver(watcher, matching);
    if (options.progressNotify) this.scheduleProgress(watcher, options.progressIntervalMs ?? 1000);
    return watcher.channel;
  }

  /** Delivers changes (revision order, all newer than the dispatched revision) to watchers. */
  dispatch(events: readonly KVEvent[]): void {
    if (events.length === 0) return;
    for (const watcher of this.watchers) {
      const matching = events.filter((e) => e.revision > watcher.after && e.key.startsWith(watcher.prefix));
      if (matching.length > 0) this.deliver(watcher, matching);
    }
    this.dispatched = events[events.length - 1]!.revision;
  }

  /** Marks revisions as dispatched when they carried no events (e.g. an empty poll). */
  advance(revision: number): void {
    if (revision > this.dispatched) this.dispatched = revision;
  }

  /** Ends every watcher (store closing). */
  closeAll(err?: unknown): void {
    for (const watcher of [...this.watchers]) {
      if (err) watcher.channel.fail(err);
      else watcher.channel.end();
    }
  }

  private deliver(watcher: Watcher, events: KVEvent[]): void {
    if (watcher.channel.size >= MAX_BACKLOG) {
      watcher.channel.fail(new KVError('unavailable', 'watcher fell too far behind and was closed'));
      return;
    }
    watcher.busy = true;
    // Changes not yet read join the batch already waiting: one message per consumer turn.
    // (`events` arrays are this watcher's own filtered copies, so appending in place is safe.)
    watcher.channel.pushCoalesced({ type: 'events', events }, (last, next) => {
      if (last.type !== 'events' || next.type !== 'events' || last.events.length >= MAX_BATCH) return undefined;
      for (const event of next.events) last.events.push(event);
      return last;
    });
  }

  private scheduleProgress(watcher: Watcher, intervalMs: number): void {
    watcher.progressTimer = this.clock.setTimeout(() => {
      if (!this.watchers.has(watcher)) return;
      if (!watcher.busy) watcher.channel.push({ type: 'progress', revision: Math.max(watcher.after, this.dispatched) });
      watcher.busy = false;
      this.scheduleProgress(watcher, intervalMs);
    }, intervalMs);
  }

  private remove(watcher: Watcher): void {
    watcher.progressTimer?.cancel();
    this.watchers.delete(watcher);
  }
}
