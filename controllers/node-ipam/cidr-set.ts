/**
 * A cluster CIDR cut into equal subnets, and which of them are taken — kube's `cidrset`, for
 * IPv4. The node-IPAM controller hands each node one subnet; the set only does the arithmetic
 * and the bookkeeping, it never talks to the API.
 */

/** An IPv4 CIDR: the network address as an unsigned 32-bit number and the prefix length. */
export interface Ipv4Cidr {
  /** The network address (host bits zero), as an unsigned 32-bit integer. */
  base: number;
  /** The prefix length, 0–32. */
  prefix: number;
}

/** Parses `a.b.c.d/n` (host bits are cleared); undefined when it is not an IPv4 CIDR. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { base: address - (address % 2 ** (32 - prefix)), prefix };
}

/** Formats a CIDR as `a.b.c.d/n`. */
export function formatIpv4Cidr(cidr: Ipv4Cidr): string {
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(cidr.base / 2 ** shift) % 256);
  return `${octets.join('.')}/${cidr.prefix}`;
}

/**
 * The subnets of one cluster CIDR (e.g. the /24s of `127.64.0.0/11`), each free or used.
 * Allocation walks round-robin from the last subnet handed out, as kube's does, so a subnet
 * just released is not handed out again at once.
 */
export class CidrSet {
  /** The number of subnets. */
  readonly size: number;
  private readonly cluster: Ipv4Cidr;
  private readonly subnetSpan: number;
  private readonly usedBits: Uint8Array;
  private usedCount = 0;
  private nextCandidate = 0;

  /** Throws a RangeError when `clusterCIDR` is no IPv4 CIDR or the subnet prefix does not fit in it. */
  constructor(
    clusterCIDR: string,
    /** The prefix length of each subnet (24 for /24s). */
    readonly subnetPrefix: number,
  ) {
    const cluster = parseIpv4Cidr(clusterCIDR);
    if (!cluster) throw new RangeError(`cluster CIDR "${clusterCIDR}" is not an IPv4 CIDR (a.b.c.d/n)`);
    if (!Number.isInteger(subnetPrefix) || subnetPrefix < cluster.prefix || subnetPrefix > 32) {
      throw new RangeError(`node CIDR mask size /${subnetPrefix} must be between the cluster CIDR's /${cluster.prefix} and /32`);
    }
    if (subnetPrefix - cluster.prefix > 24) {
      throw new RangeError(`node CIDR mask size /${subnetPrefix} cuts ${clusterCIDR} into more than 2^24 subnets`);
    }
    this.cluster = cluster;
    this.subnetSpan = 2 ** (32 - subnetPrefix);
    this.size = 2 ** (subnetPrefix - cluster.prefix);
    this.usedBits = new Uint8Array(this.size);
  }

  /** The number of subnets in use. */
  get used(): number {
    return this.usedCount;
  }

  /** The next free subnet, now marked used; undefined when every subnet is taken. */
  allocateNext(): string | undefined {
    if (this.usedCount >= this.size) return undefined;
    for (let i = 0; i < this.size; i++) {
      const candidate = (this.nextCandidate + i) % this.size;
      if (this.usedBits[candidate]) continue;
      this.mark(candidate, true);
      this.nextCandidate = (candidate + 1) % this.size;
      return this.subnet(candidate);
    }
    return undefined;
  }

  /**
   * Marks the subnets a CIDR overlaps as used (one subnet for a node's own /24; all it covers
   * for a larger one). False when the CIDR is no IPv4 CIDR or lies outside the cluster CIDR.
   */
  occupy(cidr: string): boolean {
    const range = this.indices(cidr);
    if (!range) return false;
    for (let i = range.first; i <= range.last; i++) this.mark(i, true);
    return true;
  }

  /** Marks the subnets a CIDR overlaps as free again (a no-op outside the cluster CIDR). */
  release(cidr: string): void {
    const range = this.indices(cidr);
    if (!range) return;
    for (let i = range.first; i <= range.last; i++) this.mark(i, false);
  }

  /** True if every subnet the CIDR overlaps is used; false outside the cluster CIDR. */
  isUsed(cidr: string): boolean {
    const range = this.indices(cidr);
    if (!range) return false;
    for (let i = range.first; i <= range.last; i++) if (!this.usedBits[i]) return false;
    return true;
  }

  private subnet(index: number): string {
    return formatIpv4Cidr({ base: this.cluster.base + index * this.subnetSpan, prefix: this.subnetPrefix });
  }

  private mark(index: number, used: boolean): void {
    if (Boolean(this.usedBits[index]) === used) return;
    this.usedBits[index] = used ? 1 : 0;
    this.usedCount += used ? 1 : -1;
  }

  /** The subnet indices a CIDR overlaps, clipped to the cluster CIDR; undefined if none. */
  private indices(text: string): { first: number; last: number } | undefined {
    const cidr = parseIpv4Cidr(text);
    if (!cidr) return undefined;
    const clusterEnd = this.cluster.base + 2 ** (32 - this.cluster.prefix) - 1;
    const start = Math.max(cidr.base, this.cluster.base);
    const end = Math.min(cidr.base + 2 ** (32 - cidr.prefix) - 1, clusterEnd);
    if (start > end) return undefined;
    return {
      first: Math.floor((start - this.cluster.base) / this.subnetSpan),
      last: Math.floor((end - this.cluster.base) / this.subnetSpan),
    };
  }
}
