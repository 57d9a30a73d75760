/**
 * NodeResourcesFit: the pod's requests must fit in what the node has left — allocatable minus
 * the requests of the pods already there — for cpu, memory, ephemeral storage and every
 * extended resource, and the node must have a pod slot left (`pods` allocatable). Scoring is
 * kube's default LeastAllocated strategy over cpu and memory (weight 1 each): the emptier the
 * node after placing the pod, the higher the score, counting request-less containers as
 * 100m / 200Mi so they do not all land on one node.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type Resources, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { podFootprint } from '../snapshot.js';
import { CycleSlot, MAX_NODE_SCORE } from './common.js';
import { nonZeroRequested, podCpuMemory, type CpuMemory } from './resources.js';

/**
 * A resource fit failure. `reason` is the first of `reasons` in kube's order (pods, cpu, memory,
 * ephemeral-storage, extended resources); kube reports each of them, so the unschedulable
 * message may count every entry of `reasons`.
 */
export interface InsufficientResources extends FilterFailure {
  /** Every insufficient resource: `Too many pods`, `Insufficient cpu`, `Insufficient <name>`. */
  reasons: readonly string[];
}

/** The pod's scalar requests in check order: ephemeral storage first, then the extended resources. */
function orderedScalars(requests: Readonly<Resources>): readonly (readonly [string, number])[] {
  const entries = Object.entries(requests.scalar).filter(([, quantity]) => quantity > 0);
  return entries.sort(([a], [b]) => (a === 'ephemeral-storage' ? -1 : b === 'ephemeral-storage' ? 1 : 0));
}

interface FitState {
  requests: Readonly<Resources>;
  scalars: readonly (readonly [string, number])[];
}

function fitState(pod: Pod): FitState {
  const { requests } = podFootprint(pod);
  return { requests, scalars: orderedScalars(requests) };
}

/** kube's leastRequestedScore: the free share of `capacity` after `requested`, 0–100. */
function leastRequestedScore(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** Checks requests against free allocatable; scores LeastAllocated over cpu and memory. */
@SchedulerPlugin({ name: 'NodeResourcesFit', weight: 1 })
export class NodeResourcesFit implements SchedulerPluginImpl {
  private readonly fit = new CycleSlot<FitState>('NodeResourcesFit/preFilter');
  private readonly podRequest = new CycleSlot<CpuMemory>('NodeResourcesFit/preScore');

  /** Computes the pod's requests once per cycle. */
  preFilter(pod: Pod, _snapshot: Snapshot, state: CycleState): PreFilterResult {
    this.fit.set(state, fitState(pod));
  }

  /**
   * Fails with every insufficient resource (see {@link InsufficientResources}); unresolvable
   * when the pod asks for more than the node's whole allocatable, which no eviction can fix.
   */
  filter(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): InsufficientResources | undefined {
    const { requests, scalars } = this.fit.get(state, () => fitState(pod));
    const { allocatable, requested } = node;
    let reasons: string[] | undefined;
    let unresolvable = false;
    if (node.pods.length + 1 > allocatable.pods) (reasons ??= []).push('Too many pods');
    if (requests.milliCPU > 0 && requests.milliCPU > allocatable.milliCPU - requested.milliCPU) {
      (reasons ??= []).push('Insufficient cpu');
      unresolvable ||= requests.milliCPU > allocatable.milliCPU;
    }
    if (requests.memory > 0 && requests.memory > allocatable.memory - requested.memory) {
      (reasons ??= []).push('Insufficient memory');
      unresolvable ||= requests.memory > allocatable.memory;
    }
    for (const [name, quantity] of scalars) {
      const capacity = allocatable.scalar[name] ?? 0;
      if (quantity > capacity - (requested.scalar[name] ?? 0)) {
        (reasons ??= []).push(`Insufficient ${name}`);
        unresolvable ||= quantity > capacity;
      }
    }
    if (!reasons) return undefined;
    return unresolvable ? { reason: reasons[0]!, reasons, unresolvable } : { reason: reasons[0]!, reasons };
  }

  /** Computes the pod's cpu/memory with the non-zero defaults. */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], _snapshot: Snapshot, state: CycleState): void {
    this.podRequest.set(state, podCpuMemory(pod, true));
  }

  /**
   * LeastAllocated: per resource with a non-zero allocatable, `(allocatable - requested) * 100 /
   * allocatable` where requested includes the pod (non-zero defaults); the weighted mean.
   */
  score(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): number {
    const podRequest = this.podRequest.get(state, () => podCpuMemory(pod, true));
    const onNode = nonZeroRequested(node);
    const milliCPU = onNode.milliCPU + podRequest.milliCPU;
    const memory = onNode.memory + podRequest.memory;
    let total = 0;
    let weights = 0;
    if (node.allocatable.milliCPU > 0) {
      total += leastRequestedScore(milliCPU, node.allocatable.milliCPU);
      weights++;
    }
    if (node.allocatable.memory > 0) {
      total += leastRequestedScore(memory, node.allocatable.memory);
      weights++;
    }
    return weights === 0 ? 0 : Math.trunc(total / weights);
  }
}
