/**
 * A node agent's part in VIP failover: the {@link VipParticipant} watches every VirtualIP and
 * every Node, and for each VirtualIP this node is eligible for — its labels match
 * `spec.nodeSelector`, and it can announce the address (a 127/8 address for `loopback`; an
 * interface on the address's subnet, or `spec.interface`, for `arp`) — runs a
 * {@link VipElection} with the right {@link Announcer}. It sends and receives the heartbeats of
 * all of them on one UDP socket, publishes where in its Node's annotation
 * `vip.keelson.dev/heartbeat`, and reports a holding it takes in the VirtualIP's status.
 *
 * A node that stops being eligible (labels changed, VirtualIP deleted) or whose VirtualIP
 * changes address, interface or announcer steps down (releasing the address) and, if still
 * eligible, starts over. Priorities and `preempt` are read live. Stopping the participant
 * releases every address at once, so the other nodes take over within a round trip.
 *
 * `onHolding` tells the node's service proxy what to serve on the addresses it holds
 * (`spec.serviceRef`): it is called with `true` once an address is up here, and with `false`
 * on the very path that drops it — release, loss, self-fencing (the election's timer or the
 * announcer's own expiry), VirtualIP deleted or changed — before the address is removed. A
 * serviceRef changed while holding is reported as `false` for the old VirtualIP, then `true`
 * for the new one; the address itself stays.
 */
import {
  createLogger,
  formatMicroTime,
  Informer,
  Node,
  selectorFromSet,
  systemClock,
  type Client,
  type Clock,
  type Logger,
  type TimerHandle,
} from '../../lib/index.js';
import { AddressGuard } from './address-guard.js';
import type { Announcer } from './announcer.js';
import { ArpAnnouncer } from './arp-announcer.js';
import { electionTiming, VipElection, type ElectionTiming, type HoldingChange } from './election.js';
import { HEARTBEAT_ANNOTATION, parseEndpoint, UdpHeartbeatTransport, type HeartbeatEndpoint, type HeartbeatTransport } from './heartbeat.js';
import { interfaceAddresses, placeVip } from './ip-command.js';
import { isLoopbackAddress, LoopbackAnnouncer } from './loopback-announcer.js';
import { DEFAULT_PRIORITY, serviceRefKey, VirtualIP } from './virtual-ip.js';

/** Where a VirtualIP's address goes on this node, as decided for its announcer. */
export interface Placement {
  announcer: 'loopback' | 'arp';
  address: string;
  /** arp: the interface and the subnet's prefix length. */
  dev?: string;
  prefixlen?: number;
}

/** Options of a {@link VipParticipant}. */
export interface VipParticipantOptions {
  client: Client;
  /** This node's name (its Node must exist: the agent registers it first). */
  nodeName: string;
  /** The address heartbeats are received on and sent from (the node-network address). */
  heartbeatAddress: string;
  /** Its UDP port (default 0: any free port — the Node annotation says which). */
  heartbeatPort?: number;
  /** Election timing (heartbeat interval 100 ms, lease 300 ms, … see {@link electionTiming}). */
  timing?: Partial<ElectionTiming>;
  /** Port of the loopback announcer's listener (default 7946). */
  loopbackPort?: number;
  /** The arp addresses' `valid_lft`, seconds (default 2). */
  addressLifetimeSeconds?: number;
  clock?: Clock;
  logger?: Logger;
  /** Replaces the heartbeat socket (tests). */
  transport?: HeartbeatTransport;
  /** Replaces the announcers (tests): called for each VirtualIP this node takes part in. */
  announcerFor?: (vip: VirtualIP, placement: Placement) => Announcer;
  /** Replaces the discovery of this node's interfaces (tests): where an arp VIP would go. */
  placeArp?: (address: string, wantedInterface: string | undefined) => Promise<{ dev: string; prefixlen: number } | undefined>;
  /**
   * Called when this node starts (`holding` true) or stops (false) serving a VirtualIP's
   * address — stops before the address is dropped. The node agent serves `spec.serviceRef` on
   * the address while it holds it (see the file header). Must not throw; errors are logged.
   */
  onHolding?: (vip: VirtualIP, holding: boolean) => void;
}

interface Running {
  election: VipElection;
  announcer: ReportingAnnouncer;
  /** What it was started for: a change restarts it. */
  placementKey: string;
}

