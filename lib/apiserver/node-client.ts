/**
 * The API server's client of node agents — kube-apiserver's kubelet client. It knows where a
 * node's endpoints are, as kube-apiserver's `NodeConnectionInfoGetter` works it out from the Node
 * object: the first address of a preferred type (kubeadm's `--kubelet-preferred-address-types`
 * order by default: InternalIP, ExternalIP, Hostname) and the port in
 * `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset). It sends GET requests there
 * with the configured bearer token: `pods/log` streams `/containerLogs/…` through it and the
 * metrics API reads `/stats/summary` with it.
 *
 * Failures are ApiErrors shaped as kube-apiserver's: a Node without a usable address is a 500
 * `no preferred addresses found; known addresses: […]`; an agent that cannot be reached is a 500
 * whose message reads as Go's (`Get "http://…": dial tcp …: connect: connection refused`).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ApiError } from '../api/errors.js';
import type { Node } from '../api/kinds.js';

/** Options of a {@link NodeClient}. */
export interface NodeClientOptions {
  /** Bearer token sent to every agent (`keelson up` uses the API server's own token). Absent: none is sent. */
  token?: string;
  /** Node address types to try, in order (default kubeadm's: `InternalIP`, `ExternalIP`, `Hostname`). */
  preferredAddressTypes?: readonly string[];
  /** How long to wait for an agent's response headers, ms (default 10 s). An answering log stream has no limit. */
  responseTimeoutMs?: number;
}

/** Where a node's agent answers. */
export interface NodeConnectionInfo {
  nodeName: string;
  host: string;
  port: number;
}

/** kubelet's default port, used when a Node reports none. */
export const DEFAULT_KUBELET_PORT = 10250;

/** kubeadm's `--kubelet-preferred-address-types`. */
export const DEFAULT_PREFERRED_ADDRESS_TYPES: readonly string[] = ['InternalIP', 'ExternalIP', 'Hostname'];

/**
 * Where the agent of `node` answers (kube's `GetConnectionInfo`); a 500 without a reason (kube's
 * "Unknown") when the Node has no address of a preferred type.
 */
export function nodeConnectionInfo(node: Node, preferredAddressTypes: readonly string[] = DEFAULT_PREFERRED_ADDRESS_TYPES): NodeConnectionInfo {
  const addresses = node.status?.addresses ?? [];
  let host: string | undefined;
  for (const type of preferredAddressTypes) {
    host = addresses.find((a) => a.type === type && a.address)?.address;
    if (host) break;
  }
  if (!host) {
    const known = addresses.map((a) => `{${a.type} ${a.address}}`).join(' ');
    throw new ApiError({ code: 500, message: `no preferred addresses found; known addresses: [${known}]` });
  }
  const reported = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  return { nodeName: node.metadata?.name ?? '', host, port: typeof reported === 'number' && reported > 0 ? reported : DEFAULT_KUBELET_PORT };
}

/** The URL of `path` (with its query) on a node's agent. */
export function agentUrl(info: NodeConnectionInfo, path: string): string {
  const host = info.host.includes(':') ? `[${info.host}]` : info.host;
  return `http://${host}:${info.port}${path}`;
}

/** Go's wording of a failed request, as kube-apiserver passes it on. */
function transportError(url: string, info: NodeConnectionInfo, err: unknown): ApiError {
  const code = (err as NodeJS.ErrnoException).code;
  const target = `${info.host.includes(':') ? `[${info.host}]` : info.host}:${info.port}`;
  const why =
    code === 'ECONNREFUSED'
      ? `dial tcp ${target}: connect: connection refused`
      : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
        ? `dial tcp ${target}: connect: no route to host`
        : code === 'ETIMEDOUT'
          ? `dial tcp ${target}: i/o timeout`
          : err instanceof Error
            ? err.message
            : String(err);
  return new ApiError({ code: 500, message: `Get "${url}": ${why}` });
}

/** Reads a whole response body, keeping at most `limit` bytes. */
export async function readResponse(response: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    if (size >= limit) continue;
    chunks.push(chunk.subarray(0, limit - size));
    size += Math.min(chunk.length, limit - size);
  }
  return Buffer.concat(chunks);
}

/** The API server's client of node agents (see the file header). */
export class NodeClient {
  private readonly preferred: readonly string[];
  private readonly responseTimeoutMs: number;

  constructor(private readonly options: NodeClientOptions = {}) {
    this.preferred = options.preferredAddressTypes ?? DEFAULT_PREFERRED_ADDRESS_TYPES;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 10_000;
  }

  /** Where the agent of `node` answers (see {@link nodeConnectionInfo}). */
  connectionInfo(node: Node): NodeConnectionInfo {
    return nodeConnectionInfo(node, this.preferred);
  }

  /**
   * GETs `path` (query included) from an agent and resolves with the response as soon as its
   * headers arrive, whatever its status: the caller reads (or streams) the body. Aborting
   * `signal` closes the connection at any point, a stream being read included. Rejects with a
   * 500 ApiError when the agent cannot be reached or sends no headers within the response
   * timeout (`timeoutMs` overrides it).
   */
  get(info: NodeConnectionInfo, path: string, signal: AbortSignal, timeoutMs = this.responseTimeoutMs): Promise<IncomingMessage> {
    const url = agentUrl(info, path);
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) {
        reject(transportError(url, info, new Error('context canceled')));
        return;
      }
      const headers: Record<string, string> = { accept: '*/*', 'user-agent': 'keelson-apiserver' };
      if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
      // No connection reuse: every request owns its socket, so aborting one closes exactly it.
      const req = httpRequest(url, { method: 'GET', headers, agent: false });
      let answered = false;
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms awaiting headers`), { code: 'ETIMEDOUT' })), timeoutMs);
      const onAbort = () => req.destroy(new Error('context canceled'));
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('response', (response) => {
        answered = true;
        clearTimeout(timer);
        // The socket (and with it the body stream) still ends when `signal` aborts.
        response.once('close', () => signal.removeEventListener('abort', onAbort));
        resolve(response);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        if (answered) return; // the body's reader sees the failure
        signal.removeEventListener('abort', onAbort);
        reject(transportError(url, info, err));
      });
      req.end();
    });
  }

  /**
   * GETs `path` and parses the JSON body of a 200 answer (at most `limitBytes`); any other
   * status is an ApiError carrying the agent's text. The whole exchange must end within
   * `timeoutMs`.
   */
  async getJson<T>(info: NodeConnectionInfo, path: string, options: { timeoutMs: number; signal?: AbortSignal; limitBytes?: number }): Promise<T> {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const response = await this.get(info, path, signal, options.timeoutMs);
    let body: Buffer;
    try {
      body = await readResponse(response, options.limitBytes ?? 32 * 1024 * 1024);
    } catch (err) {
      throw transportError(agentUrl(info, path), info, deadline.aborted ? Object.assign(new Error('read timed out'), { code: 'ETIMEDOUT' }) : err);
    }
    if (response.statusCode !== 200) {
      throw new ApiError({ code: 500, message: `request to ${agentUrl(info, path)} failed with status ${response.statusCode}: ${body.toString('utf8').trim()}` });
    }
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch (err) {
      throw new ApiError({ code: 500, message: `invalid JSON from ${agentUrl(info, path)}: ${(err as Error).message}` });
    }
  }
}
