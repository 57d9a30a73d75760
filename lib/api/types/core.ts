/**
 * core/v1 types in Kubernetes' JSON shape: Node, Service, Endpoints, ReplicationController,
 * Namespace, Event and the references they share. The Pod types live in `./pod.ts` and are
 * re-exported here, so every core/v1 type is importable from this one module.
 */
import type { Condition } from '../meta.js';
import type { IntOrString, PodTemplateSpec, ResourceList } from './pod.js';

/** The Pod types (PodSpec, Container, PodStatus, …). */
export * from './pod.js';

/** A node taint: repels pods that do not tolerate it. */
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | string;
  /** Set by the system for NoExecute taints. */
  timeAdded?: string;
}

/** The desired state of a node. */
export interface NodeSpec {
  podCIDR?: string;
  podCIDRs?: string[];
  unschedulable?: boolean;
  taints?: Taint[];
  providerID?: string;
  /** Deprecated. */
  externalID?: string;
}

/** A condition of a node (`Ready`, `MemoryPressure`, …). */
export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** One address of a node. */
export interface NodeAddress {
  type: 'Hostname' | 'InternalIP' | 'ExternalIP' | 'InternalDNS' | 'ExternalDNS' | string;
  address: string;
}

/** A port a node daemon listens on. */
export interface DaemonEndpoint {
  Port: number;
}

/** Ports of the daemons running on a node. */
export interface NodeDaemonEndpoints {
  kubeletEndpoint?: DaemonEndpoint;
}

/** Facts about a node's software and hardware. */
export interface NodeSystemInfo {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  containerRuntimeVersion: string;
  kubeletVersion: string;
  kubeProxyVersion?: string;
  operatingSystem: string;
  architecture: string;
}

/** The observed state of a node. */
export interface NodeStatus {
  capacity?: ResourceList;
  /** Defaults to `capacity`. */
  allocatable?: ResourceList;
  conditions?: NodeCondition[];
  addresses?: NodeAddress[];
  daemonEndpoints?: NodeDaemonEndpoints;
  nodeInfo?: NodeSystemInfo;
  /** Deprecated: never set by current kubelets. */
  phase?: 'Pending' | 'Running' | 'Terminated';
  images?: { names?: string[]; sizeBytes?: number }[];
}

/** One port of a Service. */
export interface ServicePort {
  /** Required (a DNS label, unique) when the Service has more than one port. */
  name?: string;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: 'TCP' | 'UDP' | 'SCTP' | string;
  appProtocol?: string;
  port: number;
  /** Defaults to `port`. */
  targetPort?: IntOrString;
  nodePort?: number;
}

/** Session affinity of a Service by client IP. */
export interface ClientIPConfig {
  /** Defaults to 10800 (3 hours). */
  timeoutSeconds?: number;
}

/** Session affinity settings of a Service. */
export interface SessionAffinityConfig {
  clientIP?: ClientIPConfig;
}

/** The desired state of a Service. */
export interface ServiceSpec {
  /** `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`. */
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName' | string;
  selector?: Record<string, string>;
  ports?: ServicePort[];
  /** Allocated by the registry unless given; `None` makes the Service headless. */
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: ('IPv4' | 'IPv6' | string)[];
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack' | string;
  externalIPs?: string[];
  /** `None` (default) or `ClientIP`. */
  sessionAffinity?: 'None' | 'ClientIP' | string;
  sessionAffinityConfig?: SessionAffinityConfig;
  /** `Cluster` (default for externally reachable Services) or `Local`. */
  externalTrafficPolicy?: 'Cluster' | 'Local' | string;
  /** `Cluster` (default) or `Local`. */
  internalTrafficPolicy?: 'Cluster' | 'Local' | string;
  publishNotReadyAddresses?: boolean;
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  loadBalancerClass?: string;
  externalName?: string;
  healthCheckNodePort?: number;
  /** Defaults to true for LoadBalancer Services. */
  allocateLoadBalancerNodePorts?: boolean;
  trafficDistribution?: string;
}

/** A port status of a load balancer ingress point. */
export interface PortStatus {
  port: number;
  protocol: string;
  error?: string;
}

/** One ingress point of a load balancer. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: 'VIP' | 'Proxy' | string;
  ports?: PortStatus[];
}

/** The state of a load balancer. */
export interface LoadBalancerStatus {
  ingress?: LoadBalancerIngress[];
}

/** The observed state of a Service. */
export interface ServiceStatus {
  loadBalancer?: LoadBalancerStatus;
  conditions?: Condition[];
}

/** One backend address of an Endpoints subset. */
export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

/** One port of an Endpoints subset. */
export interface EndpointPort {
  name?: string;
  port: number;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: 'TCP' | 'UDP' | 'SCTP' | string;
  appProtocol?: string;
}

/** A group of addresses sharing the same ports. */
export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** The desired state of a ReplicationController. */
export interface ReplicationControllerSpec {
  /** Defaults to 1. */
  replicas?: number;
  minReadySeconds?: number;
  /** Defaults to the template's labels. */
  selector?: Record<string, string>;
  template?: PodTemplateSpec;
}

/** A condition of a ReplicationController (`ReplicaFailure`). */
export interface ReplicationControllerCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** The observed state of a ReplicationController. */
export interface ReplicationControllerStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: ReplicationControllerCondition[];
}

/** The desired state of a Namespace. */
export interface NamespaceSpec {
  /** Defaults to `["kubernetes"]`; the namespace controller removes it once the namespace is empty. */
  finalizers?: string[];
}

/** A condition of a Namespace (`NamespaceDeletionContentFailure`, …). */
export interface NamespaceCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** The observed state of a Namespace. */
export interface NamespaceStatus {
  /** Defaults to `Active`. */
  phase?: 'Active' | 'Terminating';
  conditions?: NamespaceCondition[];
}

/** A reference to any object (or a field of it). */
export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** The component (and host) that reported an Event. */
export interface EventSource {
  component?: string;
  host?: string;
}

/** A series of repeated occurrences of one Event. */
export interface EventSeries {
  count?: number;
  /** MicroTime. */
  lastObservedTime?: string;
}
