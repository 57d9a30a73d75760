/**
 * The resource metrics API, `metrics.k8s.io/v1beta1`, built into the API server — what
 * metrics-server serves through kube-apiserver's aggregation layer, and what `kubectl top node`
 * and `kubectl top pod` read:
 *
 * - discovery: the group in `/apis` (plain and aggregated), `/apis/metrics.k8s.io` and the
 *   resource list of `/apis/metrics.k8s.io/v1beta1` — `nodes` (NodeMetrics, cluster-scoped) and
 *   `pods` (PodMetrics, namespaced), verbs `get` and `list`;
 * - `GET …/nodes[/<name>]`, `GET …/pods`, `GET …/namespaces/<ns>/pods[/<name>]`, with
 *   `labelSelector` (on the Node's or Pod's labels) and `fieldSelector` (`metadata.name`,
 *   `metadata.namespace`; any other field is a 400, as for a kind without field label
 *   conversions), as JSON or, asked for `as=Table`, metrics-server's table;
 * - a watch is a 405 `watch is not supported on resources of kind "nodes.metrics.k8s.io"` and
 *   every write a 405 `the server does not allow this method on the requested resource`, as
 *   metrics-server answers them (no watch; no route for any other method);
 * - only Running pods have metrics, as metrics-server's pod lister holds only those: any other
 *   pod is `pods "<name>" not found`, as a missing one.
 *
 * The figures are read at request time from the kubelet Summary API (`/stats/summary`) of each
 * Ready node concerned, in parallel, each within a timeout; a node that does not answer is left
 * out (and logged), as metrics-server leaves out a node it cannot scrape. Objects are made by
 * metrics-usage.ts. Results are sorted as metrics-server sorts them: nodes by name, pods by
 * namespace then name.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest, isNotFound, notFound } from '../api/errors.js';
import { parseFieldSelector } from '../api/fields.js';
import type { Node, Pod } from '../api/kinds.js';
import { parseLabelSelector } from '../api/labels.js';
import type { KubeObject } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';
import type { Registry } from '../registry/registry.js';
import { EVERYTHING } from '../registry/selection.js';
import type { APIGroup, APIGroupDiscovery, APIResourceList } from './discovery-types.js';
import { negotiate, writeJson } from './http.js';
import type { NodeClient } from './node-client.js';
import type { RequestInfo } from './request-info.js';
import type { Table, TableColumnDefinition } from './table.js';
import {
  METRICS_API_VERSION,
  nodeMetricsOf,
  podMetricsOf,
  sumBytes,
  sumNanoCores,
  type KubeletSummary,
  type MetricsContext,
  type NodeMetrics,
  type PodMetrics,
} from './metrics-usage.js';

/** The API group served. */
export const METRICS_GROUP = 'metrics.k8s.io';
const VERSION = 'v1beta1';

/** Options of a {@link MetricsApi}. */
export interface MetricsApiOptions {
  /** The sampling window the agents use, ms — each object's `window` (default 10 s, the agents' default interval). */
  windowMs?: number;
  /** How long one node's `/stats/summary` may take, ms (default 5 s); a slower node is left out. */
  scrapeTimeoutMs?: number;
}

/** Where scrape failures are reported. */
export interface MetricsApiLogger {
  warn(fields: object, message: string): void;
}

/** What the metrics API needs of the server. */
export interface MetricsApiDeps {
  registry: Registry;
  nodes: NodeClient;
  now: () => number;
  logger: MetricsApiLogger;
}

const GROUP_VERSION = { groupVersion: METRICS_API_VERSION, version: VERSION };

/** The group's entry in `/apis` (and, with kind and apiVersion, `/apis/metrics.k8s.io`). */
export function metricsApiGroup(): APIGroup {
  return { name: METRICS_GROUP, versions: [{ ...GROUP_VERSION }], preferredVersion: { ...GROUP_VERSION } };
}

