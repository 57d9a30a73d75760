/**
 * KubeClient: the {@link Client} over any Kubernetes API server (a real cluster, or keelson's own
 * API server), configured by a kubeconfig through @kubernetes/client-node's `KubeConfig`. Requests
 * go out with undici's fetch and objects stay plain JSON, exactly as the server sent them (no
 * generated model classes, no Date conversion). Kinds are mapped to URLs through discovery
 * (`kube-discovery.ts`); the watch survives network errors, server timeouts, 5xx and silent
 * streams (`kube-watch.ts`); every failure is an ApiError carrying the server's Status.
 *
 * Warnings (`Warning` response headers) go to `options.onWarning`, or by default to
 * `process.emitWarning` once per distinct text.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { badRequest, notFound, type ApiError, type Status } from '../api/errors.js';
import { selectorFromObject } from '../api/labels.js';
import type { KubeList, KubeObject, WatchEvent } from '../api/meta.js';
import { apiVersionOf, gvkOf, type KindRef, type ResourceInfo } from '../api/resources.js';
import { systemClock, type Clock } from '../util/clock.js';
import type {
  Client,
  CreateOptions,
  DeleteOptions,
  GetOptions,
  LabelSelectorInput,
  ListOptions,
  PatchOptions,
  PatchType,
  WatchOptions,
  WriteOptions,
} from './client.js';
import type { BackoffOptions } from '../util/backoff.js';
import { KubeDiscovery, type APIResourceList } from './kube-discovery.js';
import { closedError, KubeTransport, loadKubeConfig, type KubeRequest, type WarningHandler } from './kube-transport.js';
import { startKubeWatch } from './kube-watch.js';

/** Options of {@link KubeClient}. */
export interface KubeClientOptions {
  /** Time source of timeouts and backoff (default: the system clock). */
  clock?: Clock;
  /** Timeout of each request that is not a watch, in ms (default 60 s; 0: none). */
  requestTimeoutMs?: number;
  /** A watch stream with no event and no bookmark for this long is re-established (default 5 min 30 s). */
  watchSilenceTimeoutMs?: number;
  /** Delays between a watch's failed attempts (default 800 ms doubling to 30 s, jittered). */
  watchBackoff?: BackoffOptions;
  /** Told of each transparent watch retry (error, delay in ms), e.g. to log it. */
  onWatchRetry?: (error: ApiError, delayMs: number) => void;
  /** Receives the server's warnings; default: `process.emitWarning` once per distinct text. */
  onWarning?: WarningHandler;
  /** The User-Agent header (default `keelson`). */
  userAgent?: string;
}

/** Where {@link KubeClient.fromKubeconfig} reads its configuration. */
export interface KubeconfigSource {
  /** A kubeconfig file (`~` expanded); default `$KUBECONFIG`, then `~/.kube/config`, then in-cluster. */
  kubeconfig?: string;
  /** The context to use (default: the file's current-context). */
  context?: string;
}

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** The default silence limit: past kube's 1-minute bookmarks and 5-minute idle windows, with margin. */
const DEFAULT_SILENCE_MS = 330_000;

/** A Client over a Kubernetes API server. */
export class KubeClient implements Client {
  private readonly transport: KubeTransport;
  private readonly discovery: KubeDiscovery;
  private readonly clock: Clock;
  private readonly watches = new Map<AbortController, Promise<void>>();
  private closed = false;

  /** A client for a kubeconfig file and context (see {@link loadKubeConfig}). */
  static fromKubeconfig(source: KubeconfigSource = {}, options: KubeClientOptions = {}): KubeClient {
    return new KubeClient(loadKubeConfig(source.kubeconfig, source.context), options);
  }

