/**
 * The storage benchmark: creates/s and watch put→event latency with 1 and 64 writers in flight,
 * for every KV backend (MemoryKV, SqliteKV, EtcdKV against a real etcd), for the raw etcd3
 * client doing the same workload against the same etcd (EtcdKV's baseline), and for the
 * registry level (`connect({ store }).create(configMap)`) over each backend (baseline: the KV
 * of the same backend).
 *
 * One measurement = one fresh key prefix (or namespace) with a watcher on it started before the
 * writes, and made live by a sentinel write whose event it must deliver; then `count` creates by
 * `writers` concurrent writers. Creates/s is count ÷ elapsed time of the writes; latency is the
 * time from each write's issue (and, separately, its acknowledgement) to its event arriving at
 * the watcher; the measurement ends when every event has arrived.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ConfigMap } from '../lib/api/kinds.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { EtcdKV } from '../lib/storage/etcd.js';
import type { KV } from '../lib/storage/kv.js';
import { MemoryKV } from '../lib/storage/memory.js';
import { SqliteKV } from '../lib/storage/sqlite.js';
import { EtcdServer } from '../test/harness/etcd.js';
import { goalMark, LatencyTracker, runConcurrent, type Benchmark, type Cleanup, type FieldValue, type Percentiles, type Reporter } from './harness.js';

/** Writers in flight, and how many creates each measurement makes. */
const WORKLOADS: ReadonlyArray<{ writers: number; count: number }> = [
  { writers: 1, count: 2_000 },
  { writers: 64, count: 10_000 },
];
/** Creates per warm-up (same writers, own prefix, watcher included), before each measurement. */
const WARMUP_COUNT = 300;
/** EtcdKV's creates/s and watch latency must reach this fraction of the raw etcd3 client's. */
const ETCD_GOAL = 0.8;
/** How long a measurement waits for its watcher's events after the last write. */
const DELIVERY_TIMEOUT_MS = 30_000;
/** Name of the write that proves a watcher live before a measurement starts. */
const SENTINEL = 'ready';

/**
 * The KV value written by every KV-level create: a ConfigMap as the registry stores it (uid,
 * timestamps, managed fields), so KV and registry levels move about the same bytes.
 */
const KV_VALUE = JSON.stringify({
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: {
    name: 'w00000',
    namespace: 'bench-w64',
    uid: '2b0f3f4e-7d0c-4a59-9a57-0c1d2e3f4a5b',
    creationTimestamp: '2026-01-01T00:00:00Z',
    managedFields: [{ manager: 'bench', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { '.': {}, 'f:key': {} } } }],
  },
  data: { key: 'value' },
});

/** What one measurement found. */
interface Measurement {
  count: number;
  writers: number;
  opsPerSec: number;
  /** Issue → acknowledgement of the creates. */
  write: Percentiles;
  /** Issue → event at the watcher. */
  watchFromIssue: Percentiles;
  /** Acknowledgement → event at the watcher (negative: the watcher was first). */
  watchFromAck: Percentiles;
}

/**
 * Something the workload can be run against: a KV, the raw etcd3 client, a registry Client.
 * Items are named (`w0`, `w1`, …, and the sentinel); each run has its own key prefix/namespace.
 */
interface Target {
  /** Creates item `name` of `run`; fails if it exists. */
  create(run: string, name: string): Promise<void>;
  /**
   * Starts a watcher on `run`'s items, calling `onItem` with each created item's name and
   * `onError` if the watch fails. Resolves with a function that stops it.
   */
  watch(run: string, onItem: (name: string) => void, onError: (err: unknown) => void): Promise<() => Promise<void>>;
}

/** The key prefix of a run's items at the KV level. */
function kvPrefix(run: string): string {
  return `/bench/${run}/`;
}

/** The workload over one KV store (any backend). */
function kvTarget(kv: KV): Target {
  return {
    async create(run, name) {
      await kv.create(kvPrefix(run) + name, KV_VALUE);
    },
    async watch(run, onItem, onError) {
      const prefix = kvPrefix(run);
      const abort = new AbortController();
      const messages = kv.watch(prefix, await kv.revision(), { signal: abort.signal });
      const loop = (async () => {
        try {
          for await (const message of messages) {
            if (message.type !== 'events') continue;
            for (const event of message.events) if (event.type === 'put') onItem(event.key.slice(prefix.length));
          }
        } catch (err) {
          if (!abort.signal.aborted) onError(err);
        }
      })();
      return async () => {
        abort.abort();
        await loop;
      };
    },
  };
}

