/**
 * core/v1 Pod types (PodSpec, Container, volumes, scheduling constraints, PodStatus) in
 * Kubernetes' JSON shape. Re-exported by `types/core.ts`; split out only to keep files short.
 * Timestamps are RFC 3339 strings; quantities `string | number`; IntOrString `number | string`.
 */
import type { LabelSelector, ObjectMeta } from '../meta.js';

/** A resource quantity as it appears in JSON: `"100m"`, `"1Gi"`, or a bare number. */
export type Quantity = string | number;

/** Kubernetes' IntOrString (ports, probe ports, targetPort). */
export type IntOrString = number | string;

/** A map from resource name (`cpu`, `memory`, …) to quantity. */
export type ResourceList = Record<string, Quantity>;

/** A reference to an object in the same namespace by name. */
export interface LocalObjectReference {
  name?: string;
}

/** A port a container listens on. */
export interface ContainerPort {
  name?: string;
  hostPort?: number;
  containerPort: number;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: 'TCP' | 'UDP' | 'SCTP' | string;
  hostIP?: string;
}

/** Selects a field of the pod (downward API): `metadata.name`, `status.podIP`, … */
export interface ObjectFieldSelector {
  /** Defaults to `v1`. */
  apiVersion?: string;
  fieldPath: string;
}

/** Selects a container resource (downward API): `limits.cpu`, `requests.memory`, … */
export interface ResourceFieldSelector {
  containerName?: string;
  resource: string;
  divisor?: Quantity;
}

/** Selects a key of a ConfigMap. */
export interface ConfigMapKeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

/** Selects a key of a Secret. */
export interface SecretKeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

/** Where an environment variable's value comes from (exactly one source). */
export interface EnvVarSource {
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  configMapKeyRef?: ConfigMapKeySelector;
  secretKeyRef?: SecretKeySelector;
}

/** One environment variable of a container. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}

/** Imports every key of a ConfigMap or Secret as environment variables. */
export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

/** Compute resource requests and limits of a container. */
export interface ResourceRequirements {
  limits?: ResourceList;
  requests?: ResourceList;
  claims?: { name: string; request?: string }[];
}

/** Where a volume is mounted in a container. */
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  subPathExpr?: string;
  mountPropagation?: 'None' | 'HostToContainer' | 'Bidirectional' | string;
  recursiveReadOnly?: string;
}

/** Runs a command in the container. */
export interface ExecAction {
  command?: string[];
}

/** One header of an HTTP probe. */
export interface HTTPHeader {
  name: string;
  value: string;
}

/** An HTTP GET probe or hook. */
export interface HTTPGetAction {
  /** Defaults to `/`. */
  path?: string;
  port: IntOrString;
  host?: string;
  /** `HTTP` (default) or `HTTPS`. */
  scheme?: 'HTTP' | 'HTTPS' | string;
  httpHeaders?: HTTPHeader[];
}

/** A TCP connect probe or hook. */
export interface TCPSocketAction {
  port: IntOrString;
  host?: string;
}

/** A gRPC health-check probe. */
export interface GRPCAction {
  port: number;
  service?: string;
}

/** A pause in a lifecycle hook. */
export interface SleepAction {
  seconds: number;
}

/** A liveness, readiness or startup probe (exactly one handler). */
export interface Probe {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: GRPCAction;
  initialDelaySeconds?: number;
  /** Defaults to 1. */
  timeoutSeconds?: number;
  /** Defaults to 10. */
  periodSeconds?: number;
  /** Defaults to 1 (must be 1 for liveness and startup probes). */
  successThreshold?: number;
  /** Defaults to 3. */
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** A postStart or preStop hook (exactly one handler). */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  sleep?: SleepAction;
}

/** A container's lifecycle hooks. */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
  stopSignal?: string;
}

/** Container-level security settings (kept loose: passed through, lightly validated). */
export interface SecurityContext {
  privileged?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  [field: string]: unknown;
}

/** Pod-level security settings (kept loose). */
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
  [field: string]: unknown;
}

/** One container of a pod (regular or init). */
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: ResourceRequirements;
  volumeMounts?: VolumeMount[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  /** Defaults to `/dev/termination-log`. */
  terminationMessagePath?: string;
  /** `File` (default) or `FallbackToLogsOnError`. */
  terminationMessagePolicy?: 'File' | 'FallbackToLogsOnError' | string;
  /** Defaults to `Always` for `:latest` or untagged images, else `IfNotPresent`. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never' | string;
  /** Only for init containers: `Always` makes it a sidecar. */
  restartPolicy?: 'Always' | string;
  securityContext?: SecurityContext;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

/** Maps a key of a ConfigMap or Secret to a file path in a volume. */
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

/** A volume populated from a ConfigMap. */
export interface ConfigMapVolumeSource {
  name?: string;
  items?: KeyToPath[];
  /** Defaults to 0644 (420). */
  defaultMode?: number;
  optional?: boolean;
}

/** A volume populated from a Secret. */
export interface SecretVolumeSource {
  secretName?: string;
  items?: KeyToPath[];
  /** Defaults to 0644 (420). */
  defaultMode?: number;
  optional?: boolean;
}

/** A scratch directory that lives as long as the pod. */
export interface EmptyDirVolumeSource {
  medium?: '' | 'Memory' | string;
  sizeLimit?: Quantity;
}

/** A file or directory of the node, mounted into the pod. */
export interface HostPathVolumeSource {
  path: string;
  /** Defaults to `""` (no check). */
  type?: string;
}

/** One file of a downward API volume. */
export interface DownwardAPIVolumeFile {
  path: string;
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  mode?: number;
}

/** A volume exposing pod fields as files. */
export interface DownwardAPIVolumeSource {
  items?: DownwardAPIVolumeFile[];
  /** Defaults to 0644 (420). */
  defaultMode?: number;
}

/** A volume bound to a PersistentVolumeClaim. */
export interface PersistentVolumeClaimVolumeSource {
  claimName: string;
  readOnly?: boolean;
}

/** A volume projecting several sources into one directory (kept loose). */
export interface ProjectedVolumeSource {
  sources?: Record<string, unknown>[];
  defaultMode?: number;
}

/** A named volume of a pod; exactly one source field is set. */
export interface Volume {
  name: string;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  emptyDir?: EmptyDirVolumeSource;
  hostPath?: HostPathVolumeSource;
  downwardAPI?: DownwardAPIVolumeSource;
  persistentVolumeClaim?: PersistentVolumeClaimVolumeSource;
  projected?: ProjectedVolumeSource;
  [source: string]: unknown;
}

/** One requirement of a node selector term. */
export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt' | string;
  values?: string[];
}

