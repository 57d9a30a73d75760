/**
 * Ranges of allocatable items as kube's allocators see them — the IPv4 addresses of a CIDR minus
 * its network and broadcast addresses, the ports of a node port range — and their allocations
 * kept in the store. Dynamic picks start at a random point of the upper part of a range and fall
 * back to the lower band, which is left to explicitly requested values (kube's static subranges
 * for Service IPs and node ports).
 */
import { badRequest, internalError } from '../../api/errors.js';
import { isKVError, type KV } from '../../storage/kv.js';
import { sleepWith, type Clock } from '../../util/clock.js';
import { storageError } from '../errors.js';

/** One range: its items are addressed by offset, 0 … size-1. */
export interface ItemRange {
  /** The name of the range's record in the store (`serviceips`, `servicenodeports`). */
  readonly name: string;
  /** What an item is, for messages: `IP`, `port`. */
  readonly what: string;
  /** The range as configured (`127.96.0.0/12`, `30000-32767`). */
  readonly spec: string;
  /** How many items can be allocated. */
  readonly size: number;
  /** kube's text for a requested item outside the range. */
  readonly notInRange: string;
  /** kube's text for a requested item already taken. */
  readonly alreadyAllocated: string;
  /** The offset of an item, or undefined when it is not in the range. */
  offset(item: string): number | undefined;
  /** The item at an offset. */
  item(offset: number): string;
  /** A random item for which `isFree` holds, preferring the upper band; undefined when none is. */
  pickFree(isFree: (item: string) => boolean): string | undefined;
}

/** kube's calculateRangeOffset: min(max(min, size/step), max), or 0 for a tiny range. */
function staticBand(size: number, min: number, max: number, step: number): number {
  if (size <= min) return 0;
  return Math.min(Math.max(Math.floor(size / step), min), max);
}

function makeRange(fields: Omit<ItemRange, 'pickFree'>, band: number): ItemRange {
  return {
    ...fields,
    pickFree(isFree) {
      const dynamic = fields.size - band;
      const start = band + Math.floor(Math.random() * dynamic);
      const order = (i: number) => (i < dynamic ? band + ((start - band + i) % dynamic) : i - dynamic);
      for (let i = 0; i < fields.size; i++) {
        const item = fields.item(order(i));
        if (isFree(item)) return item;
      }
      return undefined;
    },
  };
}

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function numberToIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The usable IPv4 addresses of a CIDR (e.g. `127.96.0.0/12`). Throws a 400 for a malformed CIDR. */
export function ipv4Range(name: string, cidr: string): ItemRange {
  const [address = '', bits = ''] = cidr.split('/');
  const base = ipv4ToNumber(address);
  const prefix = /^\d+$/.test(bits) ? Number(bits) : NaN;
  if (base === undefined || !(prefix >= 1 && prefix <= 30)) throw badRequest(`invalid service cluster IP range "${cidr}": want an IPv4 CIDR from /1 to /30`);
  const count = 2 ** (32 - prefix);
  const network = base - (base % count);
  const size = count - 2;
  return makeRange(
    {
      name,
      what: 'IP',
      spec: `${numberToIPv4(network)}/${prefix}`,
      size,
      notInRange: `provided IP is not in the valid range. The range of valid IPs is ${numberToIPv4(network)}/${prefix}`,
      alreadyAllocated: 'provided IP is already allocated',
      offset(item) {
        const n = ipv4ToNumber(item);
        const offset = n === undefined ? -1 : n - network - 1;
        return offset >= 0 && offset < size ? offset : undefined;
      },
      item: (offset) => numberToIPv4(network + 1 + offset),
    },
    staticBand(count, 16, 256, 16),
  );
}

