/**
 * HTTP plumbing of the API server: reading bodies (with kube's 3 MiB limit), content types of
 * request bodies and patches, content negotiation of responses (JSON, Table), and writing
 * objects and Status errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, toApiError, tooLarge, unsupportedMediaType, type Status } from '../api/errors.js';
import type { PatchType } from '../registry/patch.js';
import { decodeKubernetesProtobuf } from './protobuf.js';

/** kube-apiserver's default limit on request bodies (3 MiB). */
export const MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024;

/** Reads a request body as text, refusing more than `limit` bytes with 413. */
export async function readBody(req: IncomingMessage, limit = MAX_REQUEST_BODY_BYTES): Promise<string> {
  return (await readBodyBytes(req, limit)).toString('utf8');
}

/** Reads a request body as bytes, refusing more than `limit` bytes with 413. */
export async function readBodyBytes(req: IncomingMessage, limit = MAX_REQUEST_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge(`Request entity too large: limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw tooLarge(`Request entity too large: limit is ${limit}`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

const OBJECT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];

/**
 * The JSON text of a create/update body, converting YAML and Kubernetes protobuf (what
 * kubectl's typed clients send); other types are 415. An absent Content-Type is read as JSON.
 */
export function objectBody(contentType: string | undefined, body: string | Buffer): string {
  const type = mediaType(contentType);
  if (type === 'application/vnd.kubernetes.protobuf') {
    const decoded = decodeKubernetesProtobuf(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
    return JSON.stringify({ apiVersion: decoded.apiVersion, kind: decoded.kind, ...decoded.object });
  }
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (type === '' || type === 'application/json' || type === '*/*') return text;
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    try {
      return JSON.stringify(parseYaml(text) ?? {});
    } catch (err) {
      throw badRequest(`error converting YAML to JSON: ${(err as Error).message}`);
    }
  }
  throw unsupportedMediaType(type, OBJECT_TYPES);
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

/** The patch type a PATCH's Content-Type names; anything else is 415. */
export function patchType(contentType: string | undefined): PatchType {
  const type = mediaType(contentType);
  const patch = PATCH_TYPES[type];
  if (!patch || type === 'application/apply-patch+cbor') throw unsupportedMediaType(type || '(none)', Object.keys(PATCH_TYPES).filter((t) => !t.endsWith('cbor')));
  return patch;
}

/** What representation a client asked for. */
export interface Negotiated {
  /** A meta.k8s.io Table instead of the object or list. */
  table: boolean;
  /** For tables: `includeObject` (None, Metadata, Object). */
  includeObject: 'None' | 'Metadata' | 'Object';
}

/**
 * Reads the Accept header. Tables are served when asked (`as=Table;g=meta.k8s.io`); JSON
 * otherwise; a client that accepts only protobuf (or nothing JSON) gets 406.
 */
export function negotiate(accept: string | undefined, query: URLSearchParams): Negotiated {
  const includeObject = (query.get('includeObject') as Negotiated['includeObject'] | null) ?? 'Metadata';
  if (!accept) return { table: false, includeObject };
  const options = accept.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((p) => p.trim());
    const map = new Map(params.map((p) => p.split('=').map((x) => x.trim()) as [string, string]));
    return { type: type.toLowerCase(), params: map };
  });
  for (const option of options) {
    if (option.params.get('as') === 'Table' && option.params.get('g') === 'meta.k8s.io' && (option.type === 'application/json' || option.type === '*/*')) {
      return { table: true, includeObject };
    }
    if (option.params.has('as')) continue; // another representation (PartialObjectMetadata…) we do not offer
    if (option.type === 'application/json' || option.type === '*/*' || option.type === 'application/*' || option.type === 'application/yaml') {
      return { table: false, includeObject };
    }
  }
  throw new ApiError({
    code: 406,
    reason: 'NotAcceptable',
    message: `only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io`,
  });
}

/** Writes a JSON response. */
export function writeJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...headers, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Writes an error as a Kubernetes Status (401/403/404/409/422/5xx…). */
export function writeError(res: ServerResponse, err: unknown): void {
  const status: Status = toApiError(err).status;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  if (status.details?.retryAfterSeconds) headers['Retry-After'] = String(status.details.retryAfterSeconds);
  writeJson(res, status.code || 500, status, headers);
}

/** The `Warning` headers kube sends (`299 - "message"`). */
export function warningHeaders(warnings: readonly string[]): Record<string, string[]> {
  if (warnings.length === 0) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) };
}

/** A query parameter as a boolean (`true`/`1`). */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value === 'true' || value === '1';
}

/** `dryRun=All` (the only dry-run value kube accepts); anything else is 400. */
export function dryRun(query: URLSearchParams): boolean {
  const values = query.getAll('dryRun');
  if (values.length === 0) return false;
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid dry run value: ${v} (supported values: "All")`);
  return true;
}

/** `fieldValidation` (default Warn, as kubectl sends Strict by default). */
export function fieldValidation(query: URLSearchParams): 'Ignore' | 'Warn' | 'Strict' {
  const value = query.get('fieldValidation') ?? 'Warn';
  if (value !== 'Ignore' && value !== 'Warn' && value !== 'Strict') {
    throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${value}"`);
  }
  return value;
}

/** A non-negative integer query parameter (400 otherwise). */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw badRequest(`invalid value for ${name}: ${value}: must be an integer`);
  return Number(value);
}

/** Parses a JSON body; malformed JSON is a 400 with the parser's reason. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}
