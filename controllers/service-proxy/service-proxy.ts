/**
 * The service proxy, assembled — keelson's kube-proxy: a {@link Proxier} of the chosen mode fed
 * by the {@link ServiceProxyController}, under a manager of its own (leader election off: every
 * host proxies for itself, whoever leads the control plane).
 *
 * One per process that runs node agents: `keelson up` runs one for all its in-process agents
 * (node ports on each agent's address), each `keelson node` process runs its own (its agent's
 * address). Their sockets share the cluster IPs through SO_REUSEPORT, so several processes on
 * one host never collide.
 *
 * ```ts
 * const proxy = new ServiceProxy({ client, nodeAddresses: ['127.1.0.1'] });
 * await proxy.start();   // every Service's cluster IP answers, forwarded to its ready endpoints
 * proxy.serveServiceOn('default/hello', '127.200.0.10', true);   // hello's ports on a VIP held here, too
 * await proxy.stop();    // stops listening, closes the connections
 * ```
 */
import { createLogger, Manager, Metrics, systemClock, type Client, type Clock, type Logger } from '../../lib/index.js';
import { SERVICE_PROXY_CONTROLLER, ServiceProxyController } from './controller.js';
import { ServiceHealthServer } from './health-check.js';
import { createProxier, ProxyNodeNames, ServiceProxier, type ModeOptions, type Proxier, type ProxyMode } from './proxier.js';
import type { UserspaceProxierOptions } from './userspace-proxier.js';

/** Every setting of a {@link ServiceProxy}, with its default. */
export interface ServiceProxyOptions {
  /** The source Services and Endpoints are watched on. */
  client: Client;
  /** Node addresses node ports are served on (`127.1.0.N`; none: cluster IPs only). */
  nodeAddresses?: readonly string[];
  /**
   * The names of the nodes this proxy serves, whose endpoints are the local ones of `Local`
   * traffic policies (absent: unknown, and every policy acts as `Cluster`).
   */
  nodeNames?: readonly string[];
  /** The proxy mode (default `userspace`). */
  mode?: ProxyMode;
  /** A proxier to feed instead of the mode's (tests, or a mode of your own). */
  proxier?: Proxier;
  /** Settings of the userspace proxier (drain grace period, UDP idle timeout, reusePort, dial timeouts). */
  userspace?: Partial<Omit<UserspaceProxierOptions, 'nodeAddresses' | 'clock' | 'logger' | 'metrics'>>;
  /** Settings of the nftables proxier (its table: one per proxy on a host, see `nftablesTableForNode`). */
  nftables?: ModeOptions['nftables'];
  /** Registry of the proxy's metrics (default: a fresh one). */
  metrics?: Metrics;
  clock?: Clock;
  logger?: Logger;
}

/** A running service proxy (see the file header). */
export class ServiceProxy {
  /** The proxier the controller feeds. */
  readonly proxier: Proxier;
  /** The manager running the controller. */
  readonly manager: Manager;
  private readonly controller: ServiceProxyController;
  /** kube-proxy's health checks of LoadBalancer Services with `externalTrafficPolicy: Local`. */
  private readonly healthChecks: ServiceHealthServer;
  private running: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;

  constructor(options: ServiceProxyOptions) {
    const clock = options.clock ?? systemClock;
    const logger = (options.logger ?? createLogger({ name: 'keelson-proxy' })).child({ component: 'service-proxy' });
    const metrics = options.metrics ?? new Metrics();
    this.proxier =
      options.proxier ??
      createProxier(options.mode ?? 'userspace', {
        nodeAddresses: options.nodeAddresses ?? [],
        clock,
        logger,
        metrics,
        ...(options.userspace ? { userspace: options.userspace } : {}),
        ...(options.nftables ? { nftables: options.nftables } : {}),
      });
    this.manager = new Manager({ client: options.client, name: 'kube-proxy', clock, logger, metrics, leaderElection: false, gracefulShutdownTimeoutMs: 5000 });
    this.manager.container.bind(ServiceProxier).toConstantValue(this.proxier);
    if (options.nodeNames) this.manager.container.bind(ProxyNodeNames).toConstantValue(options.nodeNames);
    this.healthChecks = new ServiceHealthServer(options.nodeAddresses ?? [], clock, logger);
    this.manager.container.bind(ServiceHealthServer).toConstantValue(this.healthChecks);
    this.manager.add(ServiceProxyController);
    this.controller = this.manager.container.get(ServiceProxyController);
  }

  /**
   * Starts watching; resolves once the caches synced and the controller runs (the Services
   * known then are being synced). Rejects if the manager fails to start.
   */
  async start(): Promise<void> {
    if (this.running) throw new Error('a service proxy starts once');
    this.running = this.manager.start();
    await Promise.race([this.controller.started, this.running.then(() => Promise.reject(new Error('the service proxy stopped before it started')))]);
    this.running.catch(() => undefined);
  }

  /**
   * Serves every port of the Service `service` (`namespace/name`) on `address` too — at the
   * Service port, to the same endpoints with the same balancing and affinity as its cluster IP —
   * or, with `serving` false, stops. The node agents call it for the VirtualIPs they hold whose
   * `spec.serviceRef` names the Service. Several addresses per Service may be served; calling
   * again with the same arguments changes nothing. The Service is re-synced through the
   * controller's queue (within milliseconds; before {@link start}, its first sync carries it).
   */
  serveServiceOn(service: string, address: string, serving: boolean): void {
    if (!this.controller.serveOn(service, address, serving)) return;
    const slash = service.indexOf('/');
    const request = { namespace: service.slice(0, slash), name: service.slice(slash + 1) };
    this.manager.runners.find((r) => r.name === SERVICE_PROXY_CONTROLLER)?.enqueue(request);
  }

  /** The addresses besides its cluster IP the Service `service` (`namespace/name`) is served on ({@link serveServiceOn}), sorted. */
  servedOn(service: string): string[] {
    return this.controller.servedOn(service);
  }

  /** Stops watching, then stops the proxier (listeners closed, connections cut). Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      await this.manager.stop();
      await this.running?.catch(() => undefined);
      this.healthChecks.stop();
      await this.proxier.stop();
    })();
    return this.stopPromise;
  }
}
