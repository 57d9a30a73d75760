/**
 * EtcdKV: the storage contract over a real etcd (v3 API, via the `etcd3` package's raw gRPC
 * clients). etcd already is the MVCC store the contract is modelled on, so most operations are
 * one request: compare-and-swap is a `Txn` comparing `create_revision`/`mod_revision` whose
 * failure branch reads the current value; revisions come from response headers; watches are
 * etcd watches with `prev_kv`.
 *
 * What is not one-to-one, and why:
 * - `prefix` is prepended to every key (like kube-apiserver's `--etcd-prefix`) and stripped
 *   from everything returned, so several stores (or test cases) can share one etcd.
 * - The revision is etcd's, shared by every prefix on the server: a store's first write does not
 *   get revision 1, and writes under other prefixes advance it.
 * - Compaction is off by one: etcd compacted at X has dropped X's delete events, so the
 *   contract's compacted revision is X + 1, and compact(R) compacts etcd at R - 1 (see
 *   {@link EtcdKV.compact}). Reads at exactly X are still served (the state at X is intact).
 * - etcd does not report its compacted revision directly. {@link EtcdKV.compactRevision} finds
 *   it by probing reads at old revisions (etcd refuses exactly those below it), which stays
 *   right when someone else compacts (another keelson, etcd's own auto-compaction). Writing it
 *   to a key, as kube-apiserver does, would consume a revision per compaction — the contract
 *   says compaction is not a write.
 * - Each watch has its own gRPC stream and is resumed by us, not by etcd3's WatchManager: that
 *   one resumes from the last *header* revision, which can be ahead of the events delivered
 *   (the `created` response carries the current revision), and would lose events.
 * - Progress notifications: etcd 3.4's on-demand progress request (`progress_request`) may
 *   report a revision before that revision's events reach the stream (etcd issue #15220), so it
 *   is not used. A progress message carries the highest revision known to be complete: the
 *   last delivered event, the start revision, or the revision of etcd's own periodic progress
 *   notification (sent only to caught-up watchers, in stream order; its period is the server's
 *   `--experimental-watch-progress-notify-interval`, 10 minutes unless configured).
 * - Lease ids are chosen by us (random, below 2^48) because etcd's own ids exceed 2^53 and the
 *   contract's ids are JS numbers.
 * - A lease expiring deletes all its keys at one revision (MemoryKV uses one per key).
 */
import { randomInt } from 'node:crypto';
import {
  CompareResult,
  CompareTarget,
  EtcdError,
  Etcd3,
  GRPCGenericError,
  GRPCUnavailableError,
  isRecoverableError,
  type ICompare,
  type IDuplexStream,
  type IEvent,
  type IKeyValue,
  type IOptions,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { Channel } from '../util/channel.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import {
  KVError,
  isKVError,
  type KV,
  type KVEvent,
  type KVWatchMessage,
  type KeyValue,
  type RangeOptions,
  type RangeResult,
  type WatchOptions,
  type WriteOptions,
} from './kv.js';

/** Options for {@link EtcdKV}. */
export interface EtcdKVOptions {
  /** Client URLs of the etcd members, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: string[];
  /** Prepended to every key and stripped from every result (default: none). */
  prefix?: string;
  /**
   * Time source for watch progress ticks (default: the system clock). Retries, reconnects and
   * lease expiry follow real time: they concern a real server.
   */
  clock?: Clock;
  /** Deadline of each request, in ms (default 10 s); an expired one fails with `unavailable`. */
  requestTimeoutMs?: number;
}

/** One watch stream as etcd3 returns it (a grpc-js duplex at runtime). */
type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** How a failed request may be retried. */
type RetryMode =
  /** Reads, compaction, keep-alive: safe to repeat after any connection failure. */
  | 'idempotent'
  /** Writes: repeat only when the request provably never left this process. */
  | 'unsent';

