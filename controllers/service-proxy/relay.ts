/**
 * Copying bytes from one TCP socket to another with as little work per read as Node allows.
 *
 * A proxied request costs the proxy two reads and two writes. With `pipe()`, each read goes
 * through the Readable stream machinery — a buffer allocated for the read, a push, a `data`
 * event, pipe's listener — before the write. Here sockets read with `onread` instead: the
 * kernel's bytes land in one buffer shared by every socket of the process, and the read's
 * callback copies them out (a small copy from Buffer's pool for a typical request) and writes
 * them on at once. While the target cannot take more (`write()` returned false) the source is
 * paused, and resumed on the target's `drain`: memory stays bounded by the high-water marks.
 * Measured on this project's machine with wrk's persistent connections: ≈ 26 µs of CPU per
 * proxied request against ≈ 30 µs with `pipe()`, HAProxy ≈ 21 µs (bench/proxy compares the
 * proxy with HAProxy). Connections that last leave this path for the native relay
 * (native-relay.ts, ≈ 21 µs where HAProxy took ≈ 24 µs in the same runs): {@link
 * Forwarding.reads} and {@link Forwarding.afterForward} are what tcp-forwarder.ts decides it by.
 *
 * `net.createServer` cannot give accepted sockets `onread`; {@link adoptWithOnread} moves an
 * accepted (paused) socket's handle into a new `Socket` that has it — the way `net.Server`
 * itself builds its sockets around accepted handles. Where that cannot be done (a Node.js
 * whose sockets keep their handle elsewhere), the caller keeps the accepted socket and
 * {@link Forwarding.listen} forwards its `data` events instead: slower, same behaviour.
 */
import { Socket, type BoundSocket, type OnReadOpts } from 'node:net';

/**
 * The buffer every `onread` socket of the process reads into. Sharing it is safe: Node calls a
 * socket's read callback synchronously after the read, on the one JavaScript thread, and the
 * callback copies the bytes out before returning.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * One direction of a proxied connection: what the source reads is written to the target.
 * Create it before the source socket (to pass {@link onread} to `connect` or
 * {@link adoptWithOnread}), then {@link start} it once both sockets exist; bytes read before
 * that are held (and the source paused) until then.
 */
export class Forwarding {
  private source: Socket | undefined;
  private target: Socket | undefined;
  private held: Buffer[] = [];
  private draining = false;
  /** Chunks forwarded so far. */
  reads = 0;
  /**
   * Called after each forwarded chunk the target took at once; returning false stops the
   * source reading (it was handed over: see native-relay.ts).
   */
  afterForward: (() => boolean) | undefined;
  /** `onread` for the source socket. */
  readonly onread: OnReadOpts = { buffer: readBuffer, callback: (bytes, buffer) => this.forward(copyOut(buffer, bytes)) };

  /** Whether the source waits for the target to drain. */
  get waiting(): boolean {
    return this.draining;
  }

  /** Starts writing to `target` what `source` reads (and what it read before). */
  start(source: Socket, target: Socket): void {
    this.source = source;
    this.target = target;
    const held = this.held;
    this.held = [];
    let room = true;
    for (const chunk of held) room = target.write(chunk);
    if (!room) this.waitForDrain(target);
    else if (held.length) source.resume();
  }

  /** Forwards `source`'s `data` events (a socket without {@link onread}), resuming it. */
  listen(source: Socket, target: Socket): void {
    source.on('data', (chunk: Buffer) => {
      if (!this.forward(chunk)) source.pause();
    });
    this.start(source, target);
    source.resume();
  }

  /** Writes a chunk on; false (the source must pause) while the target's buffer is full. */
  private forward(chunk: Buffer): boolean {
    const target = this.target;
    if (!target) {
      this.held.push(chunk);
      return false;
    }
    this.reads++;
    if (target.write(chunk)) return this.afterForward?.() ?? true;
    this.waitForDrain(target);
    return false;
  }

  private waitForDrain(target: Socket): void {
    this.draining = true;
    target.once('drain', this.resume);
  }

  private readonly resume = (): void => {
    this.draining = false;
    this.source?.resume();
  };
}

/** A copy of the first `bytes` of `buffer` (small copies come from Buffer's pool). */
function copyOut(buffer: Uint8Array, bytes: number): Buffer {
  const chunk = Buffer.allocUnsafe(bytes);
  chunk.set(buffer.subarray(0, bytes));
  return chunk;
}

/** Resets a socket (RST), or destroys it if it is not connected TCP any more. */
export function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** What `net.Socket` keeps of its libuv handle (not part of Node's typed API). */
interface SocketInternals {
  _handle?: object | null;
}

/**
 * A socket reading with `onread`, made from `accepted` (a socket `net.Server` accepted with
 * `pauseOnConnect`, nothing read yet), which is left closed and handle-less; or undefined when
 * this Node.js does not allow it (the caller then keeps using `accepted`).
 */
export function adoptWithOnread(accepted: Socket, onread: OnReadOpts, allowHalfOpen: boolean): Socket | undefined {
  const internals = accepted as unknown as SocketInternals;
  const handle = internals._handle;
  if (!handle || typeof handle !== 'object' || accepted.destroyed || accepted.readableLength > 0) return undefined;
  // `handle` is typed for BoundSocket; Node's own accepted handles are what net.Server passes there.
  const socket = new Socket({ handle: handle as BoundSocket, allowHalfOpen, readable: true, writable: true, onread });
  internals._handle = null;
  // Its handle moved on: destroying it now only emits its close and lets the server count it gone.
  accepted.destroy();
  return socket;
}
