/**
 * Test environments for controllers, with no cluster, no binaries and no network:
 *
 * - {@link TestEnv}: a whole manager over an in-memory store, running the controllers under
 *   test as they run in production (informers, queues, workers) — for integration tests.
 * - {@link ReconcileHarness}: one controller's `reconcile`, called directly against seeded
 *   objects — for unit tests that run in milliseconds.
 */
import { Container, type Newable } from 'inversify';
import type { Client as ClientType } from '../client/client.js';
import { createRegistry } from '../client/connect.js';
import { StoreClient } from '../client/store-client.js';
import type { KubeObject } from '../api/meta.js';
import { MemoryKV } from '../storage/memory.js';
import type { Clock as ClockType } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { installCrds } from '../runtime/crd-gen.js';
import { controllerMetadata } from '../runtime/decorators.js';
import { EventRecorder, FakeEventRecorder } from '../runtime/events.js';
import { silentLogger } from '../runtime/logger.js';
import { Manager, type ManagerOptions } from '../runtime/manager.js';
import { Metrics } from '../runtime/metrics.js';
import { ApiReader, Client, Clock, Logger, MetricsToken } from '../runtime/tokens.js';
import type { ReconcileRequest, Reconciler, Result } from '../runtime/types.js';

/** A store in memory with the full Kubernetes semantics, and its client. */
async function memoryStore(clock: ClockType, options: { garbageCollection?: boolean } = {}): Promise<StoreClient> {
  const kv = new MemoryKV({ clock });
  const registry = createRegistry(kv, { clock, ...options });
  await registry.crds.waitForSync();
  await registry.system.ready;
  return new StoreClient(registry, async () => {
    await registry.system.stop();
    await registry.crds.stop();
    await kv.close();
  });
}

/** Seeds objects (creating namespaces implicitly is not needed: the store accepts any namespace). */
async function seed(client: ClientType, objects: readonly KubeObject[]): Promise<void> {
  for (const obj of objects) await client.create(structuredClone(obj));
}

/** Options of {@link TestEnv.start}. */
export interface TestEnvOptions extends Partial<Omit<ManagerOptions, 'client'>> {
  /** Options of the in-memory store's registry (e.g. `{ garbageCollection: true }` when a garbage collector runs). */
  store?: { garbageCollection?: boolean };
  /** Controller classes to run. */
  controllers?: Newable[];
  /** `@Resource` classes whose CRDs to install first. */
  resources?: unknown[];
  /** Objects to create before the manager starts. */
  objects?: KubeObject[];
  /** Bind extra services in the manager's container. */
  configure?: (container: Container) => void;
}

/** A manager over an in-memory store, started and ready. */
export class TestEnv {
  private constructor(
    /** An uncached client over the store, for arranging and asserting. */
    readonly client: StoreClient,
    readonly manager: Manager,
    private readonly running: Promise<void>,
  ) {}

  /** Starts a manager with the given controllers; resolves once its caches synced and controllers run. */
  static async start(options: TestEnvOptions = {}): Promise<TestEnv> {
    const clock = options.clock ?? systemClock;
    const client = await memoryStore(clock, options.store);
    await installCrds(client, options.resources ?? [], { clock: systemClock });
    await seed(client, options.objects ?? []);
    const { controllers, resources: _resources, objects: _objects, configure, store: _store, ...managerOptions } = options;
    const manager = new Manager({
      logger: silentLogger(),
      metrics: new Metrics(),
      gracefulShutdownTimeoutMs: 5000,
      cacheSyncTimeoutMs: 10_000,
      ...managerOptions,
      client,
      clock,
      resourceInfoFor: (gvk) => client.registry.types.forKind(gvk.apiVersion, gvk.kind),
      isServed: (kind) => client.registry.types.resolve(kind) !== undefined,
    });
    configure?.(manager.container);
    manager.add(...(controllers ?? []));
    const running = manager.start();
    running.catch(() => undefined);
    const deadline = Date.now() + (options.cacheSyncTimeoutMs ?? 10_000) + 1000;
    while (!manager.ready) {
      const failed = await Promise.race([running.then(() => 'stopped', (err: unknown) => err), new Promise((r) => setTimeout(() => r(undefined), 5))]);
      if (failed instanceof Error) throw failed;
      if (failed === 'stopped') throw new Error('the manager stopped before it was ready');
      if (Date.now() > deadline) throw new Error('the manager did not become ready');
    }
    return new TestEnv(client, manager, running);
  }

