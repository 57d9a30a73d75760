/**
 * Object helpers every reconciler needs, as controller-runtime's `controllerutil`: owner
 * references (so the garbage collector deletes what a controller created, and `owns` maps a
 * dependent back to its controller) and finalizers (so a controller can clean up before its
 * object goes).
 *
 * The pure functions change an object in memory and say whether they changed it; write it
 * yourself afterwards. {@link addFinalizer} and {@link removeFinalizer} write for you, safely:
 * each patch carries the resourceVersion it was computed from, so a concurrent writer's change
 * is never overwritten — on a conflict they re-read and try again.
 */
import { badRequest, isConflict } from '../api/errors.js';
import type { KubeObject, OwnerReference } from '../api/meta.js';
import { parseApiVersion, type KindRef } from '../api/resources.js';
import type { Client } from '../client/client.js';

/**
 * The object already has a different controller (controller-runtime's AlreadyOwnedError): an
 * object has at most one controller, and taking it over silently would make two controllers
 * fight over it.
 */
export class AlreadyOwnedError extends Error {
  /** A stable reason, as Kubernetes errors carry. */
  readonly reason = 'AlreadyOwned';

  constructor(
    /** The object that is already controlled. */
    readonly object: KubeObject,
    /** Its current controller. */
    readonly owner: OwnerReference,
  ) {
    const meta = object.metadata ?? {};
    super(`Object ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name ?? ''} is already owned by another ${owner.kind} controller ${owner.name}`);
    this.name = 'AlreadyOwnedError';
  }
}

/** True if `err` is an {@link AlreadyOwnedError}. */
export function isAlreadyOwnedError(err: unknown): err is AlreadyOwnedError {
  return err instanceof AlreadyOwnedError || (err instanceof Error && err.name === 'AlreadyOwnedError');
}

/** Options of {@link setControllerReference}. */
export interface ControllerReferenceOptions {
  /** Set `blockOwnerDeletion` (default true: foreground deletion of the owner waits for this object). */
  blockOwnerDeletion?: boolean;
}

/**
 * Makes `owner` the controller of `object`: adds (or refreshes) an ownerReference with
 * `controller: true, blockOwnerDeletion: true`. Changes `object` in place.
 *
 * @throws AlreadyOwnedError if another object is already its controller.
 * @throws ApiError (400) if the owner lacks apiVersion, kind, name or uid, or if the reference
 *   would cross namespaces: a namespaced owner can only own objects in its own namespace, never
 *   a cluster-scoped object (the garbage collector would treat the owner as absent).
 */
export function setControllerReference(owner: KubeObject, object: KubeObject, options: ControllerReferenceOptions = {}): void {
  const ref: OwnerReference = { ...referenceTo(owner), blockOwnerDeletion: options.blockOwnerDeletion ?? true, controller: true };
  validateOwner(owner, object);
  const existing = getControllerOf(object);
  if (existing && !referSameObject(existing, ref)) throw new AlreadyOwnedError(object, existing);
  upsertOwnerReference(object, ref);
}

/**
 * Adds `owner` as a (non-controller) owner of `object`, or replaces the reference to the same
 * owner — as controller-runtime's SetOwnerReference, which also drops a `controller` flag the
 * replaced reference had. Changes `object` in place; same validation as
 * {@link setControllerReference}.
 */
export function setOwnerReference(owner: KubeObject, object: KubeObject): void {
  const ref = referenceTo(owner);
  validateOwner(owner, object);
  upsertOwnerReference(object, ref);
}