  /** @param kubeConfig a loaded KubeConfig whose current context names the server and user. */
  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly options: KubeClientOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.transport = new KubeTransport(kubeConfig, {
      clock: this.clock,
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    });
    this.discovery = new KubeDiscovery((path) => this.transport.json<APIResourceList>({ method: 'GET', path }));
  }

  /** The server URL of the current context. */
  get server(): string {
    return this.transport.server;
  }

  /** The current context's default namespace, if it names one (never applied implicitly). */
  get contextNamespace(): string | undefined {
    return this.kubeConfig.getContextObject(this.kubeConfig.getCurrentContext())?.namespace;
  }

  /** What the server serves for a kind (plural, scope, verbs, …), through discovery; 404 if nothing. */
  async resourceInfo(kind: KindRef): Promise<ResourceInfo> {
    this.checkOpen();
    return this.discovery.resolve(gvkOf(kind));
  }

  /** What discovery already knows of a kind, without a request (undefined if not looked up yet). */
  cachedResourceInfo(gvk: { apiVersion: string; kind: string }): ResourceInfo | undefined {
    return this.discovery.cached(gvk);
  }

  async get<T extends KubeObject>(kind: KindRef<T>, name: string, options: GetOptions = {}): Promise<T> {
    return this.call(gvkOf(kind), (info) => this.transport.json<T>({ method: 'GET', path: objectPath(info, options.namespace, name) }));
  }

  async list<T extends KubeObject>(kind: KindRef<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    return this.call(gvkOf(kind), async (info) => {
      const list = await this.transport.json<KubeList<T>>({
        method: 'GET',
        path: collectionPath(info, options.namespace),
        query: {
          ...selection(options),
          limit: options.limit,
          continue: options.continue || undefined,
          resourceVersion: options.resourceVersion,
          resourceVersionMatch: options.resourceVersionMatch,
        },
      });
      // Typed kinds' list items come without apiVersion/kind over the wire; StoreClient's carry them.
      for (const item of list.items ?? []) {
        item.apiVersion ??= apiVersionOf(info);
        item.kind ??= info.kind;
      }
      list.items ??= [];
      return list;
    });
  }

  watch<T extends KubeObject>(kind: KindRef<T>, options: WatchOptions = {}): AsyncIterableIterator<WatchEvent<T>> {
    this.checkOpen();
    const gvk = gvkOf(kind);
    const selected = selection(options);
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const { events, done } = startKubeWatch(
      {
        path: async () => collectionPath(await this.discovery.resolve(gvk), options.namespace),
        open: (path, query, attemptSignal) => this.transport.send({ method: 'GET', path, query, signal: attemptSignal }),
        pathNotFound: () => this.discovery.invalidate(gvk.apiVersion),
        selection: {
          ...(selected.labelSelector !== undefined ? { labelSelector: selected.labelSelector } : {}),
          ...(selected.fieldSelector !== undefined ? { fieldSelector: selected.fieldSelector } : {}),
        },
      },
      { ...options, signal },
      {
        clock: this.clock,
        silenceTimeoutMs: this.options.watchSilenceTimeoutMs ?? DEFAULT_SILENCE_MS,
        ...(this.options.watchBackoff ? { backoff: this.options.watchBackoff } : {}),
        ...(this.options.onWatchRetry ? { onRetry: this.options.onWatchRetry } : {}),
      },
    );
    const settled = done.finally(() => this.watches.delete(stop));
    this.watches.set(stop, settled);
    return events as unknown as AsyncIterableIterator<WatchEvent<T>>;
  }

  async create<T extends KubeObject>(obj: T, options: CreateOptions = {}): Promise<T> {
    const gvk = kindOf(obj);
    return this.call(gvk, (info) =>
      this.transport.json<T>({
        method: 'POST',
        path: collectionPath(info, namespaceFor(info, options.namespace ?? obj.metadata?.namespace)),
        query: writeQuery(options),
        body: JSON.stringify(obj),
      }),
    );
  }

  async update<T extends KubeObject>(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.put(obj, options, undefined);
  }

  async updateStatus<T extends KubeObject>(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.put(obj, options, 'status');
  }

  async patch<T extends KubeObject>(kind: KindRef<T>, name: string, patch: unknown, options: PatchOptions = {}): Promise<T> {
    const type = options.type ?? 'merge';
    const contentType = CONTENT_TYPES[type];
    if (!contentType) throw badRequest(`unknown patch type "${String(type)}": use merge, json, strategic or apply`);
    return this.call(gvkOf(kind), (info) =>
      this.transport.json<T>({
        method: 'PATCH',
        path: objectPath(info, options.namespace, name, options.subresource),
        query: { ...writeQuery(options), force: type === 'apply' && options.force !== undefined ? options.force : undefined },
        // A string is taken as an already-encoded document (e.g. YAML for apply).
        body: typeof patch === 'string' ? patch : JSON.stringify(patch),
        contentType,
      }),
    );
  }

  async delete<T extends KubeObject>(kind: KindRef<T>, name: string, options: DeleteOptions = {}): Promise<T | Status> {
    const body = {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      ...(options.preconditions ? { preconditions: options.preconditions } : {}),
      ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
      ...(options.dryRun ? { dryRun: ['All'] } : {}),
    };
    return this.call(gvkOf(kind), (info) =>
      this.transport.json<T | Status>({ method: 'DELETE', path: objectPath(info, options.namespace, name), body: JSON.stringify(body) }),
    );
  }

  /** Stops every watch (waiting for their streams to be released), aborts requests in flight, closes connections. */
  async serverResources(): Promise<ResourceInfo[]> {
    this.checkOpen();
    const core = await this.transport.json<{ versions?: string[] }>({ method: 'GET', path: '/api' });
    const groups = await this.transport.json<{ groups?: { preferredVersion?: { groupVersion: string }; versions?: { groupVersion: string }[] }[] }>({
      method: 'GET',
      path: '/apis',
    });
    const groupVersions = [
      ...(core.versions ?? ['v1']),
      ...(groups.groups ?? []).map((g) => g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion).filter((v): v is string => !!v),
    ];
    return this.discovery.all(groupVersions);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.watches.keys()) stop.abort();
    await Promise.allSettled([...this.watches.values()]);
    await this.transport.close();
  }

  private async put<T extends KubeObject>(obj: T, options: WriteOptions, subresource: 'status' | undefined): Promise<T> {
    const gvk = kindOf(obj);
    return this.call(gvk, (info) =>
      this.transport.json<T>({
        method: 'PUT',
        path: objectPath(info, obj.metadata?.namespace, obj.metadata?.name ?? '', subresource),
        query: writeQuery(options),
        body: JSON.stringify(obj),
      }),
    );
  }

  /**
   * Resolves a kind and runs a request; when the path answers a bare 404 (not an object's), the
   * kind's discovery is refreshed and, if it maps elsewhere now, the request is sent once more.
   */
  private async call<R>(gvk: { apiVersion: string; kind: string }, request: (info: ResourceInfo) => Promise<R>): Promise<R> {
    this.checkOpen();
    const info = await this.discovery.resolve(gvk);
    try {
      return await request(info);
    } catch (err) {
      const e = err as { code?: number; details?: { name?: string } };
      if (e.code !== 404 || e.details?.name) throw err;
      this.discovery.invalidate(gvk.apiVersion);
      const fresh = await this.discovery.resolve(gvk);
      if (fresh.plural === info.plural && fresh.namespaced === info.namespaced) throw err;
      return request(fresh);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }
}

