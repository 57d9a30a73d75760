/**
 * Namespace deletion: the namespace strategy's delete semantics, the `/finalize` subresource and
 * the namespace controller — what kube-apiserver's namespace storage and kube-controller-manager's
 * namespace controller do together (the admission side is admission/namespace-lifecycle.ts).
 *
 * Deleting a namespace sets its `deletionTimestamp` and `status.phase: Terminating` in one write;
 * its `spec.finalizers` (`kubernetes` from creation on) keep it. The {@link NamespaceController}
 * then deletes every namespaced object in it (every served kind, custom kinds included), reports
 * progress in the namespace's conditions as kube does, waits for objects held by finalizers, and
 * finally removes `kubernetes` through {@link finalizeNamespace}; with no finalizer left the
 * namespace is gone.
 *
 * The Namespace strategy tells the registry that `spec.finalizers` hold a deleted namespace
 * (`holdsDeletion`), as `metadata.finalizers` hold any object.
 *
 * Like crds.ts, the controller lists and watches through the Registry: it works on every backend
 * and with several processes over one store (its writes are conditional; a conflict retries).
 */
import { ApiError, badRequest, conflict, invalid, isConflict, isNotFound, notFound, type Status } from '../api/errors.js';
import { validateNamespace } from '../api/kind-validation/misc.js';
import type { Namespace } from '../api/kinds.js';
import { formatTimestamp, type KubeObject } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';
import type { NamespaceCondition } from '../api/types/core.js';
import { isKVError } from '../storage/kv.js';
import { sleepWith, type TimerHandle } from '../util/clock.js';
import { decodeKeyValue, encodeObject } from './codec.js';
import { storageError } from './errors.js';
import { objectKey } from './keys.js';
import type { Registry } from './registry.js';
import { EVERYTHING } from './selection.js';

/** The spec finalizer the namespace controller owns. */
export const KUBERNETES_FINALIZER = 'kubernetes';

const NAMESPACES = { group: '', resource: 'namespaces' };
const MAX_RETRY_DELAY_MS = 30_000;
/** kube's estimate of how long objects held by finalizers take to go. */
const FINALIZER_ESTIMATE_SECONDS = 15;

/** The Namespace kind of a registry, if it serves one. */
export function namespaceInfo(registry: Registry): ResourceInfo | undefined {
  return registry.types.forKind('v1', 'Namespace');
}

// ---------------------------------------------------------------- strategy bits (builtin.ts)

/** kube's PrepareForCreate: a new namespace always carries the `kubernetes` spec finalizer. */
export function requireKubernetesFinalizer(ns: KubeObject): void {
  const spec = ((ns as Namespace).spec ??= {});
  if (!spec.finalizers?.includes(KUBERNETES_FINALIZER)) spec.finalizers = [...(spec.finalizers ?? []), KUBERNETES_FINALIZER];
}

/**
 * The first delete of a namespace (kube's namespace REST Delete): the phase turns `Terminating`
 * in the very write that sets `deletionTimestamp`.
 */
export function markNamespaceTerminating(ns: KubeObject): void {
  const namespace = ns as Namespace;
  namespace.status = { ...namespace.status, phase: 'Terminating' };
}

/** A deleted namespace stays while its spec finalizers remain. */
export function namespaceHoldsDeletion(ns: KubeObject): boolean {
  return ((ns as Namespace).spec?.finalizers?.length ?? 0) > 0;
}

// ---------------------------------------------------------------- /finalize

/**
 * `PUT namespaces/<name>/finalize`: writes `spec.finalizers` only (everything else stays as
 * stored). A `metadata.resourceVersion` or `uid` in `namespace` is a precondition (409 on
 * mismatch). A terminating namespace left without any finalizer is deleted by this write, as
 * kube's ShouldDeleteNamespaceDuringUpdate does.
 */