/** Attempts per request while members are unreachable (spread over every endpoint). */
const MIN_ATTEMPTS = 3;
/** First and last pause between attempts, and between watch reconnects. */
const RETRY_INITIAL_MS = 50;
const RETRY_MAX_MS = 1000;
/** A watch whose consumer stops reading is cut off after this many queued messages (as MemoryKV's). */
const MAX_BACKLOG = 100_000;
/** Lease ids are drawn below this bound so they stay exact as JS numbers. */
const LEASE_ID_BOUND = 2 ** 48 - 1;

/** How long a member that refused a connection is passed over when others exist. */
const MEMBER_DOWN_MS = 1000;

/** etcd3's fault-handling policy type (cockatiel's IPolicy, of which etcd3 only calls `execute`). */
type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
type PolicyFn<T> = (context: { signal: AbortSignal }) => PromiseLike<T> | T;

/**
 * etcd3's default fault handling is replaced: it retries every "recoverable" failure three times
 * and opens a per-member circuit breaker for 5 s after three failures, so a write whose response
 * was lost would be replayed (and reported as a conflict with itself), and a restarted etcd
 * would stay unusable for 5 s. EtcdKV retries itself, knowing which requests are safe to repeat.
 */
const passThrough = {
  execute<T>(fn: PolicyFn<T>): Promise<T> {
    return Promise.resolve().then(() => fn({ signal: new AbortController().signal }));
  },
} as unknown as Policy;

/** Thrown instead of calling a member that just refused a connection: the request never left. */
class MemberDownError extends Error {
  constructor(host: string) {
    super(`etcd member ${host} was unreachable moments ago; trying the others`);
  }
}

/**
 * Per-member policy for a cluster: after a connection failure the member is passed over for a
 * moment, so that etcd3's pool (which picks a random member per request and moves on when a
 * member's policy refuses) sends retries to the live ones. Network timing is real time.
 */
function memberGuard(host: string): Policy {
  let downUntil = 0;
  return {
    async execute<T>(fn: PolicyFn<T>): Promise<T> {
      if (Date.now() < downUntil) throw new MemberDownError(host);
      try {
        return await fn({ signal: new AbortController().signal });
      } catch (err) {
        if (isConnectionFailure(err)) downUntil = Date.now() + MEMBER_DOWN_MS;
        throw err;
      }
    },
  } as unknown as Policy;
}

/** The etcd backend of the storage contract. */
export class EtcdKV implements KV {
  readonly backend = 'etcd';
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly requestTimeoutMs: number;
  private readonly attempts: number;
  private readonly watches = new Set<EtcdWatch>();
  private readonly keepAliveStreams = new Set<{ end(): void; cancel(): void }>();
  /** Highest compacted revision seen so far: the compacted revision never decreases. */
  private knownCompactRevision = 0;
  private closed = false;

