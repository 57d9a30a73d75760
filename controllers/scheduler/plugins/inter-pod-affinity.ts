/**
 * InterPodAffinity: places pods relative to other pods by topology domain (the value of a node
 * label, `topologyKey`). Filter: the incoming pod's required affinity needs, in the node's
 * domain of every term, an existing pod matching all its terms (or, when no pod anywhere
 * matches, the pod matching its own terms — the first of a group); its required anti-affinity
 * forbids domains holding a pod a term matches; and an existing pod's required anti-affinity
 * forbids its domain to an incoming pod its term matches. Score: per domain, + weight of each
 * preferred affinity term of the incoming pod an existing pod matches, − for anti-affinity;
 * the same for existing pods' preferred terms matching the incoming pod, and +1
 * (hardPodAffinityWeight) for their required affinity terms; normalized min–max to 0–100.
 *
 * Everything is counted once per cycle (preFilter, preScore) from the pod index — each term is
 * evaluated once per group of alike pods, see pod-index.ts; filter and score look up the node's
 * domains.
 */
import { inject, optional } from 'inversify';
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import {
  allTermsSelect,
  defaultNamespaceLabels,
  memoizedNamespaceLabels,
  NamespaceLabels,
  podAffinityInfo,
  termSelects,
  type AffinityTerm,
  type PodAffinityInfo,
} from './affinity-terms.js';
import { CycleSlot, labelsOf, MAX_NODE_SCORE, namespaceOf } from './common.js';
import { podIndexOf } from './pod-index.js';

/** kube's default InterPodAffinityArgs.hardPodAffinityWeight. */
const HARD_POD_AFFINITY_WEIGHT = 1;

const AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match pod affinity rules", unresolvable: true });
const ANTI_AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match pod anti-affinity rules" });
const EXISTING_ANTI_AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't satisfy existing pods anti-affinity rules" });

/** topologyKey → topology value → count (or score). */
type TopologyCounts = Map<string, Map<string, number>>;

function add(counts: TopologyCounts, key: string, value: string, delta: number): void {
  let values = counts.get(key);
  if (!values) counts.set(key, (values = new Map()));
  values.set(value, (values.get(value) ?? 0) + delta);
}

function countAt(counts: TopologyCounts, key: string, value: string): number {
  return counts.get(key)?.get(value) ?? 0;
}

interface FilterState {
  info: PodAffinityInfo;
  /** Existing pods matching all the incoming pod's required affinity terms, per domain. */
  affinityCounts: TopologyCounts;
  /** Existing pods matched by the incoming pod's required anti-affinity terms, per domain. */
  antiAffinityCounts: TopologyCounts;
  /** Existing pods whose required anti-affinity terms match the incoming pod, per domain. */
  existingAntiAffinityCounts: TopologyCounts;
  /** The pod matches all its own required affinity terms (it may start a group). */
  selfMatch: boolean;
  /** Nothing to check on any node: no required terms either way. */
  trivial: boolean;
}

interface ScoreState {
  topologyScore: TopologyCounts;
}

/** Filters on required (anti-)affinity and scores on preferred terms, both ways. */
@SchedulerPlugin({ name: 'InterPodAffinity', weight: 2 })
export class InterPodAffinity implements SchedulerPluginImpl {
  private readonly namespaceLabels: NamespaceLabels;
  private readonly filtering = new CycleSlot<FilterState>('InterPodAffinity/preFilter');
  private readonly scoring = new CycleSlot<ScoreState>('InterPodAffinity/preScore');

  /** `namespaceLabels` resolves `namespaceSelector`s; see {@link NamespaceLabels}. */
  constructor(@optional() @inject(NamespaceLabels) namespaceLabels?: NamespaceLabels) {
    this.namespaceLabels = namespaceLabels ?? defaultNamespaceLabels;
  }

  /** Counts, per domain, the pods the required terms match (a term that does not parse fails the pod). */
  preFilter(pod: Pod, snapshot: Snapshot, state: CycleState): PreFilterResult {
    const info = podAffinityInfo(pod);
    if (info.error) return { reason: `parsing pod: ${info.error.message}`, unresolvable: true };
    this.filtering.set(state, this.filterState(pod, info, snapshot, state));
  }

  /**
   * Fails `node(s) didn't match pod affinity rules` (unresolvable), `node(s) didn't match pod
   * anti-affinity rules` or `node(s) didn't satisfy existing pods anti-affinity rules`.
   */
  filter(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): FilterFailure | undefined {
    const s = this.filtering.get(state, () => this.filterState(pod, podAffinityInfo(pod), snapshot, state));
    if (s.trivial) return undefined;
    const labels = labelsOf(node.node);
    if (s.info.requiredAffinity.length && !satisfiesPodAffinity(s, labels)) return AFFINITY_NOT_MATCH;
    for (const term of s.info.requiredAntiAffinity) {
      const value = labels[term.topologyKey];
      if (value !== undefined && countAt(s.antiAffinityCounts, term.topologyKey, value) > 0) return ANTI_AFFINITY_NOT_MATCH;
    }
    for (const [key, values] of s.existingAntiAffinityCounts) {
      const value = labels[key];
      if (value !== undefined && (values.get(value) ?? 0) > 0) return EXISTING_ANTI_AFFINITY_NOT_MATCH;
    }
    return undefined;
  }

