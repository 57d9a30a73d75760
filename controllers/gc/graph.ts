/**
 * The dependency graph: every object the monitors observe, by uid, with the ownerReferences it
 * holds — and the reverse, the dependents of each owner uid. It is kube's GraphBuilder state,
 * fed synchronously by informer events, and it decides what needs a look:
 *
 * - `attemptToDelete(uid)` — a dependent whose owner is gone, unobserved, referenced wrongly or
 *   deleting its dependents (foreground); or an owner deleting its dependents, when one of its
 *   blocking dependents went away (maybe it can go now);
 * - `attemptToOrphan(uid)` — an owner being deleted with the `orphan` finalizer.
 *
 * An owner uid referenced but never observed is kube's "virtual node": its dependents are looked
 * at, and the worker checks the owner against the source. The dependents of an owner are kept as
 * long as objects reference it, so an owner observed late — or deleted — still finds them.
 */
import type { KubeObject, OwnerReference } from '../../lib/index.js';
import { groupKind } from './discovery.js';

/** The finalizer of an owner whose dependents are being orphaned. */
export const ORPHAN_FINALIZER = 'orphan';
/** The finalizer of an owner waiting for its blocking dependents to be deleted (foreground). */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

/** Where an object is: its kind, namespace ('' when cluster-scoped), name and uid. */
export interface ObjectIdentity {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

/** What the graph knows of one observed object. */
export interface GraphNode {
  readonly identity: ObjectIdentity;
  readonly owners: readonly OwnerReference[];
  /** It has a deletionTimestamp. */
  readonly beingDeleted: boolean;
  /** Being deleted with the `foregroundDeletion` finalizer: waiting for its blocking dependents. */
  readonly deletingDependents: boolean;
  /** Being deleted with the `orphan` finalizer: its dependents lose their reference to it. */
  readonly orphaningDependents: boolean;
}

/** What the graph asks of the collector's workers. */
export interface GraphWork {
  attemptToDelete(uid: string): void;
  attemptToOrphan(uid: string): void;
}

/** The identity of an object as the store returns it. */
export function identityOf(obj: KubeObject): ObjectIdentity {
  const meta = obj.metadata ?? {};
  return { apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '', namespace: meta.namespace ?? '', name: meta.name ?? '', uid: meta.uid ?? '' };
}

/**
 * True if `ref`, held by `dependent`, names `owner`: same group, kind and name, and — for a
 * namespaced owner — the dependent's namespace (a reference never crosses namespaces).
 */
export function refersTo(ref: OwnerReference, dependent: ObjectIdentity, owner: ObjectIdentity): boolean {
  return (
    ref.uid === owner.uid &&
    ref.name === owner.name &&
    groupKind(ref.apiVersion, ref.kind) === groupKind(owner.apiVersion, owner.kind) &&
    (owner.namespace === '' || owner.namespace === dependent.namespace)
  );
}

function isBlocking(ref: OwnerReference | undefined): boolean {
  return ref?.blockOwnerDeletion === true;
}

/** The dependency graph (see the file header). */
export class DependencyGraph {
  private readonly nodes = new Map<string, GraphNode>();
  /** Owner uid → uids of observed objects referencing it. */
  private readonly dependents = new Map<string, Set<string>>();

  constructor(private readonly work: GraphWork) {}

  /** The number of observed objects. */
  get size(): number {
    return this.nodes.size;
  }

  /** The observed object with this uid. */
  node(uid: string): GraphNode | undefined {
    return this.nodes.get(uid);
  }

  /** The observed objects referencing `ownerUid`. */
  dependentsOf(ownerUid: string): GraphNode[] {
    return [...(this.dependents.get(ownerUid) ?? [])].flatMap((uid) => this.nodes.get(uid) ?? []);
  }

  /** The dependents whose reference to `ownerUid` blocks its foreground deletion. */
  blockingDependentsOf(ownerUid: string): GraphNode[] {
    return this.dependentsOf(ownerUid).filter((dep) => isBlocking(dep.owners.find((ref) => ref.uid === ownerUid)));
  }

