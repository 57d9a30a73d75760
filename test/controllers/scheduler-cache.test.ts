/**
 * The scheduler's incremental structures against from-scratch ones: the SchedulerCache (node
 * infos with their requests, non-zero requests and ports, and the pod index it keeps attached
 * with per-domain counts) after random sequences of node adds/updates/deletes and pod binds,
 * assumptions, confirmations, forgets and deletions must equal buildSnapshot over the same nodes
 * and pods with a freshly synced index — and the topology plugins must decide the same on both.
 * Also: the synced index follows a snapshot's node changes, TopologyCounter's merged reads equal
 * its direct ones, and the scheduler honours preScore skip and prefers normalizeScores.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Pod, selectorFromObject, type Node, type PodAffinityTerm, type PodSpec, type TopologySpreadConstraint } from '../../lib/index.js';
import { TestEnv } from '../../lib/testing/index.js';
import {
  buildSnapshot,
  MutableNodeInfo,
  podKey,
  Scheduler,
  SchedulerCache,
  SchedulerConfiguration,
  SchedulerPlugin,
  SchedulerPlugins,
  type CycleState,
  type NodeInfo,
  type PreScoreResult,
  type SchedulerPluginImpl,
  type Snapshot,
} from '../../controllers/scheduler/index.js';
import { InterPodAffinity, NodeResourcesFit, PodTopologySpread } from '../../controllers/scheduler/plugins/index.js';
import { ATTACHED_POD_INDEX, PodIndex, type AffinityClass, type LabelClass } from '../../controllers/scheduler/plugins/pod-index.js';
import { TopologyCounter } from '../../controllers/scheduler/plugins/topology-counter.js';

const HOSTNAME = 'kubernetes.io/hostname';
const KEY_SETS: readonly (readonly string[])[] = [['zone'], [HOSTNAME], ['zone', 'rack'], ['rack']];

// ---- Random cluster histories ----

interface NodeShape {
  name: string;
  zone: string | undefined;
  rack: string | undefined;
  cpu: string;
}

interface PodShape {
  name: string;
  uid: string;
  app: string;
  tier: string | undefined;
  cpu: string | undefined;
  port: boolean;
  deleting: boolean;
  affinity: 'none' | 'requiredAnti' | 'preferredAnti' | 'preferred' | 'required';
}

type Op =
  | { op: 'setNode'; node: NodeShape }
  | { op: 'removeNode'; name: string }
  | { op: 'bound' | 'assume'; pod: PodShape; nodeName: string }
  | { op: 'forget' | 'finish'; name: string; uid: string }
  | { op: 'remove'; name: string };

const nodeNames = fc.constantFrom('n1', 'n2', 'n3', 'n4');
const podNames = fc.constantFrom('p0', 'p1', 'p2', 'p3', 'p4', 'p5');
const uids = fc.constantFrom('u1', 'u2');
const nodeShape = fc.record({
  name: nodeNames,
  zone: fc.constantFrom('z1', 'z2', undefined),
  rack: fc.constantFrom('r1', 'r2', undefined),
  cpu: fc.constantFrom('2', '4'),
});
const podShape: fc.Arbitrary<PodShape> = fc
  .record({
    name: podNames,
    uid: uids,
    app: fc.constantFrom('web', 'db'),
    tier: fc.constantFrom('front', undefined),
    deleting: fc.constantFrom(false, false, false, true),
    affinity: fc.constantFrom('none', 'none', 'requiredAnti', 'preferredAnti', 'preferred', 'required'),
  })
  .map((shape) => {
    // A pod's resources never change under one uid (in-place resize is not supported): they follow from name and uid.
    const n = shape.name.charCodeAt(1) + shape.uid.charCodeAt(1);
    return { ...shape, cpu: ['100m', '1', undefined][n % 3], port: n % 2 === 0 } as PodShape;
  });
const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('setNode' as const), node: nodeShape }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('removeNode' as const), name: nodeNames }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('bound' as const, 'assume' as const), pod: podShape, nodeName: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'ghost') }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('forget' as const, 'finish' as const), name: podNames, uid: uids }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), name: podNames }) },
  ),
  { maxLength: 40 },
);

function nodeOf(shape: NodeShape): Node {
  const labels: Record<string, string> = { [HOSTNAME]: shape.name };
  if (shape.zone) labels.zone = shape.zone;
  if (shape.rack) labels.rack = shape.rack;
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: shape.name, labels }, status: { allocatable: { cpu: shape.cpu, memory: '8Gi', pods: '110' } } } as Node;
}

function affinityOf(kind: PodShape['affinity']): PodSpec['affinity'] {
  const web = { labelSelector: { matchLabels: { app: 'web' } } };
  switch (kind) {
    case 'none':
      return undefined;
    case 'requiredAnti':
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ ...web, topologyKey: 'zone' }] } };
    case 'preferredAnti':
      return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 3, podAffinityTerm: { ...web, topologyKey: HOSTNAME } }] } };
    case 'preferred':
      return { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 2, podAffinityTerm: { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'rack' } }] } };
    case 'required':
      return { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, topologyKey: 'zone' }] } };
  }
}

function podOf(shape: PodShape, nodeName?: string): Pod {
  const affinity = affinityOf(shape.affinity);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: shape.name,
      namespace: 'default',
      uid: shape.uid,
      labels: { app: shape.app, ...(shape.tier ? { tier: shape.tier } : {}) },
      ...(shape.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
    },
    spec: {
      containers: [{ name: 'c', ...(shape.cpu ? { resources: { requests: { cpu: shape.cpu } } } : {}), ...(shape.port ? { ports: [{ containerPort: 80, hostPort: 8080 }] } : {}) }],
      ...(affinity ? { affinity } : {}),
      ...(nodeName ? { nodeName } : {}),
    },
  } as Pod;
}

/** What the cache should hold: the nodes and the placed pods (assumed or not). */
class Model {
  readonly nodes = new Map<string, Node>();
  readonly pods = new Map<string, { pod: Pod; assumed: boolean }>();

