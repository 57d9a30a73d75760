/**
 * The service proxy's metrics, on the registry of the process that runs it (`/metrics` of
 * `keelson up`'s manager or of a `keelson node` agent). Sync latencies keep kube-proxy's names,
 * so its dashboards apply; the userspace forwarding counters are keelson's own.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Metrics } from '../../lib/index.js';

/** kube-proxy's buckets for sync and programming latencies (seconds). */
const SYNC_BUCKETS = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PROGRAMMING_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

/** The proxy's metric families. */
export interface ProxyMetrics {
  /** `kubeproxy_sync_proxy_rules_duration_seconds`: how long applying one Service's state took. */
  syncDuration: Pick<Histogram, 'observe'>;
  /**
   * `kubeproxy_network_programming_duration_seconds`: from the change that triggered an Endpoints
   * update (its `last-change-trigger-time` annotation) to the proxy applying it.
   */
  programmingDuration: Pick<Histogram, 'observe'>;
  /** `keelson_proxy_active_connections{protocol}`: proxied TCP connections and UDP flows now open. */
  activeConnections: Pick<Gauge<'protocol'>, 'labels'>;
  /** `keelson_proxy_connections_total{protocol,result}`: new connections by outcome (`proxied`, `no_endpoints`, `dial_failed`). */
  connections: Pick<Counter<'protocol' | 'result'>, 'labels'>;
  /** `keelson_proxy_endpoint_dial_failures_total`: failed dials to an endpoint (each retried on the next). */
  dialFailures: Pick<Counter, 'inc'>;
  /** `keelson_proxy_drained_connections_total`: connections cut because their drain grace period ended. */
  drainExpired: Pick<Counter, 'inc'>;
  /** `keelson_proxy_native_relay_connections_total`: TCP connections handed to the native relay. */
  relayedConnections: Pick<Counter, 'inc'>;
}

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** The proxy's metrics on `metrics`' registry (shared if already registered there); absent: metrics that go nowhere. */
export function proxyMetrics(metrics: Metrics | undefined): ProxyMetrics {
  if (!metrics) return NO_PROXY_METRICS;
  const registry = metrics.registry;
  const registers = [registry];
  return {
    syncDuration: getOrCreate(registry, 'kubeproxy_sync_proxy_rules_duration_seconds', () =>
      new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', buckets: SYNC_BUCKETS, registers }),
    ),
    programmingDuration: getOrCreate(registry, 'kubeproxy_network_programming_duration_seconds', () =>
      new Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', buckets: PROGRAMMING_BUCKETS, registers }),
    ),
    activeConnections: getOrCreate(registry, 'keelson_proxy_active_connections', () =>
      new Gauge({ name: 'keelson_proxy_active_connections', help: 'Proxied TCP connections and UDP flows currently open', labelNames: ['protocol'], registers }),
    ),
    connections: getOrCreate(registry, 'keelson_proxy_connections_total', () =>
      new Counter({ name: 'keelson_proxy_connections_total', help: 'New proxied connections (UDP: flows) by result', labelNames: ['protocol', 'result'], registers }),
    ),
    dialFailures: getOrCreate(registry, 'keelson_proxy_endpoint_dial_failures_total', () =>
      new Counter({ name: 'keelson_proxy_endpoint_dial_failures_total', help: 'Failed connection attempts to an endpoint (retried on the next one)', registers }),
    ),
    drainExpired: getOrCreate(registry, 'keelson_proxy_drained_connections_total', () =>
      new Counter({ name: 'keelson_proxy_drained_connections_total', help: 'Connections to removed endpoints closed when their drain grace period ended', registers }),
    ),
    relayedConnections: getOrCreate(registry, 'keelson_proxy_native_relay_connections_total', () =>
      new Counter({ name: 'keelson_proxy_native_relay_connections_total', help: 'Proxied TCP connections handed to the native relay (their bytes no longer pass through Node.js)', registers }),
    ),
  };
}

const noop = { observe() {}, inc() {}, dec() {}, set() {} };
/** Metrics that go nowhere. */
export const NO_PROXY_METRICS: ProxyMetrics = {
  syncDuration: noop,
  programmingDuration: noop,
  activeConnections: { labels: () => noop as never },
  connections: { labels: () => noop as never },
  dialFailures: noop,
  drainExpired: noop,
  relayedConnections: noop,
};
