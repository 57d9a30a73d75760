/**
 * UDP forwarding for one Service port, as Kubernetes' userspace proxy does it: each client
 * address (`ip:port`) gets a session — a socket of its own towards the endpoint chosen for its
 * first datagram — so the endpoint's replies go back to that client, from the Service's address.
 * A session ends after `udpIdleTimeoutMs` without a datagram either way, or when its endpoint
 * reports an error (e.g. ICMP port unreachable), so the next datagram picks an endpoint afresh.
 * With no endpoints, datagrams are dropped. Sessions to a removed endpoint drain as TCP
 * connections do.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { TimerHandle } from '../../lib/index.js';
import { Forwarder, formatAddress, type Flow, type ListenAddress } from './forwarder.js';
import type { OpenSocket } from './listener.js';
import type { ServiceEndpoint } from './service-ports.js';

/** One client's flow through the proxy. */
interface Session extends Flow {
  send(datagram: Buffer): void;
}

/** Forwards UDP datagrams of one Service port (see the file header). */
export class UdpForwarder extends Forwarder {
  private readonly sessions = new Map<string, Session>();

  protected openListener(address: ListenAddress): OpenSocket {
    return () =>
      new Promise((resolve, reject) => {
        const socket = createSocket({ type: isIPv6(address.host) ? 'udp6' : 'udp4', reusePort: this.context.reusePort });
        socket.once('error', reject);
        socket.bind({ address: address.host, port: address.port }, () => {
          socket.off('error', reject);
          const where = formatAddress(address.host, address.port);
          socket.on('error', (err) => this.logger.warn({ err, address: where }, 'service proxy UDP socket failed'));
          const external = address.external === true;
          socket.on('message', (datagram, client) => this.receive(socket, where, external, datagram, client));
          resolve(() => socket.close());
        });
      });
  }

  /** Open client sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private receive(listener: Socket, where: string, external: boolean, datagram: Buffer, client: RemoteInfo): void {
    const key = `${where}|${formatAddress(client.address, client.port)}`;
    let session = this.sessions.get(key);
    if (!session) {
      const chosen = this.closed ? undefined : this.balancerFor(external).next(client.address);
      if (!chosen) {
        this.context.metrics.connections.labels({ protocol: 'UDP', result: 'no_endpoints' }).inc();
        return;
      }
      this.context.metrics.connections.labels({ protocol: 'UDP', result: 'proxied' }).inc();
      session = this.openSession(key, listener, client, chosen.key, chosen.endpoint);
    }
    session.send(datagram);
  }

  private openSession(key: string, listener: Socket, client: RemoteInfo, endpointKey: string, endpoint: ServiceEndpoint): Session {
    const { clock, udpIdleTimeoutMs } = this.context;
    const upstream = createSocket(isIPv6(endpoint.ip) ? 'udp6' : 'udp4');
    let lastActivityMs = clock.now();
    let idleTimer: TimerHandle | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      idleTimer?.cancel();
      this.sessions.delete(key);
      try {
        upstream.close();
      } catch {
        // already closed
      }
      this.untrack(session);
    };
    const checkIdle = () => {
      const idleMs = clock.now() - lastActivityMs;
      if (idleMs >= udpIdleTimeoutMs) end();
      else idleTimer = clock.setTimeout(checkIdle, udpIdleTimeoutMs - idleMs);
    };
    // A connected socket: the kernel passes on only the endpoint's datagrams, and reports its
    // ICMP errors (port unreachable) as errors, which end the session.
    let connected = false;
    const pending: Buffer[] = [];
    const forward = (datagram: Buffer) =>
      upstream.send(datagram, (err) => {
        if (err) {
          this.logger.debug({ endpoint: endpointKey, err: err.message }, 'cannot send a UDP datagram to its endpoint');
          end();
        }
      });
    upstream.on('message', (reply) => {
      lastActivityMs = clock.now();
      listener.send(reply, client.port, client.address, (err) => {
        if (err) this.logger.debug({ err: err.message }, 'cannot pass a UDP reply back to its client');
      });
    });
    upstream.on('error', (err) => {
      this.logger.debug({ endpoint: endpointKey, err: err.message }, 'UDP session to an endpoint failed; ending it');
      end();
    });
    upstream.connect(endpoint.port, endpoint.ip, () => {
      connected = true;
      for (const datagram of pending.splice(0)) forward(datagram);
    });
    const session: Session = {
      endpoint: endpointKey,
      close: end,
      send: (datagram) => {
        if (ended) return;
        lastActivityMs = clock.now();
        if (connected) forward(datagram);
        else if (pending.length < 64) pending.push(datagram); // beyond: dropped, as a full socket buffer would
      },
    };
    this.sessions.set(key, session);
    idleTimer = clock.setTimeout(checkIdle, udpIdleTimeoutMs);
    this.track(session);
    return session;
  }
}
