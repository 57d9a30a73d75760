/**
 * The placed pods, grouped by what the topology plugins match on, so that a scheduling cycle
 * evaluates each label selector once per distinct group of pods instead of once per pod:
 *
 * - by **label class** — pods with the same namespace, labels and terminating state (pods of one
 *   template share one) — for selectors of topology spread constraints and affinity terms;
 * - by **affinity class** — pods of one label class with the same `spec.affinity`, among those
 *   with pod (anti-)affinity — for existing pods' terms toward the incoming pod.
 *
 * Each class counts its pods per node name and, once a plugin asked for a topology key, per
 * value of that key (its **domains**: kube's per-topology-pair counts), kept up to date as pods
 * come and go, so a cycle reads the counts of the few classes a term selects instead of walking
 * every node.
 *
 * Two ways to keep an index current:
 * - **attached** to the scheduler's cache ({@link ATTACHED_POD_INDEX}): the cache reports every
 *   pod placed or removed and every node change as it happens, so a cycle costs nothing to
 *   sync;
 * - **synced** with any other Snapshot at the start of each cycle, by comparing `snapshot.pods`
 *   (and the node objects) with what was seen last, element by element (pods and nodes are
 *   immutable objects: a changed one is a new object), at O(nodes + pods) pointer comparisons
 *   plus O(changed pods).
 *
 * Pods are placed by `spec.nodeName`, which every bound or assumed pod carries. The per-node
 * counts include pods on nodes the snapshot does not know (callers skip those); the domain
 * counts only include pods on known nodes carrying the keys.
 */
import type { Node, Pod } from '../../../lib/index.js';
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

/** A class's pods per topology value (entries > 0). */
export type DomainCounts = ReadonlyMap<string, number>;

/** A class's pods counted per value of each of `keys`, over the known nodes carrying all of them. */
interface View {
  readonly keys: readonly string[];
  readonly counts: Map<string, number>[];
}

interface MutableClass {
  readonly nodes: Map<string, number>;
  total: number;
  /** Views by their keys (joined), built on first use; dropped when nodes change. */
  views: Map<string, View> | undefined;
}

type LabelEntry = LabelClass & MutableClass;
type AffinityEntry = AffinityClass & MutableClass;

/** Where a pod is filed (computed once per pod object). */
interface Filing {
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
      labelKey,
      // The owner's labels are part of its terms (matchLabelKeys), so they are part of the class.
      affinityKey: hasPodAffinity ? JSON.stringify([labelKey, affinity.podAffinity ?? null, affinity.podAntiAffinity ?? null]) : undefined,
    };
    filings.set(pod, filing);
  }
  return filing;
}

/**
 * True if two versions of one pod (same uid) file alike without computing the keys: same
 * namespace, labels and terminating state, and the same `spec.affinity` object or none (a pod's
 * affinity cannot change; its copies share the object).
 */
function sameFiling(a: Pod, b: Pod): boolean {
  if (namespaceOf(a) !== namespaceOf(b) || !a.metadata?.deletionTimestamp !== !b.metadata?.deletionTimestamp) return false;
  const affinityA = a.spec?.affinity;
  const affinityB = b.spec?.affinity;
  if (affinityA !== affinityB && (affinityA?.podAffinity != null || affinityA?.podAntiAffinity != null || affinityB?.podAffinity != null || affinityB?.podAntiAffinity != null)) return false;
  const labelsA = labelsOf(a);
  const labelsB = labelsOf(b);
  const keys = Object.keys(labelsA);
  if (keys.length !== Object.keys(labelsB).length) return false;
  for (const key of keys) if (labelsA[key] !== labelsB[key]) return false;
  return true;
}

function bump(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next === 0) counts.delete(key);
  else counts.set(key, next);
}

/** Looks up the labels of a node by name; undefined when the snapshot does not know it. */
export type NodeLabelsLookup = (nodeName: string) => Readonly<Record<string, string>> | undefined;

