/**
 * What a proxy must serve, computed from the API objects: one {@link ServicePortState} per port
 * of a Service with a cluster IP, carrying the address it is reached on (cluster IP and port, and
 * the node port for `NodePort`/`LoadBalancer` Services), its ready endpoints and its session
 * affinity. This is the whole input of a proxier — a pure function of a Service and its
 * Endpoints, so every proxy mode (userspace, nftables) is fed the same desired state.
 *
 * Kubernetes' rules: headless (`clusterIP: None`) and `ExternalName` Services are not proxied;
 * a Service port's endpoints are the ready addresses (`subsets[].addresses`, never
 * `notReadyAddresses`) of the Endpoints subsets, each with the subset port whose *name* (and
 * protocol) matches the Service port's; `SCTP` is not proxied (Node.js has no SCTP sockets).
 *
 * Traffic policies, when the proxy knows which nodes are its own: `internalTrafficPolicy: Local`
 * sends cluster IP traffic to the endpoints on those nodes only (`nodeName` of the address);
 * `externalTrafficPolicy: Local` does the same for node port, external IP, load-balancer and VIP
 * traffic (which then keeps its client address in the nftables mode). A Service with ready
 * endpoints but none local drops such traffic; one with no ready endpoints at all refuses it.
 *
 * A Service without an Endpoints object whose endpoints were published as EndpointSlices only
 * (a selector-less Service, as kube-proxy reads them) is served from its slices
 * ({@link endpointsFromSlices}).
 */
import type { EndpointAddress, EndpointSlice, Endpoints, EndpointSubset, Service, ServicePort } from '../../lib/index.js';

/** The protocols the proxy forwards. */
export type ProxyProtocol = 'TCP' | 'UDP';

/** One backend of a Service port: a ready pod address and its target port. */
export interface ServiceEndpoint {
  ip: string;
  port: number;
}

/** The default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours, as Kubernetes). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10_800;

/** The desired state of one Service port, as every proxier receives it. */
export interface ServicePortState {
  /** Kubernetes' ServicePortName: `namespace/name:port-name` (`namespace/name` for an unnamed port). */
  name: string;
  /** The Service: `namespace/name`. */
  service: string;
  protocol: ProxyProtocol;
  /** The Service's cluster IP (from `127.96.0.0/12` by default). */
  clusterIP: string;
  /** The Service port, served on {@link clusterIP}. */
  port: number;
  /** Also served on every node address of the proxy (`NodePort` and `LoadBalancer` Services). */
  nodePort?: number;
  /**
   * More addresses {@link port} is served on, besides the cluster IP: the Service's
   * `spec.externalIPs`, its load-balancer ingress IPs (`status.loadBalancer.ingress[].ip`, type
   * `LoadBalancer`), and the addresses of the VirtualIPs this host holds whose `spec.serviceRef`
   * names the Service. Sorted, no duplicates; absent when none.
   */
  extraAddresses?: string[];
  /**
   * The ready endpoints for cluster IP traffic, sorted by address then port, without duplicates
   * (only this node's with `internalTrafficPolicy: Local`; see {@link local}).
   */
  endpoints: ServiceEndpoint[];
  /**
   * The endpoints for external traffic (node port, external IPs, load-balancer IPs, VIPs) when a
   * traffic policy is `Local`; absent: the same as {@link endpoints}.
   */
  externalEndpoints?: ServiceEndpoint[];
  /** Set when a traffic policy is `Local` (and the proxy knows its nodes); absent: both `Cluster`. */
  local?: LocalTrafficPolicy;
  /** Set for `sessionAffinity: ClientIP`: how long a client IP sticks to its endpoint, in seconds. */
  affinityTimeoutSeconds?: number;
}

/** Which traffic goes to this node's endpoints only (see {@link ServicePortState.local}). */
export interface LocalTrafficPolicy {
  /** `internalTrafficPolicy: Local`: cluster IP traffic. */
  internal: boolean;
  /** `externalTrafficPolicy: Local`: external traffic, whose client address is kept (nftables). */
  external: boolean;
  /**
   * Whether the Service port has ready endpoints anywhere: traffic a policy leaves without a
   * local endpoint is then dropped, as kube-proxy does, rather than refused.
   */
  anyReady: boolean;
}

