/**
 * The agent's HTTP endpoints, kubelet-style, on `<node address>:<port>`:
 *
 * - `GET /containerLogs/<namespace>/<pod>/<container>` — a container's log as plain text, with
 *   kubelet's query parameters `follow`, `previous`, `tailLines`, `timestamps`, `sinceSeconds`,
 *   `sinceTime` and `limitBytes`; with `follow` the answer streams until the container instance
 *   ends or the client goes away (what the apiserver's `pods/log` proxies to);
 * - `GET /stats/summary` — the kubelet Summary API (what metrics-server reads);
 * - `GET /metrics` — the agent's own metrics plus the resource families; `GET /metrics/resource`
 *   — just those (kubelet's endpoint of that name);
 * - `GET /pods` — the pods the agent runs, as a PodList;
 * - `GET /healthz` — `ok` while the agent runs (never authenticated, as kubelet's healthz port).
 *
 * Authentication: with a bearer token configured (the apiserver's), every other endpoint needs
 * `Authorization: Bearer <token>` (401 otherwise); without one, only loopback clients are served
 * (403 otherwise). Plain HTTP: the endpoints listen on a loopback address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, isNotFound, type KubeList, type Logger, type Pod } from '../../lib/index.js';
import type { LogOptions } from './runtime/types.js';
import type { Summary } from './stats.js';

/** What the endpoints serve, provided by the agent. */
export interface AgentEndpoints {
  /** The uid and container names of a pod the agent runs, by namespace and name. */
  findPod(namespace: string, name: string): { uid: string; containers: string[] } | undefined;
  logs(uid: string, container: string, options: LogOptions): AsyncIterable<string>;
  summary(): Summary;
  /** The agent's own metrics, Prometheus text. */
  metrics(): Promise<string>;
  /** The resource metric families, Prometheus text. */
  resourceMetrics(): string;
  pods(): KubeList<Pod>;
  /** Undefined while healthy, else why not. */
  unhealthy(): string | undefined;
}

/** Options of an {@link AgentServer}. */
export interface AgentServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Checks the `Authorization` header; absent = loopback clients only. */
  authenticate?: (authorization: string | undefined) => boolean;
  logger: Logger;
  /** Now, ms since the epoch (for `sinceTime`). */
  now: () => number;
  endpoints: AgentEndpoints;
}

/** A client error: status code and a one-line message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  if (value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new HttpError(400, `${name}: must be true or false, got "${value}"`);
}

function integer(query: URLSearchParams, name: string, min: number): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min) throw new HttpError(400, `${name}: must be an integer of at least ${min}, got "${value}"`);
  return Number(value);
}

/** The log options of a `/containerLogs` query (400 for a bad value). */
export function logOptionsFrom(query: URLSearchParams, nowMs: number): LogOptions & { limitBytes?: number } {
  const tailLines = integer(query, 'tailLines', 0);
  let sinceSeconds = integer(query, 'sinceSeconds', 1);
  const sinceTime = query.get('sinceTime');
  if (sinceTime) {
    const ms = Date.parse(sinceTime);
    if (Number.isNaN(ms)) throw new HttpError(400, `sinceTime: must be an RFC 3339 time, got "${sinceTime}"`);
    if (sinceSeconds !== undefined) throw new HttpError(400, 'at most one of sinceTime or sinceSeconds may be specified');
    sinceSeconds = Math.max(1, Math.ceil((nowMs - ms) / 1000));
  }
  const limitBytes = integer(query, 'limitBytes', 1);
  return {
    follow: flag(query, 'follow'),
    previous: flag(query, 'previous'),
    timestamps: flag(query, 'timestamps'),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
  };
}

/** The agent's HTTP server (see the file header). */
export class AgentServer {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly options: AgentServerOptions) {}

  /** The port bound (after {@link start}). */
  get port(): number {
    return this.boundPort;
  }

  /** Listens; resolves with the port. */
  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    return this.boundPort;
  }

  /** Closes every connection (log streams included) and stops listening. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const { endpoints } = this.options;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed`);
    if (url.pathname === '/healthz') {
      const problem = endpoints.unhealthy();
      res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain; charset=utf-8' }).end(problem ?? 'ok');
      return;
    }
    if (this.options.authenticate) {
      if (!this.options.authenticate(req.headers.authorization)) throw new HttpError(401, 'Unauthorized');
    } else if (!isLoopback(req.socket.remoteAddress)) {
      throw new HttpError(403, 'Forbidden: only loopback clients are served without a token');
    }
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (logs) return this.containerLogs(res, decodeURIComponent(logs[1]!), decodeURIComponent(logs[2]!), decodeURIComponent(logs[3]!), url.searchParams);
    switch (url.pathname) {
      case '/stats/summary':
      case '/stats/summary/':
        return this.json(res, endpoints.summary());
      case '/pods':
      case '/pods/':
        return this.json(res, endpoints.pods());
      case '/metrics':
        return this.text(res, (await endpoints.metrics()) + endpoints.resourceMetrics(), 'text/plain; version=0.0.4; charset=utf-8');
      case '/metrics/resource':
        return this.text(res, endpoints.resourceMetrics(), 'text/plain; version=0.0.4; charset=utf-8');
      default:
        throw new HttpError(404, `404 page not found`);
    }
  }

  private async containerLogs(res: ServerResponse, namespace: string, name: string, container: string, query: URLSearchParams): Promise<void> {
    const pod = this.options.endpoints.findPod(namespace, name);
    if (!pod) throw new HttpError(404, `pod "${name}" in namespace "${namespace}" not found on this node`);
    if (!pod.containers.includes(container)) throw new HttpError(400, `container ${container} is not valid for pod ${name}`);
    const { limitBytes, ...options } = logOptionsFrom(query, this.options.now());
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    // A log that cannot be read (no such pod here, no previous instance, a container still
    // waiting) is a 404 or a 400 with the runtime's message; a followed log starts at once.
    let iterator: AsyncIterator<string>;
    let first: IteratorResult<string> | undefined;
    try {
      iterator = this.options.endpoints.logs(pod.uid, container, { ...options, signal: abort.signal })[Symbol.asyncIterator]();
      if (!options.follow || options.previous) first = await iterator.next();
    } catch (err) {
      throw new HttpError(isNotFound(err) ? 404 : err instanceof ApiError && err.code < 500 ? err.code : 400, err instanceof Error ? err.message : String(err));
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let remaining = limitBytes ?? Infinity;
    const write = (chunk: string): boolean => {
      if (remaining <= 0) return false;
      const bytes = Buffer.from(chunk, 'utf8');
      const part = bytes.length > remaining ? bytes.subarray(0, remaining) : bytes;
      remaining -= part.length;
      res.write(part);
      return remaining > 0;
    };
    try {
      let next = first ?? (await iterator.next());
      while (!next.done && !abort.signal.aborted) {
        if (!write(next.value)) break;
        next = await iterator.next();
      }
    } catch (err) {
      if (!abort.signal.aborted) this.options.logger.debug({ err, pod: `${namespace}/${name}`, container }, 'log stream ended with an error');
    } finally {
      await iterator.return?.().catch(() => undefined);
      res.end();
    }
  }

  private json(res: ServerResponse, body: unknown): void {
    this.text(res, JSON.stringify(body), 'application/json');
  }

  private text(res: ServerResponse, body: string, contentType: string): void {
    res.writeHead(200, { 'content-type': contentType }).end(body);
  }

  private fail(res: ServerResponse, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) this.options.logger.warn({ err }, 'agent endpoint failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${err instanceof Error ? err.message : String(err)}\n`);
  }
}
