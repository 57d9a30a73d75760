/**
 * The Manager runs controllers, as controller-runtime's manager: an inversify container binds
 * the Client (cached reads for watched kinds), the ApiReader (uncached), the EventRecorder, the
 * Clock, the Logger and the Metrics, plus the user's controllers and services; it starts one
 * informer per kind, waits for the caches to sync (naming any kind that does not), starts the
 * controllers — once elected leader, when leader election is on — and serves `/healthz`,
 * `/readyz` and `/metrics`. Stopping is graceful: intake stops, running reconciles finish (up
 * to a timeout), leadership is released.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Container, type Newable } from 'inversify';
import type { Client as ClientType } from '../client/client.js';
import { gvkOf, type KindRef, type ResourceInfo } from '../api/resources.js';
import { systemClock, type Clock as ClockType } from '../util/clock.js';
import { CachedClient, InformerCache } from './cached-client.js';
import { ControllerRunner } from './controller.js';
import { controllerMetadata, type ControllerMetadata } from './decorators.js';
import { ClientEventRecorder, EventRecorder } from './events.js';
import { startHealthServer, type HealthServer } from './health.js';
import { LeaderElector } from './leader-election.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { ApiReader, Client, Clock, Logger, ManagerToken, MetricsToken } from './tokens.js';

/** Leader election settings (client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry). */
export interface LeaderElectionOptions {
  /** The Lease's name (default: the manager's name). */
  name?: string;
  /** The Lease's namespace (default `kube-system`). */
  namespace?: string;
  /** This candidate's identity (default: hostname + random suffix). */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Release the Lease on stop so a successor takes over at once (default true). */
  releaseOnCancel?: boolean;
}

/** Every knob of a manager, with its default. */
export interface ManagerOptions {
  /** The source: a StoreClient (`connect({ store })`) or a KubeClient. */
  client: ClientType;
  /** Name in logs, events (`source.component`) and the default Lease name (default `keelson`). */
  name?: string;
  clock?: ClockType;
  /** Default: JSON logs at `KEELSON_LOG_LEVEL` (info). */
  logger?: Logger;
  /** Default: a fresh registry with process metrics. */
  metrics?: Metrics;
  /** Serve /healthz, /readyz and /metrics on this port (0 = any free port; absent = no server). */
  metricsPort?: number;
  /** Address of that server (default 127.0.0.1). */
  metricsHost?: string;
  /** Elect a leader among managers before starting controllers (default: off). */
  leaderElection?: LeaderElectionOptions | false;
  /** How long running reconciles may take to finish on stop (default 30 s). */
  gracefulShutdownTimeoutMs?: number;
  /** How long caches may take to sync before start fails, naming the kinds (default 2 min). */
  cacheSyncTimeoutMs?: number;
  /** Informer resync period (default off). */
  resyncPeriodMs?: number;
  /** Checked for every kind a controller names; a kind not served fails start (default: the source decides on first use). */
  isServed?: (kind: KindRef) => boolean;
  /** Facts about kinds named by `{ apiVersion, kind }` (scope, plural), e.g. from the source. */
  resourceInfoFor?: (gvk: { apiVersion: string; kind: string }) => ResourceInfo | undefined;
}

/**
 * A controller that also does work besides reconciling may implement these: `start` runs once
 * the caches synced and leadership is won (its signal aborts when the manager stops), `stop`
 * is awaited before the caches stop.
 */
export interface Runnable {
  start?(signal: AbortSignal): void | Promise<void>;
  stop?(): void | Promise<void>;
}

/** Runs controllers; see the file header. */
export class Manager {
  /** The container: bind your own services here before `start` (`manager.container.bind(X).toSelf()`). */
  readonly container: Container;
  /** The cached client handed to controllers. */
  readonly client: ClientType;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: ClockType;
  readonly name: string;
  private readonly cache: InformerCache;
  private readonly controllers: { meta: ControllerMetadata; runner?: ControllerRunner; instance?: Runnable }[] = [];
  /** Aborted when the controllers' own background work (their `start`) must end. */
  private readonly runnables = new AbortController();
  private readonly events: ClientEventRecorder;
  private readonly stopping = new AbortController();
  private health: HealthServer | undefined;
  private elector: LeaderElector | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private synced = false;
  private controllersStarted = false;

  constructor(private readonly options: ManagerOptions) {
    this.name = options.name ?? 'keelson';
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger({ name: this.name });
    this.metrics = options.metrics ?? new Metrics({ processMetrics: true });
    this.cache = new InformerCache(options.client, {
      clock: this.clock,
      logger: this.logger,
      ...(options.resyncPeriodMs ? { resyncPeriodMs: options.resyncPeriodMs } : {}),
    });
    this.client = new CachedClient({
      delegate: options.client,
      informers: this.cache,
      ...(options.resourceInfoFor ? { resourceInfoFor: options.resourceInfoFor } : {}),
    });
    this.events = new ClientEventRecorder(options.client, { component: this.name, clock: this.clock, logger: this.logger });
    this.container = new Container({ defaultScope: 'Singleton' });
    this.container.bind(Client).toConstantValue(this.client);
    this.container.bind(ApiReader).toConstantValue(options.client);
    this.container.bind(Clock).toConstantValue(this.clock);
    this.container.bind(Logger).toConstantValue(this.logger);
    this.container.bind(EventRecorder).toConstantValue(this.events);
    this.container.bind(MetricsToken).toConstantValue(this.metrics);
    this.container.bind(ManagerToken).toConstantValue(this);
  }

