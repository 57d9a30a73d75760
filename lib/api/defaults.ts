/**
 * Defaulting of the built-in kinds: the values kube-apiserver fills in on every create and update
 * (pkg/apis/core/v1/defaults.go, apiextensions v1 defaults), plus the few a real cluster adds
 * elsewhere before validation, so stored objects look as they do on a real cluster:
 *   - Pod `priority`/`preemptionPolicy` (kube's Priority admission plugin), `status.phase` and
 *     `status.qosClass` (the pod strategy) — filled only when absent;
 *   - Namespace `spec.finalizers` (the namespace strategy);
 *   - Secret `stringData` merged into `data`, Node `podCIDR`/`podCIDRs` and Service
 *     `clusterIP`/`clusterIPs` kept in sync (kube's conversion and service strategy).
 * EndpointSlice ports get kube's `name: ""` and `protocol: TCP`; its endpoint conditions stay unset.
 * ConfigMap, Event, Lease and Binding have no visible defaults (kube's empty ConfigMap `data` map
 * is omitted from JSON). Left out on purpose: service account and its token volume, default tolerations, IP and port
 * allocation (the registry's job).
 */
import type { CustomResourceDefinition, Endpoints, EndpointSlice, Namespace, Node, Pod, ReplicationController, Secret, Service } from './kinds.js';
import type { KubeObject } from './meta.js';
import type { Container, HTTPGetAction, PodSpec, Probe, ResourceList, Volume } from './types/core.js';
import { kindKey } from './kind-validation/index.js';
import { parseQuantity } from './kind-validation/quantity.js';

/** Mode of files in secret, configMap, downwardAPI and projected volumes (0644). */
const DEFAULT_FILE_MODE = 0o644;
/** kube's built-in priority classes (the only ones keelson knows without PriorityClass objects). */
const SYSTEM_PRIORITY_CLASSES: Record<string, number> = { 'system-cluster-critical': 2000000000, 'system-node-critical': 2000001000 };

/** Fills in kube's defaults for the object's kind, in place; unknown kinds are left untouched. */
export function applyDefaults(obj: KubeObject): void {
  switch (kindKey(obj)) {
    case '/Pod':
      return defaultPod(obj as Pod);
    case '/ReplicationController':
      return defaultReplicationController(obj as ReplicationController);
    case '/Service':
      return defaultService(obj as Service);
    case '/Namespace':
      return defaultNamespace(obj as Namespace);
    case '/Node':
      return defaultNode(obj as Node);
    case '/Secret':
      return defaultSecret(obj as Secret);
    case '/Endpoints':
      return defaultEndpoints(obj as Endpoints);
    case 'discovery.k8s.io/EndpointSlice':
      return defaultEndpointSlice(obj as EndpointSlice);
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return defaultCRD(obj as CustomResourceDefinition);
    default:
      return;
  }
}

/** The tag of an image reference, `latest` when it has neither tag nor digest (kube's ParseImageName). */
export function imageTag(image: string): string {
  const [name = '', digest] = image.split('@');
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon >= 0) return lastSegment.slice(colon + 1);
  return digest ? '' : 'latest';
}

function defaultHTTPGet(action: HTTPGetAction | undefined): void {
  if (!action) return;
  action.path ||= '/';
  action.scheme ||= 'HTTP';
}

function defaultProbe(probe: Probe | undefined): void {
  if (!probe) return;
  probe.timeoutSeconds ||= 1;
  probe.periodSeconds ||= 10;
  probe.successThreshold ||= 1;
  probe.failureThreshold ||= 3;
  defaultHTTPGet(probe.httpGet);
}

