/**
 * Telling users why a pod is not scheduled, as kube-scheduler does: the pod gets the condition
 * `PodScheduled=False` with reason `Unschedulable` and a message counting the reasons per node,
 * and a Warning Event `FailedScheduling` carries the same message:
 *
 *   0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu.
 *
 * The message is kube's FitError text for a profile without PostFilter plugins: keelson does not
 * preempt, so there is no `preemption: …` sentence (kube adds one only when its DefaultPreemption
 * plugin ran). A scheduler failure that is not about fit (a plugin threw) gets reason
 * `SchedulerError` and the error's text.
 */
import { formatTimestamp, isConflict, isNotFound, Pod, type Client, type Clock, type EventRecorder, type Logger } from '../../lib/index.js';

/** kube's ErrNoNodesAvailable text: the cluster has no node at all. */
export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

/** Why a pod fits no node, as one scheduling cycle found out (kube's Diagnosis). */
export interface Diagnosis {
  /** Nodes in the snapshot. */
  numAllNodes: number;
  /** The reasons each rejected node gave. */
  nodeReasons: Map<string, readonly string[]>;
  /** A preFilter rejection: it applies to every node, and replaces the per-node reasons. */
  preFilterMessage?: string;
  /** Nodes a preFilter left out of the candidates: how many, and the reason counted for them. */
  absentNodes?: { count: number; reason: string };
  /** The plugins that rejected the pod (which cluster events may help it). */
  unschedulablePlugins: Set<string>;
}

/** kube's FitError.Error(): `0/N nodes are available: <preFilter>. <count reason, …>.` */
export function fitErrorMessage(diagnosis: Diagnosis): string {
  let message = `0/${diagnosis.numAllNodes} nodes are available:`;
  if (diagnosis.preFilterMessage) return `${message} ${diagnosis.preFilterMessage}.`;
  const counts = new Map<string, number>();
  for (const reasons of diagnosis.nodeReasons.values()) for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  if (diagnosis.absentNodes && diagnosis.absentNodes.count > 0) {
    counts.set(diagnosis.absentNodes.reason, (counts.get(diagnosis.absentNodes.reason) ?? 0) + diagnosis.absentNodes.count);
  }
  // kube sorts the formatted "<count> <reason>" strings (so "10 …" sorts before "2 …", as there).
  const histogram = [...counts].map(([reason, count]) => `${count} ${reason}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (histogram.length > 0) message += ` ${histogram.join(', ')}.`;
  return message;
}

/** The reason of the PodScheduled=False condition. */
export type UnschedulableReason = 'Unschedulable' | 'SchedulerError';

interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
}

/**
 * The pod's conditions with `PodScheduled=False` set (kube's UpdatePodCondition: the transition
 * time changes only with the status), or undefined when the pod already says exactly that.
 */
export function withUnschedulableCondition(pod: Pod, reason: UnschedulableReason, message: string, now: string): PodCondition[] | undefined {
  const conditions = ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []).map((c) => ({ ...c }));
  const existing = conditions.find((c) => c.type === 'PodScheduled');
  if (existing?.status === 'False' && existing.reason === reason && existing.message === message) return undefined;
  const condition: PodCondition = {
    type: 'PodScheduled',
    status: 'False',
    reason,
    message,
    lastProbeTime: null,
    lastTransitionTime: existing?.status === 'False' && existing.lastTransitionTime ? existing.lastTransitionTime : now,
  };
  if (existing) conditions[conditions.indexOf(existing)] = condition;
  else conditions.push(condition);
  return conditions;
}

/** Writes the condition and the Event of a pod that could not be scheduled. */
export class UnschedulableReporter {
  constructor(
    private readonly client: Client,
    /** Uncached reads, for retrying a status write that lost a race. */
    private readonly reader: Client,
    private readonly events: EventRecorder,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Records the Warning Event and sets the condition (only when it changes; a conflicting write
   * is retried on a fresh read, and given up if the pod was bound or deleted meanwhile).
   * Never throws: failures are logged.
   */
  async report(pod: Pod, reason: UnschedulableReason, message: string): Promise<void> {
    this.events.event(pod, 'Warning', 'FailedScheduling', message);
    let current = pod;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const conditions = withUnschedulableCondition(current, reason, message, formatTimestamp(this.clock.now()));
      if (!conditions) return;
      try {
        await this.client.updateStatus<Pod>({ ...current, status: { ...current.status, conditions } } as Pod);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt === 3) {
          this.logger.warn({ err, pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` }, 'cannot write the PodScheduled condition');
          return;
        }
      }
      try {
        current = await this.reader.get(Pod, pod.metadata!.name!, { namespace: pod.metadata!.namespace! });
      } catch (err) {
        if (!isNotFound(err)) this.logger.warn({ err }, 'cannot re-read a pod to write its PodScheduled condition');
        return;
      }
      if (current.metadata?.uid !== pod.metadata?.uid || (current.spec as { nodeName?: string } | undefined)?.nodeName) return;
    }
  }
}
