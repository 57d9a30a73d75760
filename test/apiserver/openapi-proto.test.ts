/**
 * `/openapi/v2` as gnostic protobuf (what kubectl's client-side validation reads): the encoding
 * decoded back with a small wire-format reader and checked field by field against the numbers of
 * gnostic's OpenAPIv2.proto — definitions (type as TypeItem, properties as NamedSchema,
 * additionalProperties, items, $ref, required, enum, vendor extensions as YAML `Any`s), paths with
 * operations, parameters and responses, security — plus content negotiation, ETag, 304 and gzip
 * over HTTP.
 */
import { expect } from 'chai';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { BUILTIN_RESOURCES } from '../../lib/api/kinds.js';
import { ResourceTypes } from '../../lib/api/resources.js';
import {
  negotiateOpenAPIV2,
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
  OPENAPI_V2_PROTOBUF_MEDIA_TYPE,
  openapiV2,
  openapiV2Representation,
  openapiV2Served,
} from '../../lib/apiserver/openapi.js';
import { encodeOpenAPIV2 } from '../../lib/apiserver/openapi-proto.js';
import { kvBackends } from '../harness/backends.js';
import { startTestApiServer, type TestApiServer } from '../harness/apiserver.js';

type Json = Record<string, any>;

// ---------------------------------------------------------------- a tiny protobuf reader

/** A decoded message: each field number's values in order (varints as bigint, the rest as bytes). */
class Msg {
  readonly fields = new Map<number, (bigint | Buffer)[]>();

