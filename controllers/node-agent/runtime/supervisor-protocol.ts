/**
 * What the pod runtime and a container's supervisor say to each other over the supervisor's IPC
 * channel, and the files the supervisor leaves behind (the container's log in the CRI format and
 * its instance record). The supervisor imports only this module and Node built-ins, so that it
 * starts fast and carries none of keelson's library.
 */

/** Runtime → supervisor: start the container process (sent once, first). */
export interface StartMessage {
  type: 'start';
  /** The program (PATH lookup as execvp does) and its arguments. */
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Where to append the container's stdout/stderr, one CRI log line per line. */
  logPath: string;
  /** Where to write the {@link InstanceRecord} (at start, and again at exit). */
  recordPath: string;
  /** When the runtime's pipe closes: SIGTERM to the process group, SIGKILL after this long. */
  orphanGraceMs: number;
}

/** Runtime → supervisor: signal the process group, SIGKILL it after `graceMs`. */
export interface StopMessage {
  type: 'stop';
  signal: NodeJS.Signals;
  graceMs: number;
}

/** Runtime → supervisor: run a command next to the container (exec probes, exec hooks). */
export interface ExecMessage {
  type: 'exec';
  id: number;
  command: string[];
  env: Record<string, string>;
  cwd?: string;
  /** The command's process group is SIGKILLed after this long and the result is a timeout. */
  timeoutMs: number;
}

/** Every message the runtime sends. */
export type RuntimeMessage = StartMessage | StopMessage | ExecMessage;

/** Supervisor → runtime: the container process runs. */
export interface StartedMessage {
  type: 'started';
  pid: number;
  /** Wall-clock ms when the process was spawned. */
  startedAt: number;
}

/** Supervisor → runtime: the container process has ended (or never started); the supervisor exits next. */
export interface ExitedMessage {
  type: 'exited';
  record: InstanceRecord;
}

/** Supervisor → runtime: the outcome of an {@link ExecMessage}. */
export interface ExecResultMessage {
  type: 'exec-result';
  id: number;
  /** The exit code (128+n when killed by signal n); undefined when the command could not start. */
  exitCode?: number;
  /** Combined stdout and stderr, at most {@link MAX_EXEC_OUTPUT} bytes. */
  output: string;
  timedOut: boolean;
  /** Why the command could not start (e.g. `executable file not found`). */
  error?: string;
}

/** Every message the supervisor sends. */
export type SupervisorMessage = StartedMessage | ExitedMessage | ExecResultMessage;

/**
 * One container instance as its supervisor saw it, kept next to its log as JSON. Written when the
 * process starts (no `finishedAt` yet) and rewritten when it ends, so that a runtime started
 * later over the same data dir knows how each instance ended even if no runtime was listening.
 */
export interface InstanceRecord {
  /** The supervisor's pid (to find a still-running supervisor of a previous runtime). */
  supervisorPid: number;
  /** The container process' pid, also its process group id; absent if it never started. */
  pid?: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  /** The signal number that killed the process, if one did. */
  signal?: number;
  /** `Completed`, `Error` or `StartError`. */
  reason?: string;
  message?: string;
}

/** Exec output beyond this many bytes is dropped (kubelet keeps 10 KiB of probe output). */
export const MAX_EXEC_OUTPUT = 10 * 1024;

/** Longest log line written as one record; longer lines are split into partial (`P`) records. */
export const MAX_LOG_LINE = 16 * 1024;

/** Which stream a log line came from. */
export type LogStream = 'stdout' | 'stderr';

/** One parsed CRI log line: `<rfc3339nano> <stream> <P|F> <content>`. */
export interface LogRecord {
  /** Milliseconds since the epoch (sub-ms digits dropped). */
  timeMs: number;
  /** The timestamp exactly as written. */
  timestamp: string;
  stream: LogStream;
  /** False for a partial record: the line continues in the next record. */
  full: boolean;
  content: string;
}

/** Formats wall-clock milliseconds (with a fractional part) as RFC 3339 with nanoseconds. */
export function rfc3339Nano(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.floor((ms - whole) * 1e6);
  const base = new Date(whole).toISOString(); // …T00:00:00.123Z
  return `${base.slice(0, -1)}${String(nanos).padStart(6, '0')}Z`;
}

/** One CRI log line (with its trailing newline). */
export function formatLogRecord(timeMs: number, stream: LogStream, full: boolean, content: string): string {
  return `${rfc3339Nano(timeMs)} ${stream} ${full ? 'F' : 'P'} ${content}\n`;
}

/** Parses one CRI log line (without its newline); undefined when it is not one. */
export function parseLogRecord(line: string): LogRecord | undefined {
  const first = line.indexOf(' ');
  const second = line.indexOf(' ', first + 1);
  const third = line.indexOf(' ', second + 1);
  if (first < 0 || second < 0 || third < 0) return undefined;
  const timestamp = line.slice(0, first);
  const stream = line.slice(first + 1, second);
  const tag = line.slice(second + 1, third);
  const timeMs = Date.parse(timestamp);
  if (Number.isNaN(timeMs) || (stream !== 'stdout' && stream !== 'stderr') || (tag !== 'F' && tag !== 'P')) return undefined;
  return { timeMs, timestamp, stream, full: tag === 'F', content: line.slice(third + 1) };
}
