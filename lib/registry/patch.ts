/**
 * PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902), applied to plain JSON
 * with the errors kube-apiserver gives (a malformed patch is 400 BadRequest; a JSON patch that
 * does not apply is 422 with the reason as a cause). Strategic merge patch lives in
 * `strategic-merge.ts`.
 */
import { ApiError, badRequest, tooLarge } from '../api/errors.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The patch types the registry understands (the value of `Content-Type` on the wire). */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

/** kube caps the number of operations in one JSON patch. */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 7386: objects merge recursively, `null` deletes a key, anything else (arrays included)
 * replaces. Returns a new value; neither input is modified.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** Parses a patch body given as text or already-parsed JSON; bad JSON is a 400. */
export function parsePatchBody(body: unknown): unknown {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return body;
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
}

/** One JSON patch operation. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** Checks the shape of a JSON patch document (400 on anything malformed). */
export function decodeJsonPatch(patch: unknown): JsonPatchOperation[] {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  if (patch.length > MAX_JSON_PATCH_OPERATIONS) {
    throw tooLarge(`The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`);
  }
  return patch.map((raw, i) => {
    if (!isObject(raw)) throw badRequest(`json patch operation ${i} is not an object`);
    const op = raw.op;
    if (typeof op !== 'string' || !OPS.has(op)) throw badRequest(`Unexpected kind: ${String(op)}`);
    if (typeof raw.path !== 'string') throw badRequest(`json patch operation ${i} (${op}) is missing path`);
    if ((op === 'move' || op === 'copy') && typeof raw.from !== 'string') throw badRequest(`json patch operation ${i} (${op}) is missing from`);
    if ((op === 'add' || op === 'replace' || op === 'test') && !('value' in raw)) throw badRequest(`json patch operation ${i} (${op}) is missing value`);
    return raw as unknown as JsonPatchOperation;
  });
}

/** The 422 kube answers when a well-formed JSON patch cannot be applied. */
function notApplicable(message: string): ApiError {
  return new ApiError({
    code: 422,
    reason: 'Invalid',
    message: 'the server rejected our request due to an error in our request',
    details: { causes: [{ reason: 'UnexpectedServerResponse', message }] },
  });
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw notApplicable(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean, path: string): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw notApplicable(`invalid array index "${token}" in ${path}`);
  const index = Number(token);
  if (index > length || (!forInsert && index === length)) throw notApplicable(`array index ${index} out of bounds in ${path}`);
  return index;
}

/** Walks to the parent of the pointer's last token. */
function parentOf(doc: Json, tokens: string[], path: string): { parent: Json; last: string } {
  let node: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false, path)] as Json;
    else if (isObject(node) && token in node) node = (node as Record<string, Json>)[token] as Json;
    else throw notApplicable(`doc is missing path: "${path}": missing value`);
  }
  return { parent: node, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, path)] as Json;
  if (isObject(parent) && last in parent) return (parent as Record<string, Json>)[last] as Json;
  throw notApplicable(`doc is missing key: "${path}": missing value`);
}

function removeAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw notApplicable('cannot remove the whole document');
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(last, parent.length, false, path), 1)[0] as Json;
  if (isObject(parent) && last in parent) {
    const value = (parent as Record<string, Json>)[last] as Json;
    delete (parent as Record<string, Json>)[last];
    return value;
  }
  throw notApplicable(`remove operation does not apply: doc is missing path: "${path}": missing value`);
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    if (replace) parent[arrayIndex(last, parent.length, false, path)] = value;
    else parent.splice(arrayIndex(last, parent.length, true, path), 0, value);
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw notApplicable(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    (parent as Record<string, Json>)[last] = value;
  } else {
    throw notApplicable(`${replace ? 'replace' : 'add'} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Applies RFC 6902 operations to a copy of `target`; a failing operation is a 422. */
export function applyJsonPatch(target: unknown, operations: JsonPatchOperation[]): unknown {
  let doc = structuredClone(target) as Json;
  for (const op of operations) {
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, structuredClone(op.value) as Json, false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, structuredClone(op.value) as Json, true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move': {
        const value = removeAt(doc, op.from!);
        doc = addAt(doc, op.path, value, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, structuredClone(getAt(doc, op.from!)), false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path), op.value)) throw notApplicable(`testing value ${op.path} failed: test failed`);
        break;
    }
  }
  return doc;
}

/** Compares two JSON values structurally. */
export { deepEqual as jsonEqual };
