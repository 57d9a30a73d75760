/**
 * The node-failure benchmark: how long, end to end, from the SIGKILL of a node agent until its
 * pods run again on other nodes — with the defaults (leases renewed every 2 s, a node Unknown
 * after 6 s without renewal, pods evicted 5 s after the `unreachable` taint), against the goal
 * of 15 s (kube's defaults take ≈ 5 min 40 s: 40 s node grace + 300 s default toleration).
 *
 * Each run is a fresh cluster: `keelson up --nodes 0` from the test harness (temp data dir, free
 * ports), three `keelson node` processes, `examples/http-server` as an RC of 3 (one pod per node);
 * then the agent of `node-b` is SIGKILLed and the scenario of test/harness/pods.ts times the
 * victim's process gone, the node Unknown, the pod out of the ready Endpoints, and the three pods
 * Ready again elsewhere. Prints one line per run and a summary (median, worst) with the ratio to
 * the goal. `KEELSON_BENCH_NODE_FAILURE_RUNS` sets the number of runs (default 3).
 */
import { randomUUID } from 'node:crypto';
import { expectNoProcessesMentioning, TestCluster } from '../test/harness/cluster.js';
import { helloManifest, killNodeAgent, readyNodes } from '../test/harness/pods.js';
import { goalMark, percentile, type Benchmark, type Cleanup, type Reporter } from './harness.js';

/** The goal: pods running elsewhere within this long after the agent's death. */
const GOAL_MS = 15_000;
/** Runs by default (each starts a cluster: ≈ 30 s). */
const DEFAULT_RUNS = 3;
const NODES = ['node-a', 'node-b', 'node-c'];

/** One run: a fresh cluster, one agent killed; resolves with the measured times (ms after the kill). */
async function oneRun(cleanup: Cleanup): Promise<Awaited<ReturnType<typeof killNodeAgent>>> {
  const marker = `keelson-bench-${randomUUID()}`;
  const cluster = await TestCluster.start({ nodes: 0 });
  const stop = cleanup.add('node-failure cluster', async () => {
    await cluster.stop();
    await expectNoProcessesMentioning(marker);
  });
  try {
    for (const name of NODES) await cluster.startNode(name);
    await readyNodes(cluster, NODES.length);
    await cluster.ok(['apply', '-f', '-'], helloManifest(marker, NODES.length));
    return await killNodeAgent(cluster, marker, 'node-b', NODES.length, 60_000);
  } finally {
    await stop();
  }
}

/** See the file header. */
export const nodeFailureBenchmark: Benchmark = {
  name: 'node-failure',
  description: `SIGKILL of a node agent → its pods Ready on other nodes, end to end (goal ≤ ${GOAL_MS / 1000} s)`,
  parts: [],
  async run(report: Reporter, cleanup: Cleanup): Promise<void> {
    const runs = Math.max(1, Number(process.env.KEELSON_BENCH_NODE_FAILURE_RUNS ?? DEFAULT_RUNS) || DEFAULT_RUNS);
    const recovered: number[] = [];
    for (let i = 1; i <= runs; i++) {
      try {
        const r = await oneRun(cleanup);
        recovered.push(r.recoveredMs);
        report.result(`node-failure.run${i}`, [
          ['process_gone_ms', r.processGoneMs],
          ['node_unknown_ms', r.nodeUnknownMs],
          ['endpoints_drop_ms', r.endpointsDroppedMs],
          ['recovered_ms', r.recoveredMs],
          ['vs_goal', GOAL_MS / r.recoveredMs],
        ], goalMark(GOAL_MS / r.recoveredMs, 1));
      } catch (err) {
        report.error(`node-failure.run${i}`, err);
      }
    }
    if (recovered.length === 0) return;
    const median = percentile(recovered, 50);
    const worst = Math.max(...recovered);
    report.result('node-failure.summary', [
      ['runs', recovered.length],
      ['recovered_p50_ms', median],
      ['recovered_max_ms', worst],
      ['goal_ms', GOAL_MS],
      ['goal/p50', GOAL_MS / median],
      ['goal/max', GOAL_MS / worst],
    ], goalMark(GOAL_MS / worst, 1));
  },
};