function defaultContainer(ctr: Container): void {
  ctr.imagePullPolicy ||= imageTag(ctr.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  ctr.terminationMessagePath ||= '/dev/termination-log';
  ctr.terminationMessagePolicy ||= 'File';
  for (const port of ctr.ports ?? []) port.protocol ||= 'TCP';
  for (const env of ctr.env ?? []) if (env.valueFrom?.fieldRef) env.valueFrom.fieldRef.apiVersion ||= 'v1';
  defaultProbe(ctr.livenessProbe);
  defaultProbe(ctr.readinessProbe);
  defaultProbe(ctr.startupProbe);
  defaultHTTPGet(ctr.lifecycle?.postStart?.httpGet);
  defaultHTTPGet(ctr.lifecycle?.preStop?.httpGet);
}

function defaultVolume(vol: Volume): void {
  const sources = Object.keys(vol).filter((k) => k !== 'name' && vol[k] !== undefined && vol[k] !== null);
  if (sources.length === 0) vol.emptyDir = {};
  if (vol.secret) vol.secret.defaultMode ??= DEFAULT_FILE_MODE;
  if (vol.configMap) vol.configMap.defaultMode ??= DEFAULT_FILE_MODE;
  if (vol.projected) vol.projected.defaultMode ??= DEFAULT_FILE_MODE;
  if (vol.downwardAPI) {
    vol.downwardAPI.defaultMode ??= DEFAULT_FILE_MODE;
    for (const item of vol.downwardAPI.items ?? []) if (item.fieldRef) item.fieldRef.apiVersion ||= 'v1';
  }
  if (vol.hostPath) vol.hostPath.type ??= '';
}

/** Defaults of every PodSpec, in Pods and templates alike (SetDefaults_PodSpec and the nested types). */
function defaultPodSpec(spec: PodSpec): void {
  spec.dnsPolicy ||= 'ClusterFirst';
  spec.restartPolicy ||= 'Always';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ||= 'default-scheduler';
  for (const vol of spec.volumes ?? []) defaultVolume(vol);
  for (const ctr of spec.containers ?? []) defaultContainer(ctr);
  for (const ctr of spec.initContainers ?? []) defaultContainer(ctr);
}

/** Requests default to limits for every resource with a limit and no request (SetDefaults_Pod). */
function defaultRequestsFromLimits(ctr: Container): void {
  const limits = ctr.resources?.limits;
  if (!limits || !ctr.resources) return;
  const requests: ResourceList = (ctr.resources.requests ??= {});
  for (const [name, value] of Object.entries(limits)) if (!(name in requests)) requests[name] = value;
}

/** kube's QoS class of a pod: BestEffort without cpu/memory requests or limits, Guaranteed when every container's requests equal full limits. */
export function computeQOSClass(spec: PodSpec): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requests = new Map<string, bigint>();
  const limits = new Map<string, bigint>();
  let guaranteed = true;
  for (const ctr of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const [name, value] of Object.entries(ctr.resources?.requests ?? {})) {
      const q = parseQuantity(value);
      if ((name === 'cpu' || name === 'memory') && q !== undefined && q > 0n) requests.set(name, (requests.get(name) ?? 0n) + q);
    }
    const found = new Set<string>();
    for (const [name, value] of Object.entries(ctr.resources?.limits ?? {})) {
      const q = parseQuantity(value);
      if ((name === 'cpu' || name === 'memory') && q !== undefined && q > 0n) {
        found.add(name);
        limits.set(name, (limits.get(name) ?? 0n) + q);
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) for (const [name, request] of requests) if (limits.get(name) !== request) guaranteed = false;
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

function defaultPod(pod: Pod): void {
  const spec = (pod.spec ??= { containers: [] });
  for (const ctr of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) defaultRequestsFromLimits(ctr);
  defaultPodSpec(spec);
  spec.enableServiceLinks ??= true;
  if (spec.hostNetwork) {
    for (const ctr of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      for (const port of ctr.ports ?? []) port.hostPort ||= port.containerPort;
    }
  }
  if (spec.priority === undefined) {
    const classPriority = spec.priorityClassName ? SYSTEM_PRIORITY_CLASSES[spec.priorityClassName] : 0;
    if (classPriority !== undefined) spec.priority = classPriority;
  }
  if (spec.priority !== undefined) spec.preemptionPolicy ??= 'PreemptLowerPriority';
  const status = (pod.status ??= {});
  status.phase ??= 'Pending';
  status.qosClass ??= computeQOSClass(spec);
}

function defaultReplicationController(rc: ReplicationController): void {
  const spec = (rc.spec ??= {});
  const labels = spec.template?.metadata?.labels;
  if (labels) {
    if (Object.keys(spec.selector ?? {}).length === 0) spec.selector = { ...labels };
    const meta = (rc.metadata ??= {});
    if (Object.keys(meta.labels ?? {}).length === 0) meta.labels = { ...labels };
  }
  spec.replicas ??= 1;
  if (spec.template?.spec) defaultPodSpec(spec.template.spec);
}

function defaultService(svc: Service): void {
  const spec = (svc.spec ??= {});
  spec.sessionAffinity ||= 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds === undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  spec.type ||= 'ClusterIP';
  for (const port of spec.ports ?? []) {
    port.protocol ||= 'TCP';
    if (port.targetPort === undefined || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port;
  }
  const external = spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && (spec.externalIPs?.length ?? 0) > 0);
  if (external) spec.externalTrafficPolicy ||= 'Cluster';
  if (['ClusterIP', 'NodePort', 'LoadBalancer'].includes(spec.type)) spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') {
    spec.allocateLoadBalancerNodePorts ??= true;
    for (const ingress of svc.status?.loadBalancer?.ingress ?? []) if (ingress.ip) ingress.ipMode ??= 'VIP';
  }
  // kube's service storage keeps clusterIP and clusterIPs[0] in sync before validating — for
  // every type: an ExternalName Service given a cluster IP is refused for `spec.clusterIPs`.
  if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
  else if (!spec.clusterIP && spec.clusterIPs?.length) spec.clusterIP = spec.clusterIPs[0];
  if (spec.type !== 'ExternalName') {
    // Set by kube's IP allocator: headless selector-less Services are dual-stack when possible.
    const headlessWithoutSelector = spec.clusterIP === 'None' && Object.keys(spec.selector ?? {}).length === 0;
    spec.ipFamilyPolicy ??= headlessWithoutSelector ? 'RequireDualStack' : 'SingleStack';
  }
}

function defaultNamespace(ns: Namespace): void {
  const name = ns.metadata?.name;
  if (name && ns.metadata) ns.metadata.labels = { ...ns.metadata.labels, 'kubernetes.io/metadata.name': name };
  const spec = (ns.spec ??= {});
  spec.finalizers ??= ['kubernetes'];
  const status = (ns.status ??= {});
  status.phase ??= 'Active';
}

function defaultNode(node: Node): void {
  const spec = (node.spec ??= {});
  if (spec.podCIDR && !spec.podCIDRs?.length) spec.podCIDRs = [spec.podCIDR];
  else if (!spec.podCIDR && spec.podCIDRs?.length) spec.podCIDR = spec.podCIDRs[0];
  const status = node.status;
  if (status?.capacity && !status.allocatable) status.allocatable = { ...status.capacity };
}

function defaultSecret(secret: Secret): void {
  secret.type ||= 'Opaque';
  if (secret.stringData) {
    // kube's conversion: stringData is write-only and overrides data key by key.
    secret.data = { ...secret.data };
    for (const [k, v] of Object.entries(secret.stringData)) secret.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    delete secret.stringData;
  }
}

function defaultEndpoints(endpoints: Endpoints): void {
  for (const subset of endpoints.subsets ?? []) for (const port of subset.ports ?? []) port.protocol ||= 'TCP';
}

/** kube's SetDefaults_EndpointPort: an absent port name is '', an absent protocol TCP. */
function defaultEndpointSlice(slice: EndpointSlice): void {
  for (const port of slice.ports ?? []) {
    port.name ??= '';
    port.protocol ??= 'TCP';
  }
}

function defaultCRD(crd: CustomResourceDefinition): void {
  const spec = crd.spec;
  if (!spec) return;
  const names = (spec.names ??= { plural: '', kind: '' });
  names.singular ||= (names.kind ?? '').toLowerCase();
  if (!names.listKind && names.kind) names.listKind = `${names.kind}List`;
  spec.conversion ??= { strategy: 'None' };
  const service = spec.conversion.webhook?.clientConfig?.service;
  if (service) service.port ??= 443;
  const status = (crd.status ??= {});
  if (!status.storedVersions?.length) {
    const storage = (spec.versions ?? []).find((v) => v.storage);
    if (storage) status.storedVersions = [storage.name];
  }
}
