/**
 * Helpers shared by the end-to-end tests and benchmarks that run real pods under a
 * {@link TestCluster}: readiness of pods and nodes, Endpoints' addresses, `examples/http-server`
 * deployed with a marker (to find its processes in /proc), and the node-failure scenario — the
 * one `test/e2e/nodes.test.ts` asserts on and `bench/node-failure` times over several runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { Endpoints, Node, Pod } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { processesMentioning, ROOT, type TestCluster } from './cluster.js';
import { waitFor } from './wait.js';

/** Whether a pod is Running, Ready and not being deleted. */
export function isReady(pod: Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase === 'Running' && !!pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A node's Ready condition status (`True`, `False`, `Unknown`), if it has one. */
export function readyCondition(node: Node): string | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/** Waits until `count` nodes are Ready. */
export async function readyNodes(cluster: TestCluster, count: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await cluster.client.list(Node)).items.filter((n) => readyCondition(n) === 'True').length === count, { timeoutMs, what: `${count} Ready nodes` });
}

/** The ready and not-ready addresses of a Service's Endpoints, each sorted. */
export async function endpointIPs(cluster: TestCluster, name: string, namespace = 'default'): Promise<{ ready: string[]; notReady: string[] }> {
  type Subsets = { addresses?: { ip: string }[]; notReadyAddresses?: { ip: string }[] }[];
  const subsets = ((await cluster.client.get(Endpoints, name, { namespace })) as KubeObject & { subsets?: Subsets }).subsets ?? [];
  return {
    ready: subsets.flatMap((s) => s.addresses ?? []).map((a) => a.ip).sort(),
    notReady: subsets.flatMap((s) => s.notReadyAddresses ?? []).map((a) => a.ip).sort(),
  };
}

/** examples/http-server/hello.yaml with `replicas`, and `marker` in the pods' environment (to find their processes). */
export function helloManifest(marker: string, replicas = 3): string {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'examples/http-server/hello.yaml'), 'utf8')).map((d) => d.toJSON() as KubeObject & { spec: Record<string, unknown> });
  const rc = docs.find((d) => d.kind === 'ReplicationController')! as KubeObject & { spec: { replicas: number; template: { spec: { containers: { env: unknown[] }[] } } } };
  rc.spec.replicas = replicas;
  rc.spec.template.spec.containers[0]!.env.push({ name: 'KEELSON_E2E', value: marker });
  return docs.map((d) => stringify(d)).join('---\n');
}

/** The pods of examples/http-server/hello.yaml (in `default`). */
export async function helloPods(cluster: TestCluster): Promise<Pod[]> {
  return (await cluster.client.list(Pod, { namespace: 'default', labelSelector: 'app=hello' })).items;
}

/** Waits until `n` live hello pods are Ready (and, if given, `accept` holds of them); answers them. */
export async function readyHello(cluster: TestCluster, n: number, accept: (pods: Pod[]) => boolean = () => true, timeoutMs = 60_000): Promise<Pod[]> {
  let last: Pod[] = [];
  await waitFor(async () => {
    last = (await helloPods(cluster)).filter((p) => !p.metadata?.deletionTimestamp);
    return last.length === n && last.every(isReady) && accept(last);
  }, { timeoutMs, intervalMs: 100, what: `${n} ready hello pods` }).catch((err: Error) => {
    throw new Error(`${err.message}; have ${last.map((p) => `${p.metadata?.name}@${p.spec?.nodeName ?? '-'}:${p.status?.phase}`).join(', ')}`);
  });
  return last;
}

/** The hello server processes carrying `marker`, counted by pod name. */
export function serverProcesses(marker: string): Map<string, number> {
  const byPod = new Map<string, number>();
  for (const p of processesMentioning(marker)) {
    if (!p.command.includes('http-server/server.js')) continue;
    const pod = p.environ.find((v) => v.startsWith('POD_NAME='))?.slice('POD_NAME='.length) ?? '?';
    byPod.set(pod, (byPod.get(pod) ?? 0) + 1);
  }
  return byPod;
}

/** What {@link killNodeAgent} measured, each time in ms after the SIGKILL. */
export interface NodeFailure {
  /** The pod that ran on the killed node. */
  victim: Pod;
  /** The killed node's InternalIP (to restart its agent on the same address). */
  address: string;
  /** The victim's process was gone. */
  processGoneMs: number;
  /** The node was Ready=Unknown. */
  nodeUnknownMs: number;
  /** The victim was out of the Service's ready addresses. */
  endpointsDroppedMs: number;
  /** `replicas` hello pods were Ready again, none on the killed node. */
  recoveredMs: number;
  /** Those pods. */
  replaced: Pod[];
}

/**
 * The node-failure scenario: with the hello RC running one pod on each of the cluster's agent
 * processes (started with `startNode`), SIGKILLs `node`'s agent and times what follows, end to
 * end as a user sees it, until the pods run again elsewhere. Waits are bounded by `timeoutMs`.
 */
export async function killNodeAgent(cluster: TestCluster, marker: string, node: string, replicas: number, timeoutMs = 45_000): Promise<NodeFailure> {
  const pods = await readyHello(cluster, replicas, (ps) => new Set(ps.map((p) => p.spec?.nodeName)).size === replicas);
  const victim = pods.find((p) => p.spec?.nodeName === node);
  if (!victim) throw new Error(`no hello pod on ${node}`);
  const victimIP = victim.status!.podIP!;
  const agent = cluster.nodeProcess(node);
  if (!agent) throw new Error(`${node} is not an agent process of this cluster`);
  const address = (await cluster.client.get(Node, node)).status!.addresses!.find((a) => a.type === 'InternalIP')!.address;

  const killedAt = Date.now();
  const since = () => Date.now() - killedAt;
  agent.kill('SIGKILL');
  /** When `check` first held, ms after the kill. */
  const when = (what: string, check: () => boolean | Promise<boolean>, intervalMs: number) =>
    waitFor(async () => ((await check()) ? { at: since() } : undefined), { timeoutMs, intervalMs, what }).then((r) => r.at);
  const [processGoneMs, nodeUnknownMs, endpointsDroppedMs, recovered] = await Promise.all([
    // Its pod's process dies with it (the supervisor sees the agent's end of the pipe close).
    when("the dead agent's pod process to stop", () => !serverProcesses(marker).has(victim.metadata!.name!), 20),
    when(`${node} Ready=Unknown`, async () => readyCondition(await cluster.client.get(Node, node)) === 'Unknown', 50),
    when('the dead pod out of the ready Endpoints', async () => !(await endpointIPs(cluster, 'hello')).ready.includes(victimIP), 50),
    readyHello(cluster, replicas, (ps) => ps.every((p) => p.spec?.nodeName !== node), timeoutMs).then((replaced) => ({ replaced, at: since() })),
  ]);
  return { victim, address, processGoneMs, nodeUnknownMs, endpointsDroppedMs, recoveredMs: recovered.at, replaced: recovered.replaced };
}
