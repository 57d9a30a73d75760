/**
 * What the replication controller needs to know about a pod — is it active, ready, available,
 * does it match a selector — and how it builds a pod from a ReplicationController's template
 * (kube's `controller_utils.go` and `pkg/api/v1/pod` helpers).
 */
import { setControllerReference, type Pod, type PodCondition, type ReplicationController } from '../../lib/index.js';

/**
 * True while a pod counts as a replica: not terminated (Succeeded/Failed) and not being deleted
 * (kube's IsPodActive). A pod being deleted is on its way out; counting it would delay its
 * replacement by its whole grace period.
 */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

/** The pod's `Ready` condition, if it reports one. */
export function readyCondition(pod: Pod): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

/** True if the pod's `Ready` condition is `True` (kube's IsPodReady). */
export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/**
 * When the pod last became ready (its Ready condition's lastTransitionTime), in ms since the
 * epoch; undefined when it is not ready or the time is unknown.
 */
export function readySinceMs(pod: Pod): number | undefined {
  const condition = readyCondition(pod);
  if (condition?.status !== 'True') return undefined;
  return parseTime(condition.lastTransitionTime);
}

/**
 * True if the pod has been ready for at least `minReadySeconds` at `nowMs` (kube's
 * IsPodAvailable). With `minReadySeconds` 0 every ready pod is available.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, nowMs: number): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = readySinceMs(pod);
  return since !== undefined && nowMs - since >= minReadySeconds * 1000;
}

/**
 * True if every pair of an equality selector is among the labels. An empty selector selects
 * nothing here: the API rejects an RC without one, and a controller that adopted every pod of a
 * namespace because of a bad object would do far more harm than one that does nothing.
 */
export function selectorMatches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const pairs = Object.entries(selector ?? {});
  return pairs.length > 0 && pairs.every(([key, value]) => labels?.[key] === value);
}

/** Milliseconds since the epoch of an RFC 3339 timestamp; undefined when absent or unparseable. */
export function parseTime(timestamp: string | null | undefined): number | undefined {
  if (!timestamp) return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

/** kube's maximum object name length (a DNS subdomain). */
const MAX_NAME_LENGTH = 253;

/**
 * The pod to create for `rc` (kube's GetPodFromTemplate): the template's labels, annotations,
 * finalizers and spec; `generateName: '<rc>-'` so the store picks a unique
 * `<rc>-<5 random chars>`; the RC's namespace; and a controller reference to the RC
 * (`controller: true, blockOwnerDeletion: true`) so the pod's events reach the RC and the
 * garbage collector knows who it belongs to.
 */
export function podFromTemplate(rc: ReplicationController): Pod {
  const name = rc.metadata?.name ?? '';
  const template = rc.spec?.template ?? {};
  const templateMeta = template.metadata ?? {};
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      // A name at the length limit cannot take the dash (kube's getPodsPrefix).
      generateName: name.length + 1 > MAX_NAME_LENGTH ? name : `${name}-`,
      ...(rc.metadata?.namespace ? { namespace: rc.metadata.namespace } : {}),
      labels: { ...templateMeta.labels },
      ...(templateMeta.annotations ? { annotations: { ...templateMeta.annotations } } : {}),
      ...(templateMeta.finalizers?.length ? { finalizers: [...templateMeta.finalizers] } : {}),
    },
    ...(template.spec ? { spec: structuredClone(template.spec) } : {}),
  };
  setControllerReference(rc, pod);
  return pod;
}