/** The index of one snapshot's pods (see the file header). */
export class PodIndex {
  private readonly labelClasses = new Map<string, LabelEntry>();
  private readonly affinityClasses = new Map<string, AffinityEntry>();
  /** Synced mode: `snapshot.pods` and the node objects as of the last sync. */
  private readonly seen: Pod[] = [];
  private readonly seenNodes: Node[] = [];
  private nodeLabels: NodeLabelsLookup;

  /** `nodeLabels` finds nodes for the domain counts (attached mode; a synced index looks them up in the snapshot). */
  constructor(nodeLabels?: NodeLabelsLookup) {
    this.nodeLabels = nodeLabels ?? (() => undefined);
  }

  /** Every label class with at least one pod. */
  get byLabels(): Iterable<LabelClass> {
    return this.labelClasses.values();
  }

  /** Every affinity class with at least one pod. */
  get byAffinity(): Iterable<AffinityClass> {
    return this.affinityClasses.values();
  }

  /**
   * The pods of a class (of this index) per value of each of `keys`, counting only the pods on
   * nodes the snapshot knows that carry every key. Live: kept current as pods come and go, so
   * read it within the cycle that asked for it.
   */
  domains(cls: LabelClass | AffinityClass, keys: readonly string[]): readonly DomainCounts[] {
    return this.view(cls as unknown as MutableClass, keys).counts;
  }

  /** The pods of a class per value of `key`, on the known nodes carrying it (see {@link domains}). */
  domainCounts(cls: LabelClass | AffinityClass, key: string): DomainCounts {
    return this.view(cls as unknown as MutableClass, [key]).counts[0]!;
  }

  /** Attached mode: a pod was placed on `nodeName`. */
  add(pod: Pod, nodeName: string): void {
    this.file(pod, nodeName, 1);
  }

  /** Attached mode: a pod left `nodeName` (it must have been added with this node name). */
  remove(pod: Pod, nodeName: string): void {
    this.file(pod, nodeName, -1);
  }

  /** Attached mode: a newer version of a pod on `nodeName` (refiled only if its labels or affinity changed). */
  replace(old: Pod, pod: Pod, nodeName: string): void {
    const before = filingOf(old);
    if (!filings.has(pod) && sameFiling(old, pod)) {
      filings.set(pod, before); // the usual case: the bound version of an assumed pod
      return;
    }
    const after = filingOf(pod);
    if (before.labelKey === after.labelKey && before.affinityKey === after.affinityKey) return;
    this.file(old, nodeName, -1);
    this.file(pod, nodeName, 1);
  }

  /** Attached mode: a node holding pods was added, removed or relabelled (the domain counts are rebuilt on next use). */
  nodesChanged(): void {
    for (const cls of this.labelClasses.values()) cls.views = undefined;
    for (const cls of this.affinityClasses.values()) cls.views = undefined;
  }

  /** Synced mode: brings the index in step with the snapshot's nodes and placed pods. */
  sync(snapshot: Snapshot): void {
    this.nodeLabels = (name) => {
      const info = snapshot.get(name);
      return info ? labelsOf(info.node) : undefined;
    };
    const nodes = snapshot.nodes;
    let nodesChanged = nodes.length !== this.seenNodes.length;
    for (let i = 0; !nodesChanged && i < nodes.length; i++) nodesChanged = nodes[i]!.node !== this.seenNodes[i];
    if (nodesChanged) {
      this.nodesChanged();
      this.seenNodes.length = 0;
      for (const info of nodes) this.seenNodes.push(info.node);
    }
    const pods = snapshot.pods;
    const seen = this.seen;
    const common = Math.min(seen.length, pods.length);
    for (let i = 0; i < common; i++) {
      const after = pods[i]!;
      if (seen[i] === after) continue;
      this.file(seen[i]!, nodeNameOf(seen[i]!), -1);
      this.file(after, nodeNameOf(after), 1);
      seen[i] = after;
    }
    for (let i = common; i < seen.length; i++) this.file(seen[i]!, nodeNameOf(seen[i]!), -1);
    seen.length = common;
    for (let i = common; i < pods.length; i++) {
      this.file(pods[i]!, nodeNameOf(pods[i]!), 1);
      seen.push(pods[i]!);
    }
  }

