/**
 * Which pods go first when a ReplicationController scales down.
 *
 * The ranking is kube's (`ActivePodsWithRanks.Less` with LogarithmicScaleDown, 1.21+): a pod
 * goes before another when, at the first criterion that tells them apart, it is
 *
 *  1. unassigned (no `spec.nodeName`) while the other is assigned;
 *  2. in an earlier phase: Pending < Unknown < Running;
 *  3. not ready while the other is ready;
 *  4. of lower `controller.kubernetes.io/pod-deletion-cost` (annotation, default 0);
 *  5. on a node with more of this RC's active pods ("doubled up" before alone);
 *  6. both ready, ready for less time — compared by log2 buckets of the time since (two pods in
 *     one bucket are ordered by uid, kube's deliberate randomisation);
 *  7. restarted more (max container restart count, then max sidecar restart count);
 *  8. created later — log2 buckets again, a missing timestamp first, uid within a bucket.
 *
 * Pods equal on all of these are ordered by uid, then name, so the choice is deterministic.
 *
 * **The spread.** kube counts criterion 5 once, before choosing, so every victim is chosen with
 * the node counts of the unscaled RC (k/k#124149): 6 pods on nodes 3/2/1 scaled to 3 rank the
 * three pods on the first node highest and delete all of them, leaving 0/2/1. Here victims are
 * chosen one at a time, and each choice lowers its node's count before the next one is ranked.
 * Among pods that criteria 1–4 cannot tell apart, every pick therefore takes a pod from a node
 * that currently holds the most of the RC's pods — so the survivors end up as evenly spread as
 * the nodes allow: 3/2/1 → 3 leaves 1/1/1, and 2/2/1 → 2 leaves two pods on two different
 * nodes. Criteria 1–4 still come first: an unassigned, pending or not-ready pod, or one with a
 * lower deletion cost, goes before a healthy pod whatever the spread.
 *
 * The counts are over the RC's own active pods (kube also counts pods of sibling ReplicaSets of
 * one Deployment; an RC has no siblings).
 */
import type { Pod } from '../../lib/index.js';
import { isPodActive, isPodReady, parseTime, readySinceMs } from './pods.js';

/** The annotation that ranks pods for deletion by their owner's wish (kube's PodDeletionCost). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** Phases by how early they go (kube's podPhaseToOrdinal; unlisted phases rank as Pending). */
const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** A candidate's facts, read once. */
interface Candidate {
  pod: Pod;
  node: string;
  phase: number;
  ready: boolean;
  deletionCost: number;
  readySinceMs: number | undefined;
  restarts: number;
  sidecarRestarts: number;
  createdMs: number | undefined;
  uid: string;
  name: string;
}

/**
 * The `count` pods of `pods` to delete first, in deletion order (see the file header).
 * `pods` are the RC's active pods; `nowMs` is the time the log2 buckets are measured from.
 */
export function podsToDelete(pods: readonly Pod[], count: number, nowMs: number): Pod[] {
  if (count <= 0) return [];
  const candidates = pods.map(candidateOf);
  const podsOnNode = new Map<string, number>();
  for (const pod of pods) {
    if (isPodActive(pod)) podsOnNode.set(pod.spec?.nodeName ?? '', (podsOnNode.get(pod.spec?.nodeName ?? '') ?? 0) + 1);
  }
  const victims: Pod[] = [];
  while (victims.length < count && candidates.length > 0) {
    let best = 0;
    for (let i = 1; i < candidates.length; i++) {
      if (compareCandidates(candidates[i]!, candidates[best]!, podsOnNode, nowMs) < 0) best = i;
    }
    const [victim] = candidates.splice(best, 1);
    victims.push(victim!.pod);
    if (isPodActive(victim!.pod)) podsOnNode.set(victim!.node, (podsOnNode.get(victim!.node) ?? 1) - 1);
  }
  return victims;
}

/**
 * kube's ranking of two pods, with `podsOnNode` as the colocation counts: negative if `a` goes
 * before `b`, positive if after, 0 if they are equal (no tie-break).
 */
export function compareForDeletion(a: Pod, b: Pod, podsOnNode: ReadonlyMap<string, number>, nowMs: number): number {
  return compareRank(candidateOf(a), candidateOf(b), podsOnNode, nowMs);
}

