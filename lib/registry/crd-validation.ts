/**
 * OpenAPI validation of custom resources against their CRD version's `openAPIV3Schema`, with ajv,
 * reporting kube's field errors: the schema is translated to the JSON Schema ajv knows
 * (`nullable`, boolean `exclusiveMaximum`, `x-kubernetes-int-or-string` as `integer,string`,
 * kube's string formats), and each ajv error is worded as kube-openapi words it and folded into
 * a field error as apiextensions-apiserver folds it (`spec.replicas: Invalid value: 11:
 * spec.replicas in body should be less than or equal to 10`, `spec.size: Required value`, …).
 *
 * Updates are ratcheted (kube's CRDValidationRatcheting, on by default since 1.30): an error about
 * a value the update leaves unchanged is not reported, so a tightened schema does not block
 * writes to other fields.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FieldError } from '../api/errors.js';
import type { JSONSchemaProps } from '../api/types/apiextensions.js';
import { stringFormat } from './crd-formats.js';

/** Where the translated schema keeps what ajv must not see but messages need. */
const KUBE_TYPES = 'x-keelson-types';
const KUBE_FORMAT = 'x-keelson-format';
const KUBE_ENUM = 'x-keelson-enum';

type Json = Record<string, unknown>;
type Segment = string | number;

/** A field error with the location of the value it is about (for ratcheting). */
interface LocatedError {
  error: FieldError;
  node: Segment[];
}

/** Validates objects against one CRD version's schema. */
export class SchemaValidator {
  private readonly validateFn: ValidateFunction;
  private readonly translated: Json;

  constructor(schema: JSONSchemaProps) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, logger: false, validateSchema: false, addUsedSchema: false });
    this.translated = translate(schema, ajv);
    this.validateFn = ajv.compile(this.translated);
  }

  /**
   * The field errors of `obj`; with `old` (an update), errors about values that did not change
   * are dropped.
   */
  validate(obj: unknown, old?: unknown): FieldError[] {
    if (this.validateFn(obj)) return [];
    let located = this.fieldErrors(this.validateFn.errors ?? [], obj);
    if (old !== undefined) located = located.filter((e) => changedAt(e.node, obj, old));
    return located.map((e) => e.error);
  }

  private fieldErrors(errors: ErrorObject[], data: unknown): LocatedError[] {
    const out: LocatedError[] = [];
    const allOf = new Map<string, { node: Segment[]; name: string; failed: Set<string>; total: number }>();
    for (const e of errors) {
      const junctors = junctorsOf(e.schemaPath);
      // Inside anyOf/oneOf/not only the junctor's own error is reported, as kube-openapi does.
      if (junctors.some((j) => j.keyword !== 'allOf')) continue;
      const node = segments(e.instancePath, data);
      const name = kubePath(node);
      for (const { at, branch } of junctors) {
        const id = `${e.instancePath}|${at}`;
        const entry = allOf.get(id) ?? { node, name, failed: new Set<string>(), total: allOfLength(this.translated, at) };
        entry.failed.add(branch);
        allOf.set(id, entry);
      }
      const error = kubeError(e, name);
      if (error) out.push({ error, node });
    }
    for (const { node, name, failed, total } of allOf.values()) {
      const none = failed.size === total ? '. None validated' : '';
      out.push({ node, error: composite(`"${name}" must validate all the schemas (allOf)${none}`) });
    }
    return out;
  }
}

// ---------------------------------------------------------------- schema translation

function translate(s: JSONSchemaProps, ajv: Ajv): Json {
  const out: Json = {};
  const types = s['x-kubernetes-int-or-string'] ? ['integer', 'string'] : s.type ? [s.type] : undefined;
  if (types) {
    out.type = s.nullable ? [...types, 'null'] : types;
    out[KUBE_TYPES] = types;
  }
  const kubeFormat = formatKubeKeeps(s.format, types);
  if (kubeFormat) out[KUBE_FORMAT] = kubeFormat;
  const check = stringFormat(s.format, types?.length === 1 ? types[0] : undefined);
  if (check && s.format) {
    const name = `kube-${s.format.replaceAll('-', '')}`;
    if (!ajv.formats[name]) ajv.addFormat(name, { type: 'string', validate: check });
    out.format = name;
  }
  if (s.maximum !== undefined) out[s.exclusiveMaximum ? 'exclusiveMaximum' : 'maximum'] = s.maximum;
  if (s.minimum !== undefined) out[s.exclusiveMinimum ? 'exclusiveMinimum' : 'minimum'] = s.minimum;
  for (const k of ['multipleOf', 'maxLength', 'minLength', 'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required'] as const) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  if (s.pattern !== undefined && compiles(s.pattern)) out.pattern = s.pattern;
  if (s.enum) {
    out.enum = s.nullable && !s.enum.includes(null) ? [...s.enum, null] : s.enum;
    out[KUBE_ENUM] = s.enum;
  }
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, translate(v, ajv)]));
  if (s.additionalProperties !== undefined) {
    out.additionalProperties = typeof s.additionalProperties === 'boolean' ? s.additionalProperties : translate(s.additionalProperties, ajv);
  }
  if (s.items !== undefined) out.items = Array.isArray(s.items) ? s.items.map((i) => translate(i, ajv)) : translate(s.items, ajv);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) if (s[k]) out[k] = s[k]!.map((x) => translate(x, ajv));
  if (s.not) out.not = translate(s.not, ajv);
  if (s.dependencies) {
    out.dependencies = Object.fromEntries(Object.entries(s.dependencies).map(([k, v]) => [k, Array.isArray(v) ? v : translate(v, ajv)]));
  }
  return out;
}

