/**
 * A pod's phase from its container statuses, as kubelet's `getPhase` computes it, and the small
 * rules around it (which init containers are sidecars, when a container restarts, how kubelet
 * names a pod in messages).
 */
import type { Container, Pod } from '../../../lib/index.js';
import type { ContainerStatusView, PodRuntimeStatus } from './types.js';

/** A restartable init container (`restartPolicy: Always`): a sidecar that keeps running. */
export function isSidecar(container: Container): boolean {
  return container.restartPolicy === 'Always';
}

/** The pod's restart policy, defaulted. */
export function restartPolicyOf(pod: Pod): 'Always' | 'OnFailure' | 'Never' {
  const policy = pod.spec?.restartPolicy;
  return policy === 'OnFailure' || policy === 'Never' ? policy : 'Always';
}

/** Whether a regular container that exited with `exitCode` is started again under `policy`. */
export function shouldRestart(policy: 'Always' | 'OnFailure' | 'Never', exitCode: number): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCode !== 0;
  return false;
}

/** kubelet's `format.Pod`: `name_namespace(uid)`. */
export function formatPod(pod: Pod): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? 'default'}(${pod.metadata?.uid ?? ''})`;
}

/**
 * kubelet's getPhase. `podIsTerminal`: the pod will run nothing more (its containers are not
 * restarted whatever the policy). `podHasInitialized`: a regular container has started, so
 * restarting sidecars do not send the pod back to Pending.
 */
export function computePhase(
  pod: Pod,
  initStatuses: ContainerStatusView[],
  statuses: ContainerStatusView[],
  podIsTerminal: boolean,
  podHasInitialized: boolean,
): PodRuntimeStatus['phase'] {
  const policy = restartPolicyOf(pod);
  const byName = new Map([...initStatuses, ...statuses].map((s) => [s.name, s]));
  let pendingInit = 0;
  let pendingSidecars = 0;
  let failedInit = 0;
  for (const container of pod.spec?.initContainers ?? []) {
    if (isSidecar(container)) continue;
    const status = byName.get(container.name);
    if (status?.state.terminated) {
      if (status.state.terminated.exitCode !== 0) failedInit++;
    } else if (status?.state.waiting && status.lastState.terminated) {
      if (status.lastState.terminated.exitCode !== 0) failedInit++;
    } else {
      pendingInit++; // running, waiting for its first run, or unknown
    }
  }
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const container of pod.spec?.initContainers ?? []) {
    if (!isSidecar(container)) continue;
    const status = byName.get(container.name);
    if (!status) {
      unknown++;
    } else if (status.state.running) {
      if (!status.started) pendingSidecars++;
      running++;
    } else if (status.state.waiting && !status.lastState.terminated) {
      pendingSidecars++;
      waiting++;
    } else if (!status.state.terminated && !status.state.waiting) {
      pendingSidecars++;
      unknown++;
    }
    // A terminated sidecar (or one waiting to restart) does not count toward the phase.
  }
  for (const container of pod.spec?.containers ?? []) {
    const status = byName.get(container.name);
    if (!status) {
      unknown++;
    } else if (status.state.running) {
      running++;
    } else if (status.state.terminated) {
      stopped++;
      if (status.state.terminated.exitCode === 0) succeeded++;
    } else if (status.state.waiting) {
      if (status.lastState.terminated) stopped++;
      else waiting++;
    } else {
      unknown++;
    }
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0 || (pendingSidecars > 0 && !podHasInitialized) || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (policy === 'Always') return 'Running'; // every container is restarting
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running'; // OnFailure: a failed container is restarting
  }
  return 'Pending';
}
