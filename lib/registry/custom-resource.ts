/**
 * A custom kind as the registry serves it from its CustomResourceDefinition: the ResourceInfo
 * of each served version carries a {@link CustomResource} (under a symbol, so the info stays a
 * plain ResourceInfo everywhere else) with the CRD's version schemas. The strategy of a custom
 * kind ({@link customResourceStrategy}) defaults, validates and stores objects with it, and reads
 * present stored objects with it ({@link presentCustomResource}):
 *
 * - writes are decoded and pruned with the request version's schema, defaulted, validated (with
 *   ratcheting on update), and stored with the storage version's apiVersion — conversion
 *   strategy `None`: only apiVersion changes between versions;
 * - reads are pruned and defaulted with the schema of the version they were stored in, then
 *   answered in the version asked for;
 * - while the CRD is being deleted, creates are refused (405), as apiextensions-apiserver does.
 */
import { ApiError, internalError, invalid, type FieldError } from '../api/errors.js';
import type { CustomResourceDefinition } from '../api/kinds.js';
import type { KubeObject } from '../api/meta.js';
import { apiVersionOf, defineResource, parseApiVersion, type ResourceInfo, type ScaleSubresource } from '../api/resources.js';
import type { StructuralSchema } from '../api/schema.js';
import type { CustomResourceColumnDefinition, JSONSchemaProps } from '../api/types/apiextensions.js';
import { applySchemaDefaults, pruneUnknownFields, validateStructure } from './crd-schema.js';
import { SchemaValidator } from './crd-validation.js';
import type { KindStrategy } from './strategy.js';

type Json = Record<string, unknown>;

/** The schema of a kind that declares none: every field is kept. */
const PRESERVE_UNKNOWN_FIELDS: StructuralSchema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** One version of a CRD: its schema (validator compiled on first use) and scale subresource. */
export class CustomResourceVersion {
  private validator: SchemaValidator | undefined;

  constructor(
    readonly name: string,
    readonly schema: JSONSchemaProps | undefined,
    readonly scale: ScaleSubresource | undefined,
    /** The version's `additionalPrinterColumns` (kubectl get's columns). */
    readonly additionalPrinterColumns?: readonly CustomResourceColumnDefinition[],
  ) {}

  /** The schema request bodies are pruned with (see lib/api/decode). */
  get structural(): StructuralSchema {
    return (this.schema as StructuralSchema | undefined) ?? PRESERVE_UNKNOWN_FIELDS;
  }

  /** Fills in the schema's defaults (mutates). */
  applyDefaults(obj: KubeObject): void {
    applySchemaDefaults(obj, this.schema);
  }

  /** Drops fields the schema does not declare (mutates). */
  prune(obj: KubeObject): void {
    pruneUnknownFields(obj, this.schema);
  }

  /** The schema's field errors of `obj`; `old` (an update) ratchets errors about unchanged values. */
  validate(obj: KubeObject, old?: KubeObject): FieldError[] {
    // kube's order: the OpenAPI schema, the scale subresource, then embedded resources and list types.
    const errs: FieldError[] = [];
    if (this.schema) errs.push(...this.compiled().validate(obj, old));
    if (this.scale) errs.push(...validateScale(obj, this.scale));
    if (this.schema) errs.push(...validateStructure(obj, this.schema));
    return errs;
  }

  private compiled(): SchemaValidator {
    try {
      this.validator ??= new SchemaValidator(this.schema ?? {});
    } catch (err) {
      throw internalError(err);
    }
    return this.validator;
  }
}

/** What the ResourceInfo of a served custom kind carries. */
export interface CustomResource {
  /** The name of the CRD (`<plural>.<group>`). */
  readonly crdName: string;
  /** The version objects are stored in. */
  readonly storageVersion: string;
  /** The CRD is being deleted: creates are refused. */
  readonly terminating: boolean;
  /** Every version of the CRD by name (objects may be stored in any of them). */
  readonly versions: ReadonlyMap<string, CustomResourceVersion>;
  /** The version this ResourceInfo serves. */
  readonly version: CustomResourceVersion;
}

const CUSTOM_RESOURCE: unique symbol = Symbol.for('keelson.customResource') as never;

/** Marks `info` as the served version of a CRD (what {@link customResourceOf} returns). */
export function attachCustomResource(info: ResourceInfo, custom: CustomResource): ResourceInfo {
  Object.defineProperty(info, CUSTOM_RESOURCE, { value: custom, enumerable: false, configurable: true, writable: false });
  return info;
}

/** The CRD behind a kind, or undefined for built-in kinds and kinds registered by hand. */
export function customResourceOf(info: ResourceInfo): CustomResource | undefined {
  return (info as { [CUSTOM_RESOURCE]?: CustomResource })[CUSTOM_RESOURCE];
}

/**
 * The ResourceInfo of each served version of a CRD, carrying its {@link CustomResource}: names
 * from `status.acceptedNames` (what the naming controller accepted), scope, and the version's
 * `status`/`scale` subresources.
 */
