/**
 * CustomResourceDefinitions: the controller that makes a {@link Registry} serve the kinds its
 * store's CRDs define — what apiextensions-apiserver's naming, establishing and finalizer
 * controllers and its custom-resource handler do together.
 *
 * It lists the CRDs through the registry, then watches them from the list's resourceVersion, so
 * it works on every backend and sees CRDs written by other processes sharing the store (relisting
 * after any watch failure). For each CRD it
 *
 * 1. adds the finalizer `customresourcecleanup.apiextensions.k8s.io` (kube adds it when the
 *    delete arrives; keelson's generic delete has no hook for that, so the controller adds it
 *    before the kind is first served — the cleanup flow is then the same);
 * 2. writes the status through `/status`: accepted names, `NamesAccepted`, `Established`,
 *    `storedVersions` (see crd-status.ts);
 * 3. registers one ResourceInfo per served version in `registry.types` (names from
 *    `status.acceptedNames`, scope, `status`/`scale` subresources, the version's schema — see
 *    custom-resource.ts), and unregisters versions no longer served;
 * 4. once the CRD is being deleted: refuses creates, sets `Terminating`, deletes every custom
 *    resource, waits until their own finalizers let them go, then removes its finalizer, so the
 *    CRD disappears and its kinds with it.
 *
 * Several processes may run the controller over one store: their writes are conditional on the
 * resourceVersion they read, a conflict means a newer event is on its way, and they compute the
 * same status.
 */
import { ApiError, isConflict, isNotFound, timeout, type Status } from '../api/errors.js';
import { BUILTIN_RESOURCES, type CustomResourceDefinition } from '../api/kinds.js';
import { formatTimestamp } from '../api/meta.js';
import { defineResource, type ResourceInfo } from '../api/resources.js';
import type { CustomResourceDefinitionStatus } from '../api/types/apiextensions.js';
import { isKVError } from '../storage/kv.js';
import type { TimerHandle } from '../util/clock.js';
import { CLEANUP_FINALIZER, isConditionTrue, isServed, namedStatus, namesInUse, sameStatus, setCondition } from './crd-status.js';
import { servedVersions } from './custom-resource.js';
import type { Registry } from './registry.js';
import { EVERYTHING } from './selection.js';

/** Options of {@link CustomResourceDefinitions}. */
export interface CustomResourceDefinitionsOptions {
  /** How often a terminating CRD checks that its custom resources are gone (default 1000 ms). */
  cleanupIntervalMs?: number;
  /** First delay before retrying after a failure (default 200 ms, doubling up to 30 s). */
  retryDelayMs?: number;
  /** Called with every failure the controller retries (conflicts excepted); default: none. */
  onError?: (err: unknown, crdName?: string) => void;
}

type CRD = CustomResourceDefinition;

const MAX_RETRY_DELAY_MS = 30_000;

/** What is registered for one CRD: the infos, and the CRD state they were built from. */
interface Served {
  fingerprint: string;
  infos: ResourceInfo[];
}

function nameOf(crd: CRD): string {
  return crd.metadata?.name ?? '';
}

function revisionOf(crd: CRD): number {
  return Number(crd.metadata?.resourceVersion ?? 0);
}

/** Serves the custom kinds defined by the CRDs in a registry's store. */
export class CustomResourceDefinitions {
  /** The last failure reported (retried), for diagnosis. */
  lastError: unknown;
  /** The CRD kind; a registry that does not serve it has no custom kinds either. */
  private readonly crdInfo: ResourceInfo | undefined;
  private readonly cache = new Map<string, CRD>();
  private readonly served = new Map<string, Served>();
  private readonly cleanups = new Map<string, Promise<void>>();
  private readonly retries = new Map<string, { timer: TimerHandle; delayMs: number }>();
  private readonly cleanupIntervalMs: number;
  private readonly retryDelayMs: number;
  private readonly onError: ((err: unknown, crdName?: string) => void) | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private markSynced!: () => void;
  private readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(
    private readonly registry: Registry,
    options: CustomResourceDefinitionsOptions = {},
  ) {
    this.crdInfo = registry.types.forKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
    this.cleanupIntervalMs = options.cleanupIntervalMs ?? 1000;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.onError = options.onError;
  }

