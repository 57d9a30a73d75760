/**
 * The node-IPAM controller: gives each Node a pod subnet — `spec.podCIDR` and `spec.podCIDRs`,
 * a free /24 of the cluster CIDR (`127.64.0.0/11` by default) — as kube's node-ipam controller
 * with its RangeAllocator. The node agent hands its pods addresses from that subnet.
 *
 * - The used subnets are rebuilt from the Nodes that exist before the first assignment, so a
 *   restarted controller never hands out a subnet a node already holds.
 * - Assignments are one at a time (one worker) and compare-and-swap: the patch carries the
 *   resourceVersion it was computed from, and `podCIDR` is immutable once set, so a node never
 *   gets two subnets and a subnet never goes to two nodes.
 * - A deleted Node's subnet is free again. When every subnet is taken, the node gets a
 *   `CIDRNotAvailable` Event and is retried (every `retryWhenFullMs`) until one frees up.
 */
import { inject, optional } from 'inversify';
import {
  ApiReader,
  Client,
  Controller,
  EventRecorder,
  isConflict,
  ignoreNotFound,
  isNotFound,
  Logger,
  Node,
  type Predicate,
  type ReconcileRequest,
  type Reconciler,
  type Result,
} from '../../lib/index.js';
import { CidrSet, parseIpv4Cidr } from './cidr-set.js';

/** The pod network of DESIGN.md: every node's pod subnet is cut from it. */
export const DEFAULT_CLUSTER_CIDR = '127.64.0.0/11';
/** The prefix length of each node's subnet (kube's `--node-cidr-mask-size`, 24 for IPv4). */
export const DEFAULT_NODE_CIDR_MASK_SIZE = 24;

/** Options of the {@link NodeIpamController} (kube-controller-manager's flags of the same names). */
export interface NodeIpamOptions {
  /** `--cluster-cidr`: the range node subnets are cut from (default {@link DEFAULT_CLUSTER_CIDR}). */
  clusterCIDR?: string;
  /** `--node-cidr-mask-size`: the prefix length of each node's subnet (default 24). */
  nodeCIDRMaskSize?: number;
  /** While the range is full, a node without a subnet is looked at again this often (default 10 s). */
  retryWhenFullMs?: number;
}

/** DI token of {@link NodeIpamOptions}: `container.bind(NodeIpamConfiguration).toConstantValue({ … })`. */
export const NodeIpamConfiguration: unique symbol = Symbol.for('keelson.node-ipam.Configuration') as never;

/** How often one assignment is retried at once when the Node changed under it (409). */
const CONFLICT_RETRIES = 5;

/** Node updates matter only when they change the pod CIDRs (status heartbeats do not). */
const podCIDRsChanged: Predicate = {
  update: (oldNode, newNode) => JSON.stringify((oldNode as Node).spec?.podCIDRs ?? []) !== JSON.stringify((newNode as Node).spec?.podCIDRs ?? []) || (oldNode as Node).spec?.podCIDR !== (newNode as Node).spec?.podCIDR,
};

