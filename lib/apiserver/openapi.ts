/**
 * OpenAPI documents of the served API, as kube-apiserver publishes them (pure functions of the
 * served kinds; the HTTP layer routes to them):
 *
 * - `/openapi/v3` → {@link openapiV3Index}: one entry per group version (`api/v1`,
 *   `apis/<group>/<version>`) with a `serverRelativeURL` carrying the document's hash, so
 *   clients (kubectl's disk cache) refetch only what changed;
 * - `/openapi/v3/<path>` → {@link openapiV3Document} (OpenAPI 3.0: `paths` and
 *   `components.schemas`), {@link openapiV3Served} for its serialized body and hash;
 * - `/openapi/v2` → {@link openapiV2} (swagger 2.0 of everything), served as JSON or — what
 *   kubectl asks for — as gnostic protobuf ({@link OPENAPI_V2_PROTOBUF_MEDIA_TYPE}, encoded by
 *   openapi-proto.ts): {@link negotiateOpenAPIV2} picks the form, {@link openapiV2Representation}
 *   gives its bytes (and gzipped bytes) and ETag hash.
 *
 * Documents are built from the structural schemas of the built-in kinds and the CRD versions'
 * schemas, cached per {@link ResourceTypes} — a group version's document until its kinds change,
 * the index and the v2 document until any kind changes (`onChange`) — and frozen: callers share
 * them and must not mutate them.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { ResourceInfo, ResourceTypes } from '../api/resources.js';
import { customResourceOf } from '../registry/custom-resource.js';
import { KUBERNETES_VERSION, servedGroups } from './discovery.js';
import { encodeOpenAPIV2 } from './openapi-proto.js';
import { pathsOf, renderV2, renderV3, type KindComponents, type PathSpec } from './openapi-paths.js';
import { ComponentSet, FIXED_V2, META, V3_REF_PREFIX, type Json } from './openapi-schema.js';

/** `/openapi/v3`: where each group version's document is. */
export interface OpenAPIV3Index {
  paths: Record<string, { serverRelativeURL: string }>;
}

/** An OpenAPI 3.0 document of one group version. */
export interface OpenAPIV3Document {
  openapi: '3.0.0';
  info: { title: string; version: string };
  paths: Record<string, Json>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
  security: Record<string, string[]>[];
}

/** The swagger 2.0 document of the whole API (`/openapi/v2`). */
export interface SwaggerDocument {
  swagger: '2.0';
  info: { title: string; version: string };
  paths: Record<string, Json>;
  definitions: Record<string, Json>;
  securityDefinitions: Record<string, Json>;
  security: Record<string, string[]>[];
}

/** A document as served: its JSON text and hash (uppercase hex SHA-512 of the text, as kube's ETag). */
export interface ServedDocument {
  body: string;
  hash: string;
}

/** What kubectl (client-go) asks `/openapi/v2` for: gnostic's `openapi.v2.Document` protobuf. */
export const OPENAPI_V2_PROTOBUF_MEDIA_TYPE = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
/**
 * The other spelling of {@link OPENAPI_V2_PROTOBUF_MEDIA_TYPE}, a valid MIME type (`@` is not):
 * kube-apiserver accepts both and answers with this one as Content-Type (client-go parses it).
 */
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
/** The protobuf form of `/openapi/v3/<path>`; keelson serves JSON only. */
export const OPENAPI_V3_PROTOBUF_MEDIA_TYPE = 'application/com.github.proto-openapi.spec.v3@v1.0+protobuf';

const INFO = { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion.replace(/-.*$/, '') };
const BEARER = { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } };

/** The hash kube publishes for a document: uppercase hex SHA-512 of its serialized form. */
export function documentHash(body: string): string {
  return createHash('sha512').update(body).digest('hex').toUpperCase();
}

/** The OpenAPI v3 path of a group version: `api/v1`, `apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** The group version an OpenAPI v3 path names (leading slash and query tolerated), if any. */
export function parseGroupVersionPath(path: string): { group: string; version: string } | undefined {
  const m = /^\/?(?:api\/([^/?]+)|apis\/([^/?]+)\/([^/?]+))\/?(?:\?.*)?$/.exec(path);
  if (!m) return undefined;
  return m[1] !== undefined ? { group: '', version: m[1] } : { group: m[2]!, version: m[3]! };
}