  apply(cache: SchedulerCache, op: Op): void {
    switch (op.op) {
      case 'setNode': {
        const node = nodeOf(op.node);
        cache.setNode(node);
        this.nodes.set(op.node.name, node);
        break;
      }
      case 'removeNode':
        cache.removeNode(op.name);
        this.nodes.delete(op.name);
        break;
      case 'bound': {
        const pod = podOf(op.pod, op.nodeName);
        cache.addBoundPod(pod);
        this.pods.set(podKey(pod), { pod, assumed: false });
        break;
      }
      case 'assume': {
        const pod = podOf(op.pod);
        this.pods.set(podKey(pod), { pod: cache.assume(pod, op.nodeName), assumed: true });
        break;
      }
      case 'forget': {
        const key = `default/${op.name}`;
        const known = this.pods.get(key);
        const forgotten = cache.forget(key, op.uid);
        expect(forgotten).to.equal(!!known?.assumed && known.pod.metadata!.uid === op.uid);
        if (forgotten) this.pods.delete(key);
        break;
      }
      case 'finish':
        cache.finishBinding(`default/${op.name}`, op.uid);
        break;
      case 'remove':
        cache.removePod(`default/${op.name}`);
        this.pods.delete(`default/${op.name}`);
        break;
    }
  }

  snapshot(): Snapshot {
    return buildSnapshot([...this.nodes.values()], [...this.pods.values()].map((p) => p.pod));
  }
}

// ---- Comparing ----

const nameOf = (info: NodeInfo) => info.node.metadata!.name!;
const nonZeroScalars = (scalar: Record<string, number>) => Object.fromEntries(Object.entries(scalar).filter(([, v]) => v !== 0));

function nodeState(info: NodeInfo) {
  return {
    pods: info.pods.map(podKey).sort(),
    requested: { ...info.requested, scalar: nonZeroScalars(info.requested.scalar) },
    nonZeroRequested: { ...info.nonZeroRequested },
    usedPorts: [...info.usedPorts].sort(),
  };
}

