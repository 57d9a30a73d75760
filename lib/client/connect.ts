/**
 * `connect()`: the one public way to get a {@link Client}. A store URL gives a StoreClient over
 * keelson's own registry in this process:
 *
 * - `sqlite:PATH` — the embedded default, durable (WAL), shared safely by several processes;
 * - `memory:` — nothing survives the process (tests, demos);
 * - `etcd://host:port[,host:port…]` — real etcd, for more than one machine.
 *
 * The store is compacted periodically (every 5 minutes, keeping that much history) and closed
 * by `client.close()`.
 *
 * A kubeconfig gives a KubeClient over that Kubernetes API server: `connect({ kubeconfig:
 * '~/.kube/config', context: 'x' })`; `connect()` with no argument reads `$KUBECONFIG`, then
 * `~/.kube/config`.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { badRequest } from '../api/errors.js';
import { BUILTIN_RESOURCES } from '../api/kinds.js';
import { ResourceTypes } from '../api/resources.js';
import { builtinStrategies, decodeRequestBody, strategicMergeForBuiltin } from '../registry/builtin.js';
import { CustomResourceRegistry } from '../registry/crd-registry.js';
import type { CustomResourceDefinitionsOptions } from '../registry/crds.js';
import { NamespaceLifecycle, SYSTEM_NAMESPACES, ensureNamespaces } from '../registry/admission/namespace-lifecycle.js';
import { ServiceAllocation, type ServiceAllocationOptions } from '../registry/admission/service-allocation.js';
import { DefaultTolerationSeconds, type DefaultTolerationSecondsOptions } from '../registry/admission/default-tolerations.js';
import { NamespaceController, type NamespaceControllerOptions } from '../registry/namespaces.js';
import type { RegistryOptions } from '../registry/registry.js';
import { startCompactor } from '../storage/compactor.js';
import type { KV } from '../storage/kv.js';
import { MemoryKV } from '../storage/memory.js';
import { SqliteKV } from '../storage/sqlite.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Client } from './client.js';
import { StoreClient } from './store-client.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** A store URL: `sqlite:PATH`, `memory:` or `etcd://host:port[,host:port…]`. */
  store?: string;
  /** A kubeconfig file (`~` expanded) naming a Kubernetes API server; the default source. */
  kubeconfig?: string;
  /** The kubeconfig context to use (default: its current-context). */
  context?: string;
  /** Time source (tests pass a fake clock). */
  clock?: Clock;
  /** Compaction interval in ms (default 5 min); 0 disables periodic compaction. */
  compactionIntervalMs?: number;
  /** Set `orphan`/`foregroundDeletion` finalizers on delete (when a garbage collector runs). */
  garbageCollection?: boolean;
  /** Interval of watch bookmarks in ms (default 60 s). */
  bookmarkIntervalMs?: number;
  /** Namespace lifecycle (see {@link SystemOptions}); default on. */
  namespaceLifecycle?: SystemOptions['namespaceLifecycle'];
  /** Service IP and NodePort allocation (see {@link SystemOptions}); default on. */
  serviceAllocation?: SystemOptions['serviceAllocation'];
  /** The DefaultTolerationSeconds admission plugin (see {@link SystemOptions}); default on, 5 s. */
  defaultTolerationSeconds?: SystemOptions['defaultTolerationSeconds'];
}

