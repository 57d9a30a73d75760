/**
 * The taint manager (kube's taint-eviction-controller): a pod bound to a node with a NoExecute
 * taint it does not tolerate is evicted — at once; or, when every such taint is tolerated for a
 * limited `tolerationSeconds`, that long after the taint's `timeAdded`; never while the pod
 * tolerates the taints forever. A taint that goes away in time cancels the eviction.
 *
 * Level-triggered, per pod: a reconcile computes when the pod must go from its tolerations and
 * its node's NoExecute taints; if that is later, it comes back then (RequeueAfter) and judges
 * again — a taint removed meanwhile simply finds nothing to do. Node taint changes map to the
 * node's pods.
 *
 * An eviction is kube 1.26+'s: an Event `TaintManagerEviction` "Marking for deletion Pod
 * <ns>/<name>", the pod condition `DisruptionTarget` (reason `DeletionByTaintManager`), then a
 * graceful delete through the Client, pinned to the pod's uid.
 */
import { inject } from 'inversify';
import {
  ApiReader,
  Client,
  Clock,
  Controller,
  EventRecorder,
  formatTimestamp,
  Index,
  isConflict,
  ignoreNotFound,
  isNotFound,
  Logger,
  Node,
  Pod,
  toleratesTaint,
  Watches,
  type Predicate,
  type ReconcileRequest,
  type Reconciler,
  type Result,
  type Taint,
  type Toleration,
} from '../../lib/index.js';
import { parseTime } from './node-health.js';
import { noExecuteTaints } from './taints.js';

/** The pod condition an eviction sets before deleting (kube's, since 1.26). */
export const DISRUPTION_TARGET_CONDITION = {
  type: 'DisruptionTarget',
  status: 'True',
  reason: 'DeletionByTaintManager',
  message: 'Taint manager: deleting due to NoExecute taint',
} as const;

/** How often the condition write is retried at once on a conflict (kube retries an eviction 5 times). */
const CONFLICT_RETRIES = 5;

/** What of a pod the eviction decision depends on. */
function evictionFacts(pod: Pod): string {
  return JSON.stringify([pod.spec?.nodeName ?? '', pod.spec?.tolerations ?? [], Boolean(pod.metadata?.deletionTimestamp)]);
}

/** Pod updates that cannot change the decision (status, labels, …) are dropped. */
const podEvictionFactsChanged: Predicate = {
  update: (oldPod, newPod) => evictionFacts(oldPod as Pod) !== evictionFacts(newPod as Pod),
};

/** Node updates that leave its NoExecute taints as they were are dropped. */
const noExecuteTaintsChanged: Predicate = {
  update: (oldNode, newNode) => JSON.stringify(noExecuteTaints(oldNode as Node)) !== JSON.stringify(noExecuteTaints(newNode as Node)),
};

/**
 * When a pod with these tolerations must leave a node with these NoExecute taints, in ms on the
 * clock: now when some taint is not tolerated; undefined when every taint is tolerated forever.
 * Each taint counts from its `timeAdded` (from `firstSeenMs` when it has none) plus the
 * tolerationSeconds of the first toleration that tolerates it (kube's getMatchingTolerations and
 * getMinTolerationTime); the earliest taint decides.
 */
export function evictionTime(taints: readonly Taint[], tolerations: readonly Toleration[], nowMs: number, firstSeenMs = nowMs): number | undefined {
  let evictAt: number | undefined;
  for (const taint of taints) {
    const toleration = tolerations.find((t) => toleratesTaint(t, taint));
    if (!toleration) return nowMs;
    if (toleration.tolerationSeconds === undefined || toleration.tolerationSeconds === null) continue;
    const since = parseTime(taint.timeAdded) ?? firstSeenMs;
    const at = toleration.tolerationSeconds <= 0 ? nowMs : since + toleration.tolerationSeconds * 1000;
    evictAt = Math.min(evictAt ?? Infinity, at);
  }
  return evictAt;
}