/** The ports of a range `first-last` (e.g. `30000-32767`). Throws a 400 for a malformed range. */
export function portRange(name: string, spec: string): ItemRange {
  const match = /^(\d+)-(\d+)$/.exec(spec.trim());
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || last > 65535 || first > last) throw badRequest(`invalid service node port range "${spec}": want first-last within 1-65535`);
  const size = last - first + 1;
  return makeRange(
    {
      name,
      what: 'port',
      spec: `${first}-${last}`,
      size,
      notInRange: `provided port is not in the valid range. The range of valid ports is ${first}-${last}`,
      alreadyAllocated: 'provided port is already allocated',
      offset(item) {
        const port = /^\d+$/.test(item) ? Number(item) : -1;
        return port >= first && port <= last ? port - first : undefined;
      },
      item: (offset) => String(first + offset),
    },
    staticBand(size, 16, 128, 32),
  );
}

// ---------------------------------------------------------------- allocations in the store

/** The stored state of one range: item → uid of its holder, and fresh reservations. */
export interface RangeAllocationRecord {
  apiVersion: 'v1';
  kind: 'RangeAllocation';
  /** The range the record was written for (a configuration change rebases it). */
  range: string;
  /** Allocated item → the uid of its holder. */
  owners: Record<string, string>;
  /** Items allocated but not yet seen stored with their holder → when (ms since the epoch). */
  reserved: Record<string, number>;
}

/** One item a write needs: a requested one, or any free one. */
export interface Claim {
  /** The item asked for; absent: any free one. */
  requested?: string;
  /** The error when the requested item cannot be had (kube's message for the field). */
  refuse(reason: string): Error;
  /** The error when the range is full. */
  full(): Error;
  /** Receives the item granted. */
  assign(item: string): void;
}

const MAX_ATTEMPTS = 100;

/**
 * The allocations of one range, kept in the store under `/registry/ranges/<name>` (kube's
 * RangeAllocation objects) and changed by compare-and-swap: read, change, write if unchanged
 * since the read, else again. Changes made through one instance run one at a time.
 */
