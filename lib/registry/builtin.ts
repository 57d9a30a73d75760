/**
 * The strategies of the built-in kinds (and the generic one custom resources use): what kube's
 * `pkg/registry/<group>/<kind>/strategy.go` files say — which fields a create resets, which
 * fields the main resource and `/status` may write, when generation moves, how pods are deleted
 * gracefully, and what each kind answers to a delete.
 */
import { Buffer } from 'node:buffer';
import { decodeObject as decodeBody } from '../api/decode.js';
import { semanticEqual } from '../api/equality.js';
import { applyDefaults } from '../api/defaults.js';
import { badRequest } from '../api/errors.js';
import { fieldsOf } from '../api/fields.js';
import { nameValidatorFor, validateCreate, validateStatusUpdate, validateUpdate } from '../api/kind-validation/index.js';
import type { KubeObject } from '../api/meta.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';
import { schemaForKind, type StructuralSchema } from '../api/schema.js';
import { validateObjectMeta, validateObjectMetaUpdate } from '../api/validation.js';
import { customResourceOf, customResourceStrategy } from './custom-resource.js';
import type { BodyDecoder } from './registry.js';
import { CLEANUP_FINALIZER } from './crd-status.js';
import { markNamespaceTerminating, namespaceHoldsDeletion, requireKubernetesFinalizer } from './namespaces.js';
import { applyStrategicMergePatch } from './strategic-merge.js';
import { contentOf, type GarbageCollectionPolicy, type KindStrategy } from './strategy.js';

type Json = Record<string, unknown>;

function key(info: ResourceInfo): string {
  return `${info.group}/${info.kind}`;
}

/** Kinds whose delete answers with the object rather than a Success Status (as kube's stores). */
const RETURNS_DELETED_OBJECT = new Set(['/Pod', '/Service', '/Namespace', '/Node', 'apiextensions.k8s.io/CustomResourceDefinition']);
/** Kinds that count spec changes in `metadata.generation` (an EndpointSlice: any change but metadata's, or of its labels). */
const TRACKS_GENERATION = new Set(['/Pod', '/ReplicationController', 'discovery.k8s.io/EndpointSlice', 'apiextensions.k8s.io/CustomResourceDefinition']);
/** Kinds a PUT may create (kube's AllowCreateOnUpdate). */
const CREATE_ON_UPDATE = new Set(['/Endpoints', '/Event', '/Node']);

/** The built-in kinds' keys (`<group>/<Kind>`). */
const BUILTIN_KEYS = new Set([
  '/Namespace',
  '/Pod',
  '/Node',
  '/Service',
  '/Endpoints',
  '/ReplicationController',
  '/ConfigMap',
  '/Secret',
  '/Event',
  '/Binding',
  'coordination.k8s.io/Lease',
  'discovery.k8s.io/EndpointSlice',
  'apiextensions.k8s.io/CustomResourceDefinition',
]);

