/**
 * kube's MarkPodsNotReady: when a node stops being Ready, the pods bound to it are marked not
 * Ready at once — their `Ready` condition set to False through `/status` — so Endpoints drop them
 * without waiting for an eviction. Only pods that report a Ready condition are touched.
 */
import { formatTimestamp, isConflict, ignoreNotFound, isNotFound, Pod, type ApiReader, type Client, type EventRecorder, type Logger } from '../../lib/index.js';

/** How often one pod's status write is retried at once on a conflict. */
const CONFLICT_RETRIES = 3;

/**
 * Sets the Ready condition of each pod of `nodeName` to False (lastTransitionTime now), with a
 * `NodeNotReady` Warning Event on the pod. Answers the pods that are done — marked, already not
 * Ready, gone, or moved — and throws, after trying every pod, if some could not be written.
 */
export async function markPodsNotReady(
  deps: { client: Client; reader: ApiReader; events: EventRecorder; logger: Logger },
  pods: readonly Pod[],
  nodeName: string,
  nowMs: number,
): Promise<Pod[]> {
  const done: Pod[] = [];
  const errors: unknown[] = [];
  for (const pod of pods) {
    try {
      if (await markPodNotReady(deps, pod, nodeName, nowMs)) deps.events.event(pod, 'Warning', 'NodeNotReady', 'Node is not ready');
      done.push(pod);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `could not mark ${errors.length} pods of node ${nodeName} not ready`);
  return done;
}

/** One pod; answers true if this call marked it. */
async function markPodNotReady(deps: { client: Client; reader: ApiReader; logger: Logger }, pod: Pod, nodeName: string, nowMs: number): Promise<boolean> {
  let current: Pod | undefined = pod;
  for (let attempt = 1; current; attempt++) {
    // Defensive, as kube's: the cache may show a pod that moved on.
    if (current.spec?.nodeName !== nodeName) return false;
    const conditions = current.status?.conditions ?? [];
    const ready = conditions.find((condition) => condition.type === 'Ready');
    if (!ready || ready.status === 'False') return false;
    const marked: Pod = {
      ...current,
      status: {
        ...current.status,
        conditions: conditions.map((c) => (c === ready ? { ...c, status: 'False', lastTransitionTime: formatTimestamp(nowMs) } : c)),
      },
    };
    try {
      await deps.client.updateStatus(marked);
      deps.logger.debug({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, node: nodeName }, 'marked pod not ready');
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
    }
    current = await readPod(deps.reader, pod);
  }
  return false;
}

async function readPod(reader: ApiReader, pod: Pod): Promise<Pod | undefined> {
  const fresh = await reader.get(Pod, pod.metadata?.name ?? '', { namespace: pod.metadata?.namespace ?? '' }).catch(ignoreNotFound);
  return fresh?.metadata?.uid === pod.metadata?.uid ? fresh : undefined;
}
