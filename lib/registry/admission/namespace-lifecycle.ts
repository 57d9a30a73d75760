/**
 * NamespaceLifecycle — kube-apiserver's admission plugin of that name, plus the namespaces that
 * exist from the start:
 *
 * - a namespaced object cannot be created or updated in a namespace that does not exist
 *   (`404 namespaces "x" not found`), nor created in one being terminated (`403 … unable to
 *   create new content in namespace x because it is being terminated`); deletes always pass, and
 *   so do Namespaces themselves and cluster-scoped kinds;
 * - the immortal namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease`) cannot be
 *   deleted (`403 … this namespace may not be deleted`).
 *
 * The check is cheap: the plugin keeps the namespaces in a cache it lists and watches through the
 * registry (so it sees other processes' namespaces too), and reads the store directly on a cache
 * miss — a namespace created a moment ago, here or elsewhere, is found — and for 30 s after a
 * namespace was deleted through this registry, when the cache may still call it Active.
 */
import { forbidden, isAlreadyExists, isNotFound } from '../../api/errors.js';
import type { Namespace } from '../../api/kinds.js';
import type { KubeObject } from '../../api/meta.js';
import type { ResourceInfo } from '../../api/resources.js';
import { sleepWith } from '../../util/clock.js';
import { listAndWatch, namespaceInfo, storeClosed } from '../namespaces.js';
import { groupResource, type AdmissionAttributes, type AdmissionPlugin, type Registry } from '../registry.js';