/** Computes a pod's QoS class from its containers' requests and limits (kube's GetPodQOS). */
export function podQosClass(pod: KubeObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const spec = (pod as { spec?: { containers?: Json[]; initContainers?: Json[] } }).spec ?? {};
  const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  let anySet = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const resources = (c.resources ?? {}) as { requests?: Json; limits?: Json };
    const requests = resources.requests ?? {};
    const limits = resources.limits ?? {};
    const relevant = (r: Json) => Object.keys(r).filter((k) => k === 'cpu' || k === 'memory');
    if (relevant(requests).length || relevant(limits).length) anySet = true;
    for (const res of ['cpu', 'memory']) {
      if (limits[res] === undefined || String(requests[res] ?? limits[res]) !== String(limits[res])) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** EndpointSlices: v1 writes silently drop `endpoints[].deprecatedTopology` (kube's dropTopologyOnV1). */
function dropDeprecatedTopology(obj: KubeObject): void {
  for (const endpoint of (obj as { endpoints?: Json[] }).endpoints ?? []) {
    if (endpoint && typeof endpoint === 'object') delete endpoint.deprecatedTopology;
  }
}

/**
 * Services: kube's normalizeClusterIPs for updates (run before anything reads them). A client
 * that changed `clusterIP` and left `clusterIPs` as it was meant the first of them: it follows
 * (so changing the address is refused as a change of `spec.clusterIPs[0]`); clearing
 * `clusterIP` clears both.
 */
function normalizeClusterIPs(obj: KubeObject, old: KubeObject): void {
  const spec = (obj as { spec?: Json }).spec;
  const before = (old as { spec?: Json }).spec ?? {};
  if (!spec || spec.clusterIP === before.clusterIP) return;
  if (JSON.stringify(spec.clusterIPs ?? null) !== JSON.stringify(before.clusterIPs ?? null)) return;
  const ips = (spec.clusterIPs as string[] | undefined) ?? [];
  if (!spec.clusterIP) delete spec.clusterIPs;
  else spec.clusterIPs = [spec.clusterIP as string, ...ips.slice(1)];
}

/**
 * Services: kube's dropTypeDependentFields. When an update changes `type` or
 * `externalTrafficPolicy`, fields the new shape no longer uses are dropped — if the client left
 * them as they were (a GET, edit, PUT carries them along): the cluster IPs and IP families when
 * leaving for ExternalName (and the internal traffic policy), the node ports when no longer NodePort or LoadBalancer, the health
 * check node port when no longer LoadBalancer with policy Local, `allocateLoadBalancerNodePorts`
 * and `loadBalancerClass` outside LoadBalancer, `externalTrafficPolicy` when no longer externally
 * accessible. Without it such an update is refused (those fields are invalid for the new shape).
 */
function dropTypeDependentFields(obj: KubeObject, old: KubeObject): void {
  const spec = (obj as { spec?: Json }).spec;
  const before = (old as { spec?: Json }).spec ?? {};
  if (!spec || (spec.type === before.type && spec.externalTrafficPolicy === before.externalTrafficPolicy)) return;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  const needsClusterIP = (s: Json) => s.type !== 'ExternalName';
  const needsNodePorts = (s: Json) => s.type === 'NodePort' || s.type === 'LoadBalancer';
  const needsHealthCheck = (s: Json) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  const externallyAccessible = (s: Json) => needsNodePorts(s) || (s.type === 'ClusterIP' && ((s.externalIPs as unknown[] | undefined)?.length ?? 0) > 0);
  const ports = (s: Json) => (s.ports as Json[] | undefined) ?? [];
  if (needsClusterIP(before) && !needsClusterIP(spec)) {
    if (same(spec.clusterIP, before.clusterIP) && same(spec.clusterIPs, before.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (same(spec.ipFamilies, before.ipFamilies)) delete spec.ipFamilies;
    if (same(spec.ipFamilyPolicy, before.ipFamilyPolicy)) delete spec.ipFamilyPolicy;
    if (same(spec.internalTrafficPolicy, before.internalTrafficPolicy)) delete spec.internalTrafficPolicy;
  }
  if (needsNodePorts(before) && !needsNodePorts(spec) && same(ports(spec).map((p) => p.nodePort), ports(before).map((p) => p.nodePort))) {
    for (const port of ports(spec)) delete port.nodePort;
  }
  if (needsHealthCheck(before) && !needsHealthCheck(spec) && same(spec.healthCheckNodePort, before.healthCheckNodePort)) delete spec.healthCheckNodePort;
  if (spec.type !== 'LoadBalancer') delete spec.allocateLoadBalancerNodePorts;
  if (before.type === 'LoadBalancer' && spec.type !== 'LoadBalancer' && same(spec.loadBalancerClass, before.loadBalancerClass)) delete spec.loadBalancerClass;
  if (externallyAccessible(before) && !externallyAccessible(spec) && same(spec.externalTrafficPolicy, before.externalTrafficPolicy)) delete spec.externalTrafficPolicy;
}

/** Secrets: `stringData` is write-only, merged into `data` as base64 (kube does it on decode). */
function foldStringData(obj: KubeObject): void {
  const secret = obj as { stringData?: Record<string, string>; data?: Record<string, string> };
  if (!secret.stringData) return;
  secret.data = { ...(secret.data ?? {}) };
  for (const [k, v] of Object.entries(secret.stringData)) secret.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  delete secret.stringData;
}

/** The strategy of a kind: the built-in's when it is one, else the custom-resource strategy. */
export function builtinStrategies(info: ResourceInfo): KindStrategy {
  const k = key(info);
  const builtin = BUILTIN_KEYS.has(k);
  const hasStatus = info.subresources.status;
  const withoutStatus = (obj: KubeObject, old: KubeObject) => {
    if (!hasStatus) return;
    const oldStatus = (old as Json).status;
    if (oldStatus === undefined) delete (obj as Json).status;
    else (obj as Json).status = structuredClone(oldStatus);
  };
  const gcPolicy: GarbageCollectionPolicy = k === '/ReplicationController' ? 'OrphanDependents' : 'DeleteDependents';

  const strategy: KindStrategy = {
    info,
    applyDefaults(obj) {
      if (builtin) applyDefaults(obj);
      if (k === '/Secret') foldStringData(obj);
    },
    prepareForCreate(obj) {
      const o = obj as Json;
      switch (k) {
        case '/Pod':
          o.status = { phase: 'Pending', qosClass: podQosClass(obj) };
          break;
        case '/Namespace':
          o.status = { phase: 'Active' };
          requireKubernetesFinalizer(obj);
          break;
        case '/Node':
          break;
        case '/Service':
          o.status = { loadBalancer: {} }; // kube starts every Service with an empty status, serialized so
          break;
        case 'discovery.k8s.io/EndpointSlice':
          dropDeprecatedTopology(obj);
          break;
        case 'apiextensions.k8s.io/CustomResourceDefinition': {
          // kube records the storage version at once, so the CRD's first state is complete.
          const versions = ((o.spec as { versions?: { name: string; storage?: boolean }[] } | undefined)?.versions ?? []).filter((v) => v.storage);
          o.status = { storedVersions: versions.map((v) => v.name) };
          break;
        }
        default:
          if (hasStatus) delete o.status;
      }
    },
    prepareForUpdate(obj, old) {
      withoutStatus(obj, old);
      if (k === 'discovery.k8s.io/EndpointSlice') dropDeprecatedTopology(obj);
      if (k === '/Service') {
        normalizeClusterIPs(obj, old);
        dropTypeDependentFields(obj, old);
      }
      if (k === '/Namespace') {
        // spec.finalizers change only through the /finalize subresource (namespaces.ts).
        (obj as Json).spec = structuredClone((old as Json).spec);
      }
    },
    prepareForStatusUpdate(obj, old) {
      // Only the status changes: everything else is the stored object's.
      const status = (obj as Json).status;
      for (const field of Object.keys(obj)) if (field !== 'status' && field !== 'metadata') delete (obj as Json)[field];
      for (const [field, value] of Object.entries(old)) {
        if (field !== 'status' && field !== 'metadata') (obj as Json)[field] = structuredClone(value);
      }
      const resourceVersion = obj.metadata?.resourceVersion;
      const managedFields = obj.metadata?.managedFields;
      obj.metadata = {
        ...structuredClone(old.metadata!),
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
        ...(managedFields !== undefined ? { managedFields } : {}),
      };
      if (status === undefined) delete (obj as Json).status;
      else (obj as Json).status = status;
    },
    validate(obj) {
      // kube validates the object's metadata first, then the rest: its causes come in that order.
      return [
        ...validateObjectMeta(obj.metadata, { namespaced: info.namespaced, nameValidator: nameValidatorFor(obj) }),
        ...validateCreate(obj),
      ];
    },
    validateUpdate(obj, old) {
      return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...validateUpdate(obj, old)];
    },
    validateStatusUpdate(obj, old) {
      return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...validateStatusUpdate(obj, old)];
    },
    tracksGeneration: builtin ? TRACKS_GENERATION.has(k) : true,
    specChanged(obj, old) {
      if (k === 'discovery.k8s.io/EndpointSlice') {
        // An EndpointSlice has no spec: anything but metadata counts, and so do its labels.
        return !semanticEqual(contentOf(obj, false), contentOf(old, false)) || !semanticEqual(obj.metadata?.labels, old.metadata?.labels);
      }
      if (builtin) return !semanticEqual((obj as Json).spec, (old as Json).spec);
      return !semanticEqual(contentOf(obj, hasStatus), contentOf(old, hasStatus));
    },
    allowCreateOnUpdate: CREATE_ON_UPDATE.has(k),
    allowUnconditionalUpdate: true,
    returnDeletedObject: builtin ? RETURNS_DELETED_OBJECT.has(k) : true,
    gracePeriodSeconds(obj, requested) {
      if (k !== '/Pod') return undefined;
      const pod = obj as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number }; status?: { phase?: string } };
      let period = requested ?? pod.spec?.terminationGracePeriodSeconds ?? 0;
      if (!pod.spec?.nodeName) period = 0;
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') period = 0;
      return period < 0 ? 1 : period;
    },
    defaultGarbageCollectionPolicy: gcPolicy,
    // apiextensions removes a CRD only after its custom resources are gone (see crds.ts).
    deletionFinalizers: () => (k === 'apiextensions.k8s.io/CustomResourceDefinition' ? [CLEANUP_FINALIZER] : []),
    // A namespace turns Terminating and stays while its spec.finalizers remain (see namespaces.ts).
    ...(k === '/Namespace' ? { prepareForDelete: markNamespaceTerminating, holdsDeletion: namespaceHoldsDeletion } : {}),
    selectableFields(obj) {
      return fieldsOf(info, obj);
    },
    warnings() {
      return [];
    },
  };
  // A kind served from a CRD adds its schema, storage version and terminating state (custom-resource.ts).
  const custom = builtin ? undefined : customResourceOf(info);
  return custom ? customResourceStrategy(strategy, custom) : strategy;
}

/** Decodes a request body for a kind: type checks (400) and pruning of unknown fields. */
export const decodeRequestBody: BodyDecoder = (info, body, fieldValidation) => {
  const expected = { apiVersion: apiVersionOf(info), kind: info.kind };
  // Custom kinds are pruned with their CRD's schema; a kind registered without one keeps every field.
  const schema = schemaForKind(expected.apiVersion, expected.kind) ? undefined : (customResourceOf(info)?.version.structural ?? PRESERVE_UNKNOWN_FIELDS);
  const options = { fieldValidation: fieldValidation ?? 'Warn', ...(schema ? { schema } : {}) } as const;
  // Raw text (an HTTP body) is decoded as kube-apiserver decodes it, duplicate fields included.
  if (typeof body === 'string' || body instanceof Uint8Array) return decodeBody(body, expected, options);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`the body of the request must be a JSON object, got ${Array.isArray(body) ? 'an array' : typeof body}`);
  }
  // Objects written through the in-process client may omit apiVersion/kind only if the call named the kind.
  const withKind = { ...(body as Json) };
  withKind.apiVersion ??= expected.apiVersion;
  withKind.kind ??= expected.kind;
  return decodeBody(withKind, expected, options);
};

/** The schema of a kind with no declared structure: everything is kept. */
const PRESERVE_UNKNOWN_FIELDS: StructuralSchema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** Strategic merge patch for the built-in kinds, with their list merge keys. */
export function strategicMergeForBuiltin(info: ResourceInfo, current: KubeObject, patch: unknown): unknown {
  return applyStrategicMergePatch(current, patch, schemaForKind(apiVersionOf(info), info.kind));
}
