/**
 * What apiextensions-apiserver does with a custom resource's structural schema besides
 * validating it: defaulting (`default` values filled in for missing fields, recursively — inside
 * array items and `additionalProperties` too — after non-nullable `null`s without a default are
 * dropped), the checks of `x-kubernetes-embedded-resource` objects, and the uniqueness of
 * `x-kubernetes-list-type: set|map` lists. Paths and messages are kube's (`spec.tags[1]:
 * Duplicate value: "a"`, `spec.template.kind: Required value: must not be empty`).
 */
import type { FieldError } from '../api/errors.js';
import { child, index, invalid, key, required } from '../api/kind-validation/field.js';
import type { JSONSchemaProps } from '../api/types/apiextensions.js';
import { isDNS1035Label, validateAnnotations, validateLabels } from '../api/validation.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The schema of property `name` of an object node: a declared property, else `additionalProperties`. */
export function propertySchema(s: JSONSchemaProps | undefined, name: string): { schema: JSONSchemaProps; declared: boolean } | undefined {
  if (!s) return undefined;
  if (s.properties && Object.hasOwn(s.properties, name)) return { schema: s.properties[name]!, declared: true };
  if (typeof s.additionalProperties === 'object') return { schema: s.additionalProperties, declared: false };
  return undefined;
}

/** The schema of an array node's items (structural schemas have one schema for all items). */
export function itemSchema(s: JSONSchemaProps | undefined): JSONSchemaProps | undefined {
  return s?.items && !Array.isArray(s.items) ? s.items : undefined;
}

function isNonNullableNull(value: unknown, s: JSONSchemaProps | undefined): boolean {
  return value === null && !!s && !s.nullable;
}

/**
 * Applies a structural schema's defaults to `obj` in place, as apiextensions does on decode and
 * on read from storage: first `null`s of non-nullable fields that have no default are dropped
 * (structuraldefaulting.PruneNonNullableNullsWithoutDefaults), then every missing field — and
 * every non-nullable `null` — with a `default` gets a copy of it, recursively, so a default object
 * receives the defaults of its own fields.
 */
export function applySchemaDefaults(obj: unknown, schema: JSONSchemaProps | undefined): void {
  if (!schema) return;
  pruneNullsWithoutDefaults(obj, schema);
  fillDefaults(obj, schema);
}

function pruneNullsWithoutDefaults(x: unknown, s: JSONSchemaProps): void {
  if (isObject(x)) {
    for (const k of Object.keys(x)) {
      const prop = propertySchema(s, k)?.schema;
      if (!prop) continue;
      if (x[k] === null && !prop.nullable && prop.default === undefined) delete x[k];
      else pruneNullsWithoutDefaults(x[k], prop);
    }
  } else if (Array.isArray(x)) {
    const items = itemSchema(s);
    if (items) for (const v of x) pruneNullsWithoutDefaults(v, items);
  }
}

function fillDefaults(x: unknown, s: JSONSchemaProps): void {
  if (isObject(x)) {
    for (const [k, prop] of Object.entries(s.properties ?? {})) {
      if (prop.default === undefined) continue;
      if (!Object.hasOwn(x, k) || isNonNullableNull(x[k], prop)) x[k] = structuredClone(prop.default);
    }
    for (const k of Object.keys(x)) {
      const found = propertySchema(s, k);
      if (!found) continue;
      if (!found.declared && found.schema.default !== undefined && isNonNullableNull(x[k], found.schema)) {
        x[k] = structuredClone(found.schema.default);
      }
      fillDefaults(x[k], found.schema);
    }
  } else if (Array.isArray(x)) {
    const items = itemSchema(s);
    if (!items) return;
    for (let i = 0; i < x.length; i++) {
      if (items.default !== undefined && isNonNullableNull(x[i], items)) x[i] = structuredClone(items.default);
      fillDefaults(x[i], items);
    }
  }
}

/**
 * The checks apiextensions makes beyond the OpenAPI validation (schemaobjectmeta.Validate and
 * structurallisttype.ValidateListSetsAndMaps): an embedded resource needs a string `apiVersion`
 * and `kind` and well-formed metadata labels and annotations; a `set` list has no duplicate
 * items and a `map` list no two items with the same keys.
 */
export function validateStructure(obj: unknown, schema: JSONSchemaProps | undefined): FieldError[] {
  const errs: FieldError[] = [];
  if (schema) walk('', obj, schema, true, errs);
  return errs;
}

