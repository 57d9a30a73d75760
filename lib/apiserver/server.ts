/**
 * The API server: kube-apiserver's REST API over a keelson Registry, so that kubectl,
 * @kubernetes/client-node and any Kubernetes client work unchanged. Routes: `/version`,
 * discovery (`/api`, `/apis`, their group/version lists, aggregated discovery), OpenAPI v2/v3,
 * the probes, and every served resource — CRUD, watch, `status`, `scale`, `binding` and
 * `finalize` subresources; `pods/log` streamed from the pod's node agent (pod-logs.ts), `nodes/proxy`
 * to the node's agent (node-proxy.ts), and the
 * resource metrics API `metrics.k8s.io/v1beta1` read from the agents (metrics-api.ts). HTTPS with
 * bearer tokens when configured (see `keelson up`).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiError, methodNotAllowed } from '../api/errors.js';
import type { ResourceInfo, ResourceTypes } from '../api/resources.js';
import type { Registry } from '../registry/registry.js';
import { systemClock, type Clock } from '../util/clock.js';
import { isPublicPath, unauthorizedStatus } from './auth.js';
import {
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  DISCOVERY_CONTENT_TYPES,
  negotiateDiscovery,
  versionInfo,
} from './discovery.js';
import {
  handleCreate,
  handleDelete,
  handleDeleteCollection,
  handleGet,
  handleList,
  handlePatch,
  handleUpdate,
  handleWatch,
  noRoute,
  type HandlerContext,
} from './handlers.js';
import { writeError, writeJson } from './http.js';
import { METRICS_GROUP, MetricsApi, metricsApiGroup, metricsGroupDiscovery, metricsResourceList, type MetricsApiOptions } from './metrics-api.js';
import { NodeClient, type NodeClientOptions } from './node-client.js';
import {
  negotiateOpenAPIV2,
  OPENAPI_V2_PROTOBUF_MEDIA_TYPE,
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
  openapiV2Representation,
  openapiV3Index,
  openapiV3Served,
} from './openapi.js';
import { handleNodeProxy } from './node-proxy.js';
import { handlePodLog } from './pod-logs.js';
import { parseRequestInfo, type RequestInfo } from './request-info.js';
import { handleBinding, handleEviction, handleScale } from './subresources.js';

/** Where the server logs (a pino logger fits). */
export interface ApiServerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Options of an {@link ApiServer}. */
export interface ApiServerOptions {
  registry: Registry;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 6443; 0 picks a free one). */
  port?: number;
  /** Serve HTTPS with this certificate (PEM); absent = plain HTTP. */
  tls?: { cert: string; key: string };
  /** Checks the Authorization header; absent = no authentication (tests, loopback). */
  authenticate?: (authorization: string | undefined) => { user: string } | undefined;
  /** Extra readiness checks for `/readyz` (default: always ready). */
  ready?: () => string | undefined;
  clock?: Clock;
  logger?: ApiServerLogger;
  /** Server-side timeout of watches that set none (default 30 min, randomised up to ×2, as kube's min-request-timeout). */
  watchTimeoutMs?: number;
  /**
   * How the server reaches node agents (`pods/log`, the metrics API): the credential it sends
   * (kube-apiserver's kubelet client credential; `keelson up` gives its own token) and the address
   * types it prefers. Default: no token.
   */
  nodeClient?: NodeClientOptions;
  /** The metrics API's sampling window and per-node timeout (see {@link MetricsApiOptions}). */
  metrics?: MetricsApiOptions;
}

const quiet: ApiServerLogger = { info() {}, warn() {}, error() {} };

/** Whether an Accept-Encoding header admits gzip (`gzip` or `*`, with a non-zero quality). */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const q = params.map((p) => /^q=([0-9.]+)$/.exec(p)?.[1]).find((v) => v !== undefined);
    return (coding === 'gzip' || coding === '*') && (q === undefined || Number(q) > 0);
  });
}

/** kube-apiserver's API over a Registry. */
export class ApiServer {
  private server: Server | undefined;
  private readonly clock: Clock;
  private readonly logger: ApiServerLogger;
  private readonly stopping = new AbortController();
  private readonly nodes: NodeClient;
  private readonly metrics: MetricsApi;

  constructor(private readonly options: ApiServerOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? quiet;
    this.nodes = new NodeClient(options.nodeClient);
    this.metrics = new MetricsApi({ registry: options.registry, nodes: this.nodes, now: () => this.clock.now(), logger: this.logger }, options.metrics);
  }