/**
 * The same workload through the etcd3 package directly: create = `Txn(If Create(key) == 0
 * Then Put)`, watch = an etcd3 watcher on the prefix. EtcdKV's baseline.
 */
function rawEtcdTarget(client: Etcd3): Target {
  return {
    async create(run, name) {
      const key = kvPrefix(run) + name;
      const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(KV_VALUE)).commit();
      if (!res.succeeded) throw new Error(`raw etcd3: ${key} exists`);
    },
    async watch(run, onItem, onError) {
      const prefix = kvPrefix(run);
      const watcher = await client.watch().prefix(prefix).create();
      watcher.on('put', (kv) => onItem(kv.key.toString('utf8').slice(prefix.length)));
      watcher.on('error', onError);
      return async () => {
        await watcher.cancel();
      };
    },
  };
}

/** The namespace of a run's items at the registry level. */
function namespaceOf(run: string): string {
  return `bench-${run}`;
}

/** The workload through a Client: `create(ConfigMap)`, `watch(ConfigMap, { namespace })`. */
function registryTarget(client: Client): Target {
  return {
    async create(run, name) {
      const configMap: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: namespaceOf(run) }, data: { key: 'value' } };
      await client.create(configMap);
    },
    async watch(run, onItem, onError) {
      const abort = new AbortController();
      const events = client.watch(ConfigMap, { namespace: namespaceOf(run), signal: abort.signal });
      const loop = (async () => {
        try {
          for await (const event of events) {
            if (event.type === 'ADDED') onItem(event.object.metadata?.name ?? '');
            else if (event.type === 'ERROR') throw new Error(`watch ERROR event: ${JSON.stringify(event.object)}`);
          }
        } catch (err) {
          if (!abort.signal.aborted) onError(err);
        }
      })();
      return async () => {
        abort.abort();
        await loop;
      };
    },
  };
}

/** Runs `count` creates of `run` with `writers` in flight and a watcher on the run; see the file comment. */
async function measure(target: Target, run: string, count: number, writers: number): Promise<Measurement> {
  const tracker = new LatencyTracker(count);
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  let live!: () => void;
  const sentinelSeen = new Promise<void>((resolve) => (live = resolve));
  const stop = await target.watch(
    run,
    (name) => {
      if (name === SENTINEL) live();
      else if (name.startsWith('w')) tracker.event(Number(name.slice(1)));
    },
    (err) => fail(err),
  );
  try {
    await target.create(run, SENTINEL);
    await Promise.race([sentinelSeen, failed, timeout(10_000, `${run}: the watcher did not deliver its first event`)]);
    const elapsedMs = await Promise.race([
      runConcurrent(count, writers, async (i) => {
        tracker.issue(i);
        await target.create(run, `w${i}`);
        tracker.ack(i);
      }),
      failed,
    ]);
    await Promise.race([tracker.allDelivered(DELIVERY_TIMEOUT_MS), failed]);
    return {
      count,
      writers,
      opsPerSec: (count / elapsedMs) * 1000,
      write: tracker.writeLatency(),
      watchFromIssue: tracker.fromIssue(),
      watchFromAck: tracker.fromAck(),
    };
  } finally {
    await stop();
  }
}

/** Rejects after `ms` (unref'd, so it never holds the process open). */
function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

/** Measurements of one target, keyed by writers in flight. */
type Results = Map<number, Measurement>;

/** A warm-up (discarded) and then one measurement per workload; failures are reported and skipped. */
async function measureAll(report: Reporter, label: string, target: Target, runTag: string): Promise<Results> {
  const results: Results = new Map();
  for (const { writers, count } of WORKLOADS) {
    try {
      await measure(target, `${runTag}-warm${writers}`, Math.min(WARMUP_COUNT, count), writers);
      results.set(writers, await measure(target, `${runTag}-w${writers}`, count, writers));
    } catch (err) {
      report.error(`storage ${label} writers=${writers}`, err);
    }
  }
  return results;
}

/** Speed of `value` relative to `baseline`: a throughput ratio, or baseline÷value for latencies. */
function speedRatio(value: number | undefined, baseline: number | undefined, lowerIsBetter: boolean): number {
  if (value === undefined || baseline === undefined || value <= 0 || baseline <= 0) return Number.NaN;
  return lowerIsBetter ? baseline / value : value / baseline;
}