  /**
   * True if every owner of `node` is observed, referenced correctly and not deleting its
   * dependents: nothing to do for it until one of them changes (their events will say so).
   */
  ownersLookSolid(node: GraphNode): boolean {
    return node.owners.every((ref) => {
      const owner = this.nodes.get(ref.uid);
      return owner !== undefined && !owner.deletingDependents && refersTo(ref, node.identity, owner.identity);
    });
  }

  /** An object was added or updated. */
  observe(obj: KubeObject): void {
    const identity = identityOf(obj);
    if (!identity.uid) return;
    const meta = obj.metadata ?? {};
    const finalizers = meta.finalizers ?? [];
    const beingDeleted = !!meta.deletionTimestamp;
    const node: GraphNode = {
      identity,
      owners: meta.ownerReferences ?? [],
      beingDeleted,
      deletingDependents: beingDeleted && finalizers.includes(FOREGROUND_FINALIZER),
      orphaningDependents: beingDeleted && finalizers.includes(ORPHAN_FINALIZER),
    };
    const previous = this.nodes.get(identity.uid);
    this.nodes.set(identity.uid, node);

    // References dropped, or no longer blocking: an owner waiting for them may go now.
    for (const before of previous?.owners ?? []) {
      const now = node.owners.find((ref) => ref.uid === before.uid);
      if (!now) this.unlink(before.uid, identity.uid);
      if (isBlocking(before) && !isBlocking(now)) this.wakeOwner(before.uid);
    }
    let needsLook = false;
    for (const ref of node.owners) {
      this.link(ref.uid, identity.uid);
      const owner = this.nodes.get(ref.uid);
      if (!owner || owner.deletingDependents || !refersTo(ref, identity, owner.identity)) needsLook = true;
    }
    if (needsLook) this.work.attemptToDelete(identity.uid);

    if (!previous) {
      // First seen: dependents that referenced this uid before may name it wrongly (another
      // namespace, kind or name) — to them it does not exist.
      for (const dep of this.dependentsOf(identity.uid)) {
        const ref = dep.owners.find((r) => r.uid === identity.uid)!;
        if (!refersTo(ref, dep.identity, identity)) this.work.attemptToDelete(dep.identity.uid);
      }
    }
    if (node.orphaningDependents) this.work.attemptToOrphan(identity.uid);
    if (node.deletingDependents && !previous?.deletingDependents) {
      for (const dep of this.dependentsOf(identity.uid)) this.work.attemptToDelete(dep.identity.uid);
      this.work.attemptToDelete(identity.uid);
    }
  }

  /** An object was deleted: its dependents' owner is gone, and its owners may be waiting for it. */
  remove(obj: KubeObject): void {
    const uid = obj.metadata?.uid;
    const node = uid ? this.nodes.get(uid) : undefined;
    if (!uid || !node) return;
    this.nodes.delete(uid);
    for (const ref of node.owners) {
      this.unlink(ref.uid, uid);
      this.wakeOwner(ref.uid);
    }
    for (const dep of this.dependentsOf(uid)) this.work.attemptToDelete(dep.identity.uid);
  }

  /** Forgets the object with this uid without an event (the source says it is gone). */
  forget(uid: string): void {
    this.remove({ metadata: { uid } });
  }

  private wakeOwner(ownerUid: string): void {
    if (this.nodes.get(ownerUid)?.deletingDependents) this.work.attemptToDelete(ownerUid);
  }

  private link(ownerUid: string, dependentUid: string): void {
    let set = this.dependents.get(ownerUid);
    if (!set) this.dependents.set(ownerUid, (set = new Set()));
    set.add(dependentUid);
  }

  private unlink(ownerUid: string, dependentUid: string): void {
    const set = this.dependents.get(ownerUid);
    if (!set) return;
    set.delete(dependentUid);
    if (set.size === 0) this.dependents.delete(ownerUid);
  }
}
