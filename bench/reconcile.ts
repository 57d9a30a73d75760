/**
 * The reconcile benchmark: how fast a no-op controller sees every object, per backend (memory,
 * sqlite on a temp file, etcd via the test harness's EtcdServer), against a bare
 * client-node-style loop (list + watch through the plain Client, handler called inline: no
 * informer cache, no queue, no workers) measured in the same run on the same backend.
 *
 * Two phases per backend, each run by both subjects:
 * - `live`: the subject is running (manager synced / list done, watch open) on an empty store;
 *   then `count` ConfigMaps are created by `writers` concurrent writers, and the clock runs from
 *   the first create until every object was reconciled once. Latency = a create's issue → its
 *   first reconcile.
 * - `initial`: the objects exist before the subject starts; the clock runs from the start of the
 *   subject (manager start / first list call) until every object was reconciled once (the
 *   initial list → reconcile all). Latency = start → each object's first reconcile.
 *
 * Each measurement runs in a child process of its own (this file, run with {@link CHILD_FLAG}),
 * which opens the store with `connect({ store })`, does the creates itself (a memory store can
 * only live in-process) and runs the subject; so no subject inherits another's heap or garbage,
 * and RSS is the child's alone. Peak RSS = the largest of `process.memoryUsage.rss()` samples
 * taken every 50 ms during the measured phase (and at its start and end); the child's
 * lifetime maximum from the kernel (`resourceUsage().maxRSS`, which also covers start-up and,
 * for `initial`, the seeding creates) is reported next to it. Every subject gets a fresh store:
 * a new sqlite file, a new etcd server.
 *
 * Node flags for the children (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) can be passed in
 * `KEELSON_BENCH_CHILD_FLAGS`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inject } from 'inversify';
import { isAlreadyExists } from '../lib/api/errors.js';
import { ConfigMap, Namespace } from '../lib/api/kinds.js';
import type { KubeObject } from '../lib/api/meta.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { Controller } from '../lib/runtime/decorators.js';
import { silentLogger } from '../lib/runtime/logger.js';
import { Manager } from '../lib/runtime/manager.js';
import { Metrics } from '../lib/runtime/metrics.js';
import type { ReconcileRequest, Reconciler } from '../lib/runtime/types.js';
import { EtcdServer } from '../test/harness/etcd.js';
import { childExecArgv, childResult, cpuMicros, forkChild, goalMark, now, percentiles, rejectAfter, runConcurrent, type Benchmark, type Cleanup, type FieldValue, type Reporter } from './harness.js';

/** Objects per measurement (every backend). */
const COUNT = 10_000;
/** Creates in flight while writing. */
const WRITERS = 32;
/** Workers of the no-op controller. */
const CONCURRENCY = 4;
/** The namespace of the objects. */
const NAMESPACE = 'bench-reconcile';
/** How long one measurement (its child process, seeding included) may take. */
const CHILD_TIMEOUT_MS = 90_000;
/** RSS sampling period in the child. */
const RSS_SAMPLE_MS = 50;
/** The first argument that makes this file run one measurement as a child process. */
export const CHILD_FLAG = '--reconcile-bench-child';

/** What is measured: keelson's manager with a no-op controller, or the bare list+watch loop. */
type SubjectKind = 'keelson' | 'baseline';
/** `live`: objects created while the subject runs; `initial`: objects exist before it starts. */
type Phase = 'live' | 'initial';
/** The backends, in the order they run. */
const BACKENDS = ['memory', 'sqlite', 'etcd'] as const;
type Backend = (typeof BACKENDS)[number];

/** What the parent tells a child to measure. */
interface ChildConfig {
  store: string;
  subject: SubjectKind;
  phase: Phase;
  count: number;
  writers: number;
}

/** What a child measured. */
interface ChildResult {
  count: number;
  /** Phase start (first create / subject start) → every object reconciled once. */
  allMs: number;
  /** The creates' own time (live: first issue → last acknowledgement; initial: the seeding). */
  createMs: number;
  /** Per object: phase start or create issue → first reconcile. */
  p50: number;
  p99: number;
  /** Largest RSS sample during the phase (MB). */
  peakRssMb: number;
  /** RSS when the phase started (MB). */
  startRssMb: number;
  /** The child's lifetime max RSS from the kernel (MB). */
  maxRssMb: number;
  /** This process's CPU per object during the phase (µs), creates included. */
  cpuUsPerObj: number;
  /** Reconciles (handler calls) in all, including repeats of the same object. */
  calls: number;
}

