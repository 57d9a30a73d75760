/**
 * The proxier: what turns the desired state of Service ports into forwarding on this host. The
 * service proxy's controller computes that state from Services and Endpoints and hands it over
 * one Service at a time; a proxier mode decides how traffic flows:
 *
 * - `userspace` ({@link UserspaceProxier}): Node.js listens on each cluster IP (and node port)
 *   and copies bytes to an endpoint — no privileges needed, works on loopback;
 * - `nftables` (Linux, root): DNAT rules, so packets never pass through Node.js — a proxier of
 *   its own that implements the same interface (one verdict map per Service, updated in place).
 *
 * A new mode implements {@link Proxier} and is added to {@link createProxier}.
 */
import type { Clock, Logger, Metrics } from '../../lib/index.js';
import type { ServicePortState } from './service-ports.js';
import { UserspaceProxier, type UserspaceProxierOptions } from './userspace-proxier.js';

/** The proxy modes, as `--proxy-mode` names them. */
export type ProxyMode = 'userspace' | 'nftables';

/** The proxy modes `keelson up` and `keelson node` accept. */
export const PROXY_MODES: readonly ProxyMode[] = ['userspace', 'nftables'];

/** The injection token of the {@link Proxier} the service proxy controller feeds. */
export const ServiceProxier: unique symbol = Symbol.for('keelson.ServiceProxier') as never;

/**
 * Forwarding for Service ports, fed with the desired state (level-triggered: each call carries
 * everything about one Service, never a delta).
 */
export interface Proxier {
  /**
   * Makes the proxier serve exactly `ports` for the Service `service` (`namespace/name`),
   * replacing whatever it served for it before; an empty list stops serving the Service.
   * Resolves once the new state is in effect for new connections (sockets that cannot be
   * bound yet are retried in the background, never an error).
   */
  syncService(service: string, ports: readonly ServicePortState[]): void | Promise<void>;
  /** Stops serving everything and releases what the proxier holds. Idempotent. */
  stop(): Promise<void>;
}

/** What every proxier mode is built with. */
export interface ProxierOptions {
  /**
   * The node addresses this proxy serves node ports on (`127.1.0.N`): one for a `keelson node`
   * agent, all of its in-process agents' for `keelson up`.
   */
  nodeAddresses: readonly string[];
  clock: Clock;
  logger: Logger;
  /** The registry the proxier's metrics go on (absent: none). */
  metrics?: Metrics;
}

/** Builds the proxier of `mode`. An unavailable mode is an error naming it. */
export function createProxier(mode: ProxyMode, options: ProxierOptions & { userspace?: Partial<UserspaceProxierOptions> }): Proxier {
  switch (mode) {
    case 'userspace': {
      const { userspace, ...common } = options;
      return new UserspaceProxier({ ...userspace, ...common });
    }
    case 'nftables':
      throw new Error('proxy mode "nftables" is not available yet: use --proxy-mode userspace');
    default:
      throw new Error(`unknown proxy mode "${String(mode)}" (known: ${PROXY_MODES.join(', ')})`);
  }
}
