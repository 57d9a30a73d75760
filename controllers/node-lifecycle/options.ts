/**
 * The knobs of the node lifecycle controller — kube-controller-manager's flags of the same
 * names, with keelson's faster defaults — and the well-known taint and label names it uses.
 */
import type { Taint } from '../../lib/index.js';

/** Options of the node lifecycle controller; every number is a flag of `keelson up`/`run`. */
export interface NodeLifecycleOptions {
  /**
   * `--node-monitor-grace-period`: a node whose Lease (or Ready heartbeat) this controller has
   * not seen renewed for this long is marked Ready=Unknown. Default 6 s — three missed renewals
   * of the node agent's 2 s Lease (kube: 40–50 s).
   */
  nodeMonitorGracePeriodMs?: number;
  /**
   * `--node-startup-grace-period`: the grace of a node that never posted a Ready condition and
   * never had a Lease, counted from its creation (kube: 60 s). Default: the monitor grace period.
   */
  nodeStartupGracePeriodMs?: number;
  /** `--node-eviction-rate`: nodes tainted NoExecute per second, per zone (default 0.1). */
  nodeEvictionRate?: number;
  /** `--secondary-node-eviction-rate`: the rate in a partially disrupted zone of a large cluster (default 0.01). */
  secondaryNodeEvictionRate?: number;
  /** `--large-cluster-size-threshold`: a zone of at most this many nodes halts evictions when partially disrupted (default 50). */
  largeClusterSizeThreshold?: number;
  /** `--unhealthy-zone-threshold`: the share of not-Ready nodes (at least 3) that makes a zone partially disrupted (default 0.55). */
  unhealthyZoneThreshold?: number;
  /** Where node agents renew their Leases (default `kube-node-lease`). */
  leaseNamespace?: string;
  /**
   * How long after a node is queued for tainting the tainting pass runs (kube's 100 ms
   * NodeEvictionPeriod), so nodes that fail together are judged together: three nodes of three
   * going silent at once is a full disruption, not three evictions.
   */
  taintingDelayMs?: number;
}

/** The options with every default filled in. */
export type ResolvedNodeLifecycleOptions = Required<NodeLifecycleOptions>;

/** DI token of {@link NodeLifecycleOptions}: `container.bind(NodeLifecycleConfiguration).toConstantValue({ … })`. */
export const NodeLifecycleConfiguration: unique symbol = Symbol.for('keelson.node-lifecycle.Configuration') as never;

/** The defaults (see each option). */
export const NODE_LIFECYCLE_DEFAULTS: Readonly<ResolvedNodeLifecycleOptions> = {
  nodeMonitorGracePeriodMs: 6_000,
  nodeStartupGracePeriodMs: 6_000,
  nodeEvictionRate: 0.1,
  secondaryNodeEvictionRate: 0.01,
  largeClusterSizeThreshold: 50,
  unhealthyZoneThreshold: 0.55,
  leaseNamespace: 'kube-node-lease',
  taintingDelayMs: 100,
};

/** Fills in the defaults; throws a RangeError naming a nonsensical value. */
export function resolveNodeLifecycleOptions(options: NodeLifecycleOptions = {}): ResolvedNodeLifecycleOptions {
  const grace = options.nodeMonitorGracePeriodMs ?? NODE_LIFECYCLE_DEFAULTS.nodeMonitorGracePeriodMs;
  const resolved: ResolvedNodeLifecycleOptions = {
    ...NODE_LIFECYCLE_DEFAULTS,
    nodeStartupGracePeriodMs: grace,
    ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
  };
  for (const key of ['nodeMonitorGracePeriodMs', 'nodeStartupGracePeriodMs', 'nodeEvictionRate', 'secondaryNodeEvictionRate', 'largeClusterSizeThreshold', 'taintingDelayMs'] as const) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`node-lifecycle: ${key} must be a non-negative number, got ${value}`);
  }
  if (!(resolved.unhealthyZoneThreshold > 0 && resolved.unhealthyZoneThreshold <= 1)) {
    throw new RangeError(`node-lifecycle: unhealthyZoneThreshold must be in (0, 1], got ${resolved.unhealthyZoneThreshold}`);
  }
  return resolved;
}

/** The taint of a node whose agent says it is not ready (Ready=False). */
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
/** The taint of a node this controller stopped hearing from (Ready=Unknown). */
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** The taint of a node marked `spec.unschedulable` (cordoned). */
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
/** The taint of a node with MemoryPressure=True. */
export const TAINT_NODE_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
/** The taint of a node with DiskPressure=True. */
export const TAINT_NODE_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
/** The taint of a node with PIDPressure=True. */
export const TAINT_NODE_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';
/** The taint of a node with NetworkUnavailable=True. */
export const TAINT_NODE_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable';

/** The NoExecute taint of an unreachable node (kube's UnreachableTaintTemplate). */
export const UNREACHABLE_TAINT: Readonly<Taint> = { key: TAINT_NODE_UNREACHABLE, effect: 'NoExecute' };
/** The NoExecute taint of a not-ready node (kube's NotReadyTaintTemplate). */
export const NOT_READY_TAINT: Readonly<Taint> = { key: TAINT_NODE_NOT_READY, effect: 'NoExecute' };

/** The zone label: nodes are grouped by it for rate limiting ('' when absent). */
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
/** The region label: a zone key is region and zone together, as kube's. */
export const LABEL_REGION = 'topology.kubernetes.io/region';
/** A node with this label does not count when judging a zone's disruption. */
export const LABEL_EXCLUDE_DISRUPTION = 'node.kubernetes.io/exclude-disruption';

/** The reason and message of a condition this controller set to Unknown (kube's). */
export const NODE_STATUS_UNKNOWN = { reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } as const;
/** The reason and message of a condition the agent never posted (kube's). */
export const NODE_STATUS_NEVER_UPDATED = { reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.' } as const;
