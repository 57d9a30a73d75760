/**
 * NodePorts: two pods cannot bind the same host port with the same protocol on the same host
 * IP; a pod binding `0.0.0.0` (or no hostIP) conflicts with the port on any IP, and a pod
 * binding a specific IP conflicts with the same IP and with `0.0.0.0` (kube's
 * HostPortInfo.CheckConflict). Ports in use come from the snapshot as `protocol/hostIP/port`.
 */
import type { Pod } from '../../../lib/index.js';
import { SchedulerPlugin, type CycleState, type FilterFailure, type NodeInfo, type PreFilterResult, type SchedulerPluginImpl, type Snapshot } from '../framework.js';
import { podHostPorts } from '../snapshot.js';
import { CycleSlot } from './common.js';

const BIND_ALL = '0.0.0.0';
const CONFLICT: FilterFailure = Object.freeze({ reason: "node(s) didn't have free ports for the requested pod ports" });

/** One wanted host port, with the usedPorts keys that would conflict with it precomputed. */
interface WantedPort {
  /** Bind-all: conflicts with any entry starting with `prefix` and ending with `suffix`. */
  bindAll: boolean;
  prefix: string;
  suffix: string;
  /** A specific IP: conflicts with exactly these entries. */
  exact: readonly string[];
}

function wantedPorts(pod: Pod): readonly WantedPort[] {
  return podHostPorts(pod).map((entry) => {
    const [protocol, ip, port] = entry.split('/') as [string, string, string];
    const bindAll = ip === BIND_ALL;
    return { bindAll, prefix: `${protocol}/`, suffix: `/${port}`, exact: bindAll ? [] : [entry, `${protocol}/${BIND_ALL}/${port}`] };
  });
}

function conflicts(wanted: WantedPort, used: ReadonlySet<string>): boolean {
  if (!wanted.bindAll) return used.has(wanted.exact[0]!) || used.has(wanted.exact[1]!);
  for (const entry of used) if (entry.startsWith(wanted.prefix) && entry.endsWith(wanted.suffix)) return true;
  return false;
}

/** Refuses nodes where a host port the pod asks for is already taken. */
@SchedulerPlugin({ name: 'NodePorts' })
export class NodePorts implements SchedulerPluginImpl {
  private readonly wanted = new CycleSlot<readonly WantedPort[]>('NodePorts/preFilter');

  /** Parses the pod's host ports once per cycle. */
  preFilter(pod: Pod, _snapshot: Snapshot, state: CycleState): PreFilterResult {
    this.wanted.set(state, wantedPorts(pod));
  }

  /** Fails `node(s) didn't have free ports for the requested pod ports` on a conflict. */
  filter(pod: Pod, node: NodeInfo, _snapshot: Snapshot, state: CycleState): FilterFailure | undefined {
    const wanted = this.wanted.get(state, () => wantedPorts(pod));
    if (wanted.length === 0 || node.usedPorts.size === 0) return undefined;
    for (const port of wanted) if (conflicts(port, node.usedPorts)) return CONFLICT;
    return undefined;
  }
}