  /** The registry served. */
  get registry(): Registry {
    return this.options.registry;
  }

  /** The port bound (after start). */
  get port(): number {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the API server is not started');
    return address.port;
  }

  /** The base URL clients use, e.g. `https://127.0.0.1:6443`. */
  get url(): string {
    const host = this.options.host ?? '127.0.0.1';
    const shown = host.includes(':') ? `[${host}]` : host;
    return `${this.options.tls ? 'https' : 'http'}://${shown}:${this.port}`;
  }

  /** Starts listening. */
  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = this.options.tls ? createHttpsServer({ cert: this.options.tls.cert, key: this.options.tls.key }, handler) : createHttpServer(handler);
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 6443, this.options.host ?? '127.0.0.1', () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    this.logger.info({ url: this.url }, 'API server listening');
  }

  /** Stops accepting requests and ends open watches. */
  async stop(): Promise<void> {
    this.stopping.abort();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      if (isPublicPath(path)) return this.probe(path, res);
      if (this.options.authenticate && !this.options.authenticate(req.headers.authorization)) {
        writeJson(res, 401, unauthorizedStatus());
        return;
      }
      if (await this.nonResource(req, res, path, url.searchParams)) return;
      const request = parseRequestInfo(req.method ?? 'GET', path, url.searchParams);
      if (!request) throw noRoute();
      await this.resource(req, res, request, url.searchParams);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code >= 500) this.logger.warn({ err, method: req.method, url: req.url }, 'request failed');
      writeError(res, err);
    }
  }

  private probe(path: string, res: ServerResponse): void {
    const failure = path.startsWith('/readyz') ? this.options.ready?.() : undefined;
    res.writeHead(failure ? 500 : 200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(failure ? `[-]${failure}\nreadyz check failed\n` : 'ok');
  }

  /** Discovery, OpenAPI and /version; true if the path was one of them. */
  private async nonResource(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    const types = this.registry.types;
    const get = () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(`${req.method} is not supported on ${path}`);
    };
    if (path === '/version') {
      get();
      writeJson(res, 200, versionInfo());
      return true;
    }
    if (path === '/api' || path === '/apis') {
      get();
      const mode = negotiateDiscovery(req.headers.accept);
      if (mode !== 'legacy') {
        const document = aggregatedDiscovery(types, path === '/api' ? 'core' : 'apis', mode);
        // The metrics API comes last, as an aggregated API server's group would.
        if (path === '/apis') document.items.push(metricsGroupDiscovery());
        writeJson(res, 200, document, { 'Content-Type': DISCOVERY_CONTENT_TYPES[mode] });
      } else if (path === '/api') {
        writeJson(res, 200, apiVersions(req.headers.host ?? '127.0.0.1'));
      } else {
        const list = apiGroupList(types);
        list.groups.push(metricsApiGroup());
        writeJson(res, 200, list);
      }
      return true;
    }
    const discovery = /^\/(?:api\/(v[^/]+)|apis\/([^/]+)(?:\/([^/]+))?)$/.exec(path);
    if (discovery) {
      get();
      const [, coreVersion, group, groupVersion] = discovery;
      if (group === METRICS_GROUP) {
        const body = !groupVersion ? { kind: 'APIGroup', apiVersion: 'v1', ...metricsApiGroup() } : groupVersion === 'v1beta1' ? metricsResourceList() : undefined;
        if (!body) throw noRoute();
        writeJson(res, 200, body);
        return true;
      }
      const body = coreVersion ? apiResourceList(types, '', coreVersion) : groupVersion ? apiResourceList(types, group!, groupVersion) : apiGroup(types, group!);
      if (!body) throw noRoute();
      writeJson(res, 200, body);
      return true;
    }
    if (path === '/openapi/v2') {
      get();
      this.serveOpenAPIV2(req, res, types);
      return true;
    }
    if (path === '/openapi/v3') {
      get();
      writeJson(res, 200, openapiV3Index(types));
      return true;
    }
    if (path.startsWith('/openapi/v3/')) {
      get();
      const served = openapiV3Served(types, path.slice('/openapi/v3/'.length));
      if (!served) throw noRoute();
      // A hashed URL never changes: kubectl caches it on disk only with these headers.
      const cache: Record<string, string> =
        query.get('hash') === served.hash
          ? { 'Cache-Control': 'public, immutable', Expires: new Date(this.clock.now() + 365 * 24 * 3600_000).toUTCString(), ETag: `"${served.hash}"` }
          : { 'Cache-Control': 'no-cache, private', ETag: `"${served.hash}"` };
      res.writeHead(200, { 'Content-Type': 'application/json', ...cache, 'Content-Length': Buffer.byteLength(served.body) });
      res.end(served.body);
      return true;
    }
    return false;
  }

  /**
   * `/openapi/v2` as kube-apiserver serves it: JSON or gnostic protobuf by the Accept header (406
   * for anything else), the document's hash as ETag (304 on a matching If-None-Match), gzipped
   * when the client accepts it.
   */
  private serveOpenAPIV2(req: IncomingMessage, res: ServerResponse, types: ResourceTypes): void {
    const choice = negotiateOpenAPIV2(req.headers.accept);
    if (!choice) {
      throw new ApiError({
        code: 406,
        reason: 'NotAcceptable',
        message: `only the following media types are accepted: application/json, ${OPENAPI_V2_PROTOBUF_MEDIA_TYPE}, ${OPENAPI_V2_PROTOBUF_CONTENT_TYPE}`,
      });
    }
    const served = openapiV2Representation(types, choice.format);
    const etag = `"${served.hash}"`;
    const headers: Record<string, string | number> = { Vary: 'Accept, Accept-Encoding', ETag: etag, 'Cache-Control': 'no-cache, private' };
    const match = req.headers['if-none-match'];
    if (match && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*')) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    const body = gzip ? served.gzipped() : served.body;
    res.writeHead(200, { ...headers, 'Content-Type': choice.contentType, ...(gzip ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': body.length });
    res.end(body);
  }

  private async resource(req: IncomingMessage, res: ServerResponse, request: RequestInfo, query: URLSearchParams): Promise<void> {
    if (request.apiPrefix === 'apis' && request.group === METRICS_GROUP) return this.metrics.handle(req, res, request, query);
    const types = this.registry.types;
    const info: ResourceInfo | undefined = types.forResource(request.group, request.version, request.resource);
    if (!info) throw noRoute();
    // A cluster-scoped kind has no route under /namespaces/<ns>/.
    if (!info.namespaced && request.namespace) throw noRoute();
    const ctx: HandlerContext = {
      registry: this.registry,
      req,
      res,
      request,
      info,
      query,
      now: () => this.clock.now(),
      watchTimeoutMs: this.options.watchTimeoutMs ?? 30 * 60_000,
      serverSignal: this.stopping.signal,
    };
    if (info.group === '' && info.kind === 'Binding') {
      if (request.name) throw noRoute();
      return handleBinding(ctx);
    }
    switch (request.subresource) {
      case '':
        break;
      case 'status':
        if (!info.subresources.status) throw noRoute();
        break;
      case 'scale':
        if (!info.subresources.scale) throw noRoute();
        return handleScale(ctx);
      case 'binding':
        if (info.group !== '' || info.kind !== 'Pod') throw noRoute();
        return handleBinding(ctx);
      case 'eviction':
        if (info.group !== '' || info.kind !== 'Pod' || !request.name) throw noRoute();
        return handleEviction(ctx);
      case 'log':
        if (info.group !== '' || info.kind !== 'Pod' || !request.name) throw noRoute();
        return handlePodLog(ctx, this.nodes);
      case 'proxy':
        if (info.group !== '' || info.kind !== 'Node' || !request.name) throw noRoute();
        return handleNodeProxy(ctx, this.nodes);
      case 'finalize':
        if (info.group !== '' || info.kind !== 'Namespace' || request.verb !== 'update') throw noRoute();
        break;
      default:
        throw noRoute();
    }
    const verb = request.verb;
    if ((verb === 'update' || verb === 'patch') && !request.name) {
      // There is no PUT or PATCH on a collection.
      throw methodNotAllowed(`${verb} is not supported on a collection of ${info.plural}`);
    }
    if (!request.subresource && !info.verbs.includes(verb)) {
      throw methodNotAllowed(`${verb} is not supported on ${info.plural}`);
    }
    if (request.subresource && verb !== 'get' && verb !== 'update' && verb !== 'patch') {
      throw methodNotAllowed(`${verb} is not supported on ${info.plural}/${request.subresource}`);
    }
    switch (verb) {
      case 'get':
        return handleGet(ctx);
      case 'list':
        return handleList(ctx);
      case 'watch':
        return handleWatch(ctx);
      case 'create':
        return handleCreate(ctx);
      case 'update':
        return handleUpdate(ctx);
      case 'patch':
        return handlePatch(ctx);
      case 'delete':
        return handleDelete(ctx);
      case 'deletecollection':
        return handleDeleteCollection(ctx);
    }
  }
}
