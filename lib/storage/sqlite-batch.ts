/**
 * Group commit for SqliteKV. With `synchronous=FULL` every COMMIT costs an fsync, so writes
 * submitted while a commit is pending (many async callers in flight) are gathered and run in one
 * `BEGIN IMMEDIATE` transaction: one fsync for the lot. Each write still takes its own revision
 * and gets its own outcome — a failed compare-and-swap is rolled back to its savepoint without
 * touching the others — and no promise settles before COMMIT has returned.
 */
import type { DatabaseSync } from 'node:sqlite';
import { KVError, type KVEvent } from './kv.js';
import { storageError, type Statements } from './sqlite-schema.js';

/** What one write may do inside the shared transaction. */
export interface WriteTx {
  /** Allocates the next revision (the id of the next log row). */
  nextRevision(): number;
  /** Records a change, published to watchers once the transaction commits. */
  emit(event: KVEvent): void;
}

/** Called after each successful COMMIT with its changes and the store's revision after it. */
export type CommitListener = (events: KVEvent[], revision: number) => void;

interface Pending {
  run: (tx: WriteTx) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Counters for tests and metrics. */
export interface CommitStats {
  /** Write transactions committed. */
  transactions: number;
  /** Writes submitted through them (successful or not). */
  writes: number;
}

/** Batches the writes of one store into shared transactions. */
export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly counters: CommitStats = { transactions: 0, writes: 0 };

  constructor(
    private readonly db: DatabaseSync,
    private readonly sql: Statements,
    private readonly onCommit: CommitListener,
  ) {}

  /** Transactions and writes so far. */
  get stats(): CommitStats {
    return { ...this.counters };
  }

  /**
   * Queues a write; it runs in the next batch. `run` must do all its checks and writes through
   * the database synchronously; throwing rolls back only what it did.
   */
  submit<T>(run: (tx: WriteTx) => T): Promise<T> {
    if (this.closed) return Promise.reject(new KVError('closed', 'store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      // setImmediate, not a microtask: callers woken by the previous commit resubmit in their
      // own microtasks, and all of those should land in the same batch.
      this.scheduled ??= setImmediate(() => {
        this.scheduled = undefined;
        this.flush();
      });
    });
  }

  /** Runs everything queued now, in one transaction. */
  flush(): void {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      this.runBatch(batch);
    }
  }

  /** Commits what is queued, then refuses new writes. */
  close(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.flush();
    this.closed = true;
  }

  private runBatch(batch: Pending[]): void {
    this.counters.writes += batch.length;
    try {
      this.sql.beginImmediate.run();
    } catch (err) {
      for (const op of batch) op.reject(storageError(err));
      return;
    }
    const events: KVEvent[] = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let revision = 0;
    const tx: WriteTx = { nextRevision: () => ++revision, emit: (e) => void events.push(e) };
    try {
      revision = this.sql.revision();
      for (const op of batch) {
        const revisionBefore = revision;
        const eventsBefore = events.length;
        this.sql.savepoint.run();
        try {
          outcomes.push({ ok: true, value: op.run(tx) });
          this.sql.release.run();
        } catch (err) {
          revision = revisionBefore;
          events.length = eventsBefore;
          // Some failures (I/O, disk full) abort the whole transaction: then nothing commits.
          if (!this.db.isTransaction) throw err;
          this.sql.rollbackTo.run();
          this.sql.release.run();
          outcomes.push({ ok: false, error: err });
        }
      }
      this.sql.commit.run();
    } catch (err) {
      if (this.db.isTransaction) {
        try {
          this.sql.rollback.run();
        } catch {
          // The connection is unusable; every op below fails with the original error anyway.
        }
      }
      for (const op of batch) op.reject(storageError(err));
      return;
    }
    this.counters.transactions++;
    try {
      this.onCommit(events, revision);
    } finally {
      batch.forEach((op, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) op.resolve(outcome.value);
        else op.reject(outcome.error);
      });
    }
  }
}
