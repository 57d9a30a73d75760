/**
 * The `pods/log` subresource — what `kubectl logs` reads: `GET
 * /api/v1/namespaces/<ns>/pods/<name>/log` with kube's PodLogOptions as query parameters
 * (`container`, `follow`, `previous`, `timestamps`, `tailLines`, `sinceSeconds`, `sinceTime`,
 * `limitBytes`, `insecureSkipTLSVerifyBackend`), answered as kube-apiserver's pod log REST does:
 *
 * 1. the options are decoded (a malformed number or time is a 400 with Go's parser message) and
 *    validated (`ValidatePodLogOptions`: a 422 `PodLogOptions "<pod>" is invalid: …`);
 * 2. the pod is read (404 `pods "<pod>" not found`) and the container picked: the one named, the
 *    only one, or a 400 (`a container name must be specified for pod <pod>, choose one of: [a b]`,
 *    `container <c> is not valid for pod <pod>`);
 * 3. a pod not bound to a node has no log yet: an empty 200, as kube answers;
 * 4. the node's agent is found from the Node object (404 `nodes "<node>" not found`, 500 without
 *    a usable address) and `/containerLogs/<ns>/<pod>/<container>` is streamed from it as
 *    `text/plain` with the API server's agent credential. With `follow` the stream lasts until
 *    the agent ends it (the container instance ended) or the client goes away — which closes
 *    the agent's connection at once.
 *
 * The agent's refusals reach the client as Status objects: its 400s as BadRequest with its text
 * (`previous terminated container "c" in pod "p" not found`), its 404s as NotFound with its text
 * (kube's own 404 message drops that text; keelson keeps it because it says what is missing),
 * anything else as kube's generic server response with the text as a cause.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { ApiError, badRequest, invalid, notFound, type FieldError } from '../api/errors.js';
import type { Node, Pod } from '../api/kinds.js';
import type { HandlerContext } from './handlers.js';
import { readResponse, type NodeClient } from './node-client.js';

/** kube's PodLogOptions, decoded from the query. */
export interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339, as given. */
  sinceTime?: string;
  limitBytes?: number;
  insecureSkipTLSVerifyBackend: boolean;
}

/** A query boolean as kube converts it: absent is false; `0`, `f`, `false` (any case) are false; anything else is true. */
function queryBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return !(value === '0' || /^(f|false)$/i.test(value));
}

/** A query int64 as kube converts it (`strconv.ParseInt`): a malformed one is a 400 with Go's message. */
function queryInt(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^[+-]?\d+$/.test(value)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(value)}: value out of range`);
  return n;
}

const RFC3339 = /^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/;

/**
 * Decodes PodLogOptions from a query, as kube's parameter codec does: booleans never fail,
 * malformed integers and times are 400s. Unknown parameters are ignored.
 */
export function decodePodLogOptions(query: URLSearchParams): PodLogOptions {
  const sinceTime = query.get('sinceTime');
  if (sinceTime && (!RFC3339.test(sinceTime) || Number.isNaN(Date.parse(sinceTime)))) {
    throw badRequest(`parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(sinceTime)} as RFC 3339`);
  }
  const container = query.get('container');
  const tailLines = queryInt(query, 'tailLines');
  const sinceSeconds = queryInt(query, 'sinceSeconds');
  const limitBytes = queryInt(query, 'limitBytes');
  return {
    ...(container ? { container } : {}),
    follow: queryBool(query, 'follow'),
    previous: queryBool(query, 'previous'),
    timestamps: queryBool(query, 'timestamps'),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
    ...(sinceTime ? { sinceTime } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
    insecureSkipTLSVerifyBackend: queryBool(query, 'insecureSkipTLSVerifyBackend'),
  };
}

/** kube's `ValidatePodLogOptions`: a 422 for a negative tailLines, a limitBytes or sinceSeconds below 1, or both since options. */
export function validatePodLogOptions(podName: string, options: PodLogOptions): void {
  const errors: FieldError[] = [];
  if (options.tailLines !== undefined && options.tailLines < 0) {
    errors.push({ type: 'FieldValueInvalid', field: 'tailLines', value: options.tailLines, detail: 'must be greater than or equal to 0' });
  }
  if (options.limitBytes !== undefined && options.limitBytes < 1) {
    errors.push({ type: 'FieldValueInvalid', field: 'limitBytes', value: options.limitBytes, detail: 'must be greater than 0' });
  }
  if (options.sinceSeconds !== undefined && options.sinceTime !== undefined) {
    errors.push({ type: 'FieldValueForbidden', field: '', detail: 'at most one of `sinceTime` or `sinceSeconds` may be specified' });
  } else if (options.sinceSeconds !== undefined && options.sinceSeconds < 1) {
    errors.push({ type: 'FieldValueInvalid', field: 'sinceSeconds', value: options.sinceSeconds, detail: 'must be greater than 0' });
  }
  if (errors.length > 0) throw invalid('PodLogOptions', '', podName, errors);
}

/** Every container name of a pod in kube's visiting order: init containers, containers, ephemeral containers. */
function containerNames(pod: Pod): string[] {
  const spec = (pod.spec ?? {}) as { initContainers?: { name: string }[]; containers?: { name: string }[]; ephemeralContainers?: { name: string }[] };
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
}

/**
 * The container whose log is read (kube's `validateContainer`): the one named — which must be one
 * of the pod's — or the pod's only (non-init) container; otherwise a 400 with kube's message.
 */
export function logContainer(pod: Pod, container: string | undefined): string {
  const name = pod.metadata?.name ?? '';
  if (container) {
    if (!containerNames(pod).includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    return container;
  }
  const containers = pod.spec?.containers ?? [];
  if (containers.length === 1) return containers[0]!.name;
  if (containers.length === 0) throw badRequest(`a container name must be specified for pod ${name}`);
  throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containerNames(pod).join(' ')}]`);
}