// ---------------------------------------------------------------------------------------------
// The child: one measurement.

/** Object `i`'s name. */
function nameOf(i: number): string {
  return `c${i}`;
}

/**
 * Records, per object, when it was issued and when it was first reconciled; resolves
 * {@link all} once every object was reconciled.
 */
class ReconcileSink {
  /** Per object: the create's issue time (live) or the phase start (initial). */
  readonly issued: Float64Array;
  /** Per object: its first reconcile. */
  readonly seen: Float64Array;
  /** Handler calls so far, repeats included. */
  calls = 0;
  /** Objects reconciled at least once. */
  reconciled = 0;
  /** When the last object got its first reconcile. */
  lastAt = Number.NaN;
  private wake: (() => void) | undefined;
  /** Resolves once every object was reconciled. */
  readonly all: Promise<void>;

  constructor(readonly count: number) {
    this.issued = new Float64Array(count).fill(Number.NaN);
    this.seen = new Float64Array(count).fill(Number.NaN);
    this.all = new Promise((resolve) => (this.wake = resolve));
  }

  /** The no-op handler both subjects call: notes the object's first reconcile. */
  handle(request: ReconcileRequest): void {
    this.calls++;
    const i = Number(request.name.slice(1));
    if (!Number.isInteger(i) || i < 0 || i >= this.count || !Number.isNaN(this.seen[i]!)) return;
    const t = now();
    this.seen[i] = t;
    if (++this.reconciled === this.count) {
      this.lastAt = t;
      this.wake?.();
    }
  }

  /** Issue (or phase start) → first reconcile, per object. */
  latencies(): Float64Array {
    const out = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.seen[i]! - this.issued[i]!;
    return out;
  }
}

/** The DI token under which the manager's container holds the sink. */
const SINK = Symbol.for('keelson.bench.ReconcileSink');

/** The no-op controller: notes that it saw the object, nothing else. */
@Controller({ for: ConfigMap, concurrency: CONCURRENCY })
class NoopConfigMapReconciler implements Reconciler<ConfigMap> {
  constructor(@inject(SINK) private readonly sink: ReconcileSink) {}

  async reconcile(request: ReconcileRequest): Promise<void> {
    this.sink.handle(request);
  }
}

/**
 * A running subject: `ready` resolves once it would see every later create; `failed` rejects if
 * it fails or ends on its own (never resolves); `stop` ends it.
 */
interface RunningSubject {
  ready: Promise<void>;
  failed: Promise<never>;
  stop(): Promise<void>;
}

/** Starts a manager (silent logger, own Metrics, no election, no port) with the no-op controller. */
function startKeelson(client: Client, sink: ReconcileSink): RunningSubject {
  const manager = new Manager({ client, logger: silentLogger(), metrics: new Metrics(), leaderElection: false, gracefulShutdownTimeoutMs: 5000 });
  manager.container.bind(SINK).toConstantValue(sink);
  manager.add(NoopConfigMapReconciler);
  let stopping = false;
  const running = manager.start();
  const failed = running.then(
    () => {
      if (!stopping) throw new Error('the manager stopped on its own');
      return new Promise<never>(() => undefined);
    },
    (err: unknown) => {
      if (!stopping) throw err;
      return new Promise<never>(() => undefined);
    },
  );
  failed.catch(() => undefined);
  let poller: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    failed.catch(reject);
    const poll = () => {
      poller = undefined;
      if (manager.ready) resolve();
      else poller = setTimeout(poll, 1);
    };
    poll();
  });
  ready.catch(() => undefined); // the initial phase never awaits it
  return {
    ready,
    failed,
    async stop() {
      stopping = true;
      // The initial phase may finish before the poll ever saw the manager ready.
      clearTimeout(poller);
      await manager.stop();
      await running.catch(() => undefined);
    },
  };
}

/**
 * The baseline, as a client-node ListWatch with one handler: `client.list`, the handler for
 * every item, then `client.watch` from the list's resourceVersion with the handler called inline
 * (awaited) for each event. No cache, no queue, no workers.
 */
