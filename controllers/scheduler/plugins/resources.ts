/**
 * A pod's cpu and memory requests as kube's scoring plugins read them (resourcehelper.PodRequests):
 * the sum of the containers and sidecars, or the largest init container plus the sidecars
 * started before it, whichever is larger, plus overhead. With `nonZero`, a container that does
 * not request cpu or memory counts as requesting 100m / 200Mi (kube's "non-missing" defaults,
 * which keep LeastAllocated from piling request-less pods onto one node); an explicit 0 stays 0.
 */
import { milliValue, quantityValue, type Container, type Pod } from '../../../lib/index.js';
import type { NodeInfo } from '../framework.js';

/** kube's schedutil.DefaultMilliCPURequest: 0.1 core. */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** kube's schedutil.DefaultMemoryRequest: 200 MiB. */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

/** Distinct quantities remembered per unit before the memo starts over. */
const QUANTITY_MEMO_LIMIT = 4096;
const milliMemo = new Map<string | number, number | undefined>();
const valueMemo = new Map<string | number, number | undefined>();

function memoized(memo: Map<string | number, number | undefined>, parse: (q: string | number) => number | undefined, quantity: string | number): number | undefined {
  if (memo.has(quantity)) return memo.get(quantity);
  const parsed = parse(quantity);
  if (memo.size >= QUANTITY_MEMO_LIMIT) memo.clear();
  memo.set(quantity, parsed);
  return parsed;
}

/** lib's milliValue (`"100m"` → 100, `"2"` → 2000), remembered per distinct quantity: pods repeat a handful. */
export function milliQuantity(quantity: string | number): number | undefined {
  return memoized(milliMemo, milliValue, quantity);
}

/** lib's quantityValue (`"1Gi"` → 1073741824), remembered per distinct quantity. */
export function baseQuantity(quantity: string | number): number | undefined {
  return memoized(valueMemo, quantityValue, quantity);
}

/** Cpu in millicores and memory in bytes. */
export interface CpuMemory {
  readonly milliCPU: number;
  readonly memory: number;
}

function containerRequests(container: Container, nonZero: boolean): CpuMemory {
  // Requests default to limits (the API server's defaulting); the snapshot reads them the same way.
  const list = container.resources?.requests ?? container.resources?.limits;
  const cpu = list?.cpu;
  const memory = list?.memory;
  return {
    milliCPU: cpu !== undefined ? milliQuantity(cpu) ?? 0 : nonZero ? DEFAULT_MILLI_CPU_REQUEST : 0,
    memory: memory !== undefined ? baseQuantity(memory) ?? 0 : nonZero ? DEFAULT_MEMORY_REQUEST : 0,
  };
}

function computePodRequests(pod: Pod, nonZero: boolean): CpuMemory {
  let milliCPU = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c, nonZero);
    milliCPU += r.milliCPU;
    memory += r.memory;
  }
  let sidecarCPU = 0;
  let sidecarMemory = 0;
  let initCPU = 0;
  let initMemory = 0;
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c, nonZero);
    if (c.restartPolicy === 'Always') {
      // A sidecar keeps running next to the containers and next to every later init container.
      milliCPU += r.milliCPU;
      memory += r.memory;
      sidecarCPU += r.milliCPU;
      sidecarMemory += r.memory;
      initCPU = Math.max(initCPU, sidecarCPU);
      initMemory = Math.max(initMemory, sidecarMemory);
    } else {
      initCPU = Math.max(initCPU, r.milliCPU + sidecarCPU);
      initMemory = Math.max(initMemory, r.memory + sidecarMemory);
    }
  }
  milliCPU = Math.max(milliCPU, initCPU);
  memory = Math.max(memory, initMemory);
  const overhead = pod.spec?.overhead;
  if (overhead?.cpu !== undefined) milliCPU += milliQuantity(overhead.cpu) ?? 0;
  if (overhead?.memory !== undefined) memory += baseQuantity(overhead.memory) ?? 0;
  return { milliCPU, memory };
}

// Pods are treated as immutable (their resources are, in kube), so a pod object's requests are
// computed once: scoring sums them for every pod on every scored node.
const requestedCache = new WeakMap<Pod, CpuMemory>();
const nonZeroCache = new WeakMap<Pod, CpuMemory>();

/** The pod's cpu/memory requests; with `nonZero`, missing container requests count as 100m / 200Mi. */
export function podCpuMemory(pod: Pod, nonZero: boolean): CpuMemory {
  const cache = nonZero ? nonZeroCache : requestedCache;
  let requests = cache.get(pod);
  if (!requests) {
    requests = computePodRequests(pod, nonZero);
    cache.set(pod, requests);
  }
  return requests;
}

interface NodeTotals extends CpuMemory {
  /** The node's pods the totals were computed from. */
  readonly pods: readonly Pod[];
}

const nodeTotals = new WeakMap<NodeInfo, NodeTotals>();

function samePods(a: readonly Pod[], b: readonly Pod[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The sum of the non-zero cpu/memory requests of the pods on a node (kube's
 * NodeInfo.NonZeroRequested): the node info's own running sum when it keeps one, else
 * recomputed only when the node's pods changed.
 */
export function nonZeroRequested(info: NodeInfo): CpuMemory {
  if (info.nonZeroRequested) return info.nonZeroRequested;
  const cached = nodeTotals.get(info);
  if (cached && samePods(cached.pods, info.pods)) return cached;
  let milliCPU = 0;
  let memory = 0;
  for (const pod of info.pods) {
    const r = podCpuMemory(pod, true);
    milliCPU += r.milliCPU;
    memory += r.memory;
  }
  const totals = { pods: [...info.pods], milliCPU, memory };
  nodeTotals.set(info, totals);
  return totals;
}
