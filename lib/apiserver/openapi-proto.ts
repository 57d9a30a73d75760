/**
 * The protobuf form of `/openapi/v2`, which kubectl (client-go's `OpenAPISchema`) asks for with
 * `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: a swagger 2.0 JSON
 * document encoded as gnostic's `openapi.v2.Document` message (github.com/google/gnostic-models,
 * `openapiv2/OpenAPIv2.proto`), as kube-apiserver's OpenAPI handler serves it.
 *
 * The mapping follows gnostic's JSON → message compiler: maps become repeated `Named*` pairs in
 * the JSON's key order; `x-` keys become `vendor_extension` entries whose `Any.yaml` holds the
 * value (written as JSON, which YAML readers — kube-openapi's `VendorExtensionToMap` — accept);
 * `default`, `example` and `enum` values are `Any`s the same way; a schema's `type` is a
 * `TypeItem`, `items` an `ItemsItem`, `additionalProperties` an `AdditionalPropertiesItem`
 * (schema or boolean), `properties` a `Properties` of `NamedSchema`s. Parameters and responses
 * pick their oneof branch as gnostic does (`$ref` → `JsonReference`, `in: body` →
 * `BodyParameter`, other locations → the matching `NonBodyParameter` sub-schema). Scalars follow
 * proto3: empty strings, `false` and `0` are not written (except as a oneof member); a message
 * present in the JSON is written even when empty (`properties: {}` stays distinguishable from
 * no properties, which kubectl's schema parser cares about). Keys swagger 2.0 has no field for
 * (JSON Schema keywords OpenAPI v2 lacks) are left out.
 */

type Obj = Record<string, unknown>;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Protobuf wire-format writer: appends fields to a growable buffer. */
class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private smallVarint(value: number): void {
    if (value < 0 || value > 0x7fffffff) return this.varint(value);
    this.reserve(5);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
  }

  private tag(field: number, wire: number): void {
    this.smallVarint((field << 3) | wire);
  }

  /** A string field; proto3 leaves out empty and absent ones unless `always`. */
  string(field: number, value: unknown, always = false): void {
    if (typeof value !== 'string' || (value === '' && !always)) return;
    const size = Buffer.byteLength(value);
    this.tag(field, LEN);
    this.smallVarint(size);
    this.reserve(size);
    this.len += this.buf.write(value, this.len, 'utf8');
  }

  /** A repeated string field (non-string items are skipped). */
  strings(field: number, values: unknown): void {
    if (!Array.isArray(values)) return;
    for (const v of values) this.string(field, v, true);
  }

  /** A bool field; written only when true unless `always` (a oneof member). */
  bool(field: number, value: unknown, always = false): void {
    if (typeof value !== 'boolean' || (!value && !always)) return;
    this.tag(field, VARINT);
    this.smallVarint(value ? 1 : 0);
  }

  /** A double field (left out when zero). */
  double(field: number, value: unknown): void {
    if (typeof value !== 'number' || value === 0) return;
    this.tag(field, FIXED64);
    this.reserve(8);
    this.len = this.buf.writeDoubleLE(value, this.len);
  }

  /** An int64 field (left out when zero or not an integer). */
  int64(field: number, value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value === 0) return;
    this.tag(field, VARINT);
    this.varint(BigInt(value));
  }

  /**
   * An embedded message, written by `body` (written even when empty): written in place, then
   * moved up by the size of its length prefix once that is known.
   */
  message(field: number, body: (w: Writer) => void): void {
    this.tag(field, LEN);
    const start = this.len;
    body(this);
    const size = this.len - start;
    const prefix = size < 0x80 ? 1 : size < 0x4000 ? 2 : size < 0x200000 ? 3 : size < 0x10000000 ? 4 : 5;
    this.reserve(prefix);
    this.buf.copyWithin(start + prefix, start, this.len);
    this.len = start;
    this.smallVarint(size);
    this.len += size;
  }

  /** The bytes written so far. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** `Any { string yaml = 2; }`: the value as YAML text (JSON is YAML). */
function any(w: Writer, value: unknown): void {
  w.string(2, `${JSON.stringify(value)}\n`, true);
}

/** A present value as an `Any` field. */
function anyField(w: Writer, field: number, value: unknown): void {
  if (value !== undefined) w.message(field, (m) => any(m, value));
}

/** Repeated `Any` (enum). */
function anys(w: Writer, field: number, values: unknown): void {
  if (Array.isArray(values)) for (const v of values) anyField(w, field, v);
}

