/**
 * The on-disk layout of SqliteKV and the SQL it runs, kept apart from the store's logic.
 *
 * Like kine, the key space is one append-only log: a row per revision, the row id being the
 * revision. A key's current value is its latest row unless that row is a delete tombstone; the
 * state at revision R is, per key, the latest row with id <= R. Tombstones keep the deleted value
 * so delete events can carry `prev` without looking further back.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { KVError, type KVEvent, type KeyValue } from './kv.js';

/** Bumped when the layout changes incompatibly; stored in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_log_name_id ON kv_log (name, id);
CREATE INDEX IF NOT EXISTS kv_log_lease ON kv_log (lease) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS kv_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

/** One row of `kv_log`. */
export interface LogRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  version: number;
  lease: number;
  value: string;
}

/** A log row joined with the row it replaced (for the `prev` of a put event). */
interface EventRow extends LogRow {
  prev_value: string | null;
  prev_create_revision: number | null;
  prev_version: number | null;
  prev_lease: number | null;
}

const ROW = 'id, name, created, deleted, create_revision, prev_revision, version, lease, value';

/**
 * Opens (creating if needed) a store file with the pragmas durability depends on: WAL so readers
 * in other processes never block the writer, `synchronous=FULL` so an acknowledged commit has
 * been fsynced, and a busy timeout so concurrent writers queue instead of failing.
 */
export function openDatabase(path: string, busyTimeoutMs: number): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    // Only takes effect on a new file; it lets compaction hand freed pages back to the OS.
    db.exec('PRAGMA auto_vacuum = INCREMENTAL');
    const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
    if (mode?.journal_mode !== 'wal') throw new Error(`cannot enable WAL on ${path} (journal_mode=${mode?.journal_mode})`);
    db.exec('PRAGMA synchronous = FULL');
    // Checkpoints bring the WAL back to this size, so a burst does not leave a huge file behind.
    db.exec('PRAGMA journal_size_limit = 67108864');
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    if (version > SCHEMA_VERSION) throw new Error(`${path} has schema version ${version}; this keelson knows ${SCHEMA_VERSION}`);
    if (version < SCHEMA_VERSION) {
      // Two processes may create the same new file at once: the write lock serialises them.
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(SCHEMA);
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
        db.exec('COMMIT');
      } catch (err) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw err;
      }
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The exclusive upper bound of the keys starting with `prefix`, in the byte order SQLite
 * compares TEXT in: the prefix's UTF-8 bytes with the last byte incremented. Bound as a blob and
 * cast to TEXT, so it may be invalid UTF-8 (0xF8 sorts after every valid UTF-8 string, which is
 * the bound for the empty prefix).
 */
export function keyRangeEnd(prefix: string): Uint8Array {
  const bytes = Buffer.from(prefix, 'utf8');
  // Valid UTF-8 never contains 0xFF, so incrementing the last byte cannot overflow.
  if (bytes.length === 0) return Uint8Array.of(0xf8);
  bytes[bytes.length - 1]! += 1;
  return new Uint8Array(bytes);
}

/** Byte-order (UTF-8) comparison of two keys, as SQLite's BINARY collation and etcd compare. */
export function compareKeyBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The key/value a put row carries. */
export function rowToKV(row: LogRow): KeyValue {
  return { key: row.name, value: row.value, createRevision: row.create_revision, modRevision: row.id, version: row.version, lease: row.lease };
}

/** The key/value a delete tombstone removed (stored in the tombstone itself). */
export function tombstoneToPrev(row: LogRow): KeyValue {
  return { key: row.name, value: row.value, createRevision: row.create_revision, modRevision: row.prev_revision, version: row.version, lease: row.lease };
}

function rowToEvent(row: EventRow): KVEvent {
  if (row.deleted) return { type: 'delete', key: row.name, revision: row.id, prev: tombstoneToPrev(row) };
  const event: KVEvent = { type: 'put', key: row.name, revision: row.id, kv: rowToKV(row) };
  if (row.prev_value !== null) {
    event.prev = {
      key: row.name,
      value: row.prev_value,
      createRevision: row.prev_create_revision!,
      modRevision: row.prev_revision,
      version: row.prev_version!,
      lease: row.prev_lease!,
    };
  }
  return event;
}