  constructor(buf: Buffer) {
    let pos = 0;
    const varint = (): bigint => {
      let result = 0n;
      for (let shift = 0n; ; shift += 7n) {
        if (pos >= buf.length) throw new Error('truncated varint');
        const byte = buf[pos++]!;
        result |= BigInt(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return result;
      }
    };
    while (pos < buf.length) {
      const tag = Number(varint());
      const field = tag >>> 3;
      const wire = tag & 7;
      let value: bigint | Buffer;
      if (wire === 0) value = varint();
      else if (wire === 1) value = buf.subarray(pos, (pos += 8));
      else if (wire === 2) {
        const len = Number(varint());
        if (pos + len > buf.length) throw new Error(`field ${field}: length ${len} past the end`);
        value = buf.subarray(pos, (pos += len));
      } else if (wire === 5) value = buf.subarray(pos, (pos += 4));
      else throw new Error(`field ${field}: wire type ${wire}`);
      const list = this.fields.get(field) ?? [];
      list.push(value);
      this.fields.set(field, list);
    }
  }

  has(n: number): boolean {
    return this.fields.has(n);
  }
  private bytes(n: number): Buffer[] {
    return (this.fields.get(n) ?? []).map((v) => {
      if (!Buffer.isBuffer(v)) throw new Error(`field ${n} is not length-delimited`);
      return v;
    });
  }
  str(n: number): string | undefined {
    return this.bytes(n).at(-1)?.toString('utf8');
  }
  strs(n: number): string[] {
    return this.bytes(n).map((b) => b.toString('utf8'));
  }
  msg(n: number): Msg | undefined {
    const b = this.bytes(n).at(-1);
    return b ? new Msg(b) : undefined;
  }
  msgs(n: number): Msg[] {
    return this.bytes(n).map((b) => new Msg(b));
  }
  bool(n: number): boolean | undefined {
    const v = this.fields.get(n)?.at(-1);
    return v === undefined ? undefined : v === 1n;
  }
  int(n: number): number | undefined {
    const v = this.fields.get(n)?.at(-1);
    return typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : undefined;
  }
  double(n: number): number | undefined {
    return this.bytes(n).at(-1)?.readDoubleLE(0);
  }
  /** `repeated Named* { string name = 1; T value = 2; }` as [name, value message] pairs. */
  named(n: number): [string, Msg][] {
    return this.msgs(n).map((entry) => [entry.str(1) ?? '', entry.msg(2)!]);
  }
}

/** An `Any` message's YAML, parsed. */
const anyValue = (any: Msg): unknown => parseYaml(any.str(2)!);
/** Vendor extensions (`repeated NamedAny`) as an object. */
const exts = (m: Msg, n: number): Json => Object.fromEntries(m.named(n).map(([name, any]) => [name, anyValue(any)]));

/** A decoded gnostic `Schema` back as swagger JSON (the keys keelson's documents use). */
function schemaJson(s: Msg): Json {
  const out: Json = {};
  if (s.has(1)) out.$ref = s.str(1);
  if (s.has(2)) out.format = s.str(2);
  if (s.has(4)) out.description = s.str(4);
  if (s.has(5)) out.default = anyValue(s.msg(5)!);
  if (s.has(7)) out.maximum = s.double(7);
  if (s.has(9)) out.minimum = s.double(9);
  if (s.has(19)) out.required = s.strs(19);
  if (s.has(20)) out.enum = s.msgs(20).map(anyValue);
  if (s.has(21)) {
    const ap = s.msg(21)!;
    out.additionalProperties = ap.has(1) ? schemaJson(ap.msg(1)!) : ap.bool(2);
  }
  if (s.has(22)) {
    const types = s.msg(22)!.strs(1);
    out.type = types.length === 1 ? types[0] : types;
  }
  if (s.has(23)) out.items = schemaJson(s.msg(23)!.msgs(1)[0]!);
  if (s.has(25)) out.properties = Object.fromEntries(s.msg(25)!.named(1).map(([name, v]) => [name, schemaJson(v)]));
  Object.assign(out, exts(s, 31));
  return out;
}

/** Sorts an object's keys deeply (field order is the proto's, not the JSON's). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Json)[k])]));
}

// ---------------------------------------------------------------- tests

describe('apiserver OpenAPI v2 protobuf', () => {
  const types = new ResourceTypes(BUILTIN_RESOURCES);
  const json = openapiV2(types);
  const doc = new Msg(openapiV2Representation(types, 'protobuf').body);
  const definitions = new Map(doc.msg(9)!.named(1));
  const paths = new Map(doc.msg(8)!.named(2));

  it('encodes the document: swagger, info, every path and definition in order', () => {
    expect(doc.str(1)).to.equal('2.0');
    expect(doc.msg(2)!.str(1)).to.equal('Kubernetes');
    expect(doc.msg(2)!.str(2)).to.equal(json.info.version);
    expect([...paths.keys()]).to.deep.equal(Object.keys(json.paths));
    expect([...definitions.keys()]).to.deep.equal(Object.keys(json.definitions));
  });

  it('encodes every definition schema so that it decodes back to the JSON one', () => {
    for (const [name, schema] of definitions) {
      expect(sortKeys(schemaJson(schema)), name).to.deep.equal(sortKeys(json.definitions[name]));
    }
  });

  it('encodes a kind: TypeItem, NamedSchema properties, additionalProperties, $ref, GVK extension as YAML', () => {
    const cm = definitions.get('io.k8s.api.core.v1.ConfigMap')!;
    expect(cm.msg(22)!.strs(1)).to.deep.equal(['object']);
    expect(cm.str(4)).to.equal(json.definitions['io.k8s.api.core.v1.ConfigMap']!.description);
    const props = new Map(cm.msg(25)!.named(1));
    expect([...props.keys()]).to.include.members(['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable']);
    expect(props.get('data')!.msg(22)!.strs(1)).to.deep.equal(['object']);
    expect(props.get('data')!.msg(21)!.msg(1)!.msg(22)!.strs(1)).to.deep.equal(['string']);
    expect(props.get('metadata')!.str(1)).to.equal('#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    const gvk = cm.named(31).find(([name]) => name === 'x-kubernetes-group-version-kind')!;
    expect(parseYaml(gvk[1].str(2)!)).to.deep.equal([{ group: '', kind: 'ConfigMap', version: 'v1' }]);
    // Arrays: ItemsItem with one schema.
    const containers = new Map(new Map(definitions.get('io.k8s.api.core.v1.PodSpec')!.msg(25)!.named(1))).get('containers')!;
    expect(containers.msg(22)!.strs(1)).to.deep.equal(['array']);
    expect(containers.msg(23)!.msgs(1).map((s) => s.str(1))).to.deep.equal(['#/definitions/io.k8s.api.core.v1.Container']);
    expect(definitions.get('io.k8s.api.core.v1.Container')!.strs(19)).to.include('name');
  });

  it('encodes operations with body, query and path parameters, responses and extensions', () => {
    const item = paths.get('/api/v1/namespaces/{namespace}/configmaps/{name}')!;
    const patch = item.msg(8)!;
    const jsonPatch = json.paths['/api/v1/namespaces/{namespace}/configmaps/{name}']!.patch as Json;
    expect(patch.strs(1)).to.deep.equal(jsonPatch.tags);
    expect(patch.str(3)).to.equal(jsonPatch.description);
    expect(patch.str(5)).to.equal('patchCoreV1NamespacedConfigMap');
    expect(patch.strs(6)).to.deep.equal(jsonPatch.produces);
    expect(patch.strs(7)).to.include('application/strategic-merge-patch+json');
    expect(patch.strs(10)).to.deep.equal(['https']);
    const params = patch.msgs(8).map((p) => p.msg(1)!);
    const body = params[0]!.msg(1)!;
    expect([body.str(2), body.str(3), body.bool(4), body.msg(5)!.str(1)]).to.deep.equal(['body', 'body', true, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch']);
    const query = params.slice(1).map((p) => p.msg(2)!.msg(3)!);
    expect(query.map((q) => q.str(4))).to.deep.equal(['dryRun', 'fieldManager', 'fieldValidation', 'force']);
    const fieldValidation = query[2]!;
    expect([fieldValidation.str(2), fieldValidation.str(6), fieldValidation.bool(20)]).to.deep.equal(['query', 'string', true]);
    const responses = new Map(patch.msg(9)!.named(1));
    expect([...responses.keys()]).to.deep.equal(['200', '201', '401']);
    const ok = responses.get('200')!.msg(1)!;
    expect(ok.str(1)).to.equal('OK');
    expect(ok.msg(2)!.msg(1)!.str(1)).to.equal('#/definitions/io.k8s.api.core.v1.ConfigMap');
    expect(exts(patch, 13)).to.deep.equal({ 'x-kubernetes-action': 'patch', 'x-kubernetes-group-version-kind': { group: '', kind: 'ConfigMap', version: 'v1' } });
    // Path-level parameters: path parameters (required) then the query `pretty`.
    const pathParams = item.msgs(9).map((p) => p.msg(1)!.msg(2)!);
    const name = pathParams[0]!.msg(4)!;
    expect([name.bool(1), name.str(2), name.str(4), name.str(5), name.bool(19)]).to.deep.equal([true, 'path', 'name', 'string', true]);
    expect(pathParams[2]!.msg(3)!.str(4)).to.equal('pretty');
    // Other methods land on their own fields.
    expect(item.msg(2)!.str(5)).to.equal('readCoreV1NamespacedConfigMap');
    expect(item.msg(3)!.str(5)).to.equal('replaceCoreV1NamespacedConfigMap');
    expect(item.msg(5)!.str(5)).to.equal('deleteCoreV1NamespacedConfigMap');
    expect(paths.get('/api/v1/namespaces/{namespace}/configmaps')!.msg(4)!.str(5)).to.equal('createCoreV1NamespacedConfigMap');
  });

  it('encodes security requirements and definitions', () => {
    const [requirement] = doc.msgs(12);
    expect(requirement!.named(1).map(([name, scopes]) => [name, scopes.strs(1)])).to.deep.equal([['BearerToken', []]]);
    const [[name, item]] = doc.msg(13)!.named(1) as [[string, Msg]];
    const apiKey = item.msg(2)!;
    expect([name, apiKey.str(1), apiKey.str(2), apiKey.str(3), apiKey.str(4)]).to.deep.equal(['BearerToken', 'apiKey', 'authorization', 'header', 'Bearer Token authentication']);
  });

  it('encodes the rest of swagger 2.0 at the proto field numbers', () => {
    const bytes = encodeOpenAPIV2({
      swagger: '2.0',
      info: { title: 'T', version: '1', contact: { name: 'c', email: 'e@x' }, license: { name: 'L' }, 'x-info': 1 },
      host: 'h',
      basePath: '/b',
      consumes: ['application/json'],
      paths: {
        'x-paths': true,
        '/p': {
          get: {
            parameters: [
              { name: 'q', in: 'query', type: 'integer', format: 'int64', minimum: -1, maximum: 9, default: 3, enum: [1, 2], allowEmptyValue: true },
              { name: 'f', in: 'formData', type: 'array', items: { type: 'string', enum: ['a'] }, collectionFormat: 'csv' },
              { name: 'h', in: 'header', type: 'string', required: true, pattern: '^a' },
              { $ref: '#/parameters/shared' },
            ],
            responses: {
              '200': { description: 'file', schema: { type: 'file' }, headers: { 'X-H': { type: 'string', description: 'hd' } } },
              default: { $ref: '#/responses/oops' },
              'x-resp': 'r',
            },
            deprecated: true,
            security: [{ oauth: ['read'] }],
          },
        },
      },
      definitions: {
        T: {
          type: ['string', 'null'],
          title: 'tt',
          multipleOf: 2,
          maxLength: 5,
          minLength: 1,
          readOnly: true,
          example: { a: 'b' },
          enum: ['on', 'no', null],
          default: 'yes',
          additionalProperties: false,
          items: [{ type: 'string' }, { type: 'integer' }],
          allOf: [{ $ref: '#/definitions/U' }],
          xml: { name: 'x', wrapped: true },
          properties: {},
        },
      },
      parameters: { shared: { name: 'b', in: 'body', schema: { type: 'object' } } },
      responses: { oops: { description: 'bad' } },
      securityDefinitions: {
        oauth: { type: 'oauth2', flow: 'accessCode', authorizationUrl: 'https://a', tokenUrl: 'https://t', scopes: { read: 'reads' } },
        basic: { type: 'basic', description: 'b' },
      },
      tags: [{ name: 'tag', description: 'td', externalDocs: { url: 'https://d' } }],
      externalDocs: { description: 'docs', url: 'https://docs' },
      'x-top': { nested: ['v'] },
    });
    const d = new Msg(bytes);
    const info = d.msg(2)!;
    expect([info.str(1), info.str(2), info.msg(5)!.str(1), info.msg(5)!.str(3), info.msg(6)!.str(1), exts(info, 7)]).to.deep.equal(['T', '1', 'c', 'e@x', 'L', { 'x-info': 1 }]);
    expect([d.str(3), d.str(4), d.strs(6)]).to.deep.equal(['h', '/b', ['application/json']]);
    expect(exts(d.msg(8)!, 1)).to.deep.equal({ 'x-paths': true });
    const get = d.msg(8)!.named(2)[0]![1].msg(2)!;
    const [q, f, h, ref] = get.msgs(8);
    const query = q!.msg(1)!.msg(2)!.msg(3)!;
    expect([query.str(4), query.bool(5), query.str(6), query.str(7), anyValue(query.msg(10)!), query.double(11), query.double(13), query.msgs(21).map(anyValue)]).to.deep.equal([
      'q', true, 'integer', 'int64', 3, 9, -1, [1, 2],
    ]);
    const form = f!.msg(1)!.msg(2)!.msg(2)!;
    expect([form.str(2), form.str(6), form.msg(8)!.str(1), form.msg(8)!.msgs(16).map(anyValue), form.str(9)]).to.deep.equal(['formData', 'array', 'string', ['a'], 'csv']);
    const header = h!.msg(1)!.msg(2)!.msg(1)!;
    expect([header.bool(1), header.str(2), header.str(4), header.str(5), header.str(16)]).to.deep.equal([true, 'header', 'h', 'string', '^a']);
    expect(ref!.msg(2)!.str(1)).to.equal('#/parameters/shared');
    const responses = get.msg(9)!;
    const [[code, file], [def, oops]] = responses.named(1) as [[string, Msg], [string, Msg]];
    expect([code, file.msg(1)!.str(1), file.msg(1)!.msg(2)!.msg(2)!.str(6)]).to.deep.equal(['200', 'file', 'file']);
    const xh = file.msg(1)!.msg(3)!.named(1)[0]!;
    expect([xh[0], xh[1].str(1), xh[1].str(18)]).to.deep.equal(['X-H', 'string', 'hd']);
    expect([def, oops.msg(2)!.str(1)]).to.deep.equal(['default', '#/responses/oops']);
    expect(exts(responses, 2)).to.deep.equal({ 'x-resp': 'r' });
    expect(get.bool(11)).to.equal(true);
    expect(get.msgs(12)[0]!.named(1).map(([n, s]) => [n, s.strs(1)])).to.deep.equal([['oauth', ['read']]]);

    const t = d.msg(9)!.named(1)[0]![1];
    expect(t.msg(22)!.strs(1)).to.deep.equal(['string', 'null']);
    expect([t.str(3), t.double(6), t.int(11), t.int(12), t.bool(27), anyValue(t.msg(30)!)]).to.deep.equal(['tt', 2, 5, 1, true, { a: 'b' }]);
    // YAML readers must see the strings as strings ("on", "no", "yes" are booleans in YAML 1.1 plain scalars).
    expect(t.msgs(20).map((a) => a.str(2))).to.deep.equal(['"on"\n', '"no"\n', 'null\n']);
    expect(t.msg(5)!.str(2)).to.equal('"yes"\n');
    expect(t.msg(21)!.has(2)).to.equal(true);
    expect(t.msg(21)!.bool(2)).to.equal(false);
    expect(t.msg(23)!.msgs(1).map((s) => s.msg(22)!.strs(1)[0])).to.deep.equal(['string', 'integer']);
    expect(t.msgs(24).map((s) => s.str(1))).to.deep.equal(['#/definitions/U']);
    expect([t.msg(28)!.str(1), t.msg(28)!.bool(5)]).to.deep.equal(['x', true]);
    expect(t.has(25)).to.equal(true); // empty properties stay present
    expect(t.msg(25)!.named(1)).to.deep.equal([]);

    const shared = d.msg(10)!.named(1)[0]!;
    expect([shared[0], shared[1].msg(1)!.str(2), shared[1].msg(1)!.msg(5)!.msg(22)!.strs(1)]).to.deep.equal(['shared', 'b', ['object']]);
    expect(d.msg(11)!.named(1).map(([n, r]) => [n, r.str(1)])).to.deep.equal([['oops', 'bad']]);
    const security = new Map(d.msg(13)!.named(1));
    const oauth = security.get('oauth')!.msg(6)!;
    expect([oauth.str(1), oauth.str(2), oauth.msg(3)!.named(1).map(([n, v]) => [n, v.str(2)]), oauth.str(4), oauth.str(5)]).to.deep.equal([
      'oauth2', 'accessCode', [['read', 'reads']], 'https://a', 'https://t',
    ]);
    expect([security.get('basic')!.msg(1)!.str(1), security.get('basic')!.msg(1)!.str(2)]).to.deep.equal(['basic', 'b']);
    const tag = d.msgs(14)[0]!;
    expect([tag.str(1), tag.str(2), tag.msg(3)!.str(2)]).to.deep.equal(['tag', 'td', 'https://d']);
    expect([d.msg(15)!.str(1), d.msg(15)!.str(2)]).to.deep.equal(['docs', 'https://docs']);
    expect(exts(d, 16)).to.deep.equal({ 'x-top': { nested: ['v'] } });
  });

  it('encodes long strings and large messages with multi-byte lengths', () => {
    const description = 'é'.repeat(100_000);
    const d = new Msg(encodeOpenAPIV2({ swagger: '2.0', info: { title: 't', version: 'v', description } }));
    expect(d.msg(2)!.str(3)).to.equal(description);
  });

  describe('content negotiation', () => {
    const cases: [string | undefined, string | undefined][] = [
      [undefined, 'application/json'],
      ['', 'application/json'],
      ['*/*', 'application/json'],
      ['application/json', 'application/json'],
      ['application/*', 'application/json'],
      [OPENAPI_V2_PROTOBUF_MEDIA_TYPE, OPENAPI_V2_PROTOBUF_CONTENT_TYPE],
      [OPENAPI_V2_PROTOBUF_CONTENT_TYPE, OPENAPI_V2_PROTOBUF_CONTENT_TYPE],
      [`${OPENAPI_V2_PROTOBUF_MEDIA_TYPE}, application/json`, OPENAPI_V2_PROTOBUF_CONTENT_TYPE],
      [`application/json;q=0.5, ${OPENAPI_V2_PROTOBUF_MEDIA_TYPE}`, OPENAPI_V2_PROTOBUF_CONTENT_TYPE],
      [`*/*, ${OPENAPI_V2_PROTOBUF_MEDIA_TYPE}`, OPENAPI_V2_PROTOBUF_CONTENT_TYPE],
      ['application/json;q=0', undefined],
      ['text/html', undefined],
      ['application/vnd.kubernetes.protobuf', undefined],
    ];
    for (const [accept, contentType] of cases) {
      it(`Accept ${JSON.stringify(accept)} → ${contentType ?? '406'}`, () => {
        expect(negotiateOpenAPIV2(accept)?.contentType).to.equal(contentType);
      });
    }
  });

  describe('over HTTP', () => {
    let api: TestApiServer;
    before(async () => {
      api = await startTestApiServer(kvBackends[0]!);
    });
    after(async () => {
      await api?.close();
    });

    const get = (headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = request(`${api.url}/openapi/v2`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });

    it('serves protobuf to kubectl, with the JSON document’s hash as ETag', async () => {
      const res = await get({ Accept: OPENAPI_V2_PROTOBUF_MEDIA_TYPE });
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal(OPENAPI_V2_PROTOBUF_CONTENT_TYPE);
      const hash = openapiV2Served(api.registry.types).hash;
      expect(res.headers.etag).to.equal(`"${hash}"`);
      expect(res.headers.vary).to.contain('Accept');
      expect(res.body.equals(encodeOpenAPIV2(openapiV2(api.registry.types)))).to.equal(true);
      expect(new Msg(res.body).str(1)).to.equal('2.0');
    });

    it('gzips when asked, answers 304 to a matching If-None-Match and 406 to what it cannot serve', async () => {
      const plain = await get({ Accept: OPENAPI_V2_PROTOBUF_MEDIA_TYPE });
      const gz = await get({ Accept: OPENAPI_V2_PROTOBUF_MEDIA_TYPE, 'Accept-Encoding': 'gzip' });
      expect(gz.headers['content-encoding']).to.equal('gzip');
      expect(gunzipSync(gz.body).equals(plain.body)).to.equal(true);
      const cached = await get({ Accept: OPENAPI_V2_PROTOBUF_MEDIA_TYPE, 'If-None-Match': plain.headers.etag as string });
      expect(cached.status).to.equal(304);
      expect(cached.body.length).to.equal(0);
      expect((await get({ Accept: OPENAPI_V2_PROTOBUF_MEDIA_TYPE, 'If-None-Match': '"stale"' })).status).to.equal(200);
      const refused = await get({ Accept: 'text/html' });
      expect(refused.status).to.equal(406);
      expect(JSON.parse(refused.body.toString()).reason).to.equal('NotAcceptable');
    });

    it('still serves JSON (and by default)', async () => {
      for (const headers of [{ Accept: 'application/json' }, {}] as Record<string, string>[]) {
        const res = await get(headers);
        expect(res.status).to.equal(200);
        expect(res.headers['content-type']).to.equal('application/json');
        expect(JSON.parse(res.body.toString())).to.deep.equal(openapiV2(api.registry.types));
      }
    });
  });
});