function compareCandidates(a: Candidate, b: Candidate, podsOnNode: ReadonlyMap<string, number>, nowMs: number): number {
  return compareRank(a, b, podsOnNode, nowMs) || compareStrings(a.uid, b.uid) || compareStrings(a.name, b.name);
}

function compareRank(a: Candidate, b: Candidate, podsOnNode: ReadonlyMap<string, number>, nowMs: number): number {
  // 1. Unassigned before assigned.
  if (a.node !== b.node && (a.node === '' || b.node === '')) return a.node === '' ? -1 : 1;
  // 2. Pending < Unknown < Running.
  if (a.phase !== b.phase) return a.phase - b.phase;
  // 3. Not ready before ready.
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  // 4. Lower deletion cost first.
  if (a.deletionCost !== b.deletionCost) return a.deletionCost < b.deletionCost ? -1 : 1;
  // 5. More of the RC's pods on the same node first.
  const colocatedA = podsOnNode.get(a.node) ?? 0;
  const colocatedB = podsOnNode.get(b.node) ?? 0;
  if (colocatedA !== colocatedB) return colocatedB - colocatedA;
  // 6. Ready for less time first.
  if (a.ready && b.ready && a.readySinceMs !== b.readySinceMs) return compareTimes(a.readySinceMs, b.readySinceMs, a.uid, b.uid, nowMs);
  // 7. More restarts first.
  if (a.restarts !== b.restarts) return b.restarts - a.restarts;
  if (a.sidecarRestarts !== b.sidecarRestarts) return b.sidecarRestarts - a.sidecarRestarts;
  // 8. Newer first.
  if (a.createdMs !== b.createdMs) return compareTimes(a.createdMs, b.createdMs, a.uid, b.uid, nowMs);
  return 0;
}

/**
 * Orders two different times, the later (younger) first: a missing time goes first; otherwise
 * the log2 buckets of their age in nanoseconds decide, and the uids order pods in one bucket
 * (kube's logarithmicRankDiff, with Go's time.Duration units so the buckets are kube's).
 */
function compareTimes(aMs: number | undefined, bMs: number | undefined, aUid: string, bUid: string, nowMs: number): number {
  if (aMs === undefined || bMs === undefined) return aMs === undefined ? -1 : 1;
  const bucketDiff = ageBucket(aMs, nowMs) - ageBucket(bMs, nowMs);
  if (bucketDiff === 0) return compareStrings(aUid, bUid);
  return bucketDiff;
}

/** floor(log2(age in ns)), or -1 for a time not in the past. */
function ageBucket(timeMs: number, nowMs: number): number {
  const ageNs = (nowMs - timeMs) * 1e6;
  return ageNs > 0 ? Math.floor(Math.log2(ageNs)) : -1;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function candidateOf(pod: Pod): Candidate {
  const ready = isPodReady(pod);
  const { restarts, sidecarRestarts } = maxRestarts(pod);
  return {
    pod,
    node: pod.spec?.nodeName ?? '',
    phase: PHASE_ORDINAL[pod.status?.phase ?? ''] ?? 0,
    ready,
    deletionCost: deletionCostOf(pod),
    readySinceMs: ready ? readySinceMs(pod) : undefined,
    restarts,
    sidecarRestarts,
    createdMs: parseTime(pod.metadata?.creationTimestamp),
    uid: pod.metadata?.uid ?? '',
    name: pod.metadata?.name ?? '',
  };
}

/**
 * The pod's deletion cost: the annotation as a 32-bit integer, 0 when absent or invalid (the API
 * rejects invalid values; a pod from before that check must not break scale-down).
 */
function deletionCostOf(pod: Pod): number {
  const raw = pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION];
  if (raw === undefined || !/^[+-]?\d+$/.test(raw.trim())) return 0;
  const value = Number(raw.trim());
  return value >= -(2 ** 31) && value < 2 ** 31 ? value : 0;
}

/** Max restart counts of the regular containers and of the sidecars (init containers with `restartPolicy: Always`). */
function maxRestarts(pod: Pod): { restarts: number; sidecarRestarts: number } {
  const restarts = Math.max(0, ...(pod.status?.containerStatuses ?? []).map((s) => s.restartCount ?? 0));
  const sidecars = new Set((pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  const sidecarRestarts = Math.max(0, ...(pod.status?.initContainerStatuses ?? []).filter((s) => sidecars.has(s.name)).map((s) => s.restartCount ?? 0));
  return { restarts, sidecarRestarts };
}