// ---------------------------------------------------------------- building

/** The paths and components of one group version (undefined when nothing is served there). */
function buildGroupVersion(types: ResourceTypes, group: string, version: string, set: ComponentSet): PathSpec[] | undefined {
  const infos = servedGroups(types).get(group)?.get(version);
  if (!infos) return undefined;
  set.tag(set.add(META.status), { group: '', version: 'v1', kind: 'Status' });
  set.tag(set.add(META.deleteOptions), { group: '', version: 'v1', kind: 'DeleteOptions' });
  if (group) set.tag(META.deleteOptions, { group, version, kind: 'DeleteOptions' });
  set.add(META.patch);
  set.add(META.watchEvent);
  const specs: PathSpec[] = [];
  for (const info of [...infos].sort((a, b) => (a.plural < b.plural ? -1 : 1))) {
    const custom = customResourceOf(info);
    const gvk = { group, version, kind: info.kind };
    const builtin = custom ? undefined : set.addBuiltinKind(gvk);
    let names: KindComponents;
    if (builtin) {
      const list = set.addBuiltinKind(gvk, info.listKind);
      names = { kind: builtin, ...(list ? { list } : {}) };
    } else {
      const added = set.addCustomKind(gvk, info.listKind, custom?.version.schema);
      names = { kind: added.kind, list: added.list };
    }
    if (info.subresources.scale) {
      const scale = set.addBuiltinKind({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
      if (scale) names.scale = scale;
    }
    if (!custom && group === '' && info.kind === 'Pod') {
      const binding = set.addBuiltinKind({ group: '', version, kind: 'Binding' });
      if (binding) names.binding = binding;
    }
    specs.push(...pathsOf(info, names));
  }
  return specs;
}

function sortedObject(entries: [string, Json][]): Record<string, Json> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const v3Ref = (name: string): Json => ({ $ref: `${V3_REF_PREFIX}${name}` });
const v2Ref = (name: string): Json => ({ $ref: `#/definitions/${name}` });

function buildV3(types: ResourceTypes, group: string, version: string): OpenAPIV3Document | undefined {
  const set = new ComponentSet();
  const specs = buildGroupVersion(types, group, version, set);
  if (!specs) return undefined;
  return {
    openapi: '3.0.0',
    info: { ...INFO },
    paths: sortedObject(specs.map((spec) => [spec.path, renderV3(spec, v3Ref)])),
    components: { schemas: set.schemas(), securitySchemes: structuredClone(BEARER) },
    security: [{ BearerToken: [] }],
  };
}

/** Keywords whose value is a schema, a list of schemas, or a map of schemas (the rest is data). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions']);
const V2_DROPPED = new Set(['oneOf', 'anyOf', 'allOf', 'not', 'nullable']);

/**
 * A v3 schema as swagger 2.0 has it: `$ref`s point into `#/definitions/`, and what swagger cannot
 * say is dropped as kube drops it — `oneOf`/`anyOf`/`allOf`/`not`, and a nullable field's type
 * (so that clients validating against it accept null).
 */
function toV2Schema(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema;
  const src = schema as Json;
  const nullable = src.nullable === true;
  const out: Json = {};
  for (const [key, value] of Object.entries(src)) {
    if (V2_DROPPED.has(key)) continue;
    if (nullable && (key === 'type' || key === 'items' || key === 'properties' || key === 'additionalProperties')) continue;
    if (key === '$ref' && typeof value === 'string') out.$ref = value.replace(V3_REF_PREFIX, '#/definitions/');
    else if (SCHEMA_MAPS.has(key) && typeof value === 'object' && value !== null) {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, toV2Schema(v)]));
    } else if (key === 'items') out.items = Array.isArray(value) ? value.map(toV2Schema) : toV2Schema(value);
    else if (key === 'additionalProperties' || key === 'additionalItems') out[key] = toV2Schema(value);
    else out[key] = value;
  }
  return out;
}

