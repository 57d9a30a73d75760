/**
 * Schema decorators: describe a custom resource's fields on its TypeScript classes, and keelson
 * derives the OpenAPI v3 schema of its CustomResourceDefinition (`keelson crds`, and the CRD
 * `keelson run --store` installs). Types come from TypeScript's emitted metadata where it can
 * tell (`string`, `number`, `boolean`, a nested class); say the rest in the options.
 *
 * ```ts
 * class WebsiteSpec {
 *   @Field({ description: 'Image that serves the site', required: true }) image!: string;
 *   @Field({ type: 'integer', minimum: 0, default: 1 }) replicas?: number;
 *   @Field({ items: 'string' }) domains?: string[];
 * }
 * ```
 */
import 'reflect-metadata';
import type { StructuralSchema } from '../api/schema.js';

/** A field's type: a JSON type name, a class with `@Field`s, or a one-element list for arrays. */
export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'int-or-string' | (abstract new (...args: never[]) => unknown);

/** Options of {@link Field}: the type (when metadata cannot tell) and OpenAPI validations. */
export interface FieldOptions {
  type?: FieldType;
  /** Element type of an array field. */
  items?: FieldType;
  /** Value type of a map field (`type: 'object'` with arbitrary keys). */
  additionalProperties?: FieldType;
  required?: boolean;
  description?: string;
  default?: unknown;
  enum?: readonly (string | number)[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  /** Keep fields the schema does not declare (`x-kubernetes-preserve-unknown-fields`). */
  preserveUnknownFields?: boolean;
  /** `x-kubernetes-list-type`. */
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
}

const FIELDS: unique symbol = Symbol.for('keelson.fields') as never;

interface FieldRecord {
  name: string;
  options: FieldOptions;
  designType: unknown;
}

type WithFields = { [FIELDS]?: FieldRecord[] };

/** Declares a schema field on a class property. */
export function Field(options: FieldOptions = {}): PropertyDecorator {
  return (target, property) => {
    if (typeof property !== 'string') throw new TypeError('@Field() applies to named properties only');
    const ctor = target.constructor as WithFields;
    const own = Object.prototype.hasOwnProperty.call(ctor, FIELDS) ? ctor[FIELDS]! : [];
    if (!Object.prototype.hasOwnProperty.call(ctor, FIELDS)) {
      Object.defineProperty(ctor, FIELDS, { value: own, enumerable: false });
    }
    const designType = Reflect.getMetadata('design:type', target, property) as unknown;
    own.push({ name: property, options, designType });
  };
}

/** The fields declared on a class and its bases, base first. */
export function declaredFields(cls: unknown): FieldRecord[] {
  const chain: WithFields[] = [];
  for (let c = cls as WithFields | null; c && c !== Function.prototype; c = Object.getPrototypeOf(c) as WithFields | null) {
    if (Object.prototype.hasOwnProperty.call(c, FIELDS)) chain.unshift(c);
  }
  const byName = new Map<string, FieldRecord>();
  for (const c of chain) for (const f of c[FIELDS]!) byName.set(f.name, f);
  return [...byName.values()];
}

function typeSchema(type: FieldType | undefined, designType: unknown, options: FieldOptions, path: string, seen: Set<unknown>): StructuralSchema {
  const t = type ?? inferType(designType, path);
  switch (t) {
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return { type: t };
    case 'int-or-string':
      return { 'x-kubernetes-int-or-string': true };
    case 'array': {
      if (!options.items) throw new TypeError(`${path} is an array: say its element type with @Field({ items: 'string' | SomeClass })`);
      return { type: 'array', items: typeSchema(options.items, undefined, {}, `${path}[]`, seen) };
    }
    case 'object': {
      if (options.additionalProperties) {
        return { type: 'object', additionalProperties: typeSchema(options.additionalProperties, undefined, {}, `${path}{}`, seen) };
      }
      return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    }
    default:
      return classSchema(t, path, seen);
  }
}

function inferType(designType: unknown, path: string): FieldType {
  if (designType === String) return 'string';
  if (designType === Number) return 'number';
  if (designType === Boolean) return 'boolean';
  if (designType === Array) return 'array';
  if (designType === Object || designType === undefined) {
    throw new TypeError(`cannot tell the type of ${path}: give it with @Field({ type: 'string' | 'integer' | … | SomeClass })`);
  }
  if (typeof designType === 'function') return designType as FieldType;
  throw new TypeError(`cannot tell the type of ${path}`);
}

/** The structural schema of a class whose properties carry `@Field`. */
export function classSchema(cls: FieldType, path = (cls as { name?: string }).name ?? 'object', seen = new Set<unknown>()): StructuralSchema {
  if (typeof cls !== 'function') throw new TypeError(`${path}: expected a class`);
  if (seen.has(cls)) throw new TypeError(`${path}: recursive types cannot be expressed in a CRD schema`);
  seen.add(cls);
  const fields = declaredFields(cls);
  const properties: Record<string, StructuralSchema> = {};
  const required: string[] = [];
  for (const field of fields) {
    const o = field.options;
    const schema: StructuralSchema & Record<string, unknown> = { ...typeSchema(o.type, field.designType, o, `${path}.${field.name}`, seen) };
    if (o.description) schema.description = o.description;
    if (o.default !== undefined) schema.default = o.default;
    if (o.enum) schema.enum = [...o.enum];
    if (o.format) schema.format = o.format;
    if (o.pattern) schema.pattern = o.pattern;
    for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
      if (o[k] !== undefined) schema[k] = o[k];
    }
    if (o.nullable) schema.nullable = true;
    if (o.preserveUnknownFields) schema['x-kubernetes-preserve-unknown-fields'] = true;
    if (o.listType) schema['x-kubernetes-list-type'] = o.listType;
    if (o.listMapKeys) schema['x-kubernetes-list-map-keys'] = o.listMapKeys;
    properties[field.name] = schema;
    if (o.required) required.push(field.name);
  }
  seen.delete(cls);
  const schema: StructuralSchema & { required?: string[] } = { type: 'object', properties };
  if (fields.length === 0) schema['x-kubernetes-preserve-unknown-fields'] = true;
  if (required.length) schema.required = required;
  return schema;
}
