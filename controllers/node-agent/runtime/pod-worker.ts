/**
 * One pod on this node, as kubelet's pod worker and `computePodActions` run it: init containers
 * first, in order, each to completion (a sidecar — `restartPolicy: Always` — only until it has
 * started, then it keeps running); then every regular container; a container that exits is
 * started again as the restart policy says, after the crash-loop back-off; when no regular
 * container runs or will run again, the sidecars are stopped and the pod is done. Every decision
 * is taken by {@link PodWorker.reconcile}, which runs after every change.
 */
import { formatTimestamp } from '../../../lib/index.js';
import type { Clock, Pod, TimerHandle } from '../../../lib/index.js';
import { CrashLoopBackOff, formatGoDuration, type BackOffOptions } from './backoff.js';
import { ContainerRunner, type ContainerHost, type Termination } from './container.js';
import type { RuntimeLayout } from './layout.js';
import { settleInstance } from './recovery.js';
import { computePhase, formatPod, isSidecar, restartPolicyOf, shouldRestart } from './status.js';
import type { InstanceRecord } from './supervisor-protocol.js';
import type { EnvResolver, PodRuntimeStatus, RuntimeEvent } from './types.js';

/** What a pod worker shares with its runtime. */
export interface PodWorkerOptions {
  clock: Clock;
  env: EnvResolver;
  baseEnv: Record<string, string>;
  layout: RuntimeLayout;
  supervisorPath: string;
  orphanGraceMs: number;
  backoff: BackOffOptions;
  /** How long to wait for a previous runtime's supervisors of this pod to finish. */
  staleWaitMs: number;
  /** The pod's status changed. */
  onChange(): void;
  /** Something happened that deserves an Event. */
  onEvent(pod: Pod, event: RuntimeEvent): void;
}

/** One pod and its containers. */
export class PodWorker implements ContainerHost {
  readonly uid: string;
  readonly podDir: string;
  /** Resolves once what a previous runtime left of this pod has been taken in. */
  readonly ready: Promise<void>;
  terminating = false;
  /** Nothing runs or will run again. */
  terminal = false;
  startTimeMs = 0;
  private initialized = false;
  private prepared = false;
  private failure: { reason: string; message: string } | undefined;
  private readonly runners: ContainerRunner[];
  private readonly backoff: CrashLoopBackOff;
  private readonly wakeTimers = new Map<string, TimerHandle>();
  private deadlineTimer: TimerHandle | undefined;
  private reconcileQueued = false;
  private terminated: Promise<void> | undefined;

  constructor(
    public pod: Pod,
    public podIP: string,
    private readonly options: PodWorkerOptions,
  ) {
    this.uid = pod.metadata?.uid ?? '';
    this.podDir = options.layout.podDir(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '', this.uid);
    this.backoff = new CrashLoopBackOff(options.backoff);
    this.runners = [
      ...(pod.spec?.initContainers ?? []).map((c) => new ContainerRunner(c, isSidecar(c) ? 'sidecar' : 'init', this)),
      ...(pod.spec?.containers ?? []).map((c) => new ContainerRunner(c, 'regular', this)),
    ];
    this.ready = this.prepare().catch((err: unknown) => {
      // The pod's folder cannot be set up (an unwritable data dir): nothing of it can run.
      const message = `cannot set up the pod's files: ${err instanceof Error ? err.message : String(err)}`;
      for (const runner of this.runners) runner.waiting = { reason: 'CreateContainerError', message, permanent: true };
      this.prepared = true;
      this.options.onChange();
    });
  }

  get clock(): Clock {
    return this.options.clock;
  }
  get env(): EnvResolver {
    return this.options.env;
  }
  get baseEnv(): Record<string, string> {
    return this.options.baseEnv;
  }
  get layout(): RuntimeLayout {
    return this.options.layout;
  }
  get supervisorPath(): string {
    return this.options.supervisorPath;
  }
  get orphanGraceMs(): number {
    return this.options.orphanGraceMs;
  }
  get configRetryMs(): number {
    return this.options.backoff.initialMs;
  }

  /** A container by name (init or regular). */
  runner(name: string): ContainerRunner | undefined {
    return this.runners.find((r) => r.name === name);
  }

  /** The containers with a running process: name and pid (= process group). */
  runningContainers(): { name: string; pid: number }[] {
    return this.runners.flatMap((r) => (r.pid !== undefined ? [{ name: r.name, pid: r.pid }] : []));
  }

