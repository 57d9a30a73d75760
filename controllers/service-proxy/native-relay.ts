/**
 * The native relay: a small C program (`native/keelson-relay.c`, built into
 * `dist/native/keelson-relay` when a C compiler is present) to which the userspace proxy hands
 * connections that last, so that their bytes are copied at HAProxy's cost per request rather
 * than Node.js's (see `bench/proxy`).
 *
 * Node.js keeps every decision: accepting, choosing and dialing the endpoint (retries,
 * affinity), and the connection's place in draining. A connection starts in JavaScript
 * (relay.ts); once it carried a few exchanges and both directions are idle (nothing buffered, no
 * end seen), tcp-forwarder.ts pauses both sockets and hands them to the relay through Node.js's
 * IPC channel (`child.send(message, socket)`: the sockets travel as file descriptors; bytes not
 * read yet wait in the kernel). The relay copies until the connection is over, with the same
 * half-close and reset semantics, and reports its end; a drain grace period or the proxy's stop
 * closes it with a message. Short connections (a request each) never leave JavaScript: the
 * handing over costs more than it saves there.
 *
 * One relay process per proxier, started at the first hand-over. If it exits (it should not),
 * the connections it carried end (reported as reset) and the next hand-over starts a new one;
 * after {@link MAX_RELAY_FAILURES} exits the proxier copies in JavaScript only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../lib/index.js';
import { reset } from './relay.js';

/** Where the build puts the relay program (`dist/native/keelson-relay`). */
export const NATIVE_RELAY_PATH = fileURLToPath(new URL('../../native/keelson-relay', import.meta.url));

/**
 * How a userspace proxier copies the bytes of its TCP connections: `auto` (the default) hands
 * lasting connections to the native relay when it was built — which has the kernel forward them
 * (sockmap) where it may load BPF programs (root), else copies them itself — and copies in
 * JavaScript when the relay was not built; `sockmap` requires the relay and the kernel
 * forwarding; `native` requires the relay and has it copy (no BPF); `javascript` never uses it.
 * The proxier fails to start when what its mode requires is missing.
 */
export type RelayMode = 'auto' | 'sockmap' | 'native' | 'javascript';

/** The relay modes, for flags. */
export const RELAY_MODES: readonly RelayMode[] = ['auto', 'sockmap', 'native', 'javascript'];

/** Unexpected exits of the relay process after which a proxier stops handing connections over. */
export const MAX_RELAY_FAILURES = 3;

/** What running a relay program with some arguments answered, by program and arguments: each probe runs once per process. */
const probes = new Map<string, { status: number | null; stderr: string }>();

/** Runs the program at `path` with `args` (no environment, no channel) once per process; its exit status and stderr. */
function probe(path: string, args: readonly string[]): { status: number | null; stderr: string } {
  const key = JSON.stringify([path, ...args]);
  let known = probes.get(key);
  if (!known) {
    try {
      accessSync(path, constants.X_OK);
      const run = spawnSync(path, args, { env: {}, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'ignore', 'pipe'] });
      known = { status: run.status, stderr: (run.stderr ?? '').trim() };
    } catch (err) {
      known = { status: null, stderr: (err as Error).message };
    }
    probes.set(key, known);
  }
  return known;
}

/**
 * Whether the program at `path` is a keelson relay that runs on this machine: run without its
 * channel, it must refuse with its own message (exit code 2) — a program built elsewhere, for
 * another system, fails differently.
 */
function runs(path: string): boolean {
  const answer = probe(path, []);
  return answer.status === 2 && answer.stderr.includes('keelson-relay');
}

/** Whether the relay at `path` can have the kernel forward (sockmap) here (`--check-sockmap` exits 0), and why not. */
function sockmapCheck(path: string): { ok: boolean; why: string } {
  const answer = probe(path, ['--check-sockmap']);
  return { ok: answer.status === 0, why: answer.stderr || `exit ${answer.status}` };
}

/** What the relay does for `mode`: the program's path, and whether it has the kernel forward (sockmap). */
export interface RelayChoice {
  path: string;
  sockmap: boolean;
}

/**
 * The relay program for `mode` and how it forwards, or undefined to copy in JavaScript. Throws
 * for `native` and `sockmap` when what they require is missing.
 */
export function nativeRelayFor(mode: RelayMode, path = NATIVE_RELAY_PATH): RelayChoice | undefined {
  if (mode === 'javascript') return undefined;
  if (!runs(path)) {
    if (mode === 'auto') return undefined;
    throw new Error(`the native relay ${path} is not built or does not run here (it needs a C compiler: Debian's gcc; npm run build builds it)`);
  }
  if (mode === 'native') return { path, sockmap: false };
  const check = sockmapCheck(path);
  if (mode === 'sockmap' && !check.ok) throw new Error(`relay mode sockmap: ${check.why} (it needs root: CAP_BPF and CAP_NET_ADMIN)`);
  return { path, sockmap: check.ok };
}

