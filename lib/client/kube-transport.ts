/**
 * The HTTP side of {@link KubeClient}: a kubeconfig (read by @kubernetes/client-node's
 * `KubeConfig`, which also runs its auth providers: tokens, token files, exec plugins, OIDC, client
 * certificates) turned into requests sent with undici's `fetch`, so that bodies stay plain JSON and
 * timeouts and streaming are ours. Every failure comes out as an {@link ApiError}: the Status the
 * server sent, one built from the HTTP code when the body is not a Status (a proxy's HTML page),
 * 503 ServiceUnavailable when the server cannot be reached, 504 Timeout when it does not answer.
 *
 * client-node 2.0.1 has no `applyToFetchOptions`: per request, `applyToHTTPSOptions` gives the
 * auth headers and the TLS material; the undici dispatcher is built once from that material (with
 * client-node's own `createDispatcherOptions`) and rebuilt when it changes (an exec plugin's new
 * client certificate). As client-go does, no credentials are sent to an `http://` server.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AgentOptions, RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch, ProxyAgent, type Dispatcher, type Response } from 'undici';
import { ApiError, badRequest, type Status } from '../api/errors.js';
import type { Clock } from '../util/clock.js';

/** Receives the `Warning` headers of responses (deprecated APIs, dropped unknown fields, …). */
export type WarningHandler = (warning: string, request: { method: string; path: string }) => void;

/** Options of {@link KubeTransport}. */
export interface KubeTransportOptions {
  clock: Clock;
  /** Timeout of a request that is not a watch, in ms (default 60 s; 0: none). */
  requestTimeoutMs?: number;
  /** Called with each warning the server sends; default: `process.emitWarning`, once per text. */
  onWarning?: WarningHandler;
  /** The User-Agent header (default `keelson`). */
  userAgent?: string;
}

/** One request. `query` values that are undefined are left out. */
export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
}

/** Expands a leading `~` to the home directory. */
export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/**
 * Loads a kubeconfig and selects `context` (default: its current-context). Without `path`:
 * `$KUBECONFIG` (several files separated by `:` are merged, the first current-context wins), then
 * `~/.kube/config`, then the in-cluster service account when running in a pod.
 */