/** The format kube keeps after stripping unsupported ones (it appears in type errors). */
function formatKubeKeeps(format: string | undefined, types: string[] | undefined): string | undefined {
  if (!format) return undefined;
  const type = types?.length === 1 ? types[0] : undefined;
  if (type === 'integer') return format === 'int32' || format === 'int64' ? format : undefined;
  if (type === 'number') return format === 'float' || format === 'double' ? format : undefined;
  return stringFormat(format, type) ? format : undefined;
}

/** Go's RE2 and JavaScript agree on the common syntax; a pattern JavaScript cannot compile is not checked. */
function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

/** Keywords whose next schema-path segment is a name, not a keyword. */
const NAMED_CHILDREN = new Set(['properties', 'patternProperties', 'dependencies', 'definitions']);

/**
 * The junctors (allOf/anyOf/oneOf branches, not) an ajv schema path runs through: `at` is the
 * path of the junctor keyword, `branch` the index taken.
 */
function junctorsOf(schemaPath: string): { keyword: string; at: string; branch: string }[] {
  const parts = schemaPath.replace(/^#\/?/, '').split('/');
  const out: { keyword: string; at: string; branch: string }[] = [];
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (NAMED_CHILDREN.has(part)) {
      i++;
      continue;
    }
    const at = `#/${parts.slice(0, i + 1).join('/')}`;
    if ((part === 'allOf' || part === 'anyOf' || part === 'oneOf') && /^\d+$/.test(parts[i + 1]!)) out.push({ keyword: part, at, branch: parts[i + 1]! });
    else if (part === 'not') out.push({ keyword: part, at, branch: '' });
  }
  return out;
}

