/**
 * The scheduler's cache: every node with the pods bound to it, plus the pods the scheduler has
 * **assumed** — placed on a node by its own decision, before the binding is observed — so that
 * the next scheduling cycle sees them at once and two pods never take the same room (kube's
 * schedulerCache). It is updated incrementally, one event at a time; a scheduling cycle runs
 * synchronously, so the cache itself serves as the cycle's consistent {@link Snapshot}.
 *
 * An assumed pod's life: `assume` (the cycle picked a node) → `finishBinding` (the API accepted
 * the Binding) → `addBoundPod` (the informer shows it bound: confirmed). A refused binding
 * `forget`s it, freeing its room. Pods are tracked by `namespace/name` together with their uid,
 * so a pod deleted and recreated under the same name is never confused with its predecessor.
 *
 * Everything a cycle reads is kept current here, one event at a time, never recomputed per
 * cycle: each node's requests, non-zero requests and ports (a pod's footprint is parsed once per
 * pod object, see snapshot.ts), and the pod index the topology plugins count with — the placed
 * pods grouped by labels and affinity, with their counts per node and per topology domain (see
 * plugins/pod-index.ts), rebuilt lazily only when a node holding pods is added, removed or
 * relabelled.
 */
import type { Node, Pod } from '../../lib/index.js';
import type { NodeInfo, Snapshot } from './framework.js';
import { podKey } from './queue.js';
import { labelsOf } from './plugins/common.js';
import { ATTACHED_POD_INDEX, PodIndex } from './plugins/pod-index.js';
import { MutableNodeInfo, shareFootprint } from './snapshot.js';

/** What the cache knows of a pod placed on a node. */
export interface CachedPod {
  /** The pod as last seen (assumed pods: with `spec.nodeName` set by the scheduler). */
  readonly pod: Pod;
  readonly uid: string;
  readonly nodeName: string;
  /** Placed by this scheduler and not yet observed bound. */
  readonly assumed: boolean;
  /** The API accepted the binding of this assumed pod. */
  readonly bindingFinished: boolean;
}

/** A node's entry: {@link MutableNodeInfo} that can also lose pods. */
class CachedNodeInfo extends MutableNodeInfo {
  /** Swaps in a newer version of a pod already counted here (same uid: same requests and ports). */
  replacePod(old: Pod, pod: Pod): void {
    const index = this.indexOf(old);
    if (index >= 0) this.pods[index] = pod;
  }

  /** Removes a pod (the object added or swapped in last), subtracting its requests and releasing its host ports. */
  removePod(pod: Pod): void {
    const index = this.indexOf(pod);
    if (index < 0) return;
    const [footprint] = this.footprints.splice(index, 1);
    this.pods.splice(index, 1);
    this.count(footprint!, -1);
    if (footprint!.hostPorts.length === 0) return;
    this.usedPorts.clear();
    for (const remaining of this.footprints) for (const port of remaining.hostPorts) this.usedPorts.add(port);
  }

