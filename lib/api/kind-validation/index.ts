/**
 * Kind validation: the kind-specific rules kube-apiserver applies to the built-in kinds keelson
 * serves (spec, status, data — everything but metadata, which `../validation.ts` owns), with
 * kube's field paths, cause types and messages, so a 422 from keelson reads like one from a real
 * cluster: `spec.containers[0].image: Required value`.
 *
 * Like kube, validation assumes defaulting ran first (`applyDefaults` in `../defaults.ts`):
 * fields kube always defaults (restartPolicy, dnsPolicy, imagePullPolicy, protocols, …) are
 * `Required` here. The registry calls, per write:
 *   - create:         `validateObjectMeta(meta, { nameValidator: nameValidatorFor(obj), … })` + {@link validateCreate}
 *   - update:         `validateObjectMetaUpdate(…)` + {@link validateUpdate}
 *   - `/status` write: `validateObjectMetaUpdate(…)` + {@link validateStatusUpdate}
 * Kinds this module does not know validate to no errors.
 */
import type { FieldError } from '../errors.js';
import type {
  Binding,
  ConfigMap,
  CustomResourceDefinition,
  Endpoints,
  EndpointSlice,
  Event,
  Lease,
  Namespace,
  Node,
  Pod,
  ReplicationController,
  Secret,
  Service,
} from '../kinds.js';
import type { KubeObject } from '../meta.js';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, type NameValidator } from '../validation.js';
import { crdNameValidator, validateCRD, validateCRDStatus, validateCRDUpdate } from './crd.js';
import { validateEndpointSlice, validateEndpointSliceUpdate } from './discovery.js';
import {
  validateConfigMap,
  validateConfigMapUpdate,
  validateEndpoints,
  validateEvent,
  validateLease,
  validateNamespace,
  validateNamespaceStatus,
  validateSecret,
  validateSecretUpdate,
} from './misc.js';
import { validateNode, validateNodeUpdate } from './node.js';
import { validateBinding, validatePod, validatePodStatusUpdate, validatePodUpdate } from './pod.js';
import { validateReplicationController, validateReplicationControllerStatus } from './replication.js';
import { validateService, validateServiceStatus, validateServiceUpdate } from './service.js';

/** The kinds this module validates, keyed `<group>/<kind>` ('' is the core group). */
type BuiltinKey =
  | '/Pod'
  | '/ReplicationController'
  | '/Service'
  | '/Node'
  | '/Namespace'
  | '/ConfigMap'
  | '/Secret'
  | '/Event'
  | '/Endpoints'
  | '/Binding'
  | 'coordination.k8s.io/Lease'
  | 'discovery.k8s.io/EndpointSlice'
  | 'apiextensions.k8s.io/CustomResourceDefinition';

/** `<group>/<kind>` of an object: `v1` + `Pod` → `/Pod`, `coordination.k8s.io/v1` + `Lease` → `coordination.k8s.io/Lease`. */
export function kindKey(obj: KubeObject): string {
  const apiVersion = obj.apiVersion ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  return `${group}/${obj.kind ?? ''}`;
}

/** Field errors of a new object's kind-specific fields (metadata excluded). */
export function validateCreate(obj: KubeObject): FieldError[] {
  switch (kindKey(obj) as BuiltinKey) {
    case '/Pod':
      return validatePod(obj as Pod);
    case '/ReplicationController':
      return validateReplicationController(obj as ReplicationController);
    case '/Service':
      return validateService(obj as Service);
    case '/Node':
      return validateNode(obj as Node);
    case '/Namespace':
      return validateNamespace(obj as Namespace);
    case '/ConfigMap':
      return validateConfigMap(obj as ConfigMap);
    case '/Secret':
      return validateSecret(obj as Secret);
    case '/Event':
      return validateEvent(obj as Event);
    case '/Endpoints':
      return validateEndpoints(obj as Endpoints);
    case '/Binding':
      return validateBinding(obj as Binding);
    case 'coordination.k8s.io/Lease':
      return validateLease(obj as Lease);
    case 'discovery.k8s.io/EndpointSlice':
      return validateEndpointSlice(obj as EndpointSlice);
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return validateCRD(obj as CustomResourceDefinition);
    default:
      return [];
  }
}

/** Field errors of an update of the main resource (metadata excluded): the new object's rules plus what may not change. */
export function validateUpdate(obj: KubeObject, old: KubeObject): FieldError[] {
  switch (kindKey(obj) as BuiltinKey) {
    case '/Pod':
      return validatePodUpdate(obj as Pod, old as Pod);
    case '/Service':
      return validateServiceUpdate(obj as Service, old as Service);
    case '/Node':
      return validateNodeUpdate(obj as Node, old as Node);
    case '/Namespace':
      // kube validates only metadata here: spec.finalizers change through /finalize alone.
      return [];
    case '/ConfigMap':
      return validateConfigMapUpdate(obj as ConfigMap, old as ConfigMap);
    case '/Secret':
      return validateSecretUpdate(obj as Secret, old as Secret);
    case 'discovery.k8s.io/EndpointSlice':
      return validateEndpointSliceUpdate(obj as EndpointSlice, old as EndpointSlice);
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return validateCRDUpdate(obj as CustomResourceDefinition, old as CustomResourceDefinition);
    default:
      return validateCreate(obj);
  }
}

/** Field errors of a `/status` update (metadata excluded); kinds without a status subresource have none. */
export function validateStatusUpdate(obj: KubeObject, old: KubeObject): FieldError[] {
  switch (kindKey(obj) as BuiltinKey) {
    case '/Pod':
      return validatePodStatusUpdate(obj as Pod, old as Pod);
    case '/ReplicationController':
      return validateReplicationControllerStatus(obj as ReplicationController);
    case '/Service':
      return validateServiceStatus(obj as Service);
    case '/Node':
      return validateNodeUpdate(obj as Node, old as Node);
    case '/Namespace':
      return validateNamespaceStatus(obj as Namespace);
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return validateCRDStatus(obj as CustomResourceDefinition);
    default:
      return [];
  }
}

/**
 * How `metadata.name` (and `generateName`) of this object is checked, for `validateObjectMeta`'s
 * `nameValidator`: Namespaces are DNS labels, Services DNS-1035 labels, a CRD must be named
 * `<plural>.<group>`, every other kind a DNS subdomain.
 */
export function nameValidatorFor(obj: KubeObject): NameValidator {
  switch (kindKey(obj) as BuiltinKey) {
    case '/Namespace':
      return nameIsDNSLabel;
    case '/Service':
      return nameIsDNS1035Label;
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return crdNameValidator(obj as CustomResourceDefinition);
    default:
      return nameIsDNSSubdomain;
  }
}
