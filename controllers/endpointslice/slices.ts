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
 *   `notReadyAddresses`, `terminating` false (the Endpoints list no terminating pods), with the
 *   address's `nodeName`, `targetRef` and `hostname`;
 * - a Service with a selector but nothing to list still has one slice, without endpoints
 *   (kube's placeholder), so that readers see the Service is handled.
 */
import type { EndpointAddress, EndpointPort, Endpoints, Service } from '../../lib/index.js';
import { isIPv6 } from 'node:net';

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

function sliceEndpoint(address: EndpointAddress, ready: boolean): SliceEndpoint {
  return {
    addresses: [address.ip],
    conditions: { ready, serving: ready, terminating: false },
    ...(address.hostname ? { hostname: address.hostname } : {}),
    ...(address.nodeName ? { nodeName: address.nodeName } : {}),
    ...(address.targetRef ? { targetRef: address.targetRef } : {}),
  };
}

/**
 * The slices `service` should have given its `endpoints` (absent: none yet). `placeholder`: a
 * Service whose endpoints keelson computes gets one empty slice when there is nothing to list.
 */
export function desiredSlices(service: Service, endpoints: Endpoints | undefined, placeholder: boolean): SliceContent[] {
  const groups = new Map<string, SliceContent>();
  for (const subset of endpoints?.subsets ?? []) {
    const ports = slicePorts(subset.ports);
    const listed = [...(subset.addresses ?? []).map((a) => sliceEndpoint(a, true)), ...(subset.notReadyAddresses ?? []).map((a) => sliceEndpoint(a, false))];
    for (const endpoint of listed) {
      const addressType = isIPv6(endpoint.addresses[0]!) ? 'IPv6' : 'IPv4';
      const key = sliceKey({ addressType, ports });
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { addressType, ports, endpoints: [] }));
      group.endpoints.push(endpoint);
    }
  }
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