  constructor(options: EtcdKVOptions) {
    if (options.endpoints.length === 0) throw new Error('EtcdKV: no endpoints');
    this.prefix = options.prefix ?? '';
    this.clock = options.clock ?? systemClock;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.attempts = Math.max(MIN_ATTEMPTS, 2 * options.endpoints.length);
    this.client = new Etcd3({
      hosts: options.endpoints,
      faultHandling: { global: passThrough, host: (host) => (options.endpoints.length > 1 ? memberGuard(host) : passThrough) },
      grpcOptions: {
        // Lists of many objects can exceed gRPC's default 4 MiB response limit.
        'grpc.max_receive_message_length': -1,
        // After etcd restarts, reconnect within a second instead of gRPC's backoff of up to 2 min;
        // a channel of its own per client so a fresh one really dials again.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.use_local_subchannel_pool': 1,
        // Notice a dead peer behind an idle watch stream (etcd allows pings every 5 s).
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    const res = await this.request('get', (o) => this.client.kv.range({ key: this.encode(key) }, o), 'idempotent');
    const kv = res.kvs[0];
    return kv ? this.toKeyValue(kv) : undefined;
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen();
    const at = options.revision;
    // etcd reads revision 0 as "current"; the contract means the (empty) state before any write.
    if (at === 0) {
      const compacted = await this.compactRevision();
      if (compacted > 0) throw compactedError(0, compacted);
      return { kvs: [], revision: 0, more: false };
    }
    const start = options.fromKey !== undefined && options.fromKey > prefix ? options.fromKey : prefix;
    try {
      const res = await this.request(
        'range',
        (o) =>
          this.client.kv.range(
            {
              key: this.encodeStart(start),
              range_end: prefixEndBytes(this.encode(prefix)),
              ...(options.limit && options.limit > 0 ? { limit: options.limit } : {}),
              ...(at !== undefined ? { revision: at } : {}),
            },
            o,
          ),
        'idempotent',
      );
      return {
        kvs: res.kvs.map((kv) => this.toKeyValue(kv)),
        revision: at ?? Number(res.header.revision),
        more: res.more,
      };
    } catch (err) {
      if (isKVError(err, 'compacted')) throw compactedError(at ?? 0, await this.compactRevision());
      throw err;
    }
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    const res = await this.request(
      'count',
      (o) => this.client.kv.range({ key: this.encodeStart(prefix), range_end: prefixEndBytes(this.encode(prefix)), count_only: true }, o),
      'idempotent',
    );
    return Number(res.count);
  }

  async create(key: string, value: string, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    const k = this.encode(key);
    const lease = options.lease ?? 0;
    const res = await this.request(
      'create',
      (o) =>
        this.client.kv.txn(
          {
            compare: [{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
            success: [{ request_put: { key: k, value: Buffer.from(value, 'utf8'), lease } }],
            failure: [{ request_range: { key: k } }],
          },
          o,
        ),
      'unsent',
    );
    const revision = Number(res.header.revision);
    if (res.succeeded) return { key, value, createRevision: revision, modRevision: revision, version: 1, lease };
    const current = res.responses[0]?.response_range?.kvs[0];
    throw new KVError('exists', `key ${key} exists`, current ? { current: this.toKeyValue(current) } : {});
  }

  async update(key: string, value: string, expectModRevision: number, options: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen();
    const k = this.encode(key);
    const lease = options.lease ?? 0;
    const res = await this.request(
      'update',
      (o) =>
        this.client.kv.txn(
          {
            compare: casCompare(k, expectModRevision),
            success: [{ request_put: { key: k, value: Buffer.from(value, 'utf8'), lease, prev_kv: true } }],
            failure: [{ request_range: { key: k } }],
          },
          o,
        ),
      'unsent',
    );
    const revision = Number(res.header.revision);
    if (res.succeeded) {
      const prev = res.responses[0]?.response_put?.prev_kv;
      if (!prev) throw new Error(`etcd returned no previous value for the update of ${key}`);
      return { key, value, createRevision: Number(prev.create_revision), modRevision: revision, version: Number(prev.version) + 1, lease };
    }
    throw this.casFailure(key, expectModRevision, res.responses[0]?.response_range?.kvs[0]);
  }

  async delete(key: string, expectModRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    this.checkOpen();
    const k = this.encode(key);
    if (expectModRevision === undefined) {
      const res = await this.request('delete', (o) => this.client.kv.deleteRange({ key: k, prev_kv: true }, o), 'unsent');
      const prev = res.prev_kvs[0];
      if (!prev) throw new KVError('not-found', `key ${key} not found`);
      return { prev: this.toKeyValue(prev), revision: Number(res.header.revision) };
    }
    const res = await this.request(
      'delete',
      (o) =>
        this.client.kv.txn(
          {
            compare: casCompare(k, expectModRevision),
            success: [{ request_delete_range: { key: k, prev_kv: true } }],
            failure: [{ request_range: { key: k } }],
          },
          o,
        ),
      'unsent',
    );
    if (res.succeeded) {
      const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
      if (!prev) throw new Error(`etcd returned no previous value for the delete of ${key}`);
      return { prev: this.toKeyValue(prev), revision: Number(res.header.revision) };
    }
    throw this.casFailure(key, expectModRevision, res.responses[0]?.response_range?.kvs[0]);
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.currentRevision();
  }

  /**
   * etcd refuses reads below its compacted revision X and serves every revision from X on, so X
   * is the lowest readable revision: one probe confirms the last known value (the common case),
   * otherwise a binary search over the revisions above it. The contract's is X + 1 (see
   * {@link compact}).
   */
  async compactRevision(): Promise<number> {
    this.checkOpen();
    const current = await this.currentRevision();
    // etcd's first write is revision 2: a compaction at 1 (or none) discards nothing.
    let low = Math.max(1, this.knownCompactRevision - 1);
    if (low > current) return this.knownCompactRevision;
    if (await this.readableAt(low)) return low === 1 ? this.knownCompactRevision : this.noteCompacted(low + 1);
    // readableAt(low) is false and readableAt(current) is true: find the boundary in (low, current].
    let high = current;
    while (high - low > 1) {
      const mid = low + Math.floor((high - low) / 2);
      if (await this.readableAt(mid)) high = mid;
      else low = mid;
    }
    return this.noteCompacted(high + 1);
  }

  watch(prefix: string, fromRevision: number, options: WatchOptions = {}): AsyncIterableIterator<KVWatchMessage> {
    this.checkOpen();
    const watch = new EtcdWatch(
      {
        client: this.client,
        clock: this.clock,
        keyPrefix: this.prefix,
        onClose: (w) => this.watches.delete(w),
        onCompacted: (etcdRevision) => this.noteCompacted(etcdRevision + 1),
      },
      prefix,
      Math.max(0, fromRevision),
      options,
    );
    // An already-aborted signal closes the watch at once; there is nothing to track then.
    if (!watch.channel.isDone) this.watches.add(watch);
    watch.start();
    return watch.channel;
  }

  /**
   * The contract's compact(R) keeps revision R's events, deletes included, with their previous
   * values. etcd's compaction at X keeps the *state* at X but drops X's delete tombstones (and
   * the values a watch needs as `prev` for X's events), so EtcdKV compacts etcd at R - 1:
   * throughout, the contract's compacted revision is etcd's plus one.
   */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision <= this.knownCompactRevision) return;
    const current = await this.currentRevision();
    if (revision > current) throw new KVError('future-revision', `cannot compact to future revision ${revision}`);
    if (revision - 1 > 1) {
      try {
        await this.request('compact', (o) => this.client.kv.compact({ revision: revision - 1 }, o), 'idempotent');
      } catch (err) {
        // Compacting at or below the compacted revision: already done (compact is idempotent).
        if (!isKVError(err, 'compacted')) throw err;
      }
    }
    this.noteCompacted(revision);
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    this.checkOpen();
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    for (let attempt = 0; ; attempt++) {
      const id = randomInt(1, LEASE_ID_BOUND);
      try {
        // Retried with the same id: "already exists" on a retry means the first attempt won.
        let tries = 0;
        await this.request(
          'grant lease',
          async (o) => {
            tries++;
            try {
              return await this.client.leaseClient.leaseGrant({ TTL: ttl, ID: id }, o);
            } catch (err) {
              if (tries > 1 && errorMessage(err).includes('lease already exists')) return undefined;
              throw err;
            }
          },
          'idempotent',
        );
        return id;
      } catch (err) {
        // A random id collided with a live lease: draw another.
        if (attempt < 5 && errorMessage(err).includes('lease already exists')) continue;
        throw err;
      }
    }
  }

  async keepAlive(lease: number): Promise<void> {
    this.checkOpen();
    const ttl = await this.request('keep lease alive', () => this.keepAliveOnce(lease), 'idempotent');
    if (ttl <= 0) throw new KVError('lease-not-found', `lease ${lease} not found`);
  }

  async revokeLease(lease: number): Promise<void> {
    this.checkOpen();
    await this.request('revoke lease', (o) => this.client.leaseClient.leaseRevoke({ ID: lease }, o), 'unsent');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of [...this.watches]) watch.channel.end();
    for (const stream of [...this.keepAliveStreams]) closeStream(stream);
    this.keepAliveStreams.clear();
    this.client.close();
  }

  /** One keep-alive round trip on a stream of its own; resolves with the remaining TTL (0: gone). */
  private async keepAliveOnce(lease: number): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    this.keepAliveStreams.add(stream);
    return new Promise<number>((resolve, reject) => {
      // Real time, like the gRPC deadlines of the other requests (a stream call has none).
      const timer = setTimeout(() => finish(() => reject(new KVError('unavailable', `keep-alive of lease ${lease} timed out`))), this.requestTimeoutMs);
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.keepAliveStreams.delete(stream);
        closeStream(stream);
        settle();
      };
      stream.on('data', (res) => finish(() => resolve(Number(res.TTL))));
      stream.on('error', (err) => finish(() => reject(err)));
      stream.on('end', () => finish(() => reject(new KVError('unavailable', `keep-alive stream of lease ${lease} ended`))));
      stream.write({ ID: lease });
    });
  }

