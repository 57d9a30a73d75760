/**
 * Opens a Client over each test backend for the object-semantics suites — in-process
 * (StoreClient over the registry) or over HTTP (KubeClient against keelson's API server over
 * the same kind of store) — so one suite proves both clients behave the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServer } from '../../lib/apiserver/server.js';
import type { Client } from '../../lib/client/client.js';
import { createRegistry } from '../../lib/client/connect.js';
import { KubeClient } from '../../lib/client/kube-client.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import type { RegistryOptions } from '../../lib/registry/registry.js';
import type { KV } from '../../lib/storage/kv.js';
import type { KVBackend } from './backends.js';
import { writePlainKubeconfig } from './kubeconfig.js';

/** How the suite reaches the store. */
export type Via = 'store' | 'http';

/** A client over a fresh store, plus the store and registry for assertions below the API. */
export interface TestStore {
  client: Client;
  registry: CustomResourceRegistry;
  kv: KV;
  via: Via;
  close(): Promise<void>;
}

/** Opens a fresh store of `backend` and a client over it (in-process, or KubeClient over HTTP). */
export async function openTestStore(backend: KVBackend, options: Partial<RegistryOptions> = {}, via: Via = 'store'): Promise<TestStore> {
  const kv = await backend.open();
  const registry = createRegistry(kv, options) as CustomResourceRegistry;
  await registry.crds.waitForSync();
  // The system namespaces are created in the background: wait, so tests see a settled store.
  await (registry as { system?: { ready?: Promise<unknown> } }).system?.ready;
  const stopRegistry = async () => {
    await (registry as { system?: { stop(): Promise<void> } }).system?.stop();
    await registry.crds.stop();
    await kv.close();
  };
  if (via === 'store') {
    const client = new StoreClient(registry, stopRegistry);
    return { client, registry, kv, via, close: () => client.close() };
  }
  const server = new ApiServer({ registry, port: 0 });
  await server.start();
  const dir = mkdtempSync(join(tmpdir(), 'keelson-kubeclient-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writePlainKubeconfig(kubeconfig, server.url);
  const client = KubeClient.fromKubeconfig({ kubeconfig }, { onWarning: () => undefined });
  return {
    client,
    registry,
    kv,
    via,
    async close() {
      await client.close();
      await server.stop();
      await stopRegistry();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
