/**
 * The manager's HTTP endpoints: `/healthz` (the process is alive and its manager running),
 * `/readyz` (caches synced and controllers started), and `/metrics` (Prometheus text format).
 * Each check may be asked verbosely (`?verbose`), answering one line per check as kube does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

/** A named check: returns undefined when healthy, or the reason it is not. */
export type HealthCheck = () => string | undefined;

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  metrics: Metrics;
  healthz: Record<string, HealthCheck>;
  readyz: Record<string, HealthCheck>;
}

/** A running health server. */
export interface HealthServer {
  /** The port actually bound. */
  readonly port: number;
  close(): Promise<void>;
}

function run(checks: Record<string, HealthCheck>): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  let ok = true;
  for (const [name, check] of Object.entries(checks)) {
    let failure: string | undefined;
    try {
      failure = check();
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    if (failure) ok = false;
    lines.push(failure ? `[-]${name} failed: ${failure}` : `[+]${name} ok`);
  }
  return { ok, lines };
}

/** Starts the endpoints; resolves once listening. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (url.pathname === '/metrics') {
      options.metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`));
      return;
    }
    const checks = url.pathname === '/healthz' || url.pathname === '/livez' ? options.healthz : url.pathname === '/readyz' ? options.readyz : undefined;
    if (!checks) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const { ok, lines } = run(checks);
    const verbose = url.searchParams.has('verbose') || !ok;
    const body = verbose ? `${lines.join('\n')}\n${url.pathname.slice(1)} check ${ok ? 'passed' : 'failed'}\n` : 'ok';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
