/**
 * The placed pods, grouped by what the topology plugins match on, so that a scheduling cycle
 * evaluates each label selector once per distinct group of pods instead of once per pod:
 *
 * - by **label class** — pods with the same namespace, labels and terminating state (pods of one
 *   template share one) — for selectors of topology spread constraints and affinity terms;
 * - by **affinity class** — pods of one label class with the same `spec.affinity`, among those
 *   with pod (anti-)affinity — for existing pods' terms toward the incoming pod.
 *
 * Each class counts its pods per node name. The index belongs to one Snapshot object and is
 * brought in step with `snapshot.pods` at the start of each cycle by comparing the array with
 * the one seen last, element by element (pods are immutable objects: a changed pod is a new
 * object), so a cycle costs O(changed pods), not O(pods), beyond that comparison. Pods are
 * placed by `spec.nodeName`, which every bound or assumed pod carries; pods on nodes the
 * snapshot does not know are skipped by the callers.
 */
import type { Pod } from '../../../lib/index.js';
import type { CycleState, Snapshot } from '../framework.js';
import { podAffinityInfo, type PodAffinityInfo } from './affinity-terms.js';
import { labelsOf, namespaceOf } from './common.js';

/** Pods alike for any label selector: same namespace, labels and terminating state. */
export interface LabelClass {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Has a deletionTimestamp (topology spread does not count such pods). */
  readonly terminating: boolean;
  /** Pods of the class per node name (entries > 0). */
  readonly nodes: ReadonlyMap<string, number>;
}

/** Pods alike for inter-pod affinity: same label class and `spec.affinity`. */
export interface AffinityClass {
  readonly info: PodAffinityInfo;
  /** Pods of the class per node name (entries > 0). */
  readonly nodes: ReadonlyMap<string, number>;
}

interface MutableClass {
  nodes: Map<string, number>;
  total: number;
}

/** Where a pod is filed (computed once per pod object). */
interface Filing {
  nodeName: string;
  labelKey: string;
  /** Undefined for pods without pod (anti-)affinity. */
  affinityKey: string | undefined;
}

const filings = new WeakMap<Pod, Filing>();

function filingOf(pod: Pod): Filing {
  let filing = filings.get(pod);
  if (!filing) {
    const namespace = namespaceOf(pod);
    const labels = Object.entries(labelsOf(pod)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const affinity = pod.spec?.affinity;
    const hasPodAffinity = affinity?.podAffinity != null || affinity?.podAntiAffinity != null;
    const labelKey = JSON.stringify([namespace, pod.metadata?.deletionTimestamp ? 1 : 0, labels]);
    filing = {
      nodeName: pod.spec?.nodeName ?? '',
      labelKey,
      // The owner's labels are part of its terms (matchLabelKeys), so they are part of the class.
      affinityKey: hasPodAffinity ? JSON.stringify([labelKey, affinity.podAffinity ?? null, affinity.podAntiAffinity ?? null]) : undefined,
    };
    filings.set(pod, filing);
  }
  return filing;
}

function count(cls: MutableClass, nodeName: string, delta: number): void {
  const next = (cls.nodes.get(nodeName) ?? 0) + delta;
  if (next === 0) cls.nodes.delete(nodeName);
  else cls.nodes.set(nodeName, next);
  cls.total += delta;
}

/** The index of one snapshot's pods (see the file header). */
export class PodIndex {
  private readonly labelClasses = new Map<string, LabelClass & MutableClass>();
  private readonly affinityClasses = new Map<string, AffinityClass & MutableClass>();
  /** `snapshot.pods` as of the last sync. */
  private readonly seen: Pod[] = [];

  /** Every label class with at least one pod. */
  get byLabels(): Iterable<LabelClass> {
    return this.labelClasses.values();
  }

  /** Every affinity class with at least one pod. */
  get byAffinity(): Iterable<AffinityClass> {
    return this.affinityClasses.values();
  }

  /** Brings the index in step with `pods` (the snapshot's placed pods). */
  sync(pods: readonly Pod[]): void {
    const seen = this.seen;
    const common = Math.min(seen.length, pods.length);
    for (let i = 0; i < common; i++) {
      const after = pods[i]!;
      if (seen[i] === after) continue;
      this.file(seen[i]!, -1);
      this.file(after, 1);
      seen[i] = after;
    }
    for (let i = common; i < seen.length; i++) this.file(seen[i]!, -1);
    seen.length = common;
    for (let i = common; i < pods.length; i++) {
      this.file(pods[i]!, 1);
      seen.push(pods[i]!);
    }
  }

  private file(pod: Pod, delta: number): void {
    const filing = filingOf(pod);
    let labelClass = this.labelClasses.get(filing.labelKey);
    if (!labelClass) {
      labelClass = { namespace: namespaceOf(pod), labels: labelsOf(pod), terminating: !!pod.metadata?.deletionTimestamp, nodes: new Map(), total: 0 };
      this.labelClasses.set(filing.labelKey, labelClass);
    }
    count(labelClass, filing.nodeName, delta);
    if (labelClass.total === 0) this.labelClasses.delete(filing.labelKey);
    if (filing.affinityKey === undefined) return;
    let affinityClass = this.affinityClasses.get(filing.affinityKey);
    if (!affinityClass) {
      affinityClass = { info: podAffinityInfo(pod), nodes: new Map(), total: 0 };
      this.affinityClasses.set(filing.affinityKey, affinityClass);
    }
    count(affinityClass, filing.nodeName, delta);
    if (affinityClass.total === 0) this.affinityClasses.delete(filing.affinityKey);
  }
}

const STATE_KEY = 'keelson.scheduler/PodIndex';
const indexes = new WeakMap<Snapshot, PodIndex>();

/** The snapshot's pod index, synced once per cycle (the cycle state remembers it). */
export function podIndexOf(snapshot: Snapshot, state: CycleState): PodIndex {
  let index = state.get(STATE_KEY) as PodIndex | undefined;
  if (index) return index;
  index = indexes.get(snapshot);
  if (!index) indexes.set(snapshot, (index = new PodIndex()));
  index.sync(snapshot.pods);
  state.set(STATE_KEY, index);
  return index;
}