/** The ownerReference marked `controller: true`, if any (metav1.GetControllerOf). */
export function getControllerOf(object: KubeObject): OwnerReference | undefined {
  return object.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

/** True if `owner` (matched by uid) is the controller of `object` (metav1.IsControlledBy). */
export function isControlledBy(object: KubeObject, owner: KubeObject): boolean {
  const controller = getControllerOf(object);
  return controller !== undefined && controller.uid !== '' && controller.uid === owner.metadata?.uid;
}

/** True if the object lists `finalizer`. */
export function hasFinalizer(object: KubeObject, finalizer: string): boolean {
  return object.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** Adds `finalizer` to the object in memory unless present; true if it changed the object. */
export function addFinalizerTo(object: KubeObject, finalizer: string): boolean {
  if (hasFinalizer(object, finalizer)) return false;
  object.metadata = { ...object.metadata, finalizers: [...(object.metadata?.finalizers ?? []), finalizer] };
  return true;
}

/** Removes every occurrence of `finalizer` from the object in memory; true if it changed the object. */
export function removeFinalizerFrom(object: KubeObject, finalizer: string): boolean {
  if (!hasFinalizer(object, finalizer)) return false;
  object.metadata = { ...object.metadata, finalizers: object.metadata!.finalizers!.filter((f) => f !== finalizer) };
  return true;
}

/** Options of {@link addFinalizer} and {@link removeFinalizer}. */
export interface FinalizerPatchOptions {
  /** Attempts before a persistent conflict is given up (default 5, client-go's retry.DefaultRetry). */
  maxAttempts?: number;
  /** Field manager recorded for the write. */
  fieldManager?: string;
}

/**
 * Adds `finalizer` to the stored object and answers the written object (or the current one if
 * the finalizer is already there). The patch carries the resourceVersion it was computed from,
 * so finalizers added or removed concurrently by others are never lost; on a 409 Conflict it
 * re-reads and retries up to `maxAttempts` times. Other errors (NotFound included) propagate.
 */
export function addFinalizer<T extends KubeObject>(client: Client, kind: KindRef<T>, object: T, finalizer: string, options: FinalizerPatchOptions = {}): Promise<T> {
  return patchFinalizers(client, kind, object, options, (finalizers) => (finalizers.includes(finalizer) ? undefined : [...finalizers, finalizer]));
}

/**
 * Removes `finalizer` from the stored object and answers the written object (or the current one
 * if it is not there). Safe under concurrent modification, as {@link addFinalizer}. Removing the
 * last finalizer of an object being deleted lets the deletion complete.
 */
export function removeFinalizer<T extends KubeObject>(client: Client, kind: KindRef<T>, object: T, finalizer: string, options: FinalizerPatchOptions = {}): Promise<T> {
  return patchFinalizers(client, kind, object, options, (finalizers) =>
    finalizers.includes(finalizer) ? finalizers.filter((f) => f !== finalizer) : undefined,
  );
}

/**
 * Writes `change(finalizers)` as a merge patch pinned to the object's resourceVersion (a stale
 * version is a 409 on every source), re-reading on conflict. `change` answers undefined when
 * there is nothing to do.
 */
async function patchFinalizers<T extends KubeObject>(
  client: Client,
  kind: KindRef<T>,
  object: T,
  options: FinalizerPatchOptions,
  change: (finalizers: string[]) => string[] | undefined,
): Promise<T> {
  const name = object.metadata?.name;
  if (!name) throw badRequest('the object needs metadata.name to patch its finalizers');
  const namespace = object.metadata?.namespace;
  const read = () => client.get(kind, name, namespace ? { namespace } : {});
  const maxAttempts = options.maxAttempts ?? 5;
  let current = object.metadata?.resourceVersion ? object : await read();
  for (let attempt = 1; ; attempt++) {
    const finalizers = change([...(current.metadata?.finalizers ?? [])]);
    if (finalizers === undefined) return current;
    const patch = { metadata: { resourceVersion: current.metadata!.resourceVersion, finalizers } };
    try {
      return await client.patch(kind, name, patch, {
        type: 'merge',
        ...(namespace ? { namespace } : {}),
        ...(options.fieldManager ? { fieldManager: options.fieldManager } : {}),
      });
    } catch (err) {
      if (!isConflict(err) || attempt >= maxAttempts) throw err;
      current = await read();
    }
  }
}

/** The ownerReference naming `owner` (without the controller flags). */
function referenceTo(owner: KubeObject): OwnerReference {
  const meta = owner.metadata ?? {};
  const missing = [
    ['apiVersion', owner.apiVersion],
    ['kind', owner.kind],
    ['metadata.name', meta.name],
    ['metadata.uid', meta.uid],
  ].flatMap(([field, value]) => (value ? [] : [field]));
  if (missing.length > 0) throw badRequest(`the owner lacks ${missing.join(', ')}: only a stored object (read or created through a Client) can be an owner`);
  return { apiVersion: owner.apiVersion!, kind: owner.kind!, name: meta.name!, uid: meta.uid! };
}

/** controller-runtime's validateOwner: no cross-namespace references, no namespaced owner of a cluster-scoped object. */
function validateOwner(owner: KubeObject, object: KubeObject): void {
  const ownerNamespace = owner.metadata?.namespace ?? '';
  if (!ownerNamespace) return;
  const objectNamespace = object.metadata?.namespace ?? '';
  if (!objectNamespace) {
    throw badRequest(`cluster-scoped resource must not have a namespace-scoped owner, owner's namespace ${ownerNamespace}`);
  }
  if (ownerNamespace !== objectNamespace) {
    throw badRequest(`cross-namespace owner references are disallowed, owner's namespace ${ownerNamespace}, obj's namespace ${objectNamespace}`);
  }
}

/** Two references name the same object: same group, kind and name (the version may differ). */
function referSameObject(a: OwnerReference, b: OwnerReference): boolean {
  return parseApiVersion(a.apiVersion).group === parseApiVersion(b.apiVersion).group && a.kind === b.kind && a.name === b.name;
}

/** Replaces the reference to the same object, or appends. */
function upsertOwnerReference(object: KubeObject, ref: OwnerReference): void {
  const owners = [...(object.metadata?.ownerReferences ?? [])];
  const index = owners.findIndex((existing) => referSameObject(existing, ref));
  if (index < 0) owners.push(ref);
  else owners[index] = ref;
  object.metadata = { ...object.metadata, ownerReferences: owners };
}