function buildV2(types: ResourceTypes): SwaggerDocument {
  const set = new ComponentSet();
  const paths: [string, Json][] = [];
  for (const [group, versions] of servedGroups(types)) {
    for (const version of versions.keys()) {
      for (const spec of buildGroupVersion(types, group, version, set) ?? []) paths.push([spec.path, renderV2(spec, v2Ref)]);
    }
  }
  const definitions = Object.entries(set.schemas()).map(([name, schema]): [string, Json] => {
    const fixed = FIXED_V2[name];
    return [name, toV2Schema(fixed ? { ...fixed, ...(schema['x-kubernetes-group-version-kind'] ? { 'x-kubernetes-group-version-kind': schema['x-kubernetes-group-version-kind'] } : {}) } : schema) as Json];
  });
  return {
    swagger: '2.0',
    info: { ...INFO },
    paths: sortedObject(paths),
    definitions: sortedObject(definitions),
    securityDefinitions: structuredClone(BEARER),
    security: [{ BearerToken: [] }],
  };
}

// ---------------------------------------------------------------- caching

interface Built<T> {
  doc: T;
  served: ServedDocument;
  /** The v2 document's other representations, made on first request. */
  representations?: Partial<Record<OpenAPIV2Format, OpenAPIV2Representation>>;
}

interface Cache {
  /** Per group version: the kinds it was built from (a rebuild happens only when they change). */
  v3: Map<string, { infos: readonly ResourceInfo[]; built: Built<OpenAPIV3Document> | undefined }>;
  index?: OpenAPIV3Index;
  v2?: Built<SwaggerDocument>;
}

const caches = new WeakMap<ResourceTypes, Cache>();

function cacheOf(types: ResourceTypes): Cache {
  let cache = caches.get(types);
  if (!cache) {
    const fresh: Cache = { v3: new Map() };
    cache = fresh;
    caches.set(types, fresh);
    // Group-version documents are checked against their kinds on use; the rest is rebuilt.
    types.onChange(() => {
      delete fresh.index;
      delete fresh.v2;
    });
  }
  return cache;
}

function built<T>(doc: T): Built<T> {
  const body = JSON.stringify(doc);
  return { doc: deepFreeze(doc), served: { body, hash: documentHash(body) } };
}

const sameInfos = (a: readonly ResourceInfo[], b: readonly ResourceInfo[]): boolean => a.length === b.length && a.every((info, i) => info === b[i]);

function v3(types: ResourceTypes, path: string): Built<OpenAPIV3Document> | undefined {
  const gv = parseGroupVersionPath(path);
  if (!gv) return undefined;
  const cache = cacheOf(types);
  const key = groupVersionPath(gv.group, gv.version);
  const infos = servedGroups(types).get(gv.group)?.get(gv.version) ?? [];
  let entry = cache.v3.get(key);
  if (!entry || !sameInfos(entry.infos, infos)) {
    const doc = buildV3(types, gv.group, gv.version);
    entry = { infos, built: doc ? built(doc) : undefined };
    cache.v3.set(key, entry);
  }
  return entry.built;
}

/** The OpenAPI v3 paths of every served group version (`api/v1`, `apis/<group>/<version>`…), in discovery order. */
export function openapiV3Paths(types: ResourceTypes): string[] {
  const paths: string[] = [];
  for (const [group, versions] of servedGroups(types)) {
    for (const version of versions.keys()) paths.push(groupVersionPath(group, version));
  }
  return paths;
}

