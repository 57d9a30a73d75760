/**
 * MemoryKV: the storage contract held in process memory. Nothing survives the process; used by
 * tests, by `--store memory:` and as the reference the other backends are compared against.
 */
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import {
  KVError,
  type KV,
  type KVEvent,
  type KVWatchMessage,
  type KeyValue,
  type RangeOptions,
  type RangeResult,
  type WatchOptions,
  type WriteOptions,
} from './kv.js';
import { WatchHub } from './watch-hub.js';

interface Lease {
  id: number;
  ttlMs: number;
  keys: Set<string>;
  timer: TimerHandle;
}

/** Options for {@link MemoryKV}. */
export interface MemoryKVOptions {
  /** Time source for lease expiry and watch progress (default: the system clock). */
  clock?: Clock;
}

/** The in-memory backend. */
export class MemoryKV implements KV {
  readonly backend = 'memory';
  private readonly clock: Clock;
  private readonly current = new Map<string, KeyValue>();
  /** The current keys in order, for ranges without sorting the key space each time. */
  private readonly sortedKeys: string[] = [];
  /** Every change after the compacted revision, in revision order. */
  private log: KVEvent[] = [];
  private rev = 0;
  private compacted = 0;
  private readonly leases = new Map<number, Lease>();
  private nextLeaseId = 1;
  private readonly hub: WatchHub;
  private closed = false;

  constructor(options: MemoryKVOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.hub = new WatchHub({ historyBetween: (from, upTo) => this.historyBetween(from, upTo) }, this.clock, 0);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    return this.current.get(key);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen();
    const revision = options.revision ?? this.rev;
    if (revision > this.rev) throw new KVError('future-revision', `required revision ${revision} is a future revision`);
    if (revision < this.compacted) throw compactedError(revision, this.compacted);
    const start = options.fromKey !== undefined && options.fromKey > prefix ? options.fromKey : prefix;
    const limit = options.limit && options.limit > 0 ? options.limit : Infinity;
    if (revision === this.rev) {
      // The current state: walk the sorted keys from the start key, no copy of the key space.
      const kvs: KeyValue[] = [];
      let i = lowerBound(this.sortedKeys, start);
      for (; i < this.sortedKeys.length && this.sortedKeys[i]!.startsWith(prefix) && kvs.length < limit; i++) {
        kvs.push(this.current.get(this.sortedKeys[i]!)!);
      }
      const more = i < this.sortedKeys.length && this.sortedKeys[i]!.startsWith(prefix);
      return { kvs, revision, more };
    }
    const state = this.stateAt(revision);
    const keys = [...state.keys()].filter((k) => k.startsWith(prefix) && k >= start).sort(compareKeys);
    return {
      kvs: keys.slice(0, limit).map((k) => state.get(k)!),
      revision,
      more: keys.length > limit,
    };
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    let n = 0;
    for (const key of this.current.keys()) if (key.startsWith(prefix)) n++;
    return n;
  }

  async create(key: string, value: string, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    const existing = this.current.get(key);
    if (existing) throw new KVError('exists', `key ${key} exists`, { current: existing });
    const lease = this.checkLease(options.lease);
    const revision = this.rev + 1;
    const kv: KeyValue = { key, value, createRevision: revision, modRevision: revision, version: 1, lease };
    this.commit({ type: 'put', key, revision, kv });
    return kv;
  }

  async update(key: string, value: string, expectModRevision: number, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    const existing = this.current.get(key);
    if (!existing) throw new KVError('not-found', `key ${key} not found`);
    if (existing.modRevision !== expectModRevision) {
      throw new KVError('conflict', `key ${key} is at revision ${existing.modRevision}, not ${expectModRevision}`, { current: existing });
    }
    const lease = this.checkLease(options.lease);
    const revision = this.rev + 1;
    const kv: KeyValue = { key, value, createRevision: existing.createRevision, modRevision: revision, version: existing.version + 1, lease };
    this.commit({ type: 'put', key, revision, kv, prev: existing });
    return kv;
  }

