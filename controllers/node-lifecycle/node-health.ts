/**
 * What this controller has seen of each node's heartbeats (kube's nodeHealthMap). A node is
 * alive as long as its heartbeat moves: its Lease's `spec.renewTime`, or its Ready condition's
 * `lastHeartbeatTime`. The time that counts is when *this controller* saw the heartbeat move —
 * its own clock — not the time written in it, so a node whose clock is off is judged fairly.
 */
import { formatTimestamp, type Lease, type Node, type NodeCondition } from '../../lib/index.js';
import { NODE_STATUS_NEVER_UPDATED, NODE_STATUS_UNKNOWN } from './options.js';

/** The condition types set to Unknown when a node goes silent (NetworkUnavailable is the network's business). */
export const CONDITIONS_SET_UNKNOWN: readonly string[] = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

/** What was last seen of one node. */
export interface NodeHealth {
  /** When this controller last saw a heartbeat move (ms on its clock). */
  probeMs: number;
  /** The Ready condition's lastHeartbeatTime then. */
  heartbeat: string | undefined;
  /** The Lease's renewTime then. */
  renewTime: string | undefined;
}

/** A node's condition of a type, if it has one. */
export function conditionOf(node: Node, type: string): NodeCondition | undefined {
  return node.status?.conditions?.find((condition) => condition.type === type);
}

/** Parses an RFC 3339 time; undefined when absent or unparsable. */
export function parseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The heartbeats seen per node (see the file header). */
export class NodeHealthMap {
  private readonly health = new Map<string, NodeHealth>();

  /**
   * Records what a node and its Lease show now and answers the node's health. The first sight
   * of a node counts as a heartbeat (a restarted controller grants every node a full grace
   * period) — except for a node that has neither a Ready condition nor a Lease: its agent never
   * started, and its grace runs from its creation.
   */
  observe(node: Node, lease: Lease | undefined, nowMs: number): NodeHealth {
    const name = node.metadata?.name ?? '';
    const ready = conditionOf(node, 'Ready');
    const renewTime = lease?.spec?.renewTime;
    const heartbeat = ready?.lastHeartbeatTime;
    const saved = this.health.get(name);
    let probeMs: number;
    if (!saved) {
      const created = parseTime(node.metadata?.creationTimestamp);
      probeMs = ready || renewTime ? nowMs : Math.min(nowMs, created ?? nowMs);
    } else {
      probeMs = saved.probeMs;
      const readyMoved = (saved.heartbeat !== undefined || ready !== undefined) && saved.heartbeat !== heartbeat;
      const leaseMoved = renewTime !== undefined && renewTime !== saved.renewTime;
      if (readyMoved || leaseMoved) probeMs = nowMs;
    }
    const health = { probeMs, heartbeat, renewTime };
    this.health.set(name, health);
    return health;
  }

  /** The health last recorded for a node. */
  get(name: string): NodeHealth | undefined {
    return this.health.get(name);
  }

  /** Forgets a deleted node. */
  forget(name: string): void {
    this.health.delete(name);
  }

  /** Counts now as every node's last heartbeat (leaving full disruption: everyone gets a fresh grace). */
  resetProbes(nowMs: number): void {
    for (const health of this.health.values()) health.probeMs = nowMs;
  }
}

/**
 * Sets a silent node's conditions to Unknown, as kube's tryUpdateNodeHealth: Ready (added with
 * `NodeStatusNeverUpdated` when the agent never posted it) and the pressure conditions the node
 * has, with reason `NodeStatusUnknown` and message `Kubelet stopped posting node status.`;
 * lastHeartbeatTime stays as the agent wrote it. Changes `node` in place; answers whether
 * anything changed.
 */
export function markConditionsUnknown(node: Node, nowMs: number): boolean {
  const now = formatTimestamp(nowMs);
  node.status ??= {};
  const conditions = (node.status.conditions ??= []);
  let changed = false;
  for (const type of CONDITIONS_SET_UNKNOWN) {
    const condition = conditions.find((c) => c.type === type);
    if (!condition) {
      if (type !== 'Ready') continue;
      conditions.push({
        type,
        status: 'Unknown',
        ...NODE_STATUS_NEVER_UPDATED,
        ...(node.metadata?.creationTimestamp ? { lastHeartbeatTime: node.metadata.creationTimestamp } : {}),
        lastTransitionTime: now,
      });
      changed = true;
      continue;
    }
    if (condition.status === 'Unknown') continue;
    condition.status = 'Unknown';
    condition.reason = NODE_STATUS_UNKNOWN.reason;
    condition.message = NODE_STATUS_UNKNOWN.message;
    condition.lastTransitionTime = now;
    changed = true;
  }
  return changed;
}
