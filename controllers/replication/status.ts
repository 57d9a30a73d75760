/**
 * The status a ReplicationController reports (kube's `calculateStatus` for ReplicaSets): how
 * many pods it has, how many carry all of the template's labels, are ready, and have been ready
 * for `minReadySeconds`; which generation of the spec that describes; and whether creating or
 * deleting pods is failing (the `ReplicaFailure` condition).
 */
import { formatTimestamp, type Pod, type ReplicationController, type ReplicationControllerCondition, type ReplicationControllerStatus } from '../../lib/index.js';
import { isPodAvailable, isPodReady, readySinceMs } from './pods.js';

/** The condition type reporting failed creates or deletes. */
export const REPLICA_FAILURE = 'ReplicaFailure';

/** How the last attempt to create or delete pods ended, for the `ReplicaFailure` condition. */
export interface ManageOutcome {
  /** The first failure, if any. */
  error?: unknown;
  /** `FailedCreate` or `FailedDelete` (kube's reasons), when `error` is set. */
  reason?: 'FailedCreate' | 'FailedDelete';
}

/**
 * The status for `rc` whose active, owned pods are `pods`, at `nowMs`. The `ReplicaFailure`
 * condition is added when `outcome` carries an error and the condition is absent (an existing
 * one keeps its first message and transition time, as kube), and removed when it carries none.
 * Other conditions are kept.
 */
export function calculateStatus(rc: ReplicationController, pods: readonly Pod[], outcome: ManageOutcome, nowMs: number): ReplicationControllerStatus {
  const templateLabels = Object.entries(rc.spec?.template?.metadata?.labels ?? {});
  const minReadySeconds = rc.spec?.minReadySeconds ?? 0;
  let fullyLabeledReplicas = 0;
  let readyReplicas = 0;
  let availableReplicas = 0;
  for (const pod of pods) {
    if (templateLabels.every(([key, value]) => pod.metadata?.labels?.[key] === value)) fullyLabeledReplicas++;
    if (isPodReady(pod)) {
      readyReplicas++;
      if (isPodAvailable(pod, minReadySeconds, nowMs)) availableReplicas++;
    }
  }
  let conditions = [...(rc.status?.conditions ?? [])];
  const failure = conditions.find((c) => c.type === REPLICA_FAILURE);
  if (outcome.error !== undefined && !failure) {
    conditions.push({
      type: REPLICA_FAILURE,
      status: 'True',
      lastTransitionTime: formatTimestamp(nowMs),
      reason: outcome.reason ?? '',
      message: messageOf(outcome.error),
    } satisfies ReplicationControllerCondition);
  } else if (outcome.error === undefined && failure) {
    conditions = conditions.filter((c) => c.type !== REPLICA_FAILURE);
  }
  return {
    replicas: pods.length,
    fullyLabeledReplicas,
    readyReplicas,
    availableReplicas,
    observedGeneration: rc.metadata?.generation ?? 0,
    ...(conditions.length > 0 ? { conditions } : {}),
  };
}

/** True if writing `next` over `current` would change anything (absent counters read as 0). */
export function statusChanged(current: ReplicationControllerStatus | undefined, next: ReplicationControllerStatus): boolean {
  const counters = ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const;
  if (counters.some((field) => (current?.[field] ?? 0) !== (next[field] ?? 0))) return true;
  return JSON.stringify(current?.conditions ?? []) !== JSON.stringify(next.conditions ?? []);
}

/**
 * Milliseconds until the next of `pods` that is ready but not yet available becomes available;
 * undefined when none will (no `minReadySeconds`, or every ready pod is available already).
 */
export function nextAvailableInMs(rc: ReplicationController, pods: readonly Pod[], nowMs: number): number | undefined {
  const minReadyMs = (rc.spec?.minReadySeconds ?? 0) * 1000;
  if (minReadyMs <= 0) return undefined;
  let next: number | undefined;
  for (const pod of pods) {
    const since = readySinceMs(pod);
    if (since === undefined) continue;
    const remaining = since + minReadyMs - nowMs;
    if (remaining > 0 && (next === undefined || remaining < next)) next = remaining;
  }
  return next;
}

/** The message of an error value as Go's `%v` renders it. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
