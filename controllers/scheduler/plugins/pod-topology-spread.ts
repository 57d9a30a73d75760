/**
 * PodTopologySpread: spreads matching pods evenly over topology domains (zones, hosts, …). For a
 * `DoNotSchedule` constraint a node fits only if placing the pod keeps `matching pods in the
 * node's domain + (1 if the pod matches) - global minimum ≤ maxSkew` (the minimum counts as 0
 * while fewer than `minDomains` domains exist); a node without the topology label never fits.
 * `ScheduleAnyway` constraints score: fewer matching pods in the node's domain is better,
 * weighted by log(number of domains + 2), and normalized so the emptiest domain gets 100.
 *
 * Counts are computed once per cycle in preFilter/preScore from the pod index (one selector
 * evaluation per group of alike pods, whose per-domain counts the index keeps current, see
 * pod-index.ts) and the cached topology domains; filter and score then look up one domain per
 * constraint. Only with a node inclusion policy that leaves nodes out (the pod's node affinity
 * under Honor, or nodeTaintsPolicy Honor) are the matching pods counted node by node.
 *
 * Not implemented: kube's system default constraints (hostname maxSkew 3, zone maxSkew 5,
 * ScheduleAnyway) for pods without constraints that belong to a Service or controller — the
 * snapshot carries no Services; LeastAllocated and BalancedAllocation already spread such pods.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type PreScoreResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { CycleSlot, LABEL_HOSTNAME, labelsOf, MAX_NODE_SCORE, namespaceOf, nodeNameOf, normalizeMap } from './common.js';
import { RequiredNodeAffinity } from './node-selector.js';
import { podIndexOf } from './pod-index.js';
import { forEachMatchingPod, hasAllTopologyKeys, matchingClasses, nodeIncluded, spreadConstraints, topologyDomains, type SpreadConstraint } from './spread-constraints.js';

const MAX_INT32 = 2 ** 31 - 1;
/** Matching classes beyond which a hostname constraint's per-node counts are merged once per cycle. */
const MERGE_HOST_COUNTS_ABOVE = 8;

const CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints";
const NOT_MATCH: FilterFailure = Object.freeze({ reason: CONSTRAINTS_NOT_MATCH });
const MISSING_LABEL: FilterFailure = Object.freeze({ reason: `${CONSTRAINTS_NOT_MATCH} (missing required label)`, unresolvable: true });

interface FilterState {
  constraints: readonly SpreadConstraint[];
  /** Per constraint: matching pods per topology value, over the eligible nodes. */
  matchNum: readonly ReadonlyMap<string, number>[];
  /** Per constraint: the global minimum the skew is measured against. */
  minMatch: readonly number[];
  /** Per constraint: 1 if the incoming pod matches its own selector. */
  selfMatch: readonly number[];
}

interface ScoreState {
  constraints: readonly SpreadConstraint[];
  /** Feasible nodes lacking a topology key: they score 0. */
  ignored: ReadonlySet<string>;
  /** Per constraint (but hostname ones): matching pods per topology value of the feasible nodes. */
  podCounts: readonly Map<string, number>[];
  /** Per hostname constraint: the matching classes' pods per node name, to sum per scored node. */
  hostCounts: readonly (readonly ReadonlyMap<string, number>[] | undefined)[];
  /** Per constraint: log(number of domains + 2). */
  weights: readonly number[];
}

const NO_FILTER: FilterState = Object.freeze({ constraints: [], matchNum: [], minMatch: [], selfMatch: [] });
const NO_SCORE: ScoreState = Object.freeze({ constraints: [], ignored: new Set<string>(), podCounts: [], hostCounts: [], weights: [] });

/** The per-value sum of `parts` (the only part itself, not copied). */
function sumCounts(parts: readonly ReadonlyMap<string, number>[]): ReadonlyMap<string, number> {
  if (parts.length === 1) return parts[0]!;
  const sum = new Map<string, number>();
  for (const part of parts) for (const [value, n] of part) sum.set(value, (sum.get(value) ?? 0) + n);
  return sum;
}

/** True when every node with the topology keys counts (default policies, or nothing to honor). */
function allNodesIncluded(constraints: readonly SpreadConstraint[], required: RequiredNodeAffinity): boolean {
  return constraints.every((c) => !c.honorNodeTaints && (!c.honorNodeAffinity || required.isEmpty));
}