/** How a handed-over connection ended: `clean` once both sides ended, else reset. */
export type RelayEnd = 'clean' | 'reset';

/** A connection handed over: called once when it ended; the sockets the relay has not confirmed yet. */
interface Relayed {
  ended: (end: RelayEnd) => void;
  /** By side (0: client, 1: endpoint): still open here until the relay says it got them. */
  held: Array<Socket | undefined>;
}

/** A message from the relay program. */
interface RelayMessage {
  got?: number;
  side?: number;
  ended?: number;
  reset?: number;
}

/** The relay process of one proxier (see the file header). */
export class NativeRelay {
  private child: ChildProcess | undefined;
  private nextId = 1;
  /** The connections it carries, by relay id. */
  private readonly relays = new Map<number, Relayed>();
  private failures = 0;
  private stopping = false;

  constructor(
    /** The relay program. */
    private readonly path: string,
    private readonly logger: Logger,
    /** Whether it has the kernel forward (sockmap: see native/keelson-relay.c) rather than copy. */
    readonly sockmap = false,
  ) {}

  /** Whether connections are handed over (false once stopped, or after too many failures). */
  get available(): boolean {
    return !this.stopping && this.failures < MAX_RELAY_FAILURES;
  }

  /** The relay's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Hands a connected pair over: both sockets must be paused, with nothing buffered. Each is
   * destroyed here once the relay has its copy (its file descriptor lives on there). `ended` is
   * called once, when the connection is over. Returns the function that closes it (reset) early.
   */
  handOver(client: Socket, endpoint: Socket, ended: (end: RelayEnd) => void): () => void {
    const child = this.ensureChild();
    const id = this.nextId++;
    // Sent with keepOpen: each socket stays open here until the relay confirms it has its copy
    // (`got`), so that none is lost if the relay dies with sockets on their way — Node.js sends
    // one at a time, each after the previous one's acknowledgement.
    const held: Relayed['held'] = [client, endpoint];
    this.relays.set(id, { ended, held });
    const failed = (err: Error | null) => {
      if (!err) return;
      this.logger.debug({ err: err.message }, 'handing a connection to the native relay failed');
      this.end(id, 'reset');
    };
    child.send({ relay: id, side: 0 }, client, { keepOpen: true }, failed);
    child.send({ relay: id, side: 1 }, endpoint, { keepOpen: true }, failed);
    return () => {
      if (this.relays.has(id) && this.child === child && child.connected) child.send({ close: id });
    };
  }

  /** Stops the relay process: the connections it still carries are closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // The close messages sent before are read first; then the channel's end stops it.
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.path, this.sockmap ? ['--sockmap'] : [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    this.child = child;
    // The proxy's listeners keep the process alive, not the relay.
    child.unref();
    child.channel?.unref();
    this.logger.debug({ pid: child.pid }, 'native relay started');
    child.on('message', (message: RelayMessage) => {
      if (typeof message?.got === 'number') this.got(message.got, message.side ?? -1);
      else if (typeof message?.ended === 'number') this.end(message.ended, message.reset ? 'reset' : 'clean');
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    child.on('error', (err) => {
      if (child.pid !== undefined) {
        this.logger.warn({ err }, 'native relay: a message could not be sent');
        return;
      }
      // It could not even start: no use trying again.
      if (this.child === child) this.child = undefined;
      this.failures = MAX_RELAY_FAILURES;
      for (const id of [...this.relays.keys()]) this.end(id, 'reset');
      this.logger.error({ err, path: this.path }, 'native relay cannot start; copying connections in JavaScript');
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const lost = this.relays.size;
      for (const id of [...this.relays.keys()]) this.end(id, 'reset');
      if (this.stopping) return;
      this.failures++;
      const fields = { code, signal, connectionsLost: lost, stderr: stderr.trim() || undefined };
      if (this.available) this.logger.warn(fields, 'native relay exited; the next lasting connection starts a new one');
      else this.logger.error(fields, `native relay exited ${this.failures} times; copying connections in JavaScript from now on`);
    });
    return child;
  }

  /** The relay has its copy of a socket: close this process's. */
  private got(id: number, side: number): void {
    const socket = this.relays.get(id)?.held[side];
    if (!socket) return;
    this.relays.get(id)!.held[side] = undefined;
    socket.destroy();
  }

  /** A connection is over: sockets the relay never got are reset here (this process has the last copy). */
  private end(id: number, how: RelayEnd): void {
    const relayed = this.relays.get(id);
    if (!relayed) return;
    this.relays.delete(id);
    for (const socket of relayed.held) if (socket) reset(socket);
    relayed.ended(how);
  }
}