  private async currentRevision(): Promise<number> {
    // Any read answers with the store's revision in its header; a count of one absent key is the cheapest.
    const res = await this.request('revision', (o) => this.client.kv.range({ key: this.encodeStart(''), count_only: true }, o), 'idempotent');
    return Number(res.header.revision);
  }

  /** Whether etcd still serves reads at `revision` (i.e. it is not below the compacted revision). */
  private async readableAt(revision: number): Promise<boolean> {
    try {
      await this.request('probe', (o) => this.client.kv.range({ key: this.encodeStart(''), count_only: true, revision }, o), 'idempotent');
      return true;
    } catch (err) {
      if (isKVError(err, 'compacted')) return false;
      throw err;
    }
  }

  private noteCompacted(revision: number): number {
    if (revision > this.knownCompactRevision) this.knownCompactRevision = revision;
    return this.knownCompactRevision;
  }

  /** The error of a failed compare-and-swap: `not-found` without a current value, else `conflict`. */
  private casFailure(key: string, expected: number, current: IKeyValue | undefined): KVError {
    if (!current) return new KVError('not-found', `key ${key} not found`);
    const kv = this.toKeyValue(current);
    return new KVError('conflict', `key ${key} is at revision ${kv.modRevision}, not ${expected}`, { current: kv });
  }