/** `/openapi/v3`: each group version's document URL, with its current hash. */
export function openapiV3Index(types: ResourceTypes): OpenAPIV3Index {
  const cache = cacheOf(types);
  if (!cache.index) {
    const paths: OpenAPIV3Index['paths'] = {};
    for (const path of openapiV3Paths(types)) {
      const entry = v3(types, path);
      if (entry) paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${entry.served.hash}` };
    }
    cache.index = deepFreeze({ paths });
  }
  return cache.index;
}

/** `/openapi/v3/<path>` (`api/v1`, `apis/<group>/<version>`), or undefined when not served (404). */
export function openapiV3Document(types: ResourceTypes, path: string): OpenAPIV3Document | undefined {
  return v3(types, path)?.doc;
}

/** {@link openapiV3Document} serialized, with its hash (the `?hash=` of the index, and the ETag). */
export function openapiV3Served(types: ResourceTypes, path: string): ServedDocument | undefined {
  return v3(types, path)?.served;
}

function v2(types: ResourceTypes): Built<SwaggerDocument> {
  const cache = cacheOf(types);
  cache.v2 ??= built(buildV2(types));
  return cache.v2;
}

/** `/openapi/v2`: the swagger 2.0 document of every served kind. */
export function openapiV2(types: ResourceTypes): SwaggerDocument {
  return v2(types).doc;
}

/** {@link openapiV2} serialized, with its hash (the ETag). */
export function openapiV2Served(types: ResourceTypes): ServedDocument {
  return v2(types).served;
}

/** A representation of `/openapi/v2`: swagger JSON or gnostic protobuf. */
export type OpenAPIV2Format = 'json' | 'protobuf';

/** What {@link negotiateOpenAPIV2} chose: the format and the Content-Type to answer with. */
export interface OpenAPIV2Choice {
  format: OpenAPIV2Format;
  contentType: string;
}

/** The media types `/openapi/v2` is served as, in kube-apiserver's order of preference. */
const V2_MEDIA_TYPES: readonly { type: string; subtype: string; choice: OpenAPIV2Choice }[] = [
  { type: 'application', subtype: 'json', choice: { format: 'json', contentType: 'application/json' } },
  ...[OPENAPI_V2_PROTOBUF_MEDIA_TYPE, OPENAPI_V2_PROTOBUF_CONTENT_TYPE].map((mediaType) => ({
    type: 'application',
    subtype: mediaType.slice('application/'.length),
    choice: { format: 'protobuf' as const, contentType: OPENAPI_V2_PROTOBUF_CONTENT_TYPE },
  })),
];

/**
 * Content negotiation of `/openapi/v2` as kube-openapi's handler does it: the Accept clauses by
 * decreasing quality (then specificity, then order), the first that matches JSON or one of the two
 * protobuf spellings (wildcards allowed) wins; no header means any. Undefined: 406 Not Acceptable.
 */
export function negotiateOpenAPIV2(accept: string | undefined): OpenAPIV2Choice | undefined {
  const clauses = (accept?.trim() ? accept : '*/*')
    .split(',')
    .map((part, index) => {
      const [range = '', ...params] = part.split(';').map((p) => p.trim());
      const [type = '', subtype = ''] = range.toLowerCase().split('/');
      const q = params.map((p) => /^q\s*=\s*([0-9.]+)$/i.exec(p)?.[1]).find((v) => v !== undefined);
      const specificity = (type === '*' ? 0 : 1) + (subtype === '*' ? 0 : 1);
      return { type, subtype: subtype || (type === '*' ? '*' : ''), q: q === undefined ? 1 : Number(q), specificity, index };
    })
    .filter((c) => c.type && c.subtype && c.q > 0)
    .sort((a, b) => b.q - a.q || b.specificity - a.specificity || a.index - b.index);
  for (const clause of clauses) {
    for (const media of V2_MEDIA_TYPES) {
      if ((clause.type === media.type || clause.type === '*') && (clause.subtype === media.subtype || clause.subtype === '*')) return media.choice;
    }
  }
  return undefined;
}

/** `/openapi/v2` in one format: its bytes, the same gzipped (made on first use), and its ETag hash. */
export interface OpenAPIV2Representation {
  body: Buffer;
  /** The hash of the JSON document, whatever the format (kube's ETag of both). */
  hash: string;
  gzipped(): Buffer;
}

/** {@link openapiV2} as JSON or gnostic protobuf (cached with the document). */
export function openapiV2Representation(types: ResourceTypes, format: OpenAPIV2Format): OpenAPIV2Representation {
  const entry = v2(types);
  entry.representations ??= {};
  let representation = entry.representations[format];
  if (!representation) {
    const body = format === 'json' ? Buffer.from(entry.served.body) : encodeOpenAPIV2(entry.doc);
    let gzipped: Buffer | undefined;
    representation = { body, hash: entry.served.hash, gzipped: () => (gzipped ??= gzipSync(body)) };
    entry.representations[format] = representation;
  }
  return representation;
}
