/**
 * Cached reads, as controller-runtime's cache and client: an {@link InformerCache} holds one
 * shared {@link Informer} per kind and selection for every controller of a manager, and the
 * {@link CachedClient} answers `get` and `list` of a kind from its synced informer's Indexer —
 * deep copies, so callers may change what they read — while every other read, every write and
 * every watch goes to the source (`delegate`).
 *
 * A cached read may lag the source by the time an event takes to arrive; a reconciler that must
 * read its own writes uses the uncached reader (ApiReader), as with controller-runtime.
 */
import { badRequest, notFound, timeout, type Status } from '../api/errors.js';
import { FieldSelector, parseFieldSelector, validateFieldSelector } from '../api/fields.js';
import { parseLabelSelector, selectorFromObject } from '../api/labels.js';
import type { KubeList, KubeObject, WatchEvent } from '../api/meta.js';
import { defineResource, gvkOf, parseApiVersion, resourceInfoOf, type KindRef, type ResourceInfo } from '../api/resources.js';
import type { Client, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, WatchOptions, WriteOptions } from '../client/client.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { BackoffOptions } from '../util/backoff.js';
import { FIELD_INDEX_PREFIX, metaNamespaceKey } from './cache.js';
import { Informer, type InformerLogger, type InformerSelection } from './informer.js';

/** A kind's `{ apiVersion, kind }`. */
export interface GroupVersionKind {
  apiVersion: string;
  kind: string;
}

/** Finds the informer that can answer a read of a kind (in `namespace`, when the read names one). */
export type InformerLookup = (gvk: GroupVersionKind, namespace?: string) => Informer | undefined;

/** What the cached client needs to know about a kind beyond its apiVersion and kind. */
export type KindFacts = Partial<Pick<ResourceInfo, 'plural' | 'namespaced' | 'listKind'>>;

/** Options of a {@link CachedClient}. */
export interface CachedClientOptions {
  /** The source: uncached reads, writes and watches. */
  delegate: Client;
  /** The informers to read from: an {@link InformerCache} or a lookup function. */
  informers: InformerCache | InformerLookup;
  /**
   * Facts about kinds named by a literal `{ apiVersion, kind }` (a resource class carries its
   * own): the plural for 404s, whether the kind is namespaced, its list kind. E.g. over a
   * StoreClient: `(gvk) => client.registry.types.forKind(gvk.apiVersion, gvk.kind)`.
   */
  resourceInfoFor?: (gvk: GroupVersionKind) => KindFacts | undefined;
  /** Just the plural (when `resourceInfoFor` is not given); default: lower-case kind + `s`. */
  pluralFor?: (gvk: GroupVersionKind) => string | undefined;
  /** Hand out the cache's shared, frozen objects instead of deep copies (controller-runtime's UnsafeDisableDeepCopy). */
  unsafeDisableDeepCopy?: boolean;
}

/** A {@link Client} whose reads of informed kinds come from the cache (controller-runtime's delegating client). */
export class CachedClient implements Client {
  private readonly delegate: Client;

  constructor(private readonly options: CachedClientOptions) {
    this.delegate = options.delegate;
  }

  /** From the cache when a synced informer covers the kind (404 as the source words it); else from the source. */
  async get<T extends KubeObject>(kind: KindRef<T>, name: string, options: GetOptions = {}): Promise<T> {
    const informer = this.informerFor(kind, options.namespace);
    const facts = this.facts(kind);
    // Cases the source answers with an error of its own (no name, no namespace) go to the source.
    if (!informer || !name || (facts.namespaced && !options.namespace)) return this.delegate.get(kind, name, options);
    const namespace = facts.namespaced === false ? undefined : options.namespace;
    let found = informer.indexer.get(namespace, name);
    // A literal kind ref may name a cluster-scoped kind with a namespace, which the source ignores.
    if (!found && namespace && facts.namespaced === undefined) {
      const bare = informer.indexer.get(undefined, name);
      if (bare && !bare.metadata?.namespace) found = bare;
    }
    if (!found) throw notFound({ group: parseApiVersion(gvkOf(kind).apiVersion).group, resource: facts.plural! }, name);
    return this.copy(found as T);
  }

  /**
   * From the cache when a synced informer covers the kind: namespace, label and field selectors
   * apply; `limit`/`continue` are ignored (every item, no continue token, as controller-runtime).
   */
  async list<T extends KubeObject>(kind: KindRef<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    const informer = this.informerFor(kind, options.namespace);
    if (!informer) return this.delegate.list(kind, options);
    const gvk = gvkOf(kind);
    const facts = this.facts(kind);
    const namespace = facts.namespaced === false ? undefined : options.namespace || undefined;
    const fieldSelector = options.fieldSelector ? this.checkedFields(kind, informer, options.fieldSelector) : undefined;
    const items = informer.indexer.list({
      ...(namespace !== undefined ? { namespace } : {}),
      ...(options.labelSelector !== undefined ? { labelSelector: options.labelSelector } : {}),
      ...(fieldSelector ? { fieldSelector } : {}),
    });
    return {
      apiVersion: gvk.apiVersion,
      kind: facts.listKind ?? `${gvk.kind}List`,
      metadata: { resourceVersion: informer.lastSyncResourceVersion },
      items: sortedByKey(items).map((obj) => this.copy(obj as T)),
    };
  }

