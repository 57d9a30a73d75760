/**
 * The scheduling queue: kube-scheduler's PriorityQueue, simplified. Pending pods live in one of
 * three places:
 *
 * - **activeQ** — ready to be tried, highest `spec.priority` first, then the oldest timestamp;
 * - **backoffQ** — tried and failed recently: each pod waits `initialBackoffMs · 2^(attempts-1)`,
 *   at most `maxBackoffMs` (1 s → 2 s → 4 s → 8 s → 10 s by default), after its last failure;
 * - **unschedulable** — no node fits: the pod waits for a cluster event that may help it (a node
 *   added or changed, a pod deleted or relabelled — see {@link mayHelp}), then moves to activeQ
 *   (or backoffQ, while its backoff runs). A pod that waited `maxUnschedulableMs` (5 min) moves
 *   anyway, as a safety net; nothing else is periodic.
 *
 * An event that arrives while a pod is being scheduled is remembered (kube's moveRequestCycle):
 * if that pod then fails, it goes to backoffQ instead of waiting for another event.
 *
 * All timing comes from the injected clock; the queue owns no timers — {@link nextFlushAt} tells
 * the caller when to come back and {@link flush}.
 */
import type { Clock, Node, Pod } from '../../lib/index.js';

/** A pending pod and its scheduling history (kube's QueuedPodInfo). */
export interface QueuedPodInfo {
  /** `namespace/name`. */
  readonly key: string;
  /** The latest version of the pod seen. */
  pod: Pod;
  /** When it was queued or last failed: orders pods of equal priority, starts the backoff. */
  timestamp: number;
  /** When it was first queued. */
  readonly initialTimestamp: number;
  /** Scheduling attempts so far. */
  attempts: number;
  /** Plugins that rejected it in its last attempt; empty = any event may help. */
  unschedulablePlugins: ReadonlySet<string>;
  /** The scheduling cycle of its last attempt. */
  cycle: number;
}

/** What changed in the cluster, for moving unschedulable pods (kube's ClusterEvent, simplified). */
export type ClusterEvent =
  | { resource: 'Node'; action: 'Add' }
  | { resource: 'Node'; action: 'Update'; changed: ReadonlySet<NodeChange> }
  | { resource: 'AssignedPod'; action: 'Add' | 'Delete' | 'UpdateLabels' };

/** The parts of a Node whose change may make pods fit. */
export type NodeChange = 'allocatable' | 'labels' | 'taints' | 'unschedulable';

/** What changed between two versions of a Node, among the parts that matter to scheduling. */
export function nodeChanges(oldNode: Node, newNode: Node): Set<NodeChange> {
  const changed = new Set<NodeChange>();
  const spec = (n: Node) => (n.spec ?? {}) as { taints?: unknown; unschedulable?: boolean };
  const status = (n: Node) => (n.status ?? {}) as { allocatable?: unknown; capacity?: unknown };
  const differ = (a: unknown, b: unknown) => JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
  if (differ(status(oldNode).allocatable ?? status(oldNode).capacity, status(newNode).allocatable ?? status(newNode).capacity)) changed.add('allocatable');
  if (differ(oldNode.metadata?.labels, newNode.metadata?.labels)) changed.add('labels');
  if (differ(spec(oldNode).taints, spec(newNode).taints)) changed.add('taints');
  if (!!spec(oldNode).unschedulable !== !!spec(newNode).unschedulable) changed.add('unschedulable');
  return changed;
}

/**
 * Which events may make each default plugin accept a pod it rejected (kube's EventsToRegister).
 * A plugin not listed here (a user's) is assumed to care about every event.
 */
const PLUGIN_EVENTS: Readonly<Record<string, (event: ClusterEvent) => boolean>> = {
  NodeUnschedulable: (e) => e.resource === 'Node' && (e.action === 'Add' || e.changed.has('unschedulable') || e.changed.has('taints')),
  NodeName: (e) => e.resource === 'Node' && e.action === 'Add',
  TaintToleration: (e) => e.resource === 'Node' && (e.action === 'Add' || e.changed.has('taints')),
  NodeAffinity: (e) => e.resource === 'Node' && (e.action === 'Add' || e.changed.has('labels')),
  NodeResourcesFit: (e) => (e.resource === 'Node' ? e.action === 'Add' || e.changed.has('allocatable') : e.action === 'Delete'),
  NodePorts: (e) => (e.resource === 'Node' ? e.action === 'Add' : e.action === 'Delete'),
  PodTopologySpread: (e) => e.resource === 'AssignedPod' || e.action === 'Add' || e.changed.has('labels') || e.changed.has('taints'),
  InterPodAffinity: (e) => e.resource === 'AssignedPod' || e.action === 'Add' || e.changed.has('labels'),
};

