/**
 * One container of a pod and its successive instances (runs): starting an instance (environment,
 * `$(VAR)` expansion of command and args, the supervisor), its probes and hooks, stopping it
 * (preStop, then the stop signal to its process group, SIGKILL after the grace period), and what
 * its status says — running, waiting (and why) or terminated, with the previous termination in
 * `lastState`. When to start an instance (order, restart policy, back-off) is the pod's decision
 * (`pod-worker.ts`).
 */
import { formatTimestamp } from '../../../lib/index.js';
import type { Clock, Container, LifecycleHandler, Pod } from '../../../lib/index.js';
import { expandVariables } from './env.js';
import { runAction, type ActionTarget } from './handlers.js';
import type { RuntimeLayout } from './layout.js';
import { tailOfLog } from './logs.js';
import { ProbeWorker, type ProbeKind } from './probes.js';
import { SupervisedProcess } from './supervised-process.js';
import type { InstanceRecord } from './supervisor-protocol.js';
import type { ContainerStateView, ContainerStatusView, EnvResolver } from './types.js';

/** What a container needs of its pod. */
export interface ContainerHost {
  readonly clock: Clock;
  readonly pod: Pod;
  readonly podIP: string;
  /** The pod is being killed: start nothing more. */
  readonly terminating: boolean;
  readonly env: EnvResolver;
  /** Variables every container gets beneath its own (PATH…). */
  readonly baseEnv: Record<string, string>;
  readonly layout: RuntimeLayout;
  readonly podDir: string;
  readonly supervisorPath: string;
  readonly orphanGraceMs: number;
  /** How long after a CreateContainerConfigError the next attempt waits. */
  readonly configRetryMs: number;
  /** Something about this container changed (status, or it needs a decision). */
  changed(): void;
  /** Reports an event about container `container` (kubelet's Started, Unhealthy, Killing…). */
  event(type: 'Normal' | 'Warning', reason: string, container: string, message: string): void;
}

/** Probe kinds as kubelet names them in events. */
const PROBE_NAMES: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

/** How a container takes part in its pod. */
export type ContainerRole = 'init' | 'sidecar' | 'regular';

/** Why an instance was stopped by the runtime. */
export type StopReason = 'kill' | 'probe' | 'hook' | 'spec';

/** How an instance ended. */
export interface Termination {
  instance: number;
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAtMs?: number;
  finishedAtMs: number;
  containerID?: string;
  /** The runtime stopped it (a failed liveness/startup probe or postStart hook, a changed spec, the pod's end). */
  stoppedFor?: StopReason;
  /** It never ran: the program could not be started. */
  startFailed: boolean;
}

interface Instance {
  index: number;
  process: SupervisedProcess;
  env: Record<string, string>;
  startedAtMs?: number;
  containerID?: string;
  started: boolean;
  readinessOk: boolean;
  probes: Map<ProbeKind, ProbeWorker>;
  stopping?: StopReason;
  /** When the stop under way SIGKILLs the instance at the latest (clock ms). */
  killAtMs?: number;
  done: Promise<void>;
}

/** A waiting reason that a later attempt may clear (or not: `permanent`). */
export interface Waiting {
  reason: string;
  message?: string;
  permanent?: boolean;
}

/** kubelet's bounds on a FallbackToLogsOnError message. */
const TERMINATION_LOG_LINES = 80;
const TERMINATION_LOG_BYTES = 2048;

/** One container of a pod. */
export class ContainerRunner {
  /** The number the next instance gets (its restartCount). */
  nextIndex = 0;
  /** The first instance of the current sandbox: init containers done before it must run again. */
  firstIndexInSandbox = 0;
  /** The last two terminations, oldest first. */
  terminations: Termination[] = [];
  /** Set while nothing runs and the pod waits to start this container. */
  waiting: Waiting | undefined;
  /** When a failed configuration (CreateContainerConfigError) may be retried (clock ms). */
  retryAtMs = 0;
  private current: Instance | undefined;
  private startPromise: Promise<void> | undefined;

  constructor(
    public spec: Container,
    readonly role: ContainerRole,
    private readonly host: ContainerHost,
  ) {}

  /** The container's name. */
  get name(): string {
    return this.spec.name;
  }

