/**
 * Node taints: which taints a node's conditions call for, and the one way this controller writes
 * a node's taints — a compare-and-swap update that adds and removes in one write, retried on
 * conflicts with the node read afresh (kube's SwapNodeControllerTaint).
 */
import { formatTimestamp, isConflict, ignoreNotFound, isNotFound, Node, type ApiReader, type Client, type Taint } from '../../lib/index.js';
import {
  TAINT_NODE_DISK_PRESSURE,
  TAINT_NODE_MEMORY_PRESSURE,
  TAINT_NODE_NETWORK_UNAVAILABLE,
  TAINT_NODE_NOT_READY,
  TAINT_NODE_PID_PRESSURE,
  TAINT_NODE_UNREACHABLE,
  TAINT_NODE_UNSCHEDULABLE,
} from './options.js';

/** Which condition status calls for which NoSchedule taint (kube's nodeConditionToTaintKeyStatusMap). */
const CONDITION_TAINTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Ready: { False: TAINT_NODE_NOT_READY, Unknown: TAINT_NODE_UNREACHABLE },
  MemoryPressure: { True: TAINT_NODE_MEMORY_PRESSURE },
  DiskPressure: { True: TAINT_NODE_DISK_PRESSURE },
  NetworkUnavailable: { True: TAINT_NODE_NETWORK_UNAVAILABLE },
  PIDPressure: { True: TAINT_NODE_PID_PRESSURE },
};

/** The taint keys this controller manages with effect NoSchedule. */
const CONDITION_TAINT_KEYS = new Set([...Object.values(CONDITION_TAINTS).flatMap((byStatus) => Object.values(byStatus)), TAINT_NODE_UNSCHEDULABLE]);

/** How often one taint write is retried at once on a conflict. */
const CONFLICT_RETRIES = 5;

/** True if two taints are the same taint: same key and effect (what makes taints unique on a node). */
export function sameTaint(a: Taint, b: Taint): boolean {
  return a.key === b.key && a.effect === b.effect;
}

/** True if the node carries a taint with the template's key and effect. */
export function hasTaint(node: Node, template: Taint): boolean {
  return (node.spec?.taints ?? []).some((taint) => sameTaint(taint, template));
}

/** The node's NoExecute taints. */
export function noExecuteTaints(node: Node | undefined): Taint[] {
  return (node?.spec?.taints ?? []).filter((taint) => taint.effect === 'NoExecute');
}

/**
 * The NoSchedule taints the node's conditions call for (kube's doNoScheduleTaintingPass):
 * `not-ready`/`unreachable` for Ready False/Unknown, the pressure and network taints for those
 * conditions True, and `unschedulable` for a cordoned node.
 */
export function conditionTaints(node: Node): Taint[] {
  const taints: Taint[] = [];
  for (const condition of node.status?.conditions ?? []) {
    const key = CONDITION_TAINTS[condition.type]?.[condition.status];
    if (key) taints.push({ key, effect: 'NoSchedule' });
  }
  if (node.spec?.unschedulable) taints.push({ key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' });
  return taints;
}

/** True for a NoSchedule taint this controller derives from conditions (and so may remove). */
export function isConditionTaint(taint: Taint): boolean {
  return taint.effect === 'NoSchedule' && CONDITION_TAINT_KEYS.has(taint.key);
}

/**
 * Adds `add` and removes `remove` (by key and effect) in one compare-and-swap update of the
 * node's taints; NoExecute taints added get `timeAdded`. Retries a conflict with the node read
 * afresh from `reader`. Answers the node as written (or as it was, if nothing had to change),
 * or undefined when the node is gone.
 */
export async function swapNodeTaints(client: Client, reader: ApiReader, node: Node, add: readonly Taint[], remove: readonly Taint[], nowMs: number): Promise<Node | undefined> {
  let current: Node | undefined = node;
  for (let attempt = 1; current; attempt++) {
    const existing = current.spec?.taints ?? [];
    const kept = existing.filter((taint) => !remove.some((r) => sameTaint(r, taint)));
    const missing = add.filter((a) => !kept.some((taint) => sameTaint(taint, a)));
    if (missing.length === 0 && kept.length === existing.length) return current;
    const added = missing.map((taint) => ({ ...taint, ...(taint.effect === 'NoExecute' ? { timeAdded: formatTimestamp(nowMs) } : {}) }));
    const taints = [...kept, ...added];
    const spec = { ...current.spec };
    if (taints.length > 0) spec.taints = taints;
    else delete spec.taints;
    try {
      return await client.update<Node>({ ...current, spec });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
    }
    current = await getNode(reader, current.metadata?.name ?? '');
  }
  return undefined;
}

/** Reads a node; undefined when it is gone. */
export async function getNode(reader: Client, name: string): Promise<Node | undefined> {
  return reader.get(Node, name).catch(ignoreNotFound);
}