  /**
   * Runs one request with a deadline, mapping etcd's errors to KVErrors and retrying connection
   * failures as `mode` allows (another endpoint is picked at random on each attempt).
   */
  private async request<T>(what: string, fn: (options: { deadline: number }) => Promise<T>, mode: RetryMode): Promise<T> {
    let delay = RETRY_INITIAL_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        // gRPC deadlines are absolute wall-clock times, so this one reads the real clock.
        return await fn({ deadline: Date.now() + this.requestTimeoutMs });
      } catch (raw) {
        if (this.closed) throw new KVError('closed', 'store is closed');
        const err = toKVError(raw, what);
        const retryable = isKVError(err, 'unavailable') && (mode === 'idempotent' || neverSent(raw));
        if (!retryable || attempt >= this.attempts) throw err;
        await systemClock.sleep(delay);
        delay = Math.min(RETRY_MAX_MS, delay * 2);
        if (this.closed) throw new KVError('closed', 'store is closed');
      }
    }
  }

  private encode(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  /** The first key of a range: etcd rejects an empty key, and "\0" is the smallest non-empty one. */
  private encodeStart(key: string): Buffer {
    const k = this.encode(key);
    return k.length > 0 ? k : Buffer.from([0]);
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return convertKeyValue(kv, this.prefix);
  }

  private checkOpen(): void {
    if (this.closed) throw new KVError('closed', 'store is closed');
  }
}