/** A term of a node selector: all its requirements must hold (AND). */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** A node selector: any of its terms may hold (OR). */
export interface NodeSelector {
  nodeSelectorTerms: NodeSelectorTerm[];
}

/** A weighted node preference. */
export interface PreferredSchedulingTerm {
  weight: number;
  preference: NodeSelectorTerm;
}

/** Node affinity: hard and soft node constraints. */
export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector;
  preferredDuringSchedulingIgnoredDuringExecution?: PreferredSchedulingTerm[];
}

/** A set of pods (by label and namespace) that must be co-located within a topology domain. */
export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  topologyKey: string;
  namespaceSelector?: LabelSelector;
  matchLabelKeys?: string[];
  mismatchLabelKeys?: string[];
}

/** A weighted pod affinity term. */
export interface WeightedPodAffinityTerm {
  weight: number;
  podAffinityTerm: PodAffinityTerm;
}

/** Pod affinity: be near pods matching the terms. */
export interface PodAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedPodAffinityTerm[];
}

/** Pod anti-affinity: stay away from pods matching the terms. */
export interface PodAntiAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedPodAffinityTerm[];
}

/** The scheduling affinity rules of a pod. */
export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAffinity?: PodAffinity;
  podAntiAffinity?: PodAntiAffinity;
}

/** Lets a pod be scheduled onto (or stay on) nodes with a matching taint. */
export interface Toleration {
  /** Empty with operator `Exists` tolerates every taint. */
  key?: string;
  /** `Equal` (the default when empty) or `Exists`. */
  operator?: 'Equal' | 'Exists' | string;
  value?: string;
  /** Empty matches every effect. */
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | string;
  /** Only with effect `NoExecute`: how long the pod stays bound after the taint appears. */
  tolerationSeconds?: number;
}

/** How pods are spread across topology domains. */
export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway' | string;
  labelSelector?: LabelSelector;
  minDomains?: number;
  nodeAffinityPolicy?: 'Honor' | 'Ignore' | string;
  nodeTaintsPolicy?: 'Honor' | 'Ignore' | string;
  matchLabelKeys?: string[];
}

/** An extra condition the pod's readiness depends on. */
export interface PodReadinessGate {
  conditionType: string;
}

/** DNS settings merged with those from `dnsPolicy`. */
export interface PodDNSConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

/** An /etc/hosts entry. */
export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

/** The desired state of a pod. */
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: Affinity;
  tolerations?: Toleration[];
  topologySpreadConstraints?: TopologySpreadConstraint[];
  /** `Always` (default), `OnFailure` or `Never`. */
  restartPolicy?: 'Always' | 'OnFailure' | 'Never' | string;
  /** Defaults to 30. */
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  /** `ClusterFirst` (default), `ClusterFirstWithHostNet`, `Default` or `None`. */
  dnsPolicy?: 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None' | string;
  dnsConfig?: PodDNSConfig;
  serviceAccountName?: string;
  /** Deprecated alias of serviceAccountName. */
  serviceAccount?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostAliases?: HostAlias[];
  /** Defaults to `default-scheduler`. */
  schedulerName?: string;
  priority?: number;
  priorityClassName?: string;
  preemptionPolicy?: 'PreemptLowerPriority' | 'Never' | string;
  readinessGates?: PodReadinessGate[];
  hostname?: string;
  subdomain?: string;
  /** Defaults to true. */
  enableServiceLinks?: boolean;
  securityContext?: PodSecurityContext;
  imagePullSecrets?: LocalObjectReference[];
  runtimeClassName?: string;
  overhead?: ResourceList;
  schedulingGates?: { name: string }[];
}

/** A condition of a pod (`PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, …). */
export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

/** One IP address of a pod or of its host. */
export interface PodIP {
  ip: string;
}

/** A container that is running. */
export interface ContainerStateRunning {
  startedAt?: string;
}

/** A container that is not running yet. */
export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

/** A container that has exited. */
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

/** A container's state: exactly one member is set. */
export interface ContainerState {
  running?: ContainerStateRunning;
  waiting?: ContainerStateWaiting;
  terminated?: ContainerStateTerminated;
}

/** The observed state of one container. */
export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  image: string;
  imageID: string;
  containerID?: string;
}

/** The observed state of a pod. */
export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  conditions?: PodCondition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  hostIPs?: PodIP[];
  podIP?: string;
  podIPs?: PodIP[];
  startTime?: string;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort';
  nominatedNodeName?: string;
}

/** A pod template: the metadata and spec of pods a controller creates. */
export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec?: PodSpec;
}
