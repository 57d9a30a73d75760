/**
 * What the garbage collector does to objects, through the public Client only, each write pinned
 * to the object it was decided on — so a recreated object (same name, new uid) or one changed
 * meanwhile is never hit by a decision about another:
 *
 * - deletes carry a uid precondition;
 * - ownerReference patches carry the uid and the resourceVersion they were computed from, and
 *   are recomputed on a conflict;
 * - finalizer removal goes through `removeFinalizer`, which does the same.
 */
import { isConflict, isNotFound, removeFinalizer, type Client, type KubeObject, type OwnerReference } from '../../lib/index.js';
import type { ObjectIdentity } from './graph.js';

/** Attempts at a patch that keeps meeting concurrent writers (client-go's retry.DefaultRetry). */
const MAX_PATCH_ATTEMPTS = 5;

/** How a dependent is deleted. */
export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';

/** The object operations of the collector over one Client (see the file header). */
export class ObjectOperations {
  constructor(private readonly client: Client) {}

  /** The object as stored now, or undefined if it is gone or was recreated under a new uid. */
  async getLatest(identity: ObjectIdentity): Promise<KubeObject | undefined> {
    const current = await this.get(identity.apiVersion, identity.kind, identity.name, identity.namespace);
    return current?.metadata?.uid === identity.uid ? current : undefined;
  }

  /** The object of this kind and name (in `namespace` when namespaced), or undefined if absent. */
  async get(apiVersion: string, kind: string, name: string, namespace: string): Promise<KubeObject | undefined> {
    try {
      return await this.client.get<KubeObject>({ apiVersion, kind }, name, namespace ? { namespace } : {});
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Deletes the object if it still has its uid; gone or recreated is not an error. */
  async delete(identity: ObjectIdentity, propagationPolicy: PropagationPolicy): Promise<void> {
    try {
      await this.client.delete<KubeObject>({ apiVersion: identity.apiVersion, kind: identity.kind }, identity.name, {
        ...(identity.namespace ? { namespace: identity.namespace } : {}),
        preconditions: { uid: identity.uid },
        propagationPolicy,
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /** Removes the references to `ownerUids` from the object (if it still has its uid). */
  removeOwnerReferences(identity: ObjectIdentity, ownerUids: readonly string[]): Promise<void> {
    const remove = new Set(ownerUids);
    return this.patchOwnerReferences(identity, (refs) => (refs.some((ref) => remove.has(ref.uid)) ? refs.filter((ref) => !remove.has(ref.uid)) : undefined));
  }

  /**
   * Makes every blocking reference of the object non-blocking (kube's unblockOwnerReferences):
   * used before deleting it in the foreground when a dependent of it is itself waiting for its
   * own dependents, which could otherwise wait for each other forever.
   */
  unblockOwnerReferences(identity: ObjectIdentity): Promise<void> {
    return this.patchOwnerReferences(identity, (refs) =>
      refs.some((ref) => ref.blockOwnerDeletion) ? refs.map((ref) => (ref.blockOwnerDeletion ? { ...ref, blockOwnerDeletion: false } : ref)) : undefined,
    );
  }

  /** Removes `finalizer` from the object (if it still has its uid). */
  async removeFinalizer(identity: ObjectIdentity, finalizer: string): Promise<void> {
    const latest = await this.getLatest(identity);
    if (!latest) return;
    try {
      await removeFinalizer(this.client, { apiVersion: identity.apiVersion, kind: identity.kind }, latest, finalizer);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Writes `change(ownerReferences)` as a merge patch pinned to the object's uid and
   * resourceVersion, re-reading on a conflict; `change` answers undefined when nothing is to do.
   */
  private async patchOwnerReferences(identity: ObjectIdentity, change: (refs: OwnerReference[]) => OwnerReference[] | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const latest = await this.getLatest(identity);
      if (!latest) return;
      const refs = change([...(latest.metadata?.ownerReferences ?? [])]);
      if (refs === undefined) return;
      const patch = { metadata: { uid: identity.uid, resourceVersion: latest.metadata?.resourceVersion, ownerReferences: refs.length ? refs : null } };
      try {
        await this.client.patch<KubeObject>({ apiVersion: identity.apiVersion, kind: identity.kind }, identity.name, patch, {
          type: 'merge',
          ...(identity.namespace ? { namespace: identity.namespace } : {}),
        });
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= MAX_PATCH_ATTEMPTS) throw err;
      }
    }
  }
}