  /** Adds controller classes (checked now: a misuse fails here, naming the class and the fix). */
  add(...controllerClasses: Newable[]): this {
    if (this.state !== 'new') throw new Error('controllers must be added before the manager starts');
    for (const cls of controllerClasses) {
      const meta = controllerMetadata(cls, this.options.isServed);
      this.container.bind(cls).toSelf();
      this.controllers.push({ meta });
    }
    return this;
  }

  /** True once caches synced and controllers run (or, without leadership, wait to run). */
  get ready(): boolean {
    return this.synced && this.state === 'running';
  }

  /** True while this manager's controllers are running (it leads, or no election is configured). */
  get leading(): boolean {
    return this.controllersStarted;
  }

  /** The port of the health/metrics server, once started. */
  get metricsPort(): number | undefined {
    return this.health?.port;
  }

  /** The controller runners (after start), for tests and introspection. */
  get runners(): ControllerRunner[] {
    return this.controllers.flatMap((c) => (c.runner ? [c.runner] : []));
  }

  /**
   * Starts everything and resolves when the manager stops (`stop()` or the signal) — or rejects
   * if caches fail to sync or leadership is lost, as controller-runtime's Start does.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.state !== 'new') throw new Error('a manager starts once');
    this.state = 'starting';
    // A running manager is a service: it keeps the process alive until it stops (its timers
    // and some sources' connections do not).
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const onAbort = () => void this.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (const entry of this.controllers) {
        const instance = this.container.get(entry.meta.target as Newable);
        entry.instance = instance as Runnable;
        entry.runner = new ControllerRunner(entry.meta, instance as object, {
          cache: this.cache,
          clock: this.clock,
          logger: this.logger,
          metrics: this.metrics,
          isNamespaced: (kind) => this.options.resourceInfoFor?.(gvkOf(kind))?.namespaced,
        });
        entry.runner.setup();
      }
      if (this.options.metricsPort !== undefined) {
        this.health = await startHealthServer({
          port: this.options.metricsPort,
          ...(this.options.metricsHost ? { host: this.options.metricsHost } : {}),
          metrics: this.metrics,
          healthz: { ping: () => (this.state === 'stopped' ? 'manager stopped' : undefined) },
          readyz: {
            informers: () => (this.synced ? undefined : 'caches not synced'),
            controllers: () => (this.state === 'running' ? undefined : `manager ${this.state}`),
          },
        });
        this.logger.info({ port: this.health.port }, 'serving /healthz, /readyz and /metrics');
      }
      this.cache.start(this.stopping.signal);
      try {
        await this.cache.waitForSync(this.options.cacheSyncTimeoutMs ?? 120_000);
      } catch (err) {
        if (this.stopping.signal.aborted) return; // stopped while syncing: not a failure
        throw err;
      }
      this.synced = true;
      if (this.stopping.signal.aborted) return;
      this.state = 'running';
      if (this.options.leaderElection) await this.runElected(this.options.leaderElection);
      else {
        this.startControllers();
        await new Promise<void>((resolve) => {
          if (this.stopping.signal.aborted) resolve();
          else this.stopping.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.stop();
      clearInterval(keepAlive);
    }
  }

  private startControllers(): void {
    if (this.controllersStarted) return;
    this.controllersStarted = true;
    for (const runner of this.runners) runner.start();
    // Controllers with work besides reconciling (e.g. the garbage collector's graph) run it now.
    for (const { instance, meta } of this.controllers) {
      if (typeof instance?.start !== 'function') continue;
      void Promise.resolve()
        .then(() => instance.start!(this.runnables.signal))
        .catch((err: unknown) => this.logger.error({ err, controller: meta.options.name ?? meta.target.name }, 'controller start failed'));
    }
    this.logger.info({ controllers: this.runners.map((r) => r.name) }, 'controllers started');
  }

  private async runElected(options: LeaderElectionOptions): Promise<void> {
    let lost = false;
    this.elector = new LeaderElector({
      client: this.options.client,
      namespace: options.namespace ?? 'kube-system',
      name: options.name ?? this.name,
      identity: options.identity ?? `${hostname()}_${randomBytes(8).toString('hex')}`,
      ...(options.leaseDurationMs !== undefined ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs !== undefined ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs !== undefined ? { retryPeriodMs: options.retryPeriodMs } : {}),
      ...(options.releaseOnCancel !== undefined ? { releaseOnCancel: options.releaseOnCancel } : {}),
      clock: this.clock,
      metrics: this.metrics,
      logger: this.logger,
      onStartedLeading: () => this.startControllers(),
      onStoppedLeading: () => {
        if (!this.stopping.signal.aborted) lost = true;
      },
      onNewLeader: (identity) => this.logger.info({ leader: identity }, 'new leader elected'),
    });
    await this.elector.run(this.stopping.signal);
    if (lost) throw new Error(`leader election lost for Lease ${options.namespace ?? 'kube-system'}/${options.name ?? this.name}`);
  }

  /**
   * Stops gracefully: controllers stop taking work and finish what runs (at most
   * `gracefulShutdownTimeoutMs`), events are flushed, caches stop, leadership is released and
   * the health server closes. Idempotent; resolves when all of that is done.
   */
  async stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopPromise = (async () => {
      const timeoutMs = this.options.gracefulShutdownTimeoutMs ?? 30_000;
      await Promise.all(this.runners.map((r) => r.stop(timeoutMs)));
      this.runnables.abort();
      await Promise.all(
        this.controllers.map(async ({ instance }) => {
          if (typeof instance?.stop === 'function') await Promise.resolve(instance.stop()).catch(() => undefined);
        }),
      );
      this.stopping.abort();
      this.state = 'stopped';
      await this.events.flush().catch(() => undefined);
      await this.cache.stop();
      await this.health?.close();
      this.health = undefined;
    })();
    return this.stopPromise;
  }

  private stopPromise: Promise<void> | undefined;
}
