/**
 * The `scale` and `binding` subresources.
 *
 * - `<kind>/scale` (ReplicationControllers, and custom kinds whose CRD declares it) reads and
 *   writes an `autoscaling/v1 Scale`: `spec.replicas` maps to the object's replicas path; the
 *   status carries the current replicas and the label selector. `kubectl scale rc` PATCHes it.
 * - `pods/<name>/binding` (and `POST namespaces/<ns>/bindings`) assigns a pod to a node: what
 *   the scheduler does. A pod is bound once; binding it again is 409, as kube answers.
 * - `pods/<name>/eviction` (a `policy/v1 Eviction`) deletes the pod with the eviction's
 *   `deleteOptions`: what `kubectl drain` asks for. kube first checks the pod's
 *   PodDisruptionBudgets; keelson has none, so an eviction is always allowed (201 Success).
 */
import { ApiError, badRequest, conflict, invalid, notFound } from '../api/errors.js';
import { selectorFromSet } from '../api/labels.js';
import type { KubeObject } from '../api/meta.js';
import type { ResourceInfo, ScaleSubresource } from '../api/resources.js';
import { createBinding } from '../registry/binding.js';
import { applyJsonPatch, applyMergePatch, decodeJsonPatch, parsePatchBody } from '../registry/patch.js';
import { deleteOptionsFrom, type HandlerContext } from './handlers.js';
import { dryRun, negotiate, objectBody, parseJson, patchType, readBodyBytes, writeJson } from './http.js';

type Json = Record<string, unknown>;

function getPath(obj: unknown, path: string): unknown {
  let node = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Json)[part];
  }
  return node;
}

function setPath(obj: Json, path: string, value: unknown): void {
  const parts = path.replace(/^\./, '').split('.');
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]!] = value;
}

function scaleSpec(info: ResourceInfo): ScaleSubresource {
  const scale = info.subresources.scale;
  if (!scale) throw notFound({ group: info.group, resource: `${info.plural}/scale` }, '');
  return scale;
}

/** The Scale view of an object. */
export function scaleOf(info: ResourceInfo, obj: KubeObject): KubeObject {
  const spec = scaleSpec(info);
  const meta = obj.metadata ?? {};
  let selector: string | undefined;
  if (info.group === '' && info.kind === 'ReplicationController') {
    // An RC's selector is a map in its spec (it has no status.selector).
    selector = selectorFromSet((obj as { spec?: { selector?: Record<string, string> } }).spec?.selector).toString();
  } else if (spec.labelSelectorPath) {
    const value = getPath(obj, spec.labelSelectorPath);
    if (typeof value === 'string') selector = value;
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: meta.name!,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      uid: meta.uid!,
      resourceVersion: meta.resourceVersion!,
      creationTimestamp: meta.creationTimestamp!,
    },
    spec: { replicas: Number(getPath(obj, spec.specReplicasPath) ?? 0) },
    status: { replicas: Number(getPath(obj, spec.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
  } as KubeObject;
}

/** GET, PUT or PATCH of `<kind>/<name>/scale`. */
export async function handleScale(ctx: HandlerContext): Promise<void> {
  negotiate(ctx.req.headers.accept, ctx.query);
  const spec = scaleSpec(ctx.info);
  const namespace = ctx.info.namespaced ? ctx.request.namespace : undefined;
  const { name } = ctx.request;
  if (ctx.request.verb === 'get') {
    writeJson(ctx.res, 200, scaleOf(ctx.info, await ctx.registry.get(ctx.info, namespace, name)));
    return;
  }
  if (ctx.request.verb !== 'update' && ctx.request.verb !== 'patch') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `${ctx.request.verb} is not supported on ${ctx.info.plural}/scale` });
  const bytes = await readBodyBytes(ctx.req);
  const isPatch = ctx.request.verb === 'patch';
  const type = isPatch ? patchType(ctx.req.headers['content-type']) : undefined;
  const body = isPatch ? parsePatchBody(bytes.toString('utf8')) : parseJson(objectBody(ctx.req.headers['content-type'], bytes));
  const result = await ctx.registry.guaranteedUpdate(
    ctx.info,
    namespace,
    name,
    (current) => {
      const scale = scaleOf(ctx.info, current);
      let wanted: KubeObject;
      if (!isPatch) wanted = body as KubeObject;
      else if (type === 'json') wanted = applyJsonPatch(scale, decodeJsonPatch(body)) as KubeObject;
      else if (type === 'merge' || type === 'strategic') wanted = applyMergePatch(scale, body) as KubeObject;
      else throw new ApiError({ code: 415, reason: 'UnsupportedMediaType', message: `${String(type)} patches are not supported on scale` });
      // Go clients omit a zero replica count (omitempty): absent means 0, as kube decodes it.
      const replicas = (wanted as { spec?: { replicas?: unknown } }).spec?.replicas ?? 0;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
        throw badRequest(`Scale in version "v1" cannot be handled as a Scale: spec.replicas must be an integer`);
      }
      if (replicas < 0) {
        throw invalid('Scale', 'autoscaling', name, [{ type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' }]);
      }
      const rv = wanted.metadata?.resourceVersion;
      if (rv && rv !== current.metadata?.resourceVersion) throw conflict({ group: ctx.info.group, resource: ctx.info.plural }, name);
      setPath(current as Json, spec.specReplicasPath, replicas);
      return current;
    },
    { dryRun: dryRun(ctx.query) },
  );
  writeJson(ctx.res, 200, scaleOf(ctx.info, result.object));
}

/** `POST pods/<name>/binding` or `POST namespaces/<ns>/bindings`: the registry's binding rules (lib/registry/binding.ts). */
export async function handleBinding(ctx: HandlerContext): Promise<void> {
  if (ctx.request.verb !== 'create') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `${ctx.request.verb} is not supported on bindings` });
  const body = parseJson(objectBody(ctx.req.headers['content-type'], await readBodyBytes(ctx.req))) as Json;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('a Binding must be a JSON object');
  const meta = (body.metadata ?? {}) as { name?: string };
  if (ctx.request.resource === 'pods') {
    // The subresource names the pod in the URL; the body's name, if any, must agree.
    if (meta.name && meta.name !== ctx.request.name) throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${ctx.request.name})`);
    body.metadata = { ...(body.metadata as object), name: ctx.request.name };
  }
  const status = await createBinding(ctx.registry, body, { namespace: ctx.request.namespace, dryRun: dryRun(ctx.query) });
  writeJson(ctx.res, 201, status);
}

/** `POST pods/<name>/eviction`: deletes the pod as its Eviction's `deleteOptions` say (see the file header). */
export async function handleEviction(ctx: HandlerContext): Promise<void> {
  if (ctx.request.verb !== 'create') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `${ctx.request.verb} is not supported on pods/eviction` });
  const body = parseJson(objectBody(ctx.req.headers['content-type'], await readBodyBytes(ctx.req))) as Json;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('an Eviction must be a JSON object');
  if (body.kind !== undefined && body.kind !== 'Eviction') throw badRequest(`expected an Eviction, got ${String(body.kind)}`);
  const name = ctx.request.name;
  const meta = (body.metadata ?? {}) as { name?: string };
  if (meta.name && meta.name !== name) throw badRequest('name in URL does not match name in Eviction object');
  const options = body.deleteOptions;
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) throw badRequest('deleteOptions must be a JSON object');
  await ctx.registry.delete(ctx.info, ctx.request.namespace ?? '', name, deleteOptionsFrom(ctx, (options ?? {}) as Json));
  writeJson(ctx.res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}
