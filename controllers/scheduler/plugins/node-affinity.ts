/**
 * NodeAffinity: a pod's `nodeSelector` and required node affinity decide which nodes it may run
 * on (filter); its preferred node affinity adds each matching term's weight to a node's score,
 * normalized so the best node gets 100. When every required term pins `metadata.name` with In,
 * preFilter narrows the candidates to those names up front.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type PreScoreResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { CycleSlot, defaultNormalizeScore, defaultNormalizeScores } from './common.js';
import { PreferredNodeAffinity, RequiredNodeAffinity } from './node-selector.js';

const MISMATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match Pod's node affinity/selector", unresolvable: true });
const CONFLICT: FilterFailure = Object.freeze({ reason: 'pod affinity terms conflict', unresolvable: true });

/**
 * The node names the required terms allow, if every term restricts `metadata.name` with In
 * (names ANDed within a term, ORed across terms); undefined when any term leaves all nodes open.
 */
function pinnedNodeNames(pod: Pod): Set<string> | undefined {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms?.length) return undefined;
  const names = new Set<string>();
  for (const term of terms) {
    let termNames: Set<string> | undefined;
    for (const r of term.matchFields ?? []) {
      if (r.key !== 'metadata.name' || r.operator !== 'In') continue;
      const values = new Set(r.values ?? []);
      termNames = termNames ? new Set([...termNames].filter((n) => values.has(n))) : values;
    }
    if (!termNames) return undefined;
    for (const name of termNames) names.add(name);
  }
  return names;
}

/** Filters on nodeSelector + required node affinity; scores by preferred node affinity. */
@SchedulerPlugin({ name: 'NodeAffinity', weight: 2 })
export class NodeAffinity implements SchedulerPluginImpl {
  private readonly required = new CycleSlot<RequiredNodeAffinity>('NodeAffinity/preFilter');
  private readonly preferred = new CycleSlot<PreferredNodeAffinity>('NodeAffinity/preScore');

  /** Parses the pod's hard constraints; narrows to pinned node names (none left: `pod affinity terms conflict`). */
  preFilter(pod: Pod, _snapshot: Snapshot, state: CycleState): PreFilterResult {
    this.required.set(state, RequiredNodeAffinity.of(pod));
    const names = pinnedNodeNames(pod);
    if (!names) return undefined;
    return names.size === 0 ? CONFLICT : { nodeNames: names };
  }

  /** Fails `node(s) didn't match Pod's node affinity/selector`. */
  filter(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): FilterFailure | undefined {
    const required = this.required.get(state, () => RequiredNodeAffinity.of(pod));
    return required.isEmpty || required.matches(node.node) ? undefined : MISMATCH;
  }

  /** Parses the pod's preferred terms; skips scoring without any (as kube: every node would score 0). */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], _snapshot: Snapshot, state: CycleState): PreScoreResult {
    const preferred = PreferredNodeAffinity.of(pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution);
    this.preferred.set(state, preferred);
    if (preferred.isEmpty) return { skip: true };
  }

  /** The sum of the weights of the preferred terms the node matches (raw). */
  score(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): number {
    const preferred = this.preferred.get(state, () =>
      PreferredNodeAffinity.of(pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution));
    return preferred.isEmpty ? 0 : preferred.score(node.node);
  }

  /** Scales to 0–100 against the best node (DefaultNormalizeScore). */
  normalize(scores: Map<string, number>): void {
    defaultNormalizeScore(scores, false);
  }

  /** {@link normalize} by position. */
  normalizeScores(scores: Float64Array): void {
    defaultNormalizeScores(scores, false);
  }
}