function computeFilterState(pod: Pod, snapshot: Snapshot, state: CycleState): FilterState | Error {
  const constraints = spreadConstraints(pod, 'DoNotSchedule');
  if (constraints instanceof Error) return constraints;
  if (constraints.length === 0) return NO_FILTER;
  const namespace = namespaceOf(pod);
  const required = RequiredNodeAffinity.of(pod);
  const index = podIndexOf(snapshot, state);
  // The domains: the topology values of the eligible nodes having every constraint's key.
  let domains: readonly ReadonlySet<string>[];
  let eligible: ((info: NodeInfo) => boolean)[];
  const everyNode = allNodesIncluded(constraints, required);
  if (everyNode) {
    domains = topologyDomains(snapshot, state, constraints.map((c) => c.topologyKey));
    eligible = constraints.map(() => (info: NodeInfo) => hasAllTopologyKeys(labelsOf(info.node), constraints));
  } else {
    const names = constraints.map(() => new Set<string>());
    const values = constraints.map(() => new Set<string>());
    for (const info of snapshot.nodes) {
      const labels = labelsOf(info.node);
      if (!hasAllTopologyKeys(labels, constraints)) continue;
      constraints.forEach((c, i) => {
        if (!nodeIncluded(c, pod, info.node, required)) return;
        names[i]!.add(nodeNameOf(info.node));
        values[i]!.add(labels[c.topologyKey]!);
      });
    }
    domains = values;
    eligible = names.map((set) => (info: NodeInfo) => set.has(nodeNameOf(info.node)));
  }
  const keys = constraints.map((c) => c.topologyKey);
  const matchNum = constraints.map((c, i): ReadonlyMap<string, number> => {
    if (everyNode) return sumCounts(matchingClasses(index, c.selector, namespace).map((cls) => index.domains(cls, keys)[i]!));
    const counts = new Map<string, number>();
    forEachMatchingPod(index, c.selector, namespace, (nodeName, count) => {
      const info = snapshot.get(nodeName);
      if (!info || !eligible[i]!(info)) return;
      const value = labelsOf(info.node)[c.topologyKey]!;
      counts.set(value, (counts.get(value) ?? 0) + count);
    });
    return counts;
  });
  const minMatch = constraints.map((c, i) => {
    const domainCount = domains[i]!.size;
    if (domainCount < c.minDomains) return 0;
    // A domain without matching pods holds the minimum, 0.
    if (domainCount > matchNum[i]!.size) return 0;
    let min = MAX_INT32;
    for (const n of matchNum[i]!.values()) if (n < min) min = n;
    return min;
  });
  const podLabels = labelsOf(pod);
  const selfMatch = constraints.map((c) => (c.selector.matches(podLabels) ? 1 : 0));
  return { constraints, matchNum, minMatch, selfMatch };
}

function computeScoreState(pod: Pod, feasible: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): ScoreState {
  const constraints = spreadConstraints(pod, 'ScheduleAnyway');
  if (constraints instanceof Error) throw constraints; // preFilter reports it first
  if (constraints.length === 0 || snapshot.nodes.length === 0) return NO_SCORE;
  const ignored = new Set<string>();
  const podCounts = constraints.map(() => new Map<string, number>());
  for (const info of feasible) {
    const labels = labelsOf(info.node);
    if (!hasAllTopologyKeys(labels, constraints)) {
      ignored.add(nodeNameOf(info.node));
      continue;
    }
    for (let i = 0; i < constraints.length; i++) {
      const key = constraints[i]!.topologyKey;
      if (key !== LABEL_HOSTNAME) podCounts[i]!.set(labels[key]!, 0);
    }
  }
  const weights = constraints.map((c, i) => Math.log((c.topologyKey === LABEL_HOSTNAME ? feasible.length - ignored.size : podCounts[i]!.size) + 2));
  const namespace = namespaceOf(pod);
  const required = RequiredNodeAffinity.of(pod);
  const allIncluded = allNodesIncluded(constraints, required);
  const index = podIndexOf(snapshot, state);
  const keys = constraints.map((c) => c.topologyKey);
  const hostCounts = constraints.map((c, i) => {
    const classes = matchingClasses(index, c.selector, namespace);
    // Hostname domains are single nodes: their counts are read per scored node (from one merged
    // map when many classes match, so that a node costs a few lookups at most).
    if (c.topologyKey === LABEL_HOSTNAME) return classes.length > MERGE_HOST_COUNTS_ABOVE ? [sumCounts(classes.map((cls) => cls.nodes))] : classes.map((cls) => cls.nodes);
    const counts = podCounts[i]!;
    for (const cls of classes) {
      if (allIncluded) {
        // Only domains of feasible nodes matter: add what the class has there.
        const domains = index.domains(cls, keys)[i]!;
        if (domains.size < counts.size) {
          for (const [value, n] of domains) {
            const current = counts.get(value);
            if (current !== undefined) counts.set(value, current + n);
          }
        } else {
          for (const [value, current] of counts) {
            const n = domains.get(value);
            if (n !== undefined) counts.set(value, current + n);
          }
        }
        continue;
      }
      for (const [nodeName, count] of cls.nodes) {
        const info = snapshot.get(nodeName);
        if (!info) continue;
        const labels = labelsOf(info.node);
        if (!hasAllTopologyKeys(labels, constraints)) continue;
        const value = labels[c.topologyKey]!;
        const current = counts.get(value);
        if (current === undefined || !nodeIncluded(c, pod, info.node, required)) continue;
        counts.set(value, current + count);
      }
    }
    return undefined;
  });
  return { constraints, ignored, podCounts, hostCounts, weights };
}

