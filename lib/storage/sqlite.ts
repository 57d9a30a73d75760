/**
 * SqliteKV: the storage contract over one SQLite file (Node's built-in `node:sqlite`), the
 * embedded default store — the idea of k3s's kine over SQLite. The log layout and SQL live in
 * `sqlite-schema.ts`, group commit in `sqlite-batch.ts`.
 *
 * Several processes may open the same file: every read goes to the database (no cache), writes
 * serialise on SQLite's write lock with compare-and-swap checked inside the transaction, and
 * watchers learn of other processes' writes by polling the log's head while any watch is open.
 * Writes made by this process are published to its watchers as soon as they commit.
 */
import type { DatabaseSync } from 'node:sqlite';
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
import { compactedError } from './memory.js';
import { GroupCommitter, type CommitStats, type WriteTx } from './sqlite-batch.js';
import { compareKeyBytes, openDatabase, rowToKV, Statements, storageError, type LogRow } from './sqlite-schema.js';
import { WatchHub } from './watch-hub.js';

/** Options for {@link SqliteKV.open}. */
export interface SqliteKVOptions {
  /** Time source for lease expiry and watch progress (default: the system clock). */
  clock?: Clock;
  /** How often to look for other processes' writes while a watch is open (default 25 ms). */
  pollIntervalMs?: number;
  /** How long a write waits for another process's write lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
}

/** How often expired leases are looked for (on the store's clock). */
const SWEEP_INTERVAL_MS = 250;
/** Expired leases handled per sweep transaction, so one sweep cannot hold the lock for long. */
const SWEEP_BATCH = 100;

/** The SQLite backend. */
export class SqliteKV implements KV {
  readonly backend = 'sqlite';
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly sql: Statements;
  private readonly hub: WatchHub;
  private readonly committer: GroupCommitter;
  private pollTimer: NodeJS.Timeout | undefined;
  private sweepTimer: TimerHandle | undefined;
  private sweeping = false;
  private closed = false;

  /** Opens (creating if needed) the store in the SQLite file at `path`. */
  static open(path: string, options: SqliteKVOptions = {}): SqliteKV {
    return new SqliteKV(openDatabase(path, options.busyTimeoutMs ?? 5000), path, options);
  }

  private constructor(
    private readonly db: DatabaseSync,
    /** The database file. */
    readonly path: string,
    options: SqliteKVOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? 25;
    this.sql = new Statements(db);
    this.hub = new WatchHub({ historyBetween: (from, upTo) => this.historyBetween(from, upTo) }, this.clock, this.sql.revision());
    this.committer = new GroupCommitter(db, this.sql, (events, revision) => this.published(events, revision));
    this.scheduleSweep();
  }

  /** How many write transactions carried how many writes (group commit at work). */
  get commitStats(): CommitStats {
    return this.committer.stats;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    const row = this.guard(() => this.sql.latest(key));
    return row && !row.deleted ? rowToKV(row) : undefined;
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen();
    return this.sql.read(() => {
      const current = this.sql.revision();
      const revision = options.revision ?? current;
      if (revision > current) throw new KVError('future-revision', `required revision ${revision} is a future revision`);
      const compacted = this.sql.compactRevision();
      if (revision < compacted) throw compactedError(revision, compacted);
      const from = options.fromKey !== undefined && compareKeyBytes(options.fromKey, prefix) > 0 ? options.fromKey : prefix;
      const limit = options.limit && options.limit > 0 ? options.limit : 0;
      // One row past the limit tells whether there are more.
      const rows = this.sql.range(prefix, from, revision, limit > 0 ? limit + 1 : -1);
      const more = limit > 0 && rows.length > limit;
      return { kvs: (more ? rows.slice(0, limit) : rows).map(rowToKV), revision, more };
    });
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    return this.guard(() => this.sql.count(prefix, Number.MAX_SAFE_INTEGER));
  }

  async create(key: string, value: string, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    return this.committer.submit((tx) => {
      const latest = this.sql.latest(key);
      if (latest && !latest.deleted) throw new KVError('exists', `key ${key} exists`, { current: rowToKV(latest) });
      const lease = this.checkLease(options.lease);
      const revision = tx.nextRevision();
      const row: LogRow = { id: revision, name: key, created: 1, deleted: 0, create_revision: revision, prev_revision: 0, version: 1, lease, value };
      this.sql.insert(row);
      const kv = rowToKV(row);
      tx.emit({ type: 'put', key, revision, kv });
      return kv;
    });
  }