const sortedEntries = <V>(map: ReadonlyMap<string, V>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Every class of an index with its per-node and per-domain counts, in a canonical order. */
function indexState(index: PodIndex) {
  const describe = (cls: LabelClass | AffinityClass, id: unknown) =>
    JSON.stringify({ id, nodes: sortedEntries(cls.nodes), domains: KEY_SETS.map((keys) => index.domains(cls, keys).map(sortedEntries)) });
  return {
    byLabels: [...index.byLabels].map((cls) => describe(cls, [cls.namespace, sortedEntries(new Map(Object.entries(cls.labels))), cls.terminating])).sort(),
    byAffinity: [...index.byAffinity].map((cls) => describe(cls, [cls.info.requiredAntiAffinity.length, cls.info.preferredAntiAffinity.length, cls.info.preferredAffinity.length])).sort(),
  };
}

function expectSame(cache: SchedulerCache, model: Model): void {
  const expected = model.snapshot();
  expect(cache.nodes.map(nameOf)).to.deep.equal(expected.nodes.map(nameOf));
  for (const info of expected.nodes) expect(nodeState(cache.get(nameOf(info))!), nameOf(info)).to.deep.equal(nodeState(info));
  // The same objects (the assumed copies included), in any order.
  const byKey = (pods: readonly Pod[]) => [...pods].sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1));
  const placed = byKey(cache.pods);
  expect(placed.map(podKey)).to.deep.equal(byKey(expected.pods).map(podKey));
  byKey(expected.pods).forEach((pod, i) => expect(placed[i]).to.equal(pod));
  const fresh = new PodIndex();
  fresh.sync(expected);
  expect(indexState(cache[ATTACHED_POD_INDEX])).to.deep.equal(indexState(fresh));
}

// ---- Running plugins the way the scheduler does ----

/** Incoming pods exercising every counting path of the topology plugins. */
const incoming: Pod[] = [
  {
    metadata: { name: 'spread-web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      containers: [{ name: 'c' }],
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } },
        { maxSkew: 1, topologyKey: HOSTNAME, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } },
      ],
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'rack' }],
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 5, podAffinityTerm: { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: HOSTNAME } }],
        },
      },
    },
  },
  {
    metadata: { name: 'near-web', namespace: 'default', labels: { app: 'db' } },
    spec: {
      containers: [{ name: 'c' }],
      topologySpreadConstraints: [
        { maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'db' } } },
        { maxSkew: 1, topologyKey: 'rack', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } },
        { maxSkew: 1, topologyKey: 'rack', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { tier: 'front' } } },
      ],
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'zone' }],
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 4, podAffinityTerm: { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'rack' } }],
        },
      },
    },
  },
  {
    // Node affinity under the Honor policy: the spread counts go node by node.
    metadata: { name: 'zone-one', namespace: 'default', labels: { app: 'web', tier: 'front' } },
    spec: {
      containers: [{ name: 'c' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] }] } } },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'rack', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } },
        { maxSkew: 1, topologyKey: 'rack', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } },
      ],
    },
  },
] as Pod[];


// ---- kube's algorithms, transcribed naively (every node, every pod), as the reference ----

const labelsOfNode = (info: NodeInfo): Record<string, string> => info.node.metadata?.labels ?? {};
const podLabels = (pod: Pod): Record<string, string> => pod.metadata?.labels ?? {};

/** framework.AffinityTerm.Matches without namespace selectors: the owner's namespace (or the listed ones) and the selector. */
function termMatchesPod(owner: Pod, term: PodAffinityTerm, pod: Pod): boolean {
  const namespaces = term.namespaces?.length ? term.namespaces : [owner.metadata!.namespace!];
  return namespaces.includes(pod.metadata!.namespace!) && selectorFromObject(term.labelSelector).matches(podLabels(pod));
}

/** nodeaffinity.RequiredNodeAffinity for the `In` expressions these tests use. */
function requiredNodeAffinityMatches(pod: Pod, info: NodeInfo): boolean {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return terms.some((t) => (t.matchExpressions ?? []).every((r) => r.operator === 'In' && r.values!.includes(labelsOfNode(info)[r.key]!)));
}

type Decision = { verdicts: string[]; scores: number[] };

