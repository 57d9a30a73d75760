/**
 * TCP forwarding for one Service port, as Kubernetes' userspace proxy does it: accept on the
 * Service's addresses, pick an endpoint, dial it and copy bytes both ways.
 *
 * - A dial that fails (refused, unreachable, timed out) is retried on the next endpoint, with
 *   the client's affinity reset, before the client sees anything: at most one attempt per dial
 *   timeout (kube's 0.25, 0.5, 1 and 2 s). Only when every attempt failed is the client reset.
 * - No endpoints: the proxier does not listen (userspace-proxier.ts), so a client is refused as
 *   kube-proxy's reject rule refuses it; where it listens without an endpoint for the client's
 *   traffic (a `Local` policy, endpoints on other nodes), the client is reset at once.
 * - Half-close: both sockets allow half-open connections and an end (FIN) from either side is
 *   passed on, so a client that ends its side still gets the whole reply. A reset (or error) on
 *   one side resets the other.
 * - The client's bytes wait in the kernel (`pauseOnConnect`) until the endpoint is connected.
 * - Bytes are copied with `onread` callbacks, not `pipe()` (see relay.ts): the cost per request.
 * - A connection still open after {@link HAND_OVER_AFTER_READS} forwarded chunks is handed to the
 *   native relay when the proxier has one (native-relay.ts), at a moment when neither direction
 *   has bytes buffered in Node.js or has ended: from then on its bytes never enter Node.js.
 */
import { connect, createServer, type OnReadOpts, type Socket } from 'node:net';
import { Forwarder, formatAddress, type Flow, type ListenAddress } from './forwarder.js';
import type { OpenSocket } from './listener.js';
import type { RoundRobinBalancer } from './load-balancer.js';
import type { NativeRelay } from './native-relay.js';
import { adoptWithOnread, Forwarding, reset } from './relay.js';
import type { ServiceEndpoint } from './service-ports.js';

/**
 * Chunks a connection forwards (both directions together) in JavaScript before it is handed to
 * the native relay: two request/reply exchanges. A connection per request (HTTP with
 * `Connection: close`) never reaches it, and stays where handing over would cost more than it saves.
 */
export const HAND_OVER_AFTER_READS = 4;

