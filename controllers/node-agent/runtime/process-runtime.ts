/**
 * The pod runtime keelson's node agent uses: each container runs as a process (its `command` and
 * `args`, its environment, its working dir — there is no container engine, the image is
 * informational) under a supervisor process of its own (`supervisor.ts`), so that no container
 * outlives the agent. Everything kubelet does to a pod's containers on a node is here: init
 * containers and sidecars, restart policies with crash-loop back-off, probes, hooks, graceful
 * termination, logs per instance, resource usage from /proc, kubelet's phase.
 *
 * ```ts
 * const runtime = new ProcessRuntime({ dataDir: '.keelson/node-1', env: new ClientEnvResolver(client) });
 * runtime.onChange((uid) => publish(runtime.status(uid)));
 * runtime.sync(pod, '127.64.0.2');
 * for await (const chunk of runtime.logs(uid, 'web', { follow: true, signal })) process.stdout.write(chunk);
 * await runtime.kill(uid, 30);
 * ```
 */
import { rm } from 'node:fs/promises';
import { ApiError, systemClock } from '../../../lib/index.js';
import type { Clock, Pod } from '../../../lib/index.js';
import { DEFAULT_BACKOFF, type BackOffOptions } from './backoff.js';
import { ClientEnvResolver } from './env.js';
import { RuntimeLayout } from './layout.js';
import { readInstanceLog, type LogSource } from './logs.js';
import { PodWorker } from './pod-worker.js';
import { SUPERVISOR_PATH } from './supervised-process.js';
import type { EnvResolver, LogOptions, PodRuntime, PodRuntimeStatus, PodUsage, RuntimeEvent } from './types.js';
import { sampleGroups } from './usage.js';

/** Every setting of a {@link ProcessRuntime}, with its default. */
export interface ProcessRuntimeOptions {
  /** Where the pods' files live (`<dataDir>/pods/…`: logs and instance records). Required. */
  dataDir: string;
  /** Time for back-off, probes, hooks and status timestamps. Default: the system clock. */
  clock?: Clock;
  /** Computes containers' environments. Default: a {@link ClientEnvResolver} without a client (no ConfigMaps, Secrets or Services). */
  env?: EnvResolver;
  /** Crash-loop back-off. Default: kubelet's, 10 s doubling to 5 min. */
  backoff?: Partial<BackOffOptions>;
  /** When the agent dies, its supervisors SIGTERM their containers and SIGKILL them after this long. Default 2000 ms. */
  orphanGraceMs?: number;
  /** Variables beneath every container's own (an image would bring PATH…). Default: `{ PATH: process.env.PATH }`. */
  baseEnv?: Record<string, string>;
  /** The supervisor program. Default: `supervisor.js` next to this module. */
  supervisorPath?: string;
  /** How long to wait for a previous runtime's supervisors of a pod before killing them. Default: orphanGraceMs + 5000 ms. */
  staleWaitMs?: number;
}

function badRequest(message: string): ApiError {
  return new ApiError({ code: 400, reason: 'BadRequest', message });
}

/** A {@link PodRuntime} running containers as supervised processes. */
export class ProcessRuntime implements PodRuntime {
  private readonly clock: Clock;
  private readonly layout: RuntimeLayout;
  private readonly workers = new Map<string, PodWorker>();
  private readonly killed = new Set<string>();
  private readonly listeners = new Set<(uid: string) => void>();
  private readonly eventListeners = new Set<(pod: Pod, event: RuntimeEvent) => void>();
  private readonly pendingChanges = new Set<string>();
  private readonly workerOptions: Omit<ConstructorParameters<typeof PodWorker>[2], 'onChange' | 'onEvent'>;
  private flushQueued = false;
  private closed = false;

  constructor(options: ProcessRuntimeOptions) {
    this.clock = options.clock ?? systemClock;
    this.layout = new RuntimeLayout(options.dataDir);
    const orphanGraceMs = options.orphanGraceMs ?? 2000;
    this.workerOptions = {
      clock: this.clock,
      env: options.env ?? new ClientEnvResolver(undefined),
      baseEnv: options.baseEnv ?? (process.env.PATH !== undefined ? { PATH: process.env.PATH } : {}),
      layout: this.layout,
      supervisorPath: options.supervisorPath ?? SUPERVISOR_PATH,
      orphanGraceMs,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      staleWaitMs: options.staleWaitMs ?? orphanGraceMs + 5000,
    };
  }