/** Assigns each Node a pod subnet (see the file header). */
@Controller({ for: Node, name: 'node-ipam', concurrency: 1, predicates: [podCIDRsChanged] })
export class NodeIpamController implements Reconciler<Node> {
  private readonly cidrs: CidrSet;
  /** The subnet this controller accounts to each node name. */
  private readonly assigned = new Map<string, string>();
  private readonly retryWhenFullMs: number;
  private rebuilt = false;

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(ApiReader) private readonly apiReader: ApiReader,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Logger) private readonly logger: Logger,
    @inject(NodeIpamConfiguration) @optional() options: NodeIpamOptions = {},
  ) {
    this.cidrs = new CidrSet(options.clusterCIDR ?? DEFAULT_CLUSTER_CIDR, options.nodeCIDRMaskSize ?? DEFAULT_NODE_CIDR_MASK_SIZE);
    this.retryWhenFullMs = options.retryWhenFullMs ?? 10_000;
  }

  /** The number of subnets in use and in all (for tests and introspection). */
  get usage(): { used: number; size: number } {
    return { used: this.cidrs.used, size: this.cidrs.size };
  }

  /** Gives the node a subnet if it has none; frees the subnet of a node that is gone. */
  async reconcile({ name }: ReconcileRequest): Promise<Result | void> {
    await this.rebuildOnce();
    let node = await this.getNode(this.client, name);
    for (let attempt = 1; ; attempt++) {
      if (!node) {
        this.release(name);
        return;
      }
      const existing = ipv4PodCIDR(node);
      if (existing) {
        this.account(name, existing);
        return;
      }
      if (node.metadata?.deletionTimestamp) return;
      // A node deleted and re-created under one name may still hold its predecessor's subnet here.
      const cidr = this.assigned.get(name) ?? this.cidrs.allocateNext();
      if (!cidr) {
        this.events.eventf(node, 'Normal', 'CIDRNotAvailable', 'Node %s status is now: %s', name, 'CIDRNotAvailable');
        this.logger.warn({ node: name, clusterCIDRSubnets: this.cidrs.size }, 'no pod CIDR left to assign');
        return { requeueAfterMs: this.retryWhenFullMs };
      }
      this.assigned.set(name, cidr);
      try {
        await this.client.patch(Node, name, { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { podCIDR: cidr, podCIDRs: [cidr] } }, { type: 'merge' });
        this.logger.info({ node: name, podCIDR: cidr }, 'assigned pod CIDR');
        return;
      } catch (err) {
        if (isNotFound(err)) {
          node = undefined;
          continue;
        }
        if (isConflict(err) && attempt < CONFLICT_RETRIES) {
          // The node changed since it was read: read it again, uncached, and decide again.
          node = await this.getNode(this.apiReader, name);
          continue;
        }
        this.release(name);
        this.events.eventf(node, 'Normal', 'CIDRAssignmentFailed', 'Node %s status is now: %s', name, 'CIDRAssignmentFailed');
        throw err;
      }
    }
  }

  /** Marks the subnets of every existing Node used — once, before the first assignment. */
  private async rebuildOnce(): Promise<void> {
    if (this.rebuilt) return;
    const { items } = await this.client.list(Node);
    for (const node of items) {
      const cidr = ipv4PodCIDR(node);
      if (cidr) this.account(node.metadata?.name ?? '', cidr);
    }
    this.rebuilt = true;
  }

  /** Records that a node holds a subnet (occupying it, and freeing another this controller had given it). */
  private account(name: string, cidr: string): void {
    const previous = this.assigned.get(name);
    if (previous === cidr) return;
    if (previous !== undefined) this.cidrs.release(previous);
    if (this.cidrs.isUsed(cidr)) this.logger.warn({ node: name, podCIDR: cidr }, 'pod CIDR of the node is also held by another node');
    if (!this.cidrs.occupy(cidr)) {
      this.logger.info({ node: name, podCIDR: cidr }, 'pod CIDR of the node is outside the cluster CIDR; not tracked');
      this.assigned.delete(name);
      return;
    }
    this.assigned.set(name, cidr);
  }

  private release(name: string): void {
    const cidr = this.assigned.get(name);
    if (cidr === undefined) return;
    this.assigned.delete(name);
    // Another node claiming the same subnet (set by hand) keeps it used.
    if (![...this.assigned.values()].includes(cidr)) this.cidrs.release(cidr);
  }

  private async getNode(reader: Client, name: string): Promise<Node | undefined> {
    return reader.get(Node, name).catch(ignoreNotFound);
  }
}

/** The node's IPv4 pod CIDR, from `spec.podCIDRs` or `spec.podCIDR`. */
function ipv4PodCIDR(node: Node): string | undefined {
  const cidrs = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  return cidrs.find((cidr) => parseIpv4Cidr(cidr) !== undefined);
}