export function loadKubeConfig(path?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  const files = path !== undefined ? [expandHome(path)] : defaultKubeconfigFiles();
  const where = files.length > 0 ? `kubeconfig ${files.join(delimiter)}` : 'the in-cluster config';
  if (files.length === 0 && !process.env.KUBERNETES_SERVICE_HOST) {
    throw badRequest('no kubeconfig found: set $KUBECONFIG, create ~/.kube/config, or pass { kubeconfig: FILE } (or { store: URL })');
  }
  try {
    if (files.length === 0) kc.loadFromCluster();
    for (const [i, file] of files.entries()) {
      if (i === 0) {
        kc.loadFromFile(file);
      } else {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    }
  } catch (err) {
    throw badRequest(`cannot load ${where}: ${(err as Error).message}`);
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) throw badRequest(`context "${context}" not found in ${where}`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw badRequest(`${where}: context "${kc.getCurrentContext()}" names no cluster`);
  return kc;
}

function defaultKubeconfigFiles(): string[] {
  const env = process.env.KUBECONFIG;
  if (env) {
    const files = env.split(delimiter).filter(Boolean).map(expandHome);
    if (files.length > 0) return files;
  }
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

/** Sends requests to the API server a kubeconfig names. */
export class KubeTransport {
  /** The server URL without a trailing slash (it may carry a path prefix). */
  readonly server: string;
  private readonly secure: boolean;
  private readonly closing = new AbortController();
  /** The dispatcher for the current TLS material (built once per distinct material). */
  private current: { key: string; dispatcher: Promise<Dispatcher> } | undefined;
  /** Dispatchers replaced by a newer one, closing once their requests (watches) end. */
  private readonly retired = new Set<Dispatcher>();
  private readonly seenWarnings = new Set<string>();

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly options: KubeTransportOptions,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw badRequest(`kubeconfig context "${kubeConfig.getCurrentContext()}" names no cluster`);
    this.server = cluster.server.replace(/\/+$/, '');
    this.secure = !this.server.startsWith('http:');
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Sends a request and parses its JSON answer; non-2xx answers throw their ApiError. */
  async json<T>(req: KubeRequest): Promise<T> {
    const timeoutMs = this.options.requestTimeoutMs ?? 60_000;
    const timeout = new AbortController();
    const timer =
      timeoutMs > 0
        ? this.options.clock.setTimeout(
            () => timeout.abort(new ApiError({ code: 504, reason: 'Timeout', message: `${req.method} ${this.server}${req.path}: no answer within ${timeoutMs} ms` })),
            timeoutMs,
          )
        : undefined;
    const signal = req.signal ? AbortSignal.any([req.signal, timeout.signal]) : timeout.signal;
    try {
      const res = await this.send({ ...req, signal });
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        throw this.failure(req, err, signal);
      }
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ApiError({ code: 500, reason: 'InternalError', message: `the server answered ${req.method} ${req.path} with a body that is not JSON: ${snippet(text)}` });
      }
    } finally {
      timer?.cancel();
    }
  }

  /**
   * Sends a request and answers the response of a 2xx, its body unread (for streams); a non-2xx
   * throws its ApiError; an unreachable server throws 503 ServiceUnavailable.
   */
  async send(req: KubeRequest): Promise<Response> {
    if (this.closed) throw closedError();
    const url = this.url(req);
    const { headers, dispatcher } = await this.prepare();
    headers['accept'] = 'application/json';
    headers['user-agent'] = this.options.userAgent ?? 'keelson';
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    const signal = req.signal ? AbortSignal.any([req.signal, this.closing.signal]) : this.closing.signal;
    let res: Response;
    try {
      res = await fetch(url, { method: req.method, headers, dispatcher, signal, ...(req.body !== undefined ? { body: req.body } : {}) });
    } catch (err) {
      throw this.failure(req, err, req.signal);
    }
    this.warn(req, res.headers.get('warning'));
    if (res.status >= 200 && res.status < 300) return res;
    throw await errorFromResponse(res, req);
  }

  /** Aborts the requests in flight and releases the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing.abort(closedError());
    const current = this.current ? [this.current.dispatcher.catch(() => undefined)] : [];
    this.current = undefined;
    const dispatchers = [...this.retired, ...(await Promise.all(current))];
    this.retired.clear();
    await Promise.allSettled(dispatchers.map((d) => d?.destroy()));
  }

  private url(req: KubeRequest): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) params.set(key, String(value));
    const query = params.toString();
    return `${this.server}${req.path}${query ? `?${query}` : ''}`;
  }

  /** The ApiError of a request that got no (complete) answer. */
  private failure(req: KubeRequest, err: unknown, signal: AbortSignal | undefined): ApiError {
    if (err instanceof ApiError) return err;
    if (this.closed) return closedError();
    const what = `${req.method} ${this.server}${req.path}`;
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof ApiError) return reason;
      return new ApiError({ code: 503, reason: 'ServiceUnavailable', message: `${what}: the request was aborted` });
    }
    const cause = (err as { cause?: unknown }).cause ?? err;
    const code = (cause as { code?: string }).code;
    const message = cause instanceof Error ? cause.message : String(cause);
    const error = new ApiError({
      code: 503,
      reason: 'ServiceUnavailable',
      message: `${what}: ${message}`,
      details: { causes: [{ reason: code ?? 'NetworkError', message }] },
    });
    Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
    return error;
  }

  /** The auth headers and the dispatcher of the next request. */
  private async prepare(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    if (!this.secure) {
      this.current ??= { key: '', dispatcher: Promise.resolve(new Agent(TIMEOUTS)) };
      return { headers: {}, dispatcher: await this.current.dispatcher };
    }
    const opts: RequestOptions = {};
    try {
      await this.kubeConfig.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new ApiError({ code: 401, reason: 'Unauthorized', message: `getting credentials: ${(err as Error).message}` });
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(opts.headers ?? {})) {
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    if (opts.auth) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const tls: AgentOptions = {};
    for (const key of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
      if (opts[key] !== undefined) (tls as Record<string, unknown>)[key] = opts[key];
    }
    if (this.closed) throw closedError();
    const key = fingerprint(tls);
    if (this.current?.key !== key) {
      const old = this.current;
      this.current = { key, dispatcher: this.buildDispatcher(tls) };
      // Requests in flight on the old one (watches) keep it until they end.
      void old?.dispatcher.then((d) => {
        this.retired.add(d);
        return d.close().finally(() => this.retired.delete(d));
      }).catch(() => undefined);
    }
    return { headers, dispatcher: await this.current.dispatcher };
  }

  /** An undici dispatcher for the TLS material, as client-node would build it, without undici's body/headers timeouts. */
  private async buildDispatcher(tls: AgentOptions): Promise<Dispatcher> {
    const kc = this.kubeConfig;
    const built = kc.createDispatcherOptions(kc.getCurrentCluster(), tls);
    type Connect = NonNullable<Agent.Options['connect']>;
    switch (built.type) {
      case 'agent':
        return new Agent({ ...TIMEOUTS, connect: built.connect as Connect });
      case 'proxy':
        return new ProxyAgent({ ...TIMEOUTS, uri: built.uri, requestTls: built.requestTls as ProxyAgent.Options['requestTls'], connect: built.connect as Connect });
      case 'socks': {
        // client-node's SOCKS connector is not exported: take the dispatcher it builds.
        let captured: Dispatcher | undefined;
        const context = { setHeaderParam: () => undefined, setDispatcher: (d: Dispatcher) => void (captured = d) };
        await kc.applySecurityAuthentication(context as unknown as Parameters<KubeConfig['applySecurityAuthentication']>[0]);
        return captured ?? new Agent(TIMEOUTS);
      }
      default:
        return new Agent(TIMEOUTS);
    }
  }

  private warn(req: KubeRequest, header: string | null): void {
    if (!header) return;
    for (const text of parseWarnings(header)) {
      if (this.options.onWarning) {
        this.options.onWarning(text, { method: req.method, path: req.path });
      } else if (!this.seenWarnings.has(text)) {
        this.seenWarnings.add(text);
        process.emitWarning(text, 'KubernetesWarning');
      }
    }
  }
}

