/**
 * Per-kind behaviour of the registry — kube-apiserver's "REST strategies": defaulting, which
 * fields a create or update may set, validation, when `metadata.generation` moves, graceful
 * deletion, and what a delete answers. The registry's generic flow calls these hooks; each kind
 * only says what differs.
 */
import type { FieldError } from '../api/errors.js';
import type { KubeObject } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';

/** How dependents are treated when an owner is deleted without an explicit policy. */
export type GarbageCollectionPolicy = 'DeleteDependents' | 'OrphanDependents' | 'Unsupported';

/** The hooks the registry calls for one kind. */
export interface KindStrategy {
  readonly info: ResourceInfo;
  /** Fills in defaults (mutates). Runs on every write, as kube defaults on decode. */
  applyDefaults(obj: KubeObject): void;
  /** Normalizes a new object before validation: e.g. drops a user-supplied status. */
  prepareForCreate(obj: KubeObject): void;
  /** Normalizes an update of the main resource: e.g. keeps the old status. */
  prepareForUpdate(obj: KubeObject, old: KubeObject): void;
  /** Normalizes a `/status` update: keeps everything of the old object but its status. */
  prepareForStatusUpdate(obj: KubeObject, old: KubeObject): void;
  /** Field errors of a new object (metadata included). */
  validate(obj: KubeObject): FieldError[];
  /** Field errors of an update (metadata included). */
  validateUpdate(obj: KubeObject, old: KubeObject): FieldError[];
  /** Field errors of a `/status` update. */
  validateStatusUpdate(obj: KubeObject, old: KubeObject): FieldError[];
  /** Whether the object carries `metadata.generation` (1 on create, bumped by spec changes). */
  readonly tracksGeneration: boolean;
  /** Whether an update changes what `generation` counts (the spec, for most kinds). */
  specChanged(obj: KubeObject, old: KubeObject): boolean;
  /** PUT of a missing object creates it. */
  readonly allowCreateOnUpdate: boolean;
  /** PUT without resourceVersion overwrites whatever is stored. */
  readonly allowUnconditionalUpdate: boolean;
  /** A completed delete answers with the object (true) or a Success Status (false). */
  readonly returnDeletedObject: boolean;
  /**
   * Graceful deletion: the grace period (seconds) to apply, given the one requested, or
   * undefined when the kind is deleted at once.
   */
  gracePeriodSeconds(obj: KubeObject, requested: number | undefined): number | undefined;
  /** Finalizers the kind puts on an object when it is first deleted (a CRD's cleanup finalizer). */
  deletionFinalizers?(obj: KubeObject): string[];
  /** Changes the kind makes in the write that first marks an object deleted (a Namespace turns Terminating). */
  prepareForDelete?(obj: KubeObject): void;
  /**
   * Whether the kind keeps a deleted object for reasons besides `metadata.finalizers` (a
   * Namespace's `spec.finalizers`): the object is removed only once this is false too.
   */
  holdsDeletion?(obj: KubeObject): boolean;
  /** Default propagation when the delete request names none. */
  readonly defaultGarbageCollectionPolicy: GarbageCollectionPolicy;
  /** The field-selector fields of an object (`metadata.name`, `status.phase`, …). */
  selectableFields(obj: KubeObject): Record<string, string>;
  /** Warnings to return with a successful write (e.g. deprecated fields). */
  warnings(obj: KubeObject): string[];
}

/** Resolves the strategy of a kind; the registry asks once per kind and caches it. */
export type StrategyFactory = (info: ResourceInfo) => KindStrategy;

/** Everything of an object but `metadata` (and `status`, when `withoutStatus`). */
export function contentOf(obj: KubeObject, withoutStatus: boolean): Record<string, unknown> {
  const { metadata: _m, ...rest } = obj as Record<string, unknown>;
  if (withoutStatus) delete rest.status;
  return rest;
}