/** `repeated NamedAny vendor_extension`: the `x-` keys of `obj`. */
function extensions(w: Writer, field: number, obj: Obj): void {
  for (const [name, value] of Object.entries(obj)) {
    if (!name.startsWith('x-') || value === undefined) continue;
    w.message(field, (m) => {
      m.string(1, name, true);
      m.message(2, (a) => any(a, value));
    });
  }
}

/** A map as `repeated Named<T> { string name = 1; T value = 2; }` entries (the `x-` keys excluded when `skipExtensions`). */
function named(w: Writer, field: number, map: unknown, value: (w: Writer, v: unknown) => void, skipExtensions = false): void {
  if (!isObject(map)) return;
  for (const [name, v] of Object.entries(map)) {
    if (skipExtensions && name.startsWith('x-')) continue;
    w.message(field, (m) => {
      m.string(1, name, true);
      m.message(2, (inner) => value(inner, v));
    });
  }
}

/** An object-valued key as a message field. */
function sub(w: Writer, field: number, value: unknown, body: (w: Writer, v: Obj) => void): void {
  if (isObject(value)) w.message(field, (m) => body(m, value));
}

// ---------------------------------------------------------------- messages

function externalDocs(w: Writer, d: Obj): void {
  w.string(1, d.description);
  w.string(2, d.url);
  extensions(w, 3, d);
}

function xml(w: Writer, x: Obj): void {
  w.string(1, x.name);
  w.string(2, x.namespace);
  w.string(3, x.prefix);
  w.bool(4, x.attribute);
  w.bool(5, x.wrapped);
  extensions(w, 6, x);
}

/** `Schema` (fields 1–31). */
function schema(w: Writer, s: Obj): void {
  w.string(1, s.$ref);
  w.string(2, s.format);
  w.string(3, s.title);
  w.string(4, s.description);
  anyField(w, 5, s.default);
  w.double(6, s.multipleOf);
  w.double(7, s.maximum);
  w.bool(8, s.exclusiveMaximum);
  w.double(9, s.minimum);
  w.bool(10, s.exclusiveMinimum);
  w.int64(11, s.maxLength);
  w.int64(12, s.minLength);
  w.string(13, s.pattern);
  w.int64(14, s.maxItems);
  w.int64(15, s.minItems);
  w.bool(16, s.uniqueItems);
  w.int64(17, s.maxProperties);
  w.int64(18, s.minProperties);
  w.strings(19, s.required);
  anys(w, 20, s.enum);
  const additional = s.additionalProperties;
  if (typeof additional === 'boolean') w.message(21, (m) => m.bool(2, additional, true));
  else sub(w, 21, additional, (m, v) => m.message(1, (inner) => schema(inner, v)));
  if (typeof s.type === 'string' || Array.isArray(s.type)) w.message(22, (m) => m.strings(1, typeof s.type === 'string' ? [s.type] : s.type));
  if (isObject(s.items) || Array.isArray(s.items)) {
    const items = Array.isArray(s.items) ? s.items : [s.items];
    w.message(23, (m) => {
      for (const item of items) sub(m, 1, item, schema);
    });
  }
  if (Array.isArray(s.allOf)) for (const part of s.allOf) sub(w, 24, part, schema);
  sub(w, 25, s.properties, (m, props) => named(m, 1, props, (inner, v) => isObject(v) && schema(inner, v)));
  w.string(26, s.discriminator);
  w.bool(27, s.readOnly);
  sub(w, 28, s.xml, xml);
  sub(w, 29, s.externalDocs, externalDocs);
  anyField(w, 30, s.example);
  extensions(w, 31, s);
}

/** `FileSchema` (a response schema of `type: file`). */
function fileSchema(w: Writer, s: Obj): void {
  w.string(1, s.format);
  w.string(2, s.title);
  w.string(3, s.description);
  anyField(w, 4, s.default);
  w.strings(5, s.required);
  w.string(6, s.type);
  w.bool(7, s.readOnly);
  sub(w, 8, s.externalDocs, externalDocs);
  anyField(w, 9, s.example);
  extensions(w, 10, s);
}

/**
 * The validation keywords shared by `PrimitivesItems`, `Header` and the non-body parameter
 * sub-schemas, from `type` on, numbered consecutively from `first` (vendor extensions excluded).
 */
