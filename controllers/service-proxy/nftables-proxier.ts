/**
 * The nftables proxier (`--proxy-mode nftables`, Linux, root): Service ports served by DNAT
 * rules in the kernel, so packets never pass through Node.js. The ruleset is kube-proxy's
 * nftables mode (see `nftables-rules.ts`): one verdict map dispatches `clusterIP . protocol .
 * port` (and `protocol . nodePort` on the node addresses) to a chain per Service port, which
 * picks an endpoint with `numgen random mod N` (after ClientIP affinity, if set) and jumps to a
 * chain per endpoint that DNATs to it.
 *
 * How it is kept up to date:
 *
 * - the first transaction is a full resync: it replaces the whole `ip keelson` table (whatever
 *   a previous run left is gone) with the fixed chains and every Service known so far;
 * - after that, each sync computes the objects of the Services that changed and sends one
 *   `nft -f -` transaction with only the differences from what was last programmed
 *   (`diffObjects`): adding an endpoint rewrites one Service chain and adds one endpoint chain;
 * - syncs arriving together (the controller runs several workers) are batched into one
 *   transaction; transactions never overlap;
 * - a chain no longer used is flushed at once and deleted by a later transaction, after
 *   `staleChainDeleteDelayMs` (kernels before 6.2 may still see it referenced);
 * - a failed transaction changes nothing (nft transactions are atomic); the sync rejects (the
 *   controller retries it) and the next transaction is a full resync.
 *
 * Established connections are not touched by rule changes: conntrack keeps them on the endpoint
 * they were DNATed to, so TCP connections to a removed endpoint drain by themselves. UDP has no
 * end of flow, so, as kube-proxy does, the proxier deletes the conntrack entries of UDP flows
 * DNATed to a removed endpoint, and of flows to a UDP Service port that just got its first
 * endpoint (recorded while it had none, they would bypass the new rules until they expire), and
 * after a full resync (a start, a restart, a failed transaction) of every UDP Service port with
 * endpoints (what was recorded before could point anywhere) — with `conntrack -D` (Debian
 * `conntrack`); without that program it warns once and carries on.
 *
 * Loopback: cluster IPs are on 127.96.0.0/12 and pods on 127.64.0.0/11 by default. Locally
 * generated traffic is DNATed in the output hook; sending 127/8 sources out of another link
 * (an endpoint on another host) or accepting node port traffic from outside for a loopback
 * endpoint needs `net.ipv4.conf.all.route_localnet=1`. With `routeLocalnet` (the default) the
 * proxier sets it when it is 0, in the network namespace it programs, and logs that it did; the
 * table drops new connections from other links to 127/8 that were not DNATed, as kube-proxy
 * does (CVE-2020-8558).
 *
 * A proxier owns its table and replaces it when it starts. Several proxiers in one network
 * namespace (node agents on one host) each need a table of their own ({@link nftablesTableForNode});
 * they all see the same packets, their rules for a Service agree, and the kernel applies only
 * the first DNAT of a connection.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Counter } from 'prom-client';
import type { Clock, Logger, Metrics, TimerHandle } from '../../lib/index.js';
import type { Proxier, ProxierOptions } from './proxier.js';
import type { ServicePortState } from './service-ports.js';
import { baseTableLines, diffObjects, emptyObjects, mergeObjects, NFT_TABLE, servicePortObjects, type NftObjects } from './nftables-rules.js';

/** Every setting of an {@link NftablesProxier}, with its default. */
export interface NftablesProxierOptions extends ProxierOptions {
  /** The table (family `ip`) the proxier owns and replaces (default `keelson`). */
  table?: string;
  /**
   * A named network namespace (`ip netns add`) to program instead of the proxier's own: `nft`
   * and `sysctl` run through `ip netns exec` (tests; a proxy serving a namespace from outside).
   */
  netns?: string;
  /** The `nft` program (default `nft`, looked up on PATH). */
  nftCommand?: string;
  /**
   * Set `net.ipv4.conf.all.route_localnet=1` (in the programmed namespace) when it is 0, so that
   * loopback cluster IPs and endpoints work across links (default true; logged when done).
   */
  routeLocalnet?: boolean;
  /** How long a chain no longer used stays (empty) before it is deleted, ms (default 1000). */
  staleChainDeleteDelayMs?: number;
  /** Delete the table when the proxier stops (default true: serving stops with the proxier). */
  cleanupOnStop?: boolean;
  /** The `conntrack` program, for stale UDP flows (default `conntrack`; `false`: never run). */
  conntrackCommand?: string | false;
  /** Called with the text of every transaction sent, before it is sent (tests, debugging). */
  onTransaction?: (text: string) => void;
}