  /**
   * Polls `check` until it returns a truthy value (or stops throwing), at most `timeoutMs`
   * (default 5 s); returns that value. Reconciles happen asynchronously: wait on their effect.
   */
  async eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const value = await check();
        if (value) return value as NonNullable<T>;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops the manager gracefully and closes the store. */
  async stop(): Promise<void> {
    await this.manager.stop();
    await this.running.catch(() => undefined);
    await this.client.close();
  }
}

/** Options of {@link ReconcileHarness.create}. */
export interface ReconcileHarnessOptions {
  /** Objects in the store before the first reconcile. */
  objects?: KubeObject[];
  /** `@Resource` classes whose CRDs to install (so the store validates them). */
  resources?: unknown[];
  clock?: ClockType;
  /** Bind extra services (the controller's other constructor dependencies). */
  configure?: (container: Container) => void;
}

/**
 * One controller's reconcile, called directly. The controller is built by the same container
 * bindings a manager gives it — Client (here uncached, over an in-memory store), ApiReader,
 * EventRecorder (a FakeEventRecorder whose `events` a test asserts), Clock, Logger, Metrics.
 */
export class ReconcileHarness<R extends Reconciler = Reconciler> {
  private constructor(
    /** The store's client: arrange objects before, assert objects after. */
    readonly client: StoreClient,
    /** The controller instance. */
    readonly reconciler: R,
    /** Events the reconciler recorded. */
    readonly recorder: FakeEventRecorder,
  ) {}

  /** Builds the controller class with fresh dependencies and seeds the store. */
  static async create<R extends Reconciler>(controllerClass: Newable<R>, options: ReconcileHarnessOptions = {}): Promise<ReconcileHarness<R>> {
    controllerMetadata(controllerClass);
    const clock = options.clock ?? systemClock;
    const client = await memoryStore(clock);
    await installCrds(client, options.resources ?? [], { clock: systemClock });
    await seed(client, options.objects ?? []);
    const recorder = new FakeEventRecorder();
    const container = new Container({ defaultScope: 'Singleton' });
    container.bind(Client).toConstantValue(client);
    container.bind(ApiReader).toConstantValue(client);
    container.bind(Clock).toConstantValue(clock);
    container.bind(Logger).toConstantValue(silentLogger());
    container.bind(EventRecorder).toConstantValue(recorder);
    container.bind(MetricsToken).toConstantValue(new Metrics());
    container.bind(controllerClass).toSelf();
    options.configure?.(container);
    return new ReconcileHarness(client, container.get(controllerClass), recorder);
  }

  /** Runs one reconcile of `request` (a `namespace/name` string or a request object). */
  async reconcile(request: ReconcileRequest | string): Promise<Result | void> {
    const req = typeof request === 'string' ? parseRequest(request) : request;
    return this.reconciler.reconcile(req, { logger: silentLogger(), reconcileID: 'test', signal: new AbortController().signal });
  }

  /** Reconciles until the reconciler asks for nothing more (no requeue), at most `maxRounds`. */
  async reconcileUntilStable(request: ReconcileRequest | string, maxRounds = 10): Promise<number> {
    for (let round = 1; round <= maxRounds; round++) {
      const result = await this.reconcile(request);
      if (!result || (!result.requeue && !result.requeueAfterMs)) return round;
    }
    throw new Error(`still requeueing after ${maxRounds} reconciles`);
  }

  /** Closes the store. */
  async close(): Promise<void> {
    await this.client.close();
  }
}

function parseRequest(key: string): ReconcileRequest {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
