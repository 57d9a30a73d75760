/**
 * The supervisor: a tiny program (one per container instance, like CRI-O's conmon) that the pod
 * runtime starts with `process.execPath` and an IPC channel. It
 *
 * - starts the container process in its own process group (`detached`), its stdout and stderr
 *   piped into the container's log file as CRI log lines (`<rfc3339nano> <stream> <P|F> <line>`);
 * - reports the start, and the exit status (128+n for signal n), to the runtime, and writes both
 *   to the instance record next to the log — so a later runtime knows how the instance ended;
 * - signals the process group on request (SIGTERM, then SIGKILL after the grace period) and runs
 *   exec probes and hooks in process groups of their own;
 * - when the container's main process ends, SIGKILLs whatever is left of its group (as a
 *   container runtime kills the container's cgroup), then exits;
 * - **when the channel from the runtime closes** — the agent died, even by SIGKILL, so the kernel
 *   closed its end — or its parent changes, or it receives SIGINT/SIGHUP/SIGTERM: SIGTERMs the
 *   container's group, SIGKILLs it after a short grace, and exits. Pod processes never outlive
 *   their agent.
 *
 * It imports nothing of keelson but the protocol, so it starts in tens of milliseconds.
 * Usage (by the runtime only): `node supervisor.js --keelson-record <recordPath>`; the record path
 * in the command line lets a later runtime recognise a still-running supervisor in /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  formatLogRecord,
  MAX_EXEC_OUTPUT,
  MAX_LOG_LINE,
  type ExecMessage,
  type InstanceRecord,
  type LogStream,
  type RuntimeMessage,
  type StartMessage,
  type SupervisorMessage,
} from './supervisor-protocol.js';

let startMessage: StartMessage | undefined;
let container: ChildProcess | undefined;
let record: InstanceRecord = { supervisorPid: process.pid };
let logFd: number | undefined;
let killTimer: NodeJS.Timeout | undefined;
let finishing = false;
let orphaned = false;
const execGroups = new Set<number>();

function now(): number {
  return performance.timeOrigin + performance.now();
}

function send(message: SupervisorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    try {
      process.send(message, undefined, {}, () => resolve());
    } catch {
      resolve(); // the channel closed under us: nobody is listening any more
    }
  });
}

/** Signals a whole process group; a group that is already gone (ESRCH) is fine. */
function killGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}

function writeRecord(): void {
  if (!startMessage) return;
  const tmp = `${startMessage.recordPath}.tmp`;
  writeFileSync(tmp, JSON.stringify(record));
  renameSync(tmp, startMessage.recordPath);
}

function appendLog(text: string): void {
  if (logFd === undefined || text === '') return;
  try {
    writeSync(logFd, text);
  } catch {
    // A full disk must not take the container down; its output is lost, as a CRI runtime's would be.
  }
}

/** Splits one stream into CRI log records; a line longer than MAX_LOG_LINE becomes partial records. */
class LogWriter {
  private pending = '';

  constructor(private readonly stream: LogStream) {}

  write(chunk: string): void {
    const time = now();
    let text = this.pending + chunk;
    let out = '';
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
      out += this.records(time, text.slice(0, newline));
      text = text.slice(newline + 1);
    }
    while (text.length > MAX_LOG_LINE) {
      out += formatLogRecord(time, this.stream, false, text.slice(0, MAX_LOG_LINE));
      text = text.slice(MAX_LOG_LINE);
    }
    this.pending = text;
    appendLog(out);
  }

  /** Writes what is left of an unterminated last line. */
  flush(): void {
    if (this.pending !== '') appendLog(this.records(now(), this.pending));
    this.pending = '';
  }

  private records(time: number, line: string): string {
    let out = '';
    while (line.length > MAX_LOG_LINE) {
      out += formatLogRecord(time, this.stream, false, line.slice(0, MAX_LOG_LINE));
      line = line.slice(MAX_LOG_LINE);
    }
    return out + formatLogRecord(time, this.stream, true, line);
  }
}

/** The message runc would give for a program that cannot be executed, and the exit code a shell uses. */
function startError(command: string, err: NodeJS.ErrnoException): { exitCode: number; message: string } {
  if (err.code === 'ENOENT') {
    const message = command.includes('/') ? `exec: "${command}": stat ${command}: no such file or directory` : `exec: "${command}": executable file not found in $PATH`;
    return { exitCode: 127, message };
  }
  if (err.code === 'EACCES') return { exitCode: 126, message: `exec: "${command}": permission denied` };
  return { exitCode: 128, message: `exec: "${command}": ${err.message}` };
}

function workingDirError(cwd: string | undefined): string | undefined {
  if (cwd === undefined) return undefined;
  try {
    if (statSync(cwd).isDirectory()) return undefined;
    return `chdir to cwd ("${cwd}") set in config failed: not a directory`;
  } catch {
    return `chdir to cwd ("${cwd}") set in config failed: no such file or directory`;
  }
}