/** Forwards TCP connections of one Service port (see the file header). */
export class TcpForwarder extends Forwarder {
  protected openListener(address: ListenAddress): OpenSocket {
    return () =>
      new Promise((resolve, reject) => {
        const external = address.external === true;
        const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket, external));
        server.once('error', reject);
        server.listen({ host: address.host, port: address.port, reusePort: this.context.reusePort }, () => {
          server.off('error', reject);
          server.on('error', (err) => this.logger.warn({ err, address: formatAddress(address.host, address.port) }, 'service proxy listener failed'));
          // Closing stops accepting at once; accepted connections are the forwarder's to drain.
          resolve(() => server.close());
        });
      });
  }

  private accept(client: Socket, external: boolean): void {
    client.on('error', () => undefined); // until the connection is spliced, a client error only ends it
    const counter = this.context.metrics.connections;
    const balancer = this.balancerFor(external);
    if (this.closed || balancer.size === 0) {
      counter.labels({ protocol: 'TCP', result: 'no_endpoints' }).inc();
      reset(client);
      return;
    }
    void this.connectClient(client, balancer).catch((err: unknown) => {
      this.logger.error({ err }, 'proxying a connection failed');
      reset(client);
    });
  }

  private async connectClient(client: Socket, balancer: RoundRobinBalancer): Promise<void> {
    // Only affinity needs the client's address (a getpeername() per connection otherwise).
    const clientIP = balancer.sticky ? (client.remoteAddress ?? '') : '';
    const timeouts = this.context.connectTimeoutsMs;
    /** The endpoint's bytes to the client (its `onread` goes to whichever dial succeeds). */
    const toClient = new Forwarding();
    for (let attempt = 0; attempt < timeouts.length; attempt++) {
      const chosen = balancer.next(clientIP, attempt > 0);
      if (!chosen || this.closed) break;
      let backend: Socket;
      try {
        backend = await this.dial(chosen.endpoint, timeouts[attempt]!, toClient.onread);
      } catch (err) {
        this.context.metrics.dialFailures.inc();
        this.logger.debug({ endpoint: chosen.key, attempt: attempt + 1, err: (err as Error).message }, 'dialing an endpoint failed; trying the next one');
        if (client.destroyed) return;
        continue;
      }
      if (client.destroyed) {
        backend.destroy();
        return;
      }
      this.context.metrics.connections.labels({ protocol: 'TCP', result: 'proxied' }).inc();
      this.splice(client, backend, chosen.key, toClient);
      return;
    }
    this.context.metrics.connections.labels({ protocol: 'TCP', result: balancer.size ? 'dial_failed' : 'no_endpoints' }).inc();
    this.logger.debug({ client: clientIP }, 'no endpoint accepted the connection; resetting the client');
    reset(client);
  }

  /** Connects to an endpoint within `timeoutMs`; the socket's reads go to `onread`. */
  private dial(endpoint: ServiceEndpoint, timeoutMs: number, onread: OnReadOpts): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: endpoint.ip, port: endpoint.port, allowHalfOpen: true, noDelay: true, onread });
      const timer = this.context.clock.setTimeout(() => socket.destroy(Object.assign(new Error(`connect timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      socket.once('error', (err) => {
        timer.cancel();
        reject(err);
      });
      socket.once('connect', () => {
        timer.cancel();
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  /**
   * Copies both ways until both sides are done; an error on one side resets the other.
   * `accepted` is replaced by a socket reading with `onread` where Node allows it.
   */
  private splice(accepted: Socket, backend: Socket, endpoint: string, toClient: Forwarding): void {
    const toBackend = new Forwarding();
    const adopted = adoptWithOnread(accepted, toBackend.onread, true);
    const client = adopted ?? accepted;
    let closeNow = () => {
      reset(client);
      reset(backend);
    };
    const flow: Flow = { endpoint, close: () => closeNow() };
    let open = 2;
    let ended = false;
    const closed = () => {
      if (--open === 0) this.untrack(flow);
    };
    const pair = (from: Socket, to: Socket) => {
      from.removeAllListeners('error');
      from.on('error', () => reset(to));
      // A clean close means both directions ended (allowHalfOpen), so the other side is ending
      // too; one without an error or an end (destroyed) takes the other with it.
      from.once('close', (hadError) => {
        if (hadError || !from.readableEnded) reset(to);
        closed();
      });
      from.once('end', () => {
        ended = true;
        to.end();
      });
    };
    this.track(flow);
    pair(client, backend);
    pair(backend, client);
    const relay = this.context.relay;
    if (adopted && relay) {
      toClient.afterForward = toBackend.afterForward = () => {
        if (toClient.reads + toBackend.reads < HAND_OVER_AFTER_READS || ended || client.destroyed || backend.destroyed || !relay.available) return true;
        if (client.writableLength || backend.writableLength || toClient.waiting || toBackend.waiting) return true;
        toClient.afterForward = toBackend.afterForward = undefined;
        this.handOver(relay, flow, client, backend, (close) => (closeNow = close));
        return false;
      };
    }
    toClient.start(backend, client);
    if (adopted) toBackend.start(client, backend);
    else toBackend.listen(client, backend);
  }

  /** Moves a connection, idle in both directions, to the native relay; `setClose` gets the way to close it there. */
  private handOver(relay: NativeRelay, flow: Flow, client: Socket, backend: Socket, setClose: (close: () => void) => void): void {
    for (const socket of [client, backend]) {
      socket.pause();
      socket.removeAllListeners('close');
      socket.removeAllListeners('end');
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
    }
    this.context.metrics.relayedConnections.inc();
    setClose(relay.handOver(client, backend, () => this.untrack(flow)));
  }
}
