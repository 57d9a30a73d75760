/**
 * Kind validation, one row per kube rule: each row builds a defaulted valid object, breaks one
 * thing, and expects a cause with kube's exact field path, cause type and message.
 */
import { expect } from 'chai';
import { applyDefaults } from '../../lib/api/defaults.js';
import { fieldErrorBody, type CauseType, type FieldError } from '../../lib/api/errors.js';
import type { Binding, ConfigMap, CustomResourceDefinition, Endpoints, EndpointSlice, Event, Lease, Namespace, Node, Pod, ReplicationController, Secret, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { nameValidatorFor, validateCreate, validateStatusUpdate, validateUpdate } from '../../lib/api/kind-validation/index.js';
import { POD_UPDATE_FORBIDDEN_MESSAGE } from '../../lib/api/kind-validation/pod.js';

/** A defaulted copy of `obj`, then `mutate` applied (so a broken value is not defaulted away). */
function make<T extends KubeObject>(obj: T, mutate?: (o: T) => void): T {
  const copy = structuredClone(obj);
  applyDefaults(copy);
  mutate?.(copy);
  return copy;
}

const POD: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', resourceVersion: '1' },
  spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] },
};
const RC: ReplicationController = {
  apiVersion: 'v1',
  kind: 'ReplicationController',
  metadata: { name: 'web', namespace: 'default' },
  spec: { replicas: 2, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } },
};
const SVC: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
const NODE: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.244.1.0/24' }, status: { capacity: { cpu: '4', memory: '8Gi' } } };
const CM: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { 'app.conf': 'x=1' } };
const SECRET: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, data: { password: 'aHVudGVyMg==' } };
const NS: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } };
const EVENT: Event = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web.1', namespace: 'default' },
  involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
  reason: 'Started',
};
const ENDPOINTS: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.1.0.5' }], ports: [{ port: 80 }] }] };
const LEASE: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader', namespace: 'default' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } };
const SLICE: EndpointSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, nodeName: 'n1', hostname: 'web-0', hints: { forZones: [{ name: 'z1' }] } }],
  ports: [{ name: 'http', port: 80 }, { name: 'metrics' }],
};
const slice0 = (s: EndpointSlice) => s.endpoints![0]!;
const CRD: CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    names: { plural: 'widgets', kind: 'Widget' },
    scope: 'Namespaced',
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } } }],
  },
};
const BINDING: Binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web', namespace: 'default' }, target: { kind: 'Node', name: 'n1' } };

const DNS_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

interface Row {
  rule: string;
  errors: () => FieldError[];
  field: string;
  type: CauseType;
  message: string;
}

const create = (obj: KubeObject) => () => validateCreate(obj);
const update = (obj: KubeObject, old: KubeObject) => () => validateUpdate(obj, old);
const status = (obj: KubeObject, old: KubeObject) => () => validateStatusUpdate(obj, old);
const ctr0 = (p: Pod) => p.spec!.containers[0]!;

