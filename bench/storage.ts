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
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { isAlreadyExists } from '../lib/api/errors.js';
import { ConfigMap, Namespace } from '../lib/api/kinds.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { EtcdKV } from '../lib/storage/etcd.js';
import type { KV } from '../lib/storage/kv.js';
import { MemoryKV } from '../lib/storage/memory.js';
import { SqliteKV } from '../lib/storage/sqlite.js';
import { EtcdServer } from '../test/harness/etcd.js';
import { cpuMicros, goalMark, LatencyTracker, rejectAfter, runConcurrent, type Benchmark, type Cleanup, type FieldValue, type Percentiles, type Reporter } from './harness.js';

/**
 * Writers in flight, how many creates each measurement makes, and in how many slices it runs
 * interleaved with its peers' (see measureGroup): finer for 1 writer, whose ~1 ms etcd latencies
 * shift with every change of the machine's load.
 */
const WORKLOADS: ReadonlyArray<{ writers: number; count: number; slices: number }> = [
  { writers: 1, count: 2_000, slices: 20 },
  { writers: 64, count: 10_000, slices: 8 },
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
 * The KV value written by every KV-level create: a ConfigMap as the registry stores it (the
 * registry's own JSON for `w1234` in a run's namespace, 215 bytes), so KV and registry levels
 * move the same bytes.
 */
const KV_VALUE = JSON.stringify({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'w1234', namespace: 'bench-registry-etcd-w64', uid: '1f6a999e-080b-4de0-addd-65afcb09f2e2', creationTimestamp: '2026-01-01T00:00:00Z' },
  data: { key: 'value' },
});

/** What one measurement found. */
interface Measurement {
  count: number;
  writers: number;
  opsPerSec: number;
  /** This process's CPU time per create, watch delivery included (µs). */
  cpuUsPerOp: number;
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
      // The run's namespace must exist before its creates (namespace lifecycle); made here, before the measured writes.
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceOf(run) } } as Namespace).catch((err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
      });
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

/**
 * One target's measurement in progress: its watcher (live), its latency tracker, and the time
 * and CPU its slices took so far.
 */
class Session {
  private elapsedMs = 0;
  private cpuUs = 0;
  private written = 0;

  private constructor(
    private readonly target: Target,
    private readonly run: string,
    private readonly tracker: LatencyTracker,
    private readonly failed: Promise<never>,
    private readonly stopWatch: () => Promise<void>,
  ) {}

  /** Starts a watcher on `run` and proves it live with the sentinel write. */
  static async open(target: Target, run: string, count: number): Promise<Session> {
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
      await Promise.race([sentinelSeen, failed, rejectAfter(10_000, () => `${run}: the watcher did not deliver its first event`)]);
    } catch (err) {
      await stop();
      throw err;
    }
    return new Session(target, run, tracker, failed, stop);
  }

  /**
   * The next `n` creates with `writers` in flight, then waits (untimed for ops/s, but counted
   * for CPU) until the watcher delivered all of them.
   */
  async slice(n: number, writers: number): Promise<void> {
    const from = this.written;
    const cpuStart = cpuMicros();
    this.elapsedMs += await Promise.race([
      runConcurrent(n, writers, async (j) => {
        const i = from + j;
        this.tracker.issue(i);
        await this.target.create(this.run, `w${i}`);
        this.tracker.ack(i);
      }),
      this.failed,
    ]);
    this.written += n;
    await Promise.race([this.tracker.deliveredAtLeast(this.written, DELIVERY_TIMEOUT_MS), this.failed]);
    this.cpuUs += cpuMicros() - cpuStart;
  }

  /** What the slices so far measured. */
  result(writers: number): Measurement {
    return {
      count: this.written,
      writers,
      opsPerSec: (this.written / this.elapsedMs) * 1000,
      cpuUsPerOp: this.cpuUs / this.written,
      write: this.tracker.writeLatency(),
      watchFromIssue: this.tracker.fromIssue(),
      watchFromAck: this.tracker.fromAck(),
    };
  }

  /** Stops the watcher. */
  async close(): Promise<void> {
    await this.stopWatch();
  }
}

/** One thing measured in a group: a name for its lines and errors, and the target. */
interface Subject {
  label: string;
  target: Target;
  /** Closes what the subject opened (once; also registered with the run's cleanup). */
  close: () => Promise<void>;
}

/** Measurements of one subject, keyed by writers in flight. */
type Results = Map<number, Measurement>;

/**
 * Measures every subject of a group under each workload, interleaved: after a discarded
 * warm-up each, the count is cut into slices per subject (see {@link WORKLOADS}), run in ABBA order
 * (forward, then reversed, …), so that the machine's load drifting during the run hits every
 * subject alike. Results are per subject label; a failing subject is reported and dropped.
 */
