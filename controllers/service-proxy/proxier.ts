/**
 * The proxier: what turns the desired state of Service ports into forwarding on this host. The
 * service proxy's controller computes that state from Services and Endpoints and hands it over
 * one Service at a time; a proxier mode decides how traffic flows:
 *
 * - `userspace` ({@link UserspaceProxier}): Node.js listens on each cluster IP (and node port)
 *   and copies bytes to an endpoint — no privileges needed, works on loopback;
 * - `nftables` (Linux, root; {@link NftablesProxier}): DNAT rules, so packets never pass through
 *   Node.js — kube-proxy's nftables layout (a verdict map dispatching to a chain per Service
 *   port), updated by transactions that carry only what changed.
 *
 * A new mode implements {@link Proxier} and is added to {@link createProxier}.
 */
import type { Clock, Logger, Metrics } from '../../lib/index.js';
import type { ServicePortState } from './service-ports.js';
import { NftablesProxier, type NftablesProxierOptions } from './nftables-proxier.js';
import { UserspaceProxier, type UserspaceProxierOptions } from './userspace-proxier.js';

/** The proxy modes, as `--proxy-mode` names them. */
export type ProxyMode = 'userspace' | 'nftables';

/** The proxy modes `keelson up` and `keelson node` accept. */
export const PROXY_MODES: readonly ProxyMode[] = ['userspace', 'nftables'];

/** The injection token of the {@link Proxier} the service proxy controller feeds. */
export const ServiceProxier: unique symbol = Symbol.for('keelson.ServiceProxier') as never;

/**
 * The injection token of the names of the nodes the service proxy serves (a `readonly string[]`):
 * their endpoints are the local ones of `Local` traffic policies. Unbound: unknown, and every
 * policy acts as `Cluster`.
 */
export const ProxyNodeNames: unique symbol = Symbol.for('keelson.ProxyNodeNames') as never;

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

/** Settings of one mode, beyond the common {@link ProxierOptions}. */
export interface ModeOptions {
  userspace?: Partial<UserspaceProxierOptions>;
  nftables?: Partial<Omit<NftablesProxierOptions, keyof ProxierOptions>>;
}

/**
 * Builds the proxier of `mode`. An unavailable mode is an error naming it: `nftables` needs
 * Linux and root (its first sync fails if `nft` is missing).
 */
export function createProxier(mode: ProxyMode, options: ProxierOptions & ModeOptions): Proxier {
  const { userspace, nftables, ...common } = options;
  switch (mode) {
    case 'userspace':
      return new UserspaceProxier({ ...userspace, ...common });
    case 'nftables':
      if (process.platform !== 'linux') throw new Error(`proxy mode "nftables" needs Linux (this is ${process.platform}): use --proxy-mode userspace`);
      if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('proxy mode "nftables" needs root (it programs nftables): run as root, or use --proxy-mode userspace');
      return new NftablesProxier({ ...nftables, ...common });
    default:
      throw new Error(`unknown proxy mode "${String(mode)}" (known: ${PROXY_MODES.join(', ')})`);
  }
}