function startBaseline(client: Client, sink: ReconcileSink): RunningSubject {
  const abort = new AbortController();
  const handle = async (obj: KubeObject) => sink.handle({ namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' });
  let listed!: () => void;
  const ready = new Promise<void>((resolve) => (listed = resolve));
  const loop = (async () => {
    const list = await client.list(ConfigMap);
    for (const item of list.items) await handle(item);
    const events = client.watch(ConfigMap, { resourceVersion: list.metadata.resourceVersion ?? '', signal: abort.signal });
    listed(); // watching from the list's resourceVersion: nothing written after the list is missed
    for await (const event of events) {
      if (event.type === 'ERROR') throw new Error(`watch ERROR event: ${JSON.stringify(event.object)}`);
      if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') await handle(event.object);
    }
  })();
  const failed = loop.then(
    () => {
      if (!abort.signal.aborted) throw new Error('the watch ended');
      return new Promise<never>(() => undefined);
    },
    (err: unknown) => {
      if (!abort.signal.aborted) throw err;
      return new Promise<never>(() => undefined);
    },
  );
  failed.catch(() => undefined);
  const readyOrFailed = Promise.race([ready, failed]);
  readyOrFailed.catch(() => undefined); // the initial phase never awaits it
  return {
    ready: readyOrFailed,
    failed,
    async stop() {
      abort.abort();
      await loop.catch(() => undefined);
    },
  };
}

/** Samples RSS every {@link RSS_SAMPLE_MS} while running. */
class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  /** RSS at the start (MB). */
  readonly startMb: number;

  constructor() {
    this.startMb = this.sample() / 2 ** 20;
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
  }

  private sample(): number {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
    return rss;
  }

  /** Stops sampling (after a last sample) and answers the peak (MB). */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak / 2 ** 20;
  }
}

/** Creates object `i`. */
async function createOne(client: Client, i: number): Promise<void> {
  const configMap: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: nameOf(i), namespace: NAMESPACE }, data: { key: 'value' } };
  await client.create(configMap);
}

/** Runs one measurement in this (child) process and answers what it found. */
async function measureInChild(config: ChildConfig): Promise<ChildResult> {
  const client = await connect({ store: config.store, compactionIntervalMs: 0 });
  // Namespace lifecycle: objects go only into a namespace that exists.
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } as Namespace).catch((err: unknown) => {
    if (!isAlreadyExists(err)) throw err;
  });
  const sink = new ReconcileSink(config.count);
  let subject: RunningSubject | undefined;
  let sampler: RssSampler | undefined;
  const start = () => (config.subject === 'keelson' ? startKeelson(client, sink) : startBaseline(client, sink));
  const timedOut = () => rejectAfter(CHILD_TIMEOUT_MS, () => `${sink.reconciled} of ${config.count} objects reconciled within ${CHILD_TIMEOUT_MS} ms`);
  try {
    let createMs: number;
    let t0: number;
    let cpu0: number;
    if (config.phase === 'live') {
      subject = start();
      await Promise.race([subject.ready, subject.failed, timedOut()]);
      sampler = new RssSampler();
      cpu0 = cpuMicros();
      t0 = now();
      createMs = await Promise.race([
        runConcurrent(config.count, config.writers, async (i) => {
          sink.issued[i] = now();
          await createOne(client, i);
        }),
        subject.failed,
      ]);
    } else {
      createMs = await runConcurrent(config.count, config.writers, (i) => createOne(client, i));
      (globalThis as { gc?: () => void }).gc?.();
      sampler = new RssSampler();
      cpu0 = cpuMicros();
      t0 = now();
      sink.issued.fill(t0);
      subject = start();
    }
    await Promise.race([sink.all, subject.failed, timedOut()]);
    const cpuUs = cpuMicros() - cpu0;
    const peakRssMb = sampler.stop();
    const latency = percentiles(sink.latencies());
    return {
      count: config.count,
      allMs: sink.lastAt - t0,
      createMs,
      p50: latency.p50,
      p99: latency.p99,
      peakRssMb,
      startRssMb: sampler.startMb,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      cpuUsPerObj: cpuUs / config.count,
      calls: sink.calls,
    };
  } finally {
    sampler?.stop();
    await subject?.stop();
    await client.close();
  }
}

