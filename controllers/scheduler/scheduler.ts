/**
 * The scheduler: assigns each pending pod to a node, with kube-scheduler's semantics, as a
 * keelson controller. A pod is ours when it has no `spec.nodeName`, its `spec.schedulerName` is
 * unset or ours ({@link DEFAULT_SCHEDULER_NAME}), it has no scheduling gates, and it is neither
 * being deleted nor finished.
 *
 * How it runs under the Manager, in two parts:
 * - **reconcile** keeps the view current: every Pod event and every Node event (a request
 *   without a namespace names a Node — pods are always namespaced) brings the
 *   {@link SchedulerCache} and the {@link SchedulingQueue} in line with the object as the
 *   informer now holds it, and wakes the loop;
 * - **the scheduling loop** (a {@link Runnable}: the manager starts it once the caches synced
 *   and this manager leads, and stops it) runs one cycle per pod popped from the queue and idles
 *   until work arrives or the next backoff ends; all timing comes from the injected Clock.
 *
 * One cycle, synchronous: preFilter (every plugin) → filter the nodes, starting where the last
 * cycle stopped and stopping once enough feasible nodes are found (`percentageOfNodesToScore`)
 * → preScore, score (leaving out the plugins whose preScore said skip), normalize (by position
 * when the plugin has `normalizeScores`), weight → the best node (ties broken at random) →
 * **assume** the pod there, so the next cycle sees it → bind asynchronously (a Binding carrying
 * the pod's uid, see {@link ClientBinder}). A refused binding forgets the assumption and
 * retries after a backoff; a pod that fits nowhere gets `PodScheduled=False` and a
 * `FailedScheduling` Event, and waits for a cluster event that may help it.
 */
import { inject, multiInject, optional, type Newable } from 'inversify';
import { Counter, Gauge } from 'prom-client';
import {
  ApiReader,
  Client,
  Clock,
  Controller,
  EventRecorder,
  ignoreNotFound,
  isNotFound,
  Logger,
  MetricsToken,
  Node,
  Pod,
  Wakeup,
  Watches,
  type Binding,
  type KindRef,
  type KubeObject,
  type Metrics,
  type Predicate,
  type ReconcileRequest,
  type Reconciler,
  type Runnable,
} from '../../lib/index.js';
import { SchedulerCache } from './cache.js';
import {
  DEFAULT_SCHEDULER_NAME,
  SchedulerPlugins,
  schedulerPluginOptions,
  type CycleState,
  type FilterFailure,
  type NodeInfo,
  type SchedulerPluginImpl,
} from './framework.js';
import { defaultPlugins } from './plugins/index.js';
import { nodeChanges, podKey, SchedulingQueue, type QueuedPodInfo } from './queue.js';
import { isTerminated } from './snapshot.js';
import { fitErrorMessage, NO_NODES_AVAILABLE, UnschedulableReporter, type Diagnosis } from './unschedulable.js';

/** The scheduler's settings; bind an object under {@link SchedulerConfiguration} to change them. */
export interface SchedulerOptions {
  /** Pods naming this `spec.schedulerName` (or none) are ours (default `default-scheduler`). */
  schedulerName?: string;
  /** Percent of the nodes to find feasible before scoring; 0 (default) = kube's adaptive `50 - nodes/125`, at least 5. */
  percentageOfNodesToScore?: number;
  /** First backoff after a failed attempt (default 1 s). */
  podInitialBackoffMs?: number;
  /** Longest backoff (default 10 s). */
  podMaxBackoffMs?: number;
  /** An unschedulable pod is retried after this long even without a cluster event (default 5 min). */
  podMaxUnschedulableMs?: number;
  /** Default plugins to leave out, by name (`'*'` for all of them). */
  disabledPlugins?: readonly string[];
  /** The default plugins, constructed without arguments (default: kube's default profile, `plugins/index.ts`). */
  defaultPlugins?: readonly Newable[];
  /** Random numbers in [0, 1) for breaking ties between equally good nodes (default Math.random). */
  random?: () => number;
}

/** DI token of {@link SchedulerOptions}: `container.bind(SchedulerConfiguration).toConstantValue({ … })`. */
export const SchedulerConfiguration: unique symbol = Symbol.for('keelson.scheduler.Configuration') as never;

/** Writes the scheduler's decision: binds a pod (of this uid) to a node. */
export interface Binder {
  /** Resolves once the API accepted the binding; rejects with the API's error (409 if the pod was bound, replaced or is being deleted). */
  bind(pod: Pod, nodeName: string): Promise<void>;
}

