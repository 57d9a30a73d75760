/**
 * The scheduler's default plugins, with kube-scheduler v1.32's semantics, reason strings and
 * scoring formulas. Each is an ordinary `@SchedulerPlugin` class — the same way users write
 * their own — and the scheduler runs them in {@link defaultPlugins} order (kube's default
 * profile): cheap node checks first, then resources and ports, then the plugins that count pods
 * across topology domains.
 *
 * | plugin | filter | score (weight) |
 * | --- | --- | --- |
 * | NodeUnschedulable | cordoned nodes | |
 * | NodeName | `spec.nodeName` | |
 * | TaintToleration | NoSchedule/NoExecute taints | untolerated PreferNoSchedule taints (3) |
 * | NodeAffinity | nodeSelector, required node affinity | preferred node affinity (2) |
 * | NodePorts | host port conflicts | |
 * | NodeResourcesFit | requests vs free allocatable | LeastAllocated (1) |
 * | PodTopologySpread | DoNotSchedule constraints | ScheduleAnyway constraints (2) |
 * | InterPodAffinity | required (anti-)affinity | preferred (anti-)affinity (2) |
 * | NodeResourcesBalancedAllocation | | balanced cpu/memory use (1) |
 *
 * Not implemented: ImageLocality, the volume plugins, and PodTopologySpread's system default
 * constraints (see pod-topology-spread.ts).
 */
import type { Newable } from 'inversify';
import type { SchedulerPluginImpl } from '../framework.js';
import { BalancedAllocation } from './balanced-allocation.js';
import { InterPodAffinity } from './inter-pod-affinity.js';
import { NodeAffinity } from './node-affinity.js';
import { NodeName } from './node-name.js';
import { NodePorts } from './node-ports.js';
import { NodeResourcesFit } from './node-resources-fit.js';
import { NodeUnschedulable } from './node-unschedulable.js';
import { PodTopologySpread } from './pod-topology-spread.js';
import { TaintToleration } from './taint-toleration.js';

export { BalancedAllocation } from './balanced-allocation.js';
export { InterPodAffinity } from './inter-pod-affinity.js';
export { NamespaceLabels, defaultNamespaceLabels } from './affinity-terms.js';
export { NodeAffinity } from './node-affinity.js';
export { NodeName } from './node-name.js';
export { NodePorts } from './node-ports.js';
export { NodeResourcesFit, type InsufficientResources } from './node-resources-fit.js';
export { NodeUnschedulable } from './node-unschedulable.js';
export { PodTopologySpread } from './pod-topology-spread.js';
export { TaintToleration } from './taint-toleration.js';

/** The default plugins in kube's default-profile order; bind each to `SchedulerPlugins`. */
export const defaultPlugins: Newable<SchedulerPluginImpl>[] = [
  NodeUnschedulable,
  NodeName,
  TaintToleration,
  NodeAffinity,
  NodePorts,
  NodeResourcesFit,
  PodTopologySpread,
  InterPodAffinity,
  BalancedAllocation,
];