/** The namespaces that exist from the start (kube-apiserver creates the same four). */
export const SYSTEM_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** How long a deleted namespace is looked up in the store rather than in the cache (kube's forceLiveLookupTTL). */
const FORCE_LIVE_LOOKUP_MS = 30_000;
const MAX_RETRY_DELAY_MS = 30_000;
const NAMESPACES = { group: '', resource: 'namespaces' };

/** Options of {@link NamespaceLifecycle}. */
export interface NamespaceLifecycleOptions {
  /**
   * Namespaces that may never be deleted (default: {@link SYSTEM_NAMESPACES}; kube's plugin spares
   * `default`, `kube-system` and `kube-public` only — keelson keeps `kube-node-lease` too, where
   * node agents renew their Leases).
   */
  immortalNamespaces?: readonly string[];
  /**
   * Resolves once the namespaces bootstrapped with the registry exist (see {@link ensureNamespaces});
   * writes of namespaced objects wait for it, so `default` is usable from the first request.
   */
  ready?: Promise<unknown>;
  /** First delay before relisting after a watch failure (default 200 ms, doubling up to 30 s). */
  retryDelayMs?: number;
}

function isNamespaceKind(info: ResourceInfo): boolean {
  return info.group === '' && info.kind === 'Namespace';
}

/** The name kube's admission errors use: the generateName when the name was generated from it. */
function requestedName(obj: KubeObject): string {
  const { name = '', generateName } = obj.metadata ?? {};
  return generateName && name.startsWith(generateName) && name.length === generateName.length + 5 ? generateName : name;
}

/** The NamespaceLifecycle admission plugin. */
export class NamespaceLifecycle implements AdmissionPlugin {
  readonly name = 'NamespaceLifecycle';
  /** The last watch failure (retried), for diagnosis. */
  lastError: unknown;
  private readonly info: ResourceInfo | undefined;
  private readonly immortal: Set<string>;
  private readonly ready: Promise<unknown>;
  private readonly retryDelayMs: number;
  /** Namespace name → whether it is terminating, as last listed or watched. */
  private readonly cache = new Map<string, boolean>();
  private synced = false;
  /** Namespaces deleted through this registry → until when to look them up live. */
  private readonly liveLookupUntil = new Map<string, number>();
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly registry: Registry,
    options: NamespaceLifecycleOptions = {},
  ) {
    this.info = namespaceInfo(registry);
    this.immortal = new Set(options.immortalNamespaces ?? SYSTEM_NAMESPACES);
    this.ready = (options.ready ?? Promise.resolve()).catch(() => undefined);
    this.retryDelayMs = options.retryDelayMs ?? 200;
  }

  /** Starts caching namespaces (idempotent); stops by itself when the store is closed. */
  start(): void {
    if (this.running || !this.info) return;
    const abort = (this.abort = new AbortController());
    this.running = listAndWatch(
      this.registry,
      this.info,
      {
        replace: (items) => {
          this.cache.clear();
          for (const ns of items) this.remember(ns);
          this.synced = true;
        },
        event: (type, ns) => {
          if (type === 'DELETED') this.cache.delete(ns.metadata?.name ?? '');
          else this.remember(ns);
        },
        error: (err) => (this.lastError = err),
      },
      abort.signal,
      this.retryDelayMs,
    );
  }

  /** Stops the cache; checks then read the store. */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.running;
    this.synced = false;
  }

  private remember(ns: KubeObject): void {
    this.cache.set(ns.metadata?.name ?? '', (ns as Namespace).status?.phase === 'Terminating');
  }

  /** Creates and updates: the namespace must exist, and must not be terminating for a create. */
  async mutate(attributes: AdmissionAttributes): Promise<void> {
    const { info, object, operation } = attributes;
    if (operation === 'DELETE' || isNamespaceKind(info) || !info.namespaced) return;
    const namespace = object.metadata?.namespace;
    if (!namespace || !this.info) return;
    await this.ready;
    let terminating = this.synced ? this.cache.get(namespace) : undefined;
    if (terminating === false && (this.liveLookupUntil.get(namespace) ?? 0) > this.registry.clock.now()) terminating = undefined;
    // As a last resort, the store: a 404 here is the answer (`namespaces "x" not found`).
    terminating ??= ((await this.registry.get<Namespace>(this.info, undefined, namespace)).status?.phase === 'Terminating');
    if (operation !== 'CREATE' || !terminating) return;
    const error = forbidden(groupResource(info), requestedName(object), `unable to create new content in namespace ${namespace} because it is being terminated`);
    error.status.details!.causes = [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }];
    throw error;
  }

  /** Deletes: the immortal namespaces stay; a namespace being deleted is looked up live for a while. */
  validate(attributes: AdmissionAttributes): void {
    if (attributes.operation !== 'DELETE' || !isNamespaceKind(attributes.info)) return;
    const name = attributes.object.metadata?.name ?? '';
    if (this.immortal.has(name)) throw forbidden(NAMESPACES, name, 'this namespace may not be deleted');
    const now = this.registry.clock.now();
    for (const [ns, until] of this.liveLookupUntil) if (until <= now) this.liveLookupUntil.delete(ns);
    this.liveLookupUntil.set(name, now + FORCE_LIVE_LOOKUP_MS);
  }
}

/**
 * Creates the namespaces that are absent (kube-apiserver's system namespaces controller). Retries
 * failures with backoff; resolves once all exist, or when `signal` aborts or the store is closed.
 * Never rejects.
 */
export async function ensureNamespaces(
  registry: Registry,
  names: readonly string[] = SYSTEM_NAMESPACES,
  options: { signal?: AbortSignal; onError?: (err: unknown) => void } = {},
): Promise<void> {
  const info = namespaceInfo(registry);
  if (!info) return;
  const ensure = async (name: string) => {
    try {
      await registry.get(info, undefined, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await registry.create(info, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch((e: unknown) => {
        if (!isAlreadyExists(e)) throw e;
      });
    }
  };
  await Promise.all(
    names.map(async (name) => {
      for (let delayMs = 100; !options.signal?.aborted; delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS)) {
        try {
          return await ensure(name);
        } catch (err) {
          if (await storeClosed(registry)) return;
          options.onError?.(err);
          await sleepWith(registry.clock, delayMs, options.signal).catch(() => undefined);
        }
      }
    }),
  );
}
