/**
 * The `loopback` announcer: for VirtualIPs on 127/8, which Linux routes to `lo` whole, so any
 * process can bind any of those addresses without root. Holding the address means owning a TCP
 * listener on `<address>:<port>` (7946 by default) that answers each connection with the
 * holder's node name and closes — what a client checks to find the holder, and what keeps two
 * holders on one machine impossible: the kernel lets one socket bind that address and port.
 * The listener dies with its process, so a SIGKILLed holder leaves nothing behind.
 *
 * (A Service named by `spec.serviceRef` is served by the service proxy, not here.)
 */
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../../lib/index.js';
import type { Announcer } from './announcer.js';

/** The port the loopback announcer listens on, by default. */
export const LOOPBACK_CLAIM_PORT = 7946;

/** Options of a {@link LoopbackAnnouncer}. */
export interface LoopbackAnnouncerOptions {
  /** The VirtualIP's address (127/8). */
  address: string;
  /** The node name the listener answers with. */
  nodeName: string;
  /** Default {@link LOOPBACK_CLAIM_PORT}. */
  port?: number;
  /** Attempts to bind while a previous holder on this machine is still closing (default 20, 10 ms apart). */
  bindAttempts?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** True for an IPv4 address in 127.0.0.0/8. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Serves the address by owning a listener on it (see the file header). */
export class LoopbackAnnouncer implements Announcer {
  readonly description: string;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private token = 0;
  private expiry: TimerHandle | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: LoopbackAnnouncerOptions) {
    if (!isLoopbackAddress(options.address)) throw new Error(`the loopback announcer serves 127/8 only, not ${options.address}`);
    this.clock = options.clock ?? systemClock;
    this.description = `${options.address}:${this.port} (loopback)`;
  }

  /** The port it listens on. */
  get port(): number {
    return this.options.port ?? LOOPBACK_CLAIM_PORT;
  }

  get holding(): boolean {
    return this.server !== undefined;
  }

  async hold(token: number, holdForMs: number): Promise<void> {
    if (token < this.token) return;
    this.token = token;
    this.arm(holdForMs);
    if (this.server) return;
    const attempts = this.options.bindAttempts ?? 20;
    for (let attempt = 1; ; attempt++) {
      try {
        this.server = await this.listen();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= attempts) throw err;
        await this.clock.sleep(10);
      }
    }
  }

  extend(token: number, holdForMs: number): void {
    if (token < this.token || !this.server) return;
    this.token = token;
    this.arm(holdForMs);
  }

  async release(): Promise<void> {
    this.expiry?.cancel();
    this.expiry = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.release();
  }

  /** The hold runs out after `holdForMs` unless extended: the listener closes by itself. */
  private arm(holdForMs: number): void {
    this.expiry?.cancel();
    this.expiry = this.clock.setTimeout(() => void this.release(), holdForMs);
  }

  private listen(): Promise<Server> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.end(`${this.options.nodeName}\n`);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.address, port: this.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}