/** The child's entry point: reads its config, measures, sends the result (or the error) to the parent. */
async function childMain(configJson: string): Promise<void> {
  try {
    const result = await measureInChild(JSON.parse(configJson) as ChildConfig);
    process.send!({ ok: true, result });
  } catch (err) {
    process.send!({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
  process.disconnect?.();
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void childMain(process.argv[3] ?? '{}');
}

// ---------------------------------------------------------------------------------------------
// The parent: one child per measurement.

/** Runs one measurement in a child process; the child is killed by `cleanup` if still running. */
function runChild(cleanup: Cleanup, config: ChildConfig): Promise<ChildResult> {
  const forked = forkChild(cleanup, fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(config)], childExecArgv(['--expose-gc']));
  return childResult<ChildResult>(forked, CHILD_TIMEOUT_MS + 30_000, 15_000);
}

/** A fresh store for one measurement, and how to dispose of it. */
interface FreshStore {
  url: string;
  dispose: () => Promise<void>;
}

/** Makes a fresh store of `backend` for every measurement. */
type StoreFactory = () => Promise<FreshStore>;

/** Measures both subjects in both phases on `backend`, then prints the lines. */
async function runBackend(report: Reporter, cleanup: Cleanup, backend: Backend, fresh: StoreFactory, count: number): Promise<void> {
  const measure = async (subject: SubjectKind, phase: Phase): Promise<ChildResult | undefined> => {
    try {
      const store = await fresh();
      try {
        return await runChild(cleanup, { store: store.url, subject, phase, count, writers: WRITERS });
      } finally {
        await store.dispose();
      }
    } catch (err) {
      report.error(`reconcile ${backend} ${phase} ${subject}`, err);
      return undefined;
    }
  };
  // Keelson first for live, the baseline first for initial: neither always runs on a warmer machine.
  const live = { keelson: await measure('keelson', 'live'), baseline: await measure('baseline', 'live') };
  const baselineInitial = await measure('baseline', 'initial');
  const initial = { keelson: await measure('keelson', 'initial'), baseline: baselineInitial };
  printLine(report, backend, 'live', live.keelson, live.baseline);
  printLine(report, backend, 'initial', initial.keelson, initial.baseline);
}

/** Objects per second of a result; NaN when it failed. */
function rate(r: ChildResult | undefined): number {
  return r ? (r.count / r.allMs) * 1000 : Number.NaN;
}

/** One result line: keelson's numbers, the baseline's, and the ratios. */
function printLine(report: Reporter, backend: Backend, phase: Phase, k: ChildResult | undefined, b: ChildResult | undefined): void {
  if (!k) return;
  const ratio = rate(k) / rate(b);
  const fields: Array<[string, FieldValue]> = [
    ['backend', backend],
    ['phase', phase],
    ['n', k.count],
    ['reconciles/s', rate(k)],
    ['all_ms', k.allMs],
    [phase === 'live' ? 'creates/s' : 'seed_creates/s', (k.count / k.createMs) * 1000],
    ['p50_ms', k.p50],
    ['p99_ms', k.p99],
    ['cpu_us/obj', k.cpuUsPerObj],
    ['peak_rss_mb', k.peakRssMb],
    ['max_rss_mb', k.maxRssMb],
    ['baseline', 'bare-list-watch'],
    ['base_reconciles/s', rate(b)],
    ['base_all_ms', b?.allMs ?? Number.NaN],
    ['base_p50_ms', b?.p50 ?? Number.NaN],
    ['base_p99_ms', b?.p99 ?? Number.NaN],
    ['base_cpu_us/obj', b?.cpuUsPerObj ?? Number.NaN],
    ['base_peak_rss_mb', b?.peakRssMb ?? Number.NaN],
    ['ratio', ratio],
    ['rss_ratio', b ? k.peakRssMb / b.peakRssMb : Number.NaN],
  ];
  report.result('reconcile.throughput', fields, goalMark(ratio, undefined));
  if (k.calls !== k.count || (b && b.calls !== b.count)) {
    report.note(`  ${backend} ${phase}: handler calls keelson=${k.calls} baseline=${b?.calls ?? 'n/a'} for ${k.count} objects (repeats are not counted as reconciles)`);
  }
}

/** A temp dir for sqlite files (removed by cleanup) and a fresh database file per measurement. */
async function sqliteStores(cleanup: Cleanup): Promise<{ fresh: StoreFactory; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keelson-bench-reconcile-'));
  const remove = cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    remove,
    fresh: async () => {
      const file = join(dir, `store-${++n}.db`);
      return { url: `sqlite:${file}`, dispose: () => rm(file, { force: true }).then(() => rm(`${file}-wal`, { force: true })).then(() => rm(`${file}-shm`, { force: true })) };
    },
  };
}

/** A fresh etcd server (test harness: one member, random loopback ports, temp data dir) per measurement. */
function etcdStores(cleanup: Cleanup): StoreFactory {
  return async () => {
    const starting = EtcdServer.start();
    // Registered before the start resolves, so an interrupt while etcd starts still stops it.
    const stop = cleanup.add('stop etcd', async () => (await starting.catch(() => undefined))?.stop());
    let server: EtcdServer;
    try {
      server = await starting;
    } catch (err) {
      await stop();
      throw err;
    }
    const hosts = server.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',');
    return { url: `etcd://${hosts}`, dispose: stop };
  };
}

