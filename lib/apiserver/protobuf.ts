/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which
 * kubectl's typed clients send for built-in kinds (`kubectl create configmap|secret|service|
 * namespace`, `kubectl debug`, …). A body is the magic `k8s\0` followed by a `runtime.Unknown`
 * envelope — `typeMeta` (apiVersion, kind), `raw` (the object's own protobuf encoding),
 * `contentEncoding`, `contentType` — and is turned into the JSON object kube's JSON encoding
 * of the same Go object would give: JSON field names, `omitempty` for non-pointer zero values,
 * maps and arrays, bytes as base64, Time/MicroTime as RFC 3339, Quantity and IntOrString in
 * their JSON forms. Schemas live in `protobuf-schema.ts`. Unknown fields are skipped; malformed
 * input is a 400 BadRequest, never a crash.
 */
import { badRequest } from '../api/errors.js';
import { protobufMessageFor, PROTOBUF_MESSAGES, type FieldDef, type MessageDef, type ScalarKind, type SpecialKind, type ValueType } from './protobuf-schema.js';

/** The media type of Kubernetes protobuf bodies. */
export const KUBERNETES_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

/** The 4-byte prefix of every Kubernetes protobuf body: `k8s\0`. */
export const KUBERNETES_PROTOBUF_MAGIC: readonly number[] = [0x6b, 0x38, 0x73, 0x00];

/** A decoded protobuf body: its type and the object as kube's JSON encoding would give it. */
export interface DecodedProtobuf {
  /** The envelope's apiVersion, e.g. `v1`. */
  apiVersion: string;
  /** The envelope's kind, e.g. `ConfigMap`. */
  kind: string;
  /** The object as JSON, `apiVersion` and `kind` included. */
  object: Record<string, unknown>;
}

/** Whether a Content-Type header names Kubernetes protobuf (parameters are ignored). */
export function isKubernetesProtobuf(contentType: string): boolean {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() === KUBERNETES_PROTOBUF_MEDIA_TYPE;
}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;
const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'wire type 6', 'wire type 7'];
const utf8 = new TextDecoder('utf-8');

function malformed(path: string, detail: string): Error {
  return badRequest(`unable to decode Kubernetes protobuf body${path ? ` at ${path}` : ''}: ${detail}`);
}

/** A cursor over one length-delimited protobuf message. */
class Reader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    private readonly path: string,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  fail(detail: string): Error {
    return malformed(this.path, `${detail} (byte ${this.pos})`);
  }

  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.fail('truncated varint');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw this.fail('varint longer than 10 bytes');
  }

  /** A field key: [field number, wire type]. */
  key(): [number, number] {
    const key = this.varint();
    const field = Number(key >> 3n);
    if (field < 1 || field > 536870911) throw this.fail(`invalid field number ${field}`);
    return [field, Number(key & 7n)];
  }

  bytes(): Uint8Array {
    const length = this.varint();
    if (length > BigInt(this.end - this.pos)) throw this.fail(`length ${length} runs past the end of the message`);
    const start = this.pos;
    this.pos += Number(length);
    return this.buf.subarray(start, this.pos);
  }

  fixed(size: 4 | 8): DataView {
    if (this.end - this.pos < size) throw this.fail(`truncated fixed${size * 8}`);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, size);
    this.pos += size;
    return view;
  }

  /** Skips a field's value of the given wire type (groups included, nested or not). */
  skip(wire: number, field: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === FIXED64) this.fixed(8);
    else if (wire === LEN) this.bytes();
    else if (wire === FIXED32) this.fixed(4);
    else if (wire === START_GROUP) {
      const open = [field];
      while (open.length > 0) {
        if (this.done()) throw this.fail(`unterminated group ${open.at(-1)}`);
        const [f, w] = this.key();
        if (w === END_GROUP) {
          if (f !== open.pop()) throw this.fail(`mismatched end of group ${f}`);
        } else if (w === START_GROUP) open.push(f);
        else this.skip(w, f);
      }
    } else throw this.fail(`unexpected ${WIRE_NAMES[wire]} for field ${field}`);
  }
}

function expectWire(r: Reader, wire: number, want: number, path: string): void {
  if (wire !== want) throw r.fail(`${path}: expected ${WIRE_NAMES[want]}, got ${WIRE_NAMES[wire]}`);
}

function scalarWire(kind: ScalarKind): number {
  return kind === 's' || kind === 'y' ? LEN : kind === 'd' ? FIXED64 : kind === 'f' ? FIXED32 : VARINT;
}

function readScalar(r: Reader, kind: ScalarKind): unknown {
  switch (kind) {
    case 's':
      return utf8.decode(r.bytes());
    case 'y':
      return Buffer.from(r.bytes()).toString('base64');
    case 'i':
      return Number(BigInt.asIntN(32, r.varint()));
    case 'u':
      return Number(BigInt.asUintN(32, r.varint()));
    case 'l':
      return Number(BigInt.asIntN(64, r.varint()));
    case 'b':
      return r.varint() !== 0n;
    case 'd':
      return r.fixed(8).getFloat64(0, true);
    case 'f':
      return r.fixed(4).getFloat32(0, true);
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** metav1.Time / MicroTime: `{seconds = 1, nanos = 2}`, empty for the zero time. */
function readTime(bytes: Uint8Array, path: string, micro: boolean): string | undefined {
  if (bytes.length === 0) return undefined;
  const r = new Reader(bytes, path);
  let seconds = 0;
  let nanos = 0;
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === VARINT) seconds = Number(BigInt.asIntN(64, r.varint()));
    else if (field === 2 && wire === VARINT) nanos = Number(BigInt.asIntN(32, r.varint()));
    else r.skip(wire, field);
  }
  seconds += Math.floor(nanos / 1e9);
  nanos = ((nanos % 1e9) + 1e9) % 1e9;
  const date = new Date(seconds * 1000);
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) throw malformed(path, `time ${seconds}s is outside of the years 0-9999`);
  const base =
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  return micro ? `${base}.${pad(Math.floor(nanos / 1000), 6)}Z` : `${base}Z`;
}

/** The single length-delimited field 1 of a wrapper message (Quantity, RawExtension, FieldsV1). */
function readField1(bytes: Uint8Array, path: string): Uint8Array | undefined {
  const r = new Reader(bytes, path);
  let value: Uint8Array | undefined;
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1) {
      expectWire(r, wire, LEN, path);
      value = r.bytes();
    } else r.skip(wire, field);
  }
  return value;
}

function readEmbeddedJson(bytes: Uint8Array, path: string): unknown {
  const raw = readField1(bytes, path);
  if (raw === undefined || raw.length === 0) return undefined;
  try {
    return JSON.parse(utf8.decode(raw)) as unknown;
  } catch (err) {
    throw malformed(path, `embedded JSON is invalid: ${(err as Error).message}`);
  }
}

function readIntOrString(bytes: Uint8Array, path: string): number | string {
  const r = new Reader(bytes, path);
  let type = 0n;
  let intVal = 0;
  let strVal = '';
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === VARINT) type = BigInt.asIntN(64, r.varint());
    else if (field === 2 && wire === VARINT) intVal = Number(BigInt.asIntN(32, r.varint()));
    else if (field === 3 && wire === LEN) strVal = utf8.decode(r.bytes());
    else r.skip(wire, field);
  }
  return type === 1n ? strVal : intVal;
}

function readSpecial(bytes: Uint8Array, kind: SpecialKind, path: string): unknown {
  switch (kind) {
    case 'Time':
      return readTime(bytes, path, false);
    case 'MicroTime':
      return readTime(bytes, path, true);
    case 'Quantity': {
      const raw = readField1(bytes, path);
      return raw === undefined || raw.length === 0 ? '0' : utf8.decode(raw);
    }
    case 'IntOrString':
      return readIntOrString(bytes, path);
    case 'RawExtension':
    case 'FieldsV1':
      return readEmbeddedJson(bytes, path);
  }
}

/** Whether Go's `omitempty` (or the empty-struct rule) drops this value from a non-pointer field. */
function isZero(value: unknown, type: ValueType): boolean {
  if (value === undefined || value === '' || value === 0 || value === false) return true;
  if ('special' in type && type.special === 'Quantity') return value === '0';
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function messageDef(name: string): MessageDef {
  const def = PROTOBUF_MESSAGES.get(name);
  if (!def) throw new Error(`protobuf schema: unknown message ${name}`);
  return def;
}

/** Reads one value of a field's type (a map's value type for maps), wire type checked. */
function readValue(r: Reader, wire: number, type: ValueType, path: string, existing?: unknown): unknown {
  if ('scalar' in type) {
    expectWire(r, wire, scalarWire(type.scalar), path);
    return readScalar(r, type.scalar);
  }
  expectWire(r, wire, LEN, path);
  const bytes = r.bytes();
  if ('special' in type) return readSpecial(bytes, type.special, path);
  const target = typeof existing === 'object' && existing !== null && !Array.isArray(existing) ? (existing as Record<string, unknown>) : {};
  decodeMessage(bytes, messageDef(type.message), target, path);
  return target;
}

function readMapEntry(r: Reader, wire: number, field: FieldDef, target: Record<string, unknown>, path: string): void {
  expectWire(r, wire, LEN, path);
  const entry = new Reader(r.bytes(), path);
  let key = '';
  let value: unknown;
  while (!entry.done()) {
    const [f, w] = entry.key();
    if (f === 1) {
      expectWire(entry, w, LEN, `${path} key`);
      key = utf8.decode(entry.bytes());
    } else if (f === 2) value = readValue(entry, w, field.type, `${path}[value]`);
    else entry.skip(w, f);
  }
  if (value === undefined) value = 'scalar' in field.type ? (field.type.scalar === 's' || field.type.scalar === 'y' ? '' : 0) : 'special' in field.type && field.type.special === 'Quantity' ? '0' : {};
  const map = target[field.name];
  const object = typeof map === 'object' && map !== null ? (map as Record<string, unknown>) : {};
  setKey(object, key, value);
  setKey(target, field.name, object);
}

function readRepeated(r: Reader, wire: number, field: FieldDef, target: Record<string, unknown>, path: string): void {
  const list = Array.isArray(target[field.name]) ? (target[field.name] as unknown[]) : [];
  const at = `${path}[${list.length}]`;
  if ('scalar' in field.type && wire === LEN && scalarWire(field.type.scalar) !== LEN) {
    // A packed run of varints or fixed-width numbers.
    const packed = new Reader(r.bytes(), at);
    while (!packed.done()) list.push(readScalar(packed, field.type.scalar));
  } else {
    const value = readValue(r, wire, field.type, at);
    list.push(value === undefined ? null : value);
  }
  setKey(target, field.name, list);
}

/** Decodes a message's bytes into `target` (which may already hold fields, as protobuf merges). */
function decodeMessage(bytes: Uint8Array, def: MessageDef, target: Record<string, unknown>, path: string): void {
  const r = new Reader(bytes, path);
  while (!r.done()) {
    const [number, wire] = r.key();
    const field = def.fields.get(number);
    if (!field) {
      r.skip(wire, number);
      continue;
    }
    const at = field.inline ? path : path ? `${path}.${field.name}` : field.name;
    if (field.map) readMapEntry(r, wire, field, target, at);
    else if (field.repeated) readRepeated(r, wire, field, target, at);
    else if (field.inline) {
      expectWire(r, wire, LEN, at || field.name);
      if (!('message' in field.type)) throw new Error(`protobuf schema: ${def.name}.${field.name} cannot be inlined`);
      decodeMessage(r.bytes(), messageDef(field.type.message), target, path);
    } else {
      const value = readValue(r, wire, field.type, at, target[field.name]);
      if (value === undefined || (!field.keep && isZero(value, field.type))) delete target[field.name];
      else setKey(target, field.name, value);
    }
  }
}

/** The `runtime.Unknown` envelope of a protobuf body. */
interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
  contentType: string;
}

function readEnvelope(body: Uint8Array): Envelope {
  const envelope: Envelope = { apiVersion: '', kind: '', raw: new Uint8Array(0), contentEncoding: '', contentType: '' };
  const r = new Reader(body, '', KUBERNETES_PROTOBUF_MAGIC.length);
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1) {
      expectWire(r, wire, LEN, 'typeMeta');
      const meta = new Reader(r.bytes(), 'typeMeta');
      while (!meta.done()) {
        const [f, w] = meta.key();
        if (f === 1 || f === 2) {
          expectWire(meta, w, LEN, f === 1 ? 'typeMeta.apiVersion' : 'typeMeta.kind');
          envelope[f === 1 ? 'apiVersion' : 'kind'] = utf8.decode(meta.bytes());
        } else meta.skip(w, f);
      }
    } else if (field === 2) {
      expectWire(r, wire, LEN, 'raw');
      envelope.raw = r.bytes();
    } else if (field === 3 || field === 4) {
      expectWire(r, wire, LEN, field === 3 ? 'contentEncoding' : 'contentType');
      envelope[field === 3 ? 'contentEncoding' : 'contentType'] = utf8.decode(r.bytes());
    } else r.skip(wire, field);
  }
  return envelope;
}

/**
 * Decodes a Kubernetes protobuf request body into the JSON object kube's JSON encoding of the
 * same object would be. Throws a 400 BadRequest ApiError for a body without the `k8s\0` prefix,
 * a malformed envelope or object, an encoded (e.g. gzip) or non-protobuf payload, or a kind the
 * decoder has no schema for.
 */
export function decodeKubernetesProtobuf(body: Uint8Array): DecodedProtobuf {
  if (body.length < KUBERNETES_PROTOBUF_MAGIC.length || KUBERNETES_PROTOBUF_MAGIC.some((b, i) => body[i] !== b)) {
    throw badRequest(`provided data does not appear to be a protobuf message, expected prefix [${KUBERNETES_PROTOBUF_MAGIC.join(' ')}]`);
  }
  const envelope = readEnvelope(body);
  const { apiVersion, kind } = envelope;
  if (kind === '') throw badRequest("Object 'Kind' is missing in the protobuf body");
  if (envelope.contentEncoding !== '') throw badRequest(`unsupported content encoding "${envelope.contentEncoding}" in the protobuf body`);
  if (envelope.contentType !== '' && !isKubernetesProtobuf(envelope.contentType)) {
    throw badRequest(`unsupported content type "${envelope.contentType}" inside the protobuf body`);
  }
  const def = protobufMessageFor(apiVersion, kind);
  if (!def) throw badRequest(`no kind "${kind}" is registered for version "${apiVersion}" in keelson's protobuf decoder; send it as JSON`);
  const object: Record<string, unknown> = { apiVersion, kind };
  decodeMessage(envelope.raw, def, object, '');
  return { apiVersion, kind, object };
}
