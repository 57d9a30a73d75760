/**
 * What a Service's Endpoints should hold, computed from the Service and the pods its selector
 * matches — pure functions, with the rules of kube's endpoints controller:
 *
 * - a pod takes part only if it is not terminal (phase Succeeded/Failed), has an IP, and is not
 *   terminating (deletionTimestamp set) unless the Service publishes not-ready addresses;
 * - its address is its IP of the Service's IP family (`spec.ipFamilies[0]`, IPv4 by default),
 *   with `nodeName` and a `targetRef` to the pod, and `hostname` when the pod names the Service as
 *   its `subdomain`;
 * - ready pods (condition Ready=True) go to `addresses`, the others to `notReadyAddresses` —
 *   all to `addresses` when `spec.publishNotReadyAddresses` is set;
 * - each Service port resolves its `targetPort` per pod: a number as is, a name against the pod's
 *   container ports (name and protocol); a pod without that named port gets no endpoint for it;
 * - the result is packed and sorted as kube's `endpoints.RepackSubsets`: one subset per distinct
 *   set of addresses, holding every port those addresses serve, so equal inputs give equal output.
 */
import type { EndpointAddress, EndpointPort, EndpointSubset, Pod, Service, ServicePort } from '../../lib/index.js';

/** Most addresses one Endpoints object holds; kube truncates beyond this (`maxCapacity`). */
export const MAX_ENDPOINTS_CAPACITY = 1000;

/** Whether a pod's address belongs in a Service's Endpoints at all (kube's ShouldPodBeInEndpoints). */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (!pod.status?.podIP && !pod.status?.podIPs?.length) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

/** True if the pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * The container port a Service port targets on this pod (kube's podutil.FindPort): a numeric
 * `targetPort` as is (default: `port`), a named one looked up by name and protocol among the
 * containers' ports (and sidecars', init containers with restartPolicy Always). Undefined if the
 * pod has no such port.
 */
export function findPort(pod: Pod, servicePort: ServicePort): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === 'number') return target;
  const protocol = servicePort.protocol ?? 'TCP';
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  for (const container of containers) {
    for (const port of container.ports ?? []) {
      if (port.name === target && (port.protocol ?? 'TCP') === protocol) return port.containerPort;
    }
  }
  return undefined;
}

/** True for an IPv6 address (anything with a colon: pod IPs are validated by the store). */
function isIPv6(ip: string): boolean {
  return ip.includes(':');
}

/** The pod's address for the Service, or undefined if it has no IP of the Service's family. */
export function podAddress(service: Service, pod: Pod): EndpointAddress | undefined {
  const spec = service.spec ?? {};
  let wantIPv6: boolean;
  if (spec.ipFamilies?.length) wantIPv6 = spec.ipFamilies[0] === 'IPv6';
  else if (spec.clusterIP && spec.clusterIP !== 'None') wantIPv6 = isIPv6(spec.clusterIP);
  else wantIPv6 = isIPv6(pod.status?.podIP ?? '');
  const ips = pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : [pod.status?.podIP ?? ''];
  const ip = ips.find((candidate) => candidate !== '' && isIPv6(candidate) === wantIPv6);
  if (!ip) return undefined;
  const meta = pod.metadata ?? {};
  const address: EndpointAddress = { ip };
  // A pod naming the Service as its subdomain gets a DNS name under it (kube's ShouldSetHostname).
  if (pod.spec?.hostname && pod.spec.subdomain === service.metadata?.name && meta.namespace === service.metadata?.namespace) {
    address.hostname = pod.spec.hostname;
  }
  if (pod.spec?.nodeName) address.nodeName = pod.spec.nodeName;
  address.targetRef = { kind: 'Pod', namespace: meta.namespace ?? '', name: meta.name ?? '', uid: meta.uid ?? '' };
  return address;
}

