/**
 * The node lifecycle controller: notices nodes that stopped heartbeating and takes them out of
 * service, as kube's — but watch-driven and with keelson's seconds instead of minutes.
 *
 * One reconcile of a Node:
 *
 *  1. note its heartbeats (Lease `kube-node-lease/<node>` renewed, Ready heartbeat moved; see
 *     node-health.ts) and, once `nodeMonitorGracePeriodMs` (6 s) passed without one, set its
 *     Ready (and pressure) conditions to Unknown — `NodeStatusUnknown`, "Kubelet stopped posting
 *     node status."; until then come back exactly when the grace runs out (no polling loop);
 *  2. when it is not Ready, mark every pod bound to it not Ready at once (pods.ts), so Endpoints
 *     drop them;
 *  3. keep the NoSchedule taints its conditions call for (`unreachable`, `not-ready`, pressure,
 *     `unschedulable`);
 *  4. queue it for the NoExecute taint — `unreachable` for Unknown, `not-ready` for False —
 *     which the taint manager acts on; the queues are per zone and rate limited, and halted in
 *     disruption (zones.ts); a Ready node loses both NoExecute taints at once.
 *
 * Lease events and pods newly bound to a node wake the node's reconcile.
 */
import { inject, optional } from 'inversify';
import {
  ApiReader,
  Client,
  Clock,
  Controller,
  EventRecorder,
  Index,
  ignoreNotFound,
  Lease,
  Logger,
  Node,
  Pod,
  Watches,
  type Predicate,
  type ReconcileRequest,
  type Reconciler,
  type Result,
  type Runnable,
} from '../../lib/index.js';
import { conditionOf, markConditionsUnknown, NodeHealthMap } from './node-health.js';
import { LABEL_EXCLUDE_DISRUPTION, NOT_READY_TAINT, NodeLifecycleConfiguration, resolveNodeLifecycleOptions, UNREACHABLE_TAINT, type NodeLifecycleOptions, type ResolvedNodeLifecycleOptions } from './options.js';
import { markPodsNotReady } from './pods.js';
import { conditionTaints, getNode, hasTaint, isConditionTaint, sameTaint, swapNodeTaints } from './taints.js';
import { zoneKeyOf, ZoneNoExecuteTainter, type NodeReadiness } from './zones.js';

/** The cache index (and field selector) of pods by the node they are bound to. */
export const POD_NODE_NAME_INDEX = 'spec.nodeName';

function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** A pod newly bound to a node, or turning Ready there, may need marking not Ready. */
const podBoundOrReady: Predicate = {
  create: (pod) => Boolean((pod as Pod).spec?.nodeName),
  update: (oldPod, newPod) => {
    const [before, after] = [oldPod as Pod, newPod as Pod];
    if (!after.spec?.nodeName) return false;
    return before.spec?.nodeName !== after.spec.nodeName || (!isPodReady(before) && isPodReady(after));
  },
  delete: () => false,
};

/** What the disruption judgement needs of a node. */
function readinessOf(node: Node): NodeReadiness {
  return { zone: zoneKeyOf(node), ready: conditionOf(node, 'Ready')?.status, excluded: LABEL_EXCLUDE_DISRUPTION in (node.metadata?.labels ?? {}) };
}