  /** Sums the preferred terms' weights per domain. */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): void {
    this.scoring.set(state, this.scoreState(pod, snapshot, state));
  }

  /** The sum of the node's domains' scores (raw; may be negative). */
  score(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): number {
    const { topologyScore } = this.scoring.get(state, () => this.scoreState(pod, snapshot, state));
    if (topologyScore.size === 0) return 0;
    const labels = labelsOf(node.node);
    let score = 0;
    for (const [key, values] of topologyScore) {
      const value = labels[key];
      if (value !== undefined) score += values.get(value) ?? 0;
    }
    return score;
  }

  /** Min–max to 0–100: `100 * ((score - min) / (max - min))`, all 0 when every node scores the same. */
  normalize(scores: Map<string, number>, _pod: Pod, state: CycleState): void {
    const s = this.scoring.peek(state);
    if (!s || s.topologyScore.size === 0) return;
    let min = Infinity;
    let max = -Infinity;
    for (const score of scores.values()) {
      if (score < min) min = score;
      if (score > max) max = score;
    }
    const spread = max - min;
    for (const [name, score] of scores) scores.set(name, spread > 0 ? Math.trunc(MAX_NODE_SCORE * ((score - min) / spread)) : 0);
  }

  private filterState(pod: Pod, info: PodAffinityInfo, snapshot: Snapshot, state: CycleState): FilterState {
    const namespaceLabels = memoizedNamespaceLabels(this.namespaceLabels);
    const index = podIndexOf(snapshot, state);
    const affinityCounts: TopologyCounts = new Map();
    const antiAffinityCounts: TopologyCounts = new Map();
    const existingAntiAffinityCounts: TopologyCounts = new Map();
    const { requiredAffinity, requiredAntiAffinity } = info;
    const namespace = namespaceOf(pod);
    const podLabels = labelsOf(pod);
    for (const cls of index.byAffinity) {
      for (const term of cls.info.requiredAntiAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addPerNode(existingAntiAffinityCounts, snapshot, term, cls.nodes, 1);
      }
    }
    if (requiredAffinity.length || requiredAntiAffinity.length) {
      for (const cls of index.byLabels) {
        if (requiredAffinity.length && allTermsSelect(requiredAffinity, cls.namespace, cls.labels, namespaceLabels)) {
          for (const term of requiredAffinity) addPerNode(affinityCounts, snapshot, term, cls.nodes, 1);
        }
        for (const term of requiredAntiAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addPerNode(antiAffinityCounts, snapshot, term, cls.nodes, 1);
        }
      }
    }
    const selfMatch = allTermsSelect(requiredAffinity, namespace, podLabels, namespaceLabels);
    const trivial = requiredAffinity.length === 0 && requiredAntiAffinity.length === 0 && existingAntiAffinityCounts.size === 0;
    return { info, affinityCounts, antiAffinityCounts, existingAntiAffinityCounts, selfMatch, trivial };
  }

  private scoreState(pod: Pod, snapshot: Snapshot, state: CycleState): ScoreState {
    const info = podAffinityInfo(pod);
    const namespaceLabels = memoizedNamespaceLabels(this.namespaceLabels);
    const index = podIndexOf(snapshot, state);
    const topologyScore: TopologyCounts = new Map();
    // The incoming pod's preferred terms, over every existing pod.
    if (info.preferredAffinity.length || info.preferredAntiAffinity.length) {
      for (const cls of index.byLabels) {
        for (const term of info.preferredAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addPerNode(topologyScore, snapshot, term, cls.nodes, term.weight);
        }
        for (const term of info.preferredAntiAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addPerNode(topologyScore, snapshot, term, cls.nodes, -term.weight);
        }
      }
    }
    // Existing pods' terms toward the incoming pod.
    const namespace = namespaceOf(pod);
    const podLabels = labelsOf(pod);
    for (const cls of index.byAffinity) {
      const theirs = cls.info;
      for (const term of theirs.requiredAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addPerNode(topologyScore, snapshot, term, cls.nodes, HARD_POD_AFFINITY_WEIGHT);
      }
      for (const term of theirs.preferredAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addPerNode(topologyScore, snapshot, term, cls.nodes, term.weight);
      }
      for (const term of theirs.preferredAntiAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addPerNode(topologyScore, snapshot, term, cls.nodes, -term.weight);
      }
    }
    return { topologyScore };
  }
}

/**
 * Adds `weight` for each pod of a class, in the domain (the node's value of the term's topology
 * key) of the node it is on; nodes without the key, or unknown to the snapshot, add nothing.
 */
function addPerNode(counts: TopologyCounts, snapshot: Snapshot, term: AffinityTerm, podsPerNode: ReadonlyMap<string, number>, weight: number): void {
  for (const [nodeName, pods] of podsPerNode) {
    const info = snapshot.get(nodeName);
    const value = info && labelsOf(info.node)[term.topologyKey];
    if (value !== undefined) add(counts, term.topologyKey, value, weight * pods);
  }
}


/**
 * Every term's topology key must be on the node and, in its domain, some existing pod must match
 * all terms — unless no pod anywhere does and the pod matches its own terms.
 */
function satisfiesPodAffinity(s: FilterState, labels: Readonly<Record<string, string>>): boolean {
  let podsExist = true;
  for (const term of s.info.requiredAffinity) {
    const value = labels[term.topologyKey];
    if (value === undefined) return false;
    if (countAt(s.affinityCounts, term.topologyKey, value) <= 0) podsExist = false;
  }
  return podsExist || (s.affinityCounts.size === 0 && s.selfMatch);
}
