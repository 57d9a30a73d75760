/**
 * Building the scheduler's view of the cluster: nodes with the pods on them and the resources
 * those pods request, as kube-scheduler's NodeInfo computes them (a pod's request is the larger
 * of the sum of its containers' and the largest init container's, plus overhead).
 */
import type { Node, Pod } from '../../lib/index.js';
import type { NodeInfo, Resources, Snapshot } from './framework.js';
import { baseQuantity, milliQuantity, podCpuMemory, type CpuMemory } from './plugins/resources.js';

type Quantities = Record<string, string | number> | undefined;

/** No resources. */
export function emptyResources(): Resources {
  return { milliCPU: 0, memory: 0, pods: 0, scalar: {} };
}

function addQuantities(into: Resources, quantities: Quantities, sign = 1): void {
  for (const [name, value] of Object.entries(quantities ?? {})) {
    if (name === 'cpu') into.milliCPU += sign * (milliQuantity(value) ?? 0);
    else if (name === 'memory') into.memory += sign * (baseQuantity(value) ?? 0);
    else if (name === 'pods') into.pods += sign * (baseQuantity(value) ?? 0);
    else into.scalar[name] = (into.scalar[name] ?? 0) + sign * (baseQuantity(value) ?? 0);
  }
}

function max(a: Resources, b: Resources): Resources {
  const scalar: Record<string, number> = { ...a.scalar };
  for (const [k, v] of Object.entries(b.scalar)) scalar[k] = Math.max(scalar[k] ?? 0, v);
  return { milliCPU: Math.max(a.milliCPU, b.milliCPU), memory: Math.max(a.memory, b.memory), pods: Math.max(a.pods, b.pods), scalar };
}

interface ContainerLike {
  resources?: { requests?: Quantities; limits?: Quantities };
  restartPolicy?: string;
}

function containerRequests(container: ContainerLike): Resources {
  const r = emptyResources();
  addQuantities(r, container.resources?.requests ?? container.resources?.limits);
  return r;
}

/**
 * What a pod requests, as kube's resourcehelper.PodRequests: the regular containers plus every
 * sidecar (restartable init container), or the most any init container needs while the sidecars
 * before it run, whichever is larger; plus overhead. `pods` is 1 (the pod takes a pod slot).
 */
export function podRequests(pod: Pod): Resources {
  const spec = (pod.spec ?? {}) as { containers?: ContainerLike[]; initContainers?: ContainerLike[]; overhead?: Quantities };
  const result = emptyResources();
  for (const c of spec.containers ?? []) add(result, containerRequests(c));
  let sidecars = emptyResources();
  let initPeak = emptyResources();
  for (const init of spec.initContainers ?? []) {
    const r = containerRequests(init);
    let during: Resources;
    if (init.restartPolicy === 'Always') {
      // A sidecar keeps running beside the regular containers and every later init container.
      add(result, r);
      sidecars = sum(sidecars, r);
      during = sidecars;
    } else {
      during = sum(r, sidecars);
    }
    initPeak = max(initPeak, during);
  }
  const total = max(result, initPeak);
  addQuantities(total, spec.overhead);
  total.pods = 1;
  return total;
}

function add(into: Resources, r: Resources): void {
  into.milliCPU += r.milliCPU;
  into.memory += r.memory;
  for (const [k, v] of Object.entries(r.scalar)) into.scalar[k] = (into.scalar[k] ?? 0) + v;
}

function sum(a: Resources, b: Resources): Resources {
  const out: Resources = { milliCPU: a.milliCPU, memory: a.memory, pods: 0, scalar: { ...a.scalar } };
  add(out, b);
  return out;
}

function allocatableOf(node: Node): Resources {
  const status = (node.status ?? {}) as { allocatable?: Quantities; capacity?: Quantities };
  const r = emptyResources();
  addQuantities(r, status.allocatable ?? status.capacity);
  return r;
}

/** Host ports a pod uses: `protocol/hostIP/port`. */
export function podHostPorts(pod: Pod): string[] {
  const ports: string[] = [];
  const containers = ((pod.spec ?? {}) as { containers?: { ports?: { hostPort?: number; hostIP?: string; protocol?: string }[] }[] }).containers ?? [];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (p.hostPort) ports.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
    }
  }
  return ports;
}