/** The reconcile benchmark module. */
export const reconcileBenchmark: Benchmark = {
  name: 'reconcile',
  description: `${COUNT} objects, time until each is reconciled once by a no-op controller, per backend; vs a bare list+watch loop`,
  parts: [...BACKENDS],
  async run(report, cleanup, parts) {
    const unknown = parts.filter((p) => !this.parts.includes(p));
    if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(', ')} of reconcile; parts: ${this.parts.join(', ')}`);
    const wanted = (part: string) => parts.length === 0 || parts.includes(part);
    report.note(
      [
        `reconcile: n ConfigMaps (n=${COUNT} unless the line says otherwise), ${WRITERS} creates in flight, one namespace; a no-op @Controller({ for: ConfigMap, concurrency: ${CONCURRENCY} })`,
        '  in a Manager (silent logger, own Metrics, no leader election, no metrics port) that notes the first reconcile of each object.',
        '  baseline=bare-list-watch: client.list, then client.watch from its resourceVersion, the same no-op handler awaited inline per',
        '  object/event (client-node ListWatch style: no informer cache, no queue, no workers), same backend, same run.',
        '  phase=live: subject running on an empty store, then the creates; all_ms = first create → every object reconciled once;',
        '    p50/p99_ms = a create\'s issue → its first reconcile; creates/s = the creates alone (they bound reconciles/s when writing is slower).',
        '  phase=initial: objects created first (seed_creates/s), then the subject starts; all_ms = subject start (manager start / list call)',
        '    → every object reconciled once (keelson: list, cache sync, queue, workers); p50/p99_ms = start → each object\'s first reconcile.',
        '  Every measurement runs in its own child process on a fresh store (new sqlite file, new etcd server), which does the creates',
        '    itself (a memory store lives in-process), so RSS and CPU include the store and the writers — alike for both subjects.',
        `  peak_rss_mb = largest process.memoryUsage.rss() sample of the child during the phase (every ${RSS_SAMPLE_MS} ms); max_rss_mb = the child's`,
        '    lifetime maximum from the kernel (start-up and, for initial, the seeding included; a gc() runs between seeding and phase).',
        '  cpu_us/obj = the child\'s CPU (all threads) during the phase per object, creates included.',
        '  ratio = reconciles/s ÷ base_reconciles/s (≥ 1: keelson as fast as the bare loop); rss_ratio = peak_rss_mb ÷ base_peak_rss_mb',
        '    (≤ 1: keelson no bigger). No goals: the issue sets none. Single runs on a shared machine: expect ±20%.',
      ].join('\n'),
    );
    if (wanted('memory')) {
      await runBackend(report, cleanup, 'memory', async () => ({ url: 'memory:', dispose: async () => undefined }), COUNT);
    }
    if (wanted('sqlite')) {
      const sqlite = await sqliteStores(cleanup);
      await runBackend(report, cleanup, 'sqlite', sqlite.fresh, COUNT);
      await sqlite.remove();
    }
    if (wanted('etcd')) {
      await runBackend(report, cleanup, 'etcd', etcdStores(cleanup), COUNT);
    }
  },
};