  /** Starting or running (an instance exists or is being set up). */
  get active(): boolean {
    return this.current !== undefined || this.startPromise !== undefined;
  }

  /** Running with its startup probe passed (or without one). */
  get started(): boolean {
    return this.current?.startedAtMs !== undefined && this.current.started && !this.current.stopping;
  }

  /** The latest termination, if any. */
  get lastTermination(): Termination | undefined {
    return this.terminations[this.terminations.length - 1];
  }

  /** The running instance's container pid (its process group), if any. */
  get pid(): number | undefined {
    return this.current?.startedAtMs !== undefined ? this.current.process.pid : undefined;
  }

  /** Whether instance `index` still runs (its log may still grow). */
  isRunning(index: number): boolean {
    return this.current?.index === index;
  }

  /** The log file of instance `index`. */
  logPath(index: number): string {
    return this.host.layout.logPath(this.host.layout.containerDir(this.host.podDir, this.name), index);
  }

  /** The instance whose output `kubectl logs` shows now, and the one `--previous` shows. */
  logInstances(): { current?: number; live: boolean; previous?: number } {
    const view = this.view();
    const byContainerID = (id: string | undefined) => this.terminations.find((t) => t.containerID === id && id !== undefined)?.instance;
    const previous = view.lastState.terminated ? byContainerID(view.lastState.terminated.containerID) : undefined;
    if (this.current?.startedAtMs !== undefined) return { current: this.current.index, live: true, ...(previous !== undefined ? { previous } : {}) };
    const last = this.terminations.findLast((t) => !t.startFailed)?.instance;
    return { ...(last !== undefined ? { current: last } : {}), live: false, ...(previous !== undefined ? { previous } : {}) };
  }

  /** Starts a new instance (no-op while one exists). Failures end up in the status. */
  start(): Promise<void> {
    if (this.active) return this.startPromise ?? Promise.resolve();
    this.waiting = undefined;
    this.startPromise = this.doStart()
      .catch((err: unknown) => {
        // Not the program's failure (that is a StartError termination): the node's, e.g. a full disk.
        this.waiting = { reason: 'RunContainerError', message: err instanceof Error ? err.message : String(err) };
        this.retryAtMs = this.host.clock.now() + this.host.configRetryMs;
      })
      .finally(() => {
        this.startPromise = undefined;
        this.host.changed();
      });
    this.host.changed();
    return this.startPromise;
  }

  private async doStart(): Promise<void> {
    const { spec, host } = this;
    if (!spec.command?.length && !spec.args?.length) {
      const image = spec.image ? ` image "${spec.image}" is informational and` : '';
      this.waiting = { reason: 'CreateContainerError', message: `container "${spec.name}" has no command or args: keelson runs containers as processes;${image} cannot be run`, permanent: true };
      return;
    }
    let env: Record<string, string>;
    try {
      env = { ...host.baseEnv, HOSTNAME: host.pod.spec?.hostname ?? host.pod.metadata?.name ?? '', ...(await host.env.resolve(host.pod, spec.name, host.podIP)) };
    } catch (err) {
      this.waiting = { reason: 'CreateContainerConfigError', message: err instanceof Error ? err.message : String(err) };
      this.retryAtMs = host.clock.now() + host.configRetryMs;
      return;
    }
    if (host.terminating) return;
    const expand = (s: string) => expandVariables(s, (name) => env[name]);
    const argv = [...(spec.command ?? []).map(expand), ...(spec.args ?? []).map(expand)];
    const index = this.nextIndex++;
    const dir = host.layout.ensureContainerDir(host.podDir, spec.name);
    const supervised = new SupervisedProcess(
      {
        command: argv[0]!,
        args: argv.slice(1),
        env,
        ...(spec.workingDir ? { cwd: spec.workingDir } : {}),
        logPath: host.layout.logPath(dir, index),
        recordPath: host.layout.recordPath(dir, index),
        orphanGraceMs: host.orphanGraceMs,
      },
      host.supervisorPath,
    );
    let markDone!: () => void;
    const instance: Instance = { index, process: supervised, env, started: false, readinessOk: false, probes: new Map(), done: new Promise((r) => (markDone = r)) };
    this.current = instance;
    void supervised.exited.then(async (record) => {
      await this.onExit(instance, record);
      markDone();
    });
    const outcome = await supervised.started;
    if (!outcome.ok || this.current !== instance) return;
    instance.startedAtMs = host.clock.now();
    instance.containerID = `keelson://${outcome.pid}`;
    instance.started = !spec.startupProbe;
    host.event('Normal', 'Started', spec.name, `Started container ${spec.name}`);
    this.startProbes(instance);
    host.changed();
    const postStart = spec.lifecycle?.postStart;
    if (postStart && !instance.stopping) {
      const result = await this.runHandler(instance, postStart, this.graceMs());
      if (!result.success && !instance.stopping) void this.stop(this.graceMs(), 'hook');
    }
  }

