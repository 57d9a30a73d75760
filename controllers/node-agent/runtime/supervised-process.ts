/**
 * The runtime's handle on one container instance: the supervisor process it started (see
 * `supervisor.ts`) and, through it, the container process. The IPC channel to the supervisor is
 * the container's lifeline: the runtime never closes it itself, and when the runtime's process
 * dies the kernel closes it and the supervisor takes the container down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecResultMessage, InstanceRecord, RuntimeMessage, StartMessage, SupervisorMessage } from './supervisor-protocol.js';

/** The supervisor program, next to this module (also when compiled elsewhere, e.g. `.dist-rt`). */
export const SUPERVISOR_PATH = fileURLToPath(new URL('./supervisor.js', import.meta.url));

/** The command-line flag naming an instance record; how a supervisor is recognised in /proc. */
export const RECORD_FLAG = '--keelson-record';

/** How a start ended: the process runs, or it could not be started. */
export type StartOutcome = { ok: true; pid: number; startedAt: number } | { ok: false; record: InstanceRecord };

/** The result of a command run next to the container. */
export type ExecResult = Omit<ExecResultMessage, 'type' | 'id'>;

/** One supervised container instance. */
export class SupervisedProcess {
  /** Resolves when the container process runs or has failed to start. */
  readonly started: Promise<StartOutcome>;
  /** Resolves with the instance's final record once the supervisor has exited. */
  readonly exited: Promise<InstanceRecord>;
  private readonly child: ChildProcess;
  private readonly pendingExecs = new Map<number, (result: ExecResult) => void>();
  private nextExecId = 1;
  private containerPid: number | undefined;
  private lastRecord: InstanceRecord | undefined;
  private supervisorGone = false;
  private stderrTail = '';

  /** Starts a supervisor and asks it to start the container described by `start`. */
  constructor(start: Omit<StartMessage, 'type'>, supervisorPath = SUPERVISOR_PATH) {
    this.child = spawn(process.execPath, [supervisorPath, RECORD_FLAG, start.recordPath], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // A session of its own: a signal to the agent's process group (Ctrl-C, `kill -9 -PGID`) must not
      // take the supervisor down without its container; it learns of the agent's end from the channel.
      detached: true,
      env: process.env,
      serialization: 'json',
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2048);
    });
    let resolveStarted!: (outcome: StartOutcome) => void;
    this.started = new Promise((resolve) => (resolveStarted = resolve));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.supervisorGone = true;
        for (const reply of this.pendingExecs.values()) reply({ output: '', timedOut: false, error: 'container is gone' });
        this.pendingExecs.clear();
        let record = this.lastRecord ?? this.recordFromDisk(start.recordPath);
        if (record?.finishedAt === undefined) {
          // The supervisor died without reporting (killed itself?): it may have left its container's group behind.
          if (this.containerPid !== undefined) killGroup(this.containerPid);
          record = { ...record, ...this.unknownEnd(code, signal) };
        }
        resolveStarted({ ok: false, record });
        resolve(record);
      });
    });
    this.child.on('message', (message: SupervisorMessage) => {
      if (message.type === 'started') {
        this.containerPid = message.pid;
        resolveStarted({ ok: true, pid: message.pid, startedAt: message.startedAt });
      } else if (message.type === 'exited') {
        this.lastRecord = message.record;
      } else if (message.type === 'exec-result') {
        const { id, type: _type, ...result } = message;
        this.pendingExecs.get(id)?.(result);
        this.pendingExecs.delete(id);
      }
    });
    this.child.on('error', () => {
      // A failed spawn of the supervisor itself also emits 'exit' (code -2); handled there.
    });
    this.send({ type: 'start', ...start });
  }

  /** The supervisor's pid. */
  get supervisorPid(): number | undefined {
    return this.child.pid;
  }

  /** The container process' pid (and process group id), once it runs. */
  get pid(): number | undefined {
    return this.containerPid;
  }

  /** Sends `signal` to the container's process group, SIGKILL after `graceMs` (0: at once). */
  stop(signal: NodeJS.Signals, graceMs: number): void {
    this.send({ type: 'stop', signal, graceMs: Math.max(0, Math.round(graceMs)) });
  }

  /** Runs `command` with `env` next to the container, killed after `timeoutMs`. */
  exec(command: string[], env: Record<string, string>, cwd: string | undefined, timeoutMs: number): Promise<ExecResult> {
    if (this.supervisorGone) return Promise.resolve({ output: '', timedOut: false, error: 'container is gone' });
    const id = this.nextExecId++;
    return new Promise((resolve) => {
      this.pendingExecs.set(id, resolve);
      this.send({ type: 'exec', id, command, env, ...(cwd !== undefined ? { cwd } : {}), timeoutMs: Math.max(1, Math.round(timeoutMs)) });
    });
  }

  private send(message: RuntimeMessage): void {
    if (this.supervisorGone || !this.child.connected) return;
    try {
      this.child.send(message);
    } catch {
      // The supervisor is exiting; its 'exit' event reports the outcome.
    }
  }

  private recordFromDisk(path: string): InstanceRecord | undefined {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as InstanceRecord;
    } catch {
      return undefined;
    }
  }

  private unknownEnd(code: number | null, signal: NodeJS.Signals | null): InstanceRecord {
    const why = signal ? `signal ${signal}` : `exit code ${code}`;
    const detail = this.stderrTail.trim() ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' ')}` : '';
    return {
      supervisorPid: this.child.pid ?? 0,
      ...(this.containerPid !== undefined ? { pid: this.containerPid } : {}),
      exitCode: 255,
      reason: 'Unknown',
      message: `the container's supervisor ended unexpectedly (${why})${detail}`,
      finishedAt: Date.now(), // wall-clock, as the supervisor's own records
    };
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: already gone.
  }
}