/** A pod that no longer takes room on its node. */
export function isTerminated(pod: Pod): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * What a pod takes on its node — its requests, its non-zero cpu/memory (kube's
 * NonZeroRequested share) and its host ports — computed once per pod object: a pod's resources
 * are immutable (in-place resize is not supported), so node infos add and subtract the same
 * numbers without parsing quantities again.
 */
export interface PodFootprint {
  /** {@link podRequests}, frozen. */
  readonly requests: Readonly<Resources>;
  /** The cpu/memory requests with kube's non-zero defaults (100m / 200Mi for containers without). */
  readonly nonZero: CpuMemory;
  /** {@link podHostPorts}. */
  readonly hostPorts: readonly string[];
}

const footprints = new WeakMap<Pod, PodFootprint>();

/** The pod's {@link PodFootprint}, computed once per pod object. */
export function podFootprint(pod: Pod): PodFootprint {
  let footprint = footprints.get(pod);
  if (!footprint) {
    const requests = podRequests(pod);
    Object.freeze(requests.scalar);
    footprint = Object.freeze({ requests: Object.freeze(requests), nonZero: podCpuMemory(pod, true), hostPorts: Object.freeze(podHostPorts(pod)) });
    footprints.set(pod, footprint);
  }
  return footprint;
}

/** Lets `copy` — the same pod with other fields changed, not its containers — share the footprint of `pod`. */
export function shareFootprint(pod: Pod, copy: Pod): void {
  footprints.set(copy, podFootprint(pod));
}

/** A mutable NodeInfo, for building snapshots and assuming pods. */
export class MutableNodeInfo implements NodeInfo {
  readonly pods: Pod[] = [];
  readonly requested: Resources = emptyResources();
  /** The pods' cpu/memory with kube's non-zero defaults, summed (kube's NodeInfo.NonZeroRequested). */
  readonly nonZeroRequested = { milliCPU: 0, memory: 0 };
  readonly usedPorts = new Set<string>();
  readonly allocatable: Resources;
  /** What each of `pods` takes, at the same index. */
  protected readonly footprints: PodFootprint[] = [];

  constructor(readonly node: Node) {
    this.allocatable = allocatableOf(node);
  }

  /** Adds a pod (bound or assumed) to the node. */
  addPod(pod: Pod): void {
    const footprint = podFootprint(pod);
    this.pods.push(pod);
    this.footprints.push(footprint);
    this.count(footprint, 1);
    for (const port of footprint.hostPorts) this.usedPorts.add(port);
  }

  /** Adds (`sign` 1) or subtracts (-1) a pod's requests, non-zero requests and pod slot. */
  protected count(footprint: PodFootprint, sign: 1 | -1): void {
    const { requests, nonZero } = footprint;
    this.requested.milliCPU += sign * requests.milliCPU;
    this.requested.memory += sign * requests.memory;
    this.requested.pods += sign;
    for (const k in requests.scalar) this.requested.scalar[k] = (this.requested.scalar[k] ?? 0) + sign * requests.scalar[k]!;
    this.nonZeroRequested.milliCPU += sign * nonZero.milliCPU;
    this.nonZeroRequested.memory += sign * nonZero.memory;
  }
}

/** A snapshot of `nodes` with `pods` placed by their `spec.nodeName` (terminated pods ignored). */
export function buildSnapshot(nodes: readonly Node[], pods: readonly Pod[]): Snapshot & { infos: Map<string, MutableNodeInfo> } {
  const infos = new Map<string, MutableNodeInfo>();
  for (const node of [...nodes].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))) infos.set(node.metadata!.name!, new MutableNodeInfo(node));
  const placed: Pod[] = [];
  for (const pod of pods) {
    const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    if (!nodeName || isTerminated(pod)) continue;
    placed.push(pod);
    infos.get(nodeName)?.addPod(pod);
  }
  const list = [...infos.values()];
  return { nodes: list, pods: placed, get: (name) => infos.get(name), infos };
}