export class StoredRange {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly range: ItemRange,
    private readonly kv: KV,
    private readonly clock: Clock,
  ) {}

  /** The key of the record. */
  get key(): string {
    return `/registry/ranges/${this.range.name}`;
  }

  /** The stored record (empty when none was written yet). */
  read(): Promise<RangeAllocationRecord> {
    return this.transact((record) => record, false);
  }

  /**
   * Grants claims to `holder`: a requested item must be in range and free or the holder's own;
   * an unset one gets a free one. Each is reserved (with the time) until confirmed by
   * {@link settle} or a repair pass. Returns the items granted; `dryRun` computes without writing.
   */
  async allocate(holder: string, claims: Claim[], dryRun: boolean): Promise<string[]> {
    if (claims.length === 0) return [];
    const grants = await this.transact((record) => {
      const granted: [Claim, string][] = [];
      const grant = (claim: Claim, item: string) => {
        record.owners[item] = holder;
        record.reserved[item] = this.clock.now();
        granted.push([claim, item]);
      };
      for (const claim of claims.filter((c) => c.requested !== undefined)) {
        const item = claim.requested!;
        if (this.range.offset(item) === undefined) throw claim.refuse(this.range.notInRange);
        const owner = record.owners[item];
        if (owner !== undefined && owner !== holder) throw claim.refuse(this.range.alreadyAllocated);
        grant(claim, item);
      }
      for (const claim of claims.filter((c) => c.requested === undefined)) {
        const item = this.range.pickFree((candidate) => record.owners[candidate] === undefined);
        if (item === undefined) throw claim.full();
        grant(claim, item);
      }
      return granted;
    }, !dryRun);
    // Only what was written is handed out (an attempt that lost a race picked in vain).
    for (const [claim, item] of grants) claim.assign(item);
    return grants.map(([, item]) => item);
  }

  /** Frees what `holder` owns (only `items`, when given). */
  release(holder: string, items?: readonly string[]): Promise<void> {
    return this.transact((record) => {
      for (const [item, owner] of Object.entries(record.owners)) {
        if (owner !== holder || (items && !items.includes(item))) continue;
        delete record.owners[item];
        delete record.reserved[item];
      }
    });
  }

  /**
   * Once `holder` is stored using `used`: confirms the reservations of the items it uses, and
   * frees those it owns but does not use — unless reserved less than `graceMs` ago by a write
   * that may still be in flight. Items its last write gave up (`givenUp.items`, which that write
   * found in use) are freed at once, unless reserved again after `givenUp.since`.
   */
  settle(holder: string, used: ReadonlySet<string>, graceMs: number, givenUp?: { items: readonly string[]; since: number }): Promise<void> {
    return this.transact((record) => {
      const now = this.clock.now();
      for (const [item, owner] of Object.entries(record.owners)) {
        if (owner !== holder) continue;
        const reservedAt = record.reserved[item];
        if (used.has(item)) delete record.reserved[item];
        else if (reservedAt === undefined || now - reservedAt >= graceMs || (givenUp?.items.includes(item) && reservedAt <= givenUp.since)) {
          delete record.owners[item];
          delete record.reserved[item];
        }
      }
    });
  }

  /**
   * The repair pass (kube's repair controllers) given who uses what: records every used item for
   * a user (confirming its reservation), and frees the items nobody uses unless reserved less
   * than `graceMs` ago. `users` is read by `listUsers` after the record, so that a holder stored
   * in between is seen. Calls `conflict` for an item several holders use.
   */
  repair(listUsers: () => Promise<Map<string, string[]>>, graceMs: number, conflict: (item: string, holders: string[]) => void): Promise<void> {
    return this.transact(async (record) => {
      const users = await listUsers();
      for (const [item, holders] of users) {
        if (this.range.offset(item) === undefined) continue;
        if (holders.length > 1) conflict(item, holders);
        if (!holders.includes(record.owners[item] ?? '')) record.owners[item] = holders[0]!;
        delete record.reserved[item];
      }
      const now = this.clock.now();
      for (const item of Object.keys(record.owners)) {
        const reservedAt = record.reserved[item];
        if (users.has(item) || (reservedAt !== undefined && now - reservedAt < graceMs)) continue;
        delete record.owners[item];
        delete record.reserved[item];
      }
    });
  }

  /** Read, change, compare-and-swap; again on conflict. Writes only when `change` changed the record. */
  private transact<T>(change: (record: RangeAllocationRecord) => T | Promise<T>, write = true): Promise<T> {
    const run = async (): Promise<T> => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await this.kv.get(this.key).catch((err: unknown) => Promise.reject(storageError(err)));
        const record = current ? (JSON.parse(current.value) as RangeAllocationRecord) : this.empty();
        if (record.range !== this.range.spec) this.rebase(record);
        const before = JSON.stringify(record);
        const result = await change(record);
        const value = JSON.stringify(record);
        if (!write || value === before) return result;
        try {
          if (current) await this.kv.update(this.key, value, current.modRevision);
          else await this.kv.create(this.key, value);
          return result;
        } catch (err) {
          if (!isKVError(err, 'conflict') && !isKVError(err, 'exists') && !isKVError(err, 'not-found')) throw storageError(err);
          // Another process wrote first: read again, with a little jitter once it keeps happening.
          if (attempt > 2) await sleepWith(this.clock, Math.random() * 5 * attempt);
        }
      }
      throw internalError(new Error(`failed to update the ${this.range.what} allocations: too many concurrent updates`));
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private empty(): RangeAllocationRecord {
    return { apiVersion: 'v1', kind: 'RangeAllocation', range: this.range.spec, owners: {}, reserved: {} };
  }

  /** A record written for another range (the configuration changed): keep what is still in range. */
  private rebase(record: RangeAllocationRecord): void {
    record.range = this.range.spec;
    record.owners ??= {};
    record.reserved ??= {};
    for (const item of Object.keys(record.owners)) {
      if (this.range.offset(item) !== undefined) continue;
      delete record.owners[item];
      delete record.reserved[item];
    }
  }
}