/** What an {@link EtcdWatch} needs from its store. */
interface WatchContext {
  client: Etcd3;
  clock: Clock;
  keyPrefix: string;
  onClose(watch: EtcdWatch): void;
  /** etcd reported its compacted revision (the contract's is one more). */
  onCompacted(etcdRevision: number): void;
}

/**
 * One KV watch: an etcd watcher on a gRPC stream of its own, re-created from the last
 * delivered revision whenever the stream fails, so that every event is delivered exactly once.
 */
class EtcdWatch {
  /** Where the consumer reads; closing it (return/abort/store close) cancels the etcd watcher. */
  readonly channel: Channel<KVWatchMessage>;
  /** Every event up to this revision has been delivered (or precedes the start). */
  private delivered: number;
  /** Revision of etcd's last periodic progress notification on this watch. */
  private serverProgress = 0;
  private stream: WatchStream | undefined;
  /** Incremented per stream so that late callbacks of a dead stream are ignored. */
  private generation = 0;
  private retryDelay = RETRY_INITIAL_MS;
  private retryTimer: TimerHandle | undefined;
  private progressTimer: TimerHandle | undefined;
  /** Whether anything was delivered since the last progress tick. */
  private busy = false;
  private readonly rangeStart: Buffer;
  private readonly rangeEnd: Buffer;

  constructor(
    private readonly context: WatchContext,
    prefix: string,
    fromRevision: number,
    private readonly options: WatchOptions,
  ) {
    this.delivered = fromRevision;
    const key = Buffer.from(context.keyPrefix + prefix, 'utf8');
    this.rangeStart = key.length > 0 ? key : Buffer.from([0]);
    this.rangeEnd = prefixEndBytes(key);
    this.channel = new Channel<KVWatchMessage>({
      ...(options.signal ? { signal: options.signal } : {}),
      onClose: () => this.shutdown(),
    });
  }

  start(): void {
    if (this.channel.isDone) return;
    if (this.options.progressNotify) this.scheduleProgress(this.options.progressIntervalMs ?? 1000);
    void this.connect();
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    if (this.channel.isDone) return;
    const generation = ++this.generation;
    let stream: WatchStream;
    try {
      stream = await this.context.client.watchClient.watch();
    } catch (err) {
      this.onStreamFailure(generation, err);
      return;
    }
    if (this.channel.isDone || generation !== this.generation) {
      stream.on('error', () => undefined);
      closeStream(stream);
      return;
    }
    this.stream = stream;
    stream.on('data', (res) => {
      if (generation === this.generation) this.onResponse(res);
    });
    stream.on('error', (err) => this.onStreamFailure(generation, err));
    stream.on('end', () => this.onStreamFailure(generation, new KVError('unavailable', 'watch stream ended')));
    try {
      this.writeCreate(stream);
    } catch (err) {
      this.onStreamFailure(generation, err);
    }
  }

  private writeCreate(stream: WatchStream): void {
    stream.write({
      create_request: {
        key: this.rangeStart,
        range_end: this.rangeEnd,
        // One revision early, and that revision's events are dropped below: etcd then refuses
        // the watch exactly when `delivered` is below its compacted revision X, i.e. when events
        // after `delivered` may be gone (X's delete tombstones are; see EtcdKV.compact). Starting
        // at delivered + 1 would be accepted for delivered = X and silently miss those deletes.
        // Revision 1 has no events (etcd's first write is 2) and 0 would mean "now".
        start_revision: Math.max(1, this.delivered),
        prev_kv: true,
        progress_notify: this.options.progressNotify === true,
      },
    });
  }

