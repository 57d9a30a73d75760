/**
 * A running controller: informer events → predicates → a rate-limited work queue → `concurrency`
 * workers calling `reconcile`. Events of the `for` kind enqueue the object itself; events of an
 * `owns` kind enqueue its controller owner; events of a `@Watches` kind enqueue what its map
 * function returns. A key is never reconciled by two workers at once; a failed reconcile is
 * retried with the rate limiter's backoff; a TerminalError is not retried. Nothing a reconciler
 * throws can stop the controller or the process.
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject, OwnerReference } from '../api/meta.js';
import { gvkOf, parseApiVersion, resourceInfoOf, type KindRef } from '../api/resources.js';
import type { Clock } from '../util/clock.js';
import type { InformerCache } from './cached-client.js';
import type { ControllerMetadata } from './decorators.js';
import type { Informer } from './informer.js';
import { reconcileLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './rate-limiter.js';
import type { Logger } from './tokens.js';
import { isTerminalError, requestFor, requestKey, type InformerEventHandler, type Predicate, type ReconcileContext, type ReconcileRequest, type Reconciler, type Result } from './types.js';
import { WorkQueue } from './workqueue.js';

/** What a controller needs from its manager. */
export interface ControllerDependencies {
  cache: InformerCache;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Retry policy for failed reconciles (default: client-go's controller rate limiter). */
  rateLimiter?: RateLimiter<string>;
  /** Whether a kind is namespaced, for kinds named by `{ apiVersion, kind }` (owner mapping). */
  isNamespaced?: (kind: KindRef) => boolean | undefined;
}

function passes<T extends KubeObject>(predicates: Predicate<T>[], check: (p: Predicate<T>) => boolean | undefined): boolean {
  return predicates.every((p) => check(p) !== false);
}

/** Runs one controller (see the file header). */
export class ControllerRunner {
  /** The controller's name (logs, metrics, queue). */
  readonly name: string;
  private readonly queue: WorkQueue<ReconcileRequest>;
  private readonly reconciler: Reconciler & Record<string, unknown>;
  private readonly forGvk: { apiVersion: string; kind: string };
  private readonly workers: Promise<void>[] = [];
  private readonly abortInFlight = new AbortController();
  private readonly bound: ReturnType<ControllerRunner['bindMetrics']>;
  private started = false;

  constructor(
    private readonly meta: ControllerMetadata,
    reconciler: object,
    private readonly deps: ControllerDependencies,
  ) {
    this.reconciler = reconciler as Reconciler & Record<string, unknown>;
    this.forGvk = gvkOf(meta.options.for);
    this.name = meta.options.name ?? this.forGvk.kind.toLowerCase();
    this.queue = new WorkQueue<ReconcileRequest>({
      name: this.name,
      clock: deps.clock,
      metrics: deps.metrics,
      key: requestKey,
      ...(deps.rateLimiter ? { rateLimiter: deps.rateLimiter } : {}),
    });
    this.bound = this.bindMetrics();
  }

  /** The number of reconciles the controller runs at once. */
  get concurrency(): number {
    return this.meta.options.concurrency ?? 1;
  }

  /** Registers the event handlers and indexes on the shared informers (before the cache starts). */
  setup(): Informer[] {
    const { options, watches, indexes } = this.meta;
    const selection = { ...(options.namespace ? { namespace: options.namespace } : {}) };
    const informers: Informer[] = [];
    for (const index of indexes) {
      const informer = this.deps.cache.informerFor(index.kind as KindRef<KubeObject>, selection);
      // Several controllers may ask for the same index: the first registration serves them all.
      if (!informer.indexer.hasIndex(`field:${index.field}`)) informer.indexer.addIndexer(`field:${index.field}`, index.extract);
    }
    const forInformer = this.deps.cache.informerFor(options.for, {
      ...selection,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
    });
    forInformer.addEventHandler(this.handler(options.predicates ?? [], (obj) => [requestFor(obj)]));
    informers.push(forInformer as unknown as Informer);
    for (const owned of options.owns ?? []) {
      const informer = this.deps.cache.informerFor(owned as KindRef<KubeObject>, selection);
      informer.addEventHandler(this.handler([], this.ownerRequestsBound));
      informers.push(informer as unknown as Informer);
    }
    for (const watch of watches) {
      const informer = this.deps.cache.informerFor(watch.kind as KindRef<KubeObject>, selection);
      const map = (this.reconciler[watch.method] as (obj: KubeObject) => ReconcileRequest[] | Promise<ReconcileRequest[]>).bind(this.reconciler);
      informer.addEventHandler(this.handler(watch.predicates, map));
      informers.push(informer as unknown as Informer);
    }
    return informers;
  }