function start(message: StartMessage): void {
  if (startMessage) return;
  startMessage = message;
  logFd = openSync(message.logPath, 'a');
  writeRecord();
  const cwdError = workingDirError(message.cwd);
  if (cwdError) return void finish({ exitCode: 128, reason: 'StartError', message: cwdError });
  const child = spawn(message.command, message.args, {
    cwd: message.cwd,
    env: message.env,
    detached: true, // its own process group: signals reach the whole container, and it ours never
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    child.once('error', (err) => void finish({ reason: 'StartError', ...startError(message.command, err) }));
    return;
  }
  container = child;
  child.on('error', () => undefined); // a failed signal is reported as ESRCH by killGroup; nothing else can fail
  record = { ...record, pid: child.pid, startedAt: now() };
  writeRecord();
  const stdout = new LogWriter('stdout');
  const stderr = new LogWriter('stderr');
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.write(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.write(chunk));
  const streamsClosed = Promise.all([new Promise((r) => child.stdout.once('close', r)), new Promise((r) => child.stderr.once('close', r))]);
  child.once('exit', (code, signal) => void onExit(child, code, signal, streamsClosed, [stdout, stderr]));
  void send({ type: 'started', pid: child.pid, startedAt: record.startedAt! });
  if (orphaned) stop('SIGTERM', message.orphanGraceMs);
}

async function onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, streamsClosed: Promise<unknown>, writers: LogWriter[]): Promise<void> {
  clearTimeout(killTimer);
  // The main process is gone: the rest of its group goes with it, as a container's cgroup would.
  killGroup(child.pid, 'SIGKILL');
  // Drain what the group wrote; a process that left the group may hold the pipes open, so bound it.
  await Promise.race([streamsClosed, new Promise((r) => setTimeout(r, 1000))]);
  for (const writer of writers) writer.flush();
  const signalNumber = signal ? constants.signals[signal] : undefined;
  const exitCode = code ?? 128 + (signalNumber ?? 0);
  await finish({ exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', ...(signalNumber !== undefined ? { signal: signalNumber } : {}) });
}

async function finish(outcome: { exitCode: number; reason: string; message?: string; signal?: number }): Promise<void> {
  if (finishing) return;
  finishing = true;
  for (const pgid of execGroups) killGroup(pgid, 'SIGKILL');
  record = { ...record, ...outcome, finishedAt: now() };
  try {
    writeRecord();
  } finally {
    if (logFd !== undefined) closeSync(logFd);
    logFd = undefined;
  }
  await send({ type: 'exited', record });
  process.exit(0);
}

function stop(signal: NodeJS.Signals, graceMs: number): void {
  if (!container || finishing) return;
  const pgid = container.pid;
  if (graceMs <= 0) return killGroup(pgid, 'SIGKILL');
  killGroup(pgid, signal);
  clearTimeout(killTimer);
  killTimer = setTimeout(() => killGroup(pgid, 'SIGKILL'), graceMs);
}

function exec(message: ExecMessage): void {
  const [program, ...args] = message.command;
  const reply = (result: Omit<Extract<SupervisorMessage, { type: 'exec-result' }>, 'type' | 'id'>) => void send({ type: 'exec-result', id: message.id, ...result });
  if (program === undefined || finishing) return reply({ output: '', timedOut: false, error: program === undefined ? 'empty command' : 'container is stopping' });
  const child = spawn(program, args, { cwd: message.cwd, env: message.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    child.once('error', (err) => reply({ output: '', timedOut: false, error: startError(program, err).message }));
    return;
  }
  const pgid = child.pid;
  child.on('error', () => undefined);
  execGroups.add(pgid);
  let output = '';
  const collect = (chunk: string) => {
    if (output.length < MAX_EXEC_OUTPUT) output = (output + chunk).slice(0, MAX_EXEC_OUTPUT);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pgid, 'SIGKILL');
  }, message.timeoutMs);
  child.once('close', (code, signal) => {
    clearTimeout(timer);
    killGroup(pgid, 'SIGKILL');
    execGroups.delete(pgid);
    const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    reply({ exitCode, output, timedOut });
  });
}

/** The runtime is gone (or we are told to stop): take the container down, then exit. */
function onOrphaned(): void {
  if (orphaned) return;
  orphaned = true;
  for (const pgid of execGroups) killGroup(pgid, 'SIGKILL');
  if (!startMessage) process.exit(0);
  stop('SIGTERM', startMessage.orphanGraceMs);
}

process.on('message', (message: RuntimeMessage) => {
  if (message.type === 'start') start(message);
  else if (message.type === 'stop') stop(message.signal, message.graceMs);
  else if (message.type === 'exec') exec(message);
});
process.on('disconnect', onOrphaned);
for (const signal of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(signal, onOrphaned);
process.on('uncaughtException', (err) => {
  process.stderr.write(`keelson supervisor: ${err.stack ?? err.message}\n`);
  killGroup(container?.pid, 'SIGKILL');
  for (const pgid of execGroups) killGroup(pgid, 'SIGKILL');
  process.exit(70);
});
// A second lifeline: the IPC channel's EOF is what normally tells us, but a changed parent says the same.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) onOrphaned();
}, 500).unref();