/** True if `event` may make a pod rejected by `plugins` schedulable. */
export function mayHelp(plugins: ReadonlySet<string>, event: ClusterEvent): boolean {
  if (plugins.size === 0) return true;
  for (const plugin of plugins) {
    const interested = PLUGIN_EVENTS[plugin];
    if (!interested || interested(event)) return true;
  }
  return false;
}

/** Options of a {@link SchedulingQueue}. */
export interface SchedulingQueueOptions {
  clock: Clock;
  /** First backoff after a failed attempt (default 1 s; kube's podInitialBackoffSeconds). */
  initialBackoffMs?: number;
  /** Longest backoff (default 10 s; kube's podMaxBackoffSeconds). */
  maxBackoffMs?: number;
  /** An unschedulable pod moves after this long even without an event (default 5 min). */
  maxUnschedulableMs?: number;
}

/** A binary heap with removal by key. */
class KeyedHeap<T extends { key: string }> {
  private readonly items: T[] = [];
  private readonly positions = new Map<string, number>();

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  has(key: string): boolean {
    return this.positions.has(key);
  }

  get(key: string): T | undefined {
    const i = this.positions.get(key);
    return i === undefined ? undefined : this.items[i];
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.positions.set(item.key, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.delete(top.key);
    return top;
  }

  delete(key: string): T | undefined {
    const i = this.positions.get(key);
    if (i === undefined) return undefined;
    const item = this.items[i]!;
    const last = this.items.pop()!;
    this.positions.delete(key);
    if (i < this.items.length) {
      this.items[i] = last;
      this.positions.set(last.key, i);
      this.down(this.up(i));
    }
    return item;
  }

  values(): readonly T[] {
    return this.items;
  }

  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(this.items[i]!, this.items[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < this.items.length && this.before(this.items[left]!, this.items[best]!)) best = left;
      if (right < this.items.length && this.before(this.items[right]!, this.items[best]!)) best = right;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(a: number, b: number): void {
    const x = this.items[a]!;
    const y = this.items[b]!;
    this.items[a] = y;
    this.items[b] = x;
    this.positions.set(y.key, a);
    this.positions.set(x.key, b);
  }
}

/** The pod's scheduling priority (`spec.priority`, set from its PriorityClass; default 0). */
export function podPriority(pod: Pod): number {
  return (pod.spec as { priority?: number } | undefined)?.priority ?? 0;
}

/** `namespace/name` of a pod. */
export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

/**
 * True if the pod changed in a way that may change where it fits: anything but its status and
 * bookkeeping fields (kube's isPodUpdated).
 */
export function podSpecChanged(oldPod: Pod, newPod: Pod): boolean {
  const essence = (pod: Pod) => {
    const { resourceVersion: _rv, generation: _g, managedFields: _m, finalizers: _f, ...meta } = pod.metadata ?? {};
    return JSON.stringify([meta, pod.spec]);
  };
  return essence(oldPod) !== essence(newPod);
}

/** The scheduling queue (see the file header). */
export class SchedulingQueue {
  private readonly clock: Clock;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly active = new KeyedHeap<QueuedPodInfo>((a, b) => {
    const pa = podPriority(a.pod);
    const pb = podPriority(b.pod);
    return pa > pb || (pa === pb && a.timestamp < b.timestamp);
  });
  private readonly backoff = new KeyedHeap<QueuedPodInfo>((a, b) => this.backoffExpiry(a) < this.backoffExpiry(b));
  private readonly unschedulable = new Map<string, QueuedPodInfo>();
  /** Incremented at every pop. */
  private schedulingCycle = 0;
  /** The scheduling cycle when the last cluster event moved pods. */
  private moveRequestCycle = -1;

  constructor(options: SchedulingQueueOptions) {
    this.clock = options.clock;
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = options.maxUnschedulableMs ?? 5 * 60_000;
  }

  /** Pods per sub-queue (the `scheduler_pending_pods{queue}` gauge). */
  get pending(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size };
  }

  /** Where a pod waits, if it is queued. */
  where(key: string): 'active' | 'backoff' | 'unschedulable' | undefined {
    if (this.active.has(key)) return 'active';
    if (this.backoff.has(key)) return 'backoff';
    if (this.unschedulable.has(key)) return 'unschedulable';
    return undefined;
  }

  /** The queued entry of a pod, wherever it waits. */
  get(key: string): QueuedPodInfo | undefined {
    return this.active.get(key) ?? this.backoff.get(key) ?? this.unschedulable.get(key);
  }

  /**
   * A pending pod was added or changed: a new pod goes to activeQ; a queued one is updated in
   * place, and an unschedulable one whose spec or labels changed moves on (kube's Update).
   */
  addOrUpdate(pod: Pod): void {
    const key = podKey(pod);
    const queued = this.get(key);
    if (!queued) {
      const now = this.clock.now();
      this.active.push({ key, pod, timestamp: now, initialTimestamp: now, attempts: 0, unschedulablePlugins: new Set(), cycle: -1 });
      return;
    }
    const changed = podSpecChanged(queued.pod, pod);
    queued.pod = pod;
    if (this.active.has(key) && changed) {
      // Its priority may have changed: re-sort it.
      this.active.delete(key);
      this.active.push(queued);
    } else if (this.unschedulable.has(key) && changed) {
      this.unschedulable.delete(key);
      this.requeue(queued);
    }
  }

  /** Forgets a pod (deleted, bound, or no longer ours). */
  delete(key: string): void {
    this.active.delete(key) ?? this.backoff.delete(key) ?? this.unschedulable.delete(key);
  }

  /** The next pod to schedule (highest priority, oldest), or undefined; starts a scheduling cycle. */
  pop(): QueuedPodInfo | undefined {
    const info = this.active.pop();
    if (!info) return undefined;
    info.attempts++;
    info.cycle = ++this.schedulingCycle;
    return info;
  }

  /**
   * A popped pod did not fit any node: it waits for an event that may help (or in backoffQ, if
   * such an event came during its attempt). Ignored if the pod was re-added meanwhile.
   */
  addUnschedulable(info: QueuedPodInfo, plugins: ReadonlySet<string>): void {
    if (this.get(info.key)) return;
    info.unschedulablePlugins = plugins;
    info.timestamp = this.clock.now();
    if (this.moveRequestCycle >= info.cycle) this.backoff.push(info);
    else this.unschedulable.set(info.key, info);
  }

  /** A popped pod failed for another reason (an error, a refused binding): it retries after its backoff. */
  addBackoff(info: QueuedPodInfo): void {
    if (this.get(info.key)) return;
    info.unschedulablePlugins = new Set();
    info.timestamp = this.clock.now();
    this.backoff.push(info);
  }

  /** Moves the unschedulable pods `event` may help to activeQ (or backoffQ while backing off). */
  onClusterEvent(event: ClusterEvent): number {
    this.moveRequestCycle = this.schedulingCycle;
    let moved = 0;
    for (const [key, info] of this.unschedulable) {
      if (!mayHelp(info.unschedulablePlugins, event)) continue;
      this.unschedulable.delete(key);
      this.requeue(info);
      moved++;
    }
    return moved;
  }

  /** Moves pods whose backoff ended to activeQ, and unschedulable pods that waited too long. */
  flush(): void {
    const now = this.clock.now();
    for (let head = this.backoff.peek(); head && this.backoffExpiry(head) <= now; head = this.backoff.peek()) {
      this.active.push(this.backoff.pop()!);
    }
    // The map is in insertion order, which is timestamp order: the oldest come first.
    for (const [key, info] of this.unschedulable) {
      if (now - info.timestamp < this.maxUnschedulableMs) break;
      this.unschedulable.delete(key);
      this.requeue(info);
    }
  }

  /** When {@link flush} will next move a pod (ms since the epoch), or undefined if never without events. */
  nextFlushAt(): number | undefined {
    let next = Infinity;
    const head = this.backoff.peek();
    if (head) next = this.backoffExpiry(head);
    const oldest = this.unschedulable.values().next();
    if (!oldest.done) next = Math.min(next, oldest.value.timestamp + this.maxUnschedulableMs);
    return Number.isFinite(next) ? next : undefined;
  }

  /** How long a pod with this many attempts backs off: initial · 2^(attempts-1), capped. */
  backoffDuration(attempts: number): number {
    let duration = this.initialBackoffMs;
    for (let i = 1; i < attempts; i++) {
      if (duration > this.maxBackoffMs - duration) return this.maxBackoffMs;
      duration += duration;
    }
    return Math.min(duration, this.maxBackoffMs);
  }

  /** When a pod's current backoff ends. */
  backoffExpiry(info: QueuedPodInfo): number {
    return info.timestamp + this.backoffDuration(info.attempts);
  }

  /** To backoffQ while the pod backs off, else to activeQ. */
  private requeue(info: QueuedPodInfo): void {
    if (info.attempts > 0 && this.backoffExpiry(info) > this.clock.now()) this.backoff.push(info);
    else this.active.push(info);
  }
}
