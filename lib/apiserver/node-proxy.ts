/**
 * The `nodes/proxy` subresource — `GET /api/v1/nodes/<node>/proxy/<path>`, what
 * `kubectl get --raw /api/v1/nodes/node-1/proxy/stats/summary` (or `/metrics`) reads: the request
 * is passed to the node's agent at `<path>` with its query, with the API server's agent
 * credential, and the agent's answer comes back as it is (status, content type, body streamed).
 *
 * The agent's endpoints are read-only, so only GET (and HEAD) are proxied; other methods are a
 * 405. A missing Node is a 404 `nodes "<node>" not found`; an agent that cannot be reached is
 * kube-apiserver's 500 with Go's wording (see node-client.ts).
 */
import { once } from 'node:events';
import { ApiError, notFound } from '../api/errors.js';
import type { Node } from '../api/kinds.js';
import type { HandlerContext } from './handlers.js';
import type { NodeClient } from './node-client.js';

/** Response headers of the agent passed on to the client. */
const PASSED_HEADERS = ['content-type', 'content-encoding', 'cache-control', 'etag', 'last-modified'];

/** Serves `nodes/<name>/proxy/<path>` (see the file header). */
export async function handleNodeProxy(ctx: HandlerContext, nodes: NodeClient): Promise<void> {
  const { request, registry, req, res } = ctx;
  if (request.verb !== 'get') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `${req.method} is not supported on nodes/proxy: node agents serve only GET` });
  if (!request.name) throw notFound({ group: '', resource: 'nodes' }, '');
  const node = await registry.get<Node>(ctx.info, undefined, request.name);
  const target = nodes.connectionInfo(node);
  const query = ctx.query.toString();
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  ctx.serverSignal.addEventListener('abort', onClose, { once: true });
  try {
    const upstream = await nodes.get(target, `${request.proxyPath}${query ? `?${query}` : ''}`, abort.signal);
    const headers: Record<string, string> = {};
    for (const name of PASSED_HEADERS) {
      const value = upstream.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    res.writeHead(upstream.statusCode ?? 502, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        if (!res.write(chunk)) await once(res, 'drain', { signal: abort.signal });
      }
    } catch (err) {
      if (!abort.signal.aborted) res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    res.end();
  } finally {
    res.off('close', onClose);
    ctx.serverSignal.removeEventListener('abort', onClose);
    abort.abort();
  }
}
