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
 * evaluated once per group of alike pods, whose per-domain counts the index keeps current (see
 * pod-index.ts): a cycle collects the counts of the groups its terms select (kube's topology
 * maps, see topology-counter.ts) without a pass over the nodes; filter and score look up the
 * node's domains in them.
 */
import { inject, optional } from 'inversify';
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type PreScoreResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
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
import { CycleSlot, labelsOf, MAX_NODE_SCORE, namespaceOf, normalizeMap } from './common.js';
import { podIndexOf, type AffinityClass, type LabelClass, type PodIndex } from './pod-index.js';
import { TopologyCounter } from './topology-counter.js';

/** kube's default InterPodAffinityArgs.hardPodAffinityWeight. */
const HARD_POD_AFFINITY_WEIGHT = 1;

const AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match pod affinity rules", unresolvable: true });
const ANTI_AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match pod anti-affinity rules" });
const EXISTING_ANTI_AFFINITY_NOT_MATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't satisfy existing pods anti-affinity rules" });

interface FilterState {
  info: PodAffinityInfo;
  /** Existing pods matching all the incoming pod's required affinity terms, per domain. */
  affinityCounts: TopologyCounter;
  /** Existing pods matched by the incoming pod's required anti-affinity terms, per domain. */
  antiAffinityCounts: TopologyCounter;
  /** Existing pods whose required anti-affinity terms match the incoming pod, per domain. */
  existingAntiAffinityCounts: TopologyCounter;
  /** The pod matches all its own required affinity terms (it may start a group). */
  selfMatch: boolean;
  /** Nothing to check on any node: no required terms either way. */
  trivial: boolean;
}

interface ScoreState {
  topologyScore: TopologyCounter;
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
      if (value !== undefined && s.antiAffinityCounts.at(term.topologyKey, value) > 0) return ANTI_AFFINITY_NOT_MATCH;
    }
    if (s.existingAntiAffinityCounts.anyFor(labels)) return EXISTING_ANTI_AFFINITY_NOT_MATCH;
    return undefined;
  }

  /**
   * Sums the preferred terms' weights per domain; skips scoring when no term matched a pod
   * (every node would score 0, as kube's empty topology score).
   */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): PreScoreResult {
    const s = this.scoreState(pod, snapshot, state);
    this.scoring.set(state, s);
    if (s.topologyScore.isEmpty) return { skip: true };
  }

  /** The sum of the node's domains' scores (raw; may be negative). */
  score(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): number {
    const { topologyScore } = this.scoring.get(state, () => this.scoreState(pod, snapshot, state));
    if (topologyScore.isEmpty) return 0;
    return topologyScore.sumFor(labelsOf(node.node));
  }

  /** Min–max to 0–100: `100 * ((score - min) / (max - min))`, all 0 when every node scores the same. */
  normalize(scores: Map<string, number>, _pod: Pod, state: CycleState): void {
    normalizeMap(scores, (values) => this.normalizeScores(values, [], _pod, state));
  }

  /** {@link normalize} by position. */
  normalizeScores(scores: Float64Array, _nodes: readonly NodeInfo[], _pod: Pod, state: CycleState): void {
    const s = this.scoring.peek(state);
    if (!s || s.topologyScore.isEmpty) return;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < scores.length; i++) {
      const score = scores[i]!;
      if (score < min) min = score;
      if (score > max) max = score;
    }
    const spread = max - min;
    for (let i = 0; i < scores.length; i++) scores[i] = spread > 0 ? Math.trunc(MAX_NODE_SCORE * ((scores[i]! - min) / spread)) : 0;
  }

  private filterState(pod: Pod, info: PodAffinityInfo, snapshot: Snapshot, state: CycleState): FilterState {
    const namespaceLabels = memoizedNamespaceLabels(this.namespaceLabels);
    const index = podIndexOf(snapshot, state);
    const affinityCounts = new TopologyCounter();
    const antiAffinityCounts = new TopologyCounter();
    const existingAntiAffinityCounts = new TopologyCounter();
    const { requiredAffinity, requiredAntiAffinity } = info;
    const namespace = namespaceOf(pod);
    const podLabels = labelsOf(pod);
    for (const cls of index.byAffinity) {
      for (const term of cls.info.requiredAntiAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addClass(existingAntiAffinityCounts, index, cls, term, 1);
      }
    }
    if (requiredAffinity.length || requiredAntiAffinity.length) {
      for (const cls of index.byLabels) {
        if (requiredAffinity.length && allTermsSelect(requiredAffinity, cls.namespace, cls.labels, namespaceLabels)) {
          for (const term of requiredAffinity) addClass(affinityCounts, index, cls, term, 1);
        }
        for (const term of requiredAntiAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addClass(antiAffinityCounts, index, cls, term, 1);
        }
      }
    }
    const selfMatch = allTermsSelect(requiredAffinity, namespace, podLabels, namespaceLabels);
    const trivial = requiredAffinity.length === 0 && requiredAntiAffinity.length === 0 && existingAntiAffinityCounts.isEmpty;
    return { info, affinityCounts, antiAffinityCounts, existingAntiAffinityCounts, selfMatch, trivial };
  }

  private scoreState(pod: Pod, snapshot: Snapshot, state: CycleState): ScoreState {
    const info = podAffinityInfo(pod);
    const namespaceLabels = memoizedNamespaceLabels(this.namespaceLabels);
    const index = podIndexOf(snapshot, state);
    const topologyScore = new TopologyCounter();
    // The incoming pod's preferred terms, over every existing pod.
    if (info.preferredAffinity.length || info.preferredAntiAffinity.length) {
      for (const cls of index.byLabels) {
        for (const term of info.preferredAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addClass(topologyScore, index, cls, term, term.weight);
        }
        for (const term of info.preferredAntiAffinity) {
          if (termSelects(term, cls.namespace, cls.labels, namespaceLabels)) addClass(topologyScore, index, cls, term, -term.weight);
        }
      }
    }
    // Existing pods' terms toward the incoming pod.
    const namespace = namespaceOf(pod);
    const podLabels = labelsOf(pod);
    for (const cls of index.byAffinity) {
      const theirs = cls.info;
      for (const term of theirs.requiredAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addClass(topologyScore, index, cls, term, HARD_POD_AFFINITY_WEIGHT);
      }
      for (const term of theirs.preferredAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addClass(topologyScore, index, cls, term, term.weight);
      }
      for (const term of theirs.preferredAntiAffinity) {
        if (termSelects(term, namespace, podLabels, namespaceLabels)) addClass(topologyScore, index, cls, term, -term.weight);
      }
    }
    return { topologyScore };
  }
}

/**
 * Adds `weight` for each pod of a class, in the domain (the node's value of the term's topology
 * key) of the node it is on; nodes without the key, or unknown to the snapshot, add nothing.
 */
function addClass(counts: TopologyCounter, index: PodIndex, cls: LabelClass | AffinityClass, term: AffinityTerm, weight: number): void {
  counts.add(term.topologyKey, index.domainCounts(cls, term.topologyKey), weight);
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
    if (s.affinityCounts.at(term.topologyKey, value) <= 0) podsExist = false;
  }
  return podsExist || (s.affinityCounts.isEmpty && s.selfMatch);
}
