/**
 * Heartbeats between the node agents that take part in VIP elections: small JSON datagrams
 * over UDP on the node network, every `intervalMs` (100 ms by default) — VRRP's advertisements,
 * with the difference that they never decide who holds an address. The Lease does (see
 * `election.ts`); heartbeats only make everyone learn fast:
 *
 * - a holder's heartbeat carries its fencing token, the Lease's resourceVersion after its last
 *   renewal and how long it may still hold without another (`remainingMs`), so a standby knows
 *   the exact moment the holder is certainly gone, without waiting on a watch of the store;
 * - `released` tells standbys the holder has dropped the address and released the Lease, so
 *   one of them takes it at once;
 * - standbys' heartbeats tell the holder and each other who is alive, with which priority
 *   (preemption, and who goes first when the address is free).
 *
 * Each agent publishes where it listens in its Node's annotation `vip.keelson.dev/heartbeat`
 * (`address:port`); a sender sends to every Node that has one. Heartbeats are not
 * authenticated (like VRRPv3): the node network is trusted.
 */
import { createSocket, type Socket } from 'node:dgram';

/** The Node annotation that says where an agent receives heartbeats: `address:port`. */
export const HEARTBEAT_ANNOTATION = 'vip.keelson.dev/heartbeat';

/** A participant's role for one VirtualIP, as it tells the others. */
export type HeartbeatState = 'holding' | 'standby' | 'released';

/** One heartbeat: one sender, one VirtualIP. */
export interface Heartbeat {
  /** The VirtualIP's name. */
  vip: string;
  /** The sending node. */
  node: string;
  state: HeartbeatState;
  /** The sender's priority for this VirtualIP. */
  priority: number;
  /** `holding`/`released`: the token of that holding; `standby`: the highest token it knows. */
  token: number;
  /** `holding`/`released`: the Lease's resourceVersion after the sender's last write. */
  resourceVersion?: string;
  /** `holding`: the holder is certainly not serving the address once this many ms have passed since sending, unless it renews. */
  remainingMs?: number;
  /** Increases with every heartbeat the sender's process sends: reordered datagrams are dropped. */
  seq: number;
  /** Identifies the sending process (a restarted agent starts its `seq` again). */
  incarnation: string;
}

/** Where heartbeats go and come from. */
export interface HeartbeatTransport {
  /** Sends to every peer; never throws (a heartbeat lost is a heartbeat lost). */
  send(heartbeat: Heartbeat): void;
  /** Calls `handler` with every heartbeat received; returns the unsubscribe function. */
  subscribe(handler: (heartbeat: Heartbeat) => void): () => void;
}

/** An `address:port` a heartbeat goes to. */
export interface HeartbeatEndpoint {
  address: string;
  port: number;
}

/** Parses the heartbeat annotation; undefined if absent or malformed. */
export function parseEndpoint(value: string | undefined): HeartbeatEndpoint | undefined {
  const match = value ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value) : null;
  if (!match) return undefined;
  const port = Number(match[2]);
  return port > 0 && port < 65536 ? { address: match[1]!, port } : undefined;
}

/** Decodes a datagram; undefined unless it is a well-formed heartbeat. */
export function decodeHeartbeat(data: Buffer): Heartbeat | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  const hb = value as Partial<Heartbeat>;
  if (!hb || typeof hb !== 'object') return undefined;
  if (typeof hb.vip !== 'string' || typeof hb.node !== 'string' || typeof hb.incarnation !== 'string') return undefined;
  if (hb.state !== 'holding' && hb.state !== 'standby' && hb.state !== 'released') return undefined;
  if (typeof hb.priority !== 'number' || typeof hb.token !== 'number' || typeof hb.seq !== 'number') return undefined;
  if (hb.remainingMs !== undefined && typeof hb.remainingMs !== 'number') return undefined;
  if (hb.resourceVersion !== undefined && typeof hb.resourceVersion !== 'string') return undefined;
  return hb as Heartbeat;
}

/** Options of a {@link UdpHeartbeatTransport}. */
export interface UdpHeartbeatOptions {
  /** The address to receive on and send from (the node-network address). */
  address: string;
  /** The port to receive on (0 picks a free one; see {@link UdpHeartbeatTransport.endpoint}). */
  port: number;
  /** Where to send: called for every heartbeat (the peers' published endpoints). */
  peers: () => readonly HeartbeatEndpoint[];
  /** Where socket errors go. */
  onError?: (err: Error) => void;
}

/** Heartbeats over one UDP socket. */
export class UdpHeartbeatTransport implements HeartbeatTransport {
  private socket: Socket | undefined;
  private readonly handlers = new Set<(heartbeat: Heartbeat) => void>();
  private boundPort = 0;

  constructor(private readonly options: UdpHeartbeatOptions) {}

  /** Binds the socket; rejects if the address cannot be bound. */
  async start(): Promise<void> {
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.options.address, port: this.options.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.options.onError?.(err));
    socket.on('message', (data) => {
      const heartbeat = decodeHeartbeat(data);
      if (!heartbeat) return;
      for (const handler of this.handlers) handler(heartbeat);
    });
    this.boundPort = socket.address().port;
    this.socket = socket;
  }

  /** Where this transport receives (what the Node annotation publishes). */
  get endpoint(): HeartbeatEndpoint {
    return { address: this.options.address, port: this.boundPort };
  }

  send(heartbeat: Heartbeat): void {
    const socket = this.socket;
    if (!socket) return;
    const data = Buffer.from(JSON.stringify(heartbeat));
    for (const peer of this.options.peers()) {
      if (peer.address === this.options.address && peer.port === this.boundPort) continue;
      socket.send(data, peer.port, peer.address, (err) => {
        if (err) this.options.onError?.(err);
      });
    }
  }

  subscribe(handler: (heartbeat: Heartbeat) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Closes the socket. */
  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