  /** Takes a newer copy of the pod: a changed image restarts its container (kubelet: spec hash changed). */
  update(pod: Pod, podIP: string): void {
    this.pod = pod;
    this.podIP = podIP;
    for (const runner of this.runners) {
      const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === runner.name);
      if (!spec) continue;
      const imageChanged = (spec.image ?? '') !== (runner.spec.image ?? '');
      runner.spec = spec;
      if (imageChanged && runner.active && !this.terminating) void runner.stop(this.podGraceMs(), 'spec');
    }
    this.requestReconcile(); // no change event: a sync alone changes nothing the agent reports
  }

  /** Reports an event about one of this pod's containers. */
  event(type: RuntimeEvent['type'], reason: string, container: string, message: string): void {
    this.options.onEvent(this.pod, { type, reason, message, container });
  }

  /** A container changed: tell the runtime, and decide what to do next. */
  changed(): void {
    this.options.onChange();
    this.requestReconcile();
  }

  private requestReconcile(): void {
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    queueMicrotask(() => {
      this.reconcileQueued = false;
      this.reconcile();
    });
  }

  private async prepare(): Promise<void> {
    const { layout, clock } = this.options;
    const record = layout.readPodRecord(this.podDir);
    this.startTimeMs = record?.startTimeMs ?? clock.now();
    if (!record) {
      const { namespace = 'default', name = '' } = this.pod.metadata ?? {};
      layout.writePodRecord(this.podDir, { uid: this.uid, namespace, name, startTimeMs: this.startTimeMs });
    }
    let recovered = false;
    await Promise.all(
      this.runners.map(async (runner) => {
        const dir = layout.containerDir(this.podDir, runner.name);
        const indexes = layout.instances(dir);
        if (indexes.length === 0) return;
        recovered = true;
        runner.nextIndex = runner.firstIndexInSandbox = indexes[indexes.length - 1]! + 1;
        for (const index of indexes.slice(-2)) {
          const instance = await settleInstance(layout.recordPath(dir, index), this.options.staleWaitMs);
          if (instance) runner.recordTermination(terminationFrom(index, instance, clock.now()));
        }
      }),
    );
    // A new sandbox runs the init containers again — unless the pod never restarts (kubelet
    // does not recreate the sandbox of a `Never` pod whose containers have run).
    if (recovered && restartPolicyOf(this.pod) === 'Never') for (const runner of this.runners) runner.firstIndexInSandbox = 0;
    this.prepared = true;
    const deadlineSeconds = this.pod.spec?.activeDeadlineSeconds;
    if (deadlineSeconds !== undefined) {
      this.deadlineTimer = clock.setTimeout(() => void this.exceedDeadline(), this.startTimeMs + deadlineSeconds * 1000 - clock.now());
    }
    this.changed();
  }

  /** kubelet's decisions: which container to start now, which to wait for. */
  private reconcile(): void {
    if (!this.prepared || this.terminating || this.terminal) return;
    const policy = restartPolicyOf(this.pod);
    for (const runner of this.runners) {
      if (runner.role === 'regular') break;
      if (runner.role === 'sidecar') {
        if (!runner.active) this.startWithBackoff(runner);
        if (!this.initialized && !runner.started) return; // the next init container waits for it
        continue;
      }
      if (this.initialized) continue;
      if (runner.active) return;
      const last = runner.lastTermination;
      const ranInSandbox = last !== undefined && last.instance >= runner.firstIndexInSandbox;
      if (ranInSandbox && last.exitCode === 0) continue;
      if (ranInSandbox && policy === 'Never') return this.complete(); // a failed init container fails the pod
      this.startWithBackoff(runner);
      return;
    }
    this.initialized = true;
    let finished = true;
    for (const runner of this.runners) {
      if (runner.role !== 'regular') continue;
      const last = runner.lastTermination;
      if (runner.active || runner.waiting?.permanent) finished = false;
      else if (!last || restarts(last, policy)) {
        finished = false;
        this.startWithBackoff(runner);
      }
    }
    if (finished) this.complete();
  }

  private startWithBackoff(runner: ContainerRunner): void {
    if (runner.active || runner.waiting?.permanent) return;
    const now = this.clock.now();
    if (runner.retryAtMs > now) return this.wakeAt(runner.name, runner.retryAtMs);
    const last = runner.lastTermination;
    if (last) {
      if (this.backoff.isInBackOffSince(runner.name, last.finishedAtMs, now)) {
        const delayMs = this.backoff.get(runner.name);
        const waiting = last.startFailed
          ? { reason: 'RunContainerError', ...(last.message ? { message: last.message } : {}) }
          : { reason: 'CrashLoopBackOff', message: `back-off ${formatGoDuration(delayMs)} restarting failed container=${runner.name} pod=${formatPod(this.pod)}` };
        if (runner.waiting?.reason !== waiting.reason || runner.waiting.message !== waiting.message) {
          runner.waiting = waiting;
          if (!last.startFailed) this.event('Warning', 'BackOff', runner.name, `Back-off restarting failed container ${runner.name} in pod ${formatPod(this.pod)}`);
          this.options.onChange();
        }
        return this.wakeAt(runner.name, last.finishedAtMs + delayMs);
      }
      this.backoff.next(runner.name, last.finishedAtMs, now);
    }
    void runner.start();
  }

  private wakeAt(name: string, atMs: number): void {
    this.wakeTimers.get(name)?.cancel();
    const timer = this.clock.setTimeout(() => {
      this.wakeTimers.delete(name);
      this.requestReconcile();
    }, atMs - this.clock.now());
    this.wakeTimers.set(name, timer);
  }

  /** No regular container runs or will: stop the sidecars (last first), and the pod is done. */
  private complete(): void {
    if (this.terminal) return;
    this.terminal = true;
    this.cancelTimers();
    const sidecars = this.runners.filter((r) => r.role === 'sidecar' && r.active).reverse();
    void (async () => {
      for (const sidecar of sidecars) await sidecar.stop(this.podGraceMs(), 'kill');
    })();
    this.options.onChange();
  }

  private async exceedDeadline(): Promise<void> {
    if (this.terminating || this.terminal) return;
    this.failure = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' };
    await this.terminate(this.podGraceMs());
  }

  /**
   * Stops every container: regular (and running init) containers together, then the sidecars
   * last first, within `graceMs` overall. Resolves when every process is gone.
   */
  terminate(graceMs: number): Promise<void> {
    this.terminated ??= (async () => {
      this.terminating = true;
      this.cancelTimers();
      this.options.onChange();
      await this.ready;
      const deadline = this.clock.now() + graceMs;
      await Promise.all(this.runners.filter((r) => r.role !== 'sidecar').map((r) => r.stop(graceMs, 'kill')));
      for (const sidecar of this.runners.filter((r) => r.role === 'sidecar').reverse()) {
        await sidecar.stop(Math.max(0, deadline - this.clock.now()), 'kill');
      }
      this.terminal = true;
      this.options.onChange();
    })();
    return this.terminated;
  }

  private cancelTimers(): void {
    for (const timer of this.wakeTimers.values()) timer.cancel();
    this.wakeTimers.clear();
    this.deadlineTimer?.cancel();
  }

  /** The pod's grace period (default 30 s). */
  podGraceMs(): number {
    return (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  /** The runtime's view of the pod. */
  status(): PodRuntimeStatus {
    const initializing = !this.initialized;
    const initRunners = this.runners.filter((r) => r.role !== 'regular');
    const initStatuses = initRunners.map((r) => r.view(initializing));
    const statuses = this.runners.filter((r) => r.role === 'regular').map((r) => r.view(initializing));
    const hasStarted = this.runners.some((r) => r.role === 'regular' && (r.active || r.lastTermination !== undefined));
    const phase = this.failure ? 'Failed' : computePhase(this.pod, initStatuses, statuses, this.terminal || this.terminating, hasStarted);
    const sidecarStatuses = initStatuses.filter((_, i) => initRunners[i]!.role === 'sidecar');
    const ready = !this.terminal && statuses.length > 0 && [...statuses, ...sidecarStatuses].every((s) => s.ready);
    return {
      uid: this.uid,
      phase,
      containerStatuses: statuses,
      initContainerStatuses: initStatuses,
      ready,
      startTime: formatTimestamp(this.startTimeMs),
      ...(this.failure ? this.failure : {}),
    };
  }
}

/** Whether a regular container that ended so is started again. */
function restarts(last: Termination, policy: 'Always' | 'OnFailure' | 'Never'): boolean {
  if (last.stoppedFor === 'spec') return true; // kubelet restarts a changed container whatever the policy
  if (last.stoppedFor === 'probe' || last.stoppedFor === 'hook') return policy !== 'Never';
  return shouldRestart(policy, last.exitCode);
}

function terminationFrom(index: number, record: InstanceRecord, nowMs: number): Termination {
  return {
    instance: index,
    exitCode: record.exitCode ?? 255,
    ...(record.signal !== undefined ? { signal: record.signal } : {}),
    reason: record.reason ?? 'Unknown',
    ...(record.message !== undefined ? { message: record.message } : {}),
    ...(record.startedAt !== undefined ? { startedAtMs: record.startedAt } : {}),
    finishedAtMs: record.finishedAt ?? nowMs,
    ...(record.pid !== undefined && record.startedAt !== undefined ? { containerID: `keelson://${record.pid}` } : {}),
    startFailed: record.startedAt === undefined,
  };
}