export async function finalizeNamespace(registry: Registry, namespace: Namespace, options: { dryRun?: boolean } = {}): Promise<{ object: Namespace; deleted: boolean }> {
  const info = namespaceInfo(registry);
  const name = namespace.metadata?.name;
  if (!info) throw new ApiError({ code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' });
  if (!name) throw badRequest('resource name may not be empty');
  const finalizers = [...new Set(namespace.spec?.finalizers ?? [])];
  const errors = validateNamespace({ spec: { finalizers } });
  if (errors.length > 0) throw invalid('Namespace', '', name, errors);
  const key = objectKey(info, undefined, name);
  const pinned = namespace.metadata?.resourceVersion;
  for (let attempt = 0; attempt < 64; attempt++) {
    const current = await registry.kv.get(key).catch((err: unknown) => Promise.reject(storageError(err)));
    if (!current) throw notFound(NAMESPACES, name);
    const stored = decodeKeyValue<Namespace>(current);
    const meta = stored.metadata!;
    if (pinned && pinned !== meta.resourceVersion) throw conflict(NAMESPACES, name);
    const uid = namespace.metadata?.uid;
    if (uid && uid !== meta.uid) throw conflict(NAMESPACES, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${meta.uid ?? ''}`);
    const next = structuredClone(stored);
    const nextMeta = next.metadata!;
    next.spec = { ...next.spec, finalizers };
    if (finalizers.length === 0) delete next.spec.finalizers;
    const deleteNow = !!nextMeta.deletionTimestamp && !nextMeta.finalizers?.length && finalizers.length === 0;
    if (options.dryRun) return { object: next, deleted: deleteNow };
    try {
      if (deleteNow) {
        await registry.kv.delete(key, current.modRevision);
        return { object: next, deleted: true };
      }
      const value = encodeObject(next);
      if (value === current.value) return { object: stored, deleted: false };
      return { object: decodeKeyValue<Namespace>(await registry.kv.update(key, value, current.modRevision)), deleted: false };
    } catch (err) {
      if (!pinned && (isKVError(err, 'conflict') || isKVError(err, 'not-found'))) continue;
      if (isKVError(err, 'conflict')) throw conflict(NAMESPACES, name);
      throw storageError(err, info, name);
    }
  }
  throw conflict(NAMESPACES, name, 'too many concurrent updates; please try again');
}

// ---------------------------------------------------------------- list & watch

/** What {@link listAndWatch} reports. */
export interface ListWatchHandler {
  /** The whole collection: at start, and again after every relist. */
  replace(items: KubeObject[]): void | Promise<void>;
  /** Each change after the list, in order. */
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void | Promise<void>;
  /** A failure about to be retried. */
  error?(err: unknown): void;
}

/** True once the registry's store has been closed (the owner of a loop should then stop). */
export async function storeClosed(registry: Registry): Promise<boolean> {
  try {
    await registry.kv.revision();
    return false;
  } catch (err) {
    return isKVError(err, 'closed');
  }
}

/**
 * Lists a kind through the registry, then watches it from the list's resourceVersion (client-go's
 * Reflector), relisting with backoff after any failure — until `signal` aborts or the store is
 * closed. Waits use the registry's clock and do not keep the process alive.
 */
export async function listAndWatch(registry: Registry, info: ResourceInfo, handler: ListWatchHandler, signal: AbortSignal, retryDelayMs = 200): Promise<void> {
  let delayMs = retryDelayMs;
  while (!signal.aborted) {
    try {
      const list = await registry.list(info, { predicate: EVERYTHING });
      delayMs = retryDelayMs;
      await handler.replace(list.items);
      for await (const event of registry.watch(info, { predicate: EVERYTHING, resourceVersion: list.metadata.resourceVersion ?? '0', signal })) {
        if (event.type === 'ERROR') throw ApiError.fromStatus(event.object as unknown as Status);
        if (event.type !== 'BOOKMARK') await handler.event(event.type, event.object);
      }
    } catch (err) {
      if (signal.aborted || (await storeClosed(registry))) return;
      handler.error?.(err);
      await sleepWith(registry.clock, delayMs, signal).catch(() => undefined);
      delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS);
      continue;
    }
    // The watch ended without an error: the store closed, or the stream ended; relist.
    if (signal.aborted || (await storeClosed(registry))) return;
    await sleepWith(registry.clock, retryDelayMs, signal).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the controller

/** Options of {@link NamespaceController}. */
export interface NamespaceControllerOptions {
  /**
   * Wait before looking again at a namespace whose content is still going away. Default: kube's,
   * half the estimate (the longest pod grace period, or 15 s for objects held by finalizers) plus 1 s.
   */
  recheckDelayMs?: number;
  /** First delay before retrying after a failure (default 200 ms, doubling up to 30 s). */
  retryDelayMs?: number;
  /** Called with every failure the controller retries (conflicts excepted). */
  onError?: (err: unknown, namespace?: string) => void;
}

/** What deleting a namespace's content found. */
interface ContentReport {
  /** Seconds the remaining content is expected to take (0: nothing expected to remain). */
  estimateSeconds: number;
  /** `<resource>.<group>` → objects left. */
  remaining: Map<string, number>;
  /** finalizer → objects it holds. */
  finalizers: Map<string, number>;
  errors: string[];
}

/** Deletes the content of terminating namespaces, then finalizes them (kube's namespace controller). */
export class NamespaceController {
  /** The last failure reported (retried), for diagnosis. */
  lastError: unknown;
  private readonly info: ResourceInfo | undefined;
  private readonly retryDelayMs: number;
  private readonly queued = new Set<string>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly failures = new Map<string, number>();
  private tail: Promise<void> = Promise.resolve();
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: NamespaceControllerOptions = {},
  ) {
    this.info = namespaceInfo(registry);
    this.retryDelayMs = options.retryDelayMs ?? 200;
  }

  /** Starts watching namespaces (idempotent); stops by itself when the store is closed. */
  start(): void {
    if (this.running || !this.info) return;
    const abort = (this.abort = new AbortController());
    const handler: ListWatchHandler = {
      replace: (items) => items.forEach((ns) => this.observe(ns)),
      event: (type, ns) => {
        if (type !== 'DELETED') this.observe(ns);
      },
      error: (err) => this.report(err),
    };
    this.running = listAndWatch(this.registry, this.info, handler, abort.signal, this.retryDelayMs);
  }

  /** Stops watching and waits for the namespace being processed. */
  async stop(): Promise<void> {
    this.abort?.abort();
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
    await this.running;
    await this.tail;
  }

  private observe(ns: KubeObject): void {
    if (ns.metadata?.deletionTimestamp) this.enqueue(ns.metadata.name ?? '');
  }

  /** Queues a namespace at most once; namespaces are processed one at a time. */
  private enqueue(name: string): void {
    if (this.queued.has(name) || this.abort?.signal.aborted) return;
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
    this.queued.add(name);
    this.tail = this.tail
      .then(async () => {
        this.queued.delete(name);
        if (!this.abort?.signal.aborted) await this.process(name);
      })
      .catch(() => undefined);
  }

  private enqueueAfter(name: string, delayMs: number): void {
    if (this.abort?.signal.aborted) return;
    this.timers.get(name)?.cancel();
    this.timers.set(
      name,
      this.registry.clock.setTimeout(() => {
        this.timers.delete(name);
        this.enqueue(name);
      }, delayMs),
    );
  }

  private async process(name: string): Promise<void> {
    try {
      const remainingSeconds = await this.sync(name);
      this.failures.delete(name);
      if (remainingSeconds > 0) this.enqueueAfter(name, this.options.recheckDelayMs ?? (Math.floor(remainingSeconds / 2) + 1) * 1000);
    } catch (err) {
      if (isNotFound(err) || (await storeClosed(this.registry))) return;
      if (isConflict(err)) return this.enqueue(name);
      this.report(err, name);
      const delayMs = Math.min((this.failures.get(name) ?? this.retryDelayMs / 2) * 2, MAX_RETRY_DELAY_MS);
      this.failures.set(name, delayMs);
      this.enqueueAfter(name, delayMs);
    }
  }

  private report(err: unknown, namespace?: string): void {
    this.lastError = err;
    this.options.onError?.(err, namespace);
  }

  /** One pass over a terminating namespace; returns the seconds its remaining content should take. */
  private async sync(name: string): Promise<number> {
    const info = this.info!;
    let ns = await this.registry.get<Namespace>(info, undefined, name);
    if (!ns.metadata?.deletionTimestamp) return 0;
    if (ns.status?.phase !== 'Terminating') ns = await this.writeStatus(ns, { ...ns.status, phase: 'Terminating' });
    if (!ns.spec?.finalizers?.includes(KUBERNETES_FINALIZER)) return 0;
    const report = await this.deleteContent(name);
    ns = await this.writeStatus(ns, { ...ns.status, conditions: updatedConditions(ns.status?.conditions ?? [], report, formatTimestamp(this.registry.clock.now())) });
    if (report.errors.length > 0) throw new Error(`namespace ${name}: ${report.errors.join(', ')}`);
    if (report.estimateSeconds > 0) return report.estimateSeconds;
    const finalizers = ns.spec!.finalizers!.filter((f) => f !== KUBERNETES_FINALIZER);
    await finalizeNamespace(this.registry, { ...ns, spec: { ...ns.spec, finalizers } });
    return 0;
  }

  private async writeStatus(ns: Namespace, status: Namespace['status']): Promise<Namespace> {
    if (JSON.stringify(status) === JSON.stringify(ns.status)) return ns;
    const { object } = await this.registry.update(this.info!, { ...ns, status }, { subresource: 'status' });
    return object as Namespace;
  }

  /** Every served namespaced kind that can be listed and deleted, once per resource. */
  private contentKinds(): ResourceInfo[] {
    const kinds = new Map<string, ResourceInfo>();
    for (const info of this.registry.types.all()) {
      const resource = `${info.plural}.${info.group}`;
      if (info.namespaced && info.verbs.includes('delete') && info.verbs.includes('list') && !kinds.has(resource)) kinds.set(resource, info);
    }
    return [...kinds.values()];
  }

  /** kube's deleteAllContent: delete each kind's collection, then count what is left and why. */
  private async deleteContent(namespace: string): Promise<ContentReport> {
    const report: ContentReport = { estimateSeconds: 0, remaining: new Map(), finalizers: new Map(), errors: [] };
    for (const info of this.contentKinds()) {
      try {
        const all = { namespace, predicate: EVERYTHING };
        const estimate = info.group === '' && info.kind === 'Pod' ? podGraceEstimate((await this.registry.list(info, all)).items) : 0;
        if (info.verbs.includes('deletecollection')) {
          await this.registry.deleteCollection(info, all, { propagationPolicy: 'Background' });
        } else {
          for (const item of (await this.registry.list(info, all)).items) {
            await this.registry.delete(info, namespace, item.metadata!.name!, { propagationPolicy: 'Background' }).catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
          }
        }
        const left = (await this.registry.list(info, all)).items;
        if (left.length === 0) continue;
        report.remaining.set(`${info.plural}.${info.group}`, left.length);
        let held = false;
        for (const item of left) {
          for (const finalizer of item.metadata?.finalizers ?? []) {
            report.finalizers.set(finalizer, (report.finalizers.get(finalizer) ?? 0) + 1);
            held = true;
          }
        }
        if (estimate > 0 || held) report.estimateSeconds = Math.max(report.estimateSeconds, estimate > 0 ? estimate : FINALIZER_ESTIMATE_SECONDS);
        else report.errors.push(`unexpected items still remain in namespace: ${namespace} for gvr: {${info.group} ${info.version} ${info.plural}}`);
      } catch (err) {
        report.errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    return report;
  }
}

/** kube's estimate for pods: the longest grace period of those not yet finished. */
function podGraceEstimate(pods: KubeObject[]): number {
  let estimate = 0;
  for (const pod of pods as { spec?: { terminationGracePeriodSeconds?: number }; status?: { phase?: string } }[]) {
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    estimate = Math.max(estimate, pod.spec?.terminationGracePeriodSeconds ?? 0);
  }
  return estimate;
}

/** The condition types the controller maintains, with their "all is well" reason and message. */
const CONDITIONS: [type: string, okReason: string, okMessage: string][] = [
  ['NamespaceDeletionDiscoveryFailure', 'ResourcesDiscovered', 'All resources successfully discovered'],
  ['NamespaceDeletionGroupVersionParsingFailure', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
  ['NamespaceDeletionContentFailure', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
  ['NamespaceContentRemaining', 'ContentRemoved', 'All content successfully removed'],
  ['NamespaceFinalizersRemaining', 'ContentRemoved', 'All content successfully removed'],
];

/** kube's namespaceConditionUpdater: the failing conditions from a report, the others "ok". */
function updatedConditions(current: NamespaceCondition[], report: ContentReport, now: string): NamespaceCondition[] {
  const failing = new Map<string, Pick<NamespaceCondition, 'reason' | 'message'>>();
  const listed = (counts: Map<string, number>, format: (key: string, n: number) => string) =>
    [...counts].map(([key, n]) => format(key, n)).sort().join(', ');
  if (report.errors.length > 0) {
    const messages = [...report.errors].sort().join(', ');
    failing.set('NamespaceDeletionContentFailure', { reason: 'ContentDeletionFailed', message: `Failed to delete all resource types, ${report.errors.length} remaining: ${messages}` });
  }
  if (report.remaining.size > 0) {
    const message = `Some resources are remaining: ${listed(report.remaining, (r, n) => `${r} has ${n} resource instances`)}`;
    failing.set('NamespaceContentRemaining', { reason: 'SomeResourcesRemain', message });
  }
  if (report.finalizers.size > 0) {
    const message = `Some finalizers are remaining: ${listed(report.finalizers, (f, n) => `${f} in ${n} resource instances`)}`;
    failing.set('NamespaceFinalizersRemaining', { reason: 'SomeFinalizerRemain', message });
  }
  const conditions = structuredClone(current);
  for (const [type, okReason, okMessage] of CONDITIONS) {
    const wanted = failing.get(type);
    const next: NamespaceCondition = wanted ? { type, status: 'True', ...wanted } : { type, status: 'False', reason: okReason, message: okMessage };
    const old = conditions.find((c) => c.type === type);
    if (!old) conditions.push({ ...next, lastTransitionTime: now });
    else {
      if (old.status !== next.status) old.lastTransitionTime = now;
      Object.assign(old, { status: next.status, reason: next.reason, message: next.message });
    }
  }
  return conditions;
}
