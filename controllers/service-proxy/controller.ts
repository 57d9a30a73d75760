/**
 * The service proxy's controller — kube-proxy's config loop as a keelson controller. It is
 * reconciled per Service, and an Endpoints change maps to the Service of the same name, so an
 * informer event reaches the proxier within milliseconds (no polling, no periodic resync). A
 * reconcile reads the Service and its Endpoints from the informer cache, computes the desired
 * state of each port (`service-ports.ts`) and hands it to the {@link Proxier} bound under
 * {@link ServiceProxier} — whatever its mode. Level-triggered: each sync carries the whole state
 * of one Service, so a missed or repeated event changes nothing. A Service without an Endpoints
 * object is served from the EndpointSlices labelled with its name (a selector-less Service whose
 * endpoints were published as slices only, which kube-proxy serves too).
 *
 * Besides the objects, a Service's desired state carries the addresses it is also served on
 * here — the VIPs this host holds for it ({@link ServiceProxyController.serveOn}, fed by the
 * node agents' VIP failover): each change of them re-syncs the Service through the same queue.
 */
import { inject, optional } from 'inversify';
import {
  Client,
  Clock,
  Controller,
  EndpointSlice,
  Endpoints,
  ignoreNotFound,
  Logger,
  Metrics,
  MetricsToken,
  Service,
  Watches,
  type ReconcileRequest,
  type Reconciler,
  type Runnable,
} from '../../lib/index.js';
import { LAST_CHANGE_TRIGGER_TIME_ANNOTATION } from '../endpoints/index.js';
import { SERVICE_NAME_LABEL } from '../endpointslice/index.js';
import { ServiceHealthServer } from './health-check.js';
import { ProxyNodeNames, ServiceProxier, type Proxier } from './proxier.js';
import { proxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { endpointsFromSlices, servicePortsOf, serviceKey, type ServicePortState } from './service-ports.js';

/**
 * The health check a Service needs (kube-proxy's): its `healthCheckNodePort` and the number of
 * its endpoints on this proxy's nodes, for `type: LoadBalancer` with `externalTrafficPolicy:
 * Local` when the proxy knows its nodes; `[undefined, 0]` otherwise.
 */
function healthCheckOf(service: Service | undefined, ports: readonly ServicePortState[]): [number | undefined, number] {
  const port = service?.spec?.healthCheckNodePort;
  if (!port || service.spec?.type !== 'LoadBalancer' || !ports.some((p) => p.local?.external)) return [undefined, 0];
  return [port, new Set(ports.flatMap((p) => (p.externalEndpoints ?? p.endpoints).map((e) => e.ip))).size];
}

/** The controller's name in logs and metrics. */
export const SERVICE_PROXY_CONTROLLER = 'service-proxy';

/** Feeds the proxier with each Service's desired state (see the file header). */
@Controller({ for: Service, name: SERVICE_PROXY_CONTROLLER, concurrency: 4 })
export class ServiceProxyController implements Reconciler<Service>, Runnable {
  private readonly metrics: ProxyMetrics;
  /** The last Endpoints trigger time observed per Service (each is measured once). */
  private readonly triggerTimes = new Map<string, string>();
  /** Resolves once the caches synced and the controller runs (every Service is then queued). */
  readonly started: Promise<void>;
  private markStarted!: () => void;
  /** The extra addresses each Service (`namespace/name`) is served on here (held VIPs). */
  private readonly extraAddresses = new Map<string, Set<string>>();
  /** The nodes this proxy serves (their endpoints are local to it); undefined: unknown. */
  private readonly localNodes: ReadonlySet<string> | undefined;

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ServiceProxier) private readonly proxier: Proxier,
    @inject(Logger) private readonly logger: Logger,
    @inject(Clock) private readonly clock: Clock,
    @inject(MetricsToken) metrics: Metrics,
    @inject(ProxyNodeNames) @optional() nodeNames?: readonly string[],
    @inject(ServiceHealthServer) @optional() private readonly healthChecks?: ServiceHealthServer,
  ) {
    this.metrics = proxyMetrics(metrics);
    this.localNodes = nodeNames ? new Set(nodeNames) : undefined;
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** The manager calls this once the informers synced and the workers run. */
  start(): void {
    this.markStarted();
  }

  /**
   * Serves (or stops serving) the Service `service` (`namespace/name`) on `address` too, at each
   * of its ports. Returns whether that changed anything: the caller then re-syncs the Service
   * (the {@link ServiceProxy} enqueues it).
   */
  serveOn(service: string, address: string, serving: boolean): boolean {
    const addresses = this.extraAddresses.get(service) ?? new Set<string>();
    if (addresses.has(address) === serving) return false;
    if (serving) addresses.add(address);
    else addresses.delete(address);
    if (addresses.size) this.extraAddresses.set(service, addresses);
    else this.extraAddresses.delete(service);
    return true;
  }

  /** The extra addresses the Service `service` (`namespace/name`) is served on here, sorted. */
  servedOn(service: string): string[] {
    return [...(this.extraAddresses.get(service) ?? [])].sort();
  }

  /** An Endpoints object belongs to the Service of its name. */
  @Watches(Endpoints)
  endpointsToService(endpoints: Endpoints): ReconcileRequest[] {
    return [{ namespace: endpoints.metadata?.namespace ?? '', name: endpoints.metadata?.name ?? '' }];
  }

  /** An EndpointSlice belongs to the Service its `kubernetes.io/service-name` label names. */
  @Watches(EndpointSlice)
  sliceToService(slice: EndpointSlice): ReconcileRequest[] {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    return service ? [{ namespace: slice.metadata?.namespace ?? '', name: service }] : [];
  }

  /** Hands the proxier the Service's ports with their ready endpoints (none when it is gone). */
  async reconcile({ namespace, name }: ReconcileRequest): Promise<void> {
    const key = serviceKey(namespace, name);
    const service = await this.client.get(Service, name, { namespace }).catch(ignoreNotFound);
    let endpoints = service ? await this.client.get(Endpoints, name, { namespace }).catch(ignoreNotFound) : undefined;
    if (service && !endpoints) {
      // Slices only: a selector-less Service whose endpoints were published as EndpointSlices.
      const slices = await this.client.list(EndpointSlice, { namespace, labelSelector: { matchLabels: { [SERVICE_NAME_LABEL]: name } } });
      endpoints = endpointsFromSlices(slices.items);
    }
    // Read last, right before the sync: a change meanwhile is in this sync or queued another.
    const ports = service ? servicePortsOf(service, endpoints, this.servedOn(key), this.localNodes) : [];
    const started = performance.now();
    await this.proxier.syncService(key, ports);
    this.healthChecks?.sync(key, ...healthCheckOf(service, ports));
    this.metrics.syncDuration.observe((performance.now() - started) / 1000);
    this.observeProgramming(key, endpoints);
    if (!service) this.triggerTimes.delete(key);
    this.logger.debug({ service: key, ports: ports.map((p) => `${p.name}→${p.endpoints.length}`) }, 'service synced');
  }

  /** kube-proxy's network programming latency: from the Endpoints' trigger time to now, once per trigger. */
  private observeProgramming(key: string, endpoints: Endpoints | undefined): void {
    const trigger = endpoints?.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME_ANNOTATION];
    if (!trigger || this.triggerTimes.get(key) === trigger) return;
    this.triggerTimes.set(key, trigger);
    const at = Date.parse(trigger);
    if (Number.isFinite(at)) this.metrics.programmingDuration.observe(Math.max(0, this.clock.now() - at) / 1000);
  }
}