  async update(key: string, value: string, expectModRevision: number, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    return this.committer.submit((tx) => {
      const existing = this.current(key, expectModRevision);
      const lease = this.checkLease(options.lease);
      const revision = tx.nextRevision();
      const row: LogRow = {
        id: revision,
        name: key,
        created: 0,
        deleted: 0,
        create_revision: existing.create_revision,
        prev_revision: existing.id,
        version: existing.version + 1,
        lease,
        value,
      };
      this.sql.insert(row);
      const kv = rowToKV(row);
      tx.emit({ type: 'put', key, revision, kv, prev: rowToKV(existing) });
      return kv;
    });
  }

  async delete(key: string, expectModRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    this.checkOpen();
    return this.committer.submit((tx) => this.deleteRow(tx, this.current(key, expectModRevision)));
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.guard(() => this.sql.revision());
  }

  async compactRevision(): Promise<number> {
    this.checkOpen();
    return this.guard(() => this.sql.compactRevision());
  }

  watch(prefix: string, fromRevision: number, options?: WatchOptions): AsyncIterableIterator<KVWatchMessage> {
    this.checkOpen();
    try {
      // Bring the hub up to the log's head first, so the new watcher's catch-up comes from the
      // log in one read and the poller starts from now.
      this.poll();
    } catch {
      // The history read below and the poller both go to the log; they will catch up.
    }
    const watcher = this.hub.watch(prefix, fromRevision, options);
    this.startPolling();
    return watcher;
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    let removed = 0;
    // Its own transaction, not part of a group commit: it may read and publish other
    // processes' rows first, which must not be mixed with this process's uncommitted writes.
    this.writeTransaction(() => {
      const current = this.sql.revision();
      if (revision > current) throw new KVError('future-revision', `cannot compact to future revision ${revision}`);
      // Compaction never goes backwards, also when another process compacted further already.
      if (revision <= this.sql.compactRevision()) return;
      // Watchers must have been given every row the compaction is about to delete.
      this.catchUp();
      removed = this.sql.compactLog(revision);
      this.sql.setCompactRevision(revision);
    });
    if (removed > 0) this.reclaimSpace();
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    this.checkOpen();
    const ttl = Math.max(1, ttlSeconds);
    return this.committer.submit(() => this.sql.insertLease(ttl, this.clock.now() + ttl * 1000));
  }

  async keepAlive(lease: number): Promise<void> {
    this.checkOpen();
    return this.committer.submit(() => {
      if (!this.sql.renewLease(lease, this.clock.now())) throw new KVError('lease-not-found', `lease ${lease} not found`);
    });
  }