export function servedVersions(crd: CustomResourceDefinition): ResourceInfo[] {
  const spec = crd.spec!;
  const names = crd.status?.acceptedNames ?? spec.names;
  const versions = new Map(spec.versions.map((v) => [v.name, new CustomResourceVersion(v.name, v.schema?.openAPIV3Schema, v.subresources?.scale, v.additionalPrinterColumns)]));
  const storageVersion = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]?.name ?? '';
  const terminating = !!crd.metadata?.deletionTimestamp;
  const crdName = crd.metadata?.name ?? '';
  return spec.versions
    .filter((v) => v.served)
    .map((v) => {
      const info = defineResource({
        group: spec.group,
        version: v.name,
        kind: names.kind,
        plural: names.plural,
        ...(names.singular ? { singular: names.singular } : {}),
        ...(names.listKind ? { listKind: names.listKind } : {}),
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        namespaced: spec.scope === 'Namespaced',
        subresources: { status: !!v.subresources?.status, ...(v.subresources?.scale ? { scale: { ...v.subresources.scale } } : {}) },
      });
      return attachCustomResource(info, { crdName, storageVersion, terminating, versions, version: versions.get(v.name)! });
    });
}

/**
 * Presents a stored custom resource (mutated and returned): pruned and defaulted with the schema
 * of the version it is stored in, and in the version `info` serves. Anything else is returned
 * unchanged (built-in kinds, Status objects).
 */
export function presentCustomResource(info: ResourceInfo, obj: KubeObject): KubeObject {
  const custom = customResourceOf(info);
  if (!custom || obj.kind === 'Status' || obj.kind !== info.kind) return obj;
  const stored = custom.versions.get(parseApiVersion(obj.apiVersion ?? '').version) ?? custom.version;
  stored.prune(obj);
  stored.applyDefaults(obj);
  obj.apiVersion = apiVersionOf(info);
  return obj;
}

/** An update's old object as the request version sees it (the new one is compared against it). */
function asRequested(info: ResourceInfo, old: KubeObject): KubeObject {
  return presentCustomResource(info, structuredClone(old));
}

/**
 * The strategy of a custom kind: `base` (the generic strategy: status subresource, generation,
 * metadata validation) plus the CRD's schema, storage version and terminating state.
 */
export function customResourceStrategy(base: KindStrategy, custom: CustomResource): KindStrategy {
  const info = base.info;
  const storageApiVersion = apiVersionOf({ group: info.group, version: custom.storageVersion });
  return {
    ...base,
    applyDefaults(obj) {
      base.applyDefaults(obj);
      if (obj.kind !== info.kind) {
        // kube's ValidateTypeMeta: a body of another kind is refused before anything else.
        const error: FieldError = { type: 'FieldValueInvalid', field: 'kind', value: obj.kind, detail: `must be ${info.kind}` };
        throw invalid(info.kind, info.group, obj.metadata?.name ?? '', [error]);
      }
      custom.version.applyDefaults(obj);
    },
    prepareForCreate(obj) {
      if (custom.terminating) {
        throw new ApiError({
          code: 405,
          reason: 'MethodNotAllowed',
          message: 'create not allowed while custom resource definition is terminating',
          details: { group: info.group, kind: info.plural },
        });
      }
      base.prepareForCreate(obj);
      obj.apiVersion = storageApiVersion;
    },
    prepareForUpdate(obj, old) {
      base.prepareForUpdate(obj, old);
      obj.apiVersion = storageApiVersion;
    },
    prepareForStatusUpdate(obj, old) {
      base.prepareForStatusUpdate(obj, asRequested(info, old));
      obj.apiVersion = storageApiVersion;
    },
    validate(obj) {
      return [...base.validate(obj), ...custom.version.validate(obj)];
    },
    validateUpdate(obj, old) {
      return [...base.validateUpdate(obj, old), ...custom.version.validate(obj, asRequested(info, old))];
    },
    validateStatusUpdate(obj, old) {
      return [...base.validateStatusUpdate(obj, old), ...custom.version.validate(obj, asRequested(info, old))];
    },
    specChanged(obj, old) {
      const previous = asRequested(info, old);
      previous.apiVersion = obj.apiVersion;
      return base.specChanged(obj, previous);
    },
  };
}

// ---------------------------------------------------------------- scale subresource

/** Go's name of a JSON value's type, as unstructured accessors print it. */
function goType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

function lookup(obj: KubeObject, path: string): { found: boolean; value: unknown } {
  let node: unknown = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) return { found: false, value: undefined };
    node = (node as Json)[part];
  }
  return { found: true, value: node };
}

/** kube's ValidateScaleSpec and ValidateScaleStatus: replicas are non-negative int32s, the selector a string. */
function validateScale(obj: KubeObject, scale: ScaleSubresource): FieldError[] {
  const errs: FieldError[] = [];
  const accessor = (path: string, value: unknown, want: string) =>
    `${path.startsWith('.') ? path : `.${path}`} accessor error: ${typeof value === 'object' ? JSON.stringify(value) : String(value)} is of the type ${goType(value)}, expected ${want}`;
  for (const path of [scale.specReplicasPath, scale.statusReplicasPath]) {
    const { found, value } = lookup(obj, path);
    if (!found) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      errs.push({ type: 'FieldValueInvalid', field: path, value: 0, detail: accessor(path, value, 'int64') });
    } else if (value < 0) {
      errs.push({ type: 'FieldValueInvalid', field: path, value, detail: 'should be a non-negative integer' });
    } else if (value > 2147483647) {
      errs.push({ type: 'FieldValueInvalid', field: path, value, detail: 'should be less than or equal to 2147483647' });
    }
  }
  if (scale.labelSelectorPath) {
    const { found, value } = lookup(obj, scale.labelSelectorPath);
    if (found && typeof value !== 'string') {
      errs.push({ type: 'FieldValueInvalid', field: scale.labelSelectorPath, value: '', detail: accessor(scale.labelSelectorPath, value, 'string') });
    }
  }
  return errs;
}
