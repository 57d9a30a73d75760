/**
 * LIST with Kubernetes semantics: a consistent snapshot at one revision, label and field
 * selectors, and pagination with `limit`/`continue` where every page is read at the revision of
 * the first one (so a paginated list is one consistent list). A continue token older than the
 * compacted history is 410 Expired, with a token to continue inconsistently, as kube answers.
 */
import { ApiError, badRequest, expired, timeout } from '../api/errors.js';
import type { KubeList, KubeObject } from '../api/meta.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';
import { isKVError, type KV } from '../storage/kv.js';
import type { Clock } from '../util/clock.js';
import { decodeKeyValue } from './codec.js';
import { storageError } from './errors.js';
import { collectionPrefix, resourcePrefix } from './keys.js';

/** A compiled label+field selector over objects. */
export interface Predicate {
  /** True when the predicate selects everything (enables cheap paths). */
  readonly empty: boolean;
  matches(obj: KubeObject): boolean;
}

/** Options of list (meta/v1 ListOptions, selectors already compiled). */
export interface ListRequest {
  namespace?: string;
  predicate: Predicate;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

const TOKEN_VERSION = 'meta.k8s.io/v1';

/** Encodes a continue token: the list revision and the key (relative to the kind) to resume at. */
export function encodeContinue(revision: number, startKey: string, info: ResourceInfo): string {
  const token: ContinueToken = { v: TOKEN_VERSION, rv: revision, start: startKey.slice(resourcePrefix(info).length) };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/** Decodes a continue token; anything malformed is a 400. */
export function decodeContinue(token: string, info: ResourceInfo): { revision: number; startKey: string } {
  let parsed: ContinueToken;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data or malformed JSON');
  }
  if (parsed?.v !== TOKEN_VERSION) throw badRequest('continue key is not valid: server does not recognize this encoding');
  if (typeof parsed.rv !== 'number' || !Number.isInteger(parsed.rv) || parsed.rv === 0) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (typeof parsed.start !== 'string' || parsed.start.startsWith('/') || parsed.start.split('/').some((s) => s === '..')) {
    throw badRequest('continue key is not valid: encoded start key is not a relative path');
  }
  return { revision: parsed.rv, startKey: resourcePrefix(info) + parsed.start };
}

const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** Parses a resourceVersion parameter (a decimal revision); anything else is a 400. */
export function parseResourceVersion(rv: string): number {
  if (!/^[0-9]+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
  return Number(rv);
}

/**
 * Waits until the store reaches `revision` (for "not older than" reads), at most 3 s as the
 * watch cache does, then fails with 504 "Too large resource version".
 */
export async function waitForRevision(kv: KV, clock: Clock, revision: number): Promise<number> {
  const deadline = clock.now() + 3000;
  for (;;) {
    const current = await kv.revision();
    if (current >= revision) return current;
    if (clock.now() >= deadline) {
      const error = timeout(`Too large resource version: ${revision}, current: ${current}`, 1);
      error.status.details = { ...error.status.details, causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }] };
      throw error;
    }
    await clock.sleep(25);
  }
}

/** Lists a collection. */
export async function listObjects(kv: KV, clock: Clock, info: ResourceInfo, request: ListRequest): Promise<KubeList> {
  const prefix = collectionPrefix(info, request.namespace);
  let revision: number | undefined;
  let fromKey: string | undefined;
  const hasContinue = !!request.continue;
  if (request.resourceVersionMatch && !request.resourceVersion) {
    throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
  }
  if (request.continue) {
    if (request.resourceVersion && request.resourceVersion !== '0') {
      throw badRequest('specifying resource version is not allowed when using continue');
    }
    const token = decodeContinue(request.continue, info);
    if (!token.startKey.startsWith(prefix)) throw badRequest('continue key is not valid: it does not belong to this collection');
    revision = token.revision;
    fromKey = token.startKey;
  } else if (request.resourceVersion) {
    const rv = parseResourceVersion(request.resourceVersion);
    if (request.resourceVersionMatch === 'Exact') {
      if (rv === 0) throw badRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"');
      revision = rv;
    } else if (rv !== 0) {
      await waitForRevision(kv, clock, rv);
    }
  }

  const limit = request.limit && request.limit > 0 ? Math.floor(request.limit) : 0;
  const items: KubeObject[] = [];
  let nextKey: string | undefined;
  let readAt = revision;
  try {
    // Filtered pages are refilled until `limit` matches are found, as kube's etcd3 store does.
    for (;;) {
      const want = limit ? limit - items.length : 0;
      const page = await kv.range(prefix, {
        ...(want ? { limit: Math.max(want, request.predicate.empty ? want : 64) } : {}),
        ...(fromKey !== undefined ? { fromKey } : {}),
        ...(readAt !== undefined ? { revision: readAt } : {}),
      });
      readAt = page.revision;
      let consumed = 0;
      for (const kvItem of page.kvs) {
        consumed++;
        const obj = decodeKeyValue(kvItem);
        if (!request.predicate.matches(obj)) continue;
        items.push(obj);
        if (limit && items.length === limit) break;
      }
      const lastExamined = page.kvs[consumed - 1];
      const moreInPage = consumed < page.kvs.length;
      if (limit && items.length === limit) {
        if ((moreInPage || page.more) && lastExamined) nextKey = lastExamined.key + '\u0000';
        break;
      }
      if (!page.more || !lastExamined) break;
      fromKey = lastExamined.key + '\u0000';
    }
  } catch (err) {
    if (isKVError(err, 'compacted')) {
      if (hasContinue) {
        const current = await kv.revision();
        const error = expired(CONTINUE_EXPIRED);
        error.status.metadata = { continue: encodeContinue(current, fromKey ?? prefix, info) };
        throw error;
      }
      throw expired(`too old resource version: ${revision} (${err.compactRevision ?? 0})`);
    }
    if (isKVError(err, 'future-revision') && revision !== undefined) {
      throw timeout(`Too large resource version: ${revision}, current: ${await kv.revision()}`, 1);
    }
    if (err instanceof ApiError) throw err;
    throw storageError(err, info);
  }
  const listRevision = readAt ?? (await kv.revision());
  return {
    apiVersion: apiVersionOf(info),
    kind: info.listKind,
    metadata: {
      resourceVersion: String(listRevision),
      ...(nextKey ? { continue: encodeContinue(listRevision, nextKey, info) } : {}),
    },
    items,
  };
}