  private onResponse(res: IWatchResponse): void {
    if (res.created) {
      this.retryDelay = RETRY_INITIAL_MS;
      // etcd may refuse a watcher in its creation response (newer servers do so for compaction).
      if (res.canceled) this.onCanceled(res);
      return;
    }
    if (res.canceled) {
      this.onCanceled(res);
      return;
    }
    if (res.events.length === 0) {
      // A periodic progress notification: etcd sends these only to watchers that are caught up,
      // through the same queue as their events, so every event up to this revision is delivered.
      const revision = Number(res.header.revision);
      if (revision > this.serverProgress) this.serverProgress = revision;
      return;
    }
    const floor = this.delivered;
    const events: KVEvent[] = [];
    let missingPrev: number | undefined;
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      // The watch starts at `delivered` itself (see connect), whose events were already delivered
      // or precede the start; the same check keeps delivery exactly-once across reconnects.
      if (revision <= floor) continue;
      const event = this.convert(ev, revision);
      if (!event) {
        missingPrev = revision;
        break;
      }
      events.push(event);
    }
    if (events.length > 0) {
      this.delivered = events[events.length - 1]!.revision;
      this.push({ type: 'events', events });
    }
    if (missingPrev !== undefined) {
      // etcd reads prev_kv at revision - 1, so a missing one means etcd was compacted at or past
      // this event while it was on its way (a far-behind watch). A delete without its previous
      // value cannot be reported (kube-apiserver fails its watch here too).
      this.context.onCompacted(missingPrev);
      this.fail(compactedError(this.delivered, missingPrev + 1));
    }
  }

  /** Converts an etcd event; undefined for a delete whose previous value etcd no longer has. */
  private convert(ev: IEvent, revision: number): KVEvent | undefined {
    const prefix = this.context.keyPrefix;
    const key = convertKey(ev.kv.key, prefix);
    const prev = ev.prev_kv ? convertKeyValue(ev.prev_kv, prefix) : undefined;
    if (ev.type === 'Delete') {
      if (!prev) return undefined;
      return { type: 'delete', key, revision, prev };
    }
    return { type: 'put', key, revision, kv: convertKeyValue(ev.kv, prefix), ...(prev ? { prev } : {}) };
  }

  private onCanceled(res: IWatchResponse): void {
    const etcdCompacted = Number(res.compact_revision);
    if (etcdCompacted > 0) {
      this.context.onCompacted(etcdCompacted);
      this.fail(compactedError(this.delivered, etcdCompacted + 1));
      return;
    }
    this.fail(new KVError('unavailable', `etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`));
  }

  private onStreamFailure(generation: number, err: unknown): void {
    if (generation !== this.generation) return;
    this.generation++;
    if (this.stream) closeStream(this.stream);
    this.stream = undefined;
    if (this.channel.isDone) return;
    const mapped = toKVError(err, 'watch');
    if (!isKVError(mapped, 'unavailable')) {
      this.fail(mapped);
      return;
    }
    // The connection dropped (etcd restarting, a member gone): resume from the last delivered
    // revision after a pause, for as long as the consumer keeps the watch open.
    const delay = this.retryDelay;
    this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
    this.retryTimer = systemClock.setTimeout(() => void this.connect(), delay);
  }

  private push(message: KVWatchMessage): void {
    if (this.channel.size >= MAX_BACKLOG) {
      this.fail(new KVError('unavailable', 'watcher fell too far behind and was closed'));
      return;
    }
    this.busy = true;
    this.channel.push(message);
  }

  private fail(err: unknown): void {
    this.channel.fail(err);
  }

  private scheduleProgress(intervalMs: number): void {
    this.progressTimer = this.context.clock.setTimeout(() => {
      if (this.channel.isDone) return;
      if (!this.busy) this.channel.push({ type: 'progress', revision: Math.max(this.delivered, this.serverProgress) });
      this.busy = false;
      this.scheduleProgress(intervalMs);
    }, intervalMs);
  }

  /** Called once when the channel closes, for whatever reason: releases the etcd watcher. */
  private shutdown(): void {
    this.generation++;
    this.retryTimer?.cancel();
    this.progressTimer?.cancel();
    if (this.stream) closeStream(this.stream);
    this.stream = undefined;
    this.context.onClose(this);
  }
}

