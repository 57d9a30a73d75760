/**
 * Registration and node status (kubelet's registerWithAPIServer and node status loop):
 *
 * - {@link NodeReporter.register} creates the Node, or — when it exists, as after an agent
 *   restart — keeps the object (its uid, spec and podCIDR) and updates labels and status;
 * - {@link NodeReporter.run} watches the Node (an informer on `metadata.name=<node>`) and writes
 *   its status when the agent's view differs from the API's — at once when something changed
 *   (the pod CIDR arrived, someone else marked the node Unknown), else checked every
 *   `statusUpdateIntervalMs` (kubelet's 10 s), with a heartbeat every `statusReportIntervalMs`
 *   (kubelet's 5 min: the Lease is the frequent heartbeat);
 * - a Node deleted while the agent runs is registered again.
 */
import { Informer, isAlreadyExists, isConflict, isNotFound, Node, Wakeup, type Client, type Clock, type EventRecorder, type Logger } from '../../lib/index.js';
import { initialNode, nodeLabels, nodeStatus, READY, WAITING_FOR_POD_CIDR, type NodeIdentity, type Readiness } from './node-status.js';
import { canonical } from './pod-status.js';

/** Options of a {@link NodeReporter}. */
export interface NodeReporterOptions {
  client: Client;
  clock: Clock;
  logger: Logger;
  identity: NodeIdentity;
  events?: EventRecorder;
  /** How often the status is compared with the API's (default 10 s). */
  statusUpdateIntervalMs?: number;
  /** How often an unchanged status is reported anyway (default 5 min). */
  statusReportIntervalMs?: number;
  /** Called when the Node's pod CIDR becomes known or changes. */
  onPodCIDR?: (podCIDR: string) => void;
}

/** How many times a status write is retried on conflict (kubelet's nodeStatusUpdateRetry). */
const STATUS_UPDATE_RETRIES = 5;

/** Registers the Node and keeps its status. */
export class NodeReporter {
  private current: Node | undefined;
  private lastReportMs = 0;
  private lastReady: boolean | undefined;
  private podCIDRSeen: string | undefined;
  /** The status loop's sleep between updates, cut short by {@link poke}. */
  private readonly wakeup: Wakeup;
  /** Set when something changed while no one was sleeping: the next sleep returns at once. */
  private dirty = false;

  constructor(private readonly options: NodeReporterOptions) {
    this.wakeup = new Wakeup(options.clock);
  }

  /** The Node as last read or written (frozen when it came from the informer: copy to change). */
  get node(): Node | undefined {
    return this.current;
  }

  /** The node's pod CIDR, once assigned. */
  get podCIDR(): string | undefined {
    return this.current?.spec?.podCIDR ?? this.current?.spec?.podCIDRs?.[0];
  }

  /** What the agent reports as Ready. */
  readiness(): Readiness {
    return this.podCIDR ? READY : WAITING_FOR_POD_CIDR;
  }

  /** Creates the Node, or adopts the existing one (labels updated); resolves with it. */
  async register(): Promise<Node> {
    const { client, identity, clock } = this.options;
    try {
      this.setCurrent(await client.create<Node>(initialNode(identity, this.readiness(), clock.now())));
      this.lastReportMs = clock.now();
      this.options.logger.info({ node: identity.name, address: identity.address }, 'node registered');
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing = await client.get(Node, identity.name);
      const labels = { ...(existing.metadata?.labels ?? {}), ...nodeLabels(identity) };
      const updated = canonical(labels) === canonical(existing.metadata?.labels) ? existing : await client.update<Node>({ ...existing, metadata: { ...existing.metadata, labels } });
      this.setCurrent(updated);
      this.options.logger.info({ node: identity.name, address: identity.address, podCIDR: this.podCIDR }, 'node already registered: keeping it');
      await this.sync();
    }
    this.options.events?.event(this.current!, 'Normal', 'Starting', 'Starting kubelet.');
    return this.current!;
  }

  /** Watches the Node and keeps its status until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const { client, clock, logger, identity } = this.options;
    const informer = new Informer<Node>(client, Node, { fieldSelector: `metadata.name=${identity.name}`, clock, logger });
    informer.addEventHandler({
      onAdd: (node) => this.observe(node),
      onUpdate: (_old, node) => this.observe(node),
      onDelete: () => {
        this.current = undefined;
        this.poke();
      },
    });
    informer.start(signal);
    const interval = this.options.statusUpdateIntervalMs ?? 10_000;
    while (!signal.aborted) {
      this.dirty = false;
      await this.sync().catch((err: unknown) => logger.warn({ err, node: identity.name }, 'failed to update node status; will retry'));
      await this.sleep(interval, signal);
    }
    await informer.stop();
  }

  /** Writes the status if it differs from the API's (or a heartbeat is due). */
  async sync(): Promise<void> {
    const { client, clock, identity } = this.options;
    if (!this.current) {
      await this.register();
      return;
    }
    for (let attempt = 0; ; attempt++) {
      const node = this.current;
      const now = clock.now();
      const readiness = this.readiness();
      const readinessChanged = this.lastReady !== undefined && this.lastReady !== readiness.ready;
      const heartbeat = readinessChanged || now - this.lastReportMs >= (this.options.statusReportIntervalMs ?? 5 * 60_000);
      const status = nodeStatus(node, identity, readiness, now, heartbeat);
      if (!heartbeat && canonical(status) === canonical(node.status)) {
        this.noteReadiness(readiness.ready);
        return;
      }
      try {
        this.setCurrent(await client.updateStatus<Node>({ ...structuredClone(node), status }));
        this.lastReportMs = now;
        this.noteReadiness(readiness.ready);
        return;
      } catch (err) {
        if (isNotFound(err)) {
          this.current = undefined;
          await this.register();
          return;
        }
        if (!isConflict(err) || attempt + 1 >= STATUS_UPDATE_RETRIES) throw err;
        this.setCurrent(await client.get(Node, identity.name));
      }
    }
  }

  private noteReadiness(ready: boolean): void {
    if (this.lastReady === ready) return;
    const first = this.lastReady === undefined;
    this.lastReady = ready;
    if (first && !ready) return;
    if (this.current) {
      this.options.events?.event(this.current, 'Normal', ready ? 'NodeReady' : 'NodeNotReady', `Node ${this.options.identity.name} status is now: ${ready ? 'NodeReady' : 'NodeNotReady'}`);
    }
  }

  private observe(node: Node): void {
    // An older copy than the one just written must not win.
    const known = Number(this.current?.metadata?.resourceVersion ?? 0);
    const seen = Number(node.metadata?.resourceVersion ?? 0);
    if (this.current && Number.isFinite(known) && Number.isFinite(seen) && seen < known) return;
    this.setCurrent(node);
    this.poke();
  }

  private setCurrent(node: Node): void {
    this.current = node;
    const cidr = this.podCIDR;
    if (cidr && cidr !== this.podCIDRSeen) {
      this.podCIDRSeen = cidr;
      this.options.logger.info({ node: this.options.identity.name, podCIDR: cidr }, 'node pod CIDR assigned');
      this.options.onPodCIDR?.(cidr);
    }
  }

  /** Wakes the status loop now. */
  poke(): void {
    this.dirty = true;
    this.wakeup.wake();
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.dirty || signal.aborted) return Promise.resolve();
    return this.wakeup.sleep(ms, signal);
  }
}