/** kube's InterPodAffinity: PreFilter + Filter over every node, PreScore + Score + NormalizeScore over `feasible`. */
function referenceInterPodAffinity(pod: Pod, snapshot: Snapshot, feasible: readonly NodeInfo[]): Decision {
  const pair = (k: string, v: string) => `${k}\n${v}`;
  const bump = (m: Map<string, number>, k: string, v: number) => {
    const next = (m.get(k) ?? 0) + v;
    if (next === 0) m.delete(k);
    else m.set(k, next);
  };
  const requiredAffinity = pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const requiredAnti = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const affinityCounts = new Map<string, number>();
  const antiCounts = new Map<string, number>();
  const existingAntiCounts = new Map<string, number>();
  for (const info of snapshot.nodes) {
    const labels = labelsOfNode(info);
    for (const existing of info.pods) {
      for (const term of existing.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
        if (termMatchesPod(existing, term, pod) && labels[term.topologyKey] !== undefined) bump(existingAntiCounts, pair(term.topologyKey, labels[term.topologyKey]!), 1);
      }
      if (requiredAffinity.length && requiredAffinity.every((t) => termMatchesPod(pod, t, existing))) {
        for (const t of requiredAffinity) if (labels[t.topologyKey] !== undefined) bump(affinityCounts, pair(t.topologyKey, labels[t.topologyKey]!), 1);
      }
      for (const t of requiredAnti) if (termMatchesPod(pod, t, existing) && labels[t.topologyKey] !== undefined) bump(antiCounts, pair(t.topologyKey, labels[t.topologyKey]!), 1);
    }
  }
  const verdicts = snapshot.nodes.map((info) => {
    const labels = labelsOfNode(info);
    let podsExist = true;
    for (const t of requiredAffinity) {
      if (labels[t.topologyKey] === undefined) return "node(s) didn't match pod affinity rules";
      if ((affinityCounts.get(pair(t.topologyKey, labels[t.topologyKey]!)) ?? 0) <= 0) podsExist = false;
    }
    if (!podsExist && !(affinityCounts.size === 0 && requiredAffinity.every((t) => termMatchesPod(pod, t, pod)))) return "node(s) didn't match pod affinity rules";
    for (const t of requiredAnti) {
      if (labels[t.topologyKey] !== undefined && (antiCounts.get(pair(t.topologyKey, labels[t.topologyKey]!)) ?? 0) > 0) return "node(s) didn't match pod anti-affinity rules";
    }
    for (const [k, v] of Object.entries(labels)) if ((existingAntiCounts.get(pair(k, v)) ?? 0) > 0) return "node(s) didn't satisfy existing pods anti-affinity rules";
    return 'fits';
  });
  // PreScore: topologyScore[key][value].
  const topologyScore = new Map<string, number>();
  const process = (owner: Pod, term: PodAffinityTerm, weight: number, target: Pod, labels: Record<string, string>) => {
    if (termMatchesPod(owner, term, target) && labels[term.topologyKey] !== undefined) {
      const k = pair(term.topologyKey, labels[term.topologyKey]!);
      topologyScore.set(k, (topologyScore.get(k) ?? 0) + weight);
    }
  };
  for (const info of snapshot.nodes) {
    const labels = labelsOfNode(info);
    for (const existing of info.pods) {
      for (const t of pod.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) process(pod, t.podAffinityTerm, t.weight, existing, labels);
      for (const t of pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) process(pod, t.podAffinityTerm, -t.weight, existing, labels);
      for (const t of existing.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) process(existing, t, 1, pod, labels);
      for (const t of existing.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) process(existing, t.podAffinityTerm, t.weight, pod, labels);
      for (const t of existing.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) process(existing, t.podAffinityTerm, -t.weight, pod, labels);
    }
  }
  const raw = feasible.map((info) => Object.entries(labelsOfNode(info)).reduce((sum, [k, v]) => sum + (topologyScore.get(pair(k, v)) ?? 0), 0));
  if (topologyScore.size === 0) return { verdicts, scores: raw };
  const min = Math.min(...raw);
  const max = Math.max(...raw);
  return { verdicts, scores: raw.map((s) => (max - min > 0 ? Math.trunc(100 * ((s - min) / (max - min))) : 0)) };
}

/** kube's countPodsMatchSelector. */
function countMatching(pods: readonly Pod[], c: TopologySpreadConstraint, namespace: string): number {
  const selector = selectorFromObject(c.labelSelector);
  if (selector.isEmpty()) return 0;
  return pods.filter((p) => !p.metadata?.deletionTimestamp && p.metadata?.namespace === namespace && selector.matches(podLabels(p))).length;
}