/**
 * The table of the nftables proxier of one node agent (`keelson node`): `keelson-node-<name>`.
 * Agents on one host each own a table of their own and never replace another's; their rules
 * for the same Service agree, and the kernel applies the first DNAT of a connection only.
 * `keelson up` runs one proxier for all its in-process agents, on the default table `keelson`.
 */
export function nftablesTableForNode(nodeName: string): string {
  // nft's identifiers take what node names are made of ([a-z0-9.-]); its limit is 256 bytes.
  const name = `keelson-node-${nodeName}`;
  return name.length <= 128 ? name : `${name.slice(0, 111)}-${createHash('sha256').update(nodeName).digest('hex').slice(0, 16)}`;
}

/** Defaults of {@link NftablesProxierOptions}. */
export const NFTABLES_DEFAULTS = {
  table: NFT_TABLE,
  nftCommand: 'nft',
  staleChainDeleteDelayMs: 1000,
} as const;

/** A failed `nft` (or `sysctl`) run: the command, its stderr and the transaction it was given. */
export class NftablesError extends Error {
  /** Kubernetes-style reason, for logs and status. */
  readonly reason = 'NftablesFailed';
  constructor(
    message: string,
    /** The command line that failed. */
    readonly command: readonly string[],
    /** What it printed on stderr. */
    readonly stderr: string,
    /** The transaction it was given, if any. */
    readonly transaction?: string,
  ) {
    super(message);
    this.name = 'NftablesError';
  }
}

/** A batch of syncs waiting for their transaction. */
interface Batch {
  promise: Promise<void>;
}

const ROUTE_LOCALNET = 'net.ipv4.conf.all.route_localnet';
const ROUTE_LOCALNET_PATH = '/proc/sys/net/ipv4/conf/all/route_localnet';

/** Serves Service ports with nftables DNAT rules (see the file header). */
export class NftablesProxier implements Proxier {
  private readonly table: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly nodeAddresses: readonly string[];
  private readonly options: NftablesProxierOptions;
  private readonly failures: Pick<Counter, 'inc'>;
  /** The desired ports of every Service, by `namespace/name`. */
  private readonly desired = new Map<string, readonly ServicePortState[]>();
  /** The objects last programmed, by Service. */
  private readonly programmed = new Map<string, NftObjects>();
  /** The ports last programmed, by Service (what stale UDP flows are computed from). */
  private readonly programmedPorts = new Map<string, readonly ServicePortState[]>();
  private conntrackMissing = false;
  /** Services whose desired state changed since their last transaction. */
  private dirty = new Set<string>();
  /** Empty chains waiting to be deleted, with when they became stale. */
  private readonly staleChains = new Map<string, number>();
  private staleTimer: TimerHandle | undefined;
  /** Whether the table was built (the next transaction is incremental). */
  private initialized = false;
  private routeLocalnetChecked = false;
  /** The tail of the queue of nft runs: they never overlap. */
  private queue: Promise<void> = Promise.resolve();
  private nextBatch: Batch | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** The text of the last transaction sent (introspection, tests). */
  lastTransaction = '';

  constructor(options: NftablesProxierOptions) {
    this.options = options;
    this.table = options.table ?? NFTABLES_DEFAULTS.table;
    this.clock = options.clock;
    this.logger = options.logger;
    this.nodeAddresses = [...new Set(options.nodeAddresses)];
    this.failures = nftablesFailures(options.metrics);
  }

