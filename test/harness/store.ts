/**
 * Opens a StoreClient over each test backend, for the registry-level suites.
 */
import { createRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { RegistryOptions } from '../../lib/registry/registry.js';
import type { KV } from '../../lib/storage/kv.js';
import type { KVBackend } from './backends.js';

/** A client over a fresh store, plus the store itself for assertions below the API. */
export interface TestStore {
  client: StoreClient;
  kv: KV;
  close(): Promise<void>;
}

/** Opens a fresh store of `backend` and a client over it. */
export async function openTestStore(backend: KVBackend, options: Partial<RegistryOptions> = {}): Promise<TestStore> {
  const kv = await backend.open();
  const registry = createRegistry(kv, options);
  const client = new StoreClient(registry, () => kv.close());
  return { client, kv, close: () => client.close() };
}