/** kube's PodTopologySpread (default policies, no minDomains): PreFilter + Filter over every node, PreScore + Score + NormalizeScore over `feasible`. */
function referencePodTopologySpread(pod: Pod, snapshot: Snapshot, feasible: readonly NodeInfo[]): Decision {
  const namespace = pod.metadata!.namespace!;
  const all = pod.spec?.topologySpreadConstraints ?? [];
  const hasAll = (info: NodeInfo, cs: readonly TopologySpreadConstraint[]) => cs.every((c) => labelsOfNode(info)[c.topologyKey] !== undefined);
  const hard = all.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule');
  const matchNum = hard.map(() => new Map<string, number>());
  for (const info of snapshot.nodes) {
    if (!hasAll(info, hard)) continue;
    hard.forEach((c, i) => {
      if (!requiredNodeAffinityMatches(pod, info)) return; // nodeAffinityPolicy Honor
      const value = labelsOfNode(info)[c.topologyKey]!;
      matchNum[i]!.set(value, (matchNum[i]!.get(value) ?? 0) + countMatching(info.pods, c, namespace));
    });
  }
  const verdicts = snapshot.nodes.map((info) => {
    for (let i = 0; i < hard.length; i++) {
      const c = hard[i]!;
      const value = labelsOfNode(info)[c.topologyKey];
      if (value === undefined) return "node(s) didn't match pod topology spread constraints (missing required label)";
      const min = matchNum[i]!.size ? Math.min(...matchNum[i]!.values()) : 0;
      const self = selectorFromObject(c.labelSelector).matches(podLabels(pod)) ? 1 : 0;
      if ((matchNum[i]!.get(value) ?? 0) + self - min > c.maxSkew) return "node(s) didn't match pod topology spread constraints";
    }
    return 'fits';
  });
  const soft = all.filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
  if (soft.length === 0) return { verdicts, scores: feasible.map(() => 0) };
  const ignored = new Set<string>();
  const counts = soft.map(() => new Map<string, number>());
  for (const info of feasible) {
    if (!hasAll(info, soft)) {
      ignored.add(nameOf(info));
      continue;
    }
    soft.forEach((c, i) => {
      if (c.topologyKey !== HOSTNAME) counts[i]!.set(labelsOfNode(info)[c.topologyKey]!, 0);
    });
  }
  const weights = soft.map((c, i) => Math.log((c.topologyKey === HOSTNAME ? feasible.length - ignored.size : counts[i]!.size) + 2));
  for (const info of snapshot.nodes) {
    if (!hasAll(info, soft)) continue;
    soft.forEach((c, i) => {
      if (!requiredNodeAffinityMatches(pod, info)) return;
      const value = labelsOfNode(info)[c.topologyKey]!;
      const current = counts[i]!.get(value);
      if (current !== undefined) counts[i]!.set(value, current + countMatching(info.pods, c, namespace));
    });
  }
  const raw = feasible.map((info) => {
    if (ignored.has(nameOf(info))) return 0;
    let score = 0;
    soft.forEach((c, i) => {
      const value = labelsOfNode(info)[c.topologyKey];
      if (value === undefined) return;
      const count = c.topologyKey === HOSTNAME ? countMatching(info.pods, c, namespace) : counts[i]!.get(value)!;
      score += count * weights[i]! + (c.maxSkew - 1);
    });
    return Math.round(score);
  });
  const scored = raw.filter((_, i) => !ignored.has(nameOf(feasible[i]!)));
  const min = scored.length ? Math.min(...scored) : 0;
  const max = Math.max(0, ...scored);
  return {
    verdicts,
    scores: raw.map((s, i) => (ignored.has(nameOf(feasible[i]!)) ? 0 : max === 0 ? 100 : Math.trunc((100 * (max + min - s)) / max))),
  };
}

/**
 * Filter verdicts over every node, and normalized scores over the nodes that fit (all when none
 * does; a skipped plugin scores 0 everywhere).
 */