/** Opens the KV store a URL names. */
export async function openStore(url: string, options: { clock?: Clock } = {}): Promise<KV> {
  const clock = options.clock ?? systemClock;
  if (url === 'memory:' || url === 'memory') return new MemoryKV({ clock });
  if (url.startsWith('sqlite:')) {
    const path = resolve(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
    if (!path) throw badRequest('store URL sqlite: needs a path, e.g. sqlite:./data.db');
    mkdirSync(dirname(path), { recursive: true });
    return SqliteKV.open(path, { clock });
  }
  if (url.startsWith('etcd://')) {
    const hosts = url.slice('etcd://'.length).split(',').filter(Boolean);
    if (hosts.length === 0) throw badRequest('store URL etcd:// needs at least one host:port');
    // Loaded on demand: the etcd client (gRPC) costs ~40 MB to import, needless for other stores.
    const { EtcdKV } = await import('../storage/etcd.js');
    const kv = new EtcdKV({ endpoints: hosts.map((h) => `http://${h}`), clock });
    return kv;
  }
  throw badRequest(`unsupported store URL "${url}": use sqlite:PATH, memory: or etcd://host:port[,host:port]`);
}

/**
 * A registry over a KV with the built-in kinds and their strategies, serving the custom kinds the
 * store's CRDs define: its `crds` controller is started here (`registry.crds.waitForKind` waits
 * for a kind) and stops by itself when the KV is closed. So do the namespace lifecycle and the
 * Service allocators it installs (`registry.system`, see {@link SystemOptions}).
 */
export function createRegistry(kv: KV, options: Partial<RegistryOptions> & { crds?: CustomResourceDefinitionsOptions } & SystemOptions = {}): SystemRegistry {
  const { namespaceLifecycle, serviceAllocation, defaultTolerationSeconds, ...registryOptions } = options;
  const registry = new CustomResourceRegistry(kv, {
    types: options.types ?? new ResourceTypes(BUILTIN_RESOURCES),
    strategies: options.strategies ?? builtinStrategies,
    decode: options.decode ?? decodeRequestBody,
    strategicMerge: options.strategicMerge ?? strategicMergeForBuiltin,
    ...registryOptions,
  });
  void registry.crds.start();
  return Object.assign(registry, { system: startSystem(registry, { namespaceLifecycle, serviceAllocation, defaultTolerationSeconds }) });
}

// ---------------------------------------------------------------- namespace lifecycle & Service allocation

/** What createRegistry runs besides the CRD controller; each `false` turns one off. */
export interface SystemOptions {
  /**
   * The NamespaceLifecycle admission plugin, the system namespaces (created when absent) and the
   * namespace controller (`controller: false` leaves deletion to another process). Default on.
   */
  namespaceLifecycle?:
    | boolean
    | { systemNamespaces?: readonly string[]; immortalNamespaces?: readonly string[]; controller?: NamespaceControllerOptions | false };
  /** Service cluster IP and NodePort allocation (ranges, repair interval). Default on. */
  serviceAllocation?: boolean | ServiceAllocationOptions;
  /**
   * The DefaultTolerationSeconds admission plugin: pods are created tolerating the
   * `not-ready`/`unreachable` NoExecute taints for 5 s unless they say otherwise (kube: 300 s).
   * Default on.
   */
  defaultTolerationSeconds?: boolean | DefaultTolerationSecondsOptions;
}

/** The parts createRegistry started (absent when turned off); all stop by themselves when the KV closes. */
export interface SystemParts {
  namespaceLifecycle?: NamespaceLifecycle;
  namespaces?: NamespaceController;
  serviceAllocation?: ServiceAllocation;
  defaultTolerationSeconds?: DefaultTolerationSeconds;
  /** Resolves once the system namespaces exist (or the store was closed); never rejects. */
  ready: Promise<void>;
  /** Stops them all (the admission plugins stay installed). */
  stop(): Promise<void>;
}

/** The registry createRegistry returns. */
export type SystemRegistry = CustomResourceRegistry & { readonly system: SystemParts };

function startSystem(registry: CustomResourceRegistry, options: SystemOptions): SystemParts {
  const abort = new AbortController();
  const parts: SystemParts = { ready: Promise.resolve(), stop: async () => undefined };
  const lifecycle = options.namespaceLifecycle ?? true;
  if (lifecycle !== false) {
    const config = lifecycle === true ? {} : lifecycle;
    parts.ready = ensureNamespaces(registry, config.systemNamespaces ?? SYSTEM_NAMESPACES, { signal: abort.signal });
    parts.namespaceLifecycle = new NamespaceLifecycle(registry, { ready: parts.ready, ...(config.immortalNamespaces ? { immortalNamespaces: config.immortalNamespaces } : {}) });
    parts.namespaceLifecycle.start();
    // First in the chain, as kube-apiserver orders its admission plugins.
    registry.admission.unshift(parts.namespaceLifecycle);
    if (config.controller !== false) {
      parts.namespaces = new NamespaceController(registry, config.controller ?? {});
      parts.namespaces.start();
    }
  }
  // ---- DefaultTolerationSeconds (node lifecycle): after NamespaceLifecycle, before the allocators.
  const tolerations = options.defaultTolerationSeconds ?? true;
  if (tolerations !== false) {
    parts.defaultTolerationSeconds = new DefaultTolerationSeconds(tolerations === true ? {} : tolerations);
    registry.admission.push(parts.defaultTolerationSeconds);
  }
  // ---- end of DefaultTolerationSeconds
  const allocation = options.serviceAllocation ?? true;
  if (allocation !== false) {
    parts.serviceAllocation = new ServiceAllocation(registry, allocation === true ? {} : allocation);
    void parts.serviceAllocation.start();
    // Last: it allocates in `validate`, after every other plugin had its chance to refuse.
    registry.admission.push(parts.serviceAllocation);
  }
  parts.stop = async () => {
    abort.abort();
    await Promise.all([parts.namespaceLifecycle?.stop(), parts.namespaces?.stop(), parts.serviceAllocation?.stop()]);
  };
  return parts;
}

// ---------------------------------------------------------------- end of namespace lifecycle & Service allocation

/**
 * Connects to a source and returns a Client. With `store`, keelson's own store in-process;
 * otherwise a Kubernetes API server through `kubeconfig` and `context` (default: `$KUBECONFIG`,
 * then `~/.kube/config`).
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  if (!options.store) {
    // Loaded on demand: @kubernetes/client-node costs ~80 MB and ~0.5 s to import, needless for a store.
    const { KubeClient } = await import('./kube-client.js');
    return KubeClient.fromKubeconfig(
      { ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}), ...(options.context !== undefined ? { context: options.context } : {}) },
      { ...(options.clock ? { clock: options.clock } : {}) },
    );
  }
  if (options.kubeconfig !== undefined || options.context !== undefined) {
    throw badRequest('connect() takes one source: { store } or { kubeconfig, context }, not both');
  }
  const clock = options.clock ?? systemClock;
  const kv = await openStore(options.store, { clock });
  const registry = createRegistry(kv, {
    clock,
    ...(options.garbageCollection !== undefined ? { garbageCollection: options.garbageCollection } : {}),
    ...(options.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: options.bookmarkIntervalMs } : {}),
    ...(options.namespaceLifecycle !== undefined ? { namespaceLifecycle: options.namespaceLifecycle } : {}),
    ...(options.serviceAllocation !== undefined ? { serviceAllocation: options.serviceAllocation } : {}),
    ...(options.defaultTolerationSeconds !== undefined ? { defaultTolerationSeconds: options.defaultTolerationSeconds } : {}),
  });
  const interval = options.compactionIntervalMs ?? 5 * 60 * 1000;
  const compactor = interval > 0 ? startCompactor(kv, { intervalMs: interval, clock }) : undefined;
  // The kinds of the CRDs already in the store are served before connect() returns.
  await registry.crds.waitForSync();
  return new StoreClient(registry, async () => {
    compactor?.stop();
    await registry.system.stop();
    await registry.crds.stop();
    await kv.close();
  });
}