/** `/apis/metrics.k8s.io/v1beta1`, as metrics-server lists it. */
export function metricsResourceList(): APIResourceList {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: METRICS_API_VERSION,
    resources: [
      { name: 'nodes', singularName: 'node', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  };
}

/** The group in aggregated discovery (`/apis` asked for `apidiscovery.k8s.io/v2`). */
export function metricsGroupDiscovery(): APIGroupDiscovery {
  return {
    metadata: { name: METRICS_GROUP },
    versions: [
      {
        version: VERSION,
        resources: [
          { resource: 'nodes', responseKind: { group: '', version: '', kind: 'NodeMetrics' }, scope: 'Cluster', singularResource: 'node', verbs: ['get', 'list'] },
          { resource: 'pods', responseKind: { group: '', version: '', kind: 'PodMetrics' }, scope: 'Namespaced', singularResource: '', verbs: ['get', 'list'] },
        ],
        freshness: 'Current',
      },
    ],
  };
}

function noRoute(): ApiError {
  return new ApiError({ code: 404, reason: 'NotFound', message: 'the server could not find the requested resource', details: {} });
}

function metricsNotFound(resource: 'nodemetrics' | 'podmetrics', name: string): ApiError {
  return new ApiError({ code: 404, reason: 'NotFound', message: `${resource}.${METRICS_GROUP} "${name}" not found`, details: { name, group: METRICS_GROUP, kind: resource } });
}

/** What the generic API server's list handler answers a watch on a storage that cannot watch. */
function watchNotSupported(resource: string): ApiError {
  return new ApiError({
    code: 405,
    reason: 'MethodNotAllowed',
    message: `watch is not supported on resources of kind "${resource}.${METRICS_GROUP}"`,
    details: { group: METRICS_GROUP, kind: resource },
  });
}

/** What go-restful (through the generic API server's service error handler) answers a method without a route. */
function noSuchMethod(): ApiError {
  return new ApiError({ code: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource', details: {} });
}

/** metrics-server's pod lister (a metadata informer) holds only the pods in phase Running. */
function isRunning(pod: Pod): boolean {
  return pod.status?.phase === 'Running';
}

function isReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A label and field predicate over objects' labels and `metadata.name`/`metadata.namespace` (metrics-server's filters). */
function selection(query: URLSearchParams): (obj: KubeObject) => boolean {
  const labelText = query.get('labelSelector');
  const fieldText = query.get('fieldSelector');
  const labels = labelText ? parseLabelSelector(labelText) : undefined;
  const fields = fieldText ? parseFieldSelector(fieldText) : undefined;
  // The metrics kinds register no field label conversion: runtime.DefaultMetaV1FieldSelectorConversion.
  for (const { field } of fields?.requirements ?? []) {
    if (field !== 'metadata.name' && field !== 'metadata.namespace') throw badRequest(`${JSON.stringify(field)} is not a known field selector: only "metadata.name", "metadata.namespace"`);
  }
  return (obj) =>
    (!labels || labels.matches(obj.metadata?.labels)) &&
    (!fields || fields.matches({ 'metadata.name': obj.metadata?.name ?? '', 'metadata.namespace': obj.metadata?.namespace ?? '' }));
}

const TABLE_COLUMNS: TableColumnDefinition[] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name of the resource', priority: 0 },
  { name: 'cpu', type: 'string', format: 'quantity', description: '', priority: 0 },
  { name: 'memory', type: 'string', format: 'quantity', description: '', priority: 0 },
  { name: 'Window', type: 'string', format: 'duration', description: '', priority: 0 },
];

/** metrics-server's table: Name, the usage per resource (a pod's summed over its containers), Window. */
function metricsTable(items: readonly (NodeMetrics | PodMetrics)[], includeObject: string, kind: 'NodeMetrics' | 'PodMetrics'): Table {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: items.length ? TABLE_COLUMNS.map((c) => ({ ...c })) : [],
    rows: items.map((item) => {
      const usage = 'usage' in item ? item.usage : { cpu: sumNanoCores(item.containers.map((c) => c.usage.cpu)), memory: sumBytes(item.containers.map((c) => c.usage.memory)) };
      const object =
        includeObject === 'None'
          ? undefined
          : includeObject === 'Object'
            ? { kind, apiVersion: METRICS_API_VERSION, ...item }
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata };
      return { cells: [item.metadata.name, usage.cpu, usage.memory, item.window], ...(object ? { object: object as KubeObject } : {}) };
    }),
  };
}

/** `metrics.k8s.io/v1beta1` over the registry and the nodes' agents (see the file header). */
export class MetricsApi {
  private readonly windowMs: number;
  private readonly scrapeTimeoutMs: number;

  constructor(
    private readonly deps: MetricsApiDeps,
    options: MetricsApiOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 10_000;
    this.scrapeTimeoutMs = options.scrapeTimeoutMs ?? 5_000;
  }

  /** Serves one request under `/apis/metrics.k8s.io/…` (its discovery documents are the server's). */
  async handle(req: IncomingMessage, res: ServerResponse, request: RequestInfo, query: URLSearchParams): Promise<void> {
    if (request.version !== VERSION || request.subresource) throw noRoute();
    const resource = request.resource === 'nodes' ? 'nodemetrics' : request.resource === 'pods' ? 'podmetrics' : undefined;
    if (!resource) throw noRoute();
    if (resource === 'nodemetrics' && request.namespace) throw noRoute();
    if (request.verb === 'watch') throw watchNotSupported(request.resource);
    if (request.verb !== 'get' && request.verb !== 'list') throw noSuchMethod();
    const negotiated = negotiate(req.headers.accept, query);
    const context: MetricsContext = { now: this.deps.now(), windowMs: this.windowMs };
    const kind = resource === 'nodemetrics' ? 'NodeMetrics' : 'PodMetrics';
    if (request.verb === 'get') {
      const item = resource === 'nodemetrics' ? await this.nodeMetrics(request.name, context) : await this.podMetrics(request.namespace, request.name, context);
      if (negotiated.table) return writeJson(res, 200, metricsTable([item], negotiated.includeObject, kind));
      return writeJson(res, 200, { kind, apiVersion: METRICS_API_VERSION, ...item });
    }
    const matches = selection(query);
    const items = resource === 'nodemetrics' ? await this.listNodeMetrics(matches, context) : await this.listPodMetrics(request.namespace || undefined, matches, context);
    if (negotiated.table) return writeJson(res, 200, metricsTable(items, negotiated.includeObject, kind));
    writeJson(res, 200, { kind: `${kind}List`, apiVersion: METRICS_API_VERSION, metadata: {}, items });
  }

