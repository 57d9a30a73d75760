/**
 * Expectations: what a ReplicationController has asked for and not yet seen (kube's
 * ControllerExpectations, UID-tracking flavour).
 *
 * The reconciler counts pods from the informer cache, and the cache lags the writes: right after
 * creating 3 pods, a cached list may still show none, and a reconcile at that moment would create
 * 3 more. So after issuing creates or deletes for an RC, the reconciler does not create or delete
 * again for it until the cache has caught up with every one of them — or until
 * {@link EXPECTATIONS_TIMEOUT_MS} passes (a lost event must not wedge an RC forever).
 *
 * The design, with the runtime keelson offers (map functions see every pod event; the reconciler
 * sees cached lists):
 *
 * - Each create's answer carries the new pod's uid; each delete names the victim's uid. The
 *   record of an RC holds those uids, not counts, so "observed" is exact and idempotent.
 * - A creation is observed when a pod event with that uid reaches the controller
 *   ({@link ReplicaExpectations.observe}, called from the pod map function for every add, update
 *   and delete) or when the uid is in the cached list the reconcile reads. The event path matters
 *   for a pod created and deleted again before the next reconcile: the cache never shows it, but
 *   its events went by. Events can even beat the create's answer; uids seen while creates are in
 *   flight are remembered until the answers arrive.
 * - A deletion is observed when the cached list no longer holds the uid, or holds it with a
 *   `deletionTimestamp` (graceful deletion: the pod no longer counts), as kube's updatePod treats
 *   a pod being deleted as deleted.
 * - {@link ReplicaExpectations.satisfied} is asked with the same cached list the reconcile then
 *   counts, so the decision and the count always describe one snapshot of the cache. The
 *   informer updates its cache before it dispatches an event, so a reconcile triggered by a pod
 *   event always finds that event's pod in (or gone from) the list.
 *
 * One instance serves one controller: keys are `namespace/name` of RCs. The runtime never
 * reconciles one key twice at once, so a record changes only from its own reconcile and from
 * event handlers, never from two reconciles racing.
 */
import type { Clock, Pod } from '../../lib/index.js';
import { getControllerOf } from '../../lib/index.js';

/** How long unobserved expectations hold an RC back (kube's ExpectationsTimeout, 5 minutes). */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

/** What one RC waits for. */
interface ExpectationRecord {
  /** Pods created (uid → name) that no event or cached list has shown yet. */
  pendingCreations: Map<string, string>;
  /** Pods asked to be deleted (uid → name) that the cache still shows alive. */
  pendingDeletions: Map<string, string>;
  /** Creates issued whose answer has not arrived yet. */
  createsInFlight: number;
  /** Uids of this RC's pods seen through events while creates were in flight. */
  seenWhileCreating: Set<string>;
  /** When expectations were last raised (ms); they expire {@link EXPECTATIONS_TIMEOUT_MS} later. */
  raisedAtMs: number;
}

/** The creates and deletes an RC waits to observe, by pod name (for logs and tests). */
export interface PendingExpectations {
  creations: string[];
  deletions: string[];
  createsInFlight: number;
}

/** The expectations of every ReplicationController one reconciler manages (see the file header). */
export class ReplicaExpectations {
  private readonly records = new Map<string, ExpectationRecord>();

  constructor(
    private readonly clock: Clock,
    /** After this long without being met, expectations are dropped (default 5 minutes). */
    readonly timeoutMs: number = EXPECTATIONS_TIMEOUT_MS,
  ) {}

  /** A create is about to be issued for the RC `key` (`namespace/name`). */
  creationIssued(key: string): void {
    const record = this.raise(key);
    record.createsInFlight++;
  }

  /** The create answered with `pod`: wait until its uid is observed. */
  creationSucceeded(key: string, pod: Pod): void {
    const record = this.records.get(key);
    if (!record) return;
    const uid = pod.metadata?.uid;
    if (uid && !record.seenWhileCreating.has(uid)) record.pendingCreations.set(uid, pod.metadata?.name ?? '');
    this.settleCreate(record);
  }

