/**
 * Zones and disruption, as kube's node lifecycle controller judges them. Nodes are grouped by
 * zone (`topology.kubernetes.io/zone`, with the region when set; '' without). Each zone has a
 * rate-limited queue of nodes to taint NoExecute — tainting is what evicts, through the taint
 * manager — and a state:
 *
 * - Normal: taint at `nodeEvictionRate` (0.1 nodes/s);
 * - PartialDisruption (at least 3 nodes and `unhealthyZoneThreshold`, 55 %, of them not Ready):
 *   `secondaryNodeEvictionRate` in a zone of more than `largeClusterSizeThreshold` (50) nodes,
 *   nothing at all in a smaller one;
 * - FullDisruption (no node Ready): the normal rate — unless every zone is fully disrupted. Then
 *   it is most likely this controller that is cut off, not the world: nothing is tainted, the
 *   NoExecute taints already there are removed, and when some node is heard from again every node
 *   gets a fresh grace period before anything resumes.
 */
import type { Clock, Node } from '../../lib/index.js';
import { LABEL_REGION, LABEL_ZONE, type ResolvedNodeLifecycleOptions } from './options.js';
import { RateLimitedTimedQueue, type TimedAction } from './rate-limited-queue.js';

/** The state of one zone (kube's ZoneState). */
export type ZoneState = 'Initial' | 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** What the disruption judgement needs of one node. */
export interface NodeReadiness {
  zone: string;
  /** The status of its Ready condition (undefined: none). */
  ready: string | undefined;
  /** Labelled `node.kubernetes.io/exclude-disruption`: it does not count. */
  excluded: boolean;
}

/** A change of the whole cluster's disruption mode (see the file header). */
export type DisruptionTransition = 'enteredFullDisruption' | 'exitedFullDisruption' | undefined;

/** The zone key of a node (kube's GetZoneKey): region and zone, '' when it has neither label. */
export function zoneKeyOf(node: Node): string {
  const labels = node.metadata?.labels ?? {};
  const zone = labels[LABEL_ZONE] ?? labels['failure-domain.beta.kubernetes.io/zone'] ?? '';
  const region = labels[LABEL_REGION] ?? labels['failure-domain.beta.kubernetes.io/region'] ?? '';
  return region ? `${region}:\u0000:${zone}` : zone;
}

/** kube's ComputeZoneState: how many of a zone's nodes are not Ready, and what that makes the zone. */
export function computeZoneState(readyStatuses: readonly (string | undefined)[], unhealthyZoneThreshold: number): { unhealthy: number; state: ZoneState } {
  const ready = readyStatuses.filter((status) => status === 'True').length;
  const unhealthy = readyStatuses.length - ready;
  if (ready === 0 && unhealthy > 0) return { unhealthy, state: 'FullDisruption' };
  if (unhealthy > 2 && unhealthy / readyStatuses.length >= unhealthyZoneThreshold) return { unhealthy, state: 'PartialDisruption' };
  return { unhealthy, state: 'Normal' };
}

/**
 * The per-zone NoExecute tainting queues and zone states (kube's `zoneNoExecuteTainter` and
 * `handleDisruption`). Queued nodes are handed to `taint` by a pass that runs `taintingDelayMs`
 * after a {@link kick}, and again whenever the limiters or retries say something is due.
 */
export class ZoneNoExecuteTainter {
  private readonly states = new Map<string, ZoneState>();
  private readonly queues = new Map<string, RateLimitedTimedQueue>();
  private timer: { cancel(): void; at: number } | undefined;
  private running = false;
  private rerun = false;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly options: ResolvedNodeLifecycleOptions,
    private readonly taint: TimedAction,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The state of a zone (undefined for a zone never seen). */
  stateOf(zone: string): ZoneState | undefined {
    return this.states.get(zone);
  }

  /** The nodes waiting to be tainted in a zone, in order. */
  queued(zone: string): string[] {
    return this.queues.get(zone)?.values() ?? [];
  }

  /** Queues a node for tainting; false if it already waits. */
  add(zone: string, nodeName: string): boolean {
    return this.queueOf(zone).add(nodeName);
  }

