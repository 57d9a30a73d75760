/**
 * The node's heartbeat: a Lease `kube-node-lease/<node>` renewed every `renewIntervalMs` (kubelet's
 * nodelease controller). The node-lifecycle controller reads `spec.renewTime`; a node whose lease
 * is not renewed within its grace period is presumed dead.
 *
 * - The Lease is held by the node name, with `leaseDurationSeconds` (kubelet's 40 s default —
 *   the lifecycle controller's grace period is its own setting), `renewTime` as a MicroTime, and
 *   an ownerReference to the Node, so deleting the Node deletes its Lease.
 * - Each renewal updates the last Lease written (optimistic concurrency); a conflict or a missing
 *   Lease is resolved by reading (or creating) it again. A failed renewal is retried after 200 ms
 *   doubling up to 7 s (kubelet's backoff), then the normal interval resumes.
 */
import { formatMicroTime, isAlreadyExists, isConflict, isNotFound, Lease, type Client, type Clock, type Logger, type Node } from '../../lib/index.js';

/** The namespace of node leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Options of a {@link NodeLease}. */
export interface NodeLeaseOptions {
  client: Client;
  clock: Clock;
  logger: Logger;
  nodeName: string;
  /** Default 40 (kubelet's `--node-lease-duration-seconds`). */
  leaseDurationSeconds?: number;
  /** Default 2000. */
  renewIntervalMs?: number;
  /** The Node, for the Lease's ownerReference (absent until registered). */
  owner: () => Node | undefined;
}

/** Renews a node's Lease until stopped. */
export class NodeLease {
  /** Successful renewals so far (creation included). */
  renewals = 0;
  /** When the Lease was last renewed (ms), 0 before the first time. */
  lastRenewMs = 0;
  private lease: Lease | undefined;
  private readonly durationSeconds: number;
  private readonly intervalMs: number;

  constructor(private readonly options: NodeLeaseOptions) {
    this.durationSeconds = options.leaseDurationSeconds ?? 40;
    this.intervalMs = options.renewIntervalMs ?? 2000;
  }

  /** Renews now, then every interval, until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    let retryMs = 200;
    while (!signal.aborted) {
      let waitMs = this.intervalMs;
      try {
        await this.renew();
        retryMs = 200;
      } catch (err) {
        this.options.logger.warn({ err, node: this.options.nodeName }, 'failed to renew the node lease; will retry');
        waitMs = Math.min(retryMs, this.intervalMs);
        retryMs = Math.min(retryMs * 2, 7000);
      }
      await this.options.clock.sleep(waitMs, signal).catch(() => undefined);
    }
  }

  /** Renews the Lease once (creating it if needed). */
  async renew(): Promise<void> {
    const { client } = this.options;
    const now = this.options.clock.now();
    if (!this.lease) this.lease = await this.read();
    if (!this.lease) {
      try {
        this.lease = await client.create<Lease>(this.desired(undefined, now));
        this.recordRenewal(now);
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        this.lease = await this.read();
        if (!this.lease) throw err;
      }
    }
    try {
      this.lease = await client.update<Lease>(this.desired(this.lease, now));
    } catch (err) {
      // Someone else wrote it (or deleted it): start over from the source next time.
      if (isConflict(err) || isNotFound(err)) this.lease = undefined;
      throw err;
    }
    this.recordRenewal(now);
  }

  private recordRenewal(now: number): void {
    this.renewals++;
    this.lastRenewMs = now;
  }

  private async read(): Promise<Lease | undefined> {
    try {
      return await this.options.client.get(Lease, this.options.nodeName, { namespace: NODE_LEASE_NAMESPACE });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private desired(existing: Lease | undefined, now: number): Lease {
    const node = this.options.owner();
    const ownerReferences = node?.metadata?.uid
      ? [{ apiVersion: 'v1', kind: 'Node', name: this.options.nodeName, uid: node.metadata.uid }]
      : existing?.metadata?.ownerReferences;
    return {
      ...(existing ?? {}),
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(existing?.metadata ?? {}),
        name: this.options.nodeName,
        namespace: NODE_LEASE_NAMESPACE,
        ...(ownerReferences ? { ownerReferences } : {}),
      },
      spec: {
        ...(existing?.spec ?? {}),
        holderIdentity: this.options.nodeName,
        leaseDurationSeconds: this.durationSeconds,
        renewTime: formatMicroTime(now),
      },
    };
  }
}
