/**
 * The garbage collector, with the semantics of kube's: objects name their owners in
 * `metadata.ownerReferences`, and
 *
 * - **Background** — when every owner of an object is gone (deleted, or replaced by a new object
 *   of the same name: owners are matched by uid), the object is deleted; an object with another
 *   live owner only loses its references to the gone ones. An owner referenced but never seen
 *   is looked up in the source; a namespaced owner is looked up in the dependent's namespace
 *   only (a reference never crosses namespaces).
 * - **Orphan** — an owner being deleted with the `orphan` finalizer: its dependents lose their
 *   reference to it, then the finalizer goes and so does the owner.
 * - **Foreground** — an owner being deleted with the `foregroundDeletion` finalizer: its
 *   dependents are deleted (in the foreground themselves when they have dependents, so it
 *   cascades), and once no dependent with `blockOwnerDeletion: true` remains, the finalizer goes.
 *
 * The store adds those finalizers on delete when it runs with `garbageCollection: true`.
 *
 * It watches every served kind (see `discovery.ts`) with its own informers, feeding the
 * dependency graph (`graph.ts`); the graph says which objects need a look, and workers look:
 * they read the source — never a cache — before deciding, and write pinned to what they read
 * (`operations.ts`).
 *
 * As a controller it reconciles CustomResourceDefinitions: a CRD that comes or goes changes the
 * served kinds, so the monitors are synced again. The graph and its workers run between
 * {@link GarbageCollector.start} and {@link GarbageCollector.stop}.
 */
import { inject } from 'inversify';
import {
  apiVersionOf,
  ApiReader,
  Clock,
  Controller,
  CustomResourceDefinition,
  EventRecorder,
  hasFinalizer,
  isNotFound,
  Logger,
  WorkQueue,
  type Client,
  type KubeObject,
  type OwnerReference,
  type ReconcileRequest,
  type Reconciler,
  type Result,
} from '../../lib/index.js';
import { discoverKinds, groupKind, KindTable } from './discovery.js';
import { DependencyGraph, FOREGROUND_FINALIZER, identityOf, ORPHAN_FINALIZER, type GraphNode, type ObjectIdentity } from './graph.js';
import { ResourceMonitors } from './monitors.js';
import { ObjectOperations, type PropagationPolicy } from './operations.js';

/** Objects examined at once (kube's `--concurrent-gc-syncs` default). */
const WORKERS = 20;
/** How long start waits for the monitors to sync before working without the laggards. */
const SYNC_TIMEOUT_MS = 30_000;
/** Owners remembered as absent (kube's absentOwnerCache size); a uid never comes back. */
const ABSENT_OWNERS_REMEMBERED = 500;

/** What an ownerReference of a dependent points at. */
type OwnerState = 'solid' | 'absent' | 'waiting' | 'invalid';

/** Reconciles CRDs (the served kinds) and runs the garbage collector (see the file header). */
@Controller({ for: CustomResourceDefinition, name: 'garbagecollector' })
export class GarbageCollector implements Reconciler<CustomResourceDefinition> {
  private readonly graph: DependencyGraph;
  private readonly ops: ObjectOperations;
  private readonly deleteQueue: WorkQueue<string>;
  private readonly orphanQueue: WorkQueue<string>;
  private readonly absentOwners = new Set<string>();
  private kinds = new KindTable([]);
  private state: 'new' | 'running' | 'stopped' = 'new';
  private readonly abort = new AbortController();
  private monitors: ResourceMonitors | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly workers: Promise<void>[] = [];
  private resyncing: Promise<void> = Promise.resolve();
  private synced = false;
  private readonly syncWaiters = new Set<(synced: boolean) => void>();

