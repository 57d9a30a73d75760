/**
 * The kubelet's pod loop as a reconciler: for each pod bound to this node, make the runtime run
 * what the pod says and write back what the runtime sees.
 *
 * - A pod gets an address from the node's pod CIDR (see ip-allocator.ts), then
 *   `runtime.sync(pod, ip)`; its status (see pod-status.ts) is written only when it changed.
 *   Until the node has a pod CIDR the pod stays Pending, its containers waiting in
 *   `ContainerCreating` with a message that says why.
 * - The runtime's `onChange` requeues the pod; so do informer events of the pod.
 * - Graceful deletion: a pod with a `deletionTimestamp` is killed (SIGTERM, then SIGKILL after
 *   its `deletionGracePeriodSeconds`); once its processes are gone the final status is written
 *   (phase Failed, or Succeeded if every container exited 0) and the agent deletes the pod with
 *   grace 0 and a uid precondition — the kubelet's final delete.
 * - A pod gone from the API while running (force-deleted), replaced by another of the same name,
 *   or not bound here any more, is killed (2 s grace, kubelet's minimum).
 * - `activeDeadlineSeconds` past `status.startTime`: killed, phase Failed, reason DeadlineExceeded.
 * - A terminal pod is never run again; after an agent restart, carry-over.ts decides.
 */
import {
  ApiError,
  isConflict,
  isNotFound,
  Pod,
  type Client,
  type Clock,
  type EventRecorder,
  type Logger,
  type PodStatus,
  type ReconcileRequest,
  type Reconciler,
  type Result,
} from '../../lib/index.js';
import { carryOverFrom, lostPodStatus, mustNotRestart, type CarryOver } from './carry-over.js';
import { PodIPAllocator } from './ip-allocator.js';
import { canonical, desiredPodStatus, isTerminalPhase, type PodStatusInput } from './pod-status.js';
import type { PodRuntime, PodRuntimeStatus } from './runtime/types.js';

/** What the pod worker needs from its agent. */
export interface PodWorkerContext {
  nodeName: string;
  client: Client;
  clock: Clock;
  logger: Logger;
  runtime: PodRuntime;
  events: EventRecorder;
  /** The node's address (the pods' `hostIP`). */
  hostIP: string;
  /** The node's pod CIDR, once the node-ipam controller assigned it. */
  podCIDR: () => string | undefined;
  /** Adds a request to the controller's queue. */
  enqueue: (request: ReconcileRequest) => void;
}

/** kubelet's minimum grace period when killing (force-deleted pods, pods that moved away). */
export const MINIMUM_GRACE_PERIOD_SECONDS = 2;
/** The message of a pod past its activeDeadlineSeconds (kubelet's). */
export const DEADLINE_EXCEEDED_MESSAGE = 'Pod was active on the node longer than the specified deadline';
/** A status the API keeps normalising differently is written again at most this often. */
const REWRITE_AFTER_MS = 10_000;

interface Killing {
  grace: number;
  finished: boolean;
}

/** One pod the agent has met. */
interface TrackedPod {
  uid: string;
  request: ReconcileRequest;
  /** The pod as last read from the API. */
  pod: Pod;
  carry?: CarryOver;
  killing?: Killing;
  /** The runtime's last report, kept for the final status after the runtime forgets the pod. */
  lastSeen?: PodRuntimeStatus;
  /** Nothing of this pod runs again (deadline exceeded, containers lost under `Never`). */
  failure?: { reason: string; message: string };
  lost?: boolean;
  lastWrite?: { key: string; atMs: number };
  sandboxProblemReported?: string;
}

