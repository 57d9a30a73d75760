/**
 * The address guard: a child process that owns the VIP addresses of its agent, so that an
 * address never outlives the agent's right to it. The kernel keeps an address when the process
 * that added it dies — exactly how keepalived ends with two holders after a SIGKILL — so the
 * agent never adds one itself: it asks the guard (`guard-main.ts`), which
 *
 * - removes every address when the pipe from the agent closes (the agent ended, however);
 * - removes an address whose hold runs out without an extension (the agent stalled);
 * - adds each address with a short `valid_lft` that it keeps refreshing, so the kernel itself
 *   drops it a couple of seconds after the guard is gone too (the last backstop).
 *
 * The guard is spawned detached (its own session), so signals meant for the agent's process
 * group do not take it down before it has cleaned up. One guard serves all of an agent's VIPs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Options of an {@link AddressGuard}. */
export interface AddressGuardOptions {
  /** The guard's script (default: `guard-main.js` next to this module). */
  script?: string;
  /** The Node.js binary (default: this process's). */
  execPath?: string;
  /** An answer later than this fails the command (default 5 s). */
  commandTimeoutMs?: number;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The agent's side of the guard (see the file header). */
export class AddressGuard {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Promise<void> | undefined;

  constructor(private readonly options: AddressGuardOptions = {}) {}

  /** The guard's pid (after the first command), for tests. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the guard process now (it starts on first use otherwise): the first hold then waits for nothing. */
  start(): void {
    this.ensureStarted();
  }

  /** Adds (or refreshes) `address/prefixlen` on `dev` for holding `token`, held `holdForMs` unless extended. */
  add(address: string, prefixlen: number, dev: string, token: number, holdForMs: number, lifetimeSeconds: number): Promise<void> {
    return this.request({ op: 'add', address, prefixlen, dev, token, holdForMs, lifetimeSeconds });
  }

  /** Holds `address` `holdForMs` more from now (no answer: it only moves a timer). */
  extend(address: string, token: number, holdForMs: number): void {
    this.write({ op: 'extend', address, token, holdForMs });
  }

  /** Removes `address` now; resolves once it is gone. */
  remove(address: string): Promise<void> {
    if (!this.child) return Promise.resolve();
    return this.request({ op: 'remove', address });
  }

  /** Closes the pipe: the guard removes whatever it still holds and exits; resolves then. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.stdin?.end();
    await this.exited;
    this.child = undefined;
  }

  private ensureStarted(): ChildProcess {
    if (this.child) return this.child;
    const script = this.options.script ?? fileURLToPath(new URL('./guard-main.js', import.meta.url));
    const child = spawn(this.options.execPath ?? process.execPath, [script], { detached: true, stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`the address guard exited (${signal ?? code}) before answering`));
        this.pending.delete(id);
      }
      if (this.child === child) this.child = undefined;
    });
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let answer: { id?: number; ok?: boolean; error?: string };
      try {
        answer = JSON.parse(line) as typeof answer;
      } catch {
        return;
      }
      const p = answer.id !== undefined ? this.pending.get(answer.id) : undefined;
      if (!p) return;
      this.pending.delete(answer.id!);
      clearTimeout(p.timer);
      if (answer.ok) p.resolve();
      else p.reject(new Error(answer.error ?? 'address guard command failed'));
    });
    this.child = child;
    return child;
  }

  private write(command: object): void {
    const child = this.ensureStarted();
    child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  private request(command: object): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.options.commandTimeoutMs ?? 5000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the address guard did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write({ ...command, id });
    });
  }
}
