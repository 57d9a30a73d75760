/**
 * The storage contract: a key/value store with one global, strictly increasing revision, as
 * etcd's MVCC store. Every backend (MemoryKV, SqliteKV, EtcdKV) implements {@link KV} and passes
 * the same conformance suite; the registry builds Kubernetes object semantics on top of it.
 *
 * Revisions: every successful write (create, update, delete, lease expiry deleting a key) takes
 * the next revision. A key's `createRevision` is the revision that created it (it changes when
 * the key is deleted and created again); `modRevision` is the revision of its last write, and is
 * what compare-and-swap compares and what Kubernetes calls `resourceVersion`.
 */

/** One key with its value and revisions. */
export interface KeyValue {
  key: string;
  /** The value as text (keelson stores JSON). */
  value: string;
  /** Revision that created this incarnation of the key. */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Number of writes since creation (1 after create). */
  version: number;
  /** The lease the key is bound to, 0 if none. */
  lease: number;
}

/** A change delivered by {@link KV.watch}. */
export interface KVEvent {
  type: 'put' | 'delete';
  key: string;
  /** The revision of this change. */
  revision: number;
  /** After a put: the new key/value. Absent on delete. */
  kv?: KeyValue;
  /** The value before the change: always present on delete; on put when the key existed. */
  prev?: KeyValue;
}

/**
 * Watch delivery: either changes, or (when idle for a while) a progress notification carrying
 * the revision up to which every change has already been delivered.
 */
export type KVWatchMessage = { type: 'events'; events: KVEvent[] } | { type: 'progress'; revision: number };

/** Options for {@link KV.range}. */
export interface RangeOptions {
  /** At most this many keys (0 or absent = no limit). */
  limit?: number;
  /** Start at this key (inclusive) instead of at the prefix; used for pagination. */
  fromKey?: string;
  /** Read the state as of this revision (must not be compacted); default: current. */
  revision?: number;
}

/** Result of {@link KV.range}. */
export interface RangeResult {
  kvs: KeyValue[];
  /** The revision the range was read at (the store's current revision unless one was asked). */
  revision: number;
  /** True when more keys match after the last one returned. */
  more: boolean;
}

/** Options for writes. */
export interface WriteOptions {
  /** Bind the key to this lease: it is deleted when the lease expires. */
  lease?: number;
}

/** Why a storage operation failed. The registry maps these to Kubernetes Status errors. */
export type KVErrorCode = 'exists' | 'not-found' | 'conflict' | 'compacted' | 'future-revision' | 'lease-not-found' | 'closed' | 'too-large' | 'unavailable';

/** A storage-level failure with a machine-readable {@link KVErrorCode}. */
export class KVError extends Error {
  /** For `conflict` and `exists`: the key's current value, so a caller can retry without a read. */
  readonly current?: KeyValue;
  /** For `compacted`: the compacted revision. */
  readonly compactRevision?: number;

  constructor(
    readonly code: KVErrorCode,
    message: string,
    extra: { current?: KeyValue; compactRevision?: number } = {},
  ) {
    super(message);
    this.name = 'KVError';
    if (extra.current) this.current = extra.current;
    if (extra.compactRevision !== undefined) this.compactRevision = extra.compactRevision;
  }
}

/** True if `err` is a {@link KVError} with the given code. */
export function isKVError(err: unknown, code?: KVErrorCode): err is KVError {
  return err instanceof KVError && (code === undefined || err.code === code);
}

/** Options for {@link KV.watch}. */
export interface WatchOptions {
  /** Stops the watch; the iterator then ends without error. */
  signal?: AbortSignal;
  /** Ask for progress notifications while idle (every `progressIntervalMs`, default 1000). */
  progressNotify?: boolean;
  progressIntervalMs?: number;
}

/** The store contract implemented by every backend. */
export interface KV {
  /** A short name for logs and test titles: `memory`, `sqlite`, `etcd`. */
  readonly backend: string;

  /** The current value of `key`, or undefined. */
  get(key: string): Promise<KeyValue | undefined>;

  /** Keys starting with `prefix`, in key order (byte order of the UTF-8 encoding). */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;

  /** Number of keys under `prefix` at the current revision. */
  count(prefix: string): Promise<number>;

  /** Creates `key`; fails with `exists` (carrying the current value) if present. Returns the new revision. */
  create(key: string, value: string, options?: WriteOptions): Promise<KeyValue>;

  /**
   * Replaces `key` only if its modRevision is `expectModRevision`: `conflict` (with the current
   * value) on mismatch, `not-found` if the key is absent. Returns the new key/value.
   */
  update(key: string, value: string, expectModRevision: number, options?: WriteOptions): Promise<KeyValue>;

  /**
   * Deletes `key` (only if its modRevision is `expectModRevision`, when given). Fails with
   * `not-found` or `conflict`. Returns the deleted key/value and the revision of the delete.
   */
  delete(key: string, expectModRevision?: number): Promise<{ prev: KeyValue; revision: number }>;

  /** The store's current revision (the revision of the last write). */
  revision(): Promise<number>;

  /** The revision history is compacted up to (events at or before it may be gone); 0 if never. */
  compactRevision(): Promise<number>;

  /**
   * Every change to keys under `prefix` with revision > `fromRevision`, in revision order,
   * exactly once. Fails with a `compacted` KVError (thrown by the iterator) when `fromRevision`
   * is older than the compacted history.
   */
  watch(prefix: string, fromRevision: number, options?: WatchOptions): AsyncIterableIterator<KVWatchMessage>;

  /** Discards history before `revision` (values superseded at or before it). Idempotent. */
  compact(revision: number): Promise<void>;

  /** Creates a lease that expires after `ttlSeconds` unless kept alive. Returns its id. */
  grantLease(ttlSeconds: number): Promise<number>;

  /** Renews a lease for another TTL; fails with `lease-not-found` if it expired. */
  keepAlive(lease: number): Promise<void>;

  /** Revokes a lease now, deleting its keys. */
  revokeLease(lease: number): Promise<void>;

  /** Releases connections, timers and files. Pending watches end. */
  close(): Promise<void>;
}

/** The smallest key greater than every key with the given prefix (etcd's `prefixEnd`). */
export function prefixEnd(prefix: string): string {
  // Keys compare by UTF-8 bytes; for the ASCII keys the registry writes this equals UTF-16
  // order, and appending U+FFFF sorts after every continuation of the prefix.
  return prefix + '\uffff';
}
