/**
 * Decoding a request body the way kube-apiserver does: it unmarshals JSON into a Go struct, so
 * unknown fields vanish (reported as warnings `unknown field "spec.foo"` for
 * `fieldValidation=Warn`, the default; a 400 `strict decoding error: …` for `Strict`), a JSON
 * `null` leaves a field unset, and a value of the wrong JSON type is a 400 BadRequest with Go's
 * message (`Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into
 * Go struct field ContainerPort.spec.containers.ports.containerPort of type int32`).
 * Custom resources are pruned as apiextensions-apiserver prunes them.
 */
import { badRequest, type ApiError } from './errors.js';
import type { KubeObject } from './meta.js';
import { parseApiVersion } from './resources.js';
import {
  base64Error,
  canonicalNumberQuantity,
  DECODE_INFO,
  GoKind,
  objectMetaSchema,
  quantityError,
  schemaForKind,
  timeError,
  type StructuralSchema,
} from './schema.js';

/** The `fieldValidation` query parameter of create, update and patch. */
export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

/** Options of {@link decodeObject}. */
export interface DecodeOptions {
  /** What to do about unknown and duplicate fields; default `Warn`, as kube-apiserver. */
  fieldValidation?: FieldValidation;
  /** A custom resource's structural schema (its CRD's `openAPIV3Schema` for the version). */
  schema?: StructuralSchema;
}

/** What {@link decodeObject} returns: the decoded copy and the warnings for the response. */
export interface DecodeResult {
  object: KubeObject;
  /** `unknown field "…"` / `duplicate field "…"` texts, for `Warning` headers (Warn mode only). */
  warnings: string[];
}

const LEGACY_SCHEME = 'k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:29';
const MAX_STRICT_ERRORS = 100;
const TYPE_META_STRUCT = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }';

/**
 * Decodes a request body (parsed JSON, or the raw JSON text/bytes — only then can duplicate
 * fields be detected) for a create/update of `expected`, returning a pruned deep copy.
 *
 * Built-in kinds (no `options.schema`): the body is checked against {@link schemaForKind} —
 * wrong JSON types, malformed quantities/times/base64 are 400s worded as kube's; `null` means
 * unset; missing `apiVersion`/`kind` default to `expected` (as kube defaults them from the URL);
 * another registered kind is a 400 `Service in version "v1" cannot be handled as a Pod:
 * converting (v1.Service) to (core.Pod): unknown conversion`, an unknown one a 400 `no kind … is
 * registered`. Quantities sent as numbers become kube's canonical strings.
 *
 * Custom resources (`options.schema`): only pruning, with apiextensions-apiserver's rules —
 * `x-kubernetes-preserve-unknown-fields` keeps a subtree (its declared properties are still
 * pruned), `x-kubernetes-embedded-resource` and the root keep `apiVersion`/`kind`/`metadata`,
 * `metadata` is decoded as ObjectMeta (its type errors are 400s). Type errors elsewhere are not
 * reported here: kube reports them as 422 Invalid field errors, which is the registry's schema
 * validation step's job (ajv). A missing `kind` is kube's 400 `Object 'Kind' is missing in …`;
 * a kind that differs from `expected` is left to the registry (422), an `apiVersion` that
 * differs is a 400.
 */
