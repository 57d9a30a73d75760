/**
 * The verbs of a resource request, each mapped onto the Registry with kube-apiserver's HTTP
 * conventions: status codes (201 on create, 200/201 on update, 200/202 on delete), query
 * parameters (dryRun, fieldValidation, fieldManager, selectors, paging, resourceVersion…),
 * DeleteOptions bodies, Warning headers, Tables for kubectl, and chunked watch streams.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest, methodNotAllowed, notFound, toApiError } from '../api/errors.js';
import type { KubeObject, WatchEvent } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';
import type { Namespace } from '../api/kinds.js';
import { finalizeNamespace } from '../registry/namespaces.js';
import type { Registry, DeleteOptions as RegistryDeleteOptions } from '../registry/registry.js';
import { compilePredicate } from '../registry/selection.js';
import { dryRun, fieldValidation, intParam, negotiate, objectBody, parseJson, patchType, queryFlag, readBody, readBodyBytes, warningHeaders, writeJson, type Negotiated } from './http.js';
import type { RequestInfo } from './request-info.js';
import { tableOfEvent, toTable } from './table.js';

/** Everything a handler needs about one request. */
export interface HandlerContext {
  registry: Registry;
  req: IncomingMessage;
  res: ServerResponse;
  request: RequestInfo;
  info: ResourceInfo;
  query: URLSearchParams;
  now: () => number;
  /** Default server-side timeout of watches without `timeoutSeconds` (ms; randomised ×1–2). */
  watchTimeoutMs: number;
  /** Aborted when the server shuts down. */
  serverSignal: AbortSignal;
}

function namespaceOf(ctx: HandlerContext): string | undefined {
  return ctx.info.namespaced ? ctx.request.namespace || undefined : undefined;
}

/** The 404 kube answers for a path no route serves. */
export function noRoute(): ApiError {
  return new ApiError({ code: 404, reason: 'NotFound', message: 'the server could not find the requested resource', details: {} });
}

function requireNamespace(ctx: HandlerContext): string | undefined {
  // Namespaced objects are addressed under /namespaces/<ns>/ only (kube has no other route).
  if (ctx.info.namespaced && !ctx.request.namespace) throw noRoute();
  return namespaceOf(ctx);
}

function respondObject(ctx: HandlerContext, code: number, object: KubeObject, negotiated: Negotiated, warnings: string[] = []): void {
  const body =
    negotiated.table && object.kind !== 'Status' ? tableOfEvent(ctx.info, object, { now: ctx.now(), includeObject: negotiated.includeObject, withColumns: true }) : object;
  writeJson(ctx.res, code, body, warningHeaders(warnings));
}

/** GET of one object (or its status subresource, which answers the whole object). */
export async function handleGet(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const object = await ctx.registry.get(ctx.info, requireNamespace(ctx), ctx.request.name);
  respondObject(ctx, 200, object, negotiated);
}

function listRequest(ctx: HandlerContext) {
  const strategy = ctx.registry.strategy(ctx.info);
  const limit = intParam(ctx.query, 'limit');
  const rvMatch = ctx.query.get('resourceVersionMatch');
  if (rvMatch && rvMatch !== 'NotOlderThan' && rvMatch !== 'Exact') throw badRequest(`resourceVersionMatch: Unsupported value: "${rvMatch}"`);
  return {
    ...(namespaceOf(ctx) ? { namespace: namespaceOf(ctx)! } : {}),
    predicate: compilePredicate(strategy, ctx.query.get('labelSelector') ?? undefined, ctx.query.get('fieldSelector') ?? undefined),
    ...(limit !== undefined && limit > 0 ? { limit } : {}),
    ...(ctx.query.get('continue') ? { continue: ctx.query.get('continue')! } : {}),
    ...(ctx.query.get('resourceVersion') !== null ? { resourceVersion: ctx.query.get('resourceVersion')! } : {}),
    ...(rvMatch ? { resourceVersionMatch: rvMatch as 'NotOlderThan' | 'Exact' } : {}),
  };
}

/** GET of a collection. */
export async function handleList(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const list = await ctx.registry.list(ctx.info, listRequest(ctx));
  if (negotiated.table) {
    writeJson(ctx.res, 200, toTable(ctx.info, list.items, { now: ctx.now(), includeObject: negotiated.includeObject, listMeta: list.metadata }));
  } else {
    writeJson(ctx.res, 200, list);
  }
}