  /**
   * Starts serving (idempotent). Resolves once the CRDs present at start are served (or the
   * first attempt to list them failed); never rejects — failures are retried with backoff until
   * {@link stop}, or until the store is closed.
   */
  start(): Promise<void> {
    if (!this.running) {
      this.abort = new AbortController();
      this.running = this.crdInfo ? this.run(this.crdInfo, this.abort.signal) : Promise.resolve(this.markSynced());
    }
    return this.synced;
  }

  /** Stops watching and cleaning up; the kinds served so far stay registered. */
  async stop(): Promise<void> {
    this.abort?.abort();
    for (const { timer } of this.retries.values()) timer.cancel();
    this.retries.clear();
    await this.running;
    await Promise.all(this.cleanups.values());
    await this.tail;
  }

  /** Resolves once the CRDs present at start are served, or the first attempt failed (see {@link start}). */
  waitForSync(): Promise<void> {
    return this.synced;
  }

  /**
   * Resolves with the kind's ResourceInfo as soon as it is served (at once if it is); rejects
   * with a 504 Timeout after `timeoutMs` of the registry's clock.
   */
  waitForKind(apiVersion: string, kind: string, timeoutMs = 10_000): Promise<ResourceInfo> {
    const types = this.registry.types;
    const found = types.forKind(apiVersion, kind);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const unsubscribe = types.onChange(() => {
        const info = types.forKind(apiVersion, kind);
        if (!info) return;
        timer.cancel();
        unsubscribe();
        resolve(info);
      });
      const timer = this.registry.clock.setTimeout(() => {
        unsubscribe();
        reject(timeout(`timed out after ${timeoutMs} ms waiting for kind "${kind}" of version "${apiVersion}" to be served`));
      }, timeoutMs);
    });
  }

  // ---------------------------------------------------------------- list & watch

  private async run(crdInfo: ResourceInfo, signal: AbortSignal): Promise<void> {
    let delayMs = this.retryDelayMs;
    while (!signal.aborted) {
      try {
        const list = await this.registry.list(crdInfo, { predicate: EVERYTHING });
        delayMs = this.retryDelayMs;
        const present = new Set<string>();
        for (const crd of list.items as CRD[]) {
          present.add(nameOf(crd));
          this.remember(crd);
        }
        for (const name of [...this.cache.keys()]) if (!present.has(name)) this.cache.delete(name);
        for (const name of new Set([...this.cache.keys(), ...this.served.keys()])) await this.enqueue(name);
        this.markSynced();
        const events = this.registry.watch(crdInfo, { predicate: EVERYTHING, resourceVersion: list.metadata.resourceVersion ?? '0', signal });
        for await (const event of events) {
          if (event.type === 'ERROR') throw ApiError.fromStatus(event.object as unknown as Status);
          if (event.type === 'BOOKMARK') continue;
          const crd = event.object as CRD;
          if (event.type === 'DELETED') this.cache.delete(nameOf(crd));
          else this.remember(crd);
          await this.enqueue(nameOf(crd));
        }
      } catch (err) {
        if (signal.aborted || (await this.storeClosed())) break;
        this.report(err);
        // A store that cannot be listed must not hang whoever waits for the first sync.
        this.markSynced();
        await this.registry.clock.sleep(delayMs, signal).catch(() => undefined);
        delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS);
        continue;
      }
      // The watch ended without an error: the store was closed, or the stream ended; relist.
      if (signal.aborted || (await this.storeClosed())) break;
      await this.registry.clock.sleep(this.retryDelayMs, signal).catch(() => undefined);
    }
    // Nobody waits forever for a sync that cannot happen any more.
    this.markSynced();
  }

  /** Keeps the newest version seen of a CRD (a write's answer may arrive before its event). */
  private remember(crd: CRD): void {
    const cached = this.cache.get(nameOf(crd));
    if (!cached || revisionOf(cached) <= revisionOf(crd)) this.cache.set(nameOf(crd), crd);
  }

  private async storeClosed(): Promise<boolean> {
    try {
      await this.registry.kv.revision();
      return false;
    } catch (err) {
      return isKVError(err, 'closed');
    }
  }

  /** Runs `fn` after every reconcile queued before it: one CRD write at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Reconciles a CRD, then the CRDs of its group still waiting for their names. */
  private enqueue(name: string): Promise<void> {
    return this.serial(async () => {
      const group = this.cache.get(name)?.spec?.group ?? this.served.get(name)?.infos[0]?.group;
      await this.reconcile(name);
      for (const [other, crd] of this.cache) {
        const waiting = !isConditionTrue(crd, 'NamesAccepted') && !crd.metadata?.deletionTimestamp;
        if (other !== name && crd.spec?.group === group && waiting) await this.reconcile(other);
      }
    });
  }

  // ---------------------------------------------------------------- reconcile

  private async reconcile(name: string): Promise<void> {
    this.retries.get(name)?.timer.cancel();
    try {
      const crd = this.cache.get(name);
      if (crd && !crd.metadata?.deletionTimestamp) await this.ensureStatus(crd);
      this.retries.delete(name);
    } catch (err) {
      this.failed(name, err);
    }
    const current = this.cache.get(name);
    this.serve(name, current);
    if (current?.metadata?.deletionTimestamp && current.metadata.finalizers?.includes(CLEANUP_FINALIZER)) this.startCleanup(name);
  }

  private failed(name: string, err: unknown): void {
    // A conflict or a vanished CRD means a newer event is on its way.
    if (isConflict(err) || isNotFound(err)) return;
    this.report(err, name);
    if (this.abort?.signal.aborted) return;
    const delayMs = Math.min((this.retries.get(name)?.delayMs ?? this.retryDelayMs / 2) * 2, MAX_RETRY_DELAY_MS);
    const timer = this.registry.clock.setTimeout(() => void this.enqueue(name), delayMs);
    this.retries.set(name, { timer, delayMs });
  }

  private report(err: unknown, crdName?: string): void {
    this.lastError = err;
    this.onError?.(err, crdName);
  }

  private async ensureStatus(crd: CRD): Promise<CRD> {
    const used = namesInUse(crd.spec?.group ?? '', this.cache.values(), BUILTIN_RESOURCES);
    const status = namedStatus(crd, used, formatTimestamp(this.registry.clock.now()));
    return this.writeStatus(crd, status);
  }

  private async writeStatus(crd: CRD, status: CustomResourceDefinitionStatus): Promise<CRD> {
    if (sameStatus(status, crd.status)) return crd;
    const { object } = await this.registry.update(this.crdInfo!, { ...crd, status }, { subresource: 'status' });
    this.remember(object as CRD);
    return object as CRD;
  }

  // ---------------------------------------------------------------- serving

  /** Registers the served versions of a CRD (and unregisters what it no longer serves). */
  private serve(name: string, crd: CRD | undefined): void {
    const servable = !!crd && isServed(crd);
    const fingerprint = servable ? JSON.stringify([crd.spec, crd.status?.acceptedNames, !!crd.metadata?.deletionTimestamp]) : '';
    const previous = this.served.get(name);
    if ((previous?.fingerprint ?? '') === fingerprint) return;
    const wanted = servable ? servedVersions(crd) : [];
    const same = (a: ResourceInfo, b: ResourceInfo) => a.group === b.group && a.version === b.version && a.plural === b.plural && a.kind === b.kind;
    for (const old of previous?.infos ?? []) {
      if (!wanted.some((info) => same(info, old))) this.registry.types.unregister(old.group, old.version, old.plural);
    }
    for (const info of wanted) this.registry.types.register(info);
    if (wanted.length > 0) this.served.set(name, { fingerprint, infos: wanted });
    else this.served.delete(name);
  }

  // ---------------------------------------------------------------- deletion

  private startCleanup(name: string): void {
    const signal = this.abort?.signal;
    if (this.cleanups.has(name) || !signal || signal.aborted) return;
    this.cleanups.set(
      name,
      this.cleanup(name, signal).finally(() => this.cleanups.delete(name)),
    );
  }

  /** kube's finalizer controller: delete every custom resource, wait until none is left, let the CRD go. */
  private async cleanup(name: string, signal: AbortSignal): Promise<void> {
    const crd = this.cache.get(name);
    if (!crd?.spec) return;
    const info = defineResource({
      group: crd.spec.group,
      version: crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name ?? '',
      kind: crd.spec.names.kind,
      plural: crd.spec.names.plural,
      namespaced: crd.spec.scope === 'Namespaced',
    });
    let started = false;
    while (!signal.aborted) {
      const current = this.cache.get(name);
      if (!current?.metadata?.deletionTimestamp || !current.metadata.finalizers?.includes(CLEANUP_FINALIZER)) return;
      try {
        if (!isConditionTrue(current, 'Established')) {
          await this.finish(name, 'NeverEstablished', 'resource was never established');
          return;
        }
        if (!started) await this.setTerminating(name, 'True', 'InstanceDeletionInProgress', 'CustomResource deletion is in progress');
        started = true;
        if ((await this.deleteInstances(name, info)) === 0) {
          await this.finish(name, 'InstanceDeletionCompleted', 'removed all instances');
          return;
        }
        await this.setTerminating(name, 'True', 'InstanceDeletionCheck', 'could not confirm zero CustomResources remaining: timed out waiting for the condition');
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) this.report(err, name);
      }
      await this.registry.clock.sleep(this.cleanupIntervalMs, signal).catch(() => undefined);
    }
  }

  /** Deletes the custom resources not yet being deleted; returns how many are left. */
  private async deleteInstances(name: string, info: ResourceInfo): Promise<number> {
    let items;
    try {
      items = (await this.registry.list(info, { predicate: EVERYTHING })).items;
    } catch (err) {
      await this.setTerminating(name, 'True', 'InstanceDeletionFailed', `could not list instances: ${(err as Error).message}`);
      throw err;
    }
    const failures: string[] = [];
    for (const item of items) {
      if (item.metadata?.deletionTimestamp) continue;
      try {
        await this.registry.delete(info, item.metadata?.namespace, item.metadata?.name ?? '');
      } catch (err) {
        if (!isNotFound(err)) failures.push((err as Error).message);
      }
    }
    if (failures.length > 0) {
      await this.setTerminating(name, 'True', 'InstanceDeletionFailed', `could not issue all deletes: ${failures.join(', ')}`);
    }
    return (await this.registry.list(info, { predicate: EVERYTHING, limit: 1 })).items.length;
  }

  private setTerminating(name: string, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    return this.serial(async () => {
      const crd = this.cache.get(name);
      if (!crd) return;
      const next = structuredClone(crd.status ?? {});
      setCondition(next, { type: 'Terminating', status, reason, message }, formatTimestamp(this.registry.clock.now()));
      await this.writeStatus(crd, next);
    });
  }

  /** Records the outcome in `Terminating` and removes the finalizer: the CRD is then deleted. */
  private async finish(name: string, reason: string, message: string): Promise<void> {
    await this.setTerminating(name, 'False', reason, message);
    await this.serial(async () => {
      const crd = this.cache.get(name);
      if (!crd?.metadata?.finalizers?.includes(CLEANUP_FINALIZER)) return;
      const next = structuredClone(crd);
      next.metadata!.finalizers = crd.metadata.finalizers.filter((f) => f !== CLEANUP_FINALIZER);
      const { object } = await this.registry.update(this.crdInfo!, next);
      if ((object as CRD).metadata?.finalizers?.length) this.remember(object as CRD);
    });
  }
}