/** Runs this node's VIP elections (see the file header). */
export class VipParticipant {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timing: ElectionTiming;
  private readonly vips: Informer<VirtualIP>;
  private readonly nodes: Informer<Node>;
  private readonly transport: HeartbeatTransport;
  private readonly udp: UdpHeartbeatTransport | undefined;
  private readonly running = new Map<string, Running>();
  private readonly informerStop = new AbortController();
  private guard: AddressGuard | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private stopped = false;
  /** VirtualIPs not served because an older one has their address (warned about once). */
  private readonly conflicts = new Set<string>();

  constructor(private readonly options: VipParticipantOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? createLogger({ name: 'keelson-vip' })).child({ component: 'vip-failover' });
    this.timing = electionTiming(options.timing);
    const informerOptions = { clock: this.clock, logger: this.logger };
    this.vips = new Informer<VirtualIP>(options.client, VirtualIP, informerOptions);
    this.nodes = new Informer<Node>(options.client, Node, informerOptions);
    if (options.transport) {
      this.transport = options.transport;
    } else {
      this.udp = new UdpHeartbeatTransport({
        address: options.heartbeatAddress,
        port: options.heartbeatPort ?? 0,
        peers: () => this.peerEndpoints(),
        onError: (err) => this.logger.debug({ err }, 'heartbeat socket error'),
      });
      this.transport = this.udp;
    }
  }

  /** Where this node receives heartbeats (after {@link start}). */
  get heartbeatEndpoint(): HeartbeatEndpoint | undefined {
    return this.udp?.endpoint;
  }

  /** The elections running, by VirtualIP name (for tests and metrics). */
  get elections(): ReadonlyMap<string, VipElection> {
    return new Map([...this.running].map(([name, r]) => [name, r.election]));
  }

  /**
   * Binds the heartbeat socket, publishes it on the Node, starts watching VirtualIPs and Nodes.
   * Rejects if the socket cannot be bound or the Node cannot be annotated.
   */
  async start(): Promise<void> {
    await this.udp?.start();
    const endpoint = this.udp?.endpoint;
    if (endpoint) {
      await this.options.client.patch(Node, this.options.nodeName, { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: `${endpoint.address}:${endpoint.port}` } } }, { type: 'merge' });
    }
    const sync = () => this.requestSync();
    this.vips.addEventHandler({ onAdd: sync, onUpdate: sync, onDelete: sync });
    this.nodes.addEventHandler({
      onAdd: (node) => node.metadata?.name === this.options.nodeName && sync(),
      onUpdate: (old, node) => node.metadata?.name === this.options.nodeName && JSON.stringify(old.metadata?.labels) !== JSON.stringify(node.metadata?.labels) && sync(),
    });
    this.vips.start(this.informerStop.signal);
    this.nodes.start(this.informerStop.signal);
    this.logger.info({ node: this.options.nodeName, heartbeat: endpoint, timing: this.timing }, 'VIP failover participant started');
  }

  /** Releases every address this node holds (at once), then stops watching and closes the socket. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.syncing;
    await Promise.all([...this.running.keys()].map((name) => this.stopElection(name)));
    this.informerStop.abort();
    await Promise.all([this.vips.stop(), this.nodes.stop()]);
    await this.guard?.close();
    await this.udp?.stop();
  }

  private peerEndpoints(): HeartbeatEndpoint[] {
    return this.nodes.indexer
      .list()
      .filter((n) => n.metadata?.name !== this.options.nodeName)
      .map((n) => parseEndpoint(n.metadata?.annotations?.[HEARTBEAT_ANNOTATION]))
      .filter((e): e is HeartbeatEndpoint => e !== undefined);
  }

  private requestSync(): void {
    if (this.syncQueued || this.stopped) return;
    this.syncQueued = true;
    this.syncing = this.syncing.then(async () => {
      this.syncQueued = false;
      if (this.stopped) return;
      try {
        await this.sync();
      } catch (err) {
        this.logger.error({ err }, 'VIP failover sync failed');
      }
    });
  }

  /** Makes the running elections match the VirtualIPs this node is eligible for. */
  private async sync(): Promise<void> {
    const me = this.nodes.indexer.get(undefined, this.options.nodeName);
    const labels = me?.metadata?.labels ?? {};
    const wanted = new Map<string, { vip: VirtualIP; placement: Placement }>();
    const owners = addressOwners(this.vips.indexer.list());
    for (const vip of this.vips.indexer.list()) {
      const name = vip.metadata?.name;
      if (!name || vip.metadata?.deletionTimestamp) continue;
      const owner = owners.get(vip.spec.address);
      if (owner !== name) {
        if (!this.conflicts.has(name)) this.logger.warn({ vip: name, address: vip.spec.address, owner }, 'another VirtualIP, older, has this address: this one is not served');
        this.conflicts.add(name);
        continue;
      }
      this.conflicts.delete(name);
      if (!selectorFromSet(vip.spec.nodeSelector ?? {}).matches(labels)) continue;
      const placement = await this.place(vip);
      if (placement) wanted.set(name, { vip, placement });
    }
    for (const [name, running] of [...this.running]) {
      const want = wanted.get(name);
      if (!want || placementKey(want.placement) !== running.placementKey) await this.stopElection(name);
    }
    for (const [name, { vip, placement }] of wanted) {
      const running = this.running.get(name);
      if (!running) this.startElection(name, vip, placement);
      else running.announcer.refresh(vip);
    }
  }

  /** Where this node would put the VirtualIP's address; undefined if it cannot. */
  private async place(vip: VirtualIP): Promise<Placement | undefined> {
    const address = vip.spec.address;
    const announcer = vip.spec.announcer ?? 'arp';
    if (announcer === 'loopback') {
      if (isLoopbackAddress(address)) return { announcer, address };
      this.logger.warn({ vip: vip.metadata?.name, address }, 'the loopback announcer serves 127/8 addresses only: not taking part');
      return undefined;
    }
    const placeArp = this.options.placeArp ?? (async (a: string, wantedInterface: string | undefined) => placeVip(a, await interfaceAddresses(), wantedInterface));
    const where = await placeArp(address, vip.spec.interface).catch((err: unknown) => {
      this.logger.warn({ err, vip: vip.metadata?.name }, 'cannot list the interfaces: not taking part');
      return undefined;
    });
    if (!where) {
      this.logger.debug({ vip: vip.metadata?.name, address, interface: vip.spec.interface }, 'no interface for the VIP on this node: not taking part');
      return undefined;
    }
    return { announcer, address, ...where };
  }

  private startElection(name: string, vip: VirtualIP, placement: Placement): void {
    const inner = this.options.announcerFor?.(vip, placement) ?? this.defaultAnnouncer(placement);
    const announcer = new ReportingAnnouncer(inner, vip, this.clock, (v, holding) => {
      try {
        this.options.onHolding?.(v, holding);
      } catch (err) {
        this.logger.error({ err, vip: name, holding }, 'VIP holding callback failed');
      }
      if (serviceRefKey(v)) this.logger.info({ vip: name, address: v.spec.address, service: serviceRefKey(v), serving: holding }, holding ? 'serving the Service on the VIP' : 'no longer serving the Service on the VIP');
    });
    const election = new VipElection({
      vipName: name,
      ...(vip.metadata?.uid ? { vipUid: vip.metadata.uid } : {}),
      nodeName: this.options.nodeName,
      client: this.options.client,
      clock: this.clock,
      logger: this.logger,
      announcer,
      transport: this.transport,
      timing: this.timing,
      priorityOf: (node) => this.priorityOf(name, node),
      preempt: () => this.vips.indexer.get(undefined, name)?.spec.preempt ?? true,
      onChange: (change) => void this.reportStatus(name, change),
    });
    this.running.set(name, { election, announcer, placementKey: placementKey(placement) });
    election.start();
    this.logger.info({ vip: name, announcer: announcer.description }, 'taking part in the VIP election');
  }

  private async stopElection(name: string): Promise<void> {
    const running = this.running.get(name);
    if (!running) return;
    this.running.delete(name);
    await running.election.stop();
    await running.announcer.close();
  }

  private defaultAnnouncer(placement: Placement): Announcer {
    if (placement.announcer === 'loopback') {
      return new LoopbackAnnouncer({ address: placement.address, nodeName: this.options.nodeName, clock: this.clock, ...(this.options.loopbackPort !== undefined ? { port: this.options.loopbackPort } : {}) });
    }
    this.guard ??= new AddressGuard();
    return new ArpAnnouncer({
      address: placement.address,
      prefixlen: placement.prefixlen ?? 32,
      dev: placement.dev!,
      guard: this.guard,
      logger: this.logger,
      clock: this.clock,
      ...(this.options.addressLifetimeSeconds !== undefined ? { lifetimeSeconds: this.options.addressLifetimeSeconds } : {}),
    });
  }

  private priorityOf(vipName: string, node: string): number {
    const priorities = this.vips.indexer.get(undefined, vipName)?.spec.priorities ?? [];
    return priorities.find((p) => p.nodeName === node)?.priority ?? DEFAULT_PRIORITY;
  }

  /** Writes who holds into the VirtualIP's status (informative; the Lease is the truth). */
  private async reportStatus(name: string, change: HoldingChange): Promise<void> {
    const current = this.vips.indexer.get(undefined, name);
    let status: Record<string, unknown>;
    if (change.state === 'holding') {
      status = { holder: this.options.nodeName, since: formatMicroTime(change.atMs), transitions: change.token };
    } else {
      // Only clear what is still ours: a later holder may have written already.
      if (current?.status?.holder !== this.options.nodeName || (current.status.transitions ?? 0) > change.token) return;
      status = { holder: '' };
    }
    try {
      await this.options.client.patch(VirtualIP, name, { status }, { type: 'merge', subresource: 'status' });
    } catch (err) {
      this.logger.warn({ err, vip: name }, 'could not report the VIP holder in its status');
    }
  }
}

