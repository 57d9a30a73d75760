/**
 * Choosing an endpoint for a new connection, as Kubernetes' userspace proxy does
 * (`LoadBalancerRR`): round-robin over the ready endpoints; with `sessionAffinity: ClientIP`, a
 * client IP keeps the endpoint it last got while it comes back within the affinity timeout
 * (each use refreshes it). A retry after a failed dial asks with `resetAffinity`, which moves
 * the client to the next endpoint. When the endpoints change, affinities to endpoints that left
 * are forgotten; the rotation carries on from where it was.
 */
import type { Clock } from '../../lib/index.js';
import { endpointKey, type ServiceEndpoint } from './service-ports.js';

interface Affinity {
  endpoint: string;
  lastUsedMs: number;
}

/** Round-robin with optional client-IP affinity, for one Service port. */
export class RoundRobinBalancer {
  private endpoints: { key: string; endpoint: ServiceEndpoint }[] = [];
  private keys = new Set<string>();
  private index = 0;
  /** Affinity timeout in ms; undefined: no affinity. */
  private affinityTtlMs: number | undefined;
  private readonly affinities = new Map<string, Affinity>();

  constructor(private readonly clock: Clock) {}

  /** The number of endpoints. */
  get size(): number {
    return this.endpoints.length;
  }

  /** Whether `key` (`ip:port`) is one of the current endpoints. */
  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Whether the client's IP matters to {@link next} (ClientIP affinity is on). */
  get sticky(): boolean {
    return this.affinityTtlMs !== undefined;
  }

  /** Client IPs with a live affinity (for tests and metrics). */
  get affinityCount(): number {
    this.pruneAffinities();
    return this.affinities.size;
  }

  /**
   * Replaces the endpoints and the affinity setting (`affinityTimeoutSeconds` undefined: none).
   * Affinities to endpoints no longer present, and all of them when affinity is turned off or
   * its timeout changes, are dropped.
   */
  update(endpoints: readonly ServiceEndpoint[], affinityTimeoutSeconds: number | undefined): void {
    const next = endpoints.map((endpoint) => ({ key: endpointKey(endpoint), endpoint }));
    const ttl = affinityTimeoutSeconds !== undefined ? affinityTimeoutSeconds * 1000 : undefined;
    if (ttl !== this.affinityTtlMs) this.affinities.clear();
    this.affinityTtlMs = ttl;
    const keys = new Set(next.map((e) => e.key));
    for (const [client, affinity] of this.affinities) if (!keys.has(affinity.endpoint)) this.affinities.delete(client);
    this.endpoints = next;
    this.keys = keys;
    this.index = next.length ? this.index % next.length : 0;
    this.pruneAffinities();
  }

  /**
   * The endpoint for a new connection from `clientIP`, or undefined when there is none.
   * `resetAffinity` (a retry after a failed dial) skips the client's sticky endpoint.
   */
  next(clientIP: string, resetAffinity = false): { key: string; endpoint: ServiceEndpoint } | undefined {
    if (this.endpoints.length === 0) return undefined;
    if (this.affinityTtlMs === undefined) return this.rotate();
    const now = this.clock.now();
    if (!resetAffinity) {
      const sticky = this.affinities.get(clientIP);
      if (sticky && now - sticky.lastUsedMs < this.affinityTtlMs && this.keys.has(sticky.endpoint)) {
        const found = this.endpoints.find((e) => e.key === sticky.endpoint);
        if (found) {
          sticky.lastUsedMs = now;
          return found;
        }
      }
    }
    const chosen = this.rotate();
    // Expired affinities go when new ones are made, so the map is bounded by live clients.
    if (this.affinities.size >= 1024) this.pruneAffinities();
    this.affinities.set(clientIP, { endpoint: chosen.key, lastUsedMs: now });
    return chosen;
  }

  /** The endpoint whose turn it is (there is one), moving the turn on. */
  private rotate(): { key: string; endpoint: ServiceEndpoint } {
    const chosen = this.endpoints[this.index]!;
    this.index = (this.index + 1) % this.endpoints.length;
    return chosen;
  }

  private pruneAffinities(): void {
    if (this.affinityTtlMs === undefined) return;
    const now = this.clock.now();
    for (const [client, affinity] of this.affinities) if (now - affinity.lastUsedMs >= this.affinityTtlMs) this.affinities.delete(client);
  }
}