  private startProbes(instance: Instance): void {
    const probes: [ProbeKind, typeof this.spec.livenessProbe][] = [
      ['startup', this.spec.startupProbe],
      ['liveness', this.spec.livenessProbe],
      ['readiness', this.spec.readinessProbe],
    ];
    for (const [kind, probe] of probes) {
      if (!probe || (this.role === 'init' && kind !== 'startup')) continue;
      const worker = new ProbeWorker({
        kind,
        probe,
        clock: this.host.clock,
        target: this.target(instance),
        startedAtMs: instance.startedAtMs!,
        isStarted: () => instance.started,
        onResult: (success) => this.onProbeResult(instance, kind, success),
        onFailure: (output) => {
          if (this.current === instance && !instance.stopping) this.host.event('Warning', 'Unhealthy', this.name, `${PROBE_NAMES[kind]} probe failed: ${output}`);
        },
      });
      instance.probes.set(kind, worker);
      worker.start();
    }
  }

  private onProbeResult(instance: Instance, kind: ProbeKind, success: boolean): void {
    if (this.current !== instance || instance.stopping) return;
    if (kind === 'readiness') {
      if (instance.readinessOk !== success) {
        instance.readinessOk = success;
        this.host.changed();
      }
    } else if (!success) {
      const probe = kind === 'liveness' ? this.spec.livenessProbe : this.spec.startupProbe;
      this.host.event('Normal', 'Killing', this.name, `Container ${this.name} failed ${kind} probe, will be restarted`);
      void this.stop(this.graceMs(probe?.terminationGracePeriodSeconds), 'probe');
    } else if (kind === 'startup' && !instance.started) {
      instance.started = true;
      instance.probes.get('readiness')?.trigger();
      this.host.changed();
    }
  }

  /** The pod's (or a probe's) termination grace period, at least kubelet's minimum of 2 s. */
  private graceMs(override?: number): number {
    const seconds = override ?? this.host.pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.max(seconds, 2) * 1000;
  }

  private target(instance: Instance): ActionTarget {
    return {
      podIP: this.host.podIP,
      ports: this.spec.ports ?? [],
      exec: (command, timeoutMs) => instance.process.exec(command, instance.env, this.spec.workingDir, timeoutMs),
    };
  }

  private async runHandler(instance: Instance, handler: LifecycleHandler, budgetMs: number): Promise<{ success: boolean }> {
    if (handler.sleep) {
      await Promise.race([this.host.clock.sleep(handler.sleep.seconds * 1000), instance.done]);
      return { success: true };
    }
    return runAction(handler, this.target(instance), budgetMs, this.host.clock);
  }

  /**
   * Stops the current instance: its preStop hook (within the grace period), then its stop signal
   * (SIGTERM unless `lifecycle.stopSignal`) to its process group, SIGKILL when `graceMs` is over.
   * Resolves once it has exited (at once when nothing runs).
   */
  async stop(graceMs: number, reason: StopReason): Promise<void> {
    if (this.startPromise && !this.current) await this.startPromise;
    const instance = this.current;
    if (!instance) return;
    const { clock } = this.host;
    const signal = (this.spec.lifecycle?.stopSignal as NodeJS.Signals | undefined) ?? 'SIGTERM';
    if (instance.stopping) {
      // A second, more urgent stop (the pod killed with a shorter grace period) shortens the first.
      if (instance.killAtMs !== undefined && clock.now() + graceMs < instance.killAtMs) {
        instance.killAtMs = clock.now() + graceMs;
        instance.process.stop(signal, graceMs);
      }
      return instance.done;
    }
    instance.stopping = reason;
    instance.killAtMs = clock.now() + graceMs;
    for (const worker of instance.probes.values()) worker.stop();
    this.host.changed();
    const preStop = this.spec.lifecycle?.preStop;
    if (preStop && graceMs > 0) {
      await instance.process.started;
      if (instance.startedAtMs !== undefined) await this.runHandler(instance, preStop, graceMs);
    }
    const remainingMs = graceMs > 0 ? Math.max(instance.killAtMs - clock.now(), Math.min(graceMs, 2000)) : 0;
    instance.process.stop(signal, remainingMs);
    await instance.done;
  }