  /** The create failed: there is nothing to observe. */
  creationFailed(key: string): void {
    const record = this.records.get(key);
    if (record) this.settleCreate(record);
  }

  /** Deletes are about to be issued for `pods` of the RC `key`. */
  deletionsIssued(key: string, pods: readonly Pod[]): void {
    const record = this.raise(key);
    for (const pod of pods) {
      const uid = pod.metadata?.uid;
      if (uid) record.pendingDeletions.set(uid, pod.metadata?.name ?? '');
    }
  }

  /** The delete of `pod` failed (or found it already gone): stop waiting for it. */
  deletionFailed(key: string, pod: Pod): void {
    const uid = pod.metadata?.uid;
    if (uid) this.records.get(key)?.pendingDeletions.delete(uid);
  }

  /**
   * A pod event reached the controller (add, update or delete alike): the pod's creation is
   * observed, and so is its deletion when it carries a deletionTimestamp. Pods without a
   * ReplicationController as controller are of no concern.
   */
  observe(pod: Pod): void {
    const owner = getControllerOf(pod);
    const uid = pod.metadata?.uid;
    if (!owner || owner.kind !== 'ReplicationController' || owner.apiVersion !== 'v1' || !uid) return;
    const record = this.records.get(`${pod.metadata?.namespace ?? ''}/${owner.name}`);
    if (!record) return;
    record.pendingCreations.delete(uid);
    if (record.createsInFlight > 0) record.seenWhileCreating.add(uid);
    if (pod.metadata?.deletionTimestamp) record.pendingDeletions.delete(uid);
  }

  /**
   * True if the RC `key` may create or delete again: nothing it issued is still unobserved in
   * `cachedPods` (the namespace's pods as the cache shows them), or its expectations expired.
   * Observed and expired records are dropped.
   */
  satisfied(key: string, cachedPods: readonly Pod[]): boolean {
    const record = this.records.get(key);
    if (!record) return true;
    if (this.expired(record)) {
      this.records.delete(key);
      return true;
    }
    const cached = new Map(cachedPods.map((pod) => [pod.metadata?.uid ?? '', pod]));
    for (const uid of record.pendingCreations.keys()) {
      if (cached.has(uid)) record.pendingCreations.delete(uid);
    }
    for (const uid of record.pendingDeletions.keys()) {
      const pod = cached.get(uid);
      if (!pod || pod.metadata?.deletionTimestamp) record.pendingDeletions.delete(uid);
    }
    if (record.pendingCreations.size > 0 || record.pendingDeletions.size > 0 || record.createsInFlight > 0) return false;
    this.records.delete(key);
    return true;
  }

  /** Milliseconds until the RC's expectations expire; undefined when it has none. */
  expiresInMs(key: string): number | undefined {
    const record = this.records.get(key);
    return record ? Math.max(0, record.raisedAtMs + this.timeoutMs - this.clock.now()) : undefined;
  }

  /** What the RC `key` still waits for (empty lists when nothing). */
  pending(key: string): PendingExpectations {
    const record = this.records.get(key);
    return {
      creations: [...(record?.pendingCreations.values() ?? [])],
      deletions: [...(record?.pendingDeletions.values() ?? [])],
      createsInFlight: record?.createsInFlight ?? 0,
    };
  }

  /** Drops the RC's expectations (it was deleted). */
  forget(key: string): void {
    this.records.delete(key);
  }

  private raise(key: string): ExpectationRecord {
    let record = this.records.get(key);
    if (!record || this.expired(record)) {
      record = { pendingCreations: new Map(), pendingDeletions: new Map(), createsInFlight: 0, seenWhileCreating: new Set(), raisedAtMs: 0 };
      this.records.set(key, record);
    }
    record.raisedAtMs = this.clock.now();
    return record;
  }

  private settleCreate(record: ExpectationRecord): void {
    record.createsInFlight = Math.max(0, record.createsInFlight - 1);
    if (record.createsInFlight === 0) record.seenWhileCreating.clear();
  }

  private expired(record: ExpectationRecord): boolean {
    return this.clock.now() - record.raisedAtMs > this.timeoutMs;
  }
}
