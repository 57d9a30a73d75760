/**
 * What the TCP and UDP forwarders of the userspace proxy share: one Service port, its listening
 * sockets (the cluster IP and port, plus every node address at the node port), its endpoint
 * choice ({@link RoundRobinBalancer}) and the flows it carries — TCP connections or UDP client
 * sessions — each bound to the endpoint it was given.
 *
 * Draining: when an endpoint leaves the Service (a pod deleted or no longer ready), flows to it
 * are not cut. They carry on until they end by themselves, or until the drain grace period
 * passes, when they are closed; an endpoint that comes back before then keeps its flows. New
 * flows only ever go to current endpoints. Closing the whole port (Service deleted, port removed
 * or moved) stops listening at once and drains the same way.
 */
import type { Clock, Logger, TimerHandle } from '../../lib/index.js';
import { RetryingListener, type OpenSocket } from './listener.js';
import type { NativeRelay } from './native-relay.js';
import { RoundRobinBalancer } from './load-balancer.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { ServicePortState } from './service-ports.js';

/** Settings shared by every forwarder of a proxier. */
export interface ForwarderContext {
  clock: Clock;
  logger: Logger;
  metrics: ProxyMetrics;
  /** How long flows to a removed endpoint may continue, ms. */
  drainGracePeriodMs: number;
  /** Listen with SO_REUSEPORT, so proxies of several processes on one host share the address. */
  reusePort: boolean;
  /** Dial timeouts of the successive attempts to connect a TCP client (their count bounds the attempts). */
  connectTimeoutsMs: readonly number[];
  /** How long a UDP client session lives without traffic, ms. */
  udpIdleTimeoutMs: number;
  /** Where lasting TCP connections are handed over (absent: they are copied in JavaScript to the end). */
  relay?: NativeRelay;
}

/** An address a forwarder listens on. */
export interface ListenAddress {
  host: string;
  port: number;
  /**
   * External traffic (a node port, an external IP, a load-balancer IP, a VIP): it goes to the
   * state's `externalEndpoints` when a traffic policy is `Local`.
   */
  external?: boolean;
}

/** One TCP connection or UDP session, bound to an endpoint. */
export interface Flow {
  /** `ip:port` of its endpoint. */
  readonly endpoint: string;
  /** Closes it now. */
  close(): void;
}

/** Formats `host:port` (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Forwarding for one Service port (see the file header); subclasses bring the protocol. */
export abstract class Forwarder {
  /** Endpoint choice for cluster IP traffic. */
  private readonly balancer: RoundRobinBalancer;
  /** Endpoint choice for external traffic: the same object unless a traffic policy is `Local`. */
  private externalBalancer: RoundRobinBalancer;
  protected readonly logger: Logger;
  private listeners: RetryingListener[];
  private readonly flows = new Map<Flow, TimerHandle | undefined>();
  private closing: 'drain' | 'cut' | undefined;
  private onIdle: (() => void) | undefined;

  constructor(
    /** The state this forwarder serves (its binding never changes; endpoints and affinity do). */
    public state: ServicePortState,
    addresses: readonly ListenAddress[],
    protected readonly context: ForwarderContext,
  ) {
    this.logger = context.logger.child({ servicePort: state.name, protocol: state.protocol });
    this.balancer = new RoundRobinBalancer(context.clock);
    this.externalBalancer = this.balancer;
    this.updateBalancers(state);
    this.listeners = addresses.map(
      (address) => new RetryingListener(formatAddress(address.host, address.port), this.openListener(address), context.clock, this.logger),
    );
  }