  constructor(
    @inject(ApiReader) private readonly source: Client,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Logger) private readonly logger: Logger,
    @inject(Clock) private readonly clock: Clock,
  ) {
    this.ops = new ObjectOperations(source);
    this.deleteQueue = new WorkQueue<string>({ name: 'garbage_collector_attempt_to_delete', clock });
    this.orphanQueue = new WorkQueue<string>({ name: 'garbage_collector_attempt_to_orphan', clock });
    this.graph = new DependencyGraph({
      attemptToDelete: (uid) => this.deleteQueue.add(uid),
      attemptToOrphan: (uid) => this.orphanQueue.add(uid),
    });
  }

  /**
   * Starts watching every served kind and, once their informers synced (or after 30 s without
   * the laggards), the workers. `signal` (or {@link stop}) stops it all. Starting twice is a no-op.
   */
  start(signal?: AbortSignal): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    if (signal?.aborted) return void this.stop();
    signal?.addEventListener('abort', () => void this.stop(), { once: true, signal: this.abort.signal });
    this.monitors = new ResourceMonitors(this.source, this.graph, { clock: this.clock, logger: this.logger, signal: this.abort.signal });
    this.running = this.run();
  }

  /** Stops the monitors and the workers (in-flight work finishes); resolves when all have exited. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return this.running;
    this.state = 'stopped';
    this.abort.abort();
    this.deleteQueue.shutDown();
    this.orphanQueue.shutDown();
    for (const waiter of [...this.syncWaiters]) waiter(false);
    const starting = this.running;
    this.running = (async () => {
      await starting;
      await Promise.all(this.workers);
      await this.monitors?.stop();
    })();
    return this.running;
  }

  /** True once the graph was built from every served kind and the workers run. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once {@link hasSynced}, false if stopped first. */
  waitForSync(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.state === 'stopped') return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (synced: boolean) => {
        this.syncWaiters.delete(done);
        resolve(synced);
      };
      this.syncWaiters.add(done);
    });
  }

  /** A CRD changed: the served kinds may have too. Comes back while its kind is not served yet. */
  async reconcile({ name }: ReconcileRequest): Promise<Result | void> {
    if (this.state !== 'running') return; // start() discovers every kind itself
    await this.resync();
    let crd: CustomResourceDefinition;
    try {
      crd = await this.source.get(CustomResourceDefinition, name);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    if (established && crd.spec && !this.kinds.servesGroupKind(crd.spec.group, crd.spec.names.kind)) return { requeueAfterMs: 1000 };
  }

  /** Discovers the served kinds and syncs the monitors with them, one resync at a time. */
  private resync(): Promise<void> {
    const next = this.resyncing.then(async () => {
      if (this.state !== 'running' || !this.monitors) return;
      this.kinds = await discoverKinds(this.source);
      await this.monitors.sync(this.kinds.monitorable());
    });
    this.resyncing = next.catch(() => undefined);
    return next;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    for (let delayMs = 1000; !signal.aborted; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        await this.resync();
        break;
      } catch (err) {
        this.logger.warn({ err, retryInMs: delayMs }, 'garbage collector: discovering the served kinds failed');
        await this.clock.sleep(delayMs, signal).catch(() => undefined);
      }
    }
    if (signal.aborted || !this.monitors) return;
    if (!(await this.monitors.waitForSync(SYNC_TIMEOUT_MS, signal)) && !signal.aborted) {
      this.logger.warn({ kinds: this.monitors.unsynced() }, 'garbage collector: some monitors did not sync; proceeding without them');
    }
    if (signal.aborted) return;
    for (let i = 0; i < WORKERS; i++) {
      this.workers.push(this.work(this.deleteQueue, (uid) => this.attemptToDelete(uid)));
      this.workers.push(this.work(this.orphanQueue, (uid) => this.attemptToOrphan(uid)));
    }
    this.synced = true;
    for (const waiter of [...this.syncWaiters]) waiter(true);
    this.logger.info({ kinds: this.monitors.kinds.length, objects: this.graph.size }, 'garbage collector: graph synced, collecting');
  }

  private async work(queue: WorkQueue<string>, process: (uid: string) => Promise<void>): Promise<void> {
    for (;;) {
      const uid = await queue.get();
      if (uid === undefined) return;
      try {
        // Stopping: what is still queued is left for the next collector to find.
        if (!this.abort.signal.aborted) await process(uid);
        queue.forget(uid);
      } catch (err) {
        this.logger.warn({ err, uid, retries: queue.numRequeues(uid) }, 'garbage collector: will retry');
        queue.addRateLimited(uid);
      } finally {
        queue.done(uid);
      }
    }
  }

  /** Decides the fate of one object: kube's attemptToDeleteItem. */
  private async attemptToDelete(uid: string): Promise<void> {
    const node = this.graph.node(uid);
    if (!node) return; // deleted meanwhile: its delete event was handled
    if (node.beingDeleted && !node.deletingDependents) return; // someone is deleting it already
    if (!node.deletingDependents && this.graph.ownersLookSolid(node)) return;
    const latest = await this.ops.getLatest(node.identity);
    if (!latest) return this.graph.forget(uid); // gone, or recreated under a new uid
    if (latest.metadata?.deletionTimestamp && hasFinalizer(latest, FOREGROUND_FINALIZER)) return this.processDeletingDependents(node, latest);
    const refs = latest.metadata?.ownerReferences ?? [];
    if (refs.length === 0) return;

    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of refs) {
      const state = await this.ownerState(ref, node.identity);
      if (state === 'invalid') {
        this.events.event(latest, 'Warning', 'OwnerRefInvalidNamespace', `ownerRef [${ref.apiVersion}/${ref.kind}, name: ${ref.name}, uid: ${ref.uid}] is namespaced: a cluster-scoped object cannot have a namespaced owner`);
        return; // retrying cannot fix it (as kube)
      }
      if (state === 'absent') this.reportOtherNamespace(latest, ref);
      (state === 'solid' ? solid : state === 'waiting' ? waiting : dangling).push(ref);
    }
    const identity = identityOf(latest);
    if (solid.length > 0) {
      // Another owner keeps it: it only loses the references to the gone and the leaving ones.
      if (dangling.length + waiting.length === 0) return;
      this.logger.debug({ object: describe(identity), owners: [...dangling, ...waiting].map((r) => r.uid) }, 'garbage collector: removing references to owners that are going');
      return this.ops.removeOwnerReferences(identity, [...dangling, ...waiting].map((r) => r.uid));
    }
    const dependents = this.graph.dependentsOf(uid);
    if (waiting.length > 0 && dependents.length > 0) {
      // An owner waits for it, and it has dependents of its own: delete it in the foreground too.
      // A dependent already waiting for its own dependents could wait for it in a cycle: unblock.
      if (dependents.some((dep) => dep.deletingDependents)) await this.ops.unblockOwnerReferences(identity);
      return this.deleteObject(identity, 'Foreground');
    }
    const policy: PropagationPolicy = hasFinalizer(latest, ORPHAN_FINALIZER) ? 'Orphan' : hasFinalizer(latest, FOREGROUND_FINALIZER) ? 'Foreground' : 'Background';
    return this.deleteObject(identity, policy);
  }

  /** An owner deleting its dependents in the foreground: done once no dependent blocks it. */
  private async processDeletingDependents(node: GraphNode, latest: KubeObject): Promise<void> {
    const blocking = this.graph.blockingDependentsOf(node.identity.uid);
    if (blocking.length === 0) {
      this.logger.debug({ object: describe(node.identity) }, 'garbage collector: no blocking dependents left; removing the foregroundDeletion finalizer');
      return this.ops.removeFinalizer(identityOf(latest), FOREGROUND_FINALIZER);
    }
    // Their deletion events bring this owner back here.
    for (const dep of blocking) if (!dep.deletingDependents) this.deleteQueue.add(dep.identity.uid);
  }

  /** An owner being deleted with the orphan finalizer: kube's attemptToOrphanWorker. */
  private async attemptToOrphan(uid: string): Promise<void> {
    const node = this.graph.node(uid);
    if (!node) return;
    const latest = await this.ops.getLatest(node.identity);
    if (!latest?.metadata?.deletionTimestamp || !hasFinalizer(latest, ORPHAN_FINALIZER)) return;
    const failures: unknown[] = [];
    for (const dep of this.graph.dependentsOf(uid)) {
      await this.ops.removeOwnerReferences(dep.identity, [uid]).catch((err: unknown) => failures.push(err));
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `orphaning the dependents of ${describe(node.identity)}: ${failures.length} failed`);
    }
    this.logger.debug({ object: describe(node.identity) }, 'garbage collector: dependents orphaned; removing the orphan finalizer');
    await this.ops.removeFinalizer(node.identity, ORPHAN_FINALIZER);
  }

  /** What an ownerReference of `dependent` points at, asking the source (absent owners are remembered). */
  private async ownerState(ref: OwnerReference, dependent: ObjectIdentity): Promise<OwnerState> {
    const info = this.kinds.resolve(ref.apiVersion, ref.kind);
    if (!info) throw new Error(`the owner ${ref.kind} ${ref.name} (${ref.apiVersion}) of ${describe(dependent)} is of a kind the source does not serve`);
    if (info.namespaced && !dependent.namespace) return 'invalid';
    const namespace = info.namespaced ? dependent.namespace : '';
    const key = JSON.stringify([ref.uid, groupKind(ref.apiVersion, ref.kind), namespace, ref.name]);
    if (this.absentOwners.has(key)) return 'absent';
    const owner = await this.ops.get(apiVersionOf(info), info.kind, ref.name, namespace);
    if (owner?.metadata?.uid !== ref.uid) {
      this.rememberAbsent(key);
      return 'absent';
    }
    return owner.metadata?.deletionTimestamp && hasFinalizer(owner, FOREGROUND_FINALIZER) ? 'waiting' : 'solid';
  }

  private rememberAbsent(key: string): void {
    this.absentOwners.add(key);
    if (this.absentOwners.size > ABSENT_OWNERS_REMEMBERED) this.absentOwners.delete(this.absentOwners.values().next().value!);
  }

  /** An owner absent from the dependent's namespace but seen in another: say why it does not count. */
  private reportOtherNamespace(dependent: KubeObject, ref: OwnerReference): void {
    const owner = this.graph.node(ref.uid)?.identity;
    const namespace = dependent.metadata?.namespace ?? '';
    if (!owner?.namespace || owner.namespace === namespace) return;
    this.events.event(
      dependent,
      'Warning',
      'OwnerRefInvalidNamespace',
      `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: ${namespace}, name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace "${namespace}"`,
    );
  }

  private async deleteObject(identity: ObjectIdentity, policy: PropagationPolicy): Promise<void> {
    this.logger.debug({ object: describe(identity), propagationPolicy: policy }, 'garbage collector: deleting an object whose owners are gone');
    await this.ops.delete(identity, policy);
  }
}

function describe(identity: ObjectIdentity): string {
  return `${identity.kind} ${identity.namespace ? `${identity.namespace}/` : ''}${identity.name} (uid ${identity.uid})`;
}