const rows: Row[] = [
  // Pod
  { rule: 'a pod needs containers', errors: create(make(POD, (p) => (p.spec!.containers = []))), field: 'spec.containers', type: 'FieldValueRequired', message: 'Required value' },
  { rule: 'a container needs a name', errors: create(make(POD, (p) => (ctr0(p).name = ''))), field: 'spec.containers[0].name', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'container names are DNS labels',
    errors: create(make(POD, (p) => (ctr0(p).name = 'Web_1'))),
    field: 'spec.containers[0].name',
    type: 'FieldValueInvalid',
    message: `Invalid value: "Web_1": ${DNS_LABEL_MSG}`,
  },
  {
    rule: 'container names are unique',
    errors: create(make(POD, (p) => p.spec!.containers.push({ ...structuredClone(ctr0(p)), ports: [] }))),
    field: 'spec.containers[1].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: "web"',
  },
  { rule: 'a container needs an image', errors: create(make(POD, (p) => delete ctr0(p).image)), field: 'spec.containers[0].image', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'containerPort is 1-65535',
    errors: create(make(POD, (p) => (ctr0(p).ports![0]!.containerPort = 70000))),
    field: 'spec.containers[0].ports[0].containerPort',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 70000: must be between 1 and 65535, inclusive',
  },
  { rule: 'containerPort is required', errors: create(make(POD, (p) => (ctr0(p).ports![0]!.containerPort = 0))), field: 'spec.containers[0].ports[0].containerPort', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'container port protocol is TCP, UDP or SCTP',
    errors: create(make(POD, (p) => (ctr0(p).ports![0]!.protocol = 'HTTP'))),
    field: 'spec.containers[0].ports[0].protocol',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
  },
  {
    rule: 'restartPolicy is Always, OnFailure or Never',
    errors: create(make(POD, (p) => (p.spec!.restartPolicy = 'Sometimes'))),
    field: 'spec.restartPolicy',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  },
  {
    rule: 'dnsPolicy is a known policy',
    errors: create(make(POD, (p) => (p.spec!.dnsPolicy = 'Bogus'))),
    field: 'spec.dnsPolicy',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Bogus": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
  },
  {
    rule: 'a volume mount names an existing volume',
    errors: create(make(POD, (p) => (ctr0(p).volumeMounts = [{ name: 'data', mountPath: '/data' }]))),
    field: 'spec.containers[0].volumeMounts[0].name',
    type: 'FieldValueNotFound',
    message: 'Not found: "data"',
  },
  {
    rule: 'a volume has one source',
    errors: create(make(POD, (p) => (p.spec!.volumes = [{ name: 'v', secret: { secretName: 's', defaultMode: 420 }, configMap: { name: 'c', defaultMode: 420 } }]))),
    field: 'spec.volumes[0].configMap',
    type: 'FieldValueForbidden',
    message: 'Forbidden: may not specify more than 1 volume type',
  },
  {
    rule: 'volume names are unique',
    errors: create(make(POD, (p) => (p.spec!.volumes = [{ name: 'v', emptyDir: {} }, { name: 'v', emptyDir: {} }]))),
    field: 'spec.volumes[1].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: "v"',
  },
  {
    rule: 'env valueFrom excludes value',
    errors: create(make(POD, (p) => (ctr0(p).env = [{ name: 'A', value: 'x', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }]))),
    field: 'spec.containers[0].env[0].valueFrom',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "": may not be specified when `value` is not empty',
  },
  {
    rule: 'env fieldRef supports only the env downward API paths',
    errors: create(make(POD, (p) => (ctr0(p).env = [{ name: 'A', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.phase' } } }]))),
    field: 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath',
    type: 'FieldValueNotSupported',
    message:
      'Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
  },
  {
    rule: 'requests are at most limits',
    errors: create(make(POD, (p) => (ctr0(p).resources = { limits: { cpu: '1' }, requests: { cpu: '2' } }))),
    field: 'spec.containers[0].resources.requests',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "2": must be less than or equal to cpu limit of 1',
  },
  {
    rule: 'resource quantities are not negative',
    errors: create(make(POD, (p) => (ctr0(p).resources = { limits: { memory: '-1Gi' } }))),
    field: 'spec.containers[0].resources.limits[memory]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "-1Gi": must be greater than or equal to 0',
  },
  {
    rule: 'liveness successThreshold must be 1',
    errors: create(make(POD, (p) => (ctr0(p).livenessProbe = { tcpSocket: { port: 80 }, successThreshold: 2, timeoutSeconds: 1, periodSeconds: 10, failureThreshold: 3 }))),
    field: 'spec.containers[0].livenessProbe.successThreshold',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 2: must be 1',
  },
  {
    rule: 'a probe needs a handler',
    errors: create(make(POD, (p) => (ctr0(p).readinessProbe = { periodSeconds: 10 }))),
    field: 'spec.containers[0].readinessProbe',
    type: 'FieldValueRequired',
    message: 'Required value: must specify a handler type',
  },
  {
    rule: "toleration operator Exists takes no value",
    errors: create(make(POD, (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Exists', value: 'x' }]))),
    field: 'spec.tolerations[0].operator',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "x": value must be empty when `operator` is \'Exists\'',
  },
  {
    rule: 'tolerationSeconds requires effect NoExecute',
    errors: create(make(POD, (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]))),
    field: 'spec.tolerations[0].effect',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "NoSchedule": effect must be \'NoExecute\' when `tolerationSeconds` is set',
  },
  {
    rule: 'toleration effect is a taint effect',
    errors: create(make(POD, (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'Never' }]))),
    field: 'spec.tolerations[0].effect',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
  },
  {
    rule: 'activeDeadlineSeconds is positive',
    errors: create(make(POD, (p) => (p.spec!.activeDeadlineSeconds = 0))),
    field: 'spec.activeDeadlineSeconds',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 0: must be between 1 and 2147483647, inclusive',
  },
  {
    rule: 'required node affinity needs a term',
    errors: create(make(POD, (p) => (p.spec!.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }))),
    field: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms',
    type: 'FieldValueRequired',
    message: 'Required value: must have at least one node selector term',
  },
  {
    rule: 'pod anti-affinity weights are 1-100',
    errors: create(
      make(POD, (p) => (p.spec!.affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] } })),
    ),
    field: 'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 0: must be in the range 1-100',
  },
  {
    rule: 'topology spread maxSkew is positive',
    errors: create(make(POD, (p) => (p.spec!.topologySpreadConstraints = [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]))),
    field: 'spec.topologySpreadConstraints[0].maxSkew',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 0: must be greater than zero',
  },
  {
    rule: 'with hostNetwork, hostPort equals containerPort',
    errors: create(make(POD, (p) => ((p.spec!.hostNetwork = true), (ctr0(p).ports![0]!.hostPort = 8080)))),
    field: 'spec.containers[0].ports[0].hostPort',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 8080: must match `containerPort` when `hostNetwork` is true',
  },
  {
    rule: 'plain init containers take no probes',
    errors: create(make(POD, (p) => (p.spec!.initContainers = [{ name: 'init', image: 'busybox', imagePullPolicy: 'IfNotPresent', terminationMessagePolicy: 'File', livenessProbe: { exec: { command: ['true'] } } }]))),
    field: 'spec.initContainers[0].livenessProbe',
    type: 'FieldValueForbidden',
    message: 'Forbidden: may not be set for init containers without restartPolicy=Always',
  },
  {
    rule: 'init container names differ from container names',
    errors: create(make(POD, (p) => (p.spec!.initContainers = [{ name: 'web', image: 'busybox', imagePullPolicy: 'IfNotPresent', terminationMessagePolicy: 'File' }]))),
    field: 'spec.initContainers[0].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: "web"',
  },
  {
    rule: 'a pod image has no surrounding whitespace',
    errors: create(make(POD, (p) => (ctr0(p).image = ' nginx'))),
    field: 'spec.containers[0].image',
    type: 'FieldValueInvalid',
    message: 'Invalid value: " nginx": must not have leading or trailing whitespace',
  },
  {
    rule: 'a pod update may not change nodeName',
    errors: update(
      make(POD, (p) => (p.spec!.nodeName = 'node-b')),
      make(POD, (p) => (p.spec!.nodeName = 'node-a')),
    ),
    field: 'spec',
    type: 'FieldValueForbidden',
    message: `Forbidden: ${POD_UPDATE_FORBIDDEN_MESSAGE}\n- spec.nodeName: "node-a"\n+ spec.nodeName: "node-b"`,
  },
  {
    rule: 'a pod update may not add containers',
    errors: update(
      make(POD, (p) => p.spec!.containers.push({ ...structuredClone(ctr0(p)), name: 'sidecar', ports: [] })),
      make(POD),
    ),
    field: 'spec.containers',
    type: 'FieldValueForbidden',
    message: 'Forbidden: pod updates may not add or remove containers',
  },
  {
    rule: 'activeDeadlineSeconds may only decrease',
    errors: update(
      make(POD, (p) => (p.spec!.activeDeadlineSeconds = 60)),
      make(POD, (p) => (p.spec!.activeDeadlineSeconds = 30)),
    ),
    field: 'spec.activeDeadlineSeconds',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 60: must be less than or equal to previous value',
  },
  {
    rule: 'existing tolerations may not change',
    errors: update(
      make(POD, (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Equal', value: 'b' }])),
      make(POD, (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Equal', value: 'a' }])),
    ),
    field: 'spec.tolerations',
    type: 'FieldValueForbidden',
    message: 'Forbidden: existing toleration can not be modified except its tolerationSeconds',
  },
  {
    rule: 'a status update may not move the pod to another node',
    errors: status(
      make(POD, (p) => (p.spec!.nodeName = 'node-b')),
      make(POD, (p) => (p.spec!.nodeName = 'node-a')),
    ),
    field: 'status.nodeName',
    type: 'FieldValueForbidden',
    message: 'Forbidden: may not be changed directly',
  },
  {
    rule: 'the QoS class is immutable',
    errors: status(
      make(POD, (p) => (p.status!.qosClass = 'Guaranteed')),
      make(POD),
    ),
    field: 'status.qosClass',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "Guaranteed": field is immutable',
  },
  { rule: 'a binding names its node', errors: create(make(BINDING, (b) => (b.target = { kind: 'Node' }))), field: 'target.name', type: 'FieldValueRequired', message: 'Required value' },
  // ReplicationController
  { rule: 'RC replicas are not negative', errors: create(make(RC, (r) => (r.spec!.replicas = -1))), field: 'spec.replicas', type: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0' },
  {
    rule: 'RC selector matches the template labels',
    errors: create(make(RC, (r) => (r.spec!.selector = { app: 'db' }))),
    field: 'spec.template.metadata.labels',
    type: 'FieldValueInvalid',
    message: 'Invalid value: {"app":"web"}: `selector` does not match template `labels`',
  },
  {
    rule: 'RC needs a selector',
    errors: create(make(RC, (r) => ((r.spec!.selector = {}), delete r.spec!.template!.metadata))),
    field: 'spec.selector',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    rule: 'RC pods restart Always',
    errors: create(make(RC, (r) => (r.spec!.template!.spec!.restartPolicy = 'Never'))),
    field: 'spec.template.spec.restartPolicy',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Never": supported values: "Always"',
  },
  {
    rule: 'RC status readyReplicas is at most replicas',
    errors: status(
      make(RC, (r) => (r.status = { replicas: 2, readyReplicas: 3, availableReplicas: 0 })),
      make(RC),
    ),
    field: 'status.readyReplicas',
    type: 'FieldValueInvalid',
    message: 'Invalid value: 3: cannot be greater than status.replicas',
  },
  // Service
  { rule: 'service port is 1-65535', errors: create(make(SVC, (s) => (s.spec!.ports![0]!.port = 0))), field: 'spec.ports[0].port', type: 'FieldValueInvalid', message: 'Invalid value: 0: must be between 1 and 65535, inclusive' },
  {
    rule: 'service ports are named when several',
    errors: create(make(SVC, (s) => s.spec!.ports!.push({ name: 'https', port: 443, protocol: 'TCP', targetPort: 443 }))),
    field: 'spec.ports[0].name',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    rule: 'service port names are unique',
    errors: create(make(SVC, (s) => (s.spec!.ports = [{ name: 'web', port: 80, protocol: 'TCP', targetPort: 80 }, { name: 'web', port: 81, protocol: 'TCP', targetPort: 81 }]))),
    field: 'spec.ports[1].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: "web"',
  },
  {
    rule: 'service port names are DNS labels',
    errors: create(make(SVC, (s) => (s.spec!.ports![0]!.name = 'HTTP'))),
    field: 'spec.ports[0].name',
    type: 'FieldValueInvalid',
    message: `Invalid value: "HTTP": ${DNS_LABEL_MSG}`,
  },
  {
    rule: 'service port protocol is TCP, UDP or SCTP',
    errors: create(make(SVC, (s) => (s.spec!.ports![0]!.protocol = 'ICMP'))),
    field: 'spec.ports[0].protocol',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
  },
  {
    rule: 'sessionAffinity is ClientIP or None',
    errors: create(make(SVC, (s) => (s.spec!.sessionAffinity = 'Sticky'))),
    field: 'spec.sessionAffinity',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Sticky": supported values: "ClientIP", "None"',
  },
  {
    rule: 'service type is a known type',
    errors: create(make(SVC, (s) => (s.spec!.type = 'Magic'))),
    field: 'spec.type',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
  },
  { rule: 'a service needs ports unless headless', errors: create(make(SVC, (s) => (s.spec!.ports = []))), field: 'spec.ports', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'ClusterIP services take no nodePort',
    errors: create(make(SVC, (s) => (s.spec!.ports![0]!.nodePort = 30080))),
    field: 'spec.ports[0].nodePort',
    type: 'FieldValueForbidden',
    message: "Forbidden: may not be used when `type` is 'ClusterIP'",
  },
  {
    rule: 'an allocated clusterIP may not change',
    errors: update(
      make(SVC, (s) => ((s.spec!.clusterIP = '10.0.0.2'), (s.spec!.clusterIPs = ['10.0.0.2']))),
      make(SVC, (s) => ((s.spec!.clusterIP = '10.0.0.1'), (s.spec!.clusterIPs = ['10.0.0.1']))),
    ),
    field: 'spec.clusterIPs[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: []string{"10.0.0.2"}: may not change once set',
  },
  {
    rule: 'an ExternalName service needs externalName',
    errors: create(make({ ...SVC, spec: { type: 'ExternalName' } })),
    field: 'spec.externalName',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  // Node
  { rule: 'a taint needs an effect', errors: create(make(NODE, (n) => (n.spec!.taints = [{ key: 'dedicated', effect: '' }]))), field: 'metadata.taints[0].effect', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'podCIDR is a CIDR',
    errors: create(make(NODE, (n) => (n.spec = { podCIDRs: ['10.244.1.0'] }))),
    field: 'spec.podCIDRs[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  },
  {
    rule: 'podCIDRs do not change once set',
    errors: update(
      make(NODE, (n) => (n.spec = { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] })),
      make(NODE),
    ),
    field: 'spec.podCIDRs',
    type: 'FieldValueForbidden',
    message: 'Forbidden: node updates may not change podCIDR except from "" to valid',
  },
  // ConfigMap, Secret
  {
    rule: 'config keys are alphanumeric, - _ or .',
    errors: create(make(CM, (c) => (c.data = { 'a b': 'x' }))),
    field: 'data[a b]',
    type: 'FieldValueInvalid',
    message:
      "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  },
  {
    rule: 'an immutable ConfigMap keeps its data',
    errors: update(
      make(CM, (c) => ((c.immutable = true), (c.data = { 'app.conf': 'x=2' }))),
      make(CM, (c) => (c.immutable = true)),
    ),
    field: 'data',
    type: 'FieldValueForbidden',
    message: 'Forbidden: field is immutable when `immutable` is set',
  },
  {
    rule: 'an immutable ConfigMap stays immutable',
    errors: update(make(CM, (c) => (c.immutable = false)), make(CM, (c) => (c.immutable = true))),
    field: 'immutable',
    type: 'FieldValueForbidden',
    message: 'Forbidden: field is immutable when `immutable` is set',
  },
  {
    rule: 'Secret data is base64',
    errors: create(make(SECRET, (s) => (s.data = { password: 'abc!' }))),
    field: 'data[password]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3',
  },
  { rule: 'a TLS Secret has tls.key', errors: create(make(SECRET, (s) => ((s.type = 'kubernetes.io/tls'), (s.data = { 'tls.crt': 'Y2VydA==' })))), field: 'data[tls.key]', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'a Secret type is immutable',
    errors: update(make(SECRET, (s) => (s.type = 'kubernetes.io/basic-auth')), make(SECRET)),
    field: 'type',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "kubernetes.io/basic-auth": field is immutable',
  },
  {
    rule: 'an immutable Secret keeps its data',
    errors: update(
      make(SECRET, (s) => ((s.immutable = true), (s.data = { password: 'b3RoZXI=' }))),
      make(SECRET, (s) => (s.immutable = true)),
    ),
    field: 'data',
    type: 'FieldValueForbidden',
    message: 'Forbidden: field is immutable when `immutable` is set',
  },
  // Namespace, Event, Endpoints, Lease
  {
    rule: 'namespace finalizers are standard or qualified',
    errors: create(make(NS, (n) => (n.spec = { finalizers: ['foo'] }))),
    field: 'spec.finalizers',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified',
  },
  {
    rule: 'a namespace is Active until deleted',
    errors: status(make(NS, (n) => (n.status = { phase: 'Terminating' })), make(NS)),
    field: 'status.Phase',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "Terminating": may only be \'Active\' if `deletionTimestamp` is empty',
  },
  {
    rule: "an event lives in its object's namespace",
    errors: create(make(EVENT, (e) => (e.involvedObject!.namespace = 'other'))),
    field: 'involvedObject.namespace',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "other": does not match event.namespace',
  },
  {
    rule: 'an endpoints subset has addresses',
    errors: create(make(ENDPOINTS, (e) => delete e.subsets![0]!.addresses)),
    field: 'subsets[0]',
    type: 'FieldValueRequired',
    message: 'Required value: must specify `addresses` or `notReadyAddresses`',
  },
  {
    rule: 'endpoint addresses are not loopback',
    errors: create(make(ENDPOINTS, (e) => (e.subsets![0]!.addresses = [{ ip: '127.0.0.1' }]))),
    field: 'subsets[0].addresses[0].ip',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/16, ::1/128)',
  },
  { rule: 'lease duration is positive', errors: create(make(LEASE, (l) => (l.spec!.leaseDurationSeconds = 0))), field: 'spec.leaseDurationSeconds', type: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than 0' },
  {
    rule: 'lease transitions are not negative',
    errors: create(make(LEASE, (l) => (l.spec!.leaseTransitions = -1))),
    field: 'spec.leaseTransitions',
    type: 'FieldValueInvalid',
    message: 'Invalid value: -1: must be greater than or equal to 0',
  },
  // EndpointSlice
  { rule: 'a slice has an address type', errors: create(make(SLICE, (s) => delete s.addressType)), field: 'addressType', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'a slice address type is IPv4, IPv6 or FQDN',
    errors: create(make(SLICE, (s) => (s.addressType = 'IP' as EndpointSlice['addressType']))),
    field: 'addressType',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"',
  },
  {
    rule: 'a slice address type is immutable',
    errors: update(make(SLICE, (s) => (s.addressType = 'IPv6')), make(SLICE)),
    field: 'addressType',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "IPv6": field is immutable',
  },
  {
    rule: 'a slice has at most 1000 endpoints',
    errors: create(make(SLICE, (s) => (s.endpoints = Array.from({ length: 1001 }, () => ({ addresses: ['10.1.0.5'] }))))),
    field: 'endpoints',
    type: 'FieldValueTooMany',
    message: 'Too many: 1001: must have at most 1000 items',
  },
  {
    rule: 'an endpoint has an address',
    errors: create(make(SLICE, (s) => (slice0(s).addresses = []))),
    field: 'endpoints[0].addresses',
    type: 'FieldValueRequired',
    message: 'Required value: must contain at least 1 address',
  },
  {
    rule: 'an endpoint has at most 100 addresses',
    errors: create(make(SLICE, (s) => (slice0(s).addresses = Array.from({ length: 101 }, (_, i) => `10.1.${i}.5`)))),
    field: 'endpoints[0].addresses',
    type: 'FieldValueTooMany',
    message: 'Too many: 101: must have at most 100 items',
  },
  {
    rule: 'IPv4 slice addresses are IPv4',
    errors: create(make(SLICE, (s) => (slice0(s).addresses = ['fd00::1']))),
    field: 'endpoints[0].addresses[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "fd00::1": must be a valid IPv4 address',
  },
  {
    rule: 'IPv6 slice addresses are IPv6',
    errors: create(make(SLICE, (s) => (s.addressType = 'IPv6'))),
    field: 'endpoints[0].addresses[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "10.1.0.5": must be a valid IPv6 address',
  },
  {
    rule: 'slice addresses are not loopback',
    errors: create(make(SLICE, (s) => (slice0(s).addresses = ['127.0.0.1']))),
    field: 'endpoints[0].addresses[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/16, ::1/128)',
  },
  {
    rule: 'FQDN slice addresses have two labels',
    errors: create(make(SLICE, (s) => ((s.addressType = 'FQDN'), (slice0(s).addresses = ['web'])))),
    field: 'endpoints[0].addresses[0]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "web": should be a domain with at least two segments separated by dots',
  },
  {
    rule: 'an endpoint node name is a DNS subdomain',
    errors: create(make(SLICE, (s) => (slice0(s).nodeName = 'N_1'))),
    field: 'endpoints[0].nodeName',
    type: 'FieldValueInvalid',
    message:
      'Invalid value: "N_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')',
  },
  { rule: 'an endpoint hostname is a DNS label', errors: create(make(SLICE, (s) => (slice0(s).hostname = 'Web'))), field: 'endpoints[0].hostname', type: 'FieldValueInvalid', message: `Invalid value: "Web": ${DNS_LABEL_MSG}` },
  {
    rule: 'zone hints are unique',
    errors: create(make(SLICE, (s) => (slice0(s).hints = { forZones: [{ name: 'z1' }, { name: 'z1' }] }))),
    field: 'endpoints[0].hints.forZones[1].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: "z1"',
  },
  {
    rule: 'slice port names are unique (unnamed counts as "")',
    errors: create(make(SLICE, (s) => (s.ports = [{ port: 80 }, { port: 81 }]))),
    field: 'ports[1].name',
    type: 'FieldValueDuplicate',
    message: 'Duplicate value: ""',
  },
  { rule: 'slice port names are DNS labels', errors: create(make(SLICE, (s) => (s.ports![0]!.name = 'Http'))), field: 'ports[0].name', type: 'FieldValueInvalid', message: `Invalid value: "Http": ${DNS_LABEL_MSG}` },
  {
    rule: 'slice port protocol is TCP, UDP or SCTP',
    errors: create(make(SLICE, (s) => (s.ports![0]!.protocol = 'HTTP'))),
    field: 'ports[0].protocol',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
  },
  // CustomResourceDefinition
  {
    rule: 'a CRD group has a dot',
    errors: create(make(CRD, (c) => (c.spec!.group = 'example'))),
    field: 'spec.group',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "example": should be a domain with at least one dot',
  },
  {
    rule: 'a CRD scope is Cluster or Namespaced',
    errors: create(make(CRD, (c) => (c.spec!.scope = 'Global'))),
    field: 'spec.scope',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
  },
  {
    rule: 'a CRD version has a schema',
    errors: create(make(CRD, (c) => delete c.spec!.versions[0]!.schema)),
    field: 'spec.versions[0].schema.openAPIV3Schema',
    type: 'FieldValueRequired',
    message: 'Required value: schemas are required',
  },
  {
    rule: 'a CRD schema is an object at the root',
    errors: create(make(CRD, (c) => (c.spec!.versions[0]!.schema = { openAPIV3Schema: { type: 'string' } }))),
    field: 'spec.versions[0].schema.openAPIV3Schema.type',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "string": must be object at the root',
  },
  {
    rule: 'CRD schema fields have a type',
    errors: create(make(CRD, (c) => (c.spec!.versions[0]!.schema = { openAPIV3Schema: { type: 'object', properties: { spec: {} } } }))),
    field: 'spec.versions[0].schema.openAPIV3Schema.properties[spec].type',
    type: 'FieldValueRequired',
    message: 'Required value: must not be empty for specified object fields',
  },
  { rule: 'a CRD names its kind', errors: create(make(CRD, (c) => (c.spec!.names.kind = ''))), field: 'spec.names.kind', type: 'FieldValueRequired', message: 'Required value' },
  {
    rule: 'a v1 CRD may not preserve unknown fields',
    errors: create(make(CRD, (c) => (c.spec!.preserveUnknownFields = true))),
    field: 'spec.preserveUnknownFields',
    type: 'FieldValueInvalid',
    message: 'Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead',
  },
  {
    rule: 'a CRD group never changes',
    errors: update(make(CRD, (c) => (c.spec!.group = 'other.com')), make(CRD)),
    field: 'spec.group',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "other.com": field is immutable',
  },
  {
    rule: 'a previously stored version stays in spec.versions',
    errors: update(
      make(CRD, (c) => (c.spec!.versions[0]!.name = 'v2')),
      make(CRD),
    ),
    field: 'status.storedVersions[0]',
    type: 'FieldValueInvalid',
    message:
      'Invalid value: "v1": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage ' +
      'migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions',
  },
  {
    rule: 'a CRD without a storage version has no stored version',
    errors: create(make(CRD, (c) => ((c.spec!.versions[0]!.storage = false), delete c.status))),
    field: 'status.storedVersions',
    type: 'FieldValueInvalid',
    message: 'Invalid value: []: must have at least one stored version',
  },
];

/** The versions list rendered as in the storage-version row's message. */
function twoStorageVersions(c: CustomResourceDefinition): void {
  c.spec!.versions.push({ ...structuredClone(c.spec!.versions[0]!), name: 'v2' });
}
const twoStorage = make(CRD, twoStorageVersions);
rows.push({
  rule: 'a CRD has exactly one storage version',
  errors: create(twoStorage),
  field: 'spec.versions',
  type: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(twoStorage.spec!.versions)}: must have exactly one version marked as storage version`,
});

function describeErrors(errs: readonly FieldError[]): string {
  return errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`).join('\n');
}

describe('kind validation', () => {
  describe('rules (one row per kube rule)', () => {
    for (const row of rows) {
      it(row.rule, () => {
        const errs = row.errors();
        const match = errs.find((e) => e.field === row.field && e.type === row.type && fieldErrorBody(e) === row.message);
        expect(match, `expected ${row.field}: ${row.message}\n got:\n${describeErrors(errs)}`).to.not.equal(undefined);
      });
    }
  });

  describe('valid objects (defaulted) have no errors', () => {
    const valid: Record<string, KubeObject> = { POD, RC, SVC, NODE, CM, SECRET, NS, EVENT, ENDPOINTS, SLICE, LEASE, CRD, BINDING };
    for (const [name, obj] of Object.entries(valid)) {
      it(`${name}: create, update to itself, status update to itself`, () => {
        const o = make(obj);
        expect(describeErrors(validateCreate(o))).to.equal('');
        expect(describeErrors(validateUpdate(o, structuredClone(o)))).to.equal('');
        expect(describeErrors(validateStatusUpdate(o, structuredClone(o)))).to.equal('');
      });
    }
    it('a pod update may change images, add tolerations, and shorten activeDeadlineSeconds', () => {
      const old = make(POD, (p) => (p.spec!.activeDeadlineSeconds = 60));
      const next = make(POD, (p) => {
        ctr0(p).image = 'nginx:1.26';
        p.spec!.activeDeadlineSeconds = 30;
        p.spec!.tolerations = [{ key: 'k', operator: 'Exists' }];
      });
      expect(describeErrors(validateUpdate(next, old))).to.equal('');
    });
    it('quantities compare by value on pod updates (1000m = 1)', () => {
      const old = make(POD, (p) => (ctr0(p).resources = { limits: { cpu: '1' }, requests: { cpu: '1' } }));
      const next = make(POD, (p) => (ctr0(p).resources = { limits: { cpu: '1000m' }, requests: { cpu: '1' } }));
      expect(describeErrors(validateUpdate(next, old))).to.equal('');
    });
    it('a CRD is valid without status, as the registry strips it before validating a create', () => {
      expect(describeErrors(validateCreate(make(CRD, (c) => delete c.status)))).to.equal('');
    });
    it('unknown kinds validate to nothing', () => {
      expect(validateCreate({ apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP', metadata: { name: 'x' } })).to.deep.equal([]);
    });
  });

  describe('nameValidatorFor', () => {
    it('Namespace names are DNS labels', () => {
      expect(nameValidatorFor(NS)('a.b', false)).to.deep.equal(['must not contain dots']);
    });
    it('Service names are DNS-1035 labels', () => {
      expect(nameValidatorFor(SVC)('1web', false)).to.have.length(1);
      expect(nameValidatorFor(SVC)('web', false)).to.deep.equal([]);
    });
    it('a CRD is named <plural>.<group>', () => {
      expect(nameValidatorFor(CRD)('widgets.example.com', false)).to.deep.equal([]);
      expect(nameValidatorFor(CRD)('gadgets.example.com', false)).to.deep.equal(['must be spec.names.plural+"."+spec.group']);
    });
    it('other kinds are DNS subdomains', () => {
      expect(nameValidatorFor(POD)('web.v1', false)).to.deep.equal([]);
      expect(nameValidatorFor(POD)('Web', false)).to.have.length(1);
    });
  });
});