/** DI token of the {@link Binder} (default: a {@link ClientBinder} over the manager's Client). */
export const SchedulerBinder: unique symbol = Symbol.for('keelson.scheduler.Binder') as never;

/**
 * Binds by creating a core/v1 Binding through a Client — `POST namespaces/<ns>/bindings` over
 * HTTP, the same binding logic in-process — with the pod's uid as a precondition, so a pod
 * deleted and recreated under the same name is never bound by mistake.
 */
export class ClientBinder implements Binder {
  constructor(private readonly client: Client) {}

  async bind(pod: Pod, nodeName: string): Promise<void> {
    const { name, namespace, uid } = pod.metadata!;
    await this.client.create<Binding>({
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: name!, namespace: namespace!, uid: uid! },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    });
  }
}

/** Scheduling cycles run back to back before the event loop gets a turn (intake, binding I/O). */
const CYCLES_PER_SLICE = 16;
/** How long `stop` waits for bindings and status writes in flight. */
const STOP_WRITES_TIMEOUT_MS = 10_000;
/** Kube's minimum number of feasible nodes to find, and minimum adaptive percentage. */
const MIN_FEASIBLE_NODES = 100;
const MIN_FEASIBLE_PERCENTAGE = 5;

/** A plugin instance with the name and weight it was declared with. */
export interface ResolvedPlugin {
  /** The `@SchedulerPlugin` name (also what unschedulable pods record as having rejected them). */
  name: string;
  /** The multiplier of its normalized scores. */
  weight: number;
  /** The instance. */
  impl: SchedulerPluginImpl;
}

/** `scheduler_schedule_attempts_total` by result. */
type AttemptCounters = Record<'scheduled' | 'unschedulable' | 'error', { inc(): void }>;

/** The outcome of one cycle: a node, or why there is none. */
type Decision = { nodeName: string } | { diagnosis: Diagnosis } | { noNodes: true };

/**
 * How many feasible nodes a cycle looks for (kube's numFeasibleNodesToFind): every node below
 * 100; else `percentage` of them (adaptive when 0: 50 − nodes/125, at least 5 %), at least 100.
 */
export function numFeasibleNodesToFind(percentage: number, numAllNodes: number): number {
  if (numAllNodes < MIN_FEASIBLE_NODES || percentage >= 100) return numAllNodes;
  let percent = percentage;
  if (percent <= 0) percent = Math.max(MIN_FEASIBLE_PERCENTAGE, 50 - Math.trunc(numAllNodes / 125));
  return Math.max(MIN_FEASIBLE_NODES, Math.trunc((numAllNodes * percent) / 100));
}

/**
 * The plugins a scheduler runs: the defaults, followed by every plugin bound to
 * {@link SchedulerPlugins} (resolved by the manager's container). A default disabled by name, or
 * replaced by a bound plugin of the same name, is left out. The defaults are constructed here
 * with `new`: a controller cannot reach the manager's container through keelson's public API;
 * bind a default plugin class to `SchedulerPlugins` yourself to have its dependencies injected.
 */
export function resolvePlugins(bound: readonly SchedulerPluginImpl[], defaults: readonly Newable[], disabled: readonly string[]): ResolvedPlugin[] {
  const named = (impl: SchedulerPluginImpl): ResolvedPlugin => {
    const options = schedulerPluginOptions(impl.constructor);
    if (!options) throw new Error(`${impl.constructor.name} is bound to SchedulerPlugins but is not declared with @SchedulerPlugin({ name })`);
    return { name: options.name, weight: options.weight, impl };
  };
  const users = bound.map(named);
  const taken = new Set<string>();
  for (const plugin of users) {
    if (taken.has(plugin.name)) throw new Error(`two scheduler plugins are named ${plugin.name}`);
    taken.add(plugin.name);
  }
  const builtins = disabled.includes('*')
    ? []
    : defaults.map((cls) => named(new cls() as SchedulerPluginImpl)).filter((p) => !disabled.includes(p.name) && !taken.has(p.name));
  return [...builtins, ...users];
}

/** A plugin's (normalized) score, which must lie in [0, 100] as kube requires. */
function checkedScore(plugin: string, score: number): number {
  if (score >= 0 && score <= 100) return score;
  throw new Error(`plugin ${plugin} returned an invalid score ${score}: it should be in the range of [0, 100] after normalizing`);
}

/**
 * Pod events that may change a scheduling decision: creations, deletions, and updates of the
 * uid (a pod replaced while the informer relisted), node, labels, spec (generation), deletion
 * mark or terminal phase — not status-only updates.
 */
