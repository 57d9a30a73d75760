/**
 * The node agent — keelson's kubelet. On a machine with no container engine it runs each
 * container of the pods bound to its node as a process (the pod runtime, `runtime/`), on the
 * node's own slice of a loopback pod network, and keeps the API informed:
 *
 * - `agent.ts`: {@link NodeAgent}, the assembly — endpoints, registration, heartbeats, usage,
 *   and the pod controller under a manager of its own;
 * - `pod-controller.ts` / `pod-worker.ts`: the pods of this node, reconciled — addresses, the
 *   runtime, status, graceful deletion, deadlines;
 * - `pod-status.ts`: the pod status as kubelet computes it (conditions, reasons, messages);
 * - `carry-over.ts`: what an agent restart means for the pods it finds;
 * - `node-status.ts` / `node-reporter.ts`: the Node object and its status; `node-lease.ts`: the
 *   Lease heartbeat;
 * - `ip-allocator.ts`: pod addresses from the node's pod CIDR;
 * - `stats.ts`: resource usage (Summary API, resource metrics); `server.ts`: the endpoints.
 *
 * ```ts
 * const agent = new NodeAgent({ client, name: 'node-1', address: '127.1.0.1', runtime });
 * await agent.start();   // registers node-1, renews its Lease, runs its pods
 * await agent.stop();    // kills its pods' processes; the pods stay in the API
 * ```
 */
export { NodeAgent, serveVipService, type NodeAgentOptions } from './agent.js';
export { carryOverFrom, lostPodStatus, mustNotRestart, LOST_CONTAINER, type CarryOver } from './carry-over.js';
export { formatIPv4, parseIPv4, parseIPv4CIDR, PodIPAllocator } from './ip-allocator.js';
export { NodeLease, NODE_LEASE_NAMESPACE, type NodeLeaseOptions } from './node-lease.js';
export { NodeReporter, type NodeReporterOptions } from './node-reporter.js';
export {
  CONTAINER_RUNTIME_VERSION,
  goArch,
  INSTANCE_TYPE,
  initialNode,
  KUBELET_VERSION,
  nodeLabels,
  nodeStatus,
  READY,
  systemInfo,
  WAITING_FOR_POD_CIDR,
  type NodeIdentity,
  type Readiness,
} from './node-status.js';
export { NODE_AGENT_CONTROLLER, nodePodController } from './pod-controller.js';
export { canonical, desiredPodStatus, isTerminalPhase, sameStatus, type PodStatusInput, type SandboxProblem } from './pod-status.js';
export { DEADLINE_EXCEEDED_MESSAGE, MINIMUM_GRACE_PERIOD_SECONDS, PodWorker, type PodWorkerContext } from './pod-worker.js';
export { AgentServer, logOptionsFrom, type AgentEndpoints, type AgentServerOptions } from './server.js';
export { StatsCollector, type ContainerStats, type CPUStats, type MemoryStats, type PodRef, type PodStats, type StatsCollectorOptions, type Summary } from './stats.js';
