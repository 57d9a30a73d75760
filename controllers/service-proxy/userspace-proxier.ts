/**
 * The userspace proxier: Service ports served by Node.js sockets on this host (see
 * `tcp-forwarder.ts` and `udp-forwarder.ts`). It keeps one forwarder per Service port and, on
 * each sync of a Service, compares the desired ports with the forwarders it has:
 *
 * - a new port gets a forwarder, listening on `clusterIP:port` and, with a node port, on every
 *   node address of this proxy at `nodePort`;
 * - a port whose endpoints or affinity changed is updated in place (no socket is touched; flows
 *   to endpoints that left drain);
 * - a port whose extra addresses changed (a VIP this host took or gave up, `extraAddresses`)
 *   is updated in place too: listeners on the addresses that left close at once, new ones bind
 *   at the Service port (retried like the others: an `arp` VIP can only be bound where it is
 *   configured), the cluster IP and node port sockets are not touched;
 * - a port that moved (cluster IP, port, node port or protocol changed) is re-bound: the old
 *   forwarder stops listening and drains, a new one listens;
 * - a port no longer desired (or the whole Service gone) stops listening and drains.
 *
 * Listening sockets use SO_REUSEPORT (on by default): proxies in several processes of one host
 * — `keelson up` and `keelson node` agents — all listen on the same cluster IPs, and the kernel
 * spreads new connections (UDP: client flows) between them. Each proxy serves every Service, so
 * any of them will do; when one process ends, the others carry on.
 *
 * Lasting TCP connections are handed to the native relay when it was built (`relay: 'auto'`,
 * the default; see native-relay.ts): one relay process per proxier, started at the first one.
 */
import type { Clock, Logger, Metrics } from '../../lib/index.js';
import type { Forwarder, ForwarderContext, ListenAddress } from './forwarder.js';
import { NativeRelay, nativeRelayFor, type RelayMode } from './native-relay.js';
import type { Proxier } from './proxier.js';
import { proxyMetrics } from './proxy-metrics.js';
import { sameClusterBinding, type ServicePortState } from './service-ports.js';
import { TcpForwarder } from './tcp-forwarder.js';
import { UdpForwarder } from './udp-forwarder.js';

/** Every setting of a {@link UserspaceProxier}, with its default. */
export interface UserspaceProxierOptions {
  /** Node addresses node ports are served on (`127.1.0.N`). */
  nodeAddresses: readonly string[];
  clock: Clock;
  logger: Logger;
  /** Registry of the proxy's metrics (absent: none). */
  metrics?: Metrics;
  /** How long connections to a removed endpoint (or a removed Service port) may continue (default 30 s). */
  drainGracePeriodMs?: number;
  /** Listen with SO_REUSEPORT so proxies of several processes on one host coexist (default true). */
  reusePort?: boolean;
  /** Dial timeouts of the successive connection attempts, ms (default kube's 250, 500, 1000, 2000: four attempts). */
  connectTimeoutsMs?: readonly number[];
  /** How long a UDP client session lives without traffic (default 30 s). */
  udpIdleTimeoutMs?: number;
  /**
   * How TCP connections' bytes are copied (default `auto`: lasting ones by the native relay
   * when it was built, forwarded by the kernel where the relay may load BPF programs; see
   * {@link RelayMode} and native-relay.ts).
   */
  relay?: RelayMode;
  /** The native relay program (default: the one the build makes, `dist/native/keelson-relay`). */
  relayPath?: string;
}

/** Defaults of {@link UserspaceProxierOptions}. */
export const USERSPACE_DEFAULTS = {
  drainGracePeriodMs: 30_000,
  connectTimeoutsMs: [250, 500, 1000, 2000],
  udpIdleTimeoutMs: 30_000,
} as const;

/** Serves Service ports with Node.js sockets (see the file header). */
export class UserspaceProxier implements Proxier {
  private readonly context: ForwarderContext;
  private readonly nodeAddresses: readonly string[];
  /** Forwarders by Service (`namespace/name`), then by port name. */
  private readonly services = new Map<string, Map<string, Forwarder>>();
  /** Forwarders that stopped listening but still drain connections (closed with the proxier). */
  private readonly retired = new Set<Forwarder>();
  private stopped = false;