/** Evicts pods from nodes with NoExecute taints they do not tolerate (see the file header). */
@Controller({ for: Pod, name: 'taint-eviction', concurrency: 4, predicates: [podEvictionFactsChanged] })
@Index(Pod, 'spec.nodeName', (pod) => (pod.spec?.nodeName ? [pod.spec.nodeName] : []))
export class TaintEvictionController implements Reconciler<Pod> {
  /** Evictions waiting for their time, by pod key: when they were first decided and when they fire. */
  private readonly scheduled = new Map<string, { sinceMs: number; evictAtMs: number }>();

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ApiReader) private readonly apiReader: ApiReader,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Clock) private readonly clock: Clock,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** A change of a node's NoExecute taints concerns every pod bound to it. */
  @Watches(Node, { predicates: [noExecuteTaintsChanged] })
  async nodeToPods(node: Node): Promise<ReconcileRequest[]> {
    const { items } = await this.client.list(Pod, { fieldSelector: `spec.nodeName=${node.metadata?.name ?? ''}` });
    return items.map((pod) => ({ namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' }));
  }

  /** Evicts the pod now, schedules its eviction, or cancels one (see the file header). */
  async reconcile({ namespace, name }: ReconcileRequest): Promise<Result | void> {
    const key = `${namespace}/${name}`;
    const pod = await this.client.get(Pod, name, { namespace }).catch(ignoreNotFound);
    const nodeName = pod?.spec?.nodeName;
    // Gone, unbound or already going: nothing (more) to evict.
    if (!pod || !nodeName || pod.metadata?.deletionTimestamp) return this.cancel(key, pod);
    const taints = noExecuteTaints(await this.client.get(Node, nodeName).catch(ignoreNotFound));
    const now = this.clock.now();
    const earlier = this.scheduled.get(key);
    const evictAt = taints.length === 0 ? undefined : evictionTime(taints, pod.spec?.tolerations ?? [], now, earlier?.sinceMs ?? now);
    if (evictAt === undefined) return this.cancel(key, pod);
    if (evictAt > now) {
      this.scheduled.set(key, { sinceMs: earlier?.sinceMs ?? now, evictAtMs: evictAt });
      return { requeueAfterMs: evictAt - now };
    }
    await this.evict(pod, nodeName);
    this.scheduled.delete(key);
  }

  /** Forgets a scheduled eviction, telling the pod (kube's "Cancelling deletion" Event). */
  private cancel(key: string, pod: Pod | undefined): void {
    if (!this.scheduled.delete(key) || !pod || pod.metadata?.deletionTimestamp) return;
    this.events.eventf(pod, 'Normal', 'TaintManagerEviction', 'Cancelling deletion of Pod %s', key);
  }

  /** The eviction: Event, DisruptionTarget condition, graceful delete pinned to the uid. */
  private async evict(pod: Pod, nodeName: string): Promise<void> {
    const { namespace = '', name = '', uid } = pod.metadata ?? {};
    this.events.eventf(pod, 'Normal', 'TaintManagerEviction', 'Marking for deletion Pod %s/%s', namespace, name);
    this.logger.info({ pod: `${namespace}/${name}`, node: nodeName }, 'evicting pod from a node with a NoExecute taint it does not tolerate');
    let current: Pod | undefined = pod;
    for (let attempt = 1; current && !hasDisruptionTarget(current); attempt++) {
      const conditions = (current.status?.conditions ?? []).filter((c) => c.type !== DISRUPTION_TARGET_CONDITION.type);
      const condition = { ...DISRUPTION_TARGET_CONDITION, lastTransitionTime: formatTimestamp(this.clock.now()) };
      try {
        await this.client.updateStatus<Pod>({ ...current, status: { ...current.status, conditions: [...conditions, condition] } });
        break;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
      }
      current = await this.apiReader.get(Pod, name, { namespace }).catch(ignoreNotFound);
      if (current && current.metadata?.uid !== uid) return; // replaced by another pod of that name
    }
    try {
      await this.client.delete(Pod, name, { namespace, ...(uid ? { preconditions: { uid } } : {}) });
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return; // gone, or the name holds another pod now
      throw err;
    }
  }
}

function hasDisruptionTarget(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === DISRUPTION_TARGET_CONDITION.type && c.status === 'True');
}
