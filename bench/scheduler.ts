/**
 * The scheduler benchmark: keelson's real scheduler controller (default plugins) under a Manager
 * over a store, placing pods created while it runs, as kube-scheduler's scheduler_perf does.
 *
 * Workloads (each in a child process of its own, on a fresh store):
 * - `basic-5000`: 5000 nodes (4 cpu, 32Gi, 110 pods), 10 000 pods requesting 100m / 500Mi —
 *   kube's SchedulingBasic. Goal: ≥ 1000 pods/s (kube's CI accepts ≥ 680 with 16 workers on
 *   big machines).
 * - `affinity-5000`: the same nodes in 10 zones; pods with a preferred pod anti-affinity (per
 *   hostname) and a zone topology spread constraint (ScheduleAnyway). Goal: within 3× of basic.
 * - `basic-500`: 500 nodes, the basic pods — how throughput scales with the cluster (no goal).
 *
 * Nodes are created first and the scheduler has seen them all before the clock starts; then
 * `WRITERS` concurrent writers create the pods, and the clock runs from the first create until
 * a watch has seen every pod bound (through `client.create` of a Binding, in the store).
 * Per-pod latency: a pod's create issued → its binding seen by the watch.
 *
 * Node flags for the children (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) can be passed in
 * `KEELSON_BENCH_CHILD_FLAGS`; `KEELSON_BENCH_SCHEDULER_WORKLOADS` (comma-separated workload
 * names, e.g. `affinity-5000`) runs only those workloads (vs_basic then needs basic-5000 too).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAlreadyExists } from '../lib/api/errors.js';
import { Namespace, Node, Pod } from '../lib/api/kinds.js';
import { connect } from '../lib/client/connect.js';
import { silentLogger } from '../lib/runtime/logger.js';
import { Manager } from '../lib/runtime/manager.js';
import { Metrics } from '../lib/runtime/metrics.js';
import { Scheduler } from '../controllers/scheduler/index.js';
import { childExecArgv, childResult, cpuMicros, forkChild, goalMark, now, percentiles, runConcurrent, type Benchmark, type Cleanup, type FieldValue, type Reporter } from './harness.js';

/** Pods per workload. */
const PODS = 10_000;
/** Concurrent pod (and node) creates. */
const WRITERS = 32;
/** The namespace of the pods. */
const NAMESPACE = 'bench-scheduler';
/** keelson's goal for the basic workload on 5000 nodes. */
const GOAL_PODS_PER_SECOND = 1000;
/** The affinity/spread workload may be at most this many times slower than the basic one. */
const MAX_SLOWDOWN = 3;
/** How long one child may take, setup included. */
const CHILD_TIMEOUT_MS = 240_000;
/** How long a child may take to exit after sending its result (writing a CPU profile included). */
const EXIT_TIMEOUT_MS = 30_000;
/** The first argument that makes this file run one workload as a child process. */
const CHILD_FLAG = '--scheduler-bench-child';

/** A workload: cluster size and the pods' shape. */
type WorkloadName = 'basic-5000' | 'affinity-5000' | 'basic-500';
const WORKLOADS: Record<WorkloadName, { nodes: number; affinity: boolean }> = {
  'basic-5000': { nodes: 5000, affinity: false },
  'affinity-5000': { nodes: 5000, affinity: true },
  'basic-500': { nodes: 500, affinity: false },
};

/** The stores, each with the workloads run on it. */
const STORES: Record<string, readonly WorkloadName[]> = {
  memory: ['basic-5000', 'affinity-5000', 'basic-500'],
  sqlite: ['basic-5000'],
};

interface ChildConfig {
  store: string;
  workload: WorkloadName;
  pods: number;
}

interface ChildResult {
  pods: number;
  nodes: number;
  /** First create → last pod seen bound. */
  allMs: number;
  /** The creates' own time. */
  createMs: number;
  /** Node creation + the scheduler seeing every node. */
  setupMs: number;
  p50: number;
  p99: number;
  cpuUsPerPod: number;
  maxRssMb: number;
}