async function measureGroup(report: Reporter, subjects: readonly Subject[]): Promise<Map<string, Results>> {
  const results = new Map<string, Results>(subjects.map((s) => [s.label, new Map()]));
  let alive = [...subjects];
  const failedSubject = (subject: Subject, writers: number, err: unknown) => {
    report.error(`storage ${subject.label} writers=${writers}`, err);
    alive = alive.filter((s) => s !== subject);
  };
  for (const { writers, count, slices } of WORKLOADS) {
    const tag = (subject: Subject) => subject.label.replace(/[^a-z0-9]+/g, '-');
    for (const subject of [...alive]) {
      try {
        const warm = await Session.open(subject.target, `${tag(subject)}-warm${writers}`, WARMUP_COUNT);
        try {
          await warm.slice(WARMUP_COUNT, writers);
        } finally {
          await warm.close();
        }
      } catch (err) {
        failedSubject(subject, writers, err);
      }
    }
    const sessions = new Map<Subject, Session>();
    try {
      for (const subject of [...alive]) {
        try {
          sessions.set(subject, await Session.open(subject.target, `${tag(subject)}-w${writers}`, count));
        } catch (err) {
          failedSubject(subject, writers, err);
        }
      }
      const sliceSize = Math.ceil(count / slices);
      for (let s = 0; s < slices; s++) {
        const n = Math.min(sliceSize, count - s * sliceSize);
        const order = s % 2 === 0 ? [...alive] : [...alive].reverse();
        for (const subject of order) {
          try {
            await sessions.get(subject)!.slice(n, writers);
          } catch (err) {
            failedSubject(subject, writers, err);
          }
        }
      }
      for (const subject of alive) results.get(subject.label)!.set(writers, sessions.get(subject)!.result(writers));
    } finally {
      for (const session of sessions.values()) await session.close();
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
      ['cpu_us/op', m.cpuUsPerOp],
      ['baseline', baselineName],
      ['base_ops/s', b?.opsPerSec ?? Number.NaN],
      ['base_cpu_us/op', b?.cpuUsPerOp ?? Number.NaN],
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

/** The installed etcd3 package's version, for the notes. */
const ETCD3_VERSION = ((): string => {
  try {
    return (createRequire(import.meta.url)('etcd3/package.json') as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
})();

/** The etcd binary's version line, for the notes. */
function etcdVersion(): string {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8', timeout: 5000 }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown (etcd --version failed)';
  }
}

/** Opens what a subject needs, registering its closing with `cleanup`; undefined (reported) on failure. */
async function openSubject(
  report: Reporter,
  cleanup: Cleanup,
  label: string,
  open: () => Promise<{ target: Target; close: () => Promise<void> | void }>,
): Promise<Subject | undefined> {
  try {
    const { target, close } = await open();
    return { label, target, close: cleanup.add(`close ${label}`, close) };
  } catch (err) {
    report.error(`storage ${label}: open`, err);
    return undefined;
  }
}

/** A KV store as a subject. */
function kvSubject(report: Reporter, cleanup: Cleanup, label: string, open: () => Promise<KV> | KV): Promise<Subject | undefined> {
  return openSubject(report, cleanup, label, async () => {
    const kv = await open();
    return { target: kvTarget(kv), close: () => kv.close() };
  });
}

/** A registry Client over `store` (`connect({ store })`, no periodic compaction) as a subject. */
function registrySubject(report: Reporter, cleanup: Cleanup, label: string, store: string): Promise<Subject | undefined> {
  return openSubject(report, cleanup, label, async () => {
    const client = await connect({ store, compactionIntervalMs: 0 });
    return { target: registryTarget(client), close: () => client.close() };
  });
}

/** Results of a subject that failed or did not run. */
const none: Results = new Map();

/** Subjects that opened. */
function present(subjects: Array<Subject | undefined>): Subject[] {
  return subjects.filter((s): s is Subject => s !== undefined);
}

/** The storage benchmark module. */
export const storageBenchmark: Benchmark = {
  name: 'storage',
  description: 'creates/s and watch put→event latency per backend, 1 and 64 writers in flight; etcd vs the raw etcd3 client; registry vs KV',
  parts: ['local', 'etcd'],
  async run(report, cleanup, parts) {
    const wanted = (part: string) => parts.length === 0 || parts.includes(part);
    const unknown = parts.filter((p) => !this.parts.includes(p));
    if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(', ')} of storage; parts: ${this.parts.join(', ')}`);
    report.note(
      [
        `storage: ${WORKLOADS.map((w) => `${w.count} creates with ${w.writers} writer${w.writers > 1 ? 's' : ''} in flight`).join(', ')}, per subject.`,
        `  Each subject: ${WARMUP_COUNT} warm-up creates (discarded), then one measurement, cut into ${WORKLOADS.map((w) => `${w.slices} slices (${w.writers} writer${w.writers > 1 ? 's' : ''})`).join(' / ')} run interleaved with the`,
        '  other subjects of its group in ABBA order (group 1: memory, sqlite, registry over both; group 2: raw etcd3, EtcdKV, registry over etcd),',
        '  so load drifting on this shared 2-core machine hits peers alike. Still single runs: expect ±20% between runs, more for p99.',
        `  KV value: ${KV_VALUE.length} bytes (a ConfigMap as the registry stores it); registry level: client.create(ConfigMap), one namespace per run.`,
        'legend:',
        '  ops/s = creates ÷ time spent writing; write_p50/p99_ms = issue → acknowledgement of one create;',
        '  cpu_us/op = this process\'s CPU (all threads) per create, watch delivery included — less sensitive to other load than ops/s.',
        '  watch latency: a watcher on the run\'s prefix/namespace is live (sentinel seen) before the writes; p50/p99_ms = write issued → its event',
        '    arrives at the watcher (from=issue: includes the write itself); ack_p50/p99_ms = event arrival − the writer\'s acknowledgement',
        '    (negative: the watcher saw it first).',
        '  ratio = speed relative to the baseline measured in this run: ops/s ÷ base_ops/s, and base_p50_ms ÷ p50_ms for latency (ratio_p99',
        `    likewise): ≥ 1 means faster than the baseline. Goal (etcd only): EtcdKV ≥ ${ETCD_GOAL} × raw etcd3. Misses are reported, not fatal.`,
      ].join('\n'),
    );

    if (wanted('local')) await runLocal(report, cleanup);
    if (wanted('etcd')) await runEtcd(report, cleanup);
  },
};

/** Group 1, in-process backends: memory and sqlite (each the other's peer), and the registry over each. */
async function runLocal(report: Reporter, cleanup: Cleanup): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keelson-bench-'));
  const removeDir = cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  let sqliteKV: SqliteKV | undefined;
  const local = present([
    await kvSubject(report, cleanup, 'memory', () => new MemoryKV()),
    await kvSubject(report, cleanup, 'sqlite', () => (sqliteKV = SqliteKV.open(join(dir, 'kv.db')))),
    await registrySubject(report, cleanup, 'registry-memory', 'memory:'),
    await registrySubject(report, cleanup, 'registry-sqlite', `sqlite:${join(dir, 'registry.db')}`),
  ]);
  const g1 = await measureGroup(report, local);
  const memory = g1.get('memory') ?? none;
  const sqlite = g1.get('sqlite') ?? none;
  printPair(report, KV_LINES, 'memory', memory, 'sqlite', sqlite, undefined);
  printPair(report, KV_LINES, 'sqlite', sqlite, 'memory', memory, undefined);
  printPair(report, REGISTRY_LINES, 'memory', g1.get('registry-memory') ?? none, 'kv-memory', memory, undefined);
  printPair(report, REGISTRY_LINES, 'sqlite', g1.get('registry-sqlite') ?? none, 'kv-sqlite', sqlite, undefined);
  if (sqliteKV) {
    const stats = sqliteKV.commitStats;
    report.note(`sqlite KV group commit, whole run: ${stats.writes} writes in ${stats.transactions} transactions (${(stats.writes / Math.max(1, stats.transactions)).toFixed(1)} per fsync)`);
  }
  for (const subject of local) await subject.close();
  await removeDir();
}

/** Group 2, etcd: the raw etcd3 client (baseline), EtcdKV, and the registry over EtcdKV, on one etcd server. */
async function runEtcd(report: Reporter, cleanup: Cleanup): Promise<void> {
  // Registered before the start resolves, so an interrupt while etcd starts still stops it.
  const starting = EtcdServer.start();
  const stopServer = cleanup.add('stop etcd', async () => (await starting.catch(() => undefined))?.stop());
  const server = await starting.catch((err: unknown) => {
    report.error('storage etcd: start etcd-server', err);
    return undefined;
  });
  if (!server) return;
  report.note(`etcd: ${etcdVersion()}, one member on loopback, fresh data dir (test/harness/etcd.ts); raw-etcd3 = etcd3 ${ETCD3_VERSION} with default options`);
  const hosts = server.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',');
  const remote = present([
    await openSubject(report, cleanup, 'raw-etcd3', async () => {
      const raw = new Etcd3({ hosts: server.endpoints });
      return { target: rawEtcdTarget(raw), close: () => raw.close() };
    }),
    await kvSubject(report, cleanup, 'etcd', () => new EtcdKV({ endpoints: server.endpoints })),
    await registrySubject(report, cleanup, 'registry-etcd', `etcd://${hosts}`),
  ]);
  const g2 = await measureGroup(report, remote);
  const etcd = g2.get('etcd') ?? none;
  printPair(report, KV_LINES, 'etcd', etcd, 'raw-etcd3', g2.get('raw-etcd3') ?? none, ETCD_GOAL);
  printPair(report, REGISTRY_LINES, 'etcd', g2.get('registry-etcd') ?? none, 'kv-etcd', etcd, undefined);
  for (const subject of remote) await subject.close();
  await stopServer();
}