/** The agent's query for the options (kube's LogLocation parameters). */
function agentQuery(options: PodLogOptions): string {
  const params = new URLSearchParams();
  if (options.follow) params.set('follow', 'true');
  if (options.previous) params.set('previous', 'true');
  if (options.timestamps) params.set('timestamps', 'true');
  if (options.sinceSeconds !== undefined) params.set('sinceSeconds', String(options.sinceSeconds));
  if (options.sinceTime !== undefined) params.set('sinceTime', new Date(Date.parse(options.sinceTime)).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  if (options.tailLines !== undefined) params.set('tailLines', String(options.tailLines));
  if (options.limitBytes !== undefined) params.set('limitBytes', String(options.limitBytes));
  params.sort(); // Go's url.Values.Encode sorts by key
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The Status for an agent's non-2xx answer (kube's GenericHttpResponseChecker, keeping a 404's text). */
export function agentErrorStatus(statusCode: number, body: string, podName: string): ApiError {
  const text = body.trim();
  const details = { name: podName, kind: 'pods/log' };
  switch (statusCode) {
    case 400:
      return badRequest(text);
    case 404:
      return new ApiError({ code: 404, reason: 'NotFound', message: text || `the server could not find the requested resource ( pods/log ${podName})`, details });
    case 500:
      return new ApiError({ code: 500, reason: 'InternalError', message: `Internal error occurred: ${text}`, details: { causes: [{ message: text }] } });
  }
  const generic: Record<number, [string, string]> = {
    401: ['Unauthorized', 'the server has asked for the client to provide credentials'],
    403: ['Forbidden', text],
    405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
    409: ['Conflict', 'the server reported a conflict'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
    429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
    504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
  };
  const [reason, message] = generic[statusCode] ?? (statusCode >= 500 ? ['InternalError', `an error on the server (${JSON.stringify(text)}) has prevented the request from succeeding`] : ['', `the server responded with the status code ${statusCode} but did not return more information`]);
  return new ApiError({
    code: statusCode,
    ...(reason ? { reason } : {}),
    message: `${message} ( pods/log ${podName})`,
    details: { ...details, ...(text ? { causes: [{ reason: 'UnexpectedServerResponse', message: text }] } : {}) },
  });
}

/** `GET pods/<name>/log` (see the file header). */
export async function handlePodLog(ctx: HandlerContext, nodes: NodeClient): Promise<void> {
  const { request, registry, res, req } = ctx;
  if (request.verb !== 'get') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `${request.verb} is not supported on pods/log` });
  if (!request.namespace) throw notFound({ group: '', resource: 'pods' }, request.name);
  const options = decodePodLogOptions(ctx.query);
  validatePodLogOptions(request.name, options);
  const pod = await registry.get<Pod>(ctx.info, request.namespace, request.name);
  const container = logContainer(pod, options.container);
  const nodeName = pod.spec?.nodeName;
  const plain = { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'X-Content-Type-Options': 'nosniff' };
  if (!nodeName) {
    // kube: "If pod has not been assigned a host, return an empty location" — an empty log.
    res.writeHead(200, { ...plain, 'Content-Length': '0' });
    res.end();
    return;
  }
  const nodeInfo = registry.types.forResource('', 'v1', 'nodes');
  if (!nodeInfo) throw new ApiError({ code: 500, reason: 'InternalError', message: 'nodes are not served' });
  const node = await registry.get<Node>(nodeInfo, undefined, nodeName);
  const target = nodes.connectionInfo(node);

  // The client going away (or the server stopping) ends the agent's stream too.
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  const onStop = () => abort.abort();
  ctx.serverSignal.addEventListener('abort', onStop, { once: true });
  try {
    const path = `/containerLogs/${encodeURIComponent(request.namespace)}/${encodeURIComponent(request.name)}/${encodeURIComponent(container)}${agentQuery(options)}`;
    const upstream: IncomingMessage = await nodes.get(target, path, abort.signal);
    const status = upstream.statusCode ?? 500;
    if (status < 200 || status > 206) {
      const body = await readResponse(upstream, 64 * 1024).catch(() => Buffer.alloc(0));
      throw agentErrorStatus(status, body.toString('utf8'), request.name);
    }
    res.writeHead(200, plain);
    res.flushHeaders();
    req.socket.setNoDelay(true);
    try {
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        if (!res.write(chunk)) await once(res, 'drain', { signal: abort.signal });
      }
    } catch (err) {
      // The client left or the agent's connection broke: either way the answer ends here.
      if (!abort.signal.aborted) ctx.res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    res.end();
  } finally {
    res.off('close', onClose);
    ctx.serverSignal.removeEventListener('abort', onStop);
    abort.abort();
  }
}