function placementKey(p: Placement): string {
  return `${p.announcer}|${p.address}|${p.dev ?? ''}|${p.prefixlen ?? ''}`;
}

/**
 * Wraps a node's announcer for one VirtualIP to report holding (the participant's `onHolding`):
 * `true` once the address is up, `false` first thing when it goes — on `release`/`close`, or when
 * the hold runs out without an extension (as the announcer itself stops then).
 */
class ReportingAnnouncer implements Announcer {
  /** The VirtualIP reported as held (undefined: not holding). */
  private reported: VirtualIP | undefined;
  private expiry: TimerHandle | undefined;

  constructor(
    private readonly inner: Announcer,
    /** The VirtualIP as last seen. */
    private vip: VirtualIP,
    private readonly clock: Clock,
    private readonly report: (vip: VirtualIP, holding: boolean) => void,
  ) {}

  get description(): string {
    return this.inner.description;
  }

  get holding(): boolean {
    return this.inner.holding;
  }

  async hold(token: number, holdForMs: number): Promise<void> {
    await this.inner.hold(token, holdForMs);
    if (!this.inner.holding) return;
    this.arm(holdForMs);
    if (!this.reported) {
      this.reported = this.vip;
      this.report(this.vip, true);
    }
  }

  extend(token: number, holdForMs: number): void {
    this.inner.extend(token, holdForMs);
    if (this.reported && this.inner.holding) this.arm(holdForMs);
  }

