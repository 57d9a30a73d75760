/**
 * Fixtures of the service proxy's tests on loopback: random addresses, TCP and UDP backends that
 * name themselves in their replies, clients, userspace proxiers and Service port states — and the
 * closing of everything a test opened (`closeAfterEach`).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import { systemClock } from '../../lib/util/clock.js';
import { UserspaceProxier, type ServiceEndpoint, type ServicePortState, type UserspaceProxierOptions } from '../../controllers/service-proxy/index.js';

/** A random address in 127.200.0.0/16 (outside keelson's pod and service ranges). */
export function randomAddress(): string {
  return `127.200.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 2}`;
}

/** Everything a test opened, closed after it (see {@link closeAfterEach}). */
export const cleanups: (() => unknown)[] = [];

/** Registers, in the calling `describe`, the closing of everything its tests opened. */
export function closeAfterEach(): void {
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
}

/**
 * A TCP backend on `host` (random port) named `name`: it answers each line it receives with
 * `name:line`, and, when the client ends its side, with `name:end` before ending its own
 * (so a reply after the client's half-close proves that half-close is carried).
 */
export async function tcpBackend(host: string, name: string): Promise<{ endpoint: ServiceEndpoint; server: Server; connections: Set<Socket> }> {
  const connections = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        socket.write(`${name}:${buffered.slice(0, newline)}\n`);
        buffered = buffered.slice(newline + 1);
      }
    });
    socket.on('end', () => socket.end(`${name}:end\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => {
    for (const socket of connections) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  return { endpoint: { ip: host, port }, server, connections };
}

/** A port on `host` that refuses connections (bound once, then closed). */
export async function refusedEndpoint(host: string): Promise<ServiceEndpoint> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return { ip: host, port };
}

/**
 * One connection through the proxy: sends `lines`, ends its side, reads to the end. Resolves
 * with the lines received; rejects on a connection error.
 */
export function exchange(host: string, port: number, lines: string[] = [], localAddress?: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.end();
      resolve(received.split('\n').filter(Boolean));
    });
    socket.on('connect', () => socket.end(lines.map((l) => `${l}\n`).join('')));
  });
}

/** Which backend answered a connection (the name before `:` in its replies). */
export async function whoAnswers(host: string, port: number, localAddress?: string): Promise<string> {
  const lines = await exchange(host, port, [], localAddress);
  return lines.at(-1)!.split(':')[0]!;
}

/** A long-lived connection through the proxy: `ask(line)` resolves with the reply line. */
export async function openConnection(host: string, port: number): Promise<{ ask(line: string): Promise<string>; closed: Promise<void>; socket: Socket }> {
  const socket = connect({ host, port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = '';
  const waiters: ((line: string) => void)[] = [];
  socket.on('data', (chunk) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      waiters.shift()?.(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    ask: (line) =>
      new Promise((resolve, reject) => {
        waiters.push(resolve);
        socket.write(`${line}\n`, (err) => err && reject(err));
        void closed.then(() => reject(new Error('connection closed')));
      }),
  };
}

/** How a connection attempt ended: its reply, or the error code. */
export async function outcome(host: string, port: number): Promise<string> {
  try {
    return (await exchange(host, port)).join(',') || 'empty';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** A UDP echo backend: answers each datagram with `name:datagram`. */
export async function udpBackend(host: string, name: string): Promise<ServiceEndpoint> {
  const socket = createSocket('udp4');
  socket.on('message', (message, from) => socket.send(`${name}:${message.toString()}`, from.port, from.address));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { ip: host, port: socket.address().port };
}

/** A UDP client on `localAddress`: `ask(text)` sends a datagram to the Service and resolves with the reply and its source. */
export async function udpClient(localAddress: string): Promise<{ ask(host: string, port: number, text: string): Promise<{ reply: string; from: string }> }> {
  const socket: UdpSocket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, localAddress, resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    ask: (host, port, text) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no UDP reply to ${text} within 2 s`)), 2000);
        socket.once('message', (message, from) => {
          clearTimeout(timer);
          resolve({ reply: message.toString(), from: `${from.address}:${from.port}` });
        });
        socket.send(text, port, host);
      }),
  };
}

/** Options every {@link proxier} gets unless the test says otherwise (a suite sets them in its `before`). */
export const proxierDefaults: Partial<UserspaceProxierOptions> = {};

/** A userspace proxier, stopped after the test. */
export function proxier(options: Partial<UserspaceProxierOptions> = {}): UserspaceProxier {
  const proxy = new UserspaceProxier({ nodeAddresses: [], clock: systemClock, logger: silentLogger(), metrics: new Metrics(), ...proxierDefaults, ...options });
  cleanups.push(() => proxy.stop());
  return proxy;
}

/** The state of a one-port Service `default/svc:http`. */
export function portState(clusterIP: string, port: number, endpoints: ServiceEndpoint[], extra: Partial<ServicePortState> = {}): ServicePortState {
  return { name: 'default/svc:http', service: 'default/svc', protocol: 'TCP', clusterIP, port, endpoints, ...extra };
}

/** Counts of each value. */
export function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