/** Filters on DoNotSchedule constraints; scores on ScheduleAnyway constraints. */
@SchedulerPlugin({ name: 'PodTopologySpread', weight: 2 })
export class PodTopologySpread implements SchedulerPluginImpl {
  private readonly filtering = new CycleSlot<FilterState>('PodTopologySpread/preFilter');
  private readonly scoring = new CycleSlot<ScoreState>('PodTopologySpread/preScore');

  /** Counts matching pods per domain for the hard constraints (a bad selector fails the pod). */
  preFilter(pod: Pod, snapshot: Snapshot, state: CycleState): PreFilterResult {
    const computed = computeFilterState(pod, snapshot, state);
    if (computed instanceof Error) return { reason: `obtaining pod's hard topology spread constraints: ${computed.message}`, unresolvable: true };
    const soft = spreadConstraints(pod, 'ScheduleAnyway');
    if (soft instanceof Error) return { reason: `obtaining pod's soft topology spread constraints: ${soft.message}`, unresolvable: true };
    this.filtering.set(state, computed);
  }

  /**
   * Fails `node(s) didn't match pod topology spread constraints` when the skew would exceed
   * maxSkew, and `… (missing required label)` (unresolvable) when the node has no topology label.
   */
  filter(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): FilterFailure | undefined {
    const s = this.filtering.get(state, () => {
      const computed = computeFilterState(pod, snapshot, state);
      if (computed instanceof Error) throw computed; // preFilter, had it run, would have reported it
      return computed;
    });
    if (s.constraints.length === 0) return undefined;
    const labels = labelsOf(node.node);
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i]!;
      const value = labels[c.topologyKey];
      if (value === undefined) return MISSING_LABEL;
      const skew = (s.matchNum[i]!.get(value) ?? 0) + s.selfMatch[i]! - s.minMatch[i]!;
      if (skew > c.maxSkew) return NOT_MATCH;
    }
    return undefined;
  }

  /** Counts matching pods per domain of the feasible nodes for the soft constraints; skips scoring without any (as kube). */
  preScore(pod: Pod, nodes: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): PreScoreResult {
    const s = computeScoreState(pod, nodes, snapshot, state);
    this.scoring.set(state, s);
    if (s.constraints.length === 0) return { skip: true };
  }

  /** Σ per constraint of `matching pods in the node's domain × weight + maxSkew - 1` (raw; lower is better). */
  score(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): number {
    const s = this.scoring.get(state, () => computeScoreState(pod, snapshot.nodes, snapshot, state));
    if (s.constraints.length === 0 || (s.ignored.size > 0 && s.ignored.has(nodeNameOf(node.node)))) return 0;
    const labels = labelsOf(node.node);
    let score = 0;
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i]!;
      const value = labels[c.topologyKey];
      if (value === undefined) continue;
      let count = 0;
      const perNode = s.hostCounts[i];
      if (perNode) {
        const name = nodeNameOf(node.node);
        for (const counts of perNode) count += counts.get(name) ?? 0;
      } else {
        count = s.podCounts[i]!.get(value) ?? 0;
      }
      score += count * s.weights[i]! + (c.maxSkew - 1);
    }
    return Math.round(score);
  }

  /** `100 * (max + min - score) / max` over the scored nodes; ignored nodes get 0. */
  normalize(scores: Map<string, number>, _pod: Pod, state: CycleState): void {
    const s = this.scoring.peek(state);
    if (!s || s.constraints.length === 0) return;
    normalizeMap(scores, (values, names) => normalizeSpread(values, (i) => s.ignored.has(names[i]!)));
  }

  /** {@link normalize} by position. */
  normalizeScores(scores: Float64Array, nodes: readonly NodeInfo[], _pod: Pod, state: CycleState): void {
    const s = this.scoring.peek(state);
    if (!s || s.constraints.length === 0) return;
    normalizeSpread(scores, s.ignored.size === 0 ? () => false : (i) => s.ignored.has(nodeNameOf(nodes[i]!.node)));
  }
}

/** `100 * (max + min - score) / max` over the nodes not `ignored`, which get 0. */
function normalizeSpread(scores: Float64Array, ignored: (i: number) => boolean): void {
  let min = Number.MAX_SAFE_INTEGER;
  let max = 0;
  for (let i = 0; i < scores.length; i++) {
    if (ignored(i)) continue;
    const score = scores[i]!;
    if (score < min) min = score;
    if (score > max) max = score;
  }
  for (let i = 0; i < scores.length; i++) {
    if (ignored(i)) scores[i] = 0;
    else if (max === 0) scores[i] = MAX_NODE_SCORE;
    else scores[i] = Math.trunc((MAX_NODE_SCORE * (max + min - scores[i]!)) / max);
  }
}
