/**
 * Probe workers, one per probe of a running container instance, as kubelet's prober worker:
 * the first probe after `initialDelaySeconds`, then one every `periodSeconds` (default 10), each
 * with `timeoutSeconds` (default 1); a result counts only after `successThreshold` (default 1)
 * or `failureThreshold` (default 3) equal results in a row. The startup probe gates the others
 * (they do not run until it has succeeded) and stops once it has; a liveness or startup failure
 * puts the worker on hold — the container is killed and its next instance gets new workers.
 * Readiness starts out failed, liveness and startup out succeeded. Time comes from the clock.
 */
import type { Clock, Probe, TimerHandle } from '../../../lib/index.js';
import { runAction, type ActionTarget } from './handlers.js';

/** Which probe a worker runs. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** What a {@link ProbeWorker} needs. */
export interface ProbeWorkerOptions {
  kind: ProbeKind;
  probe: Probe;
  clock: Clock;
  target: ActionTarget;
  /** When the instance started running (clock ms). */
  startedAtMs: number;
  /** Whether the container counts as started (its startup probe passed, or it has none). */
  isStarted(): boolean;
  /** Called when a result crosses its threshold (and every time it stays there after). */
  onResult(success: boolean, output: string): void;
  /** Called after every failed probe, threshold or not (kubelet records an event each time). */
  onFailure?(output: string): void;
}

/** Runs one probe of one container instance until stopped. */
export class ProbeWorker {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private probing = false;
  private lastResult: boolean | undefined;
  private resultRun = 0;

  constructor(private readonly options: ProbeWorkerOptions) {}

  /** Schedules the first probe (after the initial delay). */
  start(): void {
    const { probe, clock, startedAtMs } = this.options;
    const delayMs = Math.max(0, startedAtMs + (probe.initialDelaySeconds ?? 0) * 1000 - clock.now());
    this.schedule(delayMs);
  }

  /** Probes now instead of at the next period (e.g. readiness once the startup probe passed). */
  trigger(): void {
    if (this.stopped || this.probing) return;
    this.timer?.cancel();
    void this.tick();
  }

  /** Stops probing; a probe in flight is ignored when it completes. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.options.clock.setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    const { kind, probe, clock, target, startedAtMs } = this.options;
    const periodMs = Math.max(1, probe.periodSeconds ?? 10) * 1000;
    if (this.stopped) return;
    const delayed = clock.now() - startedAtMs < (probe.initialDelaySeconds ?? 0) * 1000;
    const started = this.options.isStarted();
    const gated = kind === 'startup' ? started : !started;
    if (delayed || gated) return this.schedule(periodMs);
    this.probing = true;
    const { success, output } = await runAction(probe, target, Math.max(1, probe.timeoutSeconds ?? 1) * 1000, clock);
    this.probing = false;
    if (this.stopped) return;
    if (!success) this.options.onFailure?.(output);
    if (this.lastResult === success) this.resultRun++;
    else {
      this.lastResult = success;
      this.resultRun = 1;
    }
    const threshold = success ? Math.max(1, probe.successThreshold ?? 1) : Math.max(1, probe.failureThreshold ?? 3);
    if (this.resultRun >= threshold) {
      if (!success && kind !== 'readiness') {
        this.stop(); // on hold until the next instance: this one is being killed
        this.options.onResult(false, output);
        return;
      }
      this.options.onResult(success, output);
    }
    this.schedule(periodMs);
  }
}