export function decodeObject(body: unknown, expected: { apiVersion: string; kind: string }, options: DecodeOptions = {}): DecodeResult {
  const mode = options.fieldValidation ?? 'Warn';
  let value = body;
  let raw: string | undefined;
  if (typeof body === 'string' || body instanceof Uint8Array || body === undefined) {
    raw = typeof body === 'string' ? body : body === undefined ? '' : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    if (raw.trim() === '') throw unrecognized(expected.kind, "couldn't get version/kind; json parse error: unexpected end of JSON input", raw);
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw unrecognized(expected.kind, `couldn't get version/kind; json parse error: ${(err as Error).message}`, raw);
    }
  }
  const text = (): string => {
    try {
      return raw ?? JSON.stringify(value) ?? '';
    } catch {
      return '';
    }
  };
  if (value === null) value = {};
  if (!isObject(value)) throw unrecognized(expected.kind, `couldn't get version/kind; json parse error: json: cannot unmarshal ${describe(value)} into Go value of type ${TYPE_META_STRUCT}`, text());
  for (const field of ['apiVersion', 'kind']) {
    const v = value[field];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      throw unrecognized(expected.kind, `couldn't get version/kind; json parse error: json: cannot unmarshal ${describe(v)} into Go struct field .${field} of type string`, text());
    }
  }
  const dataApiVersion = (value.apiVersion as string | null | undefined) ?? '';
  if ((dataApiVersion.match(/\//g)?.length ?? 0) > 1) throw unrecognized(expected.kind, `unexpected GroupVersion string: ${dataApiVersion}`, text());
  const data = dataApiVersion === '' || dataApiVersion === '/' ? { group: '', version: '' } : parseApiVersion(dataApiVersion);
  const dataKind = (value.kind as string | null | undefined) ?? '';
  try {
    const ctx = new Context(mode !== 'Ignore', raw !== undefined && mode !== 'Ignore' ? findDuplicates(raw) : undefined);
    if (options.schema) return decodeCustom(value, expected, options.schema, data, dataKind, mode, ctx, text);

    // gvkWithDefaults: the kind, and the group/version, come from the URL when the body omits them.
    const want = parseApiVersion(expected.apiVersion);
    const kind = dataKind || expected.kind;
    if (!data.version && (!data.group || data.group === want.group)) Object.assign(data, { group: want.group, version: want.version });
    const handled = (message: string): ApiError => badRequest(`${kind} in version "${data.version}" cannot be handled as a ${expected.kind}: ${message}`);
    if (!data.version) throw handled(`Object 'apiVersion' is missing in '${text()}'`);
    const apiVersion = data.group ? `${data.group}/${data.version}` : data.version;
    const schema = schemaForKind(apiVersion, kind);
    if (!schema) throw handled(`no kind "${kind}" is registered for version "${apiVersion}" in scheme "${LEGACY_SCHEME}"`);
    const decoded = ctx.run(value, schema, handled) as Record<string, unknown>;
    if (kind !== expected.kind) {
      throw handled(`converting (${data.version}.${kind}) to (${want.group ? want.group.split('.')[0] : 'core'}.${expected.kind}): unknown conversion`);
    }
    if (mode === 'Strict' && ctx.strict.length > 0) throw handled(`strict decoding error: ${ctx.strict.join(', ')}`);
    if (apiVersion !== expected.apiVersion) {
      throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${expected.apiVersion})`);
    }
    const object = Object.assign({ apiVersion, kind }, decoded, { apiVersion, kind }) as KubeObject;
    return { object, warnings: mode === 'Warn' ? ctx.strict : [] };
  } catch (err) {
    if (err instanceof RangeError) throw unrecognized(expected.kind, `couldn't get version/kind; json parse error: exceeded max depth`, text());
    throw err;
  }
}

function decodeCustom(
  value: Record<string, unknown>,
  expected: { apiVersion: string; kind: string },
  schema: StructuralSchema,
  data: { group: string; version: string },
  dataKind: string,
  mode: FieldValidation,
  ctx: Context,
  text: () => string,
): DecodeResult {
  if (!dataKind) throw unrecognized(expected.kind, `Object 'Kind' is missing in '${text()}'`, text());
  const handled = (message: string): ApiError => badRequest(`${dataKind} in version "${data.version}" cannot be handled as a ${expected.kind}: ${message}`);
  ctx.custom = true;
  if (ctx.dups) for (const [path, keys] of ctx.dups) for (const key of keys) ctx.strictError(`duplicate field "${path ? `${path}.${key}` : key}"`);
  const object = ctx.prune(value, schema, true, handled) as KubeObject;
  if (mode === 'Strict' && ctx.strict.length > 0) throw handled(`strict decoding error: ${ctx.strict.join(', ')}`);
  const apiVersion = data.group ? `${data.group}/${data.version}` : data.version;
  if (apiVersion !== expected.apiVersion) {
    throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${expected.apiVersion})`);
  }
  return { object, warnings: mode === 'Warn' ? ctx.strict : [] };
}

/** transformDecodeError without a kind: `the object provided is unrecognized (must be of type Pod): … ({"apiV…)`. */
function unrecognized(kind: string, message: string, raw: string): ApiError {
  const bytes = Buffer.from(raw, 'utf8');
  let summary: string;
  if (bytes.length === 0) summary = '<empty>';
  else if (bytes[0] === 0x7b) summary = bytes.length > 30 ? `${bytes.subarray(0, 30).toString('utf8')} ...` : raw;
  else summary = bytes.length > 30 ? `${bytes.subarray(0, 30).toString('hex')} ...` : bytes.toString('hex');
  return badRequest(`the object provided is unrecognized (must be of type ${kind}): ${message} (${summary})`);
}

/** Unwinds the walk on an error that Go's decoder returns at once (an UnmarshalJSON method's). */
class Abort {
  constructor(readonly message: string) {}
}

const META_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);
const NO_PROPERTIES: Record<string, StructuralSchema> = Object.freeze(Object.create(null) as Record<string, StructuralSchema>);

/** The state of one decode: where it is (for messages), what it found. */
class Context {
  /** Strict-decoding errors (unknown/duplicate fields), deduplicated, in document order. */
  readonly strict: string[] = [];
  custom = false;
  private readonly seen = new Set<string>();
  /** The JSON path: field and map keys as strings, array indices as numbers. */
  private readonly path: (string | number)[] = [];
  /** Go's error context: the struct fields entered (no indices, no map keys) and the innermost struct. */
  private readonly fields: string[] = [];
  private struct = '';
  private saved: string | undefined;

  constructor(
    readonly collect: boolean,
    readonly dups: Map<string, string[]> | undefined,
  ) {}

  /** Decodes `value` as `schema`; a type error becomes `handled(message)`. */
  run(value: unknown, schema: StructuralSchema, handled: (message: string) => ApiError): unknown {
    let out: unknown;
    try {
      out = this.decode(value, schema);
    } catch (err) {
      if (err instanceof Abort) throw handled(err.message);
      throw err;
    }
    if (this.saved !== undefined) throw handled(this.saved);
    return out;
  }

  strictError(message: string): void {
    if (!this.collect || this.seen.has(message) || (!this.custom && this.strict.length >= MAX_STRICT_ERRORS)) return;
    this.seen.add(message);
    this.strict.push(message);
  }

  private pathString(): string {
    let s = '';
    for (const seg of this.path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
    return s;
  }

  private fieldPath(key: string): string {
    const parent = this.pathString();
    return parent ? `${parent}.${key}` : key;
  }

  private typeError(what: string, goType: string): undefined {
    const msg = this.fields.length
      ? `json: cannot unmarshal ${what} into Go struct field ${this.struct}.${this.fields.join('.')} of type ${goType}`
      : `json: cannot unmarshal ${what} into Go value of type ${goType}`;
    if (this.saved === undefined) this.saved = msg;
    return undefined;
  }

  private abortType(what: string, goType: string): never {
    this.saved = undefined;
    this.typeError(what, goType);
    throw new Abort(this.saved ?? '');
  }

  private duplicates(known?: Record<string, StructuralSchema>): void {
    const keys = this.dups?.get(this.pathString());
    if (keys) for (const key of keys) if (!known || key in known) this.strictError(`duplicate field "${this.fieldPath(key)}"`);
  }

  /** Go's json.Unmarshal of `v` into the type `s` stands for; undefined = leave unset. */
  decode(v: unknown, s: StructuralSchema): unknown {
    const info = s[DECODE_INFO];
    if (info === undefined) return clone(v);
    switch (info.kind) {
      case GoKind.Struct: {
        if (!isObject(v)) return this.typeError(describe(v), info.goType);
        const props = s.properties ?? NO_PROPERTIES;
        if (this.dups) this.duplicates(props);
        const out: Record<string, unknown> = {};
        const outerStruct = this.struct;
        for (const key in v) {
          const child = props[key];
          if (child === undefined) {
            if (this.collect) this.strictError(`unknown field "${this.fieldPath(key)}"`);
            continue;
          }
          const val = v[key];
          if (val === null || val === undefined) continue;
          this.path.push(key);
          this.fields.push(key);
          this.struct = info.struct ?? '';
          const r = this.decode(val, child);
          this.struct = outerStruct;
          this.fields.pop();
          this.path.pop();
          if (r !== undefined) out[key] = r;
        }
        return out;
      }
      case GoKind.Map: {
        if (!isObject(v)) return this.typeError(describe(v), info.goType);
        if (this.dups) this.duplicates();
        const values = s.additionalProperties as StructuralSchema;
        const out: Record<string, unknown> = {};
        for (const key in v) {
          const val = v[key];
          if (val === undefined) continue;
          this.path.push(key);
          const r = val === null ? zero(values) : this.decode(val, values);
          this.path.pop();
          if (r !== undefined) setKey(out, key, r);
        }
        return out;
      }
      case GoKind.Array: {
        if (!Array.isArray(v)) return this.typeError(describe(v), info.goType);
        const items = s.items as StructuralSchema;
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          this.path.push(i);
          const val: unknown = v[i];
          out[i] = val === null || val === undefined ? zero(items) : (this.decode(val, items) ?? zero(items));
          this.path.pop();
        }
        return out;
      }
      case GoKind.String:
        return typeof v === 'string' ? v : this.typeError(describe(v), info.goType);
      case GoKind.Bool:
        return typeof v === 'boolean' ? v : this.typeError(describe(v), info.goType);
      case GoKind.Float:
        return typeof v === 'number' ? v : this.typeError(describe(v), info.goType);
      case GoKind.Int32:
      case GoKind.Int64:
        if (typeof v !== 'number') return this.typeError(describe(v), info.goType);
        return isInt(v, info.kind === GoKind.Int32) ? v : this.typeError(`number ${v}`, info.goType);
      case GoKind.IntOrString:
        if (typeof v === 'string') return v;
        if (typeof v !== 'number') return this.abortType(describe(v), 'int32');
        return isInt(v, true) ? v : this.abortType(`number ${v}`, 'int32');
      case GoKind.Time:
      case GoKind.MicroTime: {
        // A JS Date (an in-process caller's object) stands for the string it serializes to.
        if (v instanceof Date) return info.kind === GoKind.Time ? v.toISOString() : v.toISOString().replace(/Z$/, '000Z');
        if (typeof v !== 'string') return this.abortType(describe(v), 'string');
        const err = timeError(v, info.kind === GoKind.MicroTime);
        if (err) throw new Abort(err);
        return v;
      }
      case GoKind.Quantity: {
        const err = quantityError(typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));
        if (err) throw new Abort(err);
        return typeof v === 'number' ? canonicalNumberQuantity(v) : (v as string).trim();
      }
      case GoKind.Bytes: {
        if (typeof v !== 'string') return this.typeError(describe(v), info.goType);
        const err = base64Error(v);
        if (err && this.saved === undefined) this.saved = err;
        return v;
      }
      case GoKind.AnyObject:
        return isObject(v) ? clone(v) : this.typeError(describe(v), info.goType);
      case GoKind.Any:
        return clone(v);
    }
  }

  /** apiextensions-apiserver's pruning of a custom resource (`root`: the object itself). */
  prune(v: unknown, s: StructuralSchema | undefined, root: boolean, handled: (message: string) => ApiError): unknown {
    const preserve = s?.['x-kubernetes-preserve-unknown-fields'] === true;
    if (Array.isArray(v)) {
      return v.map((item: unknown, i) => {
        this.path.push(i);
        const r = preserve && s?.items === undefined ? clone(item) : this.prune(item, s?.items, false, handled);
        this.path.pop();
        return r;
      });
    }
    if (!isObject(v)) return v;
    const out: Record<string, unknown> = {};
    const embedded = root || s?.['x-kubernetes-embedded-resource'] === true;
    const props = s?.properties;
    const additional = s?.additionalProperties;
    for (const key in v) {
      const val = v[key];
      if (val === undefined) continue;
      this.path.push(key);
      if (embedded && META_FIELDS.has(key)) {
        setKey(out, key, key === 'metadata' && isObject(val) ? this.meta(val, handled) : clone(val));
      } else if (props && Object.hasOwn(props, key)) {
        setKey(out, key, this.prune(val, props[key], false, handled));
      } else if (typeof additional === 'object') {
        setKey(out, key, this.prune(val, additional, false, handled));
      } else if (preserve || additional === true) {
        setKey(out, key, clone(val));
      } else if (this.collect) {
        this.strictError(`unknown field "${this.pathString()}"`);
      }
      this.path.pop();
    }
    return out;
  }

  /** ObjectMeta inside a custom resource: decoded on its own, as objectmeta.GetObjectMeta does. */
  private meta(value: Record<string, unknown>, handled: (message: string) => ApiError): unknown {
    const fields = this.fields.splice(0);
    const outer = this.struct;
    this.struct = '';
    try {
      return this.run(value, objectMetaSchema(), (message) => handled(`${this.pathString()}: Invalid value: ${JSON.stringify(value)}: ${message}`));
    } finally {
      this.fields.push(...fields);
      this.struct = outer;
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(n: number, int32: boolean): boolean {
  return Number.isInteger(n) && (int32 ? n >= -2147483648 && n <= 2147483647 : Math.abs(n) <= 9223372036854775807);
}

/** How Go's decoder names a JSON value's type in errors. */
function describe(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  return Array.isArray(v) ? 'array' : 'object';
}

const ZEROS = new Map<GoKind, () => unknown>([
  [GoKind.String, () => ''], [GoKind.Bytes, () => ''], [GoKind.Quantity, () => '0'], [GoKind.Bool, () => false],
  [GoKind.Int32, () => 0], [GoKind.Int64, () => 0], [GoKind.Float, () => 0], [GoKind.IntOrString, () => 0],
  [GoKind.Struct, () => ({})], [GoKind.Map, () => ({})], [GoKind.Array, () => []],
]);

/** The JSON a Go zero value of the node's type encodes to (a `null` array element or map value). */
function zero(s: StructuralSchema): unknown {
  const make = ZEROS.get(s[DECODE_INFO]?.kind ?? GoKind.Any);
  return make ? make() : null;
}

/** Assigns without letting a `__proto__` key reach the prototype. */
function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

function clone(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map((item: unknown) => (item === undefined ? null : clone(item)));
  const out: Record<string, unknown> = {};
  for (const key in v) {
    const val = (v as Record<string, unknown>)[key];
    if (val !== undefined) setKey(out, key, clone(val));
  }
  return out;
}

/**
 * The duplicate keys in JSON text, by the path of the object holding them (`spec.containers[0]`,
 * `''` for the root). JSON.parse keeps the last of duplicates silently; Go's strict decoder
 * reports them.
 */
export function findDuplicates(text: string): Map<string, string[]> | undefined {
  let dups: Map<string, string[]> | undefined;
  const path: (string | number)[] = [];
  let i = 0;
  const ws = (): void => {
    for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++i));
  };
  // Index of the quote closing the string that opens at `from` (a quote preceded by an even run of backslashes).
  const stringEnd = (from: number): number => {
    for (let j = text.indexOf('"', from + 1); ; j = text.indexOf('"', j + 1)) {
      let k = j - 1;
      while (text.charCodeAt(k) === 92) k--;
      if ((j - 1 - k) % 2 === 0 || j < 0) return j < 0 ? text.length : j;
    }
  };
  const value = (): void => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 34) {
      i = stringEnd(i) + 1;
    } else if (c === 123 || c === 91) {
      const keys: string[] | undefined = c === 123 ? [] : undefined;
      let seen: Set<string> | undefined;
      i++;
      ws();
      for (let n = 0; i < text.length && text.charCodeAt(i) !== c + 2; n++) {
        let segment: string | number = n;
        if (keys) {
          ws();
          const close = stringEnd(i);
          const raw = text.slice(i + 1, close);
          const key = raw.includes('\\') ? (JSON.parse(text.slice(i, close + 1)) as string) : raw;
          i = close + 1;
          ws();
          i++; // ':'
          if (keys.length > 16) seen ??= new Set(keys);
          if (seen ? seen.has(key) : keys.includes(key)) {
            dups ??= new Map();
            const at = path.reduce<string>((s, seg) => (typeof seg === 'number' ? `${s}[${seg}]` : s ? `${s}.${seg}` : seg), '');
            dups.set(at, [...(dups.get(at) ?? []), key]);
          }
          keys.push(key);
          seen?.add(key);
          segment = key;
        }
        path.push(segment);
        value();
        path.pop();
        ws();
        if (text.charCodeAt(i) === 44) i++;
        ws();
      }
      i++;
    } else {
      for (let d = c; i < text.length && d !== 44 && d !== 125 && d !== 93 && d > 32; d = text.charCodeAt(++i));
    }
  };
  value();
  return dups;
}