/** Maps a failure of the database itself (not of a precondition) to an `unavailable` KVError. */
export function storageError(err: unknown): unknown {
  if (err instanceof KVError) return err;
  if (err instanceof Error && (err as { code?: string }).code === 'ERR_SQLITE_ERROR') {
    const wrapped = new KVError('unavailable', `sqlite: ${err.message}`);
    (wrapped as { cause?: unknown }).cause = err;
    return wrapped;
  }
  return err;
}

/** Every statement SqliteKV runs, prepared once per connection, with typed wrappers. */
export class Statements {
  /** Transaction control, used by the store and by group commit. */
  readonly begin: StatementSync;
  readonly beginImmediate: StatementSync;
  readonly commit: StatementSync;
  readonly rollback: StatementSync;
  readonly savepoint: StatementSync;
  readonly release: StatementSync;
  readonly rollbackTo: StatementSync;
  private readonly revisionStmt: StatementSync;
  private readonly compactStmt: StatementSync;
  private readonly setCompactStmt: StatementSync;
  private readonly latestStmt: StatementSync;
  private readonly insertStmt: StatementSync;
  private readonly rangeStmt: StatementSync;
  private readonly countStmt: StatementSync;
  private readonly eventsStmt: StatementSync;
  private readonly compactLogStmt: StatementSync;
  private readonly leaseKeysStmt: StatementSync;
  private readonly insertLeaseStmt: StatementSync;
  private readonly leaseStmt: StatementSync;
  private readonly renewLeaseStmt: StatementSync;
  private readonly deleteLeaseStmt: StatementSync;
  private readonly expiredLeasesStmt: StatementSync;