function decide(plugin: SchedulerPluginImpl, pod: Pod, snapshot: Snapshot): Decision {
  const state: CycleState = new Map();
  const pre = plugin.preFilter?.(pod, snapshot, state);
  const verdicts = snapshot.nodes.map((info) => (pre && 'reason' in pre ? pre.reason : (plugin.filter?.(pod, info, snapshot, state)?.reason ?? 'fits')));
  const nodes = feasibleOf(snapshot, verdicts);
  const skip = !!plugin.preScore?.(pod, nodes, snapshot, state)?.skip;
  const raw = nodes.map((info) => plugin.score!(pod, info, snapshot, state));
  const scores = Float64Array.from(raw);
  plugin.normalizeScores!(scores, nodes, pod, state);
  // The map form means the same.
  const byName = new Map(nodes.map((info, i) => [nameOf(info), raw[i]!]));
  plugin.normalize!(byName, pod, state);
  expect([...byName.values()]).to.deep.equal([...scores]);
  // Skipping is only allowed when every node would score 0.
  if (skip) expect([...scores].every((s) => s === 0), 'skipped with non-zero scores').to.equal(true);
  return { verdicts, scores: skip ? nodes.map(() => 0) : [...scores] };
}

function feasibleOf(snapshot: Snapshot, verdicts: readonly string[]): readonly NodeInfo[] {
  const fitting = snapshot.nodes.filter((_, i) => verdicts[i] === 'fits');
  return fitting.length ? fitting : snapshot.nodes;
}

