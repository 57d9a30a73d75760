/**
 * The ReplicationController controller: keeps `spec.replicas` pods matching an RC's selector,
 * created from its template (kube's ReplicationManager, which is the ReplicaSet controller).
 *
 * One reconcile of an RC, level-triggered:
 *
 *  1. read the RC and the namespace's pods from the cache;
 *  2. ask the {@link ReplicaExpectations} whether the cache has caught up with the creates and
 *     deletes issued earlier — if not, this reconcile only reports status;
 *  3. claim pods: keep the active pods it controls whose labels still match, release the ones
 *     whose labels stopped matching, adopt matching orphans (after checking, uncached, that the
 *     RC is neither deleted nor replaced);
 *  4. create the missing pods in slow-start batches (1, 2, 4, …), or delete the surplus ones in
 *     the order of {@link podsToDelete} (kube's ranking, keeping the spread across nodes even) —
 *     at most {@link BURST_REPLICAS} per reconcile, and nothing while the RC is being deleted;
 *  5. write the status if it changed; fail (and so retry with backoff) if a create or delete
 *     failed, or come back when a ready pod is due to become available.
 *
 * Deleting an RC is the registry's and the garbage collector's business (an RC deleted without
 * a propagation policy orphans its pods); this controller only stops managing an RC that has a
 * deletionTimestamp, so it never recreates what is being taken down.
 */
import { inject } from 'inversify';
import {
  ApiError,
  ApiReader,
  Client,
  Clock,
  Controller,
  EventRecorder,
  getControllerOf,
  isConflict,
  isNotFound,
  Pod,
  ReplicationController,
  requestFor,
  setControllerReference,
  Watches,
  type ReconcileContext,
  type ReconcileRequest,
  type Reconciler,
  type ReplicationControllerStatus,
  type Result,
} from '../../lib/index.js';
import { ReplicaExpectations } from './expectations.js';
import { isPodActive, podFromTemplate, selectorMatches } from './pods.js';
import { SLOW_START_INITIAL_BATCH_SIZE, slowStartBatch } from './slow-start.js';
import { calculateStatus, messageOf, nextAvailableInMs, statusChanged, type ManageOutcome } from './status.js';
import { podsToDelete } from './victims.js';

/** The most pods one reconcile creates or deletes (kube's BurstReplicas). */
export const BURST_REPLICAS = 500;