function primitives(w: Writer, p: Obj, first: number): void {
  w.string(first, p.type);
  w.string(first + 1, p.format);
  sub(w, first + 2, p.items, (m, v) => {
    primitives(m, v, 1);
    extensions(m, 18, v);
  });
  w.string(first + 3, p.collectionFormat);
  anyField(w, first + 4, p.default);
  w.double(first + 5, p.maximum);
  w.bool(first + 6, p.exclusiveMaximum);
  w.double(first + 7, p.minimum);
  w.bool(first + 8, p.exclusiveMinimum);
  w.int64(first + 9, p.maxLength);
  w.int64(first + 10, p.minLength);
  w.string(first + 11, p.pattern);
  w.int64(first + 12, p.maxItems);
  w.int64(first + 13, p.minItems);
  w.bool(first + 14, p.uniqueItems);
  anys(w, first + 15, p.enum);
  w.double(first + 16, p.multipleOf);
}

/** `Header` (of a response): the primitive keywords, then `description = 18`. */
function header(w: Writer, h: Obj): void {
  primitives(w, h, 1);
  w.string(18, h.description);
  extensions(w, 19, h);
}

/** `NonBodyParameter`'s branch for a parameter's location (undefined: unknown location). */
const NON_BODY: Record<string, { branch: number; allowEmptyValue: boolean }> = {
  header: { branch: 1, allowEmptyValue: false },
  formData: { branch: 2, allowEmptyValue: true },
  query: { branch: 3, allowEmptyValue: true },
  path: { branch: 4, allowEmptyValue: false },
};

/** `Parameter` (oneof body / non-body). */
function parameter(w: Writer, p: Obj): void {
  if (p.in === 'body') {
    w.message(1, (b) => {
      b.string(1, p.description);
      b.string(2, p.name);
      b.string(3, p.in);
      b.bool(4, p.required);
      sub(b, 5, p.schema, schema);
      extensions(b, 6, p);
    });
    return;
  }
  const kind = NON_BODY[String(p.in)];
  if (!kind) return;
  w.message(2, (nb) =>
    nb.message(kind.branch, (m) => {
      m.bool(1, p.required);
      m.string(2, p.in);
      m.string(3, p.description);
      m.string(4, p.name);
      if (kind.allowEmptyValue) m.bool(5, p.allowEmptyValue);
      const first = kind.allowEmptyValue ? 6 : 5;
      primitives(m, p, first);
      extensions(m, first + 17, p);
    }),
  );
}

/** `ParametersItem` (oneof parameter / `$ref`). */
function parametersItem(w: Writer, p: Obj): void {
  if (typeof p.$ref === 'string') w.message(2, (r) => jsonReference(r, p));
  else w.message(1, (m) => parameter(m, p));
}

function jsonReference(w: Writer, r: Obj): void {
  w.string(1, r.$ref);
  w.string(2, r.description);
}

/** `Response`. */
function response(w: Writer, r: Obj): void {
  w.string(1, r.description);
  sub(w, 2, r.schema, (m, s) => (s.type === 'file' ? m.message(2, (f) => fileSchema(f, s)) : m.message(1, (inner) => schema(inner, s))));
  sub(w, 3, r.headers, (m, hs) => named(m, 1, hs, (inner, v) => isObject(v) && header(inner, v)));
  sub(w, 4, r.examples, (m, ex) => named(m, 1, ex, any));
  extensions(w, 5, r);
}

/** `Responses`: status codes (and `default`), then vendor extensions. */
function responses(w: Writer, rs: Obj): void {
  named(
    w,
    1,
    rs,
    (m, v) => {
      if (!isObject(v)) return;
      if (typeof v.$ref === 'string') m.message(2, (r) => jsonReference(r, v));
      else m.message(1, (r) => response(r, v));
    },
    true,
  );
  extensions(w, 2, rs);
}

function securityRequirement(w: Writer, req: Obj): void {
  named(w, 1, req, (m, scopes) => m.strings(1, scopes));
}

/** `Operation`. */
function operation(w: Writer, op: Obj): void {
  w.strings(1, op.tags);
  w.string(2, op.summary);
  w.string(3, op.description);
  sub(w, 4, op.externalDocs, externalDocs);
  w.string(5, op.operationId);
  w.strings(6, op.produces);
  w.strings(7, op.consumes);
  if (Array.isArray(op.parameters)) for (const p of op.parameters) sub(w, 8, p, parametersItem);
  sub(w, 9, op.responses, responses);
  w.strings(10, op.schemes);
  w.bool(11, op.deprecated);
  if (Array.isArray(op.security)) for (const s of op.security) sub(w, 12, s, securityRequirement);
  extensions(w, 13, op);
}

