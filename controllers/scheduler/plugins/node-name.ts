/**
 * NodeName: a pod created with `spec.nodeName` already set names its node; no other node fits.
 * (The scheduler only sees such pods when asked to check them, e.g. by a preemption dry run.)
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type FilterFailure, type NodeInfo, type SchedulerPluginImpl } from '../framework.js';
import { nodeNameOf } from './common.js';

const MISMATCH: FilterFailure = Object.freeze({ reason: "node(s) didn't match the requested node name", unresolvable: true });

/** Refuses every node but the one the pod names in `spec.nodeName`, when it names one. */
@SchedulerPlugin({ name: 'NodeName' })
export class NodeName implements SchedulerPluginImpl {
  /** Fails `node(s) didn't match the requested node name` on any other node. */
  filter(pod: Pod, node: NodeInfo): FilterFailure | undefined {
    const wanted = pod.spec?.nodeName;
    return !wanted || wanted === nodeNameOf(node.node) ? undefined : MISMATCH;
  }
}
