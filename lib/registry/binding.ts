/**
 * Binding a pod to a node: what creating a core/v1 `Binding` means (kube's binding REST, behind
 * `POST namespaces/<ns>/bindings` and `POST pods/<name>/binding`). A scheduler writes
 *
 * ```json
 * { "apiVersion": "v1", "kind": "Binding", "metadata": { "name": "web-1", "namespace": "default", "uid": "<pod uid>" },
 *   "target": { "apiVersion": "v1", "kind": "Node", "name": "node-1" } }
 * ```
 *
 * and the pod gets `spec.nodeName` and a `PodScheduled=True` condition. A pod is bound once: a
 * pod already assigned, being deleted, or whose uid differs from `metadata.uid` (it was deleted
 * and recreated under the same name) is refused with 409 Conflict. Nothing is stored under the
 * Binding's own key; the answer is a `Success` Status with code 201, as the API server's.
 *
 * The StoreClient routes `create` of a Binding here, so `client.create(binding)` means the same
 * in-process as over HTTP.
 */
import { badRequest, conflict, invalid, type Status } from '../api/errors.js';
import { formatTimestamp, type KubeObject } from '../api/meta.js';
import type { Registry } from './registry.js';

type Json = Record<string, unknown>;

/** Options of {@link createBinding}. */
export interface BindingOptions {
  /** The request's namespace (the URL's); must match the Binding's own when both are set. */
  namespace?: string;
  /** Check everything but change nothing. */
  dryRun?: boolean;
}

/** True if `obj` names the core/v1 Binding kind. */
export function isBinding(obj: { apiVersion?: string; kind?: string }): boolean {
  return obj.apiVersion === 'v1' && obj.kind === 'Binding';
}

/** Binds the pod a Binding names to its target node (see the file header); answers the 201 Status. */
export async function createBinding(registry: Registry, body: unknown, options: BindingOptions = {}): Promise<Status> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('a Binding must be a JSON object');
  const binding = body as Json;
  const meta = (binding.metadata ?? {}) as { name?: string; namespace?: string; uid?: string };
  if (options.namespace && meta.namespace && meta.namespace !== options.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  const namespace = options.namespace || meta.namespace;
  if (!namespace) throw badRequest('a namespace is required to address bindings');
  const podName = meta.name;
  if (!podName) throw invalid('Binding', '', '', [{ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' }]);
  const target = binding.target as { kind?: string; name?: string } | undefined;
  if (!target?.name) throw invalid('Binding', '', podName, [{ type: 'FieldValueRequired', field: 'target.name', detail: '' }]);
  if (target.kind && target.kind !== 'Node') {
    throw invalid('Binding', '', podName, [{ type: 'FieldValueNotSupported', field: 'target.kind', value: target.kind, supported: ['Node'] }]);
  }
  const podInfo = registry.resolve({ apiVersion: 'v1', kind: 'Pod' });
  if (options.dryRun) {
    checkBindable(await registry.get(podInfo, namespace, podName), podName, meta.uid);
  } else {
    await registry.mutateStored(podInfo, namespace, podName, (pod) => {
      checkBindable(pod, podName, meta.uid);
      (pod as { spec: { nodeName?: string } }).spec.nodeName = target.name!;
      setScheduledCondition(pod, formatTimestamp(registry.clock.now()));
      return pod;
    });
  }
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 } as Status;
}

/** Refuses (409) a pod of another uid, a pod being deleted, a pod already assigned. */
function checkBindable(pod: KubeObject, podName: string, uid: string | undefined): void {
  const meta = pod.metadata!;
  if (uid && uid !== meta.uid) {
    throw conflict({ group: '', resource: 'pods' }, podName, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${meta.uid}`);
  }
  if (meta.deletionTimestamp) throw conflict({ group: '', resource: 'pods' }, podName, `pod ${podName} is being deleted, cannot be assigned to a host`);
  const nodeName = (pod as { spec?: { nodeName?: string } }).spec?.nodeName;
  if (nodeName) throw conflict({ group: '', resource: 'pods' }, podName, `pod ${podName} is already assigned to node "${nodeName}"`);
}

/** Sets `PodScheduled=True` (a new transition time only when the status changes). */
function setScheduledCondition(pod: KubeObject, now: string): void {
  const status = ((pod as { status?: Json }).status ??= {}) as { conditions?: Json[] };
  const conditions = (status.conditions ??= []);
  const existing = conditions.find((c) => c.type === 'PodScheduled');
  if (!existing) {
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now });
    return;
  }
  if (existing.status !== 'True') existing.lastTransitionTime = now;
  existing.status = 'True';
  delete existing.reason;
  delete existing.message;
}