  /** Takes a node off its zone's queue; true if it was there. */
  remove(zone: string, nodeName: string): boolean {
    return this.queues.get(zone)?.remove(nodeName) ?? false;
  }

  /** Takes a node off every queue (it was deleted, or moved zones). */
  removeEverywhere(nodeName: string): void {
    for (const queue of this.queues.values()) queue.remove(nodeName);
  }

  /**
   * Judges every zone from its nodes' readiness and sets each zone's rate (kube's
   * handleDisruption); answers whether the cluster entered or left full disruption, which the
   * caller acts on (removing taints, granting fresh grace periods).
   */
  handleDisruption(nodes: Iterable<NodeReadiness>): DisruptionTransition {
    const byZone = new Map<string, (string | undefined)[]>();
    for (const node of nodes) {
      if (node.excluded) continue;
      const statuses = byZone.get(node.zone) ?? [];
      statuses.push(node.ready);
      byZone.set(node.zone, statuses);
    }
    const newStates = new Map<string, ZoneState>();
    let allAreFullyDisrupted = true;
    for (const [zone, statuses] of byZone) {
      const { state } = computeZoneState(statuses, this.options.unhealthyZoneThreshold);
      if (state !== 'FullDisruption') allAreFullyDisrupted = false;
      newStates.set(zone, state);
      if (!this.states.has(zone)) {
        this.states.set(zone, 'Initial');
        this.queueOf(zone);
      }
    }
    let allWereFullyDisrupted = true;
    for (const [zone, state] of [...this.states]) {
      if (!newStates.has(zone)) {
        this.states.delete(zone); // no node left there
        continue;
      }
      if (state !== 'FullDisruption') allWereFullyDisrupted = false;
    }
    if (allAreFullyDisrupted && allWereFullyDisrupted) return undefined;
    if (allAreFullyDisrupted) {
      for (const zone of this.states.keys()) {
        this.queueOf(zone).swapLimiter(0);
        this.states.set(zone, 'FullDisruption');
      }
      return 'enteredFullDisruption';
    }
    let transition: DisruptionTransition;
    if (allWereFullyDisrupted) transition = 'exitedFullDisruption';
    let changed = false;
    for (const [zone, state] of newStates) {
      if (transition === undefined && this.states.get(zone) === state) continue;
      this.queueOf(zone).swapLimiter(this.rateFor(state, byZone.get(zone)?.length ?? 0));
      this.states.set(zone, state);
      changed = true;
    }
    // A faster rate may let waiting nodes through now.
    if (changed) this.kick();
    return transition;
  }

  /** Runs a tainting pass `taintingDelayMs` from now (sooner if one is already due). */
  kick(): void {
    this.schedule(this.options.taintingDelayMs);
  }

  /** Cancels the pending pass; nothing runs afterwards. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** kube's setLimiterInZone: the rate of a zone of `size` nodes in `state`. */
  private rateFor(state: ZoneState, size: number): number {
    if (state === 'PartialDisruption') return size > this.options.largeClusterSizeThreshold ? this.options.secondaryNodeEvictionRate : 0;
    return this.options.nodeEvictionRate; // Normal; FullDisruption of one zone while others are fine
  }

  private queueOf(zone: string): RateLimitedTimedQueue {
    let queue = this.queues.get(zone);
    if (!queue) {
      queue = new RateLimitedTimedQueue(this.clock, this.options.nodeEvictionRate);
      this.queues.set(zone, queue);
    }
    return queue;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + delayMs;
    if (this.timer && this.timer.at <= at) return;
    this.timer?.cancel();
    const handle = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
    this.timer = { cancel: () => handle.cancel(), at };
  }

  /** One pass over every zone's queue at a time; a kick during a pass runs another after it. */
  private async run(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.rerun = false;
        let next: number | undefined;
        for (const queue of [...this.queues.values()]) {
          try {
            const wait = await queue.try(this.taint);
            if (wait !== undefined) next = Math.min(next ?? Infinity, wait);
          } catch (err) {
            this.onError(err);
            next = Math.min(next ?? Infinity, 1000);
          }
        }
        if (next !== undefined && !this.stopped) this.schedule(next);
      } while (this.rerun && !this.stopped);
    } finally {
      this.running = false;
    }
  }
}
