/**
 * core/v1 types (stub: to be completed). Shapes follow the Kubernetes API exactly; timestamps
 * are strings.
 */
export interface PodSpec { [field: string]: unknown; nodeName?: string; containers: unknown[] }
export interface PodStatus { [field: string]: unknown; phase?: string }
export interface NodeSpec { [field: string]: unknown }
export interface NodeStatus { [field: string]: unknown }
export interface ServiceSpec { [field: string]: unknown }
export interface ServiceStatus { [field: string]: unknown }
export interface EndpointSubset { [field: string]: unknown }
export interface ReplicationControllerSpec { [field: string]: unknown }
export interface ReplicationControllerStatus { [field: string]: unknown }
export interface NamespaceSpec { finalizers?: string[] }
export interface NamespaceStatus { phase?: 'Active' | 'Terminating'; conditions?: unknown[] }
export interface ObjectReference { [field: string]: unknown }
export interface EventSource { component?: string; host?: string }
