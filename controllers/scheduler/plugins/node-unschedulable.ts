/**
 * NodeUnschedulable: a cordoned node (`spec.unschedulable`, what `kubectl cordon` sets) takes no
 * new pods, unless the pod tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint —
 * as DaemonSet pods do.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type FilterFailure, type NodeInfo, type SchedulerPluginImpl } from '../framework.js';
import { tolerationsTolerateTaint } from './taints.js';

/** The taint kube puts on cordoned nodes; tolerating it lets a pod onto an unschedulable node. */
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

const UNSCHEDULABLE_TAINT = { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' };
const UNSCHEDULABLE: FilterFailure = Object.freeze({ reason: 'node(s) were unschedulable', unresolvable: true });

/** Refuses cordoned nodes to pods that do not tolerate the unschedulable taint. */
@SchedulerPlugin({ name: 'NodeUnschedulable' })
export class NodeUnschedulable implements SchedulerPluginImpl {
  /** Fails `node(s) were unschedulable` on a cordoned node the pod does not tolerate. */
  filter(pod: Pod, node: NodeInfo): FilterFailure | undefined {
    if (!node.node.spec?.unschedulable) return undefined;
    return tolerationsTolerateTaint(pod.spec?.tolerations, UNSCHEDULABLE_TAINT) ? undefined : UNSCHEDULABLE;
  }
}
