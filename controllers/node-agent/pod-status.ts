/**
 * The pod status the agent writes, computed from what the runtime reports — kubelet's
 * generateAPIPodStatus and status/generate.go, as pure functions:
 *
 * - conditions `PodReadyToStartContainers`, `Initialized`, `ContainersReady` and `Ready` with
 *   kube's reasons and messages (`ContainersNotReady`, `containers with unready status: [web]`,
 *   `PodCompleted`, `PodFailed`, `ReadinessGatesNotReady`); conditions owned by others
 *   (`PodScheduled`, `DisruptionTarget`, readiness gates) are kept as they are; a condition's
 *   `lastTransitionTime` changes only when its status does;
 * - a terminal phase is never left (kubelet never runs a Succeeded or Failed pod again);
 * - `containerStatuses` sorted by name, timestamps at second precision (kube's metav1.Time);
 * - `startTime`, `qosClass` and `nominatedNodeName` are kept once set.
 *
 * {@link sameStatus} compares two statuses semantically (absent, null, empty object and empty
 * list are the same), so the agent writes only when something changed.
 */
import { formatTimestamp, type ContainerStatus, type Pod, type PodCondition, type PodStatus } from '../../lib/index.js';
import type { ContainerStateView, ContainerStatusView, PodRuntimeStatus } from './runtime/types.js';

/** Why a pod's containers cannot be created yet (no pod CIDR, no free address). */
export interface SandboxProblem {
  /** The containers' waiting reason (kube: `ContainerCreating`). */
  reason: string;
  message: string;
}

/** Everything {@link desiredPodStatus} needs. */
export interface PodStatusInput {
  /** The pod as the API has it. */
  pod: Pod;
  /** What the runtime reports (absent before the pod's containers could be created). */
  runtime?: PodRuntimeStatus;
  /** Set while the sandbox cannot be set up: containers wait with this reason. */
  sandboxProblem?: SandboxProblem;
  /** The pod failed as a whole (e.g. `DeadlineExceeded`): the phase is Failed with this reason. */
  failure?: { reason: string; message: string };
  podIP?: string;
  hostIP: string;
  /** Now, ms since the epoch. */
  now: number;
}

