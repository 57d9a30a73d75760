/**
 * Node IPAM: each Node gets its own pod subnet, a /24 of the cluster CIDR (`127.64.0.0/11` by
 * default), in `spec.podCIDR` and `spec.podCIDRs` — kube's node-ipam controller with the range
 * allocator. The node agent gives each of its pods an address from that subnet.
 *
 * - `controller.ts` — {@link NodeIpamController}: assigns, frees on delete, rebuilds what is used
 *   from the existing Nodes, reports `CIDRNotAvailable` when the range is full;
 * - `cidr-set.ts` — {@link CidrSet}: the subnet arithmetic and the used/free bookkeeping.
 *
 * ```ts
 * manager.container.bind(NodeIpamConfiguration).toConstantValue({ clusterCIDR: '10.244.0.0/16' });
 * manager.add(NodeIpamController);
 * ```
 */
export { DEFAULT_CLUSTER_CIDR, DEFAULT_NODE_CIDR_MASK_SIZE, NodeIpamConfiguration, NodeIpamController, type NodeIpamOptions } from './controller.js';
export { CidrSet, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from './cidr-set.js';
