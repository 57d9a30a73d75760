/**
 * What an agent restart does to the pods it finds in the API.
 *
 * A real kubelet restarts and finds its containers still running under the container engine.
 * keelson has no engine: a pod's processes die with the agent that ran them (the runtime's
 * supervisors see to it). Restart counts, last states and logs survive in the runtime's data dir
 * (`<data-dir>/pods/…`): a runtime started over the same dir continues each container's numbering
 * and reports how the lost instance ended — so under `Always` and `OnFailure` the agent simply
 * syncs the pod, and the runtime starts each container once (one process per container: the old
 * ones are gone).
 *
 * Under `Never` a container that was running must not run again, whatever the runtime remembers
 * (its data dir may be new): the agent does not hand such a pod to the runtime, and reports the
 * lost containers terminated as kubelet reports a container it can no longer find — exit code
 * 137, reason `ContainerStatusUnknown` — and the pod Failed.
 */
import { formatTimestamp, type ContainerState, type ContainerStatus, type Pod } from '../../lib/index.js';
import type { ContainerStateView, ContainerStatusView, PodRuntimeStatus } from './runtime/types.js';

/** Exit code and reason of a container that vanished with its agent (kubelet's values). */
export const LOST_CONTAINER = {
  exitCode: 137,
  reason: 'ContainerStatusUnknown',
  message: 'The container could not be located when the pod was terminated',
} as const;

/** What a previous agent left in a pod's status. */
export interface CarryOver {
  /** Containers that were running when the previous agent died. */
  lost: string[];
}

function view(state: ContainerState | undefined): ContainerStateView | undefined {
  if (!state) return undefined;
  if (state.running) return { running: { startedAt: state.running.startedAt ?? '' } };
  if (state.waiting) return { waiting: { reason: state.waiting.reason ?? '', ...(state.waiting.message ? { message: state.waiting.message } : {}) } };
  if (state.terminated) {
    const t = state.terminated;
    return {
      terminated: {
        exitCode: t.exitCode,
        ...(t.signal !== undefined ? { signal: t.signal } : {}),
        reason: t.reason ?? '',
        ...(t.message ? { message: t.message } : {}),
        ...(t.startedAt ? { startedAt: t.startedAt } : {}),
        finishedAt: t.finishedAt ?? '',
        ...(t.containerID ? { containerID: t.containerID } : {}),
      },
    };
  }
  return undefined;
}

function lostState(status: ContainerStatus, now: number): ContainerStateView {
  return {
    terminated: {
      ...LOST_CONTAINER,
      ...(status.state?.running?.startedAt ? { startedAt: status.state.running.startedAt } : {}),
      finishedAt: formatTimestamp(now),
      ...(status.containerID ? { containerID: status.containerID } : {}),
    },
  };
}

/**
 * What a pod's API status says a previous agent did, or undefined for a pod no agent has run
 * (nothing ever started).
 */
export function carryOverFrom(pod: Pod): CarryOver | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const lost = statuses.filter((s) => s.state?.running).map((s) => s.name);
  return lost.length ? { lost } : undefined;
}

/** True when the restart policy forbids running the lost containers again (`Never`). */
export function mustNotRestart(pod: Pod, carry: CarryOver | undefined): boolean {
  return !!carry && pod.spec?.restartPolicy === 'Never';
}

/**
 * The runtime-shaped status of a `Never` pod whose containers were lost: every container that
 * is not terminated is terminated with {@link LOST_CONTAINER}; the pod Failed.
 */
export function lostPodStatus(pod: Pod, now: number): PodRuntimeStatus {
  const toView = (status: ContainerStatus): ContainerStatusView => ({
    name: status.name,
    ready: false,
    started: false,
    restartCount: status.restartCount,
    image: status.image,
    imageID: status.imageID,
    ...(status.containerID ? { containerID: status.containerID } : {}),
    state: status.state?.terminated ? view(status.state)! : lostState(status, now),
    lastState: view(status.lastState) ?? {},
  });
  const known = new Map((pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
  const containerStatuses = (pod.spec?.containers ?? []).map((c) =>
    toView(known.get(c.name) ?? { name: c.name, ready: false, restartCount: 0, image: c.image ?? '', imageID: '' }),
  );
  return {
    uid: pod.metadata?.uid ?? '',
    phase: 'Failed',
    containerStatuses,
    initContainerStatuses: (pod.status?.initContainerStatuses ?? []).map(toView),
    ready: false,
    ...(pod.status?.startTime ? { startTime: pod.status.startTime } : {}),
  };
}