/**
 * Prints the create and watch-latency lines of `subject` (one pair per workload), each with the
 * baseline's numbers from the same run and the ratio.
 */
function printPair(
  report: Reporter,
  names: { create: string; watch: string },
  backend: string,
  subject: Results,
  baselineName: string,
  baseline: Results,
  goal: number | undefined,
): void {
  for (const { writers } of WORKLOADS) {
    const m = subject.get(writers);
    if (!m) continue;
    const b = baseline.get(writers);
    const createRatio = speedRatio(m.opsPerSec, b?.opsPerSec, false);
    const createFields: Array<[string, FieldValue]> = [
      ['backend', backend],
      ['writers', writers],
      ['n', m.count],
      ['ops/s', m.opsPerSec],
      ['write_p50_ms', m.write.p50],
      ['write_p99_ms', m.write.p99],
      ['baseline', baselineName],
      ['base_ops/s', b?.opsPerSec ?? Number.NaN],
      ['ratio', createRatio],
    ];
    report.result(names.create, createFields, goalMark(createRatio, goal));
    const latencyRatio = speedRatio(m.watchFromIssue.p50, b?.watchFromIssue.p50, true);
    const watchFields: Array<[string, FieldValue]> = [
      ['backend', backend],
      ['writers', writers],
      ['from', 'issue'],
      ['p50_ms', m.watchFromIssue.p50],
      ['p99_ms', m.watchFromIssue.p99],
      ['ack_p50_ms', m.watchFromAck.p50],
      ['ack_p99_ms', m.watchFromAck.p99],
      ['baseline', baselineName],
      ['base_p50_ms', b?.watchFromIssue.p50 ?? Number.NaN],
      ['base_p99_ms', b?.watchFromIssue.p99 ?? Number.NaN],
      ['ratio', latencyRatio],
      ['ratio_p99', speedRatio(m.watchFromIssue.p99, b?.watchFromIssue.p99, true)],
    ];
    report.result(names.watch, watchFields, goalMark(latencyRatio, goal));
  }
}

const KV_LINES = { create: 'storage.create', watch: 'storage.watch-latency' };
const REGISTRY_LINES = { create: 'storage.registry-create', watch: 'storage.registry-watch-latency' };

/** The etcd binary's version line, for the notes. */
function etcdVersion(): string {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8', timeout: 5000 }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown (etcd --version failed)';
  }
}

/** Opens a KV, runs every workload on it, and closes it. */
async function withKV(report: Reporter, cleanup: Cleanup, label: string, open: () => Promise<KV> | KV, after?: (kv: KV) => void): Promise<Results> {
  let kv: KV;
  try {
    kv = await open();
  } catch (err) {
    report.error(`storage ${label}: open`, err);
    return new Map();
  }
  const close = cleanup.add(`close ${label}`, () => kv.close());
  try {
    const results = await measureAll(report, label, kvTarget(kv), label);
    after?.(kv);
    return results;
  } finally {
    await close();
  }
}

/** Connects a registry Client to `store`, runs every workload through it, and closes it. */
async function withRegistry(report: Reporter, cleanup: Cleanup, label: string, store: string): Promise<Results> {
  let client: Client;
  try {
    client = await connect({ store, compactionIntervalMs: 0 });
  } catch (err) {
    report.error(`storage ${label}: connect`, err);
    return new Map();
  }
  const close = cleanup.add(`close ${label}`, () => client.close());
  try {
    return await measureAll(report, label, registryTarget(client), label.replace(/[^a-z0-9]+/g, '-'));
  } finally {
    await close();
  }
}

