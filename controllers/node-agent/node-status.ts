/**
 * The agent's Node object: what it registers (kubelet's initialNode) and the status it keeps
 * (kubelet's setNodeStatus), as pure functions of the agent's identity, its readiness and the
 * Node the API has.
 *
 * - Labels `kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch` and
 *   `node.kubernetes.io/instance-type: keelson`; addresses InternalIP (the node's own loopback
 *   address) and Hostname; capacity and allocatable; nodeInfo; the agent's HTTP port as
 *   `daemonEndpoints.kubeletEndpoint.Port`.
 * - Conditions MemoryPressure, DiskPressure and PIDPressure (always False here) and Ready.
 *   Ready is False (`KubeletNotReady`, network not ready) until the node-ipam controller has
 *   given the node a pod CIDR — a kubelet whose network plugin has no pod CIDR reports exactly
 *   that — and True (`KubeletReady`) after.
 * - `lastHeartbeatTime` moves when a condition changes or when a report is due (kubelet's
 *   nodeStatusReportFrequency); `lastTransitionTime` only when a condition's status changes.
 * - `spec` (podCIDR, taints, unschedulable) belongs to others: the agent never writes it.
 */
import { readFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { formatTimestamp, type Node, type NodeCondition, type NodeSystemInfo } from '../../lib/index.js';

/** The kubelet version the agent reports. */
export const KUBELET_VERSION = 'v1.32.0-keelson';
/** The runtime the agent reports (`containerRuntimeVersion`). */
export const CONTAINER_RUNTIME_VERSION = 'keelson-process://0.1.0';
/** The instance type label's value. */
export const INSTANCE_TYPE = 'keelson';

/** Who the agent is: its Node's name, address, port and resources. */
export interface NodeIdentity {
  name: string;
  /** The node's address (`127.1.0.N`): InternalIP, and where the agent's endpoints listen. */
  address: string;
  /** The agent's HTTP port (`daemonEndpoints.kubeletEndpoint.Port`). */
  port: number;
  /** Capacity as quantities: `cpu`, `memory`, `pods` (allocatable is the same). */
  capacity: Record<string, string>;
  /** Extra labels to register with. */
  labels?: Record<string, string>;
  /** Facts about the machine (default: {@link systemInfo}, read once). */
  nodeInfo: NodeSystemInfo;
}

/** The agent's own view of whether it can run pods. */
export interface Readiness {
  ready: boolean;
  reason: string;
  message: string;
}

/** The Ready condition while the node has a pod CIDR. */
export const READY: Readiness = { ready: true, reason: 'KubeletReady', message: 'kubelet is posting ready status' };

/** The Ready condition while the node waits for a pod CIDR (the network is not ready). */
export const WAITING_FOR_POD_CIDR: Readiness = {
  ready: false,
  reason: 'KubeletNotReady',
  message:
    'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:keelson: the node has no pod CIDR yet (spec.podCIDR is assigned by the node-ipam controller)',
};

function readTrimmed(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Go's GOARCH name for Node's `process.arch`. */
export function goArch(nodeArch: string = arch()): string {
  return ({ x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

/** Facts about this machine, as kubelet's nodeInfo. */
export function systemInfo(): NodeSystemInfo {
  const osRelease = readTrimmed('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  const machineID = readTrimmed('/etc/machine-id');
  return {
    machineID,
    systemUUID: readTrimmed('/sys/class/dmi/id/product_uuid') || machineID,
    bootID: readTrimmed('/proc/sys/kernel/random/boot_id'),
    kernelVersion: release(),
    osImage: pretty ?? platform(),
    containerRuntimeVersion: CONTAINER_RUNTIME_VERSION,
    kubeletVersion: KUBELET_VERSION,
    kubeProxyVersion: '',
    operatingSystem: platform(),
    architecture: goArch(),
  };
}

/** The labels the agent sets on its Node (kubelet's default labels). */
export function nodeLabels(identity: NodeIdentity): Record<string, string> {
  return {
    ...(identity.labels ?? {}),
    'kubernetes.io/hostname': identity.name,
    'kubernetes.io/os': platform(),
    'kubernetes.io/arch': goArch(),
    'node.kubernetes.io/instance-type': INSTANCE_TYPE,
  };
}

/** The conditions the agent owns, in kubelet's order, without times. */
function ownConditions(readiness: Readiness): Omit<NodeCondition, 'lastHeartbeatTime' | 'lastTransitionTime'>[] {
  return [
    { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    { type: 'Ready', status: readiness.ready ? 'True' : 'False', reason: readiness.reason, message: readiness.message },
  ];
}

/** The Node to create when registering. */
export function initialNode(identity: NodeIdentity, readiness: Readiness, nowMs: number): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: identity.name, labels: nodeLabels(identity) },
    spec: {},
    status: nodeStatus(undefined, identity, readiness, nowMs, true),
  };
}

/**
 * The Node's status as the agent wants it. `heartbeat` moves every `lastHeartbeatTime` to now;
 * otherwise they keep their value unless the condition changed.
 */
export function nodeStatus(existing: Node | undefined, identity: NodeIdentity, readiness: Readiness, nowMs: number, heartbeat: boolean): NonNullable<Node['status']> {
  const now = formatTimestamp(nowMs);
  const old = existing?.status ?? {};
  const oldConditions = old.conditions ?? [];
  const conditions: NodeCondition[] = ownConditions(readiness).map((condition) => {
    const previous = oldConditions.find((c) => c.type === condition.type);
    const unchanged = previous && previous.status === condition.status && previous.reason === condition.reason && previous.message === condition.message;
    return {
      ...condition,
      lastHeartbeatTime: unchanged && !heartbeat && previous.lastHeartbeatTime ? previous.lastHeartbeatTime : now,
      lastTransitionTime: previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : now,
    };
  });
  // Conditions others add (e.g. NetworkUnavailable) stay.
  for (const condition of oldConditions) if (!conditions.some((c) => c.type === condition.type)) conditions.push(condition);
  return {
    ...old,
    capacity: { ...identity.capacity },
    allocatable: { ...identity.capacity },
    conditions,
    addresses: [
      { type: 'InternalIP', address: identity.address },
      { type: 'Hostname', address: identity.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: identity.port } },
    nodeInfo: { ...identity.nodeInfo },
  };
}
