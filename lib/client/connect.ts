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
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { badRequest } from '../api/errors.js';
import { BUILTIN_RESOURCES } from '../api/kinds.js';
import { ResourceTypes } from '../api/resources.js';
import { builtinStrategies, decodeRequestBody, strategicMergeForBuiltin } from '../registry/builtin.js';
import { CustomResourceRegistry } from '../registry/crd-registry.js';
import type { CustomResourceDefinitionsOptions } from '../registry/crds.js';
import type { RegistryOptions } from '../registry/registry.js';
import { startCompactor } from '../storage/compactor.js';
import { EtcdKV } from '../storage/etcd.js';
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
  /** Time source (tests pass a fake clock). */
  clock?: Clock;
  /** Compaction interval in ms (default 5 min); 0 disables periodic compaction. */
  compactionIntervalMs?: number;
  /** Set `orphan`/`foregroundDeletion` finalizers on delete (when a garbage collector runs). */
  garbageCollection?: boolean;
  /** Interval of watch bookmarks in ms (default 60 s). */
  bookmarkIntervalMs?: number;
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
    const kv = new EtcdKV({ endpoints: hosts.map((h) => `http://${h}`), clock });
    return kv;
  }
  throw badRequest(`unsupported store URL "${url}": use sqlite:PATH, memory: or etcd://host:port[,host:port]`);
}

/**
 * A registry over a KV with the built-in kinds and their strategies, serving the custom kinds the
 * store's CRDs define: its `crds` controller is started here (`registry.crds.waitForKind` waits
 * for a kind) and stops by itself when the KV is closed.
 */
export function createRegistry(kv: KV, options: Partial<RegistryOptions> & { crds?: CustomResourceDefinitionsOptions } = {}): CustomResourceRegistry {
  const registry = new CustomResourceRegistry(kv, {
    types: options.types ?? new ResourceTypes(BUILTIN_RESOURCES),
    strategies: options.strategies ?? builtinStrategies,
    decode: options.decode ?? decodeRequestBody,
    strategicMerge: options.strategicMerge ?? strategicMergeForBuiltin,
    ...options,
  });
  void registry.crds.start();
  return registry;
}

/**
 * Connects to a source and returns a Client. With `store`, keelson's own store in-process.
 * (Connecting to a Kubernetes API server with `kubeconfig` comes with the existing-cluster source.)
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  if (!options.store) {
    throw badRequest('connect() needs a source: { store: "sqlite:PATH" | "memory:" | "etcd://host:port" }');
  }
  const clock = options.clock ?? systemClock;
  const kv = await openStore(options.store, { clock });
  const registry = createRegistry(kv, {
    clock,
    ...(options.garbageCollection !== undefined ? { garbageCollection: options.garbageCollection } : {}),
    ...(options.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: options.bookmarkIntervalMs } : {}),
  });
  const interval = options.compactionIntervalMs ?? 5 * 60 * 1000;
  const compactor = interval > 0 ? startCompactor(kv, { intervalMs: interval, clock }) : undefined;
  // The kinds of the CRDs already in the store are served before connect() returns.
  await registry.crds.waitForSync();
  return new StoreClient(registry, async () => {
    compactor?.stop();
    await registry.crds.stop();
    await kv.close();
  });
}