  async revokeLease(lease: number): Promise<void> {
    this.checkOpen();
    return this.committer.submit((tx) => {
      if (!this.sql.lease(lease)) throw new KVError('lease-not-found', `lease ${lease} not found`);
      this.expireLease(tx, lease);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweepTimer?.cancel();
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    try {
      // Writes already submitted are committed (and their callers answered), not dropped.
      this.committer.close();
    } finally {
      this.hub.closeAll();
      this.db.close();
    }
  }

  /** The live row of `key`, checked against the expected modRevision (compare-and-swap). */
  private current(key: string, expectModRevision: number | undefined): LogRow {
    const existing = this.sql.latest(key);
    if (!existing || existing.deleted) throw new KVError('not-found', `key ${key} not found`);
    if (expectModRevision !== undefined && existing.id !== expectModRevision) {
      throw new KVError('conflict', `key ${key} is at revision ${existing.id}, not ${expectModRevision}`, { current: rowToKV(existing) });
    }
    return existing;
  }

  /** Appends a tombstone for `existing` (keeping its value, for the delete event's `prev`). */
  private deleteRow(tx: WriteTx, existing: LogRow): { prev: KeyValue; revision: number } {
    const revision = tx.nextRevision();
    this.sql.insert({ ...existing, id: revision, created: 0, deleted: 1, prev_revision: existing.id });
    const prev = rowToKV(existing);
    tx.emit({ type: 'delete', key: existing.name, revision, prev });
    return { prev, revision };
  }

  /** Deletes the keys bound to `lease` (each its own revision, in key order) and the lease. */
  private expireLease(tx: WriteTx, lease: number): void {
    for (const row of this.sql.leaseKeys(lease)) this.deleteRow(tx, row);
    this.sql.deleteLease(lease);
  }

  private checkLease(lease: number | undefined): number {
    if (!lease) return 0;
    const row = this.sql.lease(lease);
    // An expired lease the sweeper has not reached yet is as good as gone.
    if (!row || row.expires_at <= this.clock.now()) throw new KVError('lease-not-found', `lease ${lease} not found`);
    return lease;
  }

  /** Publishes a local commit to this process's watchers. */
  private published(events: KVEvent[], revision: number): void {
    if (this.hub.size === 0) {
      this.hub.advance(revision);
      return;
    }
    if (events.length === 0) return;
    if (events[0]!.revision === this.hub.dispatchedRevision + 1) {
      this.hub.dispatch(events);
      return;
    }
    // Another process wrote since the last poll: read everything in order from the log.
    try {
      this.poll();
    } catch {
      // The poller retries.
    }
  }

  /** Delivers the log rows this process's watchers have not seen yet. */
  private poll(): void {
    if (this.hub.size === 0) {
      this.hub.advance(this.guard(() => this.sql.revision()));
      return;
    }
    this.sql.read(() => this.catchUp());
  }

  /** Reads and dispatches rows after the dispatched revision; runs inside a transaction. */
  private catchUp(): void {
    if (this.hub.size === 0) return;
    const dispatched = this.hub.dispatchedRevision;
    const head = this.sql.revision();
    if (head <= dispatched) return;
    const compacted = this.sql.compactRevision();
    if (dispatched + 1 < compacted) {
      // Another process compacted away rows before they were polled: the watchers cannot be
      // given an exact history any more, so they fail as etcd's do and their owners relist.
      this.hub.closeAll(compactedError(dispatched, compacted));
      this.hub.advance(head);
      return;
    }
    this.hub.dispatch(this.sql.events(dispatched, head));
    this.hub.advance(head);
  }

  private historyBetween(from: number, upTo: number): KVEvent[] {
    return this.sql.read(() => {
      const compacted = this.sql.compactRevision();
      if (from + 1 < compacted) throw compactedError(from, compacted);
      return this.sql.events(from, upTo);
    });
  }

  private startPolling(): void {
    if (this.pollTimer || this.closed) return;
    // A plain timer rather than the store's clock: this is I/O polling, which must go on in
    // real time even when a test drives lease time with a fake clock. Unref'd like every
    // keelson timer, so an open watch alone does not keep a process alive.
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.closed || this.hub.size === 0) return;
      try {
        this.poll();
      } catch {
        // Transient (another process holding a lock past the busy timeout): next tick retries.
      }
      this.startPolling();
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweep();
      this.scheduleSweep();
    }, SWEEP_INTERVAL_MS);
  }

  /** Deletes the keys of expired leases; any process with the file open may do it. */
  private sweep(): void {
    if (this.closed || this.sweeping) return;
    try {
      // A cheap read first, so idle stores never take the write lock.
      if (this.sql.expiredLeases(this.clock.now(), 1).length === 0) return;
    } catch {
      return;
    }
    this.sweeping = true;
    this.committer
      .submit((tx) => {
        // Re-read under the write lock: another process may have swept these already.
        for (const lease of this.sql.expiredLeases(this.clock.now(), SWEEP_BATCH)) this.expireLease(tx, lease);
      })
      .catch(() => undefined)
      .finally(() => {
        this.sweeping = false;
      });
  }

  /** Runs `fn` in its own `BEGIN IMMEDIATE` transaction; an exception rolls it back. */
  private writeTransaction(fn: () => void): void {
    try {
      this.sql.beginImmediate.run();
    } catch (err) {
      throw storageError(err);
    }
    try {
      fn();
      this.sql.commit.run();
    } catch (err) {
      if (this.db.isTransaction) this.sql.rollback.run();
      throw storageError(err);
    }
  }

  /** Gives freed pages back to the file system once a good share of the file is free. */
  private reclaimSpace(): void {
    try {
      const free = (this.db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count;
      const pages = (this.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      // Small free lists are cheaper to reuse than to give back and regrow.
      if (free >= 256 && free * 4 >= pages) this.db.exec('PRAGMA incremental_vacuum');
    } catch {
      // Best effort: the pages stay on the free list and are reused by later writes.
    }
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storageError(err);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new KVError('closed', 'store is closed');
  }
}