/** Keeps each ReplicationController's pods at `spec.replicas` (see the file header). */
@Controller({ for: ReplicationController, owns: [Pod], concurrency: 5 })
export class ReplicationReconciler implements Reconciler<ReplicationController> {
  /** Creates and deletes issued and not yet seen in the cache, per RC. */
  readonly expectations: ReplicaExpectations;

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ApiReader) private readonly apiReader: ApiReader,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Clock) private readonly clock: Clock,
  ) {
    this.expectations = new ReplicaExpectations(clock);
  }

  /**
   * Every pod event passes here. It feeds the expectations (a create or delete observed), and
   * maps an orphan pod — no controller, not being deleted — to the RCs of its namespace whose
   * selector matches it, so they can adopt it. Pods with a controller reach their RC through
   * `owns`.
   */
  @Watches(Pod)
  async podToReplicationControllers(pod: Pod): Promise<ReconcileRequest[]> {
    this.expectations.observe(pod);
    const namespace = pod.metadata?.namespace;
    if (!namespace || getControllerOf(pod) || pod.metadata?.deletionTimestamp) return [];
    const { items } = await this.client.list(ReplicationController, { namespace });
    return items.filter((rc) => selectorMatches(rc.spec?.selector, pod.metadata?.labels)).map(requestFor);
  }

  /**
   * Brings one RC's pods in line with it (the steps are in the file header). Throws when a
   * claim, create or delete failed, so the runtime retries with backoff; asks to come back when
   * a pod is due to become available or pending expectations are due to expire.
   */
  async reconcile({ namespace, name }: ReconcileRequest, context?: ReconcileContext): Promise<Result | void> {
    const key = `${namespace}/${name}`;
    let rc: ReplicationController;
    try {
      rc = await this.client.get(ReplicationController, name, { namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.expectations.forget(key);
      return;
    }
    const { items: namespacePods } = await this.client.list(Pod, { namespace });
    // Asked of the same list that is counted below: one snapshot of the cache decides both.
    const needsSync = this.expectations.satisfied(key, namespacePods);
    const pods = await this.claimPods(rc, namespacePods.filter(isPodActive));

    let outcome: ManageOutcome = {};
    if (!needsSync) {
      context?.logger.debug({ pending: this.expectations.pending(key) }, 'waiting for the cache to show earlier creates and deletes');
    } else if (!rc.metadata?.deletionTimestamp) {
      outcome = await this.manageReplicas(rc, pods, key);
    }

    const now = this.clock.now();
    const status = calculateStatus(rc, pods, outcome, now);
    if (statusChanged(rc.status, status)) await this.writeStatus(rc, status);
    if (outcome.error !== undefined) throw outcome.error;

    const waits = [needsSync ? undefined : this.expectations.expiresInMs(key), nextAvailableInMs(rc, pods, now)].filter((ms) => ms !== undefined);
    return waits.length > 0 ? { requeueAfterMs: Math.max(1, Math.min(...waits)) } : undefined;
  }

  /**
   * kube's ClaimPods: answers the active pods this RC controls and whose labels match its
   * selector, adopting matching orphans and releasing controlled pods that no longer match
   * (neither while the RC is being deleted). Failures do not stop the others; they are thrown
   * together at the end, so the reconcile retries before acting on an incomplete set of pods.
   */
  private async claimPods(rc: ReplicationController, activePods: Pod[]): Promise<Pod[]> {
    const selector = rc.spec?.selector;
    const beingDeleted = Boolean(rc.metadata?.deletionTimestamp);
    const claimed: Pod[] = [];
    const errors: unknown[] = [];
    let canAdopt: Promise<void> | undefined;
    for (const pod of activePods) {
      const controller = getControllerOf(pod);
      const matches = selectorMatches(selector, pod.metadata?.labels);
      try {
        if (controller) {
          if (controller.uid !== rc.metadata?.uid) continue; // someone else's
          if (matches) claimed.push(pod);
          else if (!beingDeleted) await this.release(rc, pod);
          continue;
        }
        if (beingDeleted || !matches) continue;
        // The cached RC may be stale: adopt only for the RC that exists now, and is not going.
        canAdopt ??= this.recheckNotDeleted(rc);
        await canAdopt;
        claimed.push(await this.adopt(rc, pod));
      } catch (err) {
        if (!isNotFound(err)) errors.push(err); // a pod gone meanwhile needs nothing
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `[${errors.map(messageOf).join(', ')}]`);
    return claimed;
  }

  /** kube's RecheckDeletionTimestamp: the RC, read uncached, is the same object and not being deleted. */
  private async recheckNotDeleted(rc: ReplicationController): Promise<void> {
    const { name, namespace, uid } = rc.metadata ?? {};
    const fresh = await this.apiReader.get(ReplicationController, name ?? '', { namespace: namespace ?? '' });
    if (fresh.metadata?.uid !== uid) {
      throw new ApiError({ code: 409, reason: 'Conflict', message: `original ReplicationController ${namespace}/${name} is gone: got uid ${fresh.metadata?.uid}, wanted ${uid}` });
    }
    if (fresh.metadata?.deletionTimestamp) {
      throw new ApiError({ code: 409, reason: 'Conflict', message: `${namespace}/${name} has just been deleted at ${fresh.metadata.deletionTimestamp}` });
    }
  }

  /**
   * Makes the RC the pod's controller. A strategic merge patch adds just our reference (others'
   * references stay); the pod's uid in the patch makes it fail if the name now holds another pod.
   */
  private async adopt(rc: ReplicationController, pod: Pod): Promise<Pod> {
    const adopted = structuredClone(pod);
    setControllerReference(rc, adopted);
    const patch = { metadata: { ownerReferences: [getControllerOf(adopted)], uid: pod.metadata?.uid } };
    return this.client.patch(Pod, pod.metadata?.name ?? '', patch, { namespace: pod.metadata?.namespace ?? '', type: 'strategic' });
  }

  /** Removes the RC's reference from a pod whose labels no longer match (the pod lives on, orphaned). */
  private async release(rc: ReplicationController, pod: Pod): Promise<void> {
    const patch = { metadata: { ownerReferences: [{ $patch: 'delete', uid: rc.metadata?.uid }], uid: pod.metadata?.uid } };
    await this.client.patch(Pod, pod.metadata?.name ?? '', patch, { namespace: pod.metadata?.namespace ?? '', type: 'strategic' });
  }

  /** kube's manageReplicas: creates or deletes pods towards `spec.replicas`, at most BURST_REPLICAS. */
  private async manageReplicas(rc: ReplicationController, pods: Pod[], key: string): Promise<ManageOutcome> {
    const diff = pods.length - (rc.spec?.replicas ?? 1);
    if (diff < 0) {
      const count = Math.min(-diff, BURST_REPLICAS);
      const { error } = await slowStartBatch(count, SLOW_START_INITIAL_BATCH_SIZE, () => this.createPod(rc, key));
      return error === undefined ? {} : { error, reason: 'FailedCreate' };
    }
    if (diff > 0) {
      const victims = podsToDelete(pods, Math.min(diff, BURST_REPLICAS), this.clock.now());
      this.expectations.deletionsIssued(key, victims);
      const errors = await Promise.all(victims.map((pod) => this.deletePod(rc, key, pod)));
      const error = errors.find((e) => e !== undefined);
      return error === undefined ? {} : { error, reason: 'FailedDelete' };
    }
    return {};
  }

  /** Creates one pod from the template; throws on failure (after a `FailedCreate` event). */
  private async createPod(rc: ReplicationController, key: string): Promise<void> {
    this.expectations.creationIssued(key);
    let created: Pod;
    try {
      created = await this.client.create(podFromTemplate(rc));
    } catch (err) {
      this.expectations.creationFailed(key);
      // Every create fails in a namespace being deleted; that is no failure of this RC (kube).
      if (isNamespaceTerminating(err)) return;
      this.events.eventf(rc, 'Warning', 'FailedCreate', 'Error creating: %s', messageOf(err));
      throw err;
    }
    this.expectations.creationSucceeded(key, created);
    this.events.eventf(rc, 'Normal', 'SuccessfulCreate', 'Created pod: %s', created.metadata?.name ?? '');
  }

  /**
   * Deletes one pod, pinned to its uid; answers the failure, if any (after a `FailedDelete`
   * event). A pod already gone — not found, or its name now holding another pod — is no failure.
   */
  private async deletePod(rc: ReplicationController, key: string, pod: Pod): Promise<unknown> {
    const { name = '', namespace = '', uid } = pod.metadata ?? {};
    try {
      await this.client.delete(Pod, name, { namespace, ...(uid ? { preconditions: { uid } } : {}) });
    } catch (err) {
      this.expectations.deletionFailed(key, pod);
      if (isNotFound(err) || isConflict(err)) return undefined;
      this.events.eventf(rc, 'Warning', 'FailedDelete', 'Error deleting: %s', messageOf(err));
      return err;
    }
    this.events.eventf(rc, 'Normal', 'SuccessfulDelete', 'Deleted pod: %s', name);
    return undefined;
  }

  /**
   * Writes the status through `/status`. On a conflict (the RC changed since the cache saw it)
   * it re-reads the RC uncached and tries once more, as kube's updateReplicaSetStatus.
   */
  private async writeStatus(rc: ReplicationController, status: ReplicationControllerStatus): Promise<void> {
    try {
      await this.client.updateStatus({ ...rc, status });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    const { name = '', namespace = '', uid } = rc.metadata ?? {};
    const fresh = await this.apiReader.get(ReplicationController, name, { namespace });
    if (fresh.metadata?.uid !== uid || !statusChanged(fresh.status, status)) return;
    await this.client.updateStatus({ ...fresh, status });
  }
}

/** True if a create failed because its namespace is being deleted (the `NamespaceTerminating` cause). */
function isNamespaceTerminating(err: unknown): boolean {
  return err instanceof ApiError && (err.details?.causes ?? []).some((cause) => cause.reason === 'NamespaceTerminating');
}