/** The Endpoints subsets for a Service and the pods its selector matches, packed and sorted. */
export function endpointSubsetsFor(service: Service, pods: readonly Pod[]): EndpointSubset[] {
  const spec = service.spec ?? {};
  const publishNotReady = spec.publishNotReadyAddresses === true;
  const unpacked: EndpointSubset[] = [];
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const address = podAddress(service, pod);
    if (!address) continue;
    const ready = publishNotReady || isPodReady(pod);
    const addresses = ready ? { addresses: [address] } : { notReadyAddresses: [address] };
    if (!spec.ports?.length) {
      // Only a headless Service may have no ports: its addresses are published without any.
      if (spec.clusterIP === 'None') unpacked.push({ ...addresses });
      continue;
    }
    for (const servicePort of spec.ports) {
      const port = findPort(pod, servicePort);
      if (port === undefined) continue;
      const endpointPort: EndpointPort = { port, protocol: servicePort.protocol ?? 'TCP' };
      if (servicePort.name) endpointPort.name = servicePort.name;
      if (servicePort.appProtocol) endpointPort.appProtocol = servicePort.appProtocol;
      unpacked.push({ ...addresses, ports: [endpointPort] });
    }
  }
  return repackSubsets(unpacked);
}

/** An address's identity when packing: the same IP from two pods stays two addresses. */
function addressKey(address: EndpointAddress): string {
  return `${address.ip}\u0000${address.targetRef?.uid ?? ''}`;
}

/** A port's identity (name, number, protocol, app protocol). */
function portKey(port: EndpointPort): string {
  return JSON.stringify([port.name ?? '', port.port, port.protocol ?? 'TCP', port.appProtocol ?? '']);
}

/**
 * Packs subsets as kube's `endpoints.RepackSubsets`: addresses are de-duplicated by IP and target
 * uid, each port is mapped to the set of addresses offering it (not ready wins over ready for an
 * address listed both ways), and ports offered by exactly the same addresses share a subset.
 * Addresses without ports are kept. The result is sorted (see {@link sortSubsets}).
 */
export function repackSubsets(subsets: readonly EndpointSubset[]): EndpointSubset[] {
  const addressByKey = new Map<string, EndpointAddress>();
  /** Per port key: the port, and each address key with its readiness. */
  const portAddresses = new Map<string, { port: EndpointPort | undefined; ready: Map<string, boolean> }>();
  const NO_PORT = '';
  const note = (port: EndpointPort | undefined, address: EndpointAddress, ready: boolean) => {
    const key = addressKey(address);
    if (!addressByKey.has(key)) addressByKey.set(key, structuredClone(address));
    const pk = port ? portKey(port) : NO_PORT;
    let entry = portAddresses.get(pk);
    if (!entry) portAddresses.set(pk, (entry = { port: port ? { ...port } : undefined, ready: new Map() }));
    if (entry.ready.get(key) !== false) entry.ready.set(key, ready);
  };
  for (const subset of subsets) {
    const ports: (EndpointPort | undefined)[] = subset.ports?.length ? subset.ports : [undefined];
    for (const port of ports) {
      for (const address of subset.addresses ?? []) note(port, address, true);
      for (const address of subset.notReadyAddresses ?? []) note(port, address, false);
    }
  }
  // Group the ports by the exact set of (address, readiness) pairs that offer them.
  const groups = new Map<string, { ready: Map<string, boolean>; ports: EndpointPort[] }>();
  for (const { port, ready } of portAddresses.values()) {
    const setKey = [...ready.entries()].map(([key, isReady]) => `${key}\u0000${isReady}`).sort().join('\u0001');
    let group = groups.get(setKey);
    if (!group) groups.set(setKey, (group = { ready, ports: [] }));
    if (port) group.ports.push(port);
  }
  const packed: EndpointSubset[] = [];
  for (const { ready, ports } of groups.values()) {
    const addresses: EndpointAddress[] = [];
    const notReadyAddresses: EndpointAddress[] = [];
    for (const [key, isReady] of ready) (isReady ? addresses : notReadyAddresses).push(addressByKey.get(key)!);
    packed.push({
      ...(addresses.length ? { addresses } : {}),
      ...(notReadyAddresses.length ? { notReadyAddresses } : {}),
      ...(ports.length ? { ports } : {}),
    });
  }
  return sortSubsets(packed);
}