  async release(): Promise<void> {
    this.unreport();
    await this.inner.release();
  }

  async close(): Promise<void> {
    this.unreport();
    await this.inner.close();
  }

  /** Takes the VirtualIP as changed: a different serviceRef while holding is reported as a stop then a start. */
  refresh(vip: VirtualIP): void {
    this.vip = vip;
    const reported = this.reported;
    if (!reported || serviceRefKey(reported) === serviceRefKey(vip)) {
      if (reported) this.reported = vip;
      return;
    }
    this.report(reported, false);
    this.reported = vip;
    this.report(vip, true);
  }

  private unreport(): void {
    this.expiry?.cancel();
    this.expiry = undefined;
    const reported = this.reported;
    this.reported = undefined;
    if (reported) this.report(reported, false);
  }

  /** The hold runs out after `holdForMs` unless extended: the announcer stops, and so does serving. */
  private arm(holdForMs: number): void {
    this.expiry?.cancel();
    this.expiry = this.clock.setTimeout(() => this.unreport(), holdForMs);
  }
}

/**
 * Which VirtualIP each address belongs to: of several with one address, the oldest
 * (`creationTimestamp`, then name) not being deleted — every node picks the same, so the others
 * are never held (two holders of one address would fight over it).
 */
export function addressOwners(vips: readonly VirtualIP[]): Map<string, string> {
  const owners = new Map<string, { name: string; created: string }>();
  for (const vip of vips) {
    const name = vip.metadata?.name;
    if (!name || vip.metadata?.deletionTimestamp) continue;
    const created = vip.metadata?.creationTimestamp ?? '';
    const current = owners.get(vip.spec.address);
    if (!current || created < current.created || (created === current.created && name < current.name)) owners.set(vip.spec.address, { name, created });
  }
  return new Map([...owners].map(([address, { name }]) => [address, name]));
}
