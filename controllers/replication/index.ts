/**
 * Replication: the controller that keeps a ReplicationController's pods at `spec.replicas`.
 *
 * A ReplicationController (RC) says "keep N pods that match this selector, made from this
 * template". {@link ReplicationReconciler} compares that with the pods it finds and closes the
 * gap — creating pods in slow-start batches, deleting the surplus in a careful order — and
 * reports what it sees in the RC's status. It is written with keelson's public API only, like any
 * user controller: `@Controller({ for: ReplicationController, owns: [Pod] })` wakes it when an RC
 * or one of its pods changes, and a `@Watches(Pod)` map function wakes the RCs an orphan pod
 * matches, so they adopt it.
 *
 * The pieces, one concept per file:
 *
 * - `controller.ts` — the reconcile loop: claim pods (adopt and release), create or delete,
 *   status; events with kube's reasons and texts (`SuccessfulCreate` "Created pod: web-x7k2p").
 * - `expectations.ts` — {@link ReplicaExpectations}: after creating or deleting, wait until the
 *   informer cache shows it, so a lagging cache never causes double creates.
 * - `victims.ts` — {@link podsToDelete}: kube's scale-down ranking, chosen one victim at a time
 *   so the survivors stay evenly spread across nodes.
 * - `slow-start.ts` — {@link slowStartBatch}: 1, 2, 4, … creates, stopping at the first failure.
 * - `status.ts` — {@link calculateStatus}: replicas, fullyLabeled, ready, available, the
 *   `ReplicaFailure` condition.
 * - `pods.ts` — pod predicates (active, ready, available) and the pod built from a template.
 *
 * ```ts
 * const manager = new Manager({ client: await connect({ store: 'memory:' }) });
 * manager.add(ReplicationReconciler);
 * await manager.start();
 * ```
 */
export { BURST_REPLICAS, ReplicationReconciler } from './controller.js';
export { EXPECTATIONS_TIMEOUT_MS, ReplicaExpectations, type PendingExpectations } from './expectations.js';
export { isPodActive, isPodAvailable, isPodReady, podFromTemplate, selectorMatches } from './pods.js';
export { SLOW_START_INITIAL_BATCH_SIZE, slowStartBatch, type SlowStartOutcome } from './slow-start.js';
export { calculateStatus, REPLICA_FAILURE, statusChanged, type ManageOutcome } from './status.js';
export { compareForDeletion, POD_DELETION_COST_ANNOTATION, podsToDelete } from './victims.js';