/** The storage benchmark module. */
export const storageBenchmark: Benchmark = {
  name: 'storage',
  description: 'creates/s and watch put→event latency per backend, 1 and 64 writers in flight; etcd vs the raw etcd3 client; registry vs KV',
  async run(report, cleanup) {
    report.note(
      [
        `storage: ${WORKLOADS.map((w) => `${w.count} creates with ${w.writers} writer${w.writers > 1 ? 's' : ''} in flight`).join(', ')};`,
        `  ${WARMUP_COUNT} warm-up creates (discarded) before each; each measurement runs once — single runs on a shared 2-core machine vary by ±20% or more.`,
        `  KV value ${KV_VALUE.length} bytes (a ConfigMap as the registry stores it); registry level: client.create(ConfigMap) into a namespace per run.`,
        'legend:',
        '  ops/s = creates ÷ elapsed time of all writes; write_p50/p99_ms = issue → acknowledgement of one create.',
        '  watch latency: a watcher on the run\'s prefix/namespace is live (sentinel seen) before the writes; p50/p99_ms = write issued → its event',
        '    arrives at the watcher (from=issue, includes the write itself); ack_p50/p99_ms = event arrival − the writer\'s acknowledgement',
        '    (negative: the watcher saw it first).',
        '  ratio = speed relative to the baseline measured in this run: ops/s ÷ base_ops/s, and base_p50_ms ÷ p50_ms for latency (ratio_p99 likewise);',
        `    ≥ 1 means faster than the baseline. Goal (etcd only): EtcdKV ≥ ${ETCD_GOAL} × raw etcd3. Misses are reported, not fatal.`,
      ].join('\n'),
    );

    // --- in-process backends: memory and sqlite, each the other's peer.
    const dir = await mkdtemp(join(tmpdir(), 'keelson-bench-'));
    const removeDir = cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    try {
      const memory = await withKV(report, cleanup, 'memory', () => new MemoryKV());
      let sqliteStats = '';
      const sqlite = await withKV(
        report,
        cleanup,
        'sqlite',
        () => SqliteKV.open(join(dir, 'kv.db')),
        (kv) => {
          const stats = (kv as SqliteKV).commitStats;
          sqliteStats = `sqlite group commit over the whole sqlite run: ${stats.writes} writes in ${stats.transactions} transactions (${(stats.writes / Math.max(1, stats.transactions)).toFixed(1)} per fsync)`;
        },
      );
      printPair(report, KV_LINES, 'memory', memory, 'sqlite', sqlite, undefined);
      printPair(report, KV_LINES, 'sqlite', sqlite, 'memory', memory, undefined);
      if (sqliteStats) report.note(sqliteStats);

      // --- etcd: EtcdKV against the raw etcd3 client on the same server.
      let etcdStore: string | undefined;
      let etcdKV: Results = new Map();
      const server = await EtcdServer.start().catch((err: unknown) => {
        report.error('storage etcd: start etcd-server', err);
        return undefined;
      });
      const stopServer = server ? cleanup.add('stop etcd', () => server.stop()) : undefined;
      try {
        if (server) {
          report.note(`etcd: ${etcdVersion()}, one member on loopback (${server.endpoints.join(',')}), fresh data dir; raw-etcd3 = etcd3 package, default options`);
          const raw = new Etcd3({ hosts: server.endpoints });
          const closeRaw = cleanup.add('close raw etcd3', () => raw.close());
          let rawResults: Results;
          try {
            rawResults = await measureAll(report, 'raw-etcd3', rawEtcdTarget(raw), 'raw');
          } finally {
            await closeRaw();
          }
          etcdKV = await withKV(report, cleanup, 'etcd', () => new EtcdKV({ endpoints: server.endpoints }));
          printPair(report, KV_LINES, 'etcd', etcdKV, 'raw-etcd3', rawResults, ETCD_GOAL);
          etcdStore = `etcd://${server.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}`;
        }

        // --- registry level: connect({ store }).create(ConfigMap), against the KV of the same backend.
        report.note('registry: connect({ store }) → client.create(ConfigMap) / client.watch(ConfigMap, { namespace }); baseline = the KV-level run of the same backend above');
        const registryMemory = await withRegistry(report, cleanup, 'registry-memory', 'memory:');
        printPair(report, REGISTRY_LINES, 'memory', registryMemory, 'kv-memory', memory, undefined);
        const registrySqlite = await withRegistry(report, cleanup, 'registry-sqlite', `sqlite:${join(dir, 'registry.db')}`);
        printPair(report, REGISTRY_LINES, 'sqlite', registrySqlite, 'kv-sqlite', sqlite, undefined);
        if (etcdStore) {
          const registryEtcd = await withRegistry(report, cleanup, 'registry-etcd', etcdStore);
          printPair(report, REGISTRY_LINES, 'etcd', registryEtcd, 'kv-etcd', etcdKV, undefined);
        }
      } finally {
        await stopServer?.();
      }
    } finally {
      await removeDir();
    }
  },
};
