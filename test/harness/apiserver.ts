/**
 * An API server over a fresh store of a test backend, on a random loopback port, for suites
 * that talk HTTP to it (raw requests, KubeClient, kubectl).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServer, type ApiServerOptions } from '../../lib/apiserver/server.js';
import { createRegistry } from '../../lib/client/connect.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import type { RegistryOptions } from '../../lib/registry/registry.js';
import type { KV } from '../../lib/storage/kv.js';
import type { KVBackend } from './backends.js';

/** A running server and what is behind it. */
export interface TestApiServer {
  server: ApiServer;
  registry: CustomResourceRegistry;
  kv: KV;
  url: string;
  /** A client-node KubeConfig for the server (no credentials; TLS not verified). */
  kubeConfig(): KubeConfig;
  /** Sends a request; returns status, headers and body text. */
  request(method: string, path: string, options?: { body?: string | Buffer; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; text: string; json(): unknown }>;
  close(): Promise<void>;
}

/** Starts an API server (plain HTTP unless `tls` is given) over a fresh store of `backend`. */
export async function startTestApiServer(
  backend: KVBackend,
  options: Partial<Omit<ApiServerOptions, 'registry'>> = {},
  registryOptions: Partial<RegistryOptions> = {},
): Promise<TestApiServer> {
  const kv = await backend.open();
  const registry = createRegistry(kv, registryOptions) as CustomResourceRegistry;
  await registry.crds.waitForSync();
  const server = new ApiServer({ registry, port: 0, ...options });
  await server.start();
  const url = server.url;
  return {
    server,
    registry,
    kv,
    url,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
        users: [{ name: 'test' }],
        contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
        currentContext: 'test',
      });
      return kc;
    },
    async request(method, path, opts = {}) {
      const response = await fetch(url + path, {
        method,
        headers: { ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(opts.headers ?? {}) },
        ...(opts.body !== undefined ? { body: opts.body } : {}),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as unknown };
    },
    async close() {
      await server.stop();
      await registry.crds.stop();
      await kv.close();
    },
  };
}