/** The key of an endpoint, `ip:port`. */
export function endpointKey(endpoint: ServiceEndpoint): string {
  return endpoint.ip.includes(':') ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`;
}

/** `namespace/name`, as Kubernetes' NamespacedName prints. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Kubernetes' ServicePortName string: `namespace/name:port` (no `:` for an unnamed port). */
export function servicePortName(service: string, port: ServicePort): string {
  return port.name ? `${service}:${port.name}` : service;
}

/** The cluster IP a Service is proxied on, or undefined (headless, ExternalName, not allocated). */
export function proxiedClusterIP(service: Service): string | undefined {
  const spec = service.spec;
  if (!spec || spec.type === 'ExternalName') return undefined;
  const ip = spec.clusterIPs?.[0] ?? spec.clusterIP;
  return ip && ip !== 'None' ? ip : undefined;
}

/**
 * The ready endpoints of one Service port in `endpoints` (see the file header for the rules);
 * with `onNodes`, only the addresses whose `nodeName` is one of them.
 */
export function endpointsFor(port: ServicePort, endpoints: Endpoints | undefined, onNodes?: ReadonlySet<string>): ServiceEndpoint[] {
  const name = port.name ?? '';
  const protocol = port.protocol ?? 'TCP';
  const found = new Map<string, ServiceEndpoint>();
  for (const subset of endpoints?.subsets ?? []) {
    const target = subset.ports?.find((p) => (p.name ?? '') === name && (p.protocol ?? 'TCP') === protocol);
    if (!target) continue;
    for (const address of subset.addresses ?? []) {
      if (onNodes && !(address.nodeName && onNodes.has(address.nodeName))) continue;
      const endpoint = { ip: address.ip, port: target.port };
      found.set(endpointKey(endpoint), endpoint);
    }
  }
  return [...found.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/**
 * The Endpoints a Service's EndpointSlices amount to: per slice of `addressType: IPv4`, one
 * subset with the slice's ports (those with a number), its ready endpoints as `addresses` (the
 * first address of each, with its `nodeName`; `conditions.ready` unset counts as ready, as in
 * kube-proxy) and the others as `notReadyAddresses`. Undefined when there is no such slice.
 */
export function endpointsFromSlices(slices: readonly EndpointSlice[]): Endpoints | undefined {
  const subsets: EndpointSubset[] = [];
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const ports = (slice.ports ?? []).flatMap((p) => (p.port ? [{ port: p.port, ...(p.name ? { name: p.name } : {}), ...(p.protocol ? { protocol: p.protocol } : {}) }] : []));
    const ready: EndpointAddress[] = [];
    const notReady: EndpointAddress[] = [];
    for (const endpoint of slice.endpoints ?? []) {
      const ip = endpoint.addresses?.[0];
      if (!ip) continue;
      (endpoint.conditions?.ready === false ? notReady : ready).push({ ip, ...(endpoint.nodeName ? { nodeName: endpoint.nodeName } : {}) });
    }
    subsets.push({ addresses: ready, notReadyAddresses: notReady, ports });
  }
  return subsets.length ? { apiVersion: 'v1', kind: 'Endpoints', metadata: {}, subsets } : undefined;
}

/**
 * The addresses besides the cluster IP that kube-proxy serves a Service on: `spec.externalIPs`,
 * and for type `LoadBalancer` the ingress IPs its load balancer reported in its status (but not
 * those with `ipMode: Proxy`, as kube-proxy).
 */
export function externalAddressesOf(service: Service): string[] {
  const spec = service.spec ?? {};
  const addresses = [...(spec.externalIPs ?? [])];
  if (spec.type === 'LoadBalancer') {
    // ipMode Proxy: the load balancer proxies to the nodes itself; its IP is not the node's to serve.
    for (const ingress of service.status?.loadBalancer?.ingress ?? []) if (ingress.ip && ingress.ipMode !== 'Proxy') addresses.push(ingress.ip);
  }
  return addresses;
}

/**
 * The desired state of every port of `service` given its `endpoints` (absent or empty: no
 * endpoints, so new connections are refused). Empty for Services that are not proxied.
 * Besides the cluster IP, each Service port is served on the Service's external addresses
 * ({@link externalAddressesOf}) and on `extraAddresses` (the VIPs held here for the Service).
 * `localNodes` are the nodes this proxy serves, for `Local` traffic policies (absent: unknown,
 * so every policy acts as `Cluster`).
 */
export function servicePortsOf(
  service: Service,
  endpoints: Endpoints | undefined,
  extraAddresses: Iterable<string> = [],
  localNodes?: ReadonlySet<string>,
): ServicePortState[] {
  const clusterIP = proxiedClusterIP(service);
  if (!clusterIP) return [];
  const key = serviceKey(service.metadata?.namespace ?? '', service.metadata?.name ?? '');
  const spec = service.spec!;
  const affinityTimeoutSeconds =
    spec.sessionAffinity === 'ClientIP' ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds || DEFAULT_AFFINITY_TIMEOUT_SECONDS : undefined;
  const exposesNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const extra = [...new Set([...externalAddressesOf(service), ...extraAddresses])].filter((a) => a !== clusterIP).sort();
  const internalLocal = localNodes !== undefined && spec.internalTrafficPolicy === 'Local';
  const externalLocal = localNodes !== undefined && spec.externalTrafficPolicy === 'Local';
  const states: ServicePortState[] = [];
  for (const port of spec.ports ?? []) {
    const protocol = port.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') continue;
    const ready = endpointsFor(port, endpoints);
    const local = internalLocal || externalLocal ? endpointsFor(port, endpoints, localNodes) : ready;
    states.push({
      name: servicePortName(key, port),
      service: key,
      protocol,
      clusterIP,
      port: port.port,
      ...(exposesNodePorts && port.nodePort ? { nodePort: port.nodePort } : {}),
      ...(extra.length ? { extraAddresses: [...extra] } : {}),
      endpoints: internalLocal ? local : ready,
      ...(internalLocal || externalLocal
        ? { externalEndpoints: externalLocal ? local : ready, local: { internal: internalLocal, external: externalLocal, anyReady: ready.length > 0 } }
        : {}),
      ...(affinityTimeoutSeconds !== undefined ? { affinityTimeoutSeconds } : {}),
    });
  }
  return states;
}

/** Whether two states listen on the same sockets (same protocol, addresses and ports, extra addresses included). */
export function sameBinding(a: ServicePortState, b: ServicePortState): boolean {
  return sameClusterBinding(a, b) && sameAddresses(a.extraAddresses, b.extraAddresses);
}

/**
 * Whether two states listen on the same cluster IP and node port sockets, whatever their
 * {@link ServicePortState.extraAddresses} (which a proxier may add and remove in place).
 */
export function sameClusterBinding(a: ServicePortState, b: ServicePortState): boolean {
  return a.protocol === b.protocol && a.clusterIP === b.clusterIP && a.port === b.port && (a.nodePort ?? 0) === (b.nodePort ?? 0);
}

function sameAddresses(a: readonly string[] = [], b: readonly string[] = []): boolean {
  return a.length === b.length && a.every((address, i) => address === b[i]);
}