  sync(pod: Pod, podIP: string): void {
    if (this.closed) return;
    const uid = pod.metadata?.uid;
    if (!uid) throw new Error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no uid`);
    if (this.killed.has(uid)) return; // a killed pod never runs again
    const worker = this.workers.get(uid);
    if (worker) return worker.update(pod, podIP);
    this.workers.set(uid, new PodWorker(pod, podIP, {
        ...this.workerOptions,
        onChange: () => this.emit(uid),
        onEvent: (about, event) => {
          for (const listener of this.eventListeners) listener(about, event);
        },
      }));
    this.emit(uid);
  }

  async kill(uid: string, gracePeriodSeconds: number): Promise<void> {
    const worker = this.workers.get(uid);
    if (!worker) return;
    this.killed.add(uid);
    await worker.terminate(Math.max(0, gracePeriodSeconds) * 1000);
    this.workers.delete(uid);
    this.emit(uid);
  }

  status(uid: string): PodRuntimeStatus | undefined {
    return this.workers.get(uid)?.status();
  }

  pods(): string[] {
    return [...this.workers.keys()];
  }

  onChange(listener: (uid: string) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  onEvent(listener: (pod: Pod, event: RuntimeEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => void this.eventListeners.delete(listener);
  }

  /**
   * A container's log. Validates at once (throws an ApiError: 404 for a pod unknown here, 400 —
   * with kubelet's messages — for a container that has no such log), then streams.
   */
  logs(uid: string, container: string, options: LogOptions = {}): AsyncIterable<string> {
    const source = this.logSource(uid, container, options.previous ?? false);
    return readInstanceLog(source, options, this.clock.now());
  }

  usage(uid: string): PodUsage | undefined {
    const worker = this.workers.get(uid);
    if (!worker) return undefined;
    const running = worker.runningContainers();
    const groups = sampleGroups(running.map((c) => c.pid));
    const containers = running.map(({ name, pid }) => ({ name, cpuSeconds: groups.get(pid)?.cpuSeconds ?? 0, memoryBytes: groups.get(pid)?.memoryBytes ?? 0 }));
    return {
      uid,
      cpuSeconds: containers.reduce((sum, c) => sum + c.cpuSeconds, 0),
      memoryBytes: containers.reduce((sum, c) => sum + c.memoryBytes, 0),
      containers,
      timestamp: this.clock.now(),
    };
  }

  async shutdown(gracePeriodSeconds?: number): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers].map(([uid, worker]) => this.kill(uid, gracePeriodSeconds ?? worker.podGraceMs() / 1000)));
  }

  /** Removes the files (logs, records) of every pod not in `keepUids` and not running here. */
  async cleanup(keepUids: Iterable<string>): Promise<void> {
    const keep = new Set(keepUids);
    for (const name of this.layout.listPodDirs()) {
      const uid = name.slice(name.lastIndexOf('_') + 1);
      if (keep.has(uid) || this.workers.has(uid)) continue;
      await rm(`${this.layout.podsDir}/${name}`, { recursive: true, force: true });
    }
  }

  private emit(uid: string): void {
    this.pendingChanges.add(uid);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const uids = [...this.pendingChanges];
      this.pendingChanges.clear();
      for (const changed of uids) {
        for (const listener of this.listeners) {
          try {
            listener(changed);
          } catch (err) {
            process.emitWarning(`pod runtime onChange listener failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    });
  }

  private logSource(uid: string, container: string, previous: boolean): LogSource {
    const worker = this.workers.get(uid);
    if (worker) {
      const podName = worker.pod.metadata?.name ?? uid;
      const runner = worker.runner(container);
      if (!runner) throw badRequest(`container ${container} is not valid for pod ${podName}`);
      const instances = runner.logInstances();
      if (previous) {
        if (instances.previous === undefined) throw badRequest(`previous terminated container "${container}" in pod "${podName}" not found`);
        return { path: runner.logPath(instances.previous), isLive: () => false };
      }
      const current = instances.current;
      if (current === undefined) {
        const reason = runner.view().state.waiting?.reason ?? 'ContainerCreating';
        throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${reason}`);
      }
      return { path: runner.logPath(current), isLive: () => runner.isRunning(current) };
    }
    // Not running here (any more): what a runtime left in the data dir.
    const podDir = this.layout.findPodDir(uid);
    if (!podDir) throw new ApiError({ code: 404, reason: 'NotFound', message: `pod with uid ${uid} has no logs on this node` });
    const dir = this.layout.containerDir(podDir, container);
    const indexes = this.layout.instances(dir);
    if (indexes.length === 0) throw badRequest(`container ${container} has no logs in pod ${uid}`);
    const index = indexes[indexes.length - (previous ? 2 : 1)];
    if (index === undefined) throw badRequest(`previous terminated container "${container}" in pod "${uid}" not found`);
    return { path: this.layout.logPath(dir, index), isLive: () => false };
  }
}