/** `/api/v1` or `/apis/<group>/<version>`. */
function groupPrefix(info: ResourceInfo): string {
  return info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
}

/** The collection URL of a kind: in one namespace, or across all (and for cluster-scoped kinds). */
function collectionPath(info: ResourceInfo, namespace: string | undefined): string {
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupPrefix(info)}${ns}/${info.plural}`;
}

/** The URL of one object (or its subresource); checks the name and namespace as StoreClient does. */
function objectPath(info: ResourceInfo, namespace: string | undefined, name: string, subresource?: string): string {
  if (!name) throw badRequest('resource name may not be empty');
  if (name === '.' || name === '..' || name.includes('/') || name.includes('%')) throw notFound({ group: info.group, resource: info.plural }, name);
  const path = `${collectionPath(info, namespaceFor(info, namespace))}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** The namespace of a request for one object: required for namespaced kinds, ignored otherwise. */
function namespaceFor(info: ResourceInfo, namespace: string | undefined): string | undefined {
  if (!info.namespaced) return undefined;
  if (!namespace) throw badRequest(`a namespace is required to address ${info.plural}`);
  return namespace;
}

/** The `{ apiVersion, kind }` an object names (400 if it names none, as StoreClient). */
function kindOf(obj: KubeObject): { apiVersion: string; kind: string } {
  if (typeof obj !== 'object' || obj === null) throw badRequest('the object to write must be a JSON object');
  if (!obj.kind) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
  if (!obj.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
  return { apiVersion: obj.apiVersion, kind: obj.kind };
}

/** labelSelector (either form, as text) and fieldSelector query values. */
function selection(options: { labelSelector?: LabelSelectorInput; fieldSelector?: string }): { labelSelector?: string; fieldSelector?: string } {
  const label = options.labelSelector;
  const labelSelector = label === undefined ? undefined : typeof label === 'string' ? label : selectorFromObject(label).toString();
  return {
    ...(labelSelector ? { labelSelector } : {}),
    ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
  };
}

function writeQuery(options: WriteOptions): KubeRequest['query'] {
  return {
    dryRun: options.dryRun ? 'All' : undefined,
    fieldValidation: options.fieldValidation,
    fieldManager: options.fieldManager,
  };
}
