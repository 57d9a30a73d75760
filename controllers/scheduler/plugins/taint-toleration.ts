/**
 * TaintToleration: a node's NoSchedule and NoExecute taints keep off every pod that does not
 * tolerate them (filter); PreferNoSchedule taints only make the node less attractive — the
 * score counts the PreferNoSchedule taints the pod does not tolerate, normalized reversed so the
 * node with the fewest gets 100.
 */
import type { Pod, Toleration } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { CycleSlot, defaultNormalizeScore, defaultNormalizeScores } from './common.js';
import { findUntoleratedTaint, tolerationsTolerateTaint } from './taints.js';

/** The tolerations that can tolerate a PreferNoSchedule taint: that effect, or any effect. */
function preferNoScheduleTolerations(pod: Pod): readonly Toleration[] {
  return (pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
}

/** Filters on NoSchedule/NoExecute taints and scores by untolerated PreferNoSchedule taints. */
@SchedulerPlugin({ name: 'TaintToleration', weight: 3 })
export class TaintToleration implements SchedulerPluginImpl {
  private readonly tolerations = new CycleSlot<readonly Toleration[]>('TaintToleration/preScore');

  /** Fails `node(s) had untolerated taint {key: value}` naming the node's first such taint. */
  filter(pod: Pod, node: NodeInfo): FilterFailure | undefined {
    const taint = findUntoleratedTaint(node.node.spec?.taints, pod.spec?.tolerations);
    if (!taint) return undefined;
    return { reason: `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`, unresolvable: true };
  }

  /** Keeps only the tolerations that matter for PreferNoSchedule taints. */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], _snapshot: Snapshot, state: CycleState): void {
    this.tolerations.set(state, preferNoScheduleTolerations(pod));
  }

  /** The number of the node's PreferNoSchedule taints the pod does not tolerate (raw). */
  score(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): number {
    const taints = node.node.spec?.taints;
    if (!taints?.length) return 0;
    const tolerations = this.tolerations.get(state, () => preferNoScheduleTolerations(pod));
    let intolerable = 0;
    for (const taint of taints) {
      if (taint.effect === 'PreferNoSchedule' && !tolerationsTolerateTaint(tolerations, taint)) intolerable++;
    }
    return intolerable;
  }

  /** Fewer untolerated taints score higher: 0 taints → 100 (reversed DefaultNormalizeScore). */
  normalize(scores: Map<string, number>): void {
    defaultNormalizeScore(scores, true);
  }

  /** {@link normalize} by position. */
  normalizeScores(scores: Float64Array): void {
    defaultNormalizeScores(scores, true);
  }
}
