/**
 * The EndpointSlices a Service should have, computed from its Endpoints (pure functions).
 *
 * Kubernetes keeps both APIs: the Endpoints of a Service (one object, `subsets`) and its
 * EndpointSlices (`discovery.k8s.io/v1`, what kube-proxy and `kubectl describe service` read).
 * keelson's endpoints controller computes the addresses from the pods; this mirrors them into
 * slices with kube's shape:
 *
 * - one group of slices per address family and set of ports (an Endpoints subset is exactly a
 *   set of ports), at most {@link MAX_ENDPOINTS_PER_SLICE} endpoints per slice (kube's default);
 * - an endpoint per address: `conditions` `ready` and `serving` true for `addresses`, false for
 *   `notReadyAddresses`, `terminating` false, with the address's `nodeName`, `targetRef` and
 *   `hostname`;
 * - and, as kube's endpointslice controller, an endpoint per terminating pod the Service selects
 *   (the Endpoints list none: deleted, not yet gone): `ready` false, `serving` its readiness,
 *   `terminating` true — what kube-proxy falls back on when no endpoint is ready;
 * - a Service with a selector but nothing to list still has one slice, without endpoints
 *   (kube's placeholder), so that readers see the Service is handled.
 */
import type { EndpointAddress, EndpointPort, Endpoints, Pod, Service } from '../../lib/index.js';
import { isIPv6 } from 'node:net';
import { findPort, isPodReady, podAddress, shouldPodBeInEndpoints } from '../endpoints/index.js';

/** Endpoints per slice (kube-controller-manager's `--max-endpoints-per-slice` default). */
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** An endpoint of a slice, in discovery.k8s.io/v1's shape. */
export interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  hostname?: string;
  targetRef?: EndpointAddress['targetRef'];
}

/** A port of a slice, in discovery.k8s.io/v1's shape (`name` is `""` for an unnamed port, as kube). */
export interface SlicePort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The content of one slice: what the controller compares and writes. */
export interface SliceContent {
  addressType: 'IPv4' | 'IPv6';
  endpoints: SliceEndpoint[];
  ports: SlicePort[];
}

/** The key of a slice's kind of content: its address type and ports (slices of a key are interchangeable). */
export function sliceKey(content: Pick<SliceContent, 'addressType' | 'ports'>): string {
  return JSON.stringify([content.addressType, content.ports.map((p) => [p.name, p.port, p.protocol, p.appProtocol ?? ''])]);
}

function slicePorts(ports: readonly EndpointPort[] | undefined): SlicePort[] {
  return (ports ?? [])
    .map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }))
    .sort((a, b) => (a.name === b.name ? a.port - b.port : a.name < b.name ? -1 : 1));
}

function sliceEndpoint(address: EndpointAddress, ready: boolean, serving = ready, terminating = false): SliceEndpoint {
  return {
    addresses: [address.ip],
    conditions: { ready, serving, terminating },
    ...(address.hostname ? { hostname: address.hostname } : {}),
    ...(address.nodeName ? { nodeName: address.nodeName } : {}),
    ...(address.targetRef ? { targetRef: address.targetRef } : {}),
  };
}

/**
 * The endpoints of the terminating pods among `pods` (those `service` selects), each with the
 * ports it serves — none when the Service publishes not-ready addresses (its Endpoints list them).
 */
function terminatingEndpoints(service: Service, pods: readonly Pod[]): Array<{ ports: SlicePort[]; endpoint: SliceEndpoint }> {
  if (service.spec?.publishNotReadyAddresses) return [];
  const found: Array<{ ports: SlicePort[]; endpoint: SliceEndpoint }> = [];
  for (const pod of pods) {
    if (!pod.metadata?.deletionTimestamp || !shouldPodBeInEndpoints(pod, true)) continue;
    const address = podAddress(service, pod);
    if (!address) continue;
    const ports: EndpointPort[] = [];
    for (const servicePort of service.spec?.ports ?? []) {
      const port = findPort(pod, servicePort);
      if (port !== undefined) ports.push({ name: servicePort.name ?? '', port, protocol: servicePort.protocol ?? 'TCP', ...(servicePort.appProtocol ? { appProtocol: servicePort.appProtocol } : {}) });
    }
    if (ports.length === 0 && (service.spec?.ports?.length ?? 0) > 0) continue;
    found.push({ ports: slicePorts(ports), endpoint: sliceEndpoint(address, false, isPodReady(pod), true) });
  }
  return found;
}

/**
 * The slices `service` should have given its `endpoints` (absent: none yet) and the pods it
 * selects (for the terminating ones). `placeholder`: a Service whose endpoints keelson computes
 * gets one empty slice when there is nothing to list.
 */
export function desiredSlices(service: Service, endpoints: Endpoints | undefined, placeholder: boolean, pods: readonly Pod[] = []): SliceContent[] {
  const groups = new Map<string, SliceContent>();
  const add = (ports: SlicePort[], endpoint: SliceEndpoint) => {
    const addressType = isIPv6(endpoint.addresses[0]!) ? 'IPv6' : 'IPv4';
    const key = sliceKey({ addressType, ports });
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { addressType, ports, endpoints: [] }));
    group.endpoints.push(endpoint);
  };
  for (const subset of endpoints?.subsets ?? []) {
    const ports = slicePorts(subset.ports);
    for (const address of subset.addresses ?? []) add(ports, sliceEndpoint(address, true));
    for (const address of subset.notReadyAddresses ?? []) add(ports, sliceEndpoint(address, false));
  }
  for (const { ports, endpoint } of terminatingEndpoints(service, pods)) add(ports, endpoint);
  const slices: SliceContent[] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key)!;
    group.endpoints.sort((a, b) => (a.addresses[0]! < b.addresses[0]! ? -1 : a.addresses[0]! > b.addresses[0]! ? 1 : 0));
    for (let i = 0; i < group.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
      slices.push({ addressType: group.addressType, ports: group.ports, endpoints: group.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE) });
    }
  }
  if (slices.length === 0 && placeholder) {
    const family = service.spec?.ipFamilies?.[0] === 'IPv6' ? 'IPv6' : 'IPv4';
    slices.push({ addressType: family, ports: [], endpoints: [] });
  }
  return slices;
}