  /**
   * Records the desired ports of one Service and resolves once a transaction carrying them (and
   * whatever else changed meanwhile) is in the kernel. Rejects with an {@link NftablesError} if
   * that transaction failed (nothing of it applied; the next one is a full resync).
   */
  syncService(service: string, ports: readonly ServicePortState[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (ports.length) this.desired.set(service, ports);
    else this.desired.delete(service);
    this.dirty.add(service);
    return this.scheduleBatch().promise;
  }

  /** The Services programmed now (`namespace/name`), sorted. */
  services(): string[] {
    return [...this.programmed.keys()].sort();
  }

  /** Stops: waits for the transaction in flight, then deletes the table (unless `cleanupOnStop: false`). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.staleTimer?.cancel();
      await this.queue;
      if (this.options.cleanupOnStop !== false && this.initialized) {
        try {
          await this.nft(`add table ip ${this.table}\ndelete table ip ${this.table}\n`);
          this.logger.info({ table: this.table }, 'nftables proxier stopped: table deleted');
        } catch (err) {
          this.logger.error({ err, table: this.table }, 'nftables proxier stopped, but deleting its table failed');
        }
      }
      this.initialized = false;
      this.programmed.clear();
    })();
    return this.stopping;
  }

  /** The batch the next transaction will carry: one is opened when none is waiting. */
  private scheduleBatch(): Batch {
    if (this.nextBatch) return this.nextBatch;
    const batch: Batch = {
      promise: this.enqueue(async () => {
        // Let the syncs of this turn of the event loop (other workers) join the batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.nextBatch === batch) this.nextBatch = undefined;
        await this.applyDirty();
      }),
    };
    this.nextBatch = batch;
    return batch;
  }

  /** Runs `work` after every run queued before it. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Sends the transaction for every dirty Service (all of them, with the table, the first time). */
  private async applyDirty(): Promise<void> {
    if (this.stopped) return;
    const dirty = this.dirty;
    this.dirty = new Set();
    const started = performance.now();
    const skipped: string[] = [];
    const full = !this.initialized;
    if (full) await this.ensureRouteLocalnet();
    // The ports this transaction programs (a sync arriving while it runs changes `desired`).
    const sent = new Map<string, readonly ServicePortState[]>(full ? this.desired : [...dirty].map((service) => [service, this.desired.get(service) ?? []]));
    const next = new Map<string, NftObjects>([...sent].map(([service, ports]) => [service, servicePortObjects(ports, skipped)]));
    const current = full ? emptyObjects() : mergeObjects([...dirty].map((service) => this.programmed.get(service) ?? emptyObjects()));
    const diff = diffObjects(current, mergeObjects(next.values()), this.table);
    const lines = full ? [...baseTableLines(this.nodeAddresses, this.table), ...diff.lines] : diff.lines;
    const stale = full ? [] : diff.staleChains;
    // A chain written again is no longer waiting for deletion.
    for (const name of diff.writtenChains) this.staleChains.delete(name);
    for (const reason of skipped) this.logger.warn({ reason }, 'nftables proxier: not programmed');
    if (lines.length) {
      try {
        await this.nft(`${lines.join('\n')}\n`);
      } catch (err) {
        this.failures.inc();
        this.initialized = false;
        // Everything desired is resent by the full resync the next transaction will be.
        for (const service of dirty) this.dirty.add(service);
        this.logger.error({ err, services: [...dirty] }, 'nftables transaction failed; the next sync rebuilds the table');
        throw err;
      }
    }
    if (full) {
      this.programmed.clear();
      this.programmedPorts.clear();
      this.staleChains.clear();
      this.initialized = true;
      this.logger.info({ table: this.table, services: next.size, ...(this.options.netns ? { netns: this.options.netns } : {}) }, 'nftables proxier: table rebuilt');
    }
    const staleFlows: string[][] = [];
    for (const [service, objects] of next) {
      const ports = sent.get(service) ?? [];
      // After a full resync nothing is known of what was programmed (programmedPorts was just
      // cleared): every UDP port with endpoints counts as new, and its recorded flows are deleted.
      staleFlows.push(...staleUdpFlows(this.programmedPorts.get(service) ?? [], ports));
      if (objects.chains.size || objects.sets.size || objects.elements.size) this.programmed.set(service, objects);
      else this.programmed.delete(service);
      if (ports.length) this.programmedPorts.set(service, ports);
      else this.programmedPorts.delete(service);
    }
    await this.deleteConntrackEntries(staleFlows);
    const now = this.clock.now();
    for (const name of stale) this.staleChains.set(name, now);
    if (this.staleChains.size) this.scheduleStaleChainDeletion();
    this.logger.debug({ services: [...dirty], lines: lines.length, ms: Math.round(performance.now() - started) }, 'nftables synced');
  }

  /** Deletes, in a transaction of their own, the empty chains that waited long enough. */
  private scheduleStaleChainDeletion(): void {
    if (this.staleTimer || this.stopped) return;
    const delay = this.options.staleChainDeleteDelayMs ?? NFTABLES_DEFAULTS.staleChainDeleteDelayMs;
    this.staleTimer = this.clock.setTimeout(() => {
      this.staleTimer = undefined;
      void this.enqueue(() => this.deleteStaleChains(delay)).catch(() => undefined);
    }, delay);
  }

  private async deleteStaleChains(delay: number): Promise<void> {
    if (this.stopped || !this.initialized) return;
    const due = [...this.staleChains].filter(([, since]) => this.clock.now() - since >= delay).map(([name]) => name);
    if (due.length) {
      try {
        await this.nft(`${due.map((name) => `delete chain ip ${this.table} ${name}`).join('\n')}\n`);
        for (const name of due) this.staleChains.delete(name);
      } catch (err) {
        // Still referenced for the kernel (or gone already, after an outside change): tried again later.
        this.logger.debug({ err, chains: due.length }, 'nftables: deleting stale chains failed; retrying later');
      }
    }
    if (this.staleChains.size) this.scheduleStaleChainDeletion();
  }

  /** Runs `conntrack -D` with each filter (best effort: failures are logged, never thrown). */
  private async deleteConntrackEntries(filters: readonly string[][]): Promise<void> {
    const command = this.options.conntrackCommand ?? 'conntrack';
    if (command === false || this.conntrackMissing) return;
    for (const filter of filters) {
      try {
        await this.run([command, '-D', ...filter]);
      } catch (err) {
        const stderr = err instanceof NftablesError ? err.stderr : '';
        if (stderr.includes('0 flow entries')) continue; // Nothing matched: exits 1.
        if (err instanceof NftablesError && /ENOENT|No such file|not found/.test(err.message + stderr)) {
          this.conntrackMissing = true;
          this.logger.warn({ command }, 'conntrack is not installed (Debian package conntrack): UDP flows to removed endpoints are kept until they expire');
          return;
        }
        this.logger.warn({ err, filter }, 'deleting stale conntrack entries failed');
      }
    }
  }

  /** Sets route_localnet if asked to and needed, once (see the file header). */
  private async ensureRouteLocalnet(): Promise<void> {
    if (this.routeLocalnetChecked || this.options.routeLocalnet === false) return;
    // In its own namespace the proxier writes /proc itself; another namespace's /proc/sys/net is
    // only reachable from inside it (`ip netns exec … sysctl`).
    const netns = this.options.netns;
    const current = (netns ? await this.run(['sysctl', '-n', ROUTE_LOCALNET]) : await readFile(ROUTE_LOCALNET_PATH, 'utf8')).trim();
    if (current !== '1') {
      if (netns) await this.run(['sysctl', '-w', `${ROUTE_LOCALNET}=1`]);
      else await writeFile(ROUTE_LOCALNET_PATH, '1\n');
      this.logger.warn(
        { sysctl: ROUTE_LOCALNET, was: current, now: '1', scope: netns ? `network namespace ${netns}` : "this host's network namespace" },
        'nftables proxier set net.ipv4.conf.all.route_localnet=1 so that loopback cluster IPs and endpoints can be DNATed across links (new connections to 127/8 from other links that are not DNATed are dropped by its table)',
      );
    }
    this.routeLocalnetChecked = true;
  }

  /** Sends one transaction to `nft -f -`. */
  private async nft(transaction: string): Promise<void> {
    this.lastTransaction = transaction;
    this.options.onTransaction?.(transaction);
    await this.run([this.options.nftCommand ?? NFTABLES_DEFAULTS.nftCommand, '-f', '-'], transaction);
  }

  /** Runs `argv` (in the netns, if set) with `input` on stdin; resolves with stdout. */
  private run(argv: readonly string[], input?: string): Promise<string> {
    const command = this.options.netns ? ['ip', 'netns', 'exec', this.options.netns, ...argv] : [...argv];
    return new Promise((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      child.once('error', (err) => reject(new NftablesError(`${command.join(' ')}: ${err.message}`, command, stderr, input)));
      child.once('close', (code) => {
        if (code === 0) resolve(stdout);
        else reject(new NftablesError(`${command.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(0, 6).join(' | ')}`, command, stderr, input));
      });
      if (input) child.stdin.end(input);
      else child.stdin.end();
    });
  }
}

/**
 * The `conntrack -D` filters for UDP flows made stale by going from `before` to `after` (the
 * ports of one Service): flows DNATed to an endpoint that left (by cluster IP, and by node
 * port), and every flow to a port that had no endpoint and now has (kube-proxy's rules).
 */
export function staleUdpFlows(before: readonly ServicePortState[], after: readonly ServicePortState[]): string[][] {
  const filters: string[][] = [];
  const key = (e: { ip: string; port: number }) => `${e.ip}:${e.port}`;
  /** The endpoints node port traffic goes to (other than the cluster IP's with a Local traffic policy). */
  const external = (state: ServicePortState) => state.externalEndpoints ?? state.endpoints;
  const samePort = (a: ServicePortState, b: ServicePortState) => b.name === a.name && b.protocol === 'UDP' && b.clusterIP === a.clusterIP && b.port === a.port;
  for (const old of before) {
    if (old.protocol !== 'UDP') continue;
    const now = after.find((p) => samePort(old, p));
    const kept = new Set((now?.endpoints ?? []).map(key));
    for (const endpoint of old.endpoints) {
      if (!kept.has(key(endpoint))) filters.push(['-p', 'udp', '--orig-dst', old.clusterIP, '--dst-nat', endpoint.ip]);
    }
    if (!old.nodePort) continue;
    const keptExternal = new Set(now && now.nodePort === old.nodePort ? external(now).map(key) : []);
    for (const endpoint of external(old)) {
      if (!keptExternal.has(key(endpoint))) filters.push(['-p', 'udp', '--orig-port-dst', String(old.nodePort), '--dst-nat', endpoint.ip]);
    }
  }
  for (const now of after) {
    if (now.protocol !== 'UDP') continue;
    const old = before.find((p) => samePort(now, p));
    if (now.endpoints.length > 0 && !old?.endpoints.length) filters.push(['-p', 'udp', '--orig-dst', now.clusterIP, '--orig-port-dst', String(now.port)]);
    if (now.nodePort && external(now).length > 0 && !(old && old.nodePort === now.nodePort && external(old).length > 0)) {
      filters.push(['-p', 'udp', '--orig-port-dst', String(now.nodePort)]);
    }
  }
  return filters;
}

/** `kubeproxy_sync_proxy_rules_nftables_sync_failures_total`, kube-proxy's name, on `metrics` (shared if registered). */
function nftablesFailures(metrics: Metrics | undefined): Pick<Counter, 'inc'> {
  if (!metrics) return { inc() {} };
  const name = 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total';
  return (metrics.registry.getSingleMetric(name) as Counter | undefined) ?? new Counter({ name, help: 'Failed nftables transactions', registers: [metrics.registry] });
}
