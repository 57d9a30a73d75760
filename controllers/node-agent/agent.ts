/**
 * The node agent (the kubelet role), assembled: its HTTP endpoints, the Node it registers and
 * whose status it keeps, the Lease it renews, the resource usage it samples, and — under a
 * manager of its own, leader election off — the controller that runs the pods bound to the node.
 *
 * Start order: endpoints first (the Node names their port), then registration (and the service
 * proxy, when the agent runs one), then the heartbeat loops, then the pod controller. Stop order
 * (SIGTERM): the pod controller stops taking work, every pod's processes are killed with that
 * pod's grace period, then the proxy, the loops and endpoints end. The pods stay in the API — a
 * stopped agent is a dead node, which the node-lifecycle controller handles — and nothing else is
 * released, but VIPs: with the `vip` option the agent takes part in VIP failover from registration
 * on, and releases its VIPs first when it stops. While it holds a VirtualIP with a
 * `spec.serviceRef`, the service proxy serves that Service on the address too: its own proxy
 * (`proxyMode`), and/or whatever `vip.onHolding` connects (the host's proxy, in `keelson up`;
 * see {@link serveVipService}).
 */
import { cpus, totalmem } from 'node:os';
import { Gauge } from 'prom-client';
import {
  ClientEventRecorder,
  createLogger,
  Manager,
  Metrics,
  quantityValue,
  systemClock,
  type Client,
  type Clock,
  type KubeList,
  type Logger,
  type Node,
  type Pod,
  type ReconcileRequest,
} from '../../lib/index.js';
import { nftablesTableForNode, ServiceProxy, type ProxyMode, type RelayMode } from '../service-proxy/index.js';
import { serviceRefKey, VipParticipant, type ElectionTiming, type VirtualIP } from '../vip-failover/index.js';
import { NodeLease } from './node-lease.js';
import { NodeReporter } from './node-reporter.js';
import { systemInfo, type NodeIdentity } from './node-status.js';
import { nodePodController } from './pod-controller.js';
import type { PodWorker } from './pod-worker.js';
import type { PodRuntime } from './runtime/types.js';
import { AgentServer } from './server.js';
import { StatsCollector } from './stats.js';