function allOfLength(root: Json, schemaPath: string): number {
  let node: unknown = root;
  for (const part of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (part === '') continue;
    node = (node as Json | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return Array.isArray(node) ? node.length : 0;
}

// ---------------------------------------------------------------- error translation

/** The JSON type kube-openapi names for a value (JSON integers are Go int64s). */
function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** How Go's `%v` prints a float64: shortest digits, in exponent form below 1e-4 and from 1e6 on. */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return '0';
  const [mantissa = '0', exponent = '0'] = n.toExponential().split('e');
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) {
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** A limit as kube-openapi prints it: as an int64 for integer data, as a float64 otherwise. */
function limitText(limit: number, data: unknown): string {
  return typeof data === 'number' && Number.isInteger(data) ? String(Math.trunc(limit)) : goFloat(limit);
}

function composite(message: string): FieldError {
  return { type: 'FieldValueInvalid', field: '<nil>', value: '', detail: message };
}

function kubeError(e: ErrorObject, name: string): FieldError | undefined {
  const field = name === '' ? '<nil>' : name;
  const data = e.data;
  const params = e.params as Json;
  const invalid = (value: unknown, detail: string): FieldError => ({ type: 'FieldValueInvalid', field, value, detail });
  switch (e.keyword) {
    case 'type': {
      const [expected, actual] = typeMismatch(e.parentSchema as Json | undefined, data);
      return { type: 'FieldValueTypeInvalid', field, value: actual, detail: `${name} in body must be of type ${expected}: "${actual}"` };
    }
    case 'format':
      return { type: 'FieldValueTypeInvalid', field, value: data, detail: `${name} in body must be of type ${String((e.parentSchema as Json)[KUBE_FORMAT] ?? params.format)}: ${JSON.stringify(data)}` };
    case 'required':
      return { type: 'FieldValueRequired', field: name ? `${name}.${String(params.missingProperty)}` : String(params.missingProperty) };
    case 'enum': {
      const allowed = ((e.parentSchema as Json | undefined)?.[KUBE_ENUM] ?? params.allowedValues) as unknown[];
      return { type: 'FieldValueNotSupported', field, value: data, supported: allowed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) };
    }
    case 'maximum':
      return invalid(data, `${name} in body should be less than or equal to ${limitText(Number(params.limit), data)}`);
    case 'exclusiveMaximum':
      return invalid(data, `${name} in body should be less than ${limitText(Number(params.limit), data)}`);
    case 'minimum':
      return invalid(data, `${name} in body should be greater than or equal to ${limitText(Number(params.limit), data)}`);
    case 'exclusiveMinimum':
      return invalid(data, `${name} in body should be greater than ${limitText(Number(params.limit), data)}`);
    case 'multipleOf':
      return invalid(data, `${name} in body should be a multiple of ${limitText(Number(params.multipleOf), data)}`);
    case 'maxLength': {
      const limit = Number(params.limit);
      return { type: 'FieldValueTooLong', field, detail: `may not be more than ${limit} ${limit === 1 ? 'byte' : 'bytes'}` };
    }
    case 'minLength':
      return invalid(data, `${name} in body should be at least ${String(params.limit)} chars long`);
    case 'pattern':
      return invalid(data, `${name} in body should match '${String(params.pattern)}'`);
    case 'maxItems':
    case 'maxProperties': {
      const limit = Number(params.limit);
      const count = Array.isArray(data) ? data.length : Object.keys(data as Json).length;
      // keelson's renderer prints no value for "Too many", kube prints the count first: carry it in the detail.
      return { type: 'FieldValueTooMany', field, value: count, detail: `${count}: must have at most ${limit} ${limit === 1 ? 'item' : 'items'}` };
    }
    case 'minItems':
      return invalid((data as unknown[]).length, `${name} in body should have at least ${String(params.limit)} items`);
    case 'minProperties':
      return invalid(Object.keys(data as Json).length, `${name} in body should have at least ${String(params.limit)} properties`);
    case 'uniqueItems':
      return invalid('', `${name} in body shouldn't contain duplicates`);
    case 'additionalProperties':
      return invalid(params.additionalProperty, `${name ? `${name}.` : '.'}${String(params.additionalProperty)} in body is a forbidden property`);
    case 'anyOf':
      return composite(`"${name}" must validate at least one schema (anyOf)`);
    case 'oneOf': {
      const passing = params.passingSchemas as number[] | null;
      const found = passing ? `Found ${passing.length} valid alternatives` : 'Found none valid';
      return composite(`"${name}" must validate one and only one schema (oneOf). ${found}`);
    }
    case 'not':
      return composite(`"${name}" must not validate the schema (not)`);
    case 'dependencies':
      return composite(`"${name}" has a dependency on ${String(params.property)}`);
    default:
      return invalid('', `${name} in body ${e.message ?? 'is invalid'}`);
  }
}

/** What kube-openapi's type validator reports: the expected type (or format) and the data's. */
function typeMismatch(schema: Json | undefined, data: unknown): [string, string] {
  const types = (schema?.[KUBE_TYPES] as string[] | undefined) ?? [];
  const format = schema?.[KUBE_FORMAT] as string | undefined;
  if (data !== null && typeof data !== 'string' && !Array.isArray(data) && format) {
    const dataFormat = typeof data === 'number' ? (Number.isInteger(data) ? 'int64' : 'float64') : '';
    if (dataFormat !== format) return [format, dataFormat];
  }
  return [types.join(','), jsonType(data)];
}

// ---------------------------------------------------------------- paths

/** The segments of an ajv instance path, array indices as numbers (told apart by the data). */
function segments(pointer: string, data: unknown): Segment[] {
  const out: Segment[] = [];
  let node: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      out.push(Number(part));
      node = node[Number(part)];
    } else {
      out.push(part);
      node = (node as Json | undefined)?.[part];
    }
  }
  return out;
}

/** kube-openapi's path of a value: fields and map keys joined with `.`, indices as `[i]`. */
function kubePath(node: Segment[]): string {
  let s = '';
  for (const seg of node) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

/**
 * Whether an update changed what an error is about. Like kube's ratcheting, values are matched
 * between old and new by field path; items of lists are not matched one by one, so an error
 * inside a list is kept unless the whole list is unchanged.
 */
function changedAt(node: Segment[], obj: unknown, old: unknown): boolean {
  let a: unknown = obj;
  let b: unknown = old;
  for (const seg of node) {
    if (typeof seg === 'number') break;
    if (!isObject(a) || !isObject(b)) return !jsonEqual(a, b);
    if (Object.hasOwn(a, seg) !== Object.hasOwn(b, seg)) return true;
    a = a[seg];
    b = b[seg];
  }
  return !jsonEqual(a, b);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => jsonEqual(v, (b as unknown[])[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Json)[k], (b as Json)[k]));
}
