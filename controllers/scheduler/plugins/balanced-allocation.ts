/**
 * NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in equal
 * shares after placing the pod — score `(1 - std) * 100` where std is the standard deviation of
 * the requested/allocatable fractions (each capped at 1). As kube since v1.25, it reads the
 * actual requests (no non-zero defaults): a request-less pod changes no fraction.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type NodeInfo, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { CycleSlot, MAX_NODE_SCORE } from './common.js';
import { podCpuMemory, type CpuMemory } from './resources.js';

/**
 * kube's balancedResourceScorer for cpu and memory: the standard deviation of the fractions of
 * the resources with a non-zero allocatable — `|f1 - f2| / 2` for two, 0 for one or none.
 */
export function balancedScore(milliCPU: number, allocatableMilliCPU: number, memory: number, allocatableMemory: number): number {
  let std = 0;
  if (allocatableMilliCPU > 0 && allocatableMemory > 0) {
    const cpuFraction = Math.min(milliCPU / allocatableMilliCPU, 1);
    const memoryFraction = Math.min(memory / allocatableMemory, 1);
    std = Math.abs((cpuFraction - memoryFraction) / 2);
  }
  return Math.trunc((1 - std) * MAX_NODE_SCORE);
}

/** Scores how evenly cpu and memory would be used on the node. */
@SchedulerPlugin({ name: 'NodeResourcesBalancedAllocation', weight: 1 })
export class BalancedAllocation implements SchedulerPluginImpl {
  private readonly podRequest = new CycleSlot<CpuMemory>('NodeResourcesBalancedAllocation/preScore');

  /** Computes the pod's cpu/memory requests once per cycle. */
  preScore(pod: Pod, _nodes: readonly NodeInfo[], _snapshot: Snapshot, state: CycleState): void {
    this.podRequest.set(state, podCpuMemory(pod, false));
  }

  /** `(1 - std) * 100` of the node's cpu and memory fractions with the pod placed (already 0–100). */
  score(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): number {
    const podRequest = this.podRequest.get(state, () => podCpuMemory(pod, false));
    return balancedScore(
      node.requested.milliCPU + podRequest.milliCPU,
      node.allocatable.milliCPU,
      node.requested.memory + podRequest.memory,
      node.allocatable.memory,
    );
  }
}