/** Our own timeouts govern (request timeout, watch silence): undici's would cut quiet watches. */
const TIMEOUTS = { headersTimeout: 0, bodyTimeout: 0 } as const;

function fingerprint(tls: AgentOptions): string {
  const hash = createHash('sha256');
  for (const [key, value] of Object.entries(tls).sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(key).update('\0');
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) hash.update(typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v ?? null)).update('\0');
  }
  return hash.digest('hex');
}

/** The 503 of a client that was closed. */
export function closedError(): ApiError {
  return new ApiError({ code: 503, reason: 'ServiceUnavailable', message: 'the client is closed' });
}

/**
 * Splits a `Warning` header (RFC 7234: `299 - "text"`, several joined by commas) into its texts;
 * only code 299 (miscellaneous persistent warning) is kept, as client-go does.
 */
export function parseWarnings(header: string): string[] {
  const texts: string[] = [];
  for (const m of header.matchAll(/(\d{3})\s+\S+\s+"((?:[^"\\]|\\.)*)"(?:\s+"[^"]*")?/g)) {
    if (m[1] === '299') texts.push(m[2]!.replace(/\\(.)/g, '$1'));
  }
  return texts;
}

/** The seconds of a `Retry-After` header (delta-seconds or an HTTP date), if any. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The ApiError of a non-2xx response: its Status body, or one made from the HTTP code. */
export async function errorFromResponse(res: Response, req: Pick<KubeRequest, 'method' | 'path'>): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const retryAfter = retryAfterSeconds(res.headers.get('retry-after'));
  let status: Partial<Status> | undefined;
  try {
    const parsed = JSON.parse(text) as Partial<Status>;
    if (parsed && typeof parsed === 'object' && parsed.kind === 'Status') status = parsed;
  } catch {
    // not JSON: below
  }
  if (status) {
    const details = retryAfter !== undefined && status.details?.retryAfterSeconds === undefined ? { ...status.details, retryAfterSeconds: retryAfter } : status.details;
    return ApiError.fromStatus({ ...status, code: status.code || res.status, ...(details ? { details } : {}) }, res.status);
  }
  const [reason, message] = genericError(res.status, text);
  return new ApiError({
    code: res.status,
    ...(reason ? { reason } : {}),
    message: `${message} (${req.method.toLowerCase()} ${req.path})`,
    details: { causes: [{ reason: 'UnexpectedServerResponse', message: snippet(text) }], ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}) },
  });
}

/** Reason and message for a response without a Status, worded as client-go's generic server errors. */
function genericError(code: number, body: string): [string | undefined, string] {
  switch (code) {
    case 400:
      return ['BadRequest', 'the server rejected our request for an unknown reason'];
    case 401:
      return ['Unauthorized', 'the server has asked for the client to provide credentials'];
    case 403:
      return ['Forbidden', body ? snippet(body) : 'forbidden'];
    case 404:
      return ['NotFound', 'the server could not find the requested resource'];
    case 405:
      return ['MethodNotAllowed', 'the server does not allow this method on the requested resource'];
    case 409:
      return ['Conflict', 'the server reported a conflict'];
    case 410:
      return ['Gone', 'the requested resource version is gone'];
    case 422:
      return ['Invalid', 'the server rejected our request due to an error in our request'];
    case 429:
      return ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'];
    case 503:
      return ['ServiceUnavailable', 'the server is currently unable to handle the request'];
    case 504:
      return ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'];
    default:
      if (code >= 500) return ['InternalError', `an error on the server (${JSON.stringify(snippet(body))}) has prevented the request from succeeding`];
      return [undefined, `the server responded with the status code ${code} but did not return more information`];
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