function walk(path: string, x: unknown, s: JSONSchemaProps, root: boolean, errs: FieldError[]): void {
  if (isObject(x)) {
    if (s['x-kubernetes-embedded-resource'] && !root) {
      errs.push(...validateEmbeddedResource(path, x));
    }
    for (const [k, v] of Object.entries(x)) {
      if (root && k === 'metadata') continue;
      const found = propertySchema(s, k);
      if (!found) continue;
      if (s['x-kubernetes-embedded-resource'] && k === 'metadata') continue;
      walk(found.declared ? child(path, k) : key(path, k), v, found.schema, false, errs);
    }
  } else if (Array.isArray(x)) {
    errs.push(...validateListType(path, x, s));
    const items = itemSchema(s);
    if (items) x.forEach((v, i) => walk(index(path, i), v, items, false, errs));
  }
}

function validateEmbeddedResource(path: string, x: Json): FieldError[] {
  const errs: FieldError[] = [];
  if (!Object.hasOwn(x, 'apiVersion')) errs.push(required(child(path, 'apiVersion'), 'must not be empty'));
  if (!Object.hasOwn(x, 'kind')) errs.push(required(child(path, 'kind'), 'must not be empty'));
  const apiVersion = x.apiVersion;
  if (Object.hasOwn(x, 'apiVersion')) {
    if (typeof apiVersion !== 'string') errs.push(invalid(child(path, 'apiVersion'), apiVersion, 'must be a string'));
    else if (apiVersion === '') errs.push(invalid(child(path, 'apiVersion'), apiVersion, 'must not be empty'));
    else if ((apiVersion.match(/\//g)?.length ?? 0) > 1) {
      errs.push(invalid(child(path, 'apiVersion'), apiVersion, `unexpected GroupVersion string: ${apiVersion}`));
    }
  }
  const kind = x.kind;
  if (Object.hasOwn(x, 'kind')) {
    if (typeof kind !== 'string') errs.push(invalid(child(path, 'kind'), kind, 'must be a string'));
    else if (kind === '') errs.push(invalid(child(path, 'kind'), kind, 'must not be empty'));
    else {
      const msgs = isDNS1035Label(kind.toLowerCase());
      if (msgs.length > 0) errs.push(invalid(child(path, 'kind'), kind, `may have mixed case, but should otherwise match: ${msgs.join(',')}`));
    }
  }
  const meta = x.metadata;
  if (isObject(meta)) {
    errs.push(...validateLabels(meta.labels as Record<string, string> | undefined, child(path, 'metadata', 'labels')));
    errs.push(...validateAnnotations(meta.annotations as Record<string, string> | undefined, child(path, 'metadata', 'annotations')));
  }
  return errs;
}

function validateListType(path: string, list: unknown[], s: JSONSchemaProps): FieldError[] {
  const type = s['x-kubernetes-list-type'];
  const errs: FieldError[] = [];
  if (type === 'set') {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const id = JSON.stringify(item);
      if (seen.has(id)) errs.push({ type: 'FieldValueDuplicate', field: index(path, i), value: item });
      seen.add(id);
    });
  } else if (type === 'map') {
    const keys = s['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    list.forEach((item, i) => {
      if (!isObject(item)) return;
      const keyFields: Json = {};
      for (const k of keys) if (Object.hasOwn(item, k)) keyFields[k] = item[k];
      const id = JSON.stringify(keys.map((k) => item[k] ?? null));
      if (seen.has(id)) errs.push({ type: 'FieldValueDuplicate', field: index(path, i), value: keyFields });
      seen.add(id);
    });
  }
  return errs;
}

/**
 * Drops the fields a structural schema does not declare, in place, as apiextensions-apiserver
 * prunes on decode and on read from storage: `x-kubernetes-preserve-unknown-fields` keeps a
 * subtree's unknown fields, and the root (and every embedded resource) keeps `apiVersion`,
 * `kind` and `metadata`.
 */
export function pruneUnknownFields(obj: unknown, schema: JSONSchemaProps | undefined): void {
  if (schema) prune(obj, schema, true);
}

function prune(x: unknown, s: JSONSchemaProps | undefined, root: boolean): void {
  const preserve = s?.['x-kubernetes-preserve-unknown-fields'] === true;
  if (Array.isArray(x)) {
    const items = itemSchema(s);
    if (items || !preserve) for (const item of x) prune(item, items, false);
    return;
  }
  if (!isObject(x)) return;
  const embedded = root || s?.['x-kubernetes-embedded-resource'] === true;
  for (const k of Object.keys(x)) {
    if (embedded && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const found = propertySchema(s, k);
    if (found) prune(x[k], found.schema, false);
    else if (!preserve && s?.additionalProperties !== true) delete x[k];
  }
}