  /**
   * Listens on exactly `addresses` from now on: listeners on addresses no longer wanted close
   * (new connections there are refused at once; flows they accepted carry on), new ones start
   * binding, the others are left alone. Resolves once each new listener tried to bind once.
   */
  async listenOn(addresses: readonly ListenAddress[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(addresses.map((a) => [formatAddress(a.host, a.port), a]));
    const kept: RetryingListener[] = [];
    for (const listener of this.listeners) {
      if (wanted.has(listener.address)) {
        kept.push(listener);
        wanted.delete(listener.address);
      } else listener.close();
    }
    const added = [...wanted].map(([key, address]) => new RetryingListener(key, this.openListener(address), this.context.clock, this.logger));
    this.listeners = [...kept, ...added];
    await Promise.all(added.map((l) => l.firstAttempt()));
  }

  /** Binds a listening socket on `address` (see {@link RetryingListener}). */
  protected abstract openListener(address: ListenAddress): OpenSocket;

  /** The addresses it listens on, and whether each is bound. */
  get addresses(): { address: string; bound: boolean }[] {
    return this.listeners.map((l) => ({ address: l.address, bound: l.bound }));
  }

  /** Whether every address is bound. */
  get listening(): boolean {
    return this.listeners.every((l) => l.bound);
  }

  /** Resolves once each listener tried to bind once. */
  async firstBind(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.firstAttempt()));
  }

  /** Open flows by endpoint (`ip:port` → count), draining ones included. */
  flowsByEndpoint(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const flow of this.flows.keys()) counts.set(flow.endpoint, (counts.get(flow.endpoint) ?? 0) + 1);
    return counts;
  }

  /** Takes new endpoints and affinity (same binding); flows to endpoints that left start draining. */
  update(state: ServicePortState): void {
    this.state = state;
    this.updateBalancers(state);
    for (const flow of this.flows.keys()) {
      if (this.serves(flow.endpoint)) this.stopDraining(flow);
      else this.startDraining(flow);
    }
  }

  /**
   * Stops listening. `drain`: open flows continue within the grace period; `cut`: they are
   * closed now (the proxy is stopping).
   */
  close(mode: 'drain' | 'cut'): void {
    if (this.closing === 'cut') return;
    this.closing = mode;
    for (const listener of this.listeners) listener.close();
    for (const flow of [...this.flows.keys()]) {
      if (mode === 'cut') flow.close();
      else this.startDraining(flow);
    }
    this.checkIdle();
  }

  /** Calls `callback` once the forwarder is closed and its last flow ended. */
  whenIdle(callback: () => void): void {
    this.onIdle = callback;
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.closing && this.flows.size === 0 && this.onIdle) {
      const callback = this.onIdle;
      this.onIdle = undefined;
      callback();
    }
  }

  /** Whether the forwarder was closed (new flows are refused). */
  protected get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The endpoint choice for traffic that arrived on an external address, or on the cluster IP. */
  protected balancerFor(external: boolean): RoundRobinBalancer {
    return external ? this.externalBalancer : this.balancer;
  }

  /** Whether `endpoint` (`ip:port`) is one the forwarder sends any traffic to. */
  private serves(endpoint: string): boolean {
    return this.balancer.has(endpoint) || this.externalBalancer.has(endpoint);
  }

  private updateBalancers(state: ServicePortState): void {
    this.balancer.update(state.endpoints, state.affinityTimeoutSeconds);
    if (!state.externalEndpoints) {
      this.externalBalancer = this.balancer;
      return;
    }
    if (this.externalBalancer === this.balancer) this.externalBalancer = new RoundRobinBalancer(this.context.clock);
    this.externalBalancer.update(state.externalEndpoints, state.affinityTimeoutSeconds);
  }

  /** Registers a new flow (draining at once if its endpoint left meanwhile). */
  protected track(flow: Flow): void {
    this.flows.set(flow, undefined);
    this.context.metrics.activeConnections.labels({ protocol: this.state.protocol }).inc();
    if (this.closing === 'cut') flow.close();
    else if (this.closing === 'drain' || !this.serves(flow.endpoint)) this.startDraining(flow);
  }

  /** Forgets a flow that ended. */
  protected untrack(flow: Flow): void {
    if (!this.flows.has(flow)) return;
    this.flows.get(flow)?.cancel();
    this.flows.delete(flow);
    this.context.metrics.activeConnections.labels({ protocol: this.state.protocol }).dec();
    this.checkIdle();
  }

  private startDraining(flow: Flow): void {
    if (!this.flows.has(flow) || this.flows.get(flow)) return;
    this.flows.set(
      flow,
      this.context.clock.setTimeout(() => {
        if (!this.flows.has(flow)) return;
        this.context.metrics.drainExpired.inc();
        this.logger.debug({ endpoint: flow.endpoint }, 'drain grace period over: closing a connection to a removed endpoint');
        flow.close();
        this.untrack(flow);
      }, this.context.drainGracePeriodMs),
    );
  }

  private stopDraining(flow: Flow): void {
    const timer = this.flows.get(flow);
    if (!timer) return;
    timer.cancel();
    this.flows.set(flow, undefined);
  }
}