  private async onExit(instance: Instance, record: InstanceRecord): Promise<void> {
    for (const worker of instance.probes.values()) worker.stop();
    const exitCode = record.exitCode ?? 255;
    let message = record.message;
    if (message === undefined && exitCode !== 0 && this.spec.terminationMessagePolicy === 'FallbackToLogsOnError') {
      message = (await tailOfLog(this.logPath(instance.index), TERMINATION_LOG_LINES, TERMINATION_LOG_BYTES)) || undefined;
    }
    this.recordTermination({
      instance: instance.index,
      exitCode,
      ...(record.signal !== undefined ? { signal: record.signal } : {}),
      reason: record.reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
      ...(message !== undefined ? { message } : {}),
      ...(instance.startedAtMs !== undefined ? { startedAtMs: instance.startedAtMs } : {}),
      finishedAtMs: this.host.clock.now(),
      ...(instance.containerID !== undefined ? { containerID: instance.containerID } : {}),
      ...(instance.stopping ? { stoppedFor: instance.stopping } : {}),
      startFailed: instance.startedAtMs === undefined,
    });
    if (instance.startedAtMs === undefined) this.host.event('Warning', 'Failed', this.name, `Error: ${message ?? record.reason ?? `exit code ${exitCode}`}`);
    this.current = undefined;
    this.host.changed();
  }

  /** Adds a termination (also those recovered from a previous runtime's records). */
  recordTermination(termination: Termination): void {
    this.terminations = [...this.terminations, termination].slice(-2);
  }

  /** The container's status. `podInitializing`: init containers still run (the default waiting reason). */
  view(podInitializing = false): ContainerStatusView {
    const instance = this.current;
    const last = this.lastTermination;
    const defaultWaiting = { reason: podInitializing || this.role !== 'regular' ? 'PodInitializing' : 'ContainerCreating' };
    let state: ContainerStateView;
    if (instance?.startedAtMs !== undefined) state = { running: { startedAt: formatTimestamp(instance.startedAtMs) } };
    else if (instance || this.startPromise) state = { waiting: { reason: 'ContainerCreating' } };
    else if (this.waiting) state = { waiting: { reason: this.waiting.reason, ...(this.waiting.message ? { message: this.waiting.message } : {}) } };
    else if (last) state = { terminated: terminatedView(last) };
    else state = { waiting: defaultWaiting };
    const previous = state.terminated ? this.terminations[this.terminations.length - 2] : last;
    const running = state.running !== undefined && !instance?.stopping;
    const started = running && (instance?.started ?? false);
    const ready =
      this.role === 'init' ? state.terminated?.exitCode === 0 : started && (!this.spec.readinessProbe || (instance?.readinessOk ?? false));
    const ran = instance !== undefined || last !== undefined;
    const containerID = instance?.containerID ?? (state.terminated ? last?.containerID : undefined);
    return {
      name: this.name,
      ready,
      started,
      restartCount: instance ? instance.index : (last?.instance ?? 0),
      image: this.spec.image ?? '',
      imageID: ran && this.spec.image ? `keelson://image/${this.spec.image}` : '',
      ...(containerID ? { containerID } : {}),
      state,
      lastState: previous ? { terminated: terminatedView(previous) } : {},
    };
  }
}

function terminatedView(t: Termination): NonNullable<ContainerStateView['terminated']> {
  return {
    exitCode: t.exitCode,
    ...(t.signal !== undefined ? { signal: t.signal } : {}),
    reason: t.reason,
    ...(t.message ? { message: t.message } : {}),
    ...(t.startedAtMs !== undefined ? { startedAt: formatTimestamp(t.startedAtMs) } : {}),
    finishedAt: formatTimestamp(t.finishedAtMs),
    ...(t.containerID ? { containerID: t.containerID } : {}),
  };
}