const METHODS: [string, number][] = [['get', 2], ['put', 3], ['post', 4], ['delete', 5], ['options', 6], ['head', 7], ['patch', 8]];

/** `PathItem`. */
function pathItem(w: Writer, item: Obj): void {
  w.string(1, item.$ref);
  for (const [method, field] of METHODS) sub(w, field, item[method], operation);
  if (Array.isArray(item.parameters)) for (const p of item.parameters) sub(w, 9, p, parametersItem);
  extensions(w, 10, item);
}

function oauth2Scopes(w: Writer, scopes: Obj): void {
  named(w, 1, scopes, (m, v) => m.string(2, v, true));
}

/** `SecurityDefinitionsItem` (oneof by `type`, and `flow` for oauth2). */
function securityDefinition(w: Writer, d: Obj): void {
  if (d.type === 'basic') {
    w.message(1, (m) => {
      m.string(1, d.type);
      m.string(2, d.description);
      extensions(m, 3, d);
    });
  } else if (d.type === 'apiKey') {
    w.message(2, (m) => {
      m.string(1, d.type);
      m.string(2, d.name);
      m.string(3, d.in);
      m.string(4, d.description);
      extensions(m, 5, d);
    });
  } else if (d.type === 'oauth2') {
    // implicit: authorizationUrl; password/application: tokenUrl; accessCode: both.
    const branch = { implicit: 3, password: 4, application: 5, accessCode: 6 }[String(d.flow)];
    if (!branch) return;
    w.message(branch, (m) => {
      m.string(1, d.type);
      m.string(2, d.flow);
      sub(m, 3, d.scopes, oauth2Scopes);
      let next = 4;
      if (branch === 3 || branch === 6) m.string(next++, d.authorizationUrl);
      if (branch !== 3) m.string(next++, d.tokenUrl);
      m.string(next++, d.description);
      extensions(m, next, d);
    });
  }
}

/** `Info` (with `Contact` and `License`). */
function info(w: Writer, i: Obj): void {
  w.string(1, i.title);
  w.string(2, i.version);
  w.string(3, i.description);
  w.string(4, i.termsOfService);
  sub(w, 5, i.contact, (m, c) => {
    m.string(1, c.name);
    m.string(2, c.url);
    m.string(3, c.email);
    extensions(m, 4, c);
  });
  sub(w, 6, i.license, (m, l) => {
    m.string(1, l.name);
    m.string(2, l.url);
    extensions(m, 3, l);
  });
  extensions(w, 7, i);
}

/**
 * A swagger 2.0 document (as JSON) encoded as gnostic's `openapi.v2.Document` protobuf message:
 * the body kube-apiserver serves for `/openapi/v2` under
 * `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
 */
export function encodeOpenAPIV2(doc: object): Buffer {
  const d = doc as Obj;
  const w = new Writer();
  w.string(1, d.swagger);
  sub(w, 2, d.info, info);
  w.string(3, d.host);
  w.string(4, d.basePath);
  w.strings(5, d.schemes);
  w.strings(6, d.consumes);
  w.strings(7, d.produces);
  sub(w, 8, d.paths, (m, paths) => {
    extensions(m, 1, paths);
    named(m, 2, paths, (inner, v) => isObject(v) && pathItem(inner, v), true);
  });
  sub(w, 9, d.definitions, (m, defs) => named(m, 1, defs, (inner, v) => isObject(v) && schema(inner, v)));
  sub(w, 10, d.parameters, (m, params) => named(m, 1, params, (inner, v) => isObject(v) && parameter(inner, v)));
  sub(w, 11, d.responses, (m, rs) => named(m, 1, rs, (inner, v) => isObject(v) && response(inner, v)));
  if (Array.isArray(d.security)) for (const s of d.security) sub(w, 12, s, securityRequirement);
  sub(w, 13, d.securityDefinitions, (m, defs) => named(m, 1, defs, (inner, v) => isObject(v) && securityDefinition(inner, v)));
  if (Array.isArray(d.tags)) {
    for (const t of d.tags) {
      sub(w, 14, t, (m, tag) => {
        m.string(1, tag.name);
        m.string(2, tag.description);
        sub(m, 3, tag.externalDocs, externalDocs);
        extensions(m, 4, tag);
      });
    }
  }
  sub(w, 15, d.externalDocs, externalDocs);
  extensions(w, 16, d);
  return w.finish();
}