  /**
   * The cached objects an index holds under `value` (e.g. `listByIndex(Pod, 'field:spec.nodeName', 'n1')`).
   * Only the cache can answer: 400 when no synced informer covers the kind or the index does not exist.
   */
  listByIndex<T extends KubeObject>(kind: KindRef<T>, indexName: string, value: string): T[] {
    const informer = this.informerFor(kind, undefined);
    if (!informer) {
      const { apiVersion, kind: kindName } = gvkOf(kind);
      throw badRequest(`no synced informer for ${kindName} (${apiVersion}): listByIndex reads only from the cache`);
    }
    return sortedByKey(informer.indexer.byIndex(indexName, value)).map((obj) => this.copy(obj as T));
  }

  /** Always the source. */
  watch<T extends KubeObject>(kind: KindRef<T>, options?: WatchOptions): AsyncIterableIterator<WatchEvent<T>> {
    return this.delegate.watch(kind, options);
  }

  /** Always the source. */
  create<T extends KubeObject>(obj: T, options?: CreateOptions): Promise<T> {
    return this.delegate.create(obj, options);
  }

  /** Always the source. */
  update<T extends KubeObject>(obj: T, options?: WriteOptions): Promise<T> {
    return this.delegate.update(obj, options);
  }

  /** Always the source. */
  updateStatus<T extends KubeObject>(obj: T, options?: WriteOptions): Promise<T> {
    return this.delegate.updateStatus(obj, options);
  }

  /** Always the source. */
  patch<T extends KubeObject>(kind: KindRef<T>, name: string, patch: unknown, options?: PatchOptions): Promise<T> {
    return this.delegate.patch(kind, name, patch, options);
  }

  /** Always the source. */
  delete<T extends KubeObject>(kind: KindRef<T>, name: string, options?: DeleteOptions): Promise<T | Status> {
    return this.delegate.delete(kind, name, options);
  }

  /** Closes the delegate (the informers belong to their InformerCache, which stops them). */
  /** Discovery, from the source. */
  serverResources(): Promise<ResourceInfo[]> {
    return this.delegate.serverResources ? this.delegate.serverResources() : Promise.resolve([]);
  }

  close(): Promise<void> {
    return this.delegate.close();
  }

  /** The running, synced informer that covers reads of `kind` (in `namespace`), if any. */
  private informerFor(kind: KindRef, namespace: string | undefined): Informer | undefined {
    const gvk = gvkOf(kind);
    const informers = this.options.informers;
    const informer = typeof informers === 'function' ? informers(gvk, namespace) : informers.lookup(gvk, namespace);
    return informer?.isRunning && informer.hasSynced() ? informer : undefined;
  }

  private facts(kind: KindRef): KindFacts & { plural: string } {
    const gvk = gvkOf(kind);
    const known = resourceInfoOf(kind) ?? this.options.resourceInfoFor?.(gvk);
    const plural = known?.plural ?? this.options.pluralFor?.(gvk) ?? defineResource({ version: 'v1', kind: gvk.kind }).plural;
    return { ...known, plural };
  }

  /**
   * The field selector with kube's checks for terms no `field:` index covers: an unsupported
   * field is the source's 400 (`field label not supported: …`), legacy labels are converted.
   */
  private checkedFields(kind: KindRef, informer: Informer, text: string): FieldSelector {
    const selector = parseFieldSelector(text);
    const group = parseApiVersion(gvkOf(kind).apiVersion).group;
    const namespaced = this.facts(kind).namespaced;
    const fieldKind = { group, kind: gvkOf(kind).kind, ...(namespaced !== undefined ? { namespaced } : {}) };
    return selector.transform((field, value) => {
      if (informer.indexer.hasIndex(FIELD_INDEX_PREFIX + field)) return { field, value };
      const [converted] = validateFieldSelector(fieldKind, new FieldSelector([{ field, operator: '=', value }])).requirements;
      return { field: converted!.field, value };
    });
  }

  private copy<T>(obj: T): T {
    return this.options.unsafeDisableDeepCopy ? obj : structuredClone(obj);
  }
}

function sortedByKey<T extends KubeObject>(items: T[]): T[] {
  return items
    .map((obj) => ({ key: metaNamespaceKey(obj), obj }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ obj }) => obj);
}

