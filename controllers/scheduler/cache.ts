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
 */
import type { Node, Pod } from '../../lib/index.js';
import type { NodeInfo, Snapshot } from './framework.js';
import { podKey } from './queue.js';
import { MutableNodeInfo, podHostPorts, podRequests } from './snapshot.js';

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
  replacePod(key: string, pod: Pod): void {
    const index = this.pods.findIndex((p) => podKey(p) === key);
    if (index >= 0) this.pods[index] = pod;
  }

  /** Removes a pod (by key), subtracting its requests and releasing its host ports. */
  removePod(key: string): void {
    const index = this.pods.findIndex((p) => podKey(p) === key);
    if (index < 0) return;
    const [pod] = this.pods.splice(index, 1);
    const requests = podRequests(pod!);
    this.requested.milliCPU -= requests.milliCPU;
    this.requested.memory -= requests.memory;
    this.requested.pods -= 1;
    for (const [name, value] of Object.entries(requests.scalar)) this.requested.scalar[name] = (this.requested.scalar[name] ?? 0) - value;
    this.usedPorts.clear();
    for (const remaining of this.pods) for (const port of podHostPorts(remaining)) this.usedPorts.add(port);
  }
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
    for (const key of this.podsByNode.get(name) ?? []) info.addPod(this.podStates.get(key)!.pod);
    const replaced = this.nodeInfos.has(name);
    this.nodeInfos.set(name, info);
    const index = this.sortedIndex.get(name);
    if (replaced && this.sortedNodes && index !== undefined) this.sortedNodes[index] = info;
    else this.sortedNodes = undefined;
  }

  /** Removes a node. Its pods stay known (they come back with the node, or leave with their deletion). */
  removeNode(name: string): void {
    if (this.nodeInfos.delete(name)) this.sortedNodes = undefined;
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
    this.nodeInfos.get(state.nodeName)?.removePod(key);
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
      this.nodeInfos.get(nodeName)?.replacePod(key, pod);
      this.placed[this.placedIndex.get(key)!] = pod;
      return;
    }
    if (existing) this.removePod(key);
    this.podStates.set(key, { pod, uid, nodeName, assumed, bindingFinished });
    let onNode = this.podsByNode.get(nodeName);
    if (!onNode) this.podsByNode.set(nodeName, (onNode = new Set()));
    onNode.add(key);
    this.nodeInfos.get(nodeName)?.addPod(pod);
    this.placedIndex.set(key, this.placed.length);
    this.placed.push(pod);
  }
}
