/**
 * Node lifecycle: what happens when a node goes silent — kube's node lifecycle controller and
 * taint manager, watch-driven and with keelson's seconds instead of kube's minutes.
 *
 * A node agent renews its Lease in `kube-node-lease` every 2 s. When the
 * {@link NodeLifecycleController} has not seen it renewed for 6 s, it sets the node's Ready
 * condition to Unknown, marks the node's pods not Ready (Endpoints drop them), taints the node
 * `node.kubernetes.io/unreachable` (NoSchedule at once, NoExecute at the zone's eviction rate).
 * The {@link TaintEvictionController} then evicts the pods that do not tolerate the NoExecute
 * taint — every pod tolerates it for 5 s by default, through the apiserver's
 * DefaultTolerationSeconds admission plugin — and the pods' controllers replace them elsewhere.
 * When the node is heard from again and Ready, the taints go.
 *
 * The pieces, one concept per file:
 *
 * - `controller.ts` — {@link NodeLifecycleController}: heartbeats, conditions, pods, taints;
 * - `taint-eviction.ts` — {@link TaintEvictionController}: NoExecute evictions, tolerationSeconds;
 * - `node-health.ts` — {@link NodeHealthMap}: when each node's heartbeat was last seen to move;
 * - `zones.ts` — {@link ZoneNoExecuteTainter}: per-zone tainting queues, disruption states;
 * - `rate-limited-queue.ts` — {@link RateLimitedTimedQueue} and {@link TokenBucket};
 * - `taints.ts` — taint/toleration matching and the taint writes; `pods.ts` — MarkPodsNotReady;
 * - `options.ts` — {@link NodeLifecycleOptions}: every number, with kube's flag names.
 *
 * ```ts
 * manager.container.bind(NodeLifecycleConfiguration).toConstantValue({ nodeMonitorGracePeriodMs: 10_000 });
 * manager.add(NodeLifecycleController, TaintEvictionController);
 * ```
 */
export { NodeLifecycleController, POD_NODE_NAME_INDEX } from './controller.js';
export { DISRUPTION_TARGET_CONDITION, evictionTime, TaintEvictionController } from './taint-eviction.js';
export { CONDITIONS_SET_UNKNOWN, conditionOf, markConditionsUnknown, NodeHealthMap, parseTime, type NodeHealth } from './node-health.js';
export { computeZoneState, zoneKeyOf, ZoneNoExecuteTainter, type DisruptionTransition, type NodeReadiness, type ZoneState } from './zones.js';
export { FAILED_ACTION_RETRY_MS, RateLimitedTimedQueue, TokenBucket, type TimedAction, type TimedValue } from './rate-limited-queue.js';
export { conditionTaints, hasTaint, isConditionTaint, noExecuteTaints, sameTaint, swapNodeTaints } from './taints.js';
export { markPodsNotReady } from './pods.js';
export {
  LABEL_EXCLUDE_DISRUPTION,
  LABEL_REGION,
  LABEL_ZONE,
  NODE_LIFECYCLE_DEFAULTS,
  NODE_STATUS_NEVER_UPDATED,
  NODE_STATUS_UNKNOWN,
  NodeLifecycleConfiguration,
  NOT_READY_TAINT,
  resolveNodeLifecycleOptions,
  TAINT_NODE_DISK_PRESSURE,
  TAINT_NODE_MEMORY_PRESSURE,
  TAINT_NODE_NETWORK_UNAVAILABLE,
  TAINT_NODE_NOT_READY,
  TAINT_NODE_PID_PRESSURE,
  TAINT_NODE_UNREACHABLE,
  TAINT_NODE_UNSCHEDULABLE,
  UNREACHABLE_TAINT,
  type NodeLifecycleOptions,
  type ResolvedNodeLifecycleOptions,
} from './options.js';
