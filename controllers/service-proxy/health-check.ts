/**
 * kube-proxy's service health checks: for each `type: LoadBalancer` Service with
 * `externalTrafficPolicy: Local`, an HTTP server on its `spec.healthCheckNodePort` (allocated by
 * the API server) on every node address of the proxy. A load balancer asks it which nodes to
 * send traffic to: any request answers 200 while this proxy's nodes have endpoints of the
 * Service, 503 while they have none, with kube-proxy's JSON body
 * `{"service":{"namespace","name"},"localEndpoints":N,"serviceProxyHealthy":true}` and its
 * `X-Load-Balancing-Endpoint-Weight: N` header. In every proxy mode (the nftables mode too,
 * as kube-proxy). Binding failures are retried in the background (see listener.ts).
 */
import { createServer, type Server } from 'node:http';
import type { Clock, Logger } from '../../lib/index.js';
import { RetryingListener } from './listener.js';
import { formatAddress } from './forwarder.js';

/** What one Service's health check serves. */
interface Check {
  port: number;
  localEndpoints: number;
  listeners: RetryingListener[];
}

/** The health check servers of one proxy, one per Service that needs one. */
export class ServiceHealthServer {
  private readonly checks = new Map<string, Check>();

  constructor(
    private readonly nodeAddresses: readonly string[],
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Serves the health check of `service` (`namespace/name`) on `port` with `localEndpoints`, or
   * stops serving it (`port` undefined). A new port moves the listeners; a new count is answered
   * from the next request on.
   */
  sync(service: string, port: number | undefined, localEndpoints: number): void {
    const current = this.checks.get(service);
    if (current && current.port === port) {
      current.localEndpoints = localEndpoints;
      return;
    }
    if (current) this.close(service, current);
    if (port === undefined || this.nodeAddresses.length === 0) return;
    const check: Check = { port, localEndpoints, listeners: [] };
    check.listeners = this.nodeAddresses.map((host) => new RetryingListener(formatAddress(host, port), () => this.open(service, check, host), this.clock, this.logger));
    this.checks.set(service, check);
  }

  /** Resolves once every listener of `service` tried to bind once (tests). */
  async firstBind(service: string): Promise<void> {
    await Promise.all((this.checks.get(service)?.listeners ?? []).map((l) => l.firstAttempt()));
  }

  /** Stops every health check. */
  stop(): void {
    for (const [service, check] of this.checks) this.close(service, check);
  }

  private close(service: string, check: Check): void {
    for (const listener of check.listeners) listener.close();
    this.checks.delete(service);
  }

  private open(service: string, check: Check, host: string): Promise<() => void> {
    const slash = service.indexOf('/');
    const name = { namespace: service.slice(0, slash), name: service.slice(slash + 1) };
    return new Promise((resolve, reject) => {
      const server: Server = createServer((req, res) => {
        req.resume();
        const count = check.localEndpoints;
        res.writeHead(count > 0 ? 200 : 503, {
          'Content-Type': 'application/json',
          'X-Content-Type-Options': 'nosniff',
          'X-Load-Balancing-Endpoint-Weight': String(count),
        });
        res.end(JSON.stringify({ service: name, localEndpoints: count, serviceProxyHealthy: true }));
      });
      server.once('error', reject);
      server.listen({ host, port: check.port }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.warn({ err, service }, 'service health check server failed'));
        resolve(() => {
          server.close();
          server.closeAllConnections();
        });
      });
    });
  }
}