/** Defaults for every informer an {@link InformerCache} creates. */
export interface InformerCacheOptions {
  clock?: Clock;
  logger?: InformerLogger;
  /** Default resync period of informers (0 = off, the default). */
  resyncPeriodMs?: number;
  pageSize?: number;
  backoff?: BackoffOptions;
}

/**
 * One informer per kind and selection (apiVersion + kind + namespace + selectors), shared by all
 * controllers of a manager (controller-runtime's informer cache, client-go's SharedInformerFactory).
 */
export class InformerCache {
  private readonly byKey = new Map<string, Informer>();
  private readonly stopController = new AbortController();
  private state: 'new' | 'started' | 'stopped' = 'new';
  private readonly clock: Clock;

  constructor(
    private readonly client: Client,
    private readonly defaults: InformerCacheOptions = {},
  ) {
    this.clock = defaults.clock ?? systemClock;
  }

  /**
   * The shared informer for `kind` and this selection, created on first request (and started at
   * once if the cache runs). The resync period of the first request wins.
   */
  informerFor<T extends KubeObject>(kind: KindRef<T>, options: InformerSelection & { resyncPeriodMs?: number } = {}): Informer<T> {
    const key = selectionKey(gvkOf(kind), options);
    let informer = this.byKey.get(key) as Informer<T> | undefined;
    if (!informer) {
      const { clock, logger, pageSize, backoff } = this.defaults;
      const resyncPeriodMs = options.resyncPeriodMs ?? this.defaults.resyncPeriodMs;
      informer = new Informer<T>(this.client, kind, {
        ...(options.namespace ? { namespace: options.namespace } : {}),
        ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
        ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
        ...(resyncPeriodMs !== undefined ? { resyncPeriodMs } : {}),
        ...(clock ? { clock } : {}),
        ...(logger ? { logger } : {}),
        ...(pageSize !== undefined ? { pageSize } : {}),
        ...(backoff ? { backoff } : {}),
      });
      this.byKey.set(key, informer as unknown as Informer);
      if (this.state === 'started') informer.start(this.stopController.signal);
      if (this.state === 'stopped') void informer.stop();
    }
    return informer;
  }

  /**
   * The informer that can answer a read of `gvk`: the one over all namespaces without selectors,
   * else (for a read in `namespace`) the one over exactly that namespace without selectors; a
   * synced one is preferred.
   */
  lookup(gvk: GroupVersionKind, namespace?: string): Informer | undefined {
    const candidates = [this.byKey.get(selectionKey(gvk, {})), namespace ? this.byKey.get(selectionKey(gvk, { namespace })) : undefined].filter(
      (i): i is Informer => i !== undefined,
    );
    return candidates.find((i) => i.hasSynced()) ?? candidates[0];
  }

  /** Every informer created so far. */
  informers(): Informer[] {
    return [...this.byKey.values()];
  }

  /** Starts every informer, and each one requested later; `signal` (or {@link stop}) stops them all. */
  start(signal?: AbortSignal): void {
    if (this.state !== 'new') return;
    this.state = 'started';
    if (signal) {
      if (signal.aborted) return void this.stop();
      signal.addEventListener('abort', () => void this.stop(), { once: true, signal: this.stopController.signal });
    }
    for (const informer of this.byKey.values()) informer.start(this.stopController.signal);
  }

  /**
   * Resolves once every informer created so far has synced; rejects with a 504 Timeout naming
   * the kinds that did not sync within `timeoutMs`, or at once if the cache is stopped first.
   */
  async waitForSync(timeoutMs: number): Promise<void> {
    const all = this.informers();
    if (all.every((i) => i.hasSynced())) return;
    const giveUp = new AbortController();
    const timer = this.clock.setTimeout(() => giveUp.abort(), timeoutMs);
    try {
      const results = await Promise.all(all.map((i) => i.waitForSync(giveUp.signal)));
      if (results.every(Boolean)) return;
    } finally {
      timer.cancel();
    }
    const unsynced = all.filter((i) => !i.hasSynced()).map((i) => i.description);
    const why = this.state === 'stopped' ? 'the cache was stopped' : `timed out after ${timeoutMs} ms`;
    throw timeout(`caches did not sync (${why}): ${unsynced.join(', ')}`);
  }

  /** Stops every informer; resolves once all have exited. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.stopController.abort();
    await Promise.all(this.informers().map((i) => i.stop()));
  }
}

/** The identity of an informer: kind plus canonical selection. */
function selectionKey(gvk: GroupVersionKind, selection: InformerSelection): string {
  const labels =
    selection.labelSelector === undefined || selection.labelSelector === ''
      ? ''
      : (typeof selection.labelSelector === 'string' ? parseLabelSelector(selection.labelSelector) : selectorFromObject(selection.labelSelector)).toString();
  const fields = selection.fieldSelector ? parseFieldSelector(selection.fieldSelector).toString() : '';
  return [gvk.apiVersion, gvk.kind, selection.namespace ?? '', labels, fields].join('\u0000');
}