/** Watches node heartbeats and takes silent nodes out of service (see the file header). */
@Controller({ for: Node, name: 'node-lifecycle', concurrency: 4 })
@Index(Pod, POD_NODE_NAME_INDEX, (pod) => (pod.spec?.nodeName ? [pod.spec.nodeName] : []))
export class NodeLifecycleController implements Reconciler<Node>, Runnable {
  /** The options in effect, defaults filled in. */
  readonly options: ResolvedNodeLifecycleOptions;
  /** The per-zone tainting queues and zone states. */
  readonly tainter: ZoneNoExecuteTainter;
  private readonly health = new NodeHealthMap();
  /** What the disruption judgement needs of each node, by name (seeded from every node at the first reconcile). */
  private readonly known = new Map<string, NodeReadiness>();
  /** The nodes this controller announced with a `RegisteredNode` Event. */
  private readonly registered = new Set<string>();
  private seeded = false;
  /** Per not-Ready node, the uids of its pods already marked not Ready in this episode. */
  private readonly podsMarked = new Map<string, Set<string>>();

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ApiReader) private readonly apiReader: ApiReader,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Clock) private readonly clock: Clock,
    @inject(Logger) private readonly logger: Logger,
    @inject(NodeLifecycleConfiguration) @optional() options: NodeLifecycleOptions = {},
  ) {
    this.options = resolveNodeLifecycleOptions(options);
    this.tainter = new ZoneNoExecuteTainter(
      clock,
      this.options,
      (name) => this.taintForEviction(name),
      (err) => this.logger.error({ err }, 'NoExecute tainting pass failed'),
    );
  }

  /** A node's Lease (in `kube-node-lease`, named as the node) concerns the node. */
  @Watches(Lease)
  leaseToNode(lease: Lease): ReconcileRequest[] {
    const { namespace, name } = lease.metadata ?? {};
    return namespace === this.options.leaseNamespace && name ? [{ namespace: '', name }] : [];
  }

  /** A pod bound (or turning Ready) on a node concerns the node: on one that is not Ready, it is marked not Ready too. */
  @Watches(Pod, { predicates: [podBoundOrReady] })
  podToNode(pod: Pod): ReconcileRequest[] {
    return pod.spec?.nodeName ? [{ namespace: '', name: pod.spec.nodeName }] : [];
  }

  /** Stops the tainting timers. */
  stop(): void {
    this.tainter.stop();
  }

  /** One node's health, pods, taints and zone (see the file header). */
  async reconcile({ name }: ReconcileRequest): Promise<Result | void> {
    await this.seedOnce();
    const cached = await getNode(this.client, name);
    if (!cached) {
      this.forget(name);
      await this.afterChange();
      return;
    }
    const now = this.clock.now();
    if (!this.registered.has(name)) {
      this.registered.add(name);
      this.events.eventf(cached, 'Normal', 'RegisteredNode', 'Registered Node %s in Controller', name);
    }
    const previousZone = this.known.get(name)?.zone;
    if (previousZone !== undefined && previousZone !== zoneKeyOf(cached)) this.tainter.removeEverywhere(name); // moved zones

    // 1. Heartbeats, and Unknown once the grace period has passed without one.
    const lease = await this.getLease(name);
    const health = this.health.observe(cached, lease, now);
    const observedReady = conditionOf(cached, 'Ready');
    const grace = observedReady ? this.options.nodeMonitorGracePeriodMs : this.options.nodeStartupGracePeriodMs;
    const deadline = health.probeMs + grace;
    let node = cached;
    if (now >= deadline) {
      const silent = structuredClone(cached);
      if (markConditionsUnknown(silent, now)) {
        node = await this.client.updateStatus(silent);
        this.logger.info({ node: name, silentMs: now - health.probeMs }, 'node stopped heartbeating: Ready is Unknown');
      }
    }
    const ready = conditionOf(node, 'Ready');
    this.known.set(name, readinessOf(node));
    if (observedReady?.status === 'True' && ready?.status !== 'True') {
      this.events.eventf(node, 'Normal', 'NodeNotReady', 'Node %s status is now: %s', name, 'NodeNotReady');
    }

    // 2. Pods.
    if (ready && ready.status !== 'True') await this.markPodsNotReady(node, now);
    else this.podsMarked.delete(name);

    // 3. NoSchedule taints from conditions.
    node = (await this.reconcileConditionTaints(node, now)) ?? node;

    // 4. NoExecute taints, rate limited per zone.
    await this.processTaintBasedEviction(node, ready?.status, now);
    await this.afterChange();
    return now < deadline ? { requeueAfterMs: deadline - now } : undefined;
  }

  /** kube's processTaintBaseEviction for the node's current Ready status. */
  private async processTaintBasedEviction(node: Node, ready: string | undefined, nowMs: number): Promise<void> {
    const name = node.metadata?.name ?? '';
    const zone = zoneKeyOf(node);
    if (ready === 'True') {
      await this.markNodeAsReachable(node, nowMs);
      return;
    }
    if (ready !== 'False' && ready !== 'Unknown') return; // no Ready condition yet: nothing to judge
    const [wanted, opposite] = ready === 'False' ? [NOT_READY_TAINT, UNREACHABLE_TAINT] : [UNREACHABLE_TAINT, NOT_READY_TAINT];
    if (hasTaint(node, opposite)) {
      // Tainted already, only for the other reason: swap at once, no new eviction decision.
      await swapNodeTaints(this.client, this.apiReader, node, [wanted], [opposite], nowMs);
      return;
    }
    if (hasTaint(node, wanted)) return;
    if (this.tainter.add(zone, name)) this.logger.info({ node: name, zone, ready }, 'node queued for the NoExecute taint');
    this.tainter.kick();
  }

  /** The pass's action for one queued node: taint it NoExecute for its current Ready status. */
  private async taintForEviction(name: string): Promise<true | number> {
    const node = await getNode(this.client, name);
    if (!node) return true;
    const ready = conditionOf(node, 'Ready');
    if (!ready) return 50;
    if (ready.status !== 'False' && ready.status !== 'Unknown') return true; // Ready again
    const [wanted, opposite] = ready.status === 'False' ? [NOT_READY_TAINT, UNREACHABLE_TAINT] : [UNREACHABLE_TAINT, NOT_READY_TAINT];
    await swapNodeTaints(this.client, this.apiReader, node, [wanted], [opposite], this.clock.now());
    this.logger.info({ node: name, taint: wanted.key }, 'node tainted NoExecute');
    return true;
  }

  /** kube's markNodeAsReachable: no NoExecute taint of this controller's, and nothing queued. */
  private async markNodeAsReachable(node: Node, nowMs: number): Promise<void> {
    this.tainter.remove(zoneKeyOf(node), node.metadata?.name ?? '');
    await swapNodeTaints(this.client, this.apiReader, node, [], [UNREACHABLE_TAINT, NOT_READY_TAINT], nowMs);
  }

  /** Brings the node's condition-derived NoSchedule taints in line with its conditions. */
  private async reconcileConditionTaints(node: Node, nowMs: number): Promise<Node | undefined> {
    const wanted = conditionTaints(node);
    const present = (node.spec?.taints ?? []).filter(isConditionTaint);
    const add = wanted.filter((taint) => !present.some((p) => sameTaint(p, taint)));
    const remove = present.filter((taint) => !wanted.some((w) => sameTaint(w, taint)));
    if (add.length === 0 && remove.length === 0) return node;
    return swapNodeTaints(this.client, this.apiReader, node, add, remove, nowMs);
  }

  /** Marks the node's pods not Ready, each once per not-Ready episode. */
  private async markPodsNotReady(node: Node, nowMs: number): Promise<void> {
    const name = node.metadata?.name ?? '';
    const marked = this.podsMarked.get(name) ?? new Set<string>();
    this.podsMarked.set(name, marked);
    const { items } = await this.client.list(Pod, { fieldSelector: `${POD_NODE_NAME_INDEX}=${name}` });
    // Each Ready pod once: a pod the agent reports Ready again afterwards is not fought over.
    const pending = items.filter((pod) => isPodReady(pod) && !marked.has(pod.metadata?.uid ?? ''));
    if (pending.length === 0) return;
    const deps = { client: this.client, reader: this.apiReader, events: this.events, logger: this.logger };
    try {
      for (const pod of await markPodsNotReady(deps, pending, name, nowMs)) marked.add(pod.metadata?.uid ?? '');
    } catch (err) {
      // The reconcile is retried; pods written already are not Ready any more and are skipped then.
      this.logger.warn({ err, node: name }, 'could not mark every pod of the node not ready; retrying');
      throw err;
    }
  }

  /** Judges the zones after a change and acts on entering or leaving full disruption. */
  private async afterChange(): Promise<void> {
    const transition = this.tainter.handleDisruption(this.known.values());
    if (transition === 'enteredFullDisruption') {
      this.logger.info('every node is not Ready: entering full disruption mode, no evictions');
      const { items } = await this.client.list(Node);
      for (const node of items) await this.markNodeAsReachable(node, this.clock.now());
    } else if (transition === 'exitedFullDisruption') {
      this.logger.info('some nodes are Ready again: leaving full disruption mode');
      this.health.resetProbes(this.clock.now());
      // The nodes still not Ready get their taints — at the zones' rates — as they would have.
      const { items } = await this.client.list(Node);
      for (const node of items) {
        const status = conditionOf(node, 'Ready')?.status;
        if (status === 'False' || status === 'Unknown') await this.processTaintBasedEviction(node, status, this.clock.now());
      }
    }
  }

  /**
   * Learns every node's readiness before judging any zone, as kube's monitor pass sees all nodes
   * at once: judged alone, the first node reconciled after a restart could look like a full
   * disruption. The cache has synced before the first reconcile.
   */
  private async seedOnce(): Promise<void> {
    if (this.seeded) return;
    const { items } = await this.client.list(Node);
    for (const node of items) {
      const name = node.metadata?.name;
      if (name && !this.known.has(name)) this.known.set(name, readinessOf(node));
    }
    this.seeded = true;
  }

  private forget(name: string): void {
    this.known.delete(name);
    if (this.registered.delete(name)) {
      this.events.eventf({ apiVersion: 'v1', kind: 'Node', metadata: { name } }, 'Normal', 'RemovingNode', 'Removing Node %s from Controller', name);
    }
    this.health.forget(name);
    this.podsMarked.delete(name);
    this.tainter.removeEverywhere(name);
  }

  private async getLease(name: string): Promise<Lease | undefined> {
    return this.client.get(Lease, name, { namespace: this.options.leaseNamespace }).catch(ignoreNotFound);
  }
}