function nodeObject(i: number): Node {
  const name = `node-${i}`;
  const resources = { cpu: '4', memory: '32Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': `zone-${i % 10}` } },
    status: { capacity: resources, allocatable: resources },
  } as Node;
}

function podObject(i: number, affinity: boolean): Pod {
  const labels = { app: 'bench', color: 'green' };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: NAMESPACE, labels },
    spec: {
      containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '100m', memory: '500Mi' } } }],
      ...(affinity
        ? {
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 1, podAffinityTerm: { labelSelector: { matchLabels: { color: 'green' } }, topologyKey: 'kubernetes.io/hostname' } },
                ],
              },
            },
            topologySpreadConstraints: [
              { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'bench' } } },
            ],
          }
        : {}),
    },
  } as Pod;
}

/** Resolves once `check` is true (polled every 5 ms); rejects after `timeoutMs` saying `what`. */
async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!check()) {
    if (now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs one workload in this (child) process. */
async function measureInChild(config: ChildConfig): Promise<ChildResult> {
  const { nodes, affinity } = WORKLOADS[config.workload];
  const client = await connect({ store: config.store, compactionIntervalMs: 0 });
  const manager = new Manager({ client, logger: silentLogger(), metrics: new Metrics(), leaderElection: false, gracefulShutdownTimeoutMs: 5000 });
  const watchStop = new AbortController();
  let running: Promise<void> | undefined;
  try {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } as Namespace).catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
    const setupStart = now();
    await runConcurrent(nodes, WRITERS, async (i) => void (await client.create(nodeObject(i))));
    manager.add(Scheduler);
    running = manager.start();
    running.catch(() => undefined);
    await until(() => manager.ready, 60_000, () => 'the manager did not become ready');
    const scheduler = manager.container.get(Scheduler);
    // The scheduler takes in the nodes on its first reconcile (any event starts one).
    await client.create(podObject(-1, false));
    await until(() => scheduler.cache.nodeCount === nodes, 60_000, () => `the scheduler saw ${scheduler.cache.nodeCount} of ${nodes} nodes`);
    await until(() => scheduler.cache.pod(`${NAMESPACE}/pod--1`)?.assumed === false, 60_000, () => 'the warm-up pod was not bound');
    const setupMs = now() - setupStart;

    const issued = new Float64Array(config.pods).fill(Number.NaN);
    const bound = new Float64Array(config.pods).fill(Number.NaN);
    let boundCount = 0;
    let lastBound = Number.NaN;
    const list = await client.list(Pod, { namespace: NAMESPACE, limit: 1 });
    const watching = (async () => {
      for await (const event of client.watch(Pod, { namespace: NAMESPACE, resourceVersion: list.metadata.resourceVersion!, signal: watchStop.signal })) {
        if (event.type !== 'MODIFIED' && event.type !== 'ADDED') continue;
        if (!(event.object.spec as { nodeName?: string } | undefined)?.nodeName) continue;
        const i = Number(event.object.metadata!.name!.slice('pod-'.length));
        if (!(i >= 0 && i < config.pods) || !Number.isNaN(bound[i]!)) continue;
        bound[i] = lastBound = now();
        boundCount++;
      }
    })();
    watching.catch(() => undefined);

    const cpu0 = cpuMicros();
    const t0 = now();
    const createMs = await runConcurrent(config.pods, WRITERS, async (i) => {
      issued[i] = now();
      await client.create(podObject(i, affinity));
    });
    await until(() => boundCount === config.pods, CHILD_TIMEOUT_MS - 60_000, () => `${boundCount} of ${config.pods} pods bound (queue: ${JSON.stringify(scheduler.queue.pending)})`);
    const cpuUs = cpuMicros() - cpu0;
    const latencies = new Float64Array(config.pods);
    for (let i = 0; i < config.pods; i++) latencies[i] = bound[i]! - issued[i]!;
    const { p50, p99 } = percentiles(latencies);
    return {
      pods: config.pods,
      nodes,
      allMs: lastBound - t0,
      createMs,
      setupMs,
      p50,
      p99,
      cpuUsPerPod: cpuUs / config.pods,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    watchStop.abort();
    await manager.stop();
    await running?.catch(() => undefined);
    await client.close();
  }
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  measureInChild(JSON.parse(process.argv[3] ?? '{}') as ChildConfig).then(
    (result) => process.send!({ ok: true, result }, () => process.disconnect?.()),
    (err: unknown) => process.send!({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () => process.disconnect?.()),
  );
}

/** Runs one workload in a child process (killed by `cleanup` if still running). */
function runChild(cleanup: Cleanup, config: ChildConfig): Promise<ChildResult> {
  const forked = forkChild(cleanup, fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(config)], childExecArgv());
  return childResult<ChildResult>(forked, CHILD_TIMEOUT_MS, EXIT_TIMEOUT_MS);
}

/** Pods per second of a result (NaN if it failed). */
function rate(r: ChildResult | undefined): number {
  return r ? (r.pods / r.allMs) * 1000 : Number.NaN;
}

/** The scheduler benchmark (see the file header). */
export const schedulerBenchmark: Benchmark = {
  name: 'scheduler',
  description: `keelson's scheduler (default plugins) placing ${PODS} pods on 5000 and 500 nodes, bound through the store; goal ≥ ${GOAL_PODS_PER_SECOND} pods/s, affinity/spread within ${MAX_SLOWDOWN}× of basic`,
  parts: Object.keys(STORES),
  async run(report: Reporter, cleanup: Cleanup, parts: readonly string[]): Promise<void> {
    report.note(
      'pods/s = pods ÷ (first create → last pod seen bound); latency = create issued → binding seen (pods are created faster than they are scheduled, so it is mostly queueing); ' +
        'pods/cpu_s = pods per second of this process\'s CPU (store, informers and the creating writers included: the rate on an otherwise idle machine); vs_basic = pods/s ÷ basic-5000 pods/s on the same store',
    );
    for (const store of Object.keys(STORES)) {
      if (parts.length > 0 && !parts.includes(store)) continue;
      const results = new Map<WorkloadName, ChildResult | undefined>();
      const only = (process.env.KEELSON_BENCH_SCHEDULER_WORKLOADS ?? '').split(',').filter(Boolean);
      for (const workload of STORES[store]!) {
        if (only.length > 0 && !only.includes(workload)) continue;
        const dir = store === 'sqlite' ? await mkdtemp(join(tmpdir(), 'keelson-bench-scheduler-')) : undefined;
        try {
          results.set(workload, await runChild(cleanup, { store: dir ? `sqlite:${join(dir, 'bench.db')}` : 'memory:', workload, pods: PODS }));
        } catch (err) {
          report.error(`scheduler ${store} ${workload}`, err);
        } finally {
          if (dir) await rm(dir, { recursive: true, force: true });
        }
      }
      const basic = rate(results.get('basic-5000'));
      for (const [workload, result] of results) {
        if (!result) continue;
        const perSecond = rate(result);
        const vsBasic = perSecond / basic;
        const fields: Array<[string, FieldValue]> = [
          ['store', store],
          ['nodes', result.nodes],
          ['pods', result.pods],
          ['pods/s', perSecond],
          ['p50_ms', result.p50],
          ['p99_ms', result.p99],
          ['creates/s', (result.pods / result.createMs) * 1000],
          ['cpu_us/pod', result.cpuUsPerPod],
          ['pods/cpu_s', 1e6 / result.cpuUsPerPod],
          ['max_rss_mb', result.maxRssMb],
          ['setup_ms', result.setupMs],
          ['vs_basic', vsBasic],
        ];
        let goal: string;
        if (workload === 'basic-5000') {
          fields.push(['vs_goal', perSecond / GOAL_PODS_PER_SECOND]);
          goal = `${goalMark(perSecond / GOAL_PODS_PER_SECOND, 1)} (${GOAL_PODS_PER_SECOND} pods/s)`;
        } else if (workload === 'affinity-5000') {
          goal = `${goalMark(vsBasic, Number((1 / MAX_SLOWDOWN).toFixed(3)))} (within ${MAX_SLOWDOWN}× of basic)`;
        } else {
          goal = goalMark(vsBasic, undefined);
        }
        report.result(`scheduler.${workload}`, fields, goal);
      }
    }
  },
};