  constructor(options: UserspaceProxierOptions) {
    this.nodeAddresses = [...new Set(options.nodeAddresses)];
    const relay = nativeRelayFor(options.relay ?? 'auto', options.relayPath);
    if (!relay && (options.relay ?? 'auto') === 'auto') {
      options.logger.info('native relay not built or not runnable here (it needs a C compiler at build time): every TCP connection is copied in JavaScript');
    }
    this.context = {
      ...(relay ? { relay: new NativeRelay(relay.path, options.logger.child({ component: 'native-relay' }), relay.sockmap) } : {}),
      clock: options.clock,
      logger: options.logger,
      metrics: proxyMetrics(options.metrics),
      drainGracePeriodMs: options.drainGracePeriodMs ?? USERSPACE_DEFAULTS.drainGracePeriodMs,
      reusePort: options.reusePort ?? true,
      connectTimeoutsMs: options.connectTimeoutsMs?.length ? options.connectTimeoutsMs : USERSPACE_DEFAULTS.connectTimeoutsMs,
      udpIdleTimeoutMs: options.udpIdleTimeoutMs ?? USERSPACE_DEFAULTS.udpIdleTimeoutMs,
    };
  }

  /** Applies the desired ports of one Service; resolves once new sockets tried to bind once. */
  async syncService(service: string, ports: readonly ServicePortState[]): Promise<void> {
    if (this.stopped) return;
    const current = this.services.get(service) ?? new Map<string, Forwarder>();
    const desired = new Map(ports.map((p) => [p.name, p]));
    const binding: Promise<void>[] = [];
    for (const [name, forwarder] of current) {
      const wanted = desired.get(name);
      if (wanted && sameClusterBinding(forwarder.state, wanted)) continue;
      current.delete(name);
      this.retire(forwarder);
      this.context.logger.info({ servicePort: name, ...(wanted ? { rebind: true } : {}) }, 'service port no longer served here: stopped listening, draining');
    }
    for (const state of desired.values()) {
      const existing = current.get(state.name);
      if (existing) {
        const before = existing.addresses.map((a) => a.address).join(',');
        existing.update(state);
        binding.push(existing.listenOn(this.listenAddresses(state)));
        const after = existing.addresses.map((a) => a.address).join(',');
        if (after !== before) this.context.logger.info({ servicePort: state.name, addresses: existing.addresses.map((a) => a.address) }, 'service port addresses changed');
        continue;
      }
      const forwarder = this.createForwarder(state);
      current.set(state.name, forwarder);
      binding.push(forwarder.firstBind());
      this.context.logger.info(
        { servicePort: state.name, protocol: state.protocol, addresses: forwarder.addresses.map((a) => a.address), endpoints: state.endpoints.length },
        'serving service port',
      );
    }
    if (current.size) this.services.set(service, current);
    else this.services.delete(service);
    await Promise.all(binding);
  }

  /** The forwarder of a Service port (by its ServicePortName), for tests and introspection. */
  forwarder(servicePortName: string): Forwarder | undefined {
    for (const ports of this.services.values()) {
      const found = ports.get(servicePortName);
      if (found) return found;
    }
    return undefined;
  }

  /** Every Service port served now, by name. */
  servicePorts(): string[] {
    return [...this.services.values()].flatMap((ports) => [...ports.keys()]).sort();
  }

  /** Stops listening everywhere and closes every connection. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const ports of this.services.values()) for (const forwarder of ports.values()) forwarder.close('cut');
    for (const forwarder of this.retired) forwarder.close('cut');
    this.services.clear();
    this.retired.clear();
    await this.context.relay?.stop();
  }

  /** The native relay's process id while it runs (connections were handed to it), for tests and introspection. */
  get relayPid(): number | undefined {
    return this.context.relay?.pid;
  }

  /**
   * Where a Service port listens: its cluster IP, its extra addresses (VIPs) and, with a node
   * port, the node addresses — nowhere while the Service has no ready endpoint, so that a client
   * is refused (ECONNREFUSED, or ICMP port unreachable for UDP) as kube-proxy's reject rule
   * refuses it. (With a `Local` policy and ready endpoints on other nodes only, kube-proxy drops
   * instead: it listens, and resets what it cannot send anywhere.)
   */
  private listenAddresses(state: ServicePortState): ListenAddress[] {
    if (state.endpoints.length === 0 && !state.externalEndpoints?.length && !state.local?.anyReady) return [];
    const addresses: ListenAddress[] = [{ host: state.clusterIP, port: state.port }];
    for (const host of state.extraAddresses ?? []) addresses.push({ host, port: state.port, external: true });
    if (state.nodePort) for (const host of this.nodeAddresses) addresses.push({ host, port: state.nodePort, external: true });
    return addresses;
  }

  private createForwarder(state: ServicePortState): Forwarder {
    const addresses = this.listenAddresses(state);
    return state.protocol === 'UDP' ? new UdpForwarder(state, addresses, this.context) : new TcpForwarder(state, addresses, this.context);
  }

  private retire(forwarder: Forwarder): void {
    forwarder.close('drain');
    this.retired.add(forwarder);
    forwarder.whenIdle(() => this.retired.delete(forwarder));
  }
}