const schedulingRelevant: Predicate<Pod> = {
  update(oldPod, newPod) {
    const nodeName = (p: Pod) => (p.spec as { nodeName?: string } | undefined)?.nodeName;
    return (
      oldPod.metadata?.uid !== newPod.metadata?.uid ||
      nodeName(oldPod) !== nodeName(newPod) ||
      oldPod.metadata?.generation !== newPod.metadata?.generation ||
      !oldPod.metadata?.deletionTimestamp !== !newPod.metadata?.deletionTimestamp ||
      isTerminated(oldPod) !== isTerminated(newPod) ||
      JSON.stringify(oldPod.metadata?.labels ?? {}) !== JSON.stringify(newPod.metadata?.labels ?? {})
    );
  },
};

/** Lets the event loop run (informer events, binding I/O) between slices of scheduling cycles. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The scheduler controller (see the file header). */
@Controller({ for: Pod, name: 'scheduler', concurrency: 2, predicates: [schedulingRelevant] })
export class Scheduler implements Reconciler<Pod>, Runnable {
  /** Nodes and placed pods, bound or assumed; also each cycle's snapshot. */
  readonly cache = new SchedulerCache();
  /** Pending pods. */
  readonly queue: SchedulingQueue;
  /** The plugins, in the order they run. */
  readonly plugins: readonly ResolvedPlugin[];
  private readonly filters: ResolvedPlugin[];
  private readonly scorers: ResolvedPlugin[];
  private readonly schedulerName: string;
  private readonly percentageOfNodesToScore: number;
  private readonly random: () => number;
  private readonly binder: Binder;
  private readonly reporter: UnschedulableReporter;
  private readonly attempts: AttemptCounters;
  private nextStartNodeIndex = 0;
  /** Reused per cycle for one plugin's scores. */
  private scratch = new Float64Array(0);
  /** The scheduling loop, while it runs. */
  private loop: Promise<void> | undefined;
  /** The idle loop's sleep, cut short when work arrives, a backoff ends, or it must stop. */
  private readonly wakeup: Wakeup;
  /** Bindings and status writes in flight (awaited by `stop`). */
  private readonly writes = new Set<Promise<void>>();

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ApiReader) reader: Client,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Clock) private readonly clock: Clock,
    @inject(Logger) private readonly logger: Logger,
    @multiInject(SchedulerPlugins) @optional() boundPlugins: SchedulerPluginImpl[] = [],
    @inject(SchedulerConfiguration) @optional() options: SchedulerOptions = {},
    @inject(SchedulerBinder) @optional() binder?: Binder,
    @inject(MetricsToken) @optional() metrics?: Metrics,
  ) {
    this.schedulerName = options.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.percentageOfNodesToScore = options.percentageOfNodesToScore ?? 0;
    this.random = options.random ?? Math.random;
    this.wakeup = new Wakeup(clock);
    this.queue = new SchedulingQueue({
      clock,
      ...(options.podInitialBackoffMs !== undefined ? { initialBackoffMs: options.podInitialBackoffMs } : {}),
      ...(options.podMaxBackoffMs !== undefined ? { maxBackoffMs: options.podMaxBackoffMs } : {}),
      ...(options.podMaxUnschedulableMs !== undefined ? { maxUnschedulableMs: options.podMaxUnschedulableMs } : {}),
    });
    this.plugins = resolvePlugins(boundPlugins, options.defaultPlugins ?? defaultPlugins, options.disabledPlugins ?? []);
    this.filters = this.plugins.filter((p) => p.impl.filter);
    this.scorers = this.plugins.filter((p) => p.impl.score);
    this.binder = binder ?? new ClientBinder(client);
    this.reporter = new UnschedulableReporter(client, reader, events, clock, logger);
    this.attempts = this.registerMetrics(metrics);
  }

  /** A Node event: reconcile the node (a request without a namespace). */
  @Watches(Node)
  nodeRequest(node: Node): ReconcileRequest[] {
    return [{ namespace: '', name: node.metadata!.name! }];
  }

  /** Brings the view of one pod or node in line with the informer's; the loop schedules what is pending. */
  async reconcile(request: ReconcileRequest): Promise<void> {
    if (request.namespace) this.observePod(`${request.namespace}/${request.name}`, await this.read(Pod, request.name, request.namespace));
    else this.observeNode(request.name, await this.read(Node, request.name));
    this.notify();
  }

  /**
   * The scheduling loop (the manager starts it once the caches synced and this manager leads):
   * takes in every node and pod the informers hold, then runs one cycle per pending pod, idling
   * while the active queue is empty until work arrives or the next backoff ends.
   */
  start(signal: AbortSignal): Promise<void> {
    this.loop ??= this.run(signal);
    return this.loop;
  }

  /** Waits for the loop to end (the manager aborted its signal) and for the writes in flight (at most 10 s). */
  async stop(): Promise<void> {
    this.notify();
    await this.loop?.catch(() => undefined);
    const giveUp = new AbortController();
    await Promise.race([Promise.allSettled([...this.writes]), this.clock.sleep(STOP_WRITES_TIMEOUT_MS, giveUp.signal).catch(() => undefined)]);
    giveUp.abort();
  }

  private async run(signal: AbortSignal): Promise<void> {
    for (const node of (await this.client.list(Node)).items) this.observeNode(node.metadata!.name!, node);
    for (const pod of (await this.client.list(Pod)).items) this.observePod(podKey(pod), pod);
    let cycles = 0;
    while (!signal.aborted) {
      this.queue.flush();
      const info = this.queue.pop();
      if (!info) {
        await this.idle(signal);
        continue;
      }
      this.scheduleOne(info);
      if (++cycles % CYCLES_PER_SLICE === 0) await yieldToEventLoop();
    }
  }

  /** Resolves on {@link notify}, when the next backoff or unschedulable timeout ends, or on abort. */
  private idle(signal: AbortSignal): Promise<void> {
    const at = this.queue.nextFlushAt();
    return this.wakeup.sleep(at === undefined ? undefined : at - this.clock.now(), signal);
  }

  /** Wakes the loop if it idles. */
  private notify(): void {
    this.wakeup.wake();
  }

  /** Tracks a background write until it settles (it never rejects). */
  private track(write: Promise<void>): void {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  /** The object as the informer holds it, or undefined if it is gone. */
  private async read<T extends KubeObject>(kind: KindRef<T>, name: string, namespace?: string): Promise<T | undefined> {
    return this.client.get(kind, name, namespace ? { namespace } : {}).catch(ignoreNotFound);
  }

  /** Brings cache and queue in line with a pod as it now is (undefined: deleted). */
  private observePod(key: string, pod: Pod | undefined): void {
    const uid = pod?.metadata?.uid;
    const known = this.cache.pod(key);
    if (known && (!pod || known.uid !== uid || isTerminated(pod))) {
      this.cache.removePod(key); // deleted, replaced or finished: its room is free
      this.queue.onClusterEvent({ resource: 'AssignedPod', action: 'Delete' });
    }
    const queued = this.queue.get(key);
    if (queued && (!pod || queued.pod.metadata?.uid !== uid)) this.queue.delete(key);
    if (!pod || isTerminated(pod)) return;
    const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    if (nodeName) {
      this.queue.delete(key);
      const before = this.cache.pod(key);
      if (before && !before.assumed && before.pod.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
      this.cache.addBoundPod(pod);
      if (!before || before.assumed) this.queue.onClusterEvent({ resource: 'AssignedPod', action: 'Add' });
      else if (JSON.stringify(before.pod.metadata?.labels ?? {}) !== JSON.stringify(pod.metadata?.labels ?? {})) {
        this.queue.onClusterEvent({ resource: 'AssignedPod', action: 'UpdateLabels' });
      }
      return;
    }
    if (this.cache.pod(key)?.assumed) return; // we are binding it: wait to see it bound
    if (this.isOurs(pod)) this.queue.addOrUpdate(pod);
    else this.queue.delete(key);
  }

  /** Brings the cache in line with a node as it now is (undefined: deleted), waking the pods a change may help. */
  private observeNode(name: string, node: Node | undefined): void {
    const old = this.cache.node(name);
    if (!node) {
      if (old) this.cache.removeNode(name);
      return;
    }
    if (old?.metadata?.resourceVersion === node.metadata?.resourceVersion) return;
    this.cache.setNode(node);
    if (!old) this.queue.onClusterEvent({ resource: 'Node', action: 'Add' });
    else {
      const changed = nodeChanges(old, node);
      if (changed.size > 0) this.queue.onClusterEvent({ resource: 'Node', action: 'Update', changed });
    }
  }

  private isOurs(pod: Pod): boolean {
    const spec = (pod.spec ?? {}) as { schedulerName?: string; schedulingGates?: unknown[] };
    return (spec.schedulerName || DEFAULT_SCHEDULER_NAME) === this.schedulerName && !pod.metadata?.deletionTimestamp && !spec.schedulingGates?.length;
  }

  /** One scheduling cycle for one pod. */
  private scheduleOne(info: QueuedPodInfo): void {
    const pod = info.pod;
    let decision: Decision;
    try {
      decision = this.decide(pod);
    } catch (err) {
      this.attempts.error.inc();
      this.queue.addBackoff(info);
      this.logger.error({ err, pod: info.key }, 'scheduling cycle failed');
      this.track(this.reporter.report(pod, 'SchedulerError', err instanceof Error ? err.message : String(err)));
      return;
    }
    if ('nodeName' in decision) {
      this.bind(info, this.cache.assume(pod, decision.nodeName), decision.nodeName);
      return;
    }
    this.attempts.unschedulable.inc();
    const plugins = 'diagnosis' in decision ? decision.diagnosis.unschedulablePlugins : new Set<string>();
    this.queue.addUnschedulable(info, plugins);
    this.track(this.reporter.report(pod, 'Unschedulable', 'diagnosis' in decision ? fitErrorMessage(decision.diagnosis) : NO_NODES_AVAILABLE));
  }

  /** Binds in the background; a refusal frees the assumed room and sends the pod to backoff. */
  private bind(info: QueuedPodInfo, assumed: Pod, nodeName: string): void {
    const uid = assumed.metadata!.uid!;
    const binding = this.binder.bind(assumed, nodeName).then(
      () => {
        this.attempts.scheduled.inc();
        this.cache.finishBinding(info.key, uid);
        this.events.event(assumed, 'Normal', 'Scheduled', `Successfully assigned ${info.key} to ${nodeName}`);
      },
      async (err: unknown) => {
        this.attempts.error.inc();
        if (!this.cache.forget(info.key, uid)) return; // the pod is gone or replaced: nothing to retry
        this.queue.onClusterEvent({ resource: 'AssignedPod', action: 'Delete' });
        if (!isNotFound(err)) {
          this.queue.addBackoff(info);
          this.logger.info({ err, pod: info.key, node: nodeName }, 'binding refused; retrying after backoff');
        }
        this.notify();
        if (!isNotFound(err)) await this.reporter.report(info.pod, 'SchedulerError', `binding rejected: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.track(binding);
  }

  /** The scheduling algorithm for one pod: a node, or the diagnosis of why none fits. */
  private decide(pod: Pod): Decision {
    const snapshot = this.cache;
    const allNodes = snapshot.nodes;
    if (allNodes.length === 0) return { noNodes: true };
    const state: CycleState = new Map();
    const diagnosis: Diagnosis = { numAllNodes: allNodes.length, nodeReasons: new Map(), unschedulablePlugins: new Set() };
    let allowed: Set<string> | undefined;
    const narrowing: string[] = [];
    for (const plugin of this.plugins) {
      const result = plugin.impl.preFilter?.(pod, snapshot, state);
      if (!result) continue;
      if ('reason' in result) {
        diagnosis.preFilterMessage = result.reason;
        diagnosis.unschedulablePlugins.add(plugin.name);
        return { diagnosis };
      }
      if (result.nodeNames) {
        narrowing.push(plugin.name);
        allowed = allowed ? new Set([...allowed].filter((n) => result.nodeNames!.has(n))) : new Set(result.nodeNames);
      }
    }
    let nodes = allNodes;
    if (allowed) {
      narrowing.sort();
      for (const name of narrowing) diagnosis.unschedulablePlugins.add(name);
      if (allowed.size === 0) {
        diagnosis.preFilterMessage = narrowing.length === 1 ? `node(s) didn't satisfy plugin ${narrowing[0]}` : `node(s) didn't satisfy plugin(s) [${narrowing.join(' ')}] simultaneously`;
        return { diagnosis };
      }
      const candidates = allowed;
      nodes = allNodes.filter((info) => candidates.has(info.node.metadata!.name!));
      diagnosis.absentNodes = { count: allNodes.length - nodes.length, reason: `node(s) didn't satisfy plugin(s) [${narrowing.join(' ')}]` };
    }
    const feasible = this.findFeasible(pod, nodes, allNodes.length, state, diagnosis);
    if (feasible.length === 0) return { diagnosis };
    if (feasible.length === 1) return { nodeName: feasible[0]!.node.metadata!.name! };
    return { nodeName: this.selectHost(feasible, this.score(pod, feasible, state)) };
  }

  /** Filters nodes from the rotating start until enough feasible ones are found. */
  private findFeasible(pod: Pod, nodes: readonly NodeInfo[], numAllNodes: number, state: CycleState, diagnosis: Diagnosis): NodeInfo[] {
    const wanted = numFeasibleNodesToFind(this.percentageOfNodesToScore, nodes.length);
    const feasible: NodeInfo[] = [];
    let processed = 0;
    for (let i = 0; i < nodes.length && feasible.length < wanted; i++) {
      const info = nodes[(this.nextStartNodeIndex + i) % nodes.length]!;
      processed++;
      let failure: FilterFailure | undefined;
      for (const plugin of this.filters) {
        failure = plugin.impl.filter!(pod, info, this.cache, state);
        if (failure) {
          const reasons = (failure as { reasons?: string[] }).reasons ?? [failure.reason];
          diagnosis.nodeReasons.set(info.node.metadata!.name!, reasons);
          diagnosis.unschedulablePlugins.add(plugin.name);
          break;
        }
      }
      if (!failure) feasible.push(info);
    }
    this.nextStartNodeIndex = (this.nextStartNodeIndex + processed) % numAllNodes;
    return feasible;
  }

  /**
   * Weighted sum of every score plugin's normalized scores, per feasible node. A plugin whose
   * preScore said skip adds nothing (kube's Skip: its scores would all be 0).
   */
  private score(pod: Pod, feasible: NodeInfo[], state: CycleState): Float64Array {
    const n = feasible.length;
    const totals = new Float64Array(n);
    let skipped: Set<SchedulerPluginImpl> | undefined;
    for (const plugin of this.plugins) {
      if (plugin.impl.preScore?.(pod, feasible, this.cache, state)?.skip) (skipped ??= new Set()).add(plugin.impl);
    }
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, 2 * this.scratch.length));
    const scores = this.scratch.subarray(0, n);
    let names: string[] | undefined;
    for (const { impl, name, weight } of this.scorers) {
      if (skipped?.has(impl)) continue;
      for (let i = 0; i < n; i++) scores[i] = impl.score!(pod, feasible[i]!, this.cache, state);
      if (impl.normalizeScores) impl.normalizeScores(scores, feasible, pod, state);
      else if (impl.normalize) {
        names ??= feasible.map((info) => info.node.metadata!.name!);
        const byName = new Map<string, number>();
        for (let i = 0; i < n; i++) byName.set(names[i]!, scores[i]!);
        impl.normalize(byName, pod, state);
        for (let i = 0; i < n; i++) scores[i] = byName.get(names[i]!) ?? 0;
      }
      for (let i = 0; i < n; i++) totals[i] = totals[i]! + checkedScore(name, scores[i]!) * weight;
    }
    return totals;
  }

  /** The node with the highest score; among equals, each is equally likely (reservoir sampling). */
  private selectHost(feasible: NodeInfo[], totals: Float64Array): string {
    let chosen = 0;
    let ties = 1;
    for (let i = 1; i < feasible.length; i++) {
      if (totals[i]! > totals[chosen]!) {
        chosen = i;
        ties = 1;
      } else if (totals[i] === totals[chosen] && Math.floor(this.random() * ++ties) === 0) {
        chosen = i;
      }
    }
    return feasible[chosen]!.node.metadata!.name!;
  }

  /** `scheduler_schedule_attempts_total{result,profile}` and `scheduler_pending_pods{queue}`, when the manager has Metrics. */
  private registerMetrics(metrics: Metrics | undefined): AttemptCounters {
    const none = { inc() {} };
    if (!metrics) return { scheduled: none, unschedulable: none, error: none };
    const registers = [metrics.registry];
    const attempts =
      (metrics.registry.getSingleMetric('scheduler_schedule_attempts_total') as Counter | undefined) ??
      new Counter({ name: 'scheduler_schedule_attempts_total', help: 'Number of attempts to schedule pods, by the result.', labelNames: ['result', 'profile'], registers });
    if (!metrics.registry.getSingleMetric('scheduler_pending_pods')) {
      const queue = this.queue;
      new Gauge({
        name: 'scheduler_pending_pods',
        help: "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods.",
        labelNames: ['queue'],
        registers,
        collect() {
          for (const [name, count] of Object.entries(queue.pending)) this.labels({ queue: name }).set(count);
        },
      });
    }
    const child = (result: string) => attempts.labels({ result, profile: this.schedulerName });
    return { scheduled: child('scheduled'), unschedulable: child('unschedulable'), error: child('error') };
  }
}
