/**
 * kube's printers (pkg/printers/internalversion) for the other built-in kinds keelson serves:
 * nodes, services, endpoints, replication controllers, namespaces, config maps, secrets, events,
 * leases and endpoint slices. Cells hold what kube's would after its v1→internal conversion (a
 * `podIP`-only status, a `clusterIP`-only spec and unset defaults read as kube's defaulted values).
 */
import type { ConfigMap, Endpoints, EndpointSlice, Event, Lease, Namespace, Node, ReplicationController, Secret, Service } from '../../api/kinds.js';
import type { KubeObject } from '../../api/meta.js';
import { AGE_COLUMN, NAME_COLUMN, age, column, formatLabels, joinHostPort, nameOf, parseTime, humanDuration, type Printer, type PrintedRow } from './common.js';

const CONTAINERS = 'Names of each container in the template.';
const IMAGES = 'Images referenced by each container in the template.';

// ---------------------------------------------------------------- nodes

const NODE_ADDRESSES =
  "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

const NODE_COLUMNS = [
  NAME_COLUMN,
  column('Status', 'string', 'The status of the node'),
  column('Roles', 'string', 'The roles of the node'),
  AGE_COLUMN,
  column('Version', 'string', 'Kubelet Version reported by the node.'),
  column('Internal-IP', 'string', NODE_ADDRESSES, { priority: 1 }),
  column('External-IP', 'string', NODE_ADDRESSES, { priority: 1 }),
  column('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', { priority: 1 }),
  column('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", { priority: 1 }),
  column('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', { priority: 1 }),
];

/** kube's findNodeRoles: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role=<role>`, sorted, unique. */
export function nodeRoles(node: Node): string[] {
  const roles = new Set<string>();
  for (const [key, value] of Object.entries(node.metadata?.labels ?? {})) {
    if (key.startsWith('node-role.kubernetes.io/')) {
      const role = key.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (key === 'kubernetes.io/role' && value) {
      roles.add(value);
    }
  }
  return [...roles].sort();
}

function printNode(node: Node, now: number): PrintedRow {
  // Only the Ready condition counts; the last one of the type wins (kube builds a map).
  const ready = (node.status?.conditions ?? []).filter((c) => c.type === 'Ready').at(-1);
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  const address = (type: string) => node.status?.addresses?.find((a) => a.type === type)?.address ?? '<none>';
  const info = node.status?.nodeInfo;
  return {
    cells: [
      nameOf(node),
      status.join(','),
      nodeRoles(node).join(',') || '<none>',
      age(node.metadata?.creationTimestamp, now),
      info?.kubeletVersion ?? '',
      address('InternalIP'),
      address('ExternalIP'),
      info?.osImage || '<unknown>',
      info?.kernelVersion || '<unknown>',
      info?.containerRuntimeVersion || '<unknown>',
    ],
  };
}

// ---------------------------------------------------------------- services

const SERVICE_COLUMNS = [
  NAME_COLUMN,
  column(
    'Type',
    'string',
    'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types',
  ),
  column(
    'Cluster-IP',
    'string',
    'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are "None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',
  ),
  column(
    'External-IP',
    'string',
    'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.',
  ),
  column('Port(s)', 'string', 'The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'),
  AGE_COLUMN,
  column(
    'Selector',
    'string',
    'Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/',
    { priority: 1 },
  ),
];

/** kube's getServiceExternalIP (server side: wide, so load balancer addresses are never clipped). */
function externalIP(svc: Service, type: string): string {
  const externalIPs = svc.spec?.externalIPs ?? [];
  switch (type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = new Set<string>();
      for (const ingress of svc.status?.loadBalancer?.ingress ?? []) {
        if (ingress.ip) lb.add(ingress.ip);
        else if (ingress.hostname) lb.add(ingress.hostname);
      }
      const lbIPs = [...lb].sort();
      if (externalIPs.length > 0) return [...lbIPs, ...externalIPs].join(',');
      return lbIPs.length > 0 ? lbIPs.join(',') : '<pending>';
    }
    case 'ExternalName':
      return svc.spec?.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** kube's makePortString: `80/TCP,443:30443/TCP`. */
export function servicePorts(svc: Service): string {
  return (svc.spec?.ports ?? [])
    .map((p) => (p.nodePort && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol || 'TCP'}` : `${p.port}/${p.protocol || 'TCP'}`))
    .join(',');
}

function printService(svc: Service, now: number): PrintedRow {
  const type = svc.spec?.type || 'ClusterIP';
  const clusterIP = svc.spec?.clusterIPs?.[0] || svc.spec?.clusterIP || '<none>';
  return {
    cells: [
      nameOf(svc),
      type,
      clusterIP,
      externalIP(svc, type),
      servicePorts(svc) || '<none>',
      age(svc.metadata?.creationTimestamp, now),
      formatLabels(svc.spec?.selector),
    ],
  };
}

// ---------------------------------------------------------------- endpoints

const ENDPOINTS_COLUMNS = [
  NAME_COLUMN,
  column(
    'Endpoints',
    'string',
    'The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.',
  ),
  AGE_COLUMN,
];

/** kube's formatEndpoints: up to three `ip:port` (ready addresses only), then ` + N more...`. */
export function formatEndpoints(endpoints: Endpoints): string {
  const subsets = endpoints.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const shown: string[] = [];
  let count = 0;
  const add = (entry: string) => {
    if (shown.length < max) shown.push(entry);
    count++;
  };
  for (const subset of subsets) {
    const addresses = subset.addresses ?? [];
    if (!subset.ports?.length) {
      for (const address of addresses) add(address.ip);
    } else {
      for (const port of subset.ports) for (const address of addresses) add(joinHostPort(address.ip, port.port));
    }
  }
  return count > max ? `${shown.join(',')} + ${count - max} more...` : shown.join(',');
}

// ---------------------------------------------------------------- endpoint slices

// kube describes these columns with discovery/v1beta1's swagger docs.
const ENDPOINT_SLICE_COLUMNS = [
  NAME_COLUMN,
  column(
    'AddressType',
    'string',
    'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.',
  ),
  column(
    'Ports',
    'string',
    'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.',
  ),
  column('Endpoints', 'string', 'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.'),
  AGE_COLUMN,
];

/** kube's listWithMoreString: the first three joined by commas, ` + N more...` past them, `<unset>` for none. */
function listWithMore(list: readonly string[], count: number, max: number): string {
  const joined = list.join(',');
  if (count > max) return `${joined} + ${count - max} more...`;
  return joined === '' ? '<unset>' : joined;
}

/** kube's formatDiscoveryPorts: port numbers (the name for a port without one, `*` for neither), three at most. */
export function formatDiscoveryPorts(slice: EndpointSlice): string {
  const ports = slice.ports ?? [];
  const max = 3;
  const shown = ports.slice(0, max).map((port) => (port.port !== undefined && port.port !== null ? String(port.port) : (port.name ?? '*')));
  return listWithMore(shown, ports.length, max);
}

/** kube's formatDiscoveryEndpoints: the addresses of every endpoint, three at most. */
export function formatDiscoveryEndpoints(slice: EndpointSlice): string {
  const addresses = (slice.endpoints ?? []).flatMap((endpoint) => endpoint.addresses ?? []);
  const max = 3;
  return listWithMore(addresses.slice(0, max), addresses.length, max);
}

function printEndpointSlice(slice: EndpointSlice, now: number): PrintedRow {
  return { cells: [nameOf(slice), slice.addressType ?? '', formatDiscoveryPorts(slice), formatDiscoveryEndpoints(slice), age(slice.metadata?.creationTimestamp, now)] };
}

// ---------------------------------------------------------------- replication controllers

const RC_COLUMNS = [
  NAME_COLUMN,
  column(
    'Desired',
    'integer',
    'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller',
  ),
  column('Current', 'integer', 'Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller'),
  column('Ready', 'integer', 'The number of ready replicas for this replication controller.'),
  AGE_COLUMN,
  column('Containers', 'string', CONTAINERS, { priority: 1 }),
  column('Images', 'string', IMAGES, { priority: 1 }),
  column(
    'Selector',
    'string',
    'Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels#label-selectors',
    { priority: 1 },
  ),
];

function printReplicationController(rc: ReplicationController, now: number): PrintedRow {
  const containers = rc.spec?.template?.spec?.containers ?? [];
  return {
    cells: [
      nameOf(rc),
      rc.spec?.replicas ?? 1,
      rc.status?.replicas ?? 0,
      rc.status?.readyReplicas ?? 0,
      age(rc.metadata?.creationTimestamp, now),
      containers.map((c) => c.name).join(','),
      containers.map((c) => c.image ?? '').join(','),
      formatLabels(rc.spec?.selector),
    ],
  };
}

// ---------------------------------------------------------------- namespaces, config maps, secrets, leases

const NAMESPACE_COLUMNS = [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN];

const CONFIGMAP_COLUMNS = [
  NAME_COLUMN,
  column(
    'Data',
    'string',
    "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
  ),
  AGE_COLUMN,
];

const SECRET_COLUMNS = [
  NAME_COLUMN,
  column('Type', 'string', 'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'),
  column(
    'Data',
    'string',
    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
  ),
  AGE_COLUMN,
];

const LEASE_COLUMNS = [
  NAME_COLUMN,
  column(
    'Holder',
    'string',
    'holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.',
  ),
  AGE_COLUMN,
];

const count = (map: Record<string, unknown> | undefined) => Object.keys(map ?? {}).length;

// ---------------------------------------------------------------- events

const EVENT_COLUMNS = [
  column('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
  column('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
  column('Reason', 'string', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
  column('Object', 'string', 'The object that this event is about.'),
  column(
    'Subobject',
    'string',
    'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where "name" refers to the name of the container that triggered the event) or if no container name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.',
    { priority: 1 },
  ),
  column('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', { priority: 1 }),
  column('Message', 'string', 'A human-readable description of the status of this operation.'),
  column('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', { priority: 1 }),
  column('Count', 'string', 'The number of times this event has occurred.', { priority: 1 }),
  column('Name', 'string', NAME_COLUMN.description, { format: 'name', priority: 1 }),
];

function sinceOrUnknown(ms: number | undefined, now: number): string {
  return ms === undefined ? '<unknown>' : humanDuration(now - ms);
}

function printEvent(ev: Event, now: number): PrintedRow {
  const firstTimestamp = parseTime(ev.firstTimestamp);
  const first = firstTimestamp !== undefined ? humanDuration(now - firstTimestamp) : sinceOrUnknown(parseTime(ev.eventTime), now);
  const lastTimestamp = parseTime(ev.lastTimestamp);
  let last = lastTimestamp !== undefined ? humanDuration(now - lastTimestamp) : first;
  let n = ev.count ?? 0;
  if (ev.series) {
    last = sinceOrUnknown(parseTime(ev.series.lastObservedTime), now);
    n = ev.series.count ?? 0;
  } else if (n === 0) {
    n = 1; // singleton events of the events.k8s.io API have no count
  }
  const involved = ev.involvedObject ?? {};
  const kind = (involved.kind ?? '').toLowerCase();
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return {
    cells: [
      last,
      ev.type ?? '',
      ev.reason ?? '',
      involved.name ? `${kind}/${involved.name}` : kind,
      involved.fieldPath ?? '',
      instance ? `${component}, ${instance}` : component,
      (ev.message ?? '').trim(),
      first,
      n,
      nameOf(ev),
    ],
  };
}

// ---------------------------------------------------------------- the table

/** kube's printers of core kinds (and leases and endpoint slices), by `group/plural`. */
export const CORE_PRINTERS: ReadonlyMap<string, Printer> = new Map<string, Printer>([
  ['/nodes', { columns: NODE_COLUMNS, row: (o, now) => printNode(o as Node, now) }],
  ['/services', { columns: SERVICE_COLUMNS, row: (o, now) => printService(o as Service, now) }],
  [
    '/endpoints',
    { columns: ENDPOINTS_COLUMNS, row: (o: KubeObject, now) => ({ cells: [nameOf(o), formatEndpoints(o as Endpoints), age(o.metadata?.creationTimestamp, now)] }) },
  ],
  ['/replicationcontrollers', { columns: RC_COLUMNS, row: (o, now) => printReplicationController(o as ReplicationController, now) }],
  [
    '/namespaces',
    { columns: NAMESPACE_COLUMNS, row: (o, now) => ({ cells: [nameOf(o), (o as Namespace).status?.phase ?? '', age(o.metadata?.creationTimestamp, now)] }) },
  ],
  [
    '/configmaps',
    {
      columns: CONFIGMAP_COLUMNS,
      row: (o, now) => ({ cells: [nameOf(o), count((o as ConfigMap).data) + count((o as ConfigMap).binaryData), age(o.metadata?.creationTimestamp, now)] }),
    },
  ],
  [
    '/secrets',
    {
      columns: SECRET_COLUMNS,
      row: (o, now) => ({ cells: [nameOf(o), (o as Secret).type ?? '', count((o as Secret).data), age(o.metadata?.creationTimestamp, now)] }),
    },
  ],
  ['/events', { columns: EVENT_COLUMNS, row: (o, now) => printEvent(o as Event, now) }],
  [
    'coordination.k8s.io/leases',
    { columns: LEASE_COLUMNS, row: (o, now) => ({ cells: [nameOf(o), (o as Lease).spec?.holderIdentity ?? '', age(o.metadata?.creationTimestamp, now)] }) },
  ],
  ['discovery.k8s.io/endpointslices', { columns: ENDPOINT_SLICE_COLUMNS, row: (o, now) => printEndpointSlice(o as EndpointSlice, now) }],
]);