  private file(pod: Pod, nodeName: string, delta: number): void {
    const filing = filingOf(pod);
    let labelClass = this.labelClasses.get(filing.labelKey);
    if (!labelClass) {
      labelClass = { namespace: namespaceOf(pod), labels: labelsOf(pod), terminating: !!pod.metadata?.deletionTimestamp, nodes: new Map(), total: 0, views: undefined };
      this.labelClasses.set(filing.labelKey, labelClass);
    }
    this.count(labelClass, nodeName, delta);
    if (labelClass.total === 0) this.labelClasses.delete(filing.labelKey);
    if (filing.affinityKey === undefined) return;
    let affinityClass = this.affinityClasses.get(filing.affinityKey);
    if (!affinityClass) {
      affinityClass = { info: podAffinityInfo(pod), nodes: new Map(), total: 0, views: undefined };
      this.affinityClasses.set(filing.affinityKey, affinityClass);
    }
    this.count(affinityClass, nodeName, delta);
    if (affinityClass.total === 0) this.affinityClasses.delete(filing.affinityKey);
  }

  private count(cls: MutableClass, nodeName: string, delta: number): void {
    bump(cls.nodes, nodeName, delta);
    cls.total += delta;
    if (cls.views) for (const view of cls.views.values()) this.countInView(view, nodeName, delta);
  }

  private countInView(view: View, nodeName: string, delta: number): void {
    const labels = this.nodeLabels(nodeName);
    if (!labels) return;
    const keys = view.keys;
    if (keys.length === 1) {
      const value = labels[keys[0]!];
      if (value !== undefined) bump(view.counts[0]!, value, delta);
      return;
    }
    for (const key of keys) if (labels[key] === undefined) return;
    for (let i = 0; i < keys.length; i++) bump(view.counts[i]!, labels[keys[i]!]!, delta);
  }

  private view(cls: MutableClass, keys: readonly string[]): View {
    const id = keys.length === 1 ? keys[0]! : keys.join('\n');
    let view = cls.views?.get(id);
    if (!view) {
      view = { keys: [...keys], counts: keys.map(() => new Map<string, number>()) };
      for (const [nodeName, pods] of cls.nodes) this.countInView(view, nodeName, pods);
      (cls.views ??= new Map()).set(id, view);
    }
    return view;
  }
}

function nodeNameOf(pod: Pod): string {
  return pod.spec?.nodeName ?? '';
}

/**
 * The property under which a Snapshot carries a {@link PodIndex} it keeps current itself (the
 * scheduler's cache does); other snapshots get an index synced once per cycle.
 */
export const ATTACHED_POD_INDEX: unique symbol = Symbol('keelson.scheduler.attachedPodIndex') as never;

const STATE_KEY = 'keelson.scheduler/PodIndex';
const indexes = new WeakMap<Snapshot, PodIndex>();

/** The snapshot's pod index, current for this cycle (synced once per cycle unless the snapshot keeps it). */
export function podIndexOf(snapshot: Snapshot, state: CycleState): PodIndex {
  const attached = (snapshot as { [ATTACHED_POD_INDEX]?: PodIndex })[ATTACHED_POD_INDEX];
  if (attached) return attached;
  let index = state.get(STATE_KEY) as PodIndex | undefined;
  if (index) return index;
  index = indexes.get(snapshot);
  if (!index) indexes.set(snapshot, (index = new PodIndex()));
  index.sync(snapshot);
  state.set(STATE_KEY, index);
  return index;
}