  constructor(private readonly db: DatabaseSync) {
    this.begin = db.prepare('BEGIN');
    this.beginImmediate = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT kv_op');
    this.release = db.prepare('RELEASE kv_op');
    this.rollbackTo = db.prepare('ROLLBACK TO kv_op');
    // AUTOINCREMENT's high-water mark never goes down, even if compaction deleted the top row.
    this.revisionStmt = db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'kv_log'), 0) AS rev");
    this.compactStmt = db.prepare("SELECT coalesce((SELECT value FROM kv_meta WHERE name = 'compact_revision'), 0) AS rev");
    this.setCompactStmt = db.prepare("INSERT OR REPLACE INTO kv_meta (name, value) VALUES ('compact_revision', ?)");
    this.latestStmt = db.prepare(`SELECT ${ROW} FROM kv_log WHERE name = ? ORDER BY id DESC LIMIT 1`);
    this.insertStmt = db.prepare(`INSERT INTO kv_log (${ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Correlated rather than GROUP BY: walking the (name, id) index in order needs no sort, so
    // a page costs its size, not the size of the whole prefix.
    this.rangeStmt = db.prepare(
      `SELECT ${ROW} FROM kv_log l WHERE name >= :from AND name < CAST(:end AS TEXT) AND id <= :rev
         AND id = (SELECT max(m.id) FROM kv_log m WHERE m.name = l.name AND m.id <= :rev) AND deleted = 0
       ORDER BY name LIMIT :limit`,
    );
    // Per key, the latest row at or below :rev (SQLite takes the bare `deleted` from the max row).
    this.countStmt = db.prepare(
      `SELECT count(*) AS n FROM (SELECT max(id), deleted FROM kv_log
         WHERE name >= :start AND name < CAST(:end AS TEXT) AND id <= :rev GROUP BY name) WHERE deleted = 0`,
    );
    this.eventsStmt = db.prepare(
      `SELECT l.id, l.name, l.created, l.deleted, l.create_revision, l.prev_revision, l.version, l.lease, l.value,
         p.value AS prev_value, p.create_revision AS prev_create_revision, p.version AS prev_version, p.lease AS prev_lease
       FROM kv_log l LEFT JOIN kv_log p ON l.deleted = 0 AND l.created = 0 AND p.id = l.prev_revision
       WHERE l.id > ? AND l.id <= ? ORDER BY l.id`,
    );
    // Below the compaction point only each key's latest row survives (the prev of any later
    // event, and the state at the compaction point); a tombstone there is not needed at all.
    this.compactLogStmt = db.prepare(
      `DELETE FROM kv_log WHERE id < :rev
         AND (deleted = 1 OR id NOT IN (SELECT max(id) FROM kv_log WHERE id < :rev GROUP BY name))`,
    );
    this.leaseKeysStmt = db.prepare(
      `SELECT ${ROW} FROM kv_log l WHERE lease = ? AND deleted = 0
         AND id = (SELECT max(id) FROM kv_log m WHERE m.name = l.name) ORDER BY name`,
    );
    this.insertLeaseStmt = db.prepare('INSERT INTO kv_leases (ttl, expires_at) VALUES (?, ?)');
    this.leaseStmt = db.prepare('SELECT id, ttl, expires_at FROM kv_leases WHERE id = ?');
    this.renewLeaseStmt = db.prepare('UPDATE kv_leases SET expires_at = ? + ttl * 1000 WHERE id = ? AND expires_at > ?');
    this.deleteLeaseStmt = db.prepare('DELETE FROM kv_leases WHERE id = ?');
    this.expiredLeasesStmt = db.prepare('SELECT id FROM kv_leases WHERE expires_at <= ? ORDER BY id LIMIT ?');
  }

  /** The store's revision: the highest revision ever written. */
  revision(): number {
    return (this.revisionStmt.get() as { rev: number }).rev;
  }

  /** The revision the log is compacted to (0 if never). */
  compactRevision(): number {
    return (this.compactStmt.get() as { rev: number }).rev;
  }

  /** Records the compaction point. */
  setCompactRevision(revision: number): void {
    this.setCompactStmt.run(revision);
  }

  /** The latest row of `key` (a tombstone if it was deleted last), or undefined. */
  latest(key: string): LogRow | undefined {
    return this.latestStmt.get(key) as LogRow | undefined;
  }

  /** Appends a row; its id is the revision, chosen by the caller inside the write transaction. */
  insert(row: LogRow): void {
    this.insertStmt.run(row.id, row.name, row.created, row.deleted, row.create_revision, row.prev_revision, row.version, row.lease, row.value);
  }

  /** Live keys starting with `prefix`, from `fromKey` on, as of `revision`, in key order. */
  range(prefix: string, fromKey: string, revision: number, limit: number): LogRow[] {
    return this.rangeStmt.all({ end: keyRangeEnd(prefix), rev: revision, from: fromKey, limit }) as unknown as LogRow[];
  }

  /** Number of live keys starting with `prefix` as of `revision`. */
  count(prefix: string, revision: number): number {
    return (this.countStmt.get({ start: prefix, end: keyRangeEnd(prefix), rev: revision }) as { n: number }).n;
  }

  /** Changes with `from < revision <= upTo`, in revision order (all keys). */
  events(from: number, upTo: number): KVEvent[] {
    return (this.eventsStmt.all(from, upTo) as unknown as EventRow[]).map(rowToEvent);
  }

  /** Drops the history below `revision` that no read at or after it can need. */
  compactLog(revision: number): number {
    return Number(this.compactLogStmt.run({ rev: revision }).changes);
  }

  /** The live keys bound to `lease`, in key order. */
  leaseKeys(lease: number): LogRow[] {
    return this.leaseKeysStmt.all(lease) as unknown as LogRow[];
  }

  /** Creates a lease; returns its id. */
  insertLease(ttlSeconds: number, expiresAt: number): number {
    return Number(this.insertLeaseStmt.run(ttlSeconds, expiresAt).lastInsertRowid);
  }

  /** A lease row, or undefined. */
  lease(id: number): { id: number; ttl: number; expires_at: number } | undefined {
    return this.leaseStmt.get(id) as { id: number; ttl: number; expires_at: number } | undefined;
  }

  /** Extends an unexpired lease by its TTL from `now`; false if it is gone or expired. */
  renewLease(id: number, now: number): boolean {
    return Number(this.renewLeaseStmt.run(now, id, now).changes) > 0;
  }

  /** Removes a lease row. */
  deleteLease(id: number): void {
    this.deleteLeaseStmt.run(id);
  }

  /** Ids of leases expired at `now`. */
  expiredLeases(now: number, limit: number): number[] {
    return (this.expiredLeasesStmt.all(now, limit) as { id: number }[]).map((r) => r.id);
  }

  /** Runs `fn` in a read transaction, so every statement in it sees one snapshot. */
  read<T>(fn: () => T): T {
    this.begin.run();
    try {
      const result = fn();
      this.commit.run();
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.rollback.run();
      throw storageError(err);
    }
  }
}