  /** Starts the workers (call once the caches have synced). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.deps.metrics.maxConcurrentReconciles.labels({ controller: this.name }).set(this.concurrency);
    this.deps.metrics.activeWorkers.labels({ controller: this.name }).set(0);
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.work());
  }

  /**
   * Stops taking work and waits for in-flight reconciles to finish, at most `timeoutMs`; after
   * that their `context.signal` is aborted and the stop resolves anyway.
   */
  async stop(timeoutMs: number): Promise<void> {
    const drained = this.queue.shutDownWithDrain();
    let timer: { cancel(): void } | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = this.deps.clock.setTimeout(() => {
        this.abortInFlight.abort(new Error('graceful shutdown timeout'));
        this.queue.shutDown();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([drained, timedOut]);
    timer?.cancel();
    this.queue.shutDown();
  }

  /** Adds a request directly (tests, generic events). */
  enqueue(request: ReconcileRequest): void {
    this.queue.add(request);
  }

  private handler(predicates: Predicate[], map: (obj: KubeObject) => ReconcileRequest[] | Promise<ReconcileRequest[]>): InformerEventHandler {
    const enqueue = (obj: KubeObject) => {
      let requests: ReconcileRequest[] | Promise<ReconcileRequest[]>;
      try {
        requests = map(obj);
      } catch (err) {
        this.deps.logger.error({ controller: this.name, err }, 'map function failed');
        return;
      }
      Promise.resolve(requests)
        .then((list) => {
          for (const request of list ?? []) this.queue.add({ namespace: request.namespace ?? '', name: request.name });
        })
        .catch((err: unknown) => this.deps.logger.error({ controller: this.name, err }, 'map function failed'));
    };
    return {
      onAdd: (obj) => {
        if (passes(predicates, (p) => p.create?.(obj))) enqueue(obj);
      },
      onUpdate: (oldObj, newObj) => {
        const resync = oldObj === newObj || oldObj.metadata?.resourceVersion === newObj.metadata?.resourceVersion;
        if (resync ? !passes(predicates, (p) => p.generic?.(newObj)) : !passes(predicates, (p) => p.update?.(oldObj, newObj))) return;
        if (map === this.ownerRequestsBound) {
          // An owned object may have changed hands: both the old and the new owner must hear of it.
          enqueue(oldObj);
        }
        enqueue(newObj);
      },
      onDelete: (obj) => {
        if (passes(predicates, (p) => p.delete?.(obj))) enqueue(obj);
      },
    };
  }

  private readonly ownerRequestsBound = (obj: KubeObject) => this.ownerRequests(obj);

  /** The request for an owned object's controller owner, if it is of the `for` kind. */
  private ownerRequests(obj: KubeObject): ReconcileRequest[] {
    const ref = (obj.metadata?.ownerReferences ?? []).find((r: OwnerReference) => r.controller);
    if (!ref) return [];
    if (ref.kind !== this.forGvk.kind || parseApiVersion(ref.apiVersion).group !== parseApiVersion(this.forGvk.apiVersion).group) return [];
    const namespaced = resourceInfoOf(this.meta.options.for)?.namespaced ?? this.deps.isNamespaced?.(this.meta.options.for) ?? true;
    return [{ namespace: namespaced ? (obj.metadata?.namespace ?? '') : '', name: ref.name }];
  }

  private async work(): Promise<void> {
    for (;;) {
      const request = await this.queue.get();
      if (!request) return;
      await this.reconcileOne(request);
    }
  }

  /** Metric children of this controller, bound once (binding per reconcile is measurably costly). */
  private bindMetrics() {
    const { metrics } = this.deps;
    const labels = { controller: this.name };
    const total = (result: string) => metrics.reconcileTotal.labels({ controller: this.name, result });
    return {
      activeWorkers: metrics.activeWorkers.labels(labels),
      reconcileTime: metrics.reconcileTime.labels(labels),
      errors: metrics.reconcileErrors.labels(labels),
      terminalErrors: metrics.terminalReconcileErrors.labels(labels),
      total: { success: total('success'), error: total('error'), requeue: total('requeue'), requeue_after: total('requeue_after') },
    };
  }

  /** The context of one reconcile; its logger and id are made only if the reconciler asks. */
  private contextFor(request: ReconcileRequest): ReconcileContext {
    let reconcileID: string | undefined;
    let logger: Logger | undefined;
    const runner = this;
    return {
      signal: this.abortInFlight.signal,
      get reconcileID() {
        return (reconcileID ??= randomUUID());
      },
      get logger() {
        return (logger ??= reconcileLogger(runner.deps.logger, {
          controller: runner.name,
          group: parseApiVersion(runner.forGvk.apiVersion).group,
          kind: runner.forGvk.kind,
          namespace: request.namespace,
          name: request.name,
          reconcileID: this.reconcileID,
        }));
      },
    };
  }

  private async reconcileOne(request: ReconcileRequest): Promise<void> {
    const { clock } = this.deps;
    const bound = this.bound;
    const context = this.contextFor(request);
    bound.activeWorkers.inc();
    const started = clock.now();
    let outcome: 'success' | 'error' | 'requeue' | 'requeue_after' = 'success';
    try {
      const result = (await this.reconciler.reconcile(request, context)) as Result | undefined;
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        outcome = 'requeue_after';
        this.queue.forget(request);
        this.queue.addAfter(request, result.requeueAfterMs);
      } else if (result?.requeue) {
        outcome = 'requeue';
        this.queue.addRateLimited(request);
      } else {
        this.queue.forget(request);
      }
    } catch (err) {
      outcome = 'error';
      bound.errors.inc();
      if (isTerminalError(err)) {
        bound.terminalErrors.inc();
        this.queue.forget(request);
        context.logger.error({ err }, 'Reconciler error (terminal, not retried)');
      } else {
        this.queue.addRateLimited(request);
        context.logger.error({ err, retries: this.queue.numRequeues(request) }, 'Reconciler error');
      }
    } finally {
      this.queue.done(request);
      bound.activeWorkers.dec();
      bound.reconcileTime.observe((clock.now() - started) / 1000);
      bound.total[outcome].inc();
    }
  }

  /** Requests waiting in the queue (tests, metrics). */
  get queueLength(): number {
    return this.queue.len();
  }
}
