/**
 * Pod addresses from the node's pod CIDR (the `host-local` IPAM plugin's job under a real
 * kubelet). keelson's pod network is loopback: Linux routes all of 127/8 to `lo`, so every
 * address of the node's `/24` (inside `127.64.0.0/11`) can be bound by a pod's processes.
 *
 * - The network address and the broadcast address are never handed out, and neither is the
 *   first host address (`.1`, the "gateway" a CNI bridge would take) — as host-local does.
 * - Addresses are handed out round-robin after the last one allocated, so an address freed by a
 *   deleted pod is not reused at once (its old connections and stale Endpoints die first).
 * - A pod that already has an address (its `status.podIP`, from before an agent restart) gets it
 *   back when it is free and inside the range: pods keep their IP across agent restarts.
 */

/** Parses dotted IPv4 into a number; undefined if it is not one. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** Formats a number as dotted IPv4. */
export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** An IPv4 CIDR as its first address and prefix length; undefined if malformed or IPv6. */
export function parseIPv4CIDR(cidr: string): { base: number; prefix: number } | undefined {
  const [address, prefixText] = cidr.split('/');
  const ip = address === undefined ? undefined : parseIPv4(address);
  const prefix = Number(prefixText);
  if (ip === undefined || !/^\d{1,2}$/.test(prefixText ?? '') || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

/** The addresses of one pod CIDR, handed out to pods by uid. */
export class PodIPAllocator {
  /** The CIDR the allocator serves. */
  readonly cidr: string;
  private readonly first: number;
  private readonly last: number;
  private readonly byUid = new Map<string, number>();
  private readonly used = new Set<number>();
  private cursor: number;

  /** @throws Error when `cidr` is not an IPv4 CIDR with room for at least one pod. */
  constructor(cidr: string) {
    const parsed = parseIPv4CIDR(cidr);
    if (!parsed || parsed.prefix > 29) throw new Error(`pod CIDR ${cidr} is not an IPv4 CIDR of /29 or larger`);
    this.cidr = cidr;
    const size = 2 ** (32 - parsed.prefix);
    this.first = parsed.base + 2; // .0 is the network, .1 the reserved gateway
    this.last = parsed.base + size - 2; // the last address is the broadcast
    this.cursor = this.first - 1;
  }

  /** The range pods get addresses from, as host-local prints it (`127.64.1.2-127.64.1.254`). */
  get range(): string {
    return `${formatIPv4(this.first)}-${formatIPv4(this.last)}`;
  }

  /** How many addresses are in use. */
  get size(): number {
    return this.used.size;
  }

  /** True if `ip` is an address this allocator could hand out. */
  contains(ip: string): boolean {
    const value = parseIPv4(ip);
    return value !== undefined && value >= this.first && value <= this.last;
  }

  /** The address held by a pod, if any. */
  get(uid: string): string | undefined {
    const value = this.byUid.get(uid);
    return value === undefined ? undefined : formatIPv4(value);
  }

  /**
   * The pod's address: the one it holds, else `preferred` when free and in range, else the next
   * free one round-robin. Undefined when the range is exhausted.
   */
  allocate(uid: string, preferred?: string): string | undefined {
    const held = this.get(uid);
    if (held) return held;
    const wanted = preferred ? parseIPv4(preferred) : undefined;
    if (wanted !== undefined && wanted >= this.first && wanted <= this.last && !this.used.has(wanted)) return this.take(uid, wanted);
    const count = this.last - this.first + 1;
    for (let step = 1; step <= count; step++) {
      const candidate = this.first + ((this.cursor - this.first + step) % count);
      if (!this.used.has(candidate)) {
        this.cursor = candidate;
        return this.take(uid, candidate);
      }
    }
    return undefined;
  }

  /** Frees the pod's address (a no-op if it holds none). */
  release(uid: string): void {
    const value = this.byUid.get(uid);
    if (value === undefined) return;
    this.byUid.delete(uid);
    this.used.delete(value);
  }

  private take(uid: string, value: number): string {
    this.byUid.set(uid, value);
    this.used.add(value);
    return formatIPv4(value);
  }
}