  private info(plural: 'nodes' | 'pods'): ResourceInfo {
    const info = this.deps.registry.types.forResource('', 'v1', plural);
    if (!info) throw new ApiError({ code: 500, reason: 'InternalError', message: `${plural} are not served` });
    return info;
  }

  private async nodeMetrics(name: string, context: MetricsContext): Promise<NodeMetrics> {
    const node = await this.deps.registry.get<Node>(this.info('nodes'), undefined, name).catch((err: unknown) => {
      // What metrics-server's node lister answers.
      throw isNotFound(err) ? new ApiError({ code: 404, reason: 'NotFound', message: `node "${name}" not found`, details: { name, kind: 'node' } }) : err;
    });
    const [metrics] = await this.metricsOfNodes([node], context);
    if (!metrics) throw metricsNotFound('nodemetrics', name);
    return metrics;
  }

  private async listNodeMetrics(matches: (obj: KubeObject) => boolean, context: MetricsContext): Promise<NodeMetrics[]> {
    const nodes = (await this.deps.registry.list(this.info('nodes'), { predicate: EVERYTHING })).items as Node[];
    return this.metricsOfNodes(nodes.filter(matches), context);
  }

  private async metricsOfNodes(nodes: readonly Node[], context: MetricsContext): Promise<NodeMetrics[]> {
    const summaries = await this.scrape(nodes);
    const items: NodeMetrics[] = [];
    for (const node of nodes) {
      const summary = summaries.get(node.metadata?.name ?? '');
      const metrics = summary && nodeMetricsOf(node, summary, context);
      if (metrics) items.push(metrics);
    }
    return items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }

  private async podMetrics(namespace: string, name: string, context: MetricsContext): Promise<PodMetrics> {
    const pod = await this.deps.registry.get<Pod>(this.info('pods'), namespace, name);
    if (!isRunning(pod)) throw notFound({ group: '', resource: 'pods' }, name);
    const [metrics] = await this.metricsOfPods([pod], context);
    if (!metrics) throw metricsNotFound('podmetrics', `${namespace}/${name}`);
    return metrics;
  }

  private async listPodMetrics(namespace: string | undefined, matches: (obj: KubeObject) => boolean, context: MetricsContext): Promise<PodMetrics[]> {
    const pods = (await this.deps.registry.list(this.info('pods'), { ...(namespace ? { namespace } : {}), predicate: EVERYTHING })).items as Pod[];
    return this.metricsOfPods(pods.filter((pod) => isRunning(pod) && matches(pod)), context);
  }

  /** The metrics of pods, from the summaries of the (Ready) nodes they are bound to. */
  private async metricsOfPods(pods: readonly Pod[], context: MetricsContext): Promise<PodMetrics[]> {
    const nodeNames = new Set(pods.map((p) => p.spec?.nodeName).filter((n): n is string => !!n));
    if (nodeNames.size === 0) return [];
    const nodeInfo = this.info('nodes');
    const nodes = (await Promise.all([...nodeNames].map((n) => this.deps.registry.get<Node>(nodeInfo, undefined, n).catch(() => undefined)))).filter((n): n is Node => !!n);
    const summaries = await this.scrape(nodes);
    const items: PodMetrics[] = [];
    for (const pod of pods) {
      const summary = summaries.get(pod.spec?.nodeName ?? '');
      const stats = summary?.pods?.find((s) => s.podRef.name === pod.metadata?.name && s.podRef.namespace === pod.metadata?.namespace);
      const metrics = stats && podMetricsOf(pod, stats, context);
      if (metrics) items.push(metrics);
    }
    const key = (m: PodMetrics) => `${m.metadata.namespace}\u0000${m.metadata.name}`;
    return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  /** The summaries of the Ready ones of `nodes`, read in parallel; a node that fails is logged and left out. */
  private async scrape(nodes: readonly Node[]): Promise<Map<string, KubeletSummary>> {
    const summaries = new Map<string, KubeletSummary>();
    await Promise.all(
      nodes.filter(isReady).map(async (node) => {
        const name = node.metadata?.name ?? '';
        try {
          const info = this.deps.nodes.connectionInfo(node);
          summaries.set(name, await this.deps.nodes.getJson<KubeletSummary>(info, '/stats/summary', { timeoutMs: this.scrapeTimeoutMs }));
        } catch (err) {
          this.deps.logger.warn({ node: name, err: err instanceof Error ? err.message : String(err) }, 'failed to scrape node');
        }
      }),
    );
    return summaries;
  }
}
