/**
 * The built-in kinds. Each is a class used two ways: as a type for plain JSON objects
 * (`const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec }`) and as
 * a kind reference for the Client (`client.get(Pod, 'web', { namespace })`). The classes hold no
 * behaviour; their resource metadata hangs off {@link RESOURCE_INFO}.
 */
import type { KubeObject, ObjectMeta } from './meta.js';
import { attachResourceInfo, defineResource, type ResourceInfo } from './resources.js';
import type {
  EndpointSubset,
  EventSeries,
  EventSource,
  NamespaceSpec,
  NamespaceStatus,
  NodeSpec,
  NodeStatus,
  ObjectReference,
  PodSpec,
  PodStatus,
  ReplicationControllerSpec,
  ReplicationControllerStatus,
  ServiceSpec,
  ServiceStatus,
} from './types/core.js';
import type { LeaseSpec } from './types/coordination.js';
import type { Endpoint, EndpointSliceAddressType, EndpointSlicePort } from './types/discovery.js';
import type { CustomResourceDefinitionSpec, CustomResourceDefinitionStatus } from './types/apiextensions.js';

function kind<C extends object>(cls: C, info: ResourceInfo): ResourceInfo {
  attachResourceInfo(cls, info);
  return info;
}

/** Fields every object class has. */
abstract class Base implements KubeObject {
  declare apiVersion?: string;
  declare kind?: string;
  declare metadata?: ObjectMeta;
}

/** core/v1 Namespace (cluster-scoped, short name `ns`). */
export class Namespace extends Base {
  declare spec?: NamespaceSpec;
  declare status?: NamespaceStatus;
}

/** core/v1 Pod (short name `po`). */
export class Pod extends Base {
  declare spec?: PodSpec;
  declare status?: PodStatus;
}

/** core/v1 Node (cluster-scoped, short name `no`). */
export class Node extends Base {
  declare spec?: NodeSpec;
  declare status?: NodeStatus;
}

/** core/v1 Service (short name `svc`). */
export class Service extends Base {
  declare spec?: ServiceSpec;
  declare status?: ServiceStatus;
}

/** core/v1 Endpoints (short name `ep`). */
export class Endpoints extends Base {
  declare subsets?: EndpointSubset[];
}

/** core/v1 ReplicationController (short name `rc`; has the scale subresource). */
export class ReplicationController extends Base {
  declare spec?: ReplicationControllerSpec;
  declare status?: ReplicationControllerStatus;
}

/** core/v1 ConfigMap (short name `cm`). */
export class ConfigMap extends Base {
  declare data?: Record<string, string>;
  declare binaryData?: Record<string, string>;
  declare immutable?: boolean;
}

/** core/v1 Secret; `data` values are base64, `stringData` is write-only plain text. */
export class Secret extends Base {
  declare data?: Record<string, string>;
  declare stringData?: Record<string, string>;
  declare type?: string;
  declare immutable?: boolean;
}

/** core/v1 Event (short name `ev`). */
export class Event extends Base {
  declare involvedObject?: ObjectReference;
  declare reason?: string;
  declare message?: string;
  declare source?: EventSource;
  declare firstTimestamp?: string;
  declare lastTimestamp?: string;
  declare eventTime?: string;
  declare count?: number;
  declare type?: string;
  declare action?: string;
  declare reportingComponent?: string;
  declare reportingInstance?: string;
  declare series?: EventSeries;
  declare related?: ObjectReference;
}

/** core/v1 Binding: binds a pod to a node (create-only; also the `pods/binding` subresource). */
export class Binding extends Base {
  declare target?: ObjectReference;
}

/** coordination.k8s.io/v1 Lease: leader election and node heartbeats. */
export class Lease extends Base {
  declare spec?: LeaseSpec;
}

/**
 * discovery.k8s.io/v1 EndpointSlice: a subset of the endpoints of a service (labelled
 * `kubernetes.io/service-name`). Its `addressType` is immutable.
 */
export class EndpointSlice extends Base {
  declare addressType?: EndpointSliceAddressType;
  declare endpoints?: Endpoint[];
  declare ports?: EndpointSlicePort[];
}

/** apiextensions.k8s.io/v1 CustomResourceDefinition (cluster-scoped, short names `crd`, `crds`). */
export class CustomResourceDefinition extends Base {
  declare spec?: CustomResourceDefinitionSpec;
  declare status?: CustomResourceDefinitionStatus;
}

/** The ResourceInfo of every built-in kind, in a stable order. */
export const BUILTIN_RESOURCES: readonly ResourceInfo[] = [
  kind(Namespace, defineResource({ version: 'v1', kind: 'Namespace', namespaced: false, shortNames: ['ns'], subresources: { status: true } })),
  kind(Pod, defineResource({ version: 'v1', kind: 'Pod', shortNames: ['po'], categories: ['all'], subresources: { status: true } })),
  kind(Node, defineResource({ version: 'v1', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: { status: true } })),
  kind(Service, defineResource({ version: 'v1', kind: 'Service', shortNames: ['svc'], categories: ['all'], subresources: { status: true } })),
  kind(Endpoints, defineResource({ version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints', shortNames: ['ep'] })),
  kind(
    ReplicationController,
    defineResource({
      version: 'v1',
      kind: 'ReplicationController',
      shortNames: ['rc'],
      categories: ['all'],
      subresources: { status: true, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } },
    }),
  ),
  kind(ConfigMap, defineResource({ version: 'v1', kind: 'ConfigMap', shortNames: ['cm'] })),
  kind(Secret, defineResource({ version: 'v1', kind: 'Secret' })),
  kind(Event, defineResource({ version: 'v1', kind: 'Event', shortNames: ['ev'] })),
  kind(Binding, defineResource({ version: 'v1', kind: 'Binding', verbs: ['create'] })),
  kind(Lease, defineResource({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' })),
  kind(EndpointSlice, defineResource({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice' })),
  kind(
    CustomResourceDefinition,
    defineResource({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      subresources: { status: true },
    }),
  ),
];