  private indexOf(pod: Pod): number {
    const index = this.pods.indexOf(pod);
    if (index >= 0) return index;
    const key = podKey(pod);
    return this.pods.findIndex((p) => podKey(p) === key);
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

/** The scheduler's cache (see the file header); also the Snapshot its cycles read. */
export class SchedulerCache implements Snapshot {
  private readonly nodeInfos = new Map<string, CachedNodeInfo>();
  /** Nodes sorted by name, rebuilt lazily after nodes come or go. */
  private sortedNodes: CachedNodeInfo[] | undefined;
  private sortedIndex = new Map<string, number>();
  private readonly podStates = new Map<string, CachedPod>();
  /** Keys of the pods placed on each node name (also for nodes not, or not yet, known). */
  private readonly podsByNode = new Map<string, Set<string>>();
  /** Every placed pod, for Snapshot.pods (unordered; removal swaps in the last one). */
  private readonly placed: Pod[] = [];
  private readonly placedIndex = new Map<string, number>();
  /**
   * The placed pods grouped for the topology plugins, kept current here as pods and nodes
   * change, so that a cycle never has to compare the pod list (see plugins/pod-index.ts).
   */
  readonly [ATTACHED_POD_INDEX] = new PodIndex((name) => {
    const info = this.nodeInfos.get(name);
    return info ? labelsOf(info.node) : undefined;
  });

  /** Every node, sorted by name. */
  get nodes(): readonly NodeInfo[] {
    if (!this.sortedNodes) {
      this.sortedNodes = [...this.nodeInfos.values()].sort((a, b) => (a.node.metadata!.name! < b.node.metadata!.name! ? -1 : 1));
      this.sortedIndex = new Map(this.sortedNodes.map((info, i) => [info.node.metadata!.name!, i]));
    }
    return this.sortedNodes;
  }

  /** A node by name. */
  get(name: string): NodeInfo | undefined {
    return this.nodeInfos.get(name);
  }

  /** Every pod bound or assumed, on any node. */
  get pods(): readonly Pod[] {
    return this.placed;
  }

  /** How many nodes the cache holds. */
  get nodeCount(): number {
    return this.nodeInfos.size;
  }

  /** How many pods are assumed and not yet observed bound. */
  get assumedCount(): number {
    let count = 0;
    for (const state of this.podStates.values()) if (state.assumed) count++;
    return count;
  }

  /** The Node object last set under `name`. */
  node(name: string): Node | undefined {
    return this.nodeInfos.get(name)?.node;
  }

  /** Adds a node, or replaces it keeping the pods placed on it. */
  setNode(node: Node): void {
    const name = node.metadata!.name!;
    const info = new CachedNodeInfo(node);
    const onNode = this.podsByNode.get(name);
    for (const key of onNode ?? []) info.addPod(this.podStates.get(key)!.pod);
    const old = this.nodeInfos.get(name);
    const replaced = old !== undefined;
    this.nodeInfos.set(name, info);
    if (onNode && (!old || !sameLabels(labelsOf(old.node), labelsOf(node)))) this[ATTACHED_POD_INDEX].nodesChanged();
    const index = this.sortedIndex.get(name);
    if (replaced && this.sortedNodes && index !== undefined) this.sortedNodes[index] = info;
    else this.sortedNodes = undefined;
  }

  /** Removes a node. Its pods stay known (they come back with the node, or leave with their deletion). */
  removeNode(name: string): void {
    if (!this.nodeInfos.delete(name)) return;
    this.sortedNodes = undefined;
    if (this.podsByNode.has(name)) this[ATTACHED_POD_INDEX].nodesChanged();
  }

  /** What the cache knows of the pod `namespace/name`. */
  pod(key: string): CachedPod | undefined {
    return this.podStates.get(key);
  }

  /**
   * A pod observed bound to a node: confirms it if it was assumed (anywhere: the observed node
   * wins), or adds or updates it.
   */
  addBoundPod(pod: Pod): void {
    const nodeName = (pod.spec as { nodeName: string }).nodeName;
    this.place(pod, nodeName, false, true);
  }

  /** Places a pod on a node by this scheduler's decision; returns the assumed copy. */
  assume(pod: Pod, nodeName: string): Pod {
    const assumed: Pod = { ...pod, spec: { ...pod.spec!, nodeName } } as Pod;
    shareFootprint(pod, assumed);
    this.place(assumed, nodeName, true, false);
    return assumed;
  }

  /** The binding of an assumed pod (of this uid) was accepted. */
  finishBinding(key: string, uid: string): void {
    const state = this.podStates.get(key);
    if (state?.assumed && state.uid === uid) this.podStates.set(key, { ...state, bindingFinished: true });
  }

  /** Drops an assumption (of this uid) whose binding failed; true if there was one. */
  forget(key: string, uid: string): boolean {
    const state = this.podStates.get(key);
    if (!state?.assumed || state.uid !== uid) return false;
    this.removePod(key);
    return true;
  }

  /** Removes a pod (deleted, terminated, or replaced by a new uid); answers what was known. */
  removePod(key: string): CachedPod | undefined {
    const state = this.podStates.get(key);
    if (!state) return undefined;
    this.podStates.delete(key);
    const onNode = this.podsByNode.get(state.nodeName)!;
    onNode.delete(key);
    if (onNode.size === 0) this.podsByNode.delete(state.nodeName);
    this.nodeInfos.get(state.nodeName)?.removePod(state.pod);
    this[ATTACHED_POD_INDEX].remove(state.pod, state.nodeName);
    const index = this.placedIndex.get(key)!;
    const last = this.placed.pop()!;
    this.placedIndex.delete(key);
    if (index < this.placed.length) {
      this.placed[index] = last;
      this.placedIndex.set(podKey(last), index);
    }
    return state;
  }

  private place(pod: Pod, nodeName: string, assumed: boolean, bindingFinished: boolean): void {
    const key = podKey(pod);
    const uid = pod.metadata?.uid ?? '';
    const existing = this.podStates.get(key);
    if (existing?.uid === uid && existing.nodeName === nodeName) {
      // The same pod on the same node (an assumption confirmed, a label changed): a pod's requests
      // and ports cannot change, so only the object is swapped. (In-place resize is not supported.)
      this.podStates.set(key, { pod, uid, nodeName, assumed, bindingFinished });
      this.nodeInfos.get(nodeName)?.replacePod(existing.pod, pod);
      this.placed[this.placedIndex.get(key)!] = pod;
      this[ATTACHED_POD_INDEX].replace(existing.pod, pod, nodeName);
      return;
    }
    if (existing) this.removePod(key);
    this.podStates.set(key, { pod, uid, nodeName, assumed, bindingFinished });
    let onNode = this.podsByNode.get(nodeName);
    if (!onNode) this.podsByNode.set(nodeName, (onNode = new Set()));
    onNode.add(key);
    this.nodeInfos.get(nodeName)?.addPod(pod);
    this[ATTACHED_POD_INDEX].add(pod, nodeName);
    this.placedIndex.set(key, this.placed.length);
    this.placed.push(pod);
  }
}
