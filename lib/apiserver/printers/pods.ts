/**
 * The pod printer: kube's `printPod` (pkg/printers/internalversion), the STATUS and RESTARTS
 * logic `kubectl get pods` shows — init containers (`Init:0/1`, `Init:CrashLoopBackOff`),
 * restartable init containers (sidecars) counted as containers, container waiting/terminated
 * reasons (`ContainerCreating`, `CrashLoopBackOff`, `Completed`, `ExitCode:1`), `Terminating`,
 * `SchedulingGated`, and restarts with the time of the last one (`5 (2m ago)`).
 */
import type { Pod } from '../../api/kinds.js';
import type { Container, ContainerStatus, PodCondition } from '../../api/types/core.js';
import { AGE_COLUMN, NAME_COLUMN, age, column, humanDuration, nameOf, parseTime, type Printer, type PrintedRow, type TableRowCondition } from './common.js';

const COLUMNS = [
  NAME_COLUMN,
  column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
  column('Status', 'string', 'The aggregate status of the containers in this pod.'),
  column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
  AGE_COLUMN,
  column('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', { priority: 1 }),
  column(
    'Node',
    'string',
    'NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.',
    { priority: 1 },
  ),
  column(
    'Nominated Node',
    'string',
    'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.',
    { priority: 1 },
  ),
  column(
    'Readiness Gates',
    'string',
    'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates',
    { priority: 1 },
  ),
];

const SUCCEEDED: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const FAILED: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

/** kube's NodeUnreachablePodReason: the node controller marks pods of a lost node. */
const NODE_LOST = 'NodeLost';

function isRestartable(container: Container | undefined): boolean {
  return container?.restartPolicy === 'Always';
}

function conditionTrue(conditions: PodCondition[] | undefined, type: string): boolean {
  // kube's isPodInitializedConditionTrue and hasPodReadyCondition: the first condition of the type decides.
  const condition = conditions?.find((c) => c.type === type);
  return condition?.status === 'True';
}

/** Tracks the latest `lastState.terminated.finishedAt` (kube's lastRestartDate). */
function later(current: number | undefined, status: ContainerStatus): number | undefined {
  const finished = parseTime(status.lastState?.terminated?.finishedAt);
  if (finished === undefined) return current;
  return current === undefined || finished > current ? finished : current;
}

function exitReason(terminated: { reason?: string; signal?: number; exitCode?: number }, prefix: string): string {
  if (terminated.reason) return `${prefix}${terminated.reason}`;
  if (terminated.signal) return `${prefix}Signal:${terminated.signal}`;
  return `${prefix}ExitCode:${terminated.exitCode ?? 0}`;
}

/** The READY, STATUS and RESTARTS cells of a pod, as kube computes them. */
export function podStatus(pod: Pod, now: number): { ready: string; status: string; restarts: string } {
  const spec = pod.spec;
  const status = pod.status ?? {};
  const phase = status.phase ?? '';
  let reason: string = status.reason || phase;
  if ((status.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  let total = spec?.containers?.length ?? 0;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart: number | undefined;
  let lastSidecarRestart: number | undefined;

  const initContainers = new Map<string, Container>();
  for (const container of spec?.initContainers ?? []) {
    initContainers.set(container.name, container);
    if (isRestartable(container)) total++;
  }

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const container = initStatuses[i]!;
    const state = container.state ?? {};
    restarts += container.restartCount ?? 0;
    lastRestart = later(lastRestart, container);
    const restartable = isRestartable(initContainers.get(container.name));
    if (restartable) {
      sidecarRestarts += container.restartCount ?? 0;
      lastSidecarRestart = later(lastSidecarRestart, container);
    }
    if (state.terminated && state.terminated.exitCode === 0) continue;
    if (restartable && container.started) {
      if (container.ready) ready++;
      continue;
    }
    if (state.terminated) {
      reason = exitReason(state.terminated, 'Init:');
    } else if (state.waiting?.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${spec?.initContainers?.length ?? 0}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status.conditions, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const container = statuses[i]!;
      const state = container.state ?? {};
      restarts += container.restartCount ?? 0;
      lastRestart = later(lastRestart, container);
      if (state.waiting?.reason) {
        reason = state.waiting.reason;
      } else if (state.terminated) {
        reason = exitReason(state.terminated, '');
      } else if (container.ready && state.running) {
        hasRunning = true;
        ready++;
      }
    }
    // A pod whose last container completed while another still runs is Running (or NotReady).
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(status.conditions, 'Ready') ? 'Running' : 'NotReady';
  }

  if (pod.metadata?.deletionTimestamp && status.reason === NODE_LOST) {
    reason = 'Unknown';
  } else if (pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') {
    reason = 'Terminating';
  }

  const restartsCell = restarts !== 0 && lastRestart !== undefined ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartsCell };
}

function printPod(o: Pod, now: number): PrintedRow {
  const { ready, status, restarts } = podStatus(o, now);
  const podIP = o.status?.podIPs?.[0]?.ip || o.status?.podIP || '<none>';
  const gates = o.spec?.readinessGates ?? [];
  let readinessGates = '<none>';
  if (gates.length > 0) {
    let trueConditions = 0;
    for (const gate of gates) {
      const condition = o.status?.conditions?.find((c) => c.type === gate.conditionType);
      if (condition?.status === 'True') trueConditions++;
    }
    readinessGates = `${trueConditions}/${gates.length}`;
  }
  const phase = o.status?.phase;
  return {
    cells: [
      nameOf(o),
      ready,
      status,
      restarts,
      age(o.metadata?.creationTimestamp, now),
      podIP,
      o.spec?.nodeName || '<none>',
      o.status?.nominatedNodeName || '<none>',
      readinessGates,
    ],
    ...(phase === 'Succeeded' ? { conditions: SUCCEEDED } : phase === 'Failed' ? { conditions: FAILED } : {}),
  };
}

/** kube's pod printer (`kubectl get pods`). */
export const POD_PRINTER: Printer = { columns: COLUMNS, row: (o, now) => printPod(o as Pod, now) };