describe('SchedulerCache against a snapshot built from scratch', () => {
  it('keeps node infos, placed pods and the attached pod index (with per-domain counts) equal after any history', () => {
    fc.assert(
      fc.property(ops, (history) => {
        const cache = new SchedulerCache();
        const model = new Model();
        for (const op of history) {
          model.apply(cache, op);
          expectSame(cache, model);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('lets InterPodAffinity and PodTopologySpread decide as kube does (a naive transcription), on the cache and on the snapshot', () => {
    fc.assert(
      fc.property(ops, (history) => {
        const cache = new SchedulerCache();
        const model = new Model();
        // The plugins read the cache between changes, as cycles do: the index's domain counts are
        // built early and then kept current.
        const plugins = [new InterPodAffinity(), new PodTopologySpread()];
        for (const op of history) {
          model.apply(cache, op);
          const expected = model.snapshot();
          for (const pod of incoming) {
            const [affinity, spread] = plugins.map((plugin) => decide(plugin, pod, cache));
            expect(affinity, `InterPodAffinity ${pod.metadata!.name} (snapshot)`).to.deep.equal(decide(plugins[0]!, pod, expected));
            expect(spread, `PodTopologySpread ${pod.metadata!.name} (snapshot)`).to.deep.equal(decide(plugins[1]!, pod, expected));
            expect(affinity, `InterPodAffinity ${pod.metadata!.name} (kube)`).to.deep.equal(referenceInterPodAffinity(pod, expected, feasibleOf(expected, affinity!.verdicts)));
            expect(spread, `PodTopologySpread ${pod.metadata!.name} (kube)`).to.deep.equal(referencePodTopologySpread(pod, expected, feasibleOf(expected, spread!.verdicts)));
          }
        }
      }),
      {
        numRuns: 300,
        examples: [
          // A soft constraint counts pods only on nodes carrying every soft constraint's key (n2 has no zone).
          [
            [
              { op: 'setNode', node: { name: 'n3', zone: 'z1', rack: 'r1', cpu: '2' } },
              { op: 'setNode', node: { name: 'n1', zone: 'z2', rack: 'r1', cpu: '2' } },
              { op: 'bound', pod: { name: 'p0', uid: 'u1', app: 'web', tier: 'front', deleting: false, affinity: 'none', cpu: '1', port: false }, nodeName: 'n2' },
              { op: 'setNode', node: { name: 'n2', zone: undefined, rack: 'r1', cpu: '2' } },
              { op: 'bound', pod: { name: 'p2', uid: 'u1', app: 'db', tier: 'front', deleting: false, affinity: 'none', cpu: '100m', port: false }, nodeName: 'n1' },
            ],
          ],
        ],
      },
    );
  });

  it('decides as kube does when many groups of pods match one term (the merged counts)', () => {
    const cache = new SchedulerCache();
    const model = new Model();
    for (const [i, name] of ['n1', 'n2', 'n3', 'n4'].entries()) model.apply(cache, { op: 'setNode', node: { name, zone: i % 2 ? 'z1' : 'z2', rack: 'r1', cpu: '4' } });
    // 20 pods, each of a label class of its own (a `statefulset`-like unique label).
    for (let i = 0; i < 20; i++) {
      const pod = podOf({ name: `s${i}`, uid: 'u', app: i % 3 ? 'web' : 'db', tier: undefined, cpu: undefined, port: false, deleting: false, affinity: i % 4 ? 'none' : 'preferredAnti' }, `n${(i % 4) + 1}`);
      pod.metadata!.labels = { ...pod.metadata!.labels, unique: `s${i}` };
      cache.addBoundPod(pod);
      model.pods.set(podKey(pod), { pod, assumed: false });
    }
    const expected = model.snapshot();
    expect([...cache[ATTACHED_POD_INDEX].byLabels]).to.have.length(20);
    for (const pod of incoming) {
      for (const [plugin, reference] of [[new InterPodAffinity(), referenceInterPodAffinity], [new PodTopologySpread(), referencePodTopologySpread]] as const) {
        const decided = decide(plugin, pod, cache);
        expect(decided, `${plugin.constructor.name} ${pod.metadata!.name}`).to.deep.equal(reference(pod, expected, feasibleOf(expected, decided.verdicts)));
      }
    }
  });

  it('counts an assumed pod once: the bound version swaps in without changing requests or the index', () => {
    const cache = new SchedulerCache();
    cache.setNode(nodeOf({ name: 'n1', zone: 'z1', rack: undefined, cpu: '4' }));
    const shape: PodShape = { name: 'p', uid: 'u1', app: 'web', tier: undefined, cpu: '1', port: true, deleting: false, affinity: 'preferredAnti' };
    const assumed = cache.assume(podOf(shape), 'n1');
    const index = cache[ATTACHED_POD_INDEX];
    const [web] = [...index.byLabels];
    expect(index.domainCounts(web!, 'zone')).to.deep.equal(new Map([['z1', 1]]));
    const bound = { ...podOf(shape, 'n1'), metadata: { ...assumed.metadata, resourceVersion: '7' } } as Pod;
    cache.addBoundPod(bound);
    const info = cache.get('n1')!;
    expect(info.pods).to.deep.equal([bound]);
    expect(info.requested).to.deep.include({ milliCPU: 1000, pods: 1 });
    expect(info.nonZeroRequested).to.deep.equal({ milliCPU: 1000, memory: 200 * 1024 * 1024 });
    expect([...info.usedPorts]).to.deep.equal(['TCP/0.0.0.0/8080']);
    expect(index.domainCounts(web!, 'zone')).to.deep.equal(new Map([['z1', 1]]));
    // Relabelled: the pod moves to another class.
    cache.addBoundPod({ ...bound, metadata: { ...bound.metadata, labels: { app: 'db' }, resourceVersion: '8' } } as Pod);
    expect([...index.byLabels].map((cls) => cls.labels)).to.deep.equal([{ app: 'db' }]);
    cache.removePod('default/p');
    expect(info.requested).to.deep.include({ milliCPU: 0, memory: 0, pods: 0 });
    expect(info.nonZeroRequested).to.deep.equal({ milliCPU: 0, memory: 0 });
    expect(info.usedPorts.size).to.equal(0);
    expect([...index.byLabels]).to.deep.equal([]);
  });
});

describe('PodIndex synced with a plain snapshot', () => {
  it('rebuilds its per-domain counts when a node is relabelled, added or removed', () => {
    const n1 = nodeOf({ name: 'n1', zone: 'z1', rack: undefined, cpu: '4' });
    const infos = [new MutableNodeInfo(n1), new MutableNodeInfo(nodeOf({ name: 'n2', zone: 'z2', rack: undefined, cpu: '4' }))];
    const pods = [podOf({ name: 'a', uid: 'u', app: 'web', tier: undefined, cpu: undefined, port: false, deleting: false, affinity: 'none' }, 'n1')];
    const snapshot: Snapshot = { nodes: infos, pods, get: (name) => infos.find((i) => nameOf(i) === name) };
    const index = new PodIndex();
    index.sync(snapshot);
    const cls = () => [...index.byLabels][0]!;
    expect(index.domainCounts(cls(), 'zone')).to.deep.equal(new Map([['z1', 1]]));
    infos[0] = new MutableNodeInfo({ ...n1, metadata: { ...n1.metadata, labels: { zone: 'z3' } } });
    index.sync(snapshot);
    expect(index.domainCounts(cls(), 'zone')).to.deep.equal(new Map([['z3', 1]]));
    infos.shift();
    index.sync(snapshot);
    expect(index.domainCounts(cls(), 'zone')).to.deep.equal(new Map());
    expect(cls().nodes).to.deep.equal(new Map([['n1', 1]]));
  });
});

describe('TopologyCounter', () => {
  it('sums the parts per domain, reading many parts of one key through a merged map', () => {
    for (const parts of [3, 20]) {
      const counter = new TopologyCounter();
      expect(counter.isEmpty).to.equal(true);
      let expectedA = 0;
      for (let i = 0; i < parts; i++) {
        counter.add('zone', new Map([['a', i + 1], ['b', 1]]), i % 2 ? -2 : 3);
        expectedA += (i + 1) * (i % 2 ? -2 : 3);
      }
      counter.add('zone', new Map(), 5); // nothing
      counter.add('rack', new Map([['r', 2]]), 0); // nothing
      counter.add(HOSTNAME, new Map([['n1', 2]]), 1);
      expect(counter.isEmpty).to.equal(false);
      expect([...counter.keys()]).to.deep.equal(['zone', HOSTNAME]);
      expect(counter.at('zone', 'a')).to.equal(expectedA);
      expect(counter.at('zone', 'c')).to.equal(0);
      expect(counter.at('rack', 'r')).to.equal(0);
      expect(counter.sumFor({ zone: 'a', [HOSTNAME]: 'n1' })).to.equal(expectedA + 2);
      expect(counter.sumFor({ [HOSTNAME]: 'n2' })).to.equal(0);
      expect(counter.anyFor({ rack: 'r', [HOSTNAME]: 'n1' })).to.equal(true);
      expect(counter.anyFor({ zone: 'c' })).to.equal(false);
      // A part added after a read is seen by the next read.
      counter.add('zone', new Map([['a', 1]]), 1);
      expect(counter.at('zone', 'a')).to.equal(expectedA + 1);
    }
  });
});

// ---- The scheduler's scoring path ----

/** Would fail every cycle that calls its score: its preScore always skips. */
@SchedulerPlugin({ name: 'AlwaysSkipped', weight: 5 })
class AlwaysSkipped implements SchedulerPluginImpl {
  preScore(): PreScoreResult {
    return { skip: true };
  }

  score(): number {
    throw new Error('score called after preScore skipped');
  }
}

/** Prefers node `a` (raw 10 vs 0), normalized only through the map form (as older user plugins). */
@SchedulerPlugin({ name: 'PrefersA', weight: 1 })
class PrefersA implements SchedulerPluginImpl {
  score(_pod: Pod, info: NodeInfo): number {
    return nameOf(info) === 'a' ? 10 : 0;
  }

  normalize(scores: Map<string, number>): void {
    for (const [name, score] of scores) scores.set(name, score * 10);
  }
}

/** Prefers node `b` with weight 2, through normalizeScores; its map form would fail the cycle. */
@SchedulerPlugin({ name: 'PrefersB', weight: 2 })
class PrefersB implements SchedulerPluginImpl {
  score(_pod: Pod, info: NodeInfo): number {
    return nameOf(info) === 'b' ? 1 : 0;
  }

  normalize(): void {
    throw new Error('normalize called although normalizeScores exists');
  }

  normalizeScores(scores: Float64Array): void {
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! * 100;
  }
}

describe('Scheduler scoring', function () {
  this.timeout(20_000);
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.stop();
    env = undefined;
  });

  it('skips the plugins whose preScore said so, and normalizes through normalizeScores when a plugin has it', async () => {
    const nodes = ['a', 'b'].map((name) => nodeOf({ name, zone: undefined, rack: undefined, cpu: '4' }));
    env = await TestEnv.start({
      controllers: [Scheduler],
      objects: nodes,
      configure: (container) => {
        for (const plugin of [NodeResourcesFit, AlwaysSkipped, PrefersA, PrefersB]) container.bind(SchedulerPlugins).to(plugin as never);
        container.bind(SchedulerConfiguration).toConstantValue({ disabledPlugins: ['*'] });
      },
    });
    await env.client.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] } } as Pod);
    // PrefersA gives a 100 (weight 1), PrefersB gives b 100 (weight 2): b wins.
    const nodeName = await env.eventually(async () => (await env!.client.get(Pod, 'p', { namespace: 'default' })).spec?.nodeName);
    expect(nodeName).to.equal('b');
  });
});
