/**
 * A pod's topology spread constraints, parsed as kube's podtopologyspread plugin parses them:
 * the label selector (absent → selects nothing) extended by `matchLabelKeys` (the pod's own
 * values for those keys, ANDed in), `minDomains` defaulting to 1, `nodeAffinityPolicy` to Honor
 * (only nodes matching the pod's nodeSelector/required affinity count) and `nodeTaintsPolicy` to
 * Ignore (with Honor, nodes with a NoSchedule/NoExecute taint the pod does not tolerate are left
 * out of the counts).
 */
import { selectorFromSet, type LabelSelectorMatcher, type Node, type Pod } from '../../../lib/index.js';
import type { CycleState, NodeInfo, Snapshot } from '../framework.js';
import { labelsOf, parseSelector } from './common.js';
import type { RequiredNodeAffinity } from './node-selector.js';
import type { LabelClass, PodIndex } from './pod-index.js';
import { findUntoleratedTaint } from './taints.js';

/** One parsed constraint. */
export interface SpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly selector: LabelSelectorMatcher;
  readonly minDomains: number;
  readonly honorNodeAffinity: boolean;
  readonly honorNodeTaints: boolean;
}

/** `DoNotSchedule` (hard, filter) or `ScheduleAnyway` (soft, score). */
export type UnsatisfiableAction = 'DoNotSchedule' | 'ScheduleAnyway';

/** The pod's constraints with the given `whenUnsatisfiable`, or the label selector parse error. */
export function spreadConstraints(pod: Pod, action: UnsatisfiableAction): SpreadConstraint[] | Error {
  const result: SpreadConstraint[] = [];
  for (const c of pod.spec?.topologySpreadConstraints ?? []) {
    if (c.whenUnsatisfiable !== action) continue;
    let selector = parseSelector(c.labelSelector);
    if (selector instanceof Error) return selector;
    if (c.matchLabelKeys?.length && !selector.matchesNothing()) {
      const podLabels = labelsOf(pod);
      const own: Record<string, string> = {};
      let any = false;
      for (const key of c.matchLabelKeys) {
        const value = podLabels[key];
        if (value !== undefined) {
          own[key] = value;
          any = true;
        }
      }
      if (any) selector = selectorFromSet(own).add(...selector.requirements);
    }
    result.push({
      maxSkew: c.maxSkew,
      topologyKey: c.topologyKey,
      selector,
      minDomains: c.minDomains ?? 1,
      honorNodeAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
      honorNodeTaints: c.nodeTaintsPolicy === 'Honor',
    });
  }
  return result;
}

/** True if the node has a label for every constraint's topology key (else it is in no domain). */
export function hasAllTopologyKeys(labels: Readonly<Record<string, string>>, constraints: readonly SpreadConstraint[]): boolean {
  for (const c of constraints) if (labels[c.topologyKey] === undefined) return false;
  return true;
}

/** Does the node count for the constraint under its node inclusion policies? */
export function nodeIncluded(constraint: SpreadConstraint, pod: Pod, node: Node, required: RequiredNodeAffinity): boolean {
  if (constraint.honorNodeAffinity && !required.isEmpty && !required.matches(node)) return false;
  if (constraint.honorNodeTaints && findUntoleratedTaint(node.spec?.taints, pod.spec?.tolerations)) return false;
  return true;
}

/**
 * Calls `each(nodeName, count)` for the pods in `namespace` the selector matches, grouped by
 * node, skipping terminating pods (kube's countPodsMatchSelector; an empty selector — `{}` —
 * counts nothing).
 */
export function forEachMatchingPod(index: PodIndex, selector: LabelSelectorMatcher, namespace: string, each: (nodeName: string, count: number) => void): void {
  if (selector.isEmpty()) return;
  for (const cls of index.byLabels) {
    if (cls.terminating || cls.namespace !== namespace || !selector.matches(cls.labels)) continue;
    for (const [nodeName, count] of cls.nodes) each(nodeName, count);
  }
}

/**
 * The label classes whose pods count for a constraint: in `namespace`, not terminating, matched
 * by the selector (kube's countPodsMatchSelector; an empty selector — `{}` — counts nothing).
 */
export function matchingClasses(index: PodIndex, selector: LabelSelectorMatcher, namespace: string): LabelClass[] {
  const classes: LabelClass[] = [];
  if (selector.isEmpty()) return classes;
  for (const cls of index.byLabels) {
    if (!cls.terminating && cls.namespace === namespace && selector.matches(cls.labels)) classes.push(cls);
  }
  return classes;
}

interface DomainCache {
  /** The node objects the cache was computed from, in snapshot order. */
  nodes: Node[];
  /** Per set of topology keys (JSON): per key, the values of the nodes that have every key. */
  byKeys: Map<string, ReadonlySet<string>[]>;
}

const DOMAINS_STATE_KEY = 'keelson.scheduler/TopologyDomains';
const domainCaches = new WeakMap<Snapshot, DomainCache>();

function sameNodes(cached: readonly Node[], infos: readonly NodeInfo[]): boolean {
  if (cached.length !== infos.length) return false;
  for (let i = 0; i < cached.length; i++) if (cached[i] !== infos[i]!.node) return false;
  return true;
}

/**
 * Per topology key of `keys`, the values of the snapshot's nodes that carry all `keys` — the
 * domains when every such node is eligible. Cached per snapshot until its nodes change (checked
 * once per cycle: node objects are replaced, never mutated).
 */
export function topologyDomains(snapshot: Snapshot, state: CycleState, keys: readonly string[]): readonly ReadonlySet<string>[] {
  let cache = state.get(DOMAINS_STATE_KEY) as DomainCache | undefined;
  if (!cache) {
    cache = domainCaches.get(snapshot);
    if (!cache || !sameNodes(cache.nodes, snapshot.nodes)) {
      cache = { nodes: snapshot.nodes.map((info) => info.node), byKeys: new Map() };
      domainCaches.set(snapshot, cache);
    }
    state.set(DOMAINS_STATE_KEY, cache);
  }
  const id = JSON.stringify(keys);
  let domains = cache.byKeys.get(id);
  if (!domains) {
    const sets = keys.map(() => new Set<string>());
    for (const node of cache.nodes) {
      const labels = labelsOf(node);
      if (keys.every((key) => labels[key] !== undefined)) keys.forEach((key, i) => sets[i]!.add(labels[key]!));
    }
    cache.byKeys.set(id, (domains = sets));
  }
  return domains;
}