/** kube's LessEndpointAddress: by IP, then target uid (no target first). */
function compareAddresses(a: EndpointAddress, b: EndpointAddress): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  const au = a.targetRef?.uid ?? '';
  const bu = b.targetRef?.uid ?? '';
  return au < bu ? -1 : au > bu ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts addresses (by IP, then target uid), ports (by name, number, protocol) and the subsets
 * themselves (by their first address, then their ports), in place; returns the array. kube
 * orders ports and subsets by a hash of their contents; any total order gives the determinism
 * that matters — equal inputs, equal output, no needless writes.
 */
export function sortSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  for (const subset of subsets) {
    subset.addresses?.sort(compareAddresses);
    subset.notReadyAddresses?.sort(compareAddresses);
    subset.ports?.sort((a, b) => compareStrings(portKey(a), portKey(b)));
  }
  const subsetKey = (s: EndpointSubset) => {
    const first = s.addresses?.[0] ?? s.notReadyAddresses?.[0];
    return JSON.stringify([first?.ip ?? '', first?.targetRef?.uid ?? '', (s.ports ?? []).map(portKey)]);
  };
  return subsets.sort((a, b) => compareStrings(subsetKey(a), subsetKey(b)));
}

/** The number of addresses, ready or not, in `subsets`. */
export function countAddresses(subsets: readonly EndpointSubset[] | undefined): number {
  return (subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0) + (s.notReadyAddresses?.length ?? 0), 0);
}

/**
 * Truncates subsets to {@link MAX_ENDPOINTS_CAPACITY} addresses as kube's truncateEndpoints:
 * not-ready addresses go first; if the ready ones alone exceed the capacity, every not-ready one
 * goes and each subset keeps its proportional share of ready ones. Answers whether it truncated.
 */
export function truncateSubsets(subsets: EndpointSubset[], capacity = MAX_ENDPOINTS_CAPACITY): boolean {
  const totalReady = subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0);
  const totalNotReady = subsets.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0);
  if (totalReady + totalNotReady <= capacity) return false;
  const truncateReady = totalReady > capacity;
  const max = truncateReady ? capacity : capacity - totalReady;
  const total = truncateReady ? totalReady : totalNotReady;
  let canBeAdded = max;
  for (const subset of subsets) {
    const inSubset = (truncateReady ? subset.addresses : subset.notReadyAddresses)?.length ?? 0;
    const toBeAdded = Math.min(Math.ceil((inSubset / total) * max), canBeAdded);
    if (truncateReady) {
      if (subset.addresses) subset.addresses = subset.addresses.slice(0, toBeAdded);
      delete subset.notReadyAddresses;
      canBeAdded -= subset.addresses?.length ?? 0;
    } else {
      if (subset.notReadyAddresses) subset.notReadyAddresses = subset.notReadyAddresses.slice(0, toBeAdded);
      canBeAdded -= subset.notReadyAddresses?.length ?? 0;
    }
  }
  return true;
}

/**
 * True if two subset lists mean the same thing, whatever their order and however empty fields
 * are spelled (absent, `[]`), ignoring a target's resourceVersion — as kube compares them before
 * deciding to write.
 */
export function sameSubsets(a: readonly EndpointSubset[] | undefined, b: readonly EndpointSubset[] | undefined): boolean {
  return canonicalSubsets(a) === canonicalSubsets(b);
}

function canonicalSubsets(subsets: readonly EndpointSubset[] | undefined): string {
  const address = (x: EndpointAddress) => [
    x.ip,
    x.hostname ?? '',
    x.nodeName ?? '',
    x.targetRef ? [x.targetRef.kind ?? '', x.targetRef.namespace ?? '', x.targetRef.name ?? '', x.targetRef.uid ?? '', x.targetRef.apiVersion ?? '', x.targetRef.fieldPath ?? ''] : null,
  ];
  const copy = structuredClone((subsets ?? []) as EndpointSubset[]).filter((s) => countAddresses([s]) > 0);
  return JSON.stringify(
    sortSubsets(copy).map((s) => [(s.addresses ?? []).map(address), (s.notReadyAddresses ?? []).map(address), (s.ports ?? []).map(portKey)]),
  );
}