/** Compare-and-swap on the mod revision; `Version > 0` keeps an absent key from matching 0. */
function casCompare(key: Buffer, expectModRevision: number): ICompare[] {
  return [
    { key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expectModRevision },
    { key, target: CompareTarget.Version, result: CompareResult.Greater, version: 0 },
  ];
}

/**
 * Ends a gRPC stream we no longer want. Half-closing first matters: etcd3 resets every
 * connection to the host when a stream that is still writable reports an error, and
 * cancelling reports CANCELLED as one.
 */
function closeStream(stream: { end(): void; cancel(): void }): void {
  try {
    stream.end();
  } catch {
    // Already ended.
  }
  stream.cancel();
}

/** The smallest key greater than every key starting with `prefix`, in bytes (etcd's prefix end). */
export function prefixEndBytes(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = prefix[i]! + 1;
      return end;
    }
  }
  // Empty or all 0xff: "\0" as range end means "every key from the start key on".
  return Buffer.from([0]);
}

function convertKey(key: Buffer, prefix: string): string {
  return key.toString('utf8').slice(prefix.length);
}

function convertKeyValue(kv: IKeyValue, prefix: string): KeyValue {
  return {
    key: convertKey(kv.key, prefix),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: Number(kv.lease),
  };
}

function compactedError(revision: number, compactRevision: number): KVError {
  return new KVError('compacted', `required revision ${revision} has been compacted (compacted to ${compactRevision})`, { compactRevision });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Maps an etcd/gRPC failure to a KVError by etcd's error text (the only stable signal it gives),
 * and connection-level failures to `unavailable`. Anything else (a bug) passes through.
 */
function toKVError(err: unknown, what: string): unknown {
  if (err instanceof KVError) return err;
  const message = errorMessage(err);
  if (message.includes('required revision has been compacted')) return new KVError('compacted', `${what}: ${message}`, { compactRevision: 0 });
  if (message.includes('required revision is a future revision')) return new KVError('future-revision', `${what}: ${message}`);
  if (message.includes('requested lease not found')) return new KVError('lease-not-found', `${what}: ${message}`);
  // etcd's own limit (--max-request-bytes), or gRPC's, slightly above it, for larger messages.
  if (message.includes('request is too large') || /message larger than max/i.test(message)) return new KVError('too-large', `${what}: ${message}`);
  if (message.includes('client was already closed')) return new KVError('closed', 'store is closed');
  if (err instanceof MemberDownError || isConnectionFailure(err) || (err instanceof Error && isRecoverableError(err))) {
    return new KVError('unavailable', `${what}: etcd unavailable: ${message}`);
  }
  if (err instanceof GRPCGenericError || err instanceof EtcdError) {
    // etcd's transient server-side conditions (no leader, leader changed, timeouts) come as
    // UNAVAILABLE and are covered above; these are the remaining etcd answers worth naming.
    if (/no leader|leader changed|request timed out|too many requests|stopped/.test(message)) {
      return new KVError('unavailable', `${what}: etcd unavailable: ${message}`);
    }
  }
  return err;
}

/** True when a failed request certainly never reached etcd (so a write may be sent again). */
function neverSent(err: unknown): boolean {
  return err instanceof MemberDownError || /No connection established|ECONNREFUSED/.test(errorMessage(err));
}

/** A failure to talk to a member at all (as opposed to an answer from etcd). */
function isConnectionFailure(err: unknown): boolean {
  return err instanceof GRPCUnavailableError || /ECONNREFUSED|ECONNRESET|No connection established|Connection dropped/.test(errorMessage(err));
}