/**
 * GET with `watch=true`: a chunked stream of `{"type":…,"object":…}` lines. Errors after the
 * stream started (e.g. a compacted resourceVersion) arrive as an ERROR event, as kube sends them.
 */
export async function handleWatch(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const request = listRequest(ctx);
  const timeoutSeconds = intParam(ctx.query, 'timeoutSeconds');
  const stop = new AbortController();
  const timeoutMs = timeoutSeconds && timeoutSeconds > 0 ? timeoutSeconds * 1000 : ctx.watchTimeoutMs * (1 + Math.random());
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  timer.unref();
  const onClose = () => stop.abort();
  ctx.res.on('close', onClose);
  ctx.serverSignal.addEventListener('abort', onClose, { once: true });
  const events = ctx.registry.watch(ctx.info, {
    ...(request.namespace ? { namespace: request.namespace } : {}),
    predicate: request.predicate,
    ...(request.resourceVersion !== undefined ? { resourceVersion: request.resourceVersion } : {}),
    allowWatchBookmarks: queryFlag(ctx.query, 'allowWatchBookmarks'),
    ...(ctx.query.has('sendInitialEvents') ? { sendInitialEvents: queryFlag(ctx.query, 'sendInitialEvents') } : {}),
    signal: stop.signal,
  });
  ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  ctx.res.flushHeaders();
  let first = true;
  try {
    for await (const event of events) {
      const out: WatchEvent = negotiated.table && (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED')
        ? { type: event.type, object: tableOfEvent(ctx.info, event.object, { now: ctx.now(), includeObject: negotiated.includeObject, withColumns: first }) as unknown as KubeObject }
        : event;
      if (negotiated.table && out !== event) first = false;
      // A client gone mid-stream: stop here (a destroyed socket never drains).
      if (ctx.res.destroyed || stop.signal.aborted) break;
      if (!ctx.res.write(`${JSON.stringify(out)}\n`)) {
        try {
          await once(ctx.res, 'drain', { signal: stop.signal });
        } catch {
          break; // the watch ended (client closed, timeout, server stopping) while waiting
        }
      }
    }
  } catch (err) {
    if (!ctx.res.writableEnded) ctx.res.write(`${JSON.stringify({ type: 'ERROR', object: toApiError(err).status })}\n`);
  } finally {
    clearTimeout(timer);
    ctx.res.off('close', onClose);
    ctx.serverSignal.removeEventListener('abort', onClose);
    stop.abort();
    if (!ctx.res.writableEnded) ctx.res.end();
  }
}

async function jsonBody(ctx: HandlerContext): Promise<string> {
  return objectBody(ctx.req.headers['content-type'], await readBodyBytes(ctx.req));
}

function writeOptions(ctx: HandlerContext) {
  return {
    dryRun: dryRun(ctx.query),
    fieldValidation: fieldValidation(ctx.query),
    ...(ctx.query.get('fieldManager') ? { fieldManager: ctx.query.get('fieldManager')! } : {}),
  };
}

/** POST to a collection. */
export async function handleCreate(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const namespace = requireNamespace(ctx);
  const body = await jsonBody(ctx);
  const result = await ctx.registry.create(ctx.info, body, { ...writeOptions(ctx), ...(namespace ? { namespace } : {}) });
  respondObject(ctx, 201, result.object, negotiated, result.warnings);
}

/** PUT of an object or its status. */
export async function handleUpdate(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const namespace = requireNamespace(ctx);
  const body = await jsonBody(ctx);
  const subresource = ctx.request.subresource;
  if (subresource === 'finalize') {
    const namespace = parseJson(body) as Namespace;
    if (namespace.metadata?.name && namespace.metadata.name !== ctx.request.name) {
      throw badRequest(`the name of the object (${namespace.metadata.name}) does not match the name on the URL (${ctx.request.name})`);
    }
    const result = await finalizeNamespace(ctx.registry, { ...namespace, metadata: { ...namespace.metadata, name: ctx.request.name } }, { dryRun: dryRun(ctx.query) });
    respondObject(ctx, 200, result.object, negotiated);
    return;
  }
  if (subresource && subresource !== 'status') throw methodNotAllowed(`update is not supported on ${ctx.info.plural}/${subresource}`);
  const result = await ctx.registry.update(ctx.info, body, {
    ...writeOptions(ctx),
    name: ctx.request.name,
    ...(namespace ? { namespace } : {}),
    ...(subresource ? { subresource: 'status' as const } : {}),
  });
  respondObject(ctx, result.created ? 201 : 200, result.object, negotiated, result.warnings);
}

/** PATCH of an object or its status. */
export async function handlePatch(ctx: HandlerContext): Promise<void> {
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const namespace = requireNamespace(ctx);
  const type = patchType(ctx.req.headers['content-type']);
  const body = await readBody(ctx.req);
  const subresource = ctx.request.subresource;
  if (subresource && subresource !== 'status') throw methodNotAllowed(`patch is not supported on ${ctx.info.plural}/${subresource}`);
  const result = await ctx.registry.patch(ctx.info, namespace, ctx.request.name, body, type, {
    ...writeOptions(ctx),
    ...(ctx.query.get('force') !== null ? { force: queryFlag(ctx.query, 'force') } : {}),
    ...(subresource ? { subresource: 'status' as const } : {}),
  });
  respondObject(ctx, 200, result.object, negotiated, result.warnings);
}

/** DeleteOptions from the body (JSON) and the query, as kube merges them. */
async function deleteOptions(ctx: HandlerContext): Promise<RegistryDeleteOptions & { orphanDependents?: boolean }> {
  const bytes = await readBodyBytes(ctx.req);
  let body: Record<string, unknown> = {};
  if (bytes.length > 0 && bytes.toString('utf8').trim() !== '') {
    try {
      body = JSON.parse(objectBody(ctx.req.headers['content-type'], bytes)) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof SyntaxError) throw badRequest(`error decoding DeleteOptions: ${err.message}`);
      throw err;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('DeleteOptions must be a JSON object');
  }
  return deleteOptionsFrom(ctx, body);
}

/** The registry's delete options from a DeleteOptions object (`body`) and the request's query. */
export function deleteOptionsFrom(ctx: HandlerContext, body: Record<string, unknown>): RegistryDeleteOptions & { orphanDependents?: boolean } {
  const grace = intParam(ctx.query, 'gracePeriodSeconds') ?? (typeof body.gracePeriodSeconds === 'number' ? body.gracePeriodSeconds : undefined);
  const policy = ctx.query.get('propagationPolicy') ?? (body.propagationPolicy as string | undefined);
  if (policy !== undefined && policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground') {
    throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  const orphanQuery = ctx.query.get('orphanDependents');
  const orphan = orphanQuery !== null ? orphanQuery === 'true' : (body.orphanDependents as boolean | undefined);
  if (orphan !== undefined && policy !== undefined) throw badRequest('DeleteOptions: Invalid value: "": OrphanDependents and DeletionPropagation cannot be both set');
  const preconditions = body.preconditions as { uid?: string; resourceVersion?: string } | undefined;
  const bodyDryRun = Array.isArray(body.dryRun) && (body.dryRun as unknown[]).includes('All');
  return {
    ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
    ...(policy ? { propagationPolicy: policy } : {}),
    ...(orphan !== undefined ? { orphanDependents: orphan } : {}),
    ...(preconditions ? { preconditions } : {}),
    dryRun: dryRun(ctx.query) || bodyDryRun,
  };
}

/** DELETE of an object: 200 with the object or a Success Status (202 while an explicit cascade runs). */
export async function handleDelete(ctx: HandlerContext): Promise<void> {
  if (ctx.request.subresource) throw methodNotAllowed(`delete is not supported on ${ctx.info.plural}/${ctx.request.subresource}`);
  const negotiated = negotiate(ctx.req.headers.accept, ctx.query);
  const namespace = requireNamespace(ctx);
  const options = await deleteOptions(ctx);
  const result = await ctx.registry.delete(ctx.info, namespace, ctx.request.name, options);
  const code = !result.deleted && options.orphanDependents === false ? 202 : 200;
  const object = result.object.kind === 'Status' ? { ...result.object, code } : result.object;
  respondObject(ctx, code, object, negotiated);
}

/** DELETE of a collection. */
export async function handleDeleteCollection(ctx: HandlerContext): Promise<void> {
  if (!ctx.info.verbs.includes('deletecollection')) throw methodNotAllowed(`deletecollection is not supported on ${ctx.info.plural}`);
  const options = await deleteOptions(ctx);
  const list = await ctx.registry.deleteCollection(ctx.info, listRequest(ctx), options);
  writeJson(ctx.res, 200, list);
}

/** 404 for a name that does not exist under a subresource we do not serve. */
export function unknownSubresource(ctx: HandlerContext): never {
  throw notFound({ group: ctx.info.group, resource: `${ctx.info.plural}/${ctx.request.subresource}` }, ctx.request.name);
}
