/**
 * Child processes for tests: run one to its end with a deadline and collect what it printed, or
 * start a long-running one that keeps collecting.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** What a finished process printed, and how it ended. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runProcess}. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to its stdin, which is then closed (default: nothing). */
  input?: string;
  /** SIGKILLed and rejected after this long (default 20 s). */
  timeoutMs?: number;
}

/** Runs `command args` to its end; rejects (after a SIGKILL) if it takes longer than the timeout. */
export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessRun> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, ...(options.cwd ? { cwd: options.cwd } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A started process and everything it printed so far (stdout and stderr interleaved). */
export interface StartedProcess {
  child: ChildProcess;
  output(): string;
}

/** Starts `command args` without waiting for it, collecting its output. */
export function startProcess(command: string, args: readonly string[], options: Omit<RunOptions, 'input' | 'timeoutMs'> = {}): StartedProcess {
  let output = '';
  const child = spawn(command, args, { env: options.env ?? process.env, ...(options.cwd ? { cwd: options.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}