function graceOf(pod: Pod): number {
  return Math.max(0, pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
}

/** Reconciles the pods bound to one node (see the file header). */
export class PodWorker implements Reconciler<Pod> {
  private readonly byKey = new Map<string, TrackedPod>();
  private readonly byUid = new Map<string, TrackedPod>();
  /** Kills in flight of pods no longer tracked, by uid. */
  private readonly stopping = new Map<string, Promise<void>>();
  private allocator: PodIPAllocator | undefined;
  private readonly unsubscribe: () => void;
  private readonly unsubscribeEvents: () => void;

  constructor(private readonly ctx: PodWorkerContext) {
    this.unsubscribe = ctx.runtime.onChange((uid) => {
      const tracked = this.byUid.get(uid);
      if (!tracked) return;
      const status = ctx.runtime.status(uid);
      if (status) tracked.lastSeen = status;
      ctx.enqueue(tracked.request);
    });
    this.unsubscribeEvents = ctx.runtime.onEvent?.((pod, event) => ctx.events.event(pod, event.type, event.reason, event.message)) ?? (() => {});
  }

  /** Brings one pod in line (see the file header). */
  async reconcile(request: ReconcileRequest): Promise<Result | void> {
    const key = `${request.namespace}/${request.name}`;
    const pod = await this.read(request);
    let tracked = this.byKey.get(key);
    if (tracked && (!pod || pod.metadata?.uid !== tracked.uid || pod.spec?.nodeName !== this.ctx.nodeName)) {
      const why = !pod ? 'the pod is gone from the API' : pod.metadata?.uid !== tracked.uid ? 'another pod took its name' : 'the pod is not bound to this node any more';
      this.killAndForget(tracked, pod?.metadata?.uid === tracked.uid ? graceOf(pod) : MINIMUM_GRACE_PERIOD_SECONDS, why);
      tracked = undefined;
    }
    if (!pod || pod.spec?.nodeName !== this.ctx.nodeName || !pod.metadata?.uid) return;
    const uid = pod.metadata.uid;
    if (!tracked) {
      // A pod that finished before this agent met it is never run again.
      if (isTerminalPhase(pod.status?.phase) && !pod.metadata.deletionTimestamp) return;
      tracked = this.track(pod, request);
    }
    tracked.pod = pod;
    if (pod.metadata.deletionTimestamp) return this.terminate(tracked);
    if (tracked.failure || tracked.lost) return this.writeStatus(tracked, this.finishedInput(tracked));
    if (isTerminalPhase(pod.status?.phase) && !this.ctx.runtime.status(uid)) return;

    const now = this.ctx.clock.now();
    const finished = isTerminalPhase(pod.status?.phase) || isTerminalPhase(this.ctx.runtime.status(uid)?.phase);
    const deadline = finished ? undefined : this.deadlineOf(pod);
    if (deadline !== undefined && now >= deadline) return this.fail(tracked, 'DeadlineExceeded', DEADLINE_EXCEEDED_MESSAGE);
    if (mustNotRestart(pod, tracked.carry) && !this.ctx.runtime.status(uid)) {
      tracked.lost = true;
      return this.writeStatus(tracked, this.finishedInput(tracked));
    }
    const cidr = this.ctx.podCIDR();
    if (!cidr) return this.sandboxProblem(tracked, 'waiting for the node to get a pod CIDR (spec.podCIDR is assigned by the node-ipam controller)');
    const allocator = this.allocatorFor(cidr);
    const ip = allocator.allocate(uid, pod.status?.podIP);
    if (!ip) {
      await this.sandboxProblem(tracked, `failed to allocate for range 0: no IP addresses available in range set: ${allocator.range}`);
      return { requeueAfterMs: 10_000 };
    }
    this.ctx.runtime.sync(pod, ip);
    const status = this.ctx.runtime.status(uid);
    if (status) tracked.lastSeen = status;
    const result = await this.writeStatus(tracked, { pod, ...(status ? { runtime: status } : {}), podIP: ip, hostIP: this.ctx.hostIP, now });
    if (result) return result;
    if (deadline !== undefined) return { requeueAfterMs: Math.max(1, deadline - now) };
  }

  /** Requeues every pod the worker knows (e.g. when the pod CIDR arrives). */
  requeueAll(): void {
    for (const tracked of this.byKey.values()) this.ctx.enqueue(tracked.request);
  }

  /** The uid and last-read object of a pod the worker tracks, by namespace and name. */
  findPod(namespace: string, name: string): { uid: string; pod: Pod } | undefined {
    const tracked = this.byKey.get(`${namespace}/${name}`);
    return tracked ? { uid: tracked.uid, pod: tracked.pod } : undefined;
  }

  /** The pod of a uid the worker tracks. */
  podOf(uid: string): Pod | undefined {
    return this.byUid.get(uid)?.pod;
  }

  /** Every pod the worker tracks. */
  pods(): Pod[] {
    return [...this.byKey.values()].map((t) => t.pod);
  }

  /** Kills processes of pods the worker does not know (kubelet's HandlePodCleanups). */
  cleanup(): void {
    for (const uid of this.ctx.runtime.pods()) {
      if (this.byUid.has(uid) || this.stopping.has(uid)) continue;
      this.killInBackground(uid, MINIMUM_GRACE_PERIOD_SECONDS, 'no pod bound to this node has this uid');
    }
  }

  /**
   * Agent shutdown: kills every pod's processes, each with its own grace period, and stops the
   * runtime. The pods stay in the API.
   */
  async shutdown(): Promise<void> {
    this.unsubscribe();
    this.unsubscribeEvents();
    const kills = [...this.byUid.values()].map((t) => this.ctx.runtime.kill(t.uid, graceOf(t.pod)).catch(() => undefined));
    await Promise.all([...kills, ...this.stopping.values()]);
    await this.ctx.runtime.shutdown(0);
  }

  private async read(request: ReconcileRequest): Promise<Pod | undefined> {
    try {
      return await this.ctx.client.get(Pod, request.name, { namespace: request.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private track(pod: Pod, request: ReconcileRequest): TrackedPod {
    const uid = pod.metadata!.uid!;
    const known = !!this.ctx.runtime.status(uid);
    const carry = known ? undefined : carryOverFrom(pod);
    const tracked: TrackedPod = { uid, request: { namespace: request.namespace, name: request.name }, pod, ...(carry ? { carry } : {}) };
    if (carry) this.ctx.logger.info({ pod: `${request.namespace}/${request.name}`, lost: carry.lost }, 'pod ran under a previous agent: its processes are gone');
    this.byKey.set(`${request.namespace}/${request.name}`, tracked);
    this.byUid.set(uid, tracked);
    return tracked;
  }

  /** Stops a tracked pod's processes in the background and forgets it. */
  private killAndForget(tracked: TrackedPod, grace: number, why: string): void {
    this.untrack(tracked);
    // The address is free once the processes that bound it are gone.
    if (this.ctx.runtime.status(tracked.uid)) this.killInBackground(tracked.uid, grace, why);
    else this.allocator?.release(tracked.uid);
  }

  private killInBackground(uid: string, grace: number, why: string): void {
    this.ctx.logger.info({ uid, grace }, `killing pod: ${why}`);
    const done = this.ctx.runtime
      .kill(uid, grace)
      .catch((err: unknown) => this.ctx.logger.warn({ err, uid }, 'failed to kill pod'))
      .finally(() => {
        this.stopping.delete(uid);
        this.allocator?.release(uid);
      });
    this.stopping.set(uid, done);
  }

  private untrack(tracked: TrackedPod): void {
    this.byKey.delete(`${tracked.request.namespace}/${tracked.request.name}`);
    this.byUid.delete(tracked.uid);
  }

  /** Graceful deletion: kill, then write the final status, then the final delete. */
  private async terminate(tracked: TrackedPod): Promise<Result | void> {
    const { pod } = tracked;
    const grace = graceOf(pod);
    const running = !!this.ctx.runtime.status(tracked.uid);
    if (running && (!tracked.killing || grace < tracked.killing.grace)) {
      const killing: Killing = { grace, finished: false };
      tracked.killing = killing;
      for (const c of pod.spec?.containers ?? []) this.ctx.events.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
      void this.ctx.runtime
        .kill(tracked.uid, grace)
        .catch((err: unknown) => this.ctx.logger.warn({ err, uid: tracked.uid }, 'failed to kill pod'))
        .finally(() => {
          killing.finished = true;
          this.ctx.enqueue(tracked.request);
        });
      return;
    }
    if (tracked.killing && !tracked.killing.finished) return;
    if (tracked.lastSeen && !isTerminalPhase(pod.status?.phase)) {
      const input = this.finishedInput(tracked);
      await this.writeStatus(tracked, input).catch(() => undefined);
    }
    try {
      await this.ctx.client.delete(Pod, pod.metadata!.name!, { namespace: pod.metadata!.namespace!, gracePeriodSeconds: 0, preconditions: { uid: tracked.uid } });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.untrack(tracked);
    this.allocator?.release(tracked.uid);
  }

  /** Kills the pod for good and reports it Failed with `reason`. */
  private async fail(tracked: TrackedPod, reason: string, message: string): Promise<Result | void> {
    tracked.failure = { reason, message };
    this.ctx.events.event(tracked.pod, 'Warning', reason, message);
    const uid = tracked.uid;
    if (this.ctx.runtime.status(uid)) {
      void this.ctx.runtime
        .kill(uid, graceOf(tracked.pod))
        .catch((err: unknown) => this.ctx.logger.warn({ err, uid }, 'failed to kill pod'))
        .finally(() => this.ctx.enqueue(tracked.request));
    }
    return this.writeStatus(tracked, this.finishedInput(tracked));
  }

  /** The status input of a pod that runs no more: the runtime's last report, made terminal. */
  private finishedInput(tracked: TrackedPod): PodStatusInput {
    const { pod } = tracked;
    const now = this.ctx.clock.now();
    const podIP = this.allocator?.get(tracked.uid) ?? pod.status?.podIP;
    const base = { pod, hostIP: this.ctx.hostIP, now, ...(podIP ? { podIP } : {}) };
    if (tracked.lost) return { ...base, runtime: lostPodStatus(pod, now) };
    const seen = this.ctx.runtime.status(tracked.uid) ?? tracked.lastSeen;
    const failure = tracked.failure;
    if (!seen) return { ...base, ...(failure ? { failure } : {}) };
    const exited = seen.containerStatuses.every((c) => c.state.terminated);
    const succeeded = exited && seen.containerStatuses.every((c) => c.state.terminated?.exitCode === 0);
    const phase = failure || !succeeded ? 'Failed' : 'Succeeded';
    return { ...base, runtime: { ...seen, phase, ready: false }, ...(failure ? { failure } : {}) };
  }

  private async sandboxProblem(tracked: TrackedPod, message: string): Promise<Result | void> {
    if (tracked.sandboxProblemReported !== message) {
      tracked.sandboxProblemReported = message;
      this.ctx.events.event(tracked.pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message}`);
    }
    return this.writeStatus(tracked, {
      pod: tracked.pod,
      sandboxProblem: { reason: 'ContainerCreating', message },
      hostIP: this.ctx.hostIP,
      now: this.ctx.clock.now(),
    });
  }

  /** Writes the status when it differs from the API's. */
  private async writeStatus(tracked: TrackedPod, input: PodStatusInput): Promise<Result | void> {
    const status: PodStatus = desiredPodStatus(input);
    const key = canonical(status);
    const { pod } = tracked;
    if (key === canonical(pod.status)) return;
    const now = this.ctx.clock.now();
    if (tracked.lastWrite?.key === key && now - tracked.lastWrite.atMs < REWRITE_AFTER_MS) return { requeueAfterMs: REWRITE_AFTER_MS };
    try {
      tracked.pod = await this.ctx.client.updateStatus<Pod>({ ...pod, status });
      tracked.lastWrite = { key, atMs: now };
    } catch (err) {
      if (isConflict(err)) return { requeue: true };
      if (isNotFound(err)) return;
      if (err instanceof ApiError) this.ctx.logger.warn({ err, pod: `${tracked.request.namespace}/${tracked.request.name}` }, 'failed to write pod status');
      throw err;
    }
  }

  private allocatorFor(cidr: string): PodIPAllocator {
    if (this.allocator?.cidr !== cidr) {
      const previous = this.allocator;
      this.allocator = new PodIPAllocator(cidr);
      // Pods keep their addresses when the CIDR is the same one re-announced.
      if (previous) for (const tracked of this.byUid.values()) if (this.allocator.contains(previous.get(tracked.uid) ?? '')) this.allocator.allocate(tracked.uid, previous.get(tracked.uid));
    }
    return this.allocator;
  }

  private deadlineOf(pod: Pod): number | undefined {
    const seconds = pod.spec?.activeDeadlineSeconds;
    const start = pod.status?.startTime ? Date.parse(pod.status.startTime) : undefined;
    if (seconds === undefined || start === undefined || Number.isNaN(start)) return undefined;
    return start + seconds * 1000;
  }
}