  async delete(key: string, expectModRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    this.checkOpen();
    const existing = this.current.get(key);
    if (!existing) throw new KVError('not-found', `key ${key} not found`);
    if (expectModRevision !== undefined && existing.modRevision !== expectModRevision) {
      throw new KVError('conflict', `key ${key} is at revision ${existing.modRevision}, not ${expectModRevision}`, { current: existing });
    }
    const revision = this.rev + 1;
    this.commit({ type: 'delete', key, revision, prev: existing });
    return { prev: existing, revision };
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  async compactRevision(): Promise<number> {
    return this.compacted;
  }

  watch(prefix: string, fromRevision: number, options?: WatchOptions): AsyncIterableIterator<KVWatchMessage> {
    this.checkOpen();
    return this.hub.watch(prefix, fromRevision, options);
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision > this.rev) throw new KVError('future-revision', `cannot compact to future revision ${revision}`);
    if (revision <= this.compacted) return;
    this.compacted = revision;
    // Keep the event at `revision` itself: a watch from revision-1 is still served.
    const firstKept = this.log.findIndex((e) => e.revision >= revision);
    this.log = firstKept < 0 ? [] : this.log.slice(firstKept);
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    this.checkOpen();
    const id = this.nextLeaseId++;
    const ttlMs = Math.max(1, ttlSeconds) * 1000;
    const lease: Lease = { id, ttlMs, keys: new Set(), timer: this.clock.setTimeout(() => this.expire(id), ttlMs) };
    this.leases.set(id, lease);
    return id;
  }

  async keepAlive(leaseId: number): Promise<void> {
    this.checkOpen();
    const lease = this.leases.get(leaseId);
    if (!lease) throw new KVError('lease-not-found', `lease ${leaseId} not found`);
    lease.timer.cancel();
    lease.timer = this.clock.setTimeout(() => this.expire(leaseId), lease.ttlMs);
  }

  async revokeLease(leaseId: number): Promise<void> {
    this.checkOpen();
    if (!this.leases.has(leaseId)) throw new KVError('lease-not-found', `lease ${leaseId} not found`);
    this.expire(leaseId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lease of this.leases.values()) lease.timer.cancel();
    this.leases.clear();
    this.hub.closeAll();
  }

  private expire(leaseId: number): void {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    lease.timer.cancel();
    this.leases.delete(leaseId);
    for (const key of [...lease.keys].sort(compareKeys)) {
      const existing = this.current.get(key);
      if (existing && existing.lease === leaseId) this.commit({ type: 'delete', key, revision: this.rev + 1, prev: existing });
    }
  }

  private checkLease(leaseId: number | undefined): number {
    if (!leaseId) return 0;
    if (!this.leases.has(leaseId)) throw new KVError('lease-not-found', `lease ${leaseId} not found`);
    return leaseId;
  }

  private commit(event: KVEvent): void {
    this.rev = event.revision;
    const previousLease = event.prev?.lease;
    if (previousLease) this.leases.get(previousLease)?.keys.delete(event.key);
    if (event.type === 'put') {
      if (!event.prev) this.sortedKeys.splice(lowerBound(this.sortedKeys, event.key), 0, event.key);
      this.current.set(event.key, event.kv!);
      if (event.kv!.lease) this.leases.get(event.kv!.lease)?.keys.add(event.key);
    } else {
      this.current.delete(event.key);
      this.sortedKeys.splice(lowerBound(this.sortedKeys, event.key), 1);
    }
    this.log.push(event);
    this.hub.dispatch([event]);
  }

  private historyBetween(from: number, upTo: number): KVEvent[] {
    if (from + 1 < this.compacted) throw compactedError(from, this.compacted);
    return this.log.filter((e) => e.revision > from && e.revision <= upTo);
  }

  /** The key space as of `revision`: the current state with later changes undone. */
  private stateAt(revision: number): Map<string, KeyValue> {
    const state = new Map(this.current);
    for (let i = this.log.length - 1; i >= 0 && this.log[i]!.revision > revision; i--) {
      const event = this.log[i]!;
      if (event.prev) state.set(event.key, event.prev);
      else state.delete(event.key);
    }
    return state;
  }

  private checkOpen(): void {
    if (this.closed) throw new KVError('closed', 'store is closed');
  }
}

/** The first index in sorted `keys` whose key is ≥ `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Orders keys as etcd does (by UTF-8 bytes; for ASCII keys the same as code-unit order). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The error for a read or watch below the compacted revision. */
export function compactedError(revision: number, compactRevision: number): KVError {
  return new KVError('compacted', `required revision ${revision} has been compacted (compacted to ${compactRevision})`, {
    compactRevision,
  });
}
