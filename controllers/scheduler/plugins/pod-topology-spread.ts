/**
 * PodTopologySpread: spreads matching pods evenly over topology domains (zones, hosts, …). For a
 * `DoNotSchedule` constraint a node fits only if placing the pod keeps `matching pods in the
 * node's domain + (1 if the pod matches) - global minimum ≤ maxSkew` (the minimum counts as 0
 * while fewer than `minDomains` domains exist); a node without the topology label never fits.
 * `ScheduleAnyway` constraints score: fewer matching pods in the node's domain is better,
 * weighted by log(number of domains + 2), and normalized so the emptiest domain gets 100.
 *
 * Counts are computed once per cycle in preFilter/preScore from the pod index (one selector
 * evaluation per group of alike pods, see pod-index.ts) and the cached topology domains; filter
 * and score then look up one domain per constraint.
 *
 * Not implemented: kube's system default constraints (hostname maxSkew 3, zone maxSkew 5,
 * ScheduleAnyway) for pods without constraints that belong to a Service or controller — the
 * snapshot carries no Services; LeastAllocated and BalancedAllocation already spread such pods.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { CycleSlot, LABEL_HOSTNAME, labelsOf, MAX_NODE_SCORE, namespaceOf, nodeNameOf } from './common.js';
import { RequiredNodeAffinity } from './node-selector.js';
import { podIndexOf } from './pod-index.js';
import { forEachMatchingPod, hasAllTopologyKeys, nodeIncluded, spreadConstraints, topologyDomains, type SpreadConstraint } from './spread-constraints.js';

const MAX_INT32 = 2 ** 31 - 1;

const CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints";
const NOT_MATCH: FilterFailure = Object.freeze({ reason: CONSTRAINTS_NOT_MATCH });
const MISSING_LABEL: FilterFailure = Object.freeze({ reason: `${CONSTRAINTS_NOT_MATCH} (missing required label)`, unresolvable: true });

interface FilterState {
  constraints: readonly SpreadConstraint[];
  /** Per constraint: matching pods per topology value, over the eligible nodes. */
  matchNum: readonly Map<string, number>[];
  /** Per constraint: the global minimum the skew is measured against. */
  minMatch: readonly number[];
  /** Per constraint: 1 if the incoming pod matches its own selector. */
  selfMatch: readonly number[];
}

interface ScoreState {
  constraints: readonly SpreadConstraint[];
  /** Feasible nodes lacking a topology key: they score 0. */
  ignored: ReadonlySet<string>;
  /** Per constraint: matching pods per topology value of the feasible nodes (hostname: per node name). */
  podCounts: readonly Map<string, number>[];
  /** Per constraint: log(number of domains + 2). */
  weights: readonly number[];
}

const NO_FILTER: FilterState = Object.freeze({ constraints: [], matchNum: [], minMatch: [], selfMatch: [] });
const NO_SCORE: ScoreState = Object.freeze({ constraints: [], ignored: new Set<string>(), podCounts: [], weights: [] });

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
  if (allNodesIncluded(constraints, required)) {
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
  const matchNum = constraints.map((c, i) => {
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
  constraints.forEach((c, i) => {
    const counts = podCounts[i]!;
    forEachMatchingPod(index, c.selector, namespace, (nodeName, count) => {
      if (c.topologyKey === LABEL_HOSTNAME) {
        // Hostname domains are single nodes: their counts are read per scored node.
        counts.set(nodeName, (counts.get(nodeName) ?? 0) + count);
        return;
      }
      const info = snapshot.get(nodeName);
      if (!info) return;
      const labels = labelsOf(info.node);
      if (!hasAllTopologyKeys(labels, constraints)) return;
      const value = labels[c.topologyKey]!;
      const current = counts.get(value);
      // Only domains of feasible nodes matter.
      if (current === undefined || (!allIncluded && !nodeIncluded(c, pod, info.node, required))) return;
      counts.set(value, current + count);
    });
  });
  return { constraints, ignored, podCounts, weights };
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

  /** Counts matching pods per domain of the feasible nodes for the soft constraints. */
  preScore(pod: Pod, nodes: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): void {
    this.scoring.set(state, computeScoreState(pod, nodes, snapshot, state));
  }

  /** Σ per constraint of `matching pods in the node's domain × weight + maxSkew - 1` (raw; lower is better). */
  score(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): number {
    const s = this.scoring.get(state, () => computeScoreState(pod, snapshot.nodes, snapshot, state));
    if (s.constraints.length === 0 || s.ignored.has(nodeNameOf(node.node))) return 0;
    const labels = labelsOf(node.node);
    let score = 0;
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i]!;
      const value = labels[c.topologyKey];
      if (value === undefined) continue;
      const count = s.podCounts[i]!.get(c.topologyKey === LABEL_HOSTNAME ? nodeNameOf(node.node) : value) ?? 0;
      score += count * s.weights[i]! + (c.maxSkew - 1);
    }
    return Math.round(score);
  }

  /** `100 * (max + min - score) / max` over the scored nodes; ignored nodes get 0. */
  normalize(scores: Map<string, number>, _pod: Pod, state: CycleState): void {
    const s = this.scoring.peek(state);
    if (!s || s.constraints.length === 0) return;
    let min = Number.MAX_SAFE_INTEGER;
    let max = 0;
    for (const [name, score] of scores) {
      if (s.ignored.has(name)) continue;
      if (score < min) min = score;
      if (score > max) max = score;
    }
    for (const [name, score] of scores) {
      if (s.ignored.has(name)) scores.set(name, 0);
      else if (max === 0) scores.set(name, MAX_NODE_SCORE);
      else scores.set(name, Math.trunc((MAX_NODE_SCORE * (max + min - score)) / max));
    }
  }
}
