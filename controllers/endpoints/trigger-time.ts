/**
 * The `endpoints.kubernetes.io/last-change-trigger-time` annotation, as kube's
 * TriggerTimeTracker computes it: the time of the earliest change, since the previous sync of a
 * Service, that led to this write of its Endpoints — a pod's Ready condition transition, or the
 * Service's creation. Consumers (kube-proxy's latency SLIs) read it to measure how long a change
 * took to reach the network programming.
 *
 * Like kube's, the tracker remembers only the last trigger time seen per pod; an object that
 * changes twice between two syncs counts once.
 */
import type { Pod, Service } from '../../lib/index.js';

/** The annotation the tracker's result is written to. */
export const LAST_CHANGE_TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/** What was seen at a Service's previous sync. */
interface ServiceState {
  /** Per pod name: its trigger time (ms since the epoch). */
  lastPodTriggerTimes: Map<string, number>;
  lastServiceTriggerTime: number;
}

/** A pod's trigger time: when its Ready condition last changed (undefined if it has none). */
function podTriggerTime(pod: Pod): number | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const time = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
  return Number.isNaN(time) ? undefined : time;
}

/** Tracks the trigger times of each Service's inputs between syncs. */
export class TriggerTimeTracker {
  private readonly services = new Map<string, ServiceState>();

  /**
   * Records the state of a sync of `service` over `pods` and answers the trigger time to
   * publish (ms since the epoch), or undefined when nothing changed since the previous sync (the
   * annotation is then removed). The first sync of a Service answers its creation time.
   */
  compute(service: Service, pods: readonly Pod[]): number | undefined {
    const key = serviceKey(service);
    const previous = this.services.get(key);
    let earliestChange: number | undefined;
    const podTimes = new Map<string, number>();
    for (const pod of pods) {
      const time = podTriggerTime(pod);
      if (time === undefined) continue;
      const name = pod.metadata?.name ?? '';
      podTimes.set(name, time);
      if (time > (previous?.lastPodTriggerTimes.get(name) ?? -Infinity)) earliestChange = Math.min(earliestChange ?? time, time);
    }
    const created = Date.parse(service.metadata?.creationTimestamp ?? '');
    const serviceTime = Number.isNaN(created) ? 0 : created;
    if (serviceTime > (previous?.lastServiceTriggerTime ?? -Infinity)) earliestChange = Math.min(earliestChange ?? serviceTime, serviceTime);
    this.services.set(key, { lastPodTriggerTimes: podTimes, lastServiceTriggerTime: serviceTime });
    if (!previous) return Number.isNaN(created) ? undefined : created;
    return earliestChange;
  }

  /** Forgets a Service that is gone. */
  forget(namespace: string, name: string): void {
    this.services.delete(`${namespace}/${name}`);
  }
}

function serviceKey(service: Service): string {
  return `${service.metadata?.namespace ?? ''}/${service.metadata?.name ?? ''}`;
}