/** True for Succeeded and Failed. */
export function isTerminalPhase(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

/** A timestamp at second precision, as the API serialises metav1.Time. */
function seconds(text: string | undefined, fallbackMs: number): string {
  const ms = text ? Date.parse(text) : NaN;
  return formatTimestamp(Number.isNaN(ms) ? fallbackMs : ms);
}

function apiState(state: ContainerStateView | undefined, now: number): ContainerStatus['state'] {
  if (!state) return {};
  if (state.running) return { running: { startedAt: seconds(state.running.startedAt, now) } };
  if (state.waiting) return { waiting: { reason: state.waiting.reason, ...(state.waiting.message ? { message: state.waiting.message } : {}) } };
  if (state.terminated) {
    const t = state.terminated;
    return {
      terminated: {
        exitCode: t.exitCode,
        ...(t.signal !== undefined ? { signal: t.signal } : {}),
        reason: t.reason,
        ...(t.message ? { message: t.message } : {}),
        ...(t.startedAt ? { startedAt: seconds(t.startedAt, now) } : {}),
        finishedAt: seconds(t.finishedAt, now),
        ...(t.containerID ? { containerID: t.containerID } : {}),
      },
    };
  }
  return {};
}

/** One container's API status from the runtime's view. */
function apiContainerStatus(view: ContainerStatusView, now: number): ContainerStatus {
  return {
    name: view.name,
    state: apiState(view.state, now),
    lastState: apiState(view.lastState, now),
    ready: view.ready,
    restartCount: view.restartCount,
    image: view.image,
    imageID: view.imageID,
    ...(view.containerID ? { containerID: view.containerID } : {}),
    started: view.started,
  };
}

/** Statuses of containers that have not been created: waiting with the sandbox's reason. */
function waitingStatuses(pod: Pod, containers: { name: string; image?: string }[], reason: string, message: string | undefined): ContainerStatus[] {
  const previous = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return containers.map((c) => ({
    name: c.name,
    state: { waiting: { reason, ...(message ? { message } : {}) } },
    lastState: previous.find((p) => p.name === c.name)?.lastState ?? {},
    ready: false,
    restartCount: previous.find((p) => p.name === c.name)?.restartCount ?? 0,
    image: c.image ?? '',
    imageID: '',
    started: false,
  }));
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Go's `%s` of a string slice: `[a b]`. */
function goList(names: string[]): string {
  return `[${names.join(' ')}]`;
}

type OwnedCondition = Omit<PodCondition, 'lastTransitionTime'>;

function containersReadyCondition(pod: Pod, statuses: ContainerStatus[], phase: string): OwnedCondition {
  if (phase === 'Failed') return { type: 'ContainersReady', status: 'False', reason: 'PodFailed' };
  const unknown: string[] = [];
  const unready: string[] = [];
  const restartableInit = (pod.spec?.initContainers ?? []).filter((c) => (c as { restartPolicy?: string }).restartPolicy === 'Always');
  for (const container of [...restartableInit, ...(pod.spec?.containers ?? [])]) {
    const status = statuses.find((s) => s.name === container.name);
    if (!status) unknown.push(container.name);
    else if (!status.ready) unready.push(container.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' };
  const messages = [
    ...(unknown.length ? [`containers with unknown status: ${goList(unknown)}`] : []),
    ...(unready.length ? [`containers with unready status: ${goList(unready)}`] : []),
  ];
  if (messages.length) return { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: messages.join(', ') };
  return { type: 'ContainersReady', status: 'True' };
}

function readyCondition(pod: Pod, conditions: PodCondition[], containersReady: OwnedCondition, phase: string): OwnedCondition {
  if (phase === 'Succeeded' || phase === 'Failed') return { type: 'Ready', status: 'False', reason: phase === 'Failed' ? 'PodFailed' : 'PodCompleted' };
  if (containersReady.status !== 'True') {
    return { type: 'Ready', status: containersReady.status, ...(containersReady.reason ? { reason: containersReady.reason } : {}), ...(containersReady.message ? { message: containersReady.message } : {}) };
  }
  const messages: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const condition = conditions.find((c) => c.type === gate.conditionType);
    if (!condition) messages.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    else if (condition.status !== 'True') messages.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${condition.status}`);
  }
  if (messages.length) return { type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', message: messages.join(', ') };
  return { type: 'Ready', status: 'True' };
}

function initializedCondition(pod: Pod, initStatuses: ContainerStatus[], statuses: ContainerStatus[], phase: string): OwnedCondition {
  const init = pod.spec?.initContainers ?? [];
  if (init.length === 0) return { type: 'Initialized', status: 'True' };
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const container of init) {
    const status = initStatuses.find((s) => s.name === container.name);
    if (!status) unknown.push(container.name);
    else if ((container as { restartPolicy?: string }).restartPolicy === 'Always' ? !status.started : !status.ready) incomplete.push(container.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'Initialized', status: 'True', reason: 'PodCompleted' };
  // A regular container that has started means the pod was initialized before.
  if (statuses.some((s) => s.state?.running || s.state?.terminated || s.lastState?.terminated)) return { type: 'Initialized', status: 'True' };
  const messages = [
    ...(unknown.length ? [`containers with unknown status: ${goList(unknown)}`] : []),
    ...(incomplete.length ? [`containers with incomplete status: ${goList(incomplete)}`] : []),
  ];
  if (messages.length) return { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: messages.join(', ') };
  return { type: 'Initialized', status: 'True' };
}

/** Merges the agent's conditions into the pod's, keeping transition times of unchanged ones. */
function mergeConditions(old: PodCondition[], owned: OwnedCondition[], now: number): PodCondition[] {
  const stamp = formatTimestamp(now);
  const result = old.map((c) => ({ ...c }));
  for (const condition of owned) {
    const index = result.findIndex((c) => c.type === condition.type);
    const previous = index >= 0 ? result[index] : undefined;
    const lastTransitionTime = previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : stamp;
    const next: PodCondition = { ...condition, lastTransitionTime };
    if (index >= 0) result[index] = next;
    else result.push(next);
  }
  if (!result.some((c) => c.type === 'PodScheduled')) result.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: stamp });
  return result;
}

/** The status the agent wants the API to show for a pod (see the file header). */
export function desiredPodStatus(input: PodStatusInput): PodStatus {
  const { pod, runtime, now } = input;
  const old = pod.status ?? {};
  const spec = pod.spec ?? { containers: [] };
  let phase: NonNullable<PodStatus['phase']> = runtime?.phase ?? 'Pending';
  if (input.failure) phase = 'Failed';
  if (isTerminalPhase(old.phase)) phase = old.phase!;

  const waitingReason = input.sandboxProblem?.reason ?? 'ContainerCreating';
  const waitingMessage = input.sandboxProblem?.message;
  const statuses = runtime
    ? runtime.containerStatuses.map((view) => apiContainerStatus(view, now))
    : waitingStatuses(pod, spec.containers, waitingReason, waitingMessage);
  const initStatuses = runtime
    ? runtime.initContainerStatuses.map((view) => apiContainerStatus(view, now))
    : waitingStatuses(pod, spec.initContainers ?? [], input.sandboxProblem ? waitingReason : 'PodInitializing', waitingMessage);
  statuses.sort(byName);

  const sandboxReady = !!runtime && !input.sandboxProblem && !!input.podIP;
  const containersReady = containersReadyCondition(pod, statuses, phase);
  const oldConditions = old.conditions ?? [];
  const owned: OwnedCondition[] = [
    { type: 'PodReadyToStartContainers', status: sandboxReady && !isTerminalPhase(phase) ? 'True' : 'False' },
    initializedCondition(pod, initStatuses, statuses, phase),
    readyCondition(pod, oldConditions, containersReady, phase),
    containersReady,
  ];

  const reason = input.failure?.reason ?? (isTerminalPhase(old.phase) ? old.reason : runtime?.reason);
  const message = input.failure?.message ?? (isTerminalPhase(old.phase) ? old.message : runtime?.message);
  const startTime = old.startTime ?? (runtime?.startTime ? seconds(runtime.startTime, now) : formatTimestamp(now));
  return {
    phase,
    conditions: mergeConditions(oldConditions, owned, now),
    ...(message ? { message } : {}),
    ...(reason ? { reason } : {}),
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(input.podIP ? { podIP: input.podIP, podIPs: [{ ip: input.podIP }] } : {}),
    startTime,
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: statuses,
    ...(old.qosClass ? { qosClass: old.qosClass } : {}),
    ...(old.nominatedNodeName ? { nominatedNodeName: old.nominatedNodeName } : {}),
  };
}

/** Drops what the API does not distinguish from absence: undefined, null, `{}` and `[]`. */
function normalized(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(normalized).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => [k, normalized(v)] as const)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.length ? Object.fromEntries(entries) : undefined;
  }
  return value === null ? undefined : value;
}

/** A canonical text of a value: equal texts mean semantically equal values (see {@link sameStatus}). */
export function canonical(value: unknown): string {
  return JSON.stringify(normalized(value ?? {}) ?? {});
}

/** True if two statuses are semantically equal (see {@link canonical}). */
export function sameStatus(a: PodStatus | undefined, b: PodStatus | undefined): boolean {
  return canonical(a) === canonical(b);
}