/** Every setting of a node agent, with its default. */
export interface NodeAgentOptions {
  /** The source (a StoreClient in `keelson up`, a KubeClient for `keelson node --kubeconfig`). */
  client: Client;
  /** The Node's name. */
  name: string;
  /** The node's own loopback address (`127.1.0.N`): its InternalIP and where its endpoints listen. */
  address: string;
  /** Runs the pods' containers. The agent shuts it down when it stops. */
  runtime: PodRuntime;
  /** Port of the agent's endpoints (default 10250; 0 picks a free one). */
  port?: number;
  /** CPU capacity as a quantity (default: the machine's CPU count). */
  cpu?: string;
  /** Memory capacity as a quantity (default: the machine's memory). */
  memory?: string;
  /** Pod capacity (default 110). */
  pods?: number;
  /** Extra Node labels. */
  labels?: Record<string, string>;
  /** How often the Lease is renewed (default 2 s). */
  leaseRenewIntervalMs?: number;
  /** The Lease's `leaseDurationSeconds` (default 40, kubelet's). */
  leaseDurationSeconds?: number;
  /** How often the Node status is compared with the API's (default 10 s). */
  nodeStatusUpdateIntervalMs?: number;
  /** How often an unchanged Node status is reported anyway (default 5 min). */
  nodeStatusReportIntervalMs?: number;
  /** How often pod usage is sampled (default 10 s). */
  statsIntervalMs?: number;
  /** How often processes of unknown pods are looked for (default 2 s, kubelet's housekeeping). */
  housekeepingIntervalMs?: number;
  /** Checks the `Authorization` header of endpoint requests (absent: loopback clients only). */
  authenticate?: (authorization: string | undefined) => boolean;
  /** Count the agent's own process in the node's usage (a `keelson node` process: true). */
  includeAgentProcess?: boolean;
  /**
   * Run a service proxy of this mode for the node (cluster IPs, and node ports on the node's
   * address), started after registration and stopped after the pods. Absent: no proxy — the
   * process runs one for all its agents, as `keelson up` does.
   */
  proxyMode?: ProxyMode;
  /** How a `userspace` proxy copies lasting TCP connections (default `auto`: the native relay when built). */
  proxyRelay?: RelayMode;
  /**
   * Take part in VIP failover (the VirtualIPs this node is eligible for), with heartbeats on
   * `heartbeatAddress` (default: the node's address) and `heartbeatPort` (default: any free
   * one; the Node's annotation says which). Started after registration, and stopped first —
   * releasing every address at once. Absent: no VIP failover.
   */
  vip?: {
    heartbeatAddress?: string;
    heartbeatPort?: number;
    timing?: Partial<ElectionTiming>;
    /**
     * Called when this node starts or stops holding a VirtualIP (stops: before the address
     * goes), in addition to the agent's own proxy, if it runs one. `keelson up` connects its
     * host proxy with {@link serveVipService}.
     */
    onHolding?: (vip: VirtualIP, holding: boolean) => void;
  };
  /** How many pods are reconciled at once (default 8). */
  concurrency?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Serves (`holding` true) or stops serving the Service a VirtualIP's `spec.serviceRef` names on
 * the VirtualIP's address, through `proxy` — what a node agent does for the VirtualIPs it holds.
 * Nothing for a VirtualIP without a serviceRef.
 */
export function serveVipService(proxy: ServiceProxy, vip: VirtualIP, holding: boolean): void {
  const service = serviceRefKey(vip);
  if (service) proxy.serveServiceOn(service, vip.spec.address, holding);
}

function defaultCapacity(options: NodeAgentOptions): Record<string, string> {
  return {
    cpu: options.cpu ?? String(Math.max(1, cpus().length)),
    memory: options.memory ?? `${Math.floor(totalmem() / 1024)}Ki`,
    pods: String(options.pods ?? 110),
  };
}

/** One node agent (see the file header). */
export class NodeAgent {
  /** The Node's name. */
  readonly name: string;
  /** The node's address. */
  readonly address: string;
  /** The registry its metrics are on (served on `/metrics`). */
  readonly metrics: Metrics;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly identity: NodeIdentity;
  private readonly manager: Manager;
  private readonly worker: PodWorker;
  private readonly reporter: NodeReporter;
  private readonly lease: NodeLease;
  private readonly stats: StatsCollector;
  private readonly server: AgentServer;
  private readonly events: ClientEventRecorder;
  private proxy: ServiceProxy | undefined;
  private vip: VipParticipant | undefined;
  private readonly loops = new AbortController();
  private readonly background: Promise<unknown>[] = [];
  private state: 'new' | 'running' | 'stopped' = 'new';
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly options: NodeAgentOptions) {
    this.name = options.name;
    this.address = options.address;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? createLogger({ name: 'keelson-node' })).child({ node: options.name });
    this.metrics = new Metrics({ processMetrics: !!options.includeAgentProcess });
    const capacity = defaultCapacity(options);
    this.identity = { name: options.name, address: options.address, port: options.port ?? 10250, capacity, nodeInfo: systemInfo(), ...(options.labels ? { labels: options.labels } : {}) };
    this.events = new ClientEventRecorder(options.client, { component: 'kubelet', host: options.name, clock: this.clock, logger: this.logger });
    this.manager = new Manager({ client: options.client, name: 'kubelet', clock: this.clock, logger: this.logger, metrics: this.metrics, leaderElection: false, gracefulShutdownTimeoutMs: 10_000 });
    const controller = nodePodController(
      {
        nodeName: options.name,
        client: options.client,
        clock: this.clock,
        logger: this.logger,
        runtime: options.runtime,
        events: this.events,
        hostIP: options.address,
        podCIDR: () => this.reporter.podCIDR,
        enqueue: (request: ReconcileRequest) => this.manager.runners[0]?.enqueue(request),
      },
      options.concurrency ?? 8,
    );
    this.manager.add(controller);
    this.worker = this.manager.container.get(controller);
    this.reporter = new NodeReporter({
      client: options.client,
      clock: this.clock,
      logger: this.logger,
      identity: this.identity,
      events: this.events,
      ...(options.nodeStatusUpdateIntervalMs !== undefined ? { statusUpdateIntervalMs: options.nodeStatusUpdateIntervalMs } : {}),
      ...(options.nodeStatusReportIntervalMs !== undefined ? { statusReportIntervalMs: options.nodeStatusReportIntervalMs } : {}),
      onPodCIDR: () => this.worker.requeueAll(),
    });
    this.lease = new NodeLease({
      client: options.client,
      clock: this.clock,
      logger: this.logger,
      nodeName: options.name,
      ...(options.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: options.leaseDurationSeconds } : {}),
      ...(options.leaseRenewIntervalMs !== undefined ? { renewIntervalMs: options.leaseRenewIntervalMs } : {}),
      owner: () => this.reporter.node,
    });
    this.stats = new StatsCollector({
      runtime: options.runtime,
      clock: this.clock,
      nodeName: options.name,
      memoryCapacityBytes: quantityValue(capacity.memory) ?? totalmem(),
      includeAgentProcess: !!options.includeAgentProcess,
      podRef: (uid) => {
        const pod = this.worker.podOf(uid);
        if (!pod?.metadata?.name) return undefined;
        return { namespace: pod.metadata.namespace ?? '', name: pod.metadata.name, uid, ...(pod.status?.startTime ? { startTime: pod.status.startTime } : {}) };
      },
    });
    this.server = new AgentServer({
      host: options.address,
      port: this.identity.port,
      logger: this.logger,
      now: () => this.clock.now(),
      ...(options.authenticate ? { authenticate: options.authenticate } : {}),
      endpoints: {
        findPod: (namespace, name) => {
          const found = this.worker.findPod(namespace, name);
          if (!found) return undefined;
          const spec = found.pod.spec;
          return { uid: found.uid, containers: [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map((c) => c.name) };
        },
        logs: (uid, container, logOptions) => options.runtime.logs(uid, container, logOptions),
        summary: () => this.stats.summary(),
        metrics: () => this.metrics.registry.metrics(),
        resourceMetrics: () => this.stats.resourceMetrics(),
        pods: (): KubeList<Pod> => ({ apiVersion: 'v1', kind: 'PodList', metadata: {}, items: this.worker.pods() }),
        unhealthy: () => (this.state === 'running' ? undefined : `agent ${this.state}`),
      },
    });
    this.registerMetrics();
  }

  /** The port of the agent's endpoints (after {@link start}). */
  get port(): number {
    return this.server.port;
  }

  /** The Node as last read or written. */
  get node(): Node | undefined {
    return this.reporter.node;
  }

  /** Lease renewals so far. */
  get leaseRenewals(): number {
    return this.lease.renewals;
  }

  /** The mode of the agent's service proxy (undefined: it runs none). */
  get proxyMode(): string | undefined {
    return this.options.proxyMode;
  }

  /**
   * Serves the endpoints, registers the Node and starts the heartbeats and the pod controller;
   * resolves once all of that is under way. Rejects (after cleaning up) if the endpoints cannot
   * listen or the Node cannot be registered.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`node agent ${this.name} starts once`);
    this.state = 'running';
    try {
      this.identity.port = await this.server.start();
      await this.reporter.register();
      if (this.options.proxyMode) {
        this.proxy = new ServiceProxy({
          client: this.options.client,
          mode: this.options.proxyMode,
          userspace: { relay: this.options.proxyRelay ?? 'auto' },
          nodeAddresses: [this.address],
          nodeNames: [this.name],
          // Its own nftables table: agents on one host (and `keelson up`'s proxy) never replace another's.
          nftables: { table: nftablesTableForNode(this.name) },
          clock: this.clock,
          logger: this.logger,
          metrics: this.metrics,
        });
        await this.proxy.start();
      }
      if (this.options.vip) {
        const { heartbeatAddress, heartbeatPort, timing, onHolding } = this.options.vip;
        this.vip = new VipParticipant({
          client: this.options.client,
          nodeName: this.name,
          heartbeatAddress: heartbeatAddress ?? this.address,
          ...(heartbeatPort !== undefined ? { heartbeatPort } : {}),
          ...(timing ? { timing } : {}),
          onHolding: (vip, holding) => {
            if (this.proxy) serveVipService(this.proxy, vip, holding);
            onHolding?.(vip, holding);
          },
          clock: this.clock,
          logger: this.logger,
        });
        await this.vip.start();
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    const signal = this.loops.signal;
    this.background.push(
      this.lease.run(signal),
      this.reporter.run(signal),
      this.stats.run(signal, this.options.statsIntervalMs ?? 10_000),
      this.housekeeping(signal),
      this.manager.start().catch((err: unknown) => this.logger.error({ err }, 'pod controller failed')),
    );
    this.logger.info({ address: this.address, port: this.port, podCIDR: this.reporter.podCIDR }, 'node agent started');
  }

  /** Kills every pod's processes (each with its grace period), then stops everything. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.state = 'stopped';
      // VIPs first: a standby takes over at once, while the pods still stop.
      await this.vip?.stop().catch((err: unknown) => this.logger.error({ err }, 'failed to stop VIP failover'));
      await this.manager.stop();
      await this.worker.shutdown().catch((err: unknown) => this.logger.error({ err }, 'failed to stop pods'));
      await this.proxy?.stop().catch((err: unknown) => this.logger.error({ err }, 'failed to stop the service proxy'));
      this.loops.abort();
      await Promise.all(this.background);
      await this.server.stop();
      await this.events.stop();
      this.logger.info('node agent stopped');
    })();
    return this.stopPromise;
  }

  private async housekeeping(signal: AbortSignal): Promise<void> {
    const interval = this.options.housekeepingIntervalMs ?? 2000;
    while (!signal.aborted) {
      await this.clock.sleep(interval, signal).catch(() => undefined);
      // Only once the pod informer has listed: before, every pod looks unknown.
      if (!signal.aborted && this.manager.ready) this.worker.cleanup();
    }
  }

  private registerMetrics(): void {
    const registers = [this.metrics.registry];
    const runtime = this.options.runtime;
    new Gauge({ name: 'kubelet_node_name', help: "The node's name. The count is always 1.", labelNames: ['node'], registers }).labels({ node: this.name }).set(1);
    new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
      registers,
      collect() {
        this.set(runtime.pods().filter((uid) => runtime.status(uid)?.phase === 'Running').length);
      },
    });
    new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
      collect() {
        const counts: Record<string, number> = { running: 0, exited: 0, created: 0 };
        for (const uid of runtime.pods()) {
          for (const c of runtime.status(uid)?.containerStatuses ?? []) {
            const state = c.state.running ? 'running' : c.state.terminated ? 'exited' : 'created';
            counts[state] = (counts[state] ?? 0) + 1;
          }
        }
        for (const [state, count] of Object.entries(counts)) this.labels({ container_state: state }).set(count);
      },
    });
    const lease = this.lease;
    new Gauge({
      name: 'keelson_node_lease_renewals',
      help: 'Renewals of the node Lease since the agent started',
      registers,
      collect() {
        this.set(lease.renewals);
      },
    });
  }
}
