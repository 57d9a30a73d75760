/**
 * The service proxy — keelson's kube-proxy, written with keelson's public API only. It makes
 * Services answer on this host: for each port of a Service with a cluster IP, it listens on
 * `clusterIP:port` (and, for `NodePort` Services, on the node addresses at `nodePort`) and
 * forwards to the Service's ready endpoints — round-robin, `sessionAffinity: ClientIP`, a
 * refused endpoint retried on the next one, connections to removed endpoints drained, updates
 * applied within milliseconds of an Endpoints change.
 *
 * - `service-proxy.ts`: {@link ServiceProxy}, the assembly (a manager, the controller, a proxier);
 * - `controller.ts`: the controller — Services and Endpoints in, desired state out;
 * - `service-ports.ts`: the desired state of a Service port, computed from the objects;
 * - `proxier.ts`: the {@link Proxier} interface every mode implements, and the modes;
 * - `userspace-proxier.ts`: the `userspace` mode, with `forwarder.ts` (listening, draining),
 *   `tcp-forwarder.ts`, `udp-forwarder.ts`, `relay.ts` (copying bytes), `native-relay.ts` (the
 *   process lasting connections are handed to), `load-balancer.ts` (round-robin and affinity)
 *   and `listener.ts` (binding with retries);
 * - `nftables-proxier.ts`: the `nftables` mode (Linux, root) — DNAT rules in the kernel, kept up
 *   to date by transactions that carry only what changed, with the ruleset as data in
 *   `nftables-rules.ts`;
 * - `health-check.ts`: the health checks of LoadBalancer Services with `externalTrafficPolicy:
 *   Local` on their `healthCheckNodePort` (kube-proxy's, in every mode);
 * - `proxy-metrics.ts`: its metrics.
 */
export { SERVICE_PROXY_CONTROLLER, ServiceProxyController } from './controller.js';
export { Forwarder, type ForwarderContext, type Flow, type ListenAddress } from './forwarder.js';
export { RetryingListener, type OpenSocket } from './listener.js';
export { RoundRobinBalancer } from './load-balancer.js';
export { MAX_RELAY_FAILURES, NATIVE_RELAY_PATH, NativeRelay, nativeRelayFor, RELAY_MODES, type RelayEnd, type RelayMode } from './native-relay.js';
export { NFTABLES_DEFAULTS, NftablesError, NftablesProxier, nftablesTableForNode, staleUdpFlows, type NftablesProxierOptions } from './nftables-proxier.js';
export {
  baseTableLines,
  diffObjects,
  emptyObjects,
  endpointChainBase,
  hashAndTruncate,
  MASQUERADE_MARK,
  mergeObjects,
  NFT_NAMES,
  NFT_TABLE,
  servicePortChainBase,
  servicePortObjects,
  type NftElement,
  type NftObjects,
  type ObjectsDiff,
} from './nftables-rules.js';
export { createProxier, PROXY_MODES, ProxyNodeNames, ServiceProxier, type ModeOptions, type Proxier, type ProxierOptions, type ProxyMode } from './proxier.js';
export { ServiceHealthServer } from './health-check.js';
export { NO_PROXY_METRICS, proxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
export { ServiceProxy, type ServiceProxyOptions } from './service-proxy.js';
export {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  endpointKey,
  endpointsFor,
  endpointsFromSlices,
  externalAddressesOf,
  proxiedClusterIP,
  sameBinding,
  sameClusterBinding,
  servicePortName,
  servicePortsOf,
  serviceKey,
  type ProxyProtocol,
  type ServiceEndpoint,
  type LocalTrafficPolicy,
  type ServicePortState,
} from './service-ports.js';
export { HAND_OVER_AFTER_READS, TcpForwarder } from './tcp-forwarder.js';
export { UdpForwarder } from './udp-forwarder.js';
export { USERSPACE_DEFAULTS, UserspaceProxier, type UserspaceProxierOptions } from './userspace-proxier.js';
