/**
 * The `VirtualIP` custom resource (`keelson.dev/v1alpha1`, cluster-scoped): an address that
 * exactly one eligible node serves at a time, and that moves to another node when its holder
 * dies — keepalived's `vrrp_instance`, as a Kubernetes object. The CRD in
 * `crds/virtualips.keelson.dev.yaml` is generated from these classes (`keelson crds`).
 *
 * The spec says what to serve and who may serve it; the status says who does. The status is
 * informative: the truth of who holds the address is the VIP's Lease (see `lease-record.ts`).
 */
import { Field, Resource, type KubeObject } from '../../lib/index.js';

/** The API group and version of {@link VirtualIP}. */
export const VIP_API_VERSION = 'keelson.dev/v1alpha1';

/** The ways a holder makes the address reachable. */
export const ANNOUNCERS = ['loopback', 'arp'] as const;

/** How the holder announces the address: `loopback` (127/8, no root) or `arp` (Linux, root). */
export type AnnouncerName = (typeof ANNOUNCERS)[number];

/** The priority a node not listed in `spec.priorities` has (VRRP's usual backup priority). */
export const DEFAULT_PRIORITY = 100;

/** One node's priority for holding the address. */
export class VirtualIPPriority {
  @Field({ description: 'The Node this priority is for', required: true, minLength: 1 })
  nodeName!: string;

  @Field({ type: 'integer', description: 'Higher wins; nodes not listed have 100', required: true, minimum: 1, maximum: 254 })
  priority!: number;
}

/** The Service to serve on the address. */
export class VirtualIPServiceRef {
  @Field({ description: 'Namespace of the Service (default: default)', default: 'default', minLength: 1 })
  namespace?: string;

  @Field({ description: 'Name of the Service', required: true, minLength: 1 })
  name!: string;
}

/** What a VirtualIP asks for. */
export class VirtualIPSpec {
  @Field({
    description: 'The IPv4 address to keep alive',
    required: true,
    pattern: '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$',
  })
  address!: string;

  @Field({ description: 'The interface to add the address on (arp; default: the interface whose subnet holds the address)' })
  interface?: string;

  @Field({ description: 'How the holder announces the address: loopback (127/8, no root) or arp (Linux, root)', enum: ANNOUNCERS, default: 'arp' })
  announcer?: AnnouncerName;

  @Field({ type: 'object', additionalProperties: 'string', description: 'Only nodes with these labels may hold the address' })
  nodeSelector?: Record<string, string>;

  @Field({ type: VirtualIPServiceRef, description: "A Service to serve on the address: while a node holds it, that node's service proxy serves every port of the Service on the address too (optional)" })
  serviceRef?: VirtualIPServiceRef;

  @Field({ type: 'array', items: VirtualIPPriority, description: 'Per-node priorities (1-254, higher wins; default 100)' })
  priorities?: VirtualIPPriority[];

  @Field({ description: 'A higher-priority node takes the address over from a lower-priority holder (false: VRRP nopreempt)', default: true })
  preempt?: boolean;
}

/** Who holds the address, as last reported by a holder. */
export class VirtualIPStatus {
  @Field({ description: 'The node serving the address (empty: none)' })
  holder?: string;

  @Field({ description: 'When the holder took the address (RFC 3339)', format: 'date-time' })
  since?: string;

  @Field({ type: 'integer', description: 'How many times the address changed holder: the fencing token of the current holding' })
  transitions?: number;
}

/** A virtual IP address kept alive by the node agents (see the file header). */
@Resource({
  group: 'keelson.dev',
  version: 'v1alpha1',
  kind: 'VirtualIP',
  plural: 'virtualips',
  singular: 'virtualip',
  namespaced: false,
  shortNames: ['vip'],
  description: 'A virtual IP address that one eligible node serves at a time, failing over when its holder dies',
  printerColumns: [
    { name: 'Address', type: 'string', jsonPath: '.spec.address' },
    { name: 'Announcer', type: 'string', jsonPath: '.spec.announcer' },
    { name: 'Holder', type: 'string', jsonPath: '.status.holder' },
    { name: 'Transitions', type: 'integer', jsonPath: '.status.transitions' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
})
export class VirtualIP implements KubeObject {
  declare apiVersion?: string;
  declare kind?: string;
  declare metadata?: KubeObject['metadata'];

  @Field({ required: true })
  spec!: VirtualIPSpec;

  @Field()
  status?: VirtualIPStatus;
}

/**
 * The Service a VirtualIP's `spec.serviceRef` names, as `namespace/name` (the namespace
 * defaults to `default`), or undefined when it names none.
 */
export function serviceRefKey(vip: VirtualIP): string | undefined {
  const ref = vip.spec?.serviceRef;
  if (!ref?.name) return undefined;
  return `${ref.namespace || 'default'}/${ref.name}`;
}
