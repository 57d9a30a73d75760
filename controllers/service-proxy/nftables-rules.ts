/**
 * The nftables ruleset of the `nftables` proxy mode, as data — pure functions, no `nft` here
 * (the proxier in `nftables-proxier.ts` sends what these produce). The layout is kube-proxy's
 * nftables mode (pkg/proxy/nftables), in one table `ip keelson`:
 *
 * ```
 * nat-prerouting (hook prerouting, dstnat) ─┐
 * nat-output     (hook output, -100)       ─┴─ jump services
 *   services:  ip daddr . meta l4proto . th dport vmap @service-ips
 *              ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
 *   service-ips:       clusterIP . tcp . port  : goto service-<hash>-ns/name/tcp/port-name
 *                      vip . tcp . port        : goto external-<hash>-…   (a VIP held here for the Service: extraAddresses)
 *   service-nodeports: tcp . nodePort          : goto external-<hash>-…   (mark for masquerade, then the service chain)
 *   service-<…>:   loopback sources marked for masquerade; ClientIP affinity (ip saddr @affinity-<ep> goto endpoint-<ep>);
 *                  numgen random mod N vmap { 0 : goto endpoint-<ep0>, … }
 *   endpoint-<…>:  hairpin (ip saddr = endpoint) marked; update @affinity-<ep> { ip saddr }; dnat to ip:port
 * nat-postrouting (srcnat) ─ jump masquerading: marked packets are masqueraded unless they leave on lo
 * filter-input/forward/output (-110) ─ ct state new jump endpoints-check:
 *   Service ports without endpoints are rejected (@no-endpoint-services, @no-endpoint-nodeports):
 *   TCP with a reset, others with ICMP port unreachable
 * filter-input also drops new connections from outside to 127.0.0.0/8 that were not DNATed
 * (route_localnet=1 would expose loopback listeners otherwise — kube-proxy's CVE-2020-8558 rule).
 * ```
 *
 * Every Service port owns a disjoint set of objects — its chains, its affinity sets, its map
 * elements — named after it ({@link servicePortObjects}). {@link diffObjects} turns the objects
 * last programmed and the objects desired into the lines of one `nft -f -` transaction that
 * touches only what changed: an endpoint added to one Service rewrites that Service's chain
 * and adds one endpoint chain, nothing else.
 */
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { endpointKey, type ServiceEndpoint, type ServicePortState } from './service-ports.js';

/** The default table name (family `ip`). */
export const NFT_TABLE = 'keelson';

/** The packet mark bit that asks `masquerading` to SNAT a packet (kube-proxy's default, bit 14). */
export const MASQUERADE_MARK = '0x4000';

/** The chains, sets and map names of the fixed part of the table. */
export const NFT_NAMES = {
  services: 'services',
  masquerading: 'masquerading',
  markForMasquerade: 'mark-for-masquerade',
  endpointsCheck: 'endpoints-check',
  reject: 'reject-chain',
  nodePortIPs: 'nodeport-ips',
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
} as const;

/** One element of a verdict map: `key : value`. */
export interface NftElement {
  map: string;
  key: string;
  value: string;
}

/**
 * The objects a set of Service ports owns in the table. Names are unique to their Service
 * port, so the objects of two Service ports never overlap.
 */
export interface NftObjects {
  /** Regular chains by name, each with its rules in order. */
  chains: Map<string, readonly string[]>;
  /** Sets by name, each with its definition (`{ type …; }`). */
  sets: Map<string, string>;
  /** Verdict map elements by `map key`. */
  elements: Map<string, NftElement>;
}

/** No objects. */
export function emptyObjects(): NftObjects {
  return { chains: new Map(), sets: new Map(), elements: new Map() };
}

/** nft names may be 255 characters; prefixes (`endpoint-`, …) take at most 16 of them. */
const NAME_BASE_MAX = 255 - 16;

/** RFC 4648 base32 of the first 5 bytes of `bytes`: 8 characters. */
function base32Prefix(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(bytes[i]!);
  let out = '';
  for (let shift = 35n; shift >= 0n; shift -= 5n) out += alphabet[Number((bits >> shift) & 31n)];
  return out;
}

/**
 * `name` prefixed with a hash of itself (so a truncated name stays unique, and names that differ
 * in one digit look different), truncated to fit — kube-proxy's hashAndTruncate.
 */
export function hashAndTruncate(name: string): string {
  const hashed = `${base32Prefix(createHash('sha256').update(name).digest())}-${name}`;
  return hashed.length > NAME_BASE_MAX ? `${hashed.slice(0, NAME_BASE_MAX - 3)}...` : hashed;
}

/** The port name of a Service port (`''` for an unnamed one). */
function portNameOf(state: ServicePortState): string {
  return state.name === state.service ? '' : state.name.slice(state.service.length + 1);
}

/**
 * The base of a Service port's chain names: `HASH-namespace/name/protocol/port-name`
 * (Kubernetes names never contain `/`, which nft names allow).
 */
export function servicePortChainBase(state: ServicePortState): string {
  return hashAndTruncate(`${state.service}/${state.protocol.toLowerCase()}/${portNameOf(state)}`);
}

/** The base of an endpoint's chain and affinity set names: `HASH-namespace/name/protocol/port-name__ip/port`. */
export function endpointChainBase(state: ServicePortState, endpoint: { ip: string; port: number }): string {
  return hashAndTruncate(`${state.service}/${state.protocol.toLowerCase()}/${portNameOf(state)}__${endpoint.ip}/${endpoint.port}`);
}

/** What {@link servicePortObjects} could not program, one line each (e.g. an IPv6 address in an `ip` table). */
export type Skipped = string[];

/**
 * The objects that serve `ports` (the ports of one Service): see the file header. Addresses
 * that are not IPv4 are skipped (the table is of family `ip`) and reported in `skipped`.
 */
export function servicePortObjects(ports: readonly ServicePortState[], skipped: Skipped = []): NftObjects {
  const objects = emptyObjects();
  const addElement = (map: string, key: string, value: string) => objects.elements.set(`${map} ${key}`, { map, key, value });
  for (const state of ports) {
    if (!isIPv4(state.clusterIP)) {
      skipped.push(`${state.name}: cluster IP ${state.clusterIP} is not IPv4`);
      continue;
    }
    const protocol = state.protocol.toLowerCase();
    const base = servicePortChainBase(state);
    const serviceChain = `service-${base}`;
    const externalChain = `external-${base}`;
    const ipv4Endpoints = (list: readonly ServiceEndpoint[]) =>
      list.filter((endpoint) => {
        if (isIPv4(endpoint.ip)) return true;
        skipped.push(`${state.name}: endpoint ${endpoint.ip} is not IPv4`);
        return false;
      });
    const clusterEndpoints = ipv4Endpoints(state.endpoints);
    // With a Local traffic policy, external traffic has endpoints of its own.
    const externalEndpoints = state.externalEndpoints ? ipv4Endpoints(state.externalEndpoints) : clusterEndpoints;
    const policy = state.local;
    const clusterKey = `${state.clusterIP} . ${protocol} . ${state.port}`;
    const nodePortKey = state.nodePort ? `${protocol} . ${state.nodePort}` : undefined;
    // External IPs, load-balancer IPs and the VIPs held here: answered at the Service port.
    const extraKeys = (state.extraAddresses ?? [])
      .filter((address) => {
        if (isIPv4(address)) return true;
        skipped.push(`${state.name}: address ${address} is not IPv4`);
        return false;
      })
      .map((address) => `${address} . ${protocol} . ${state.port}`);
    // Without an endpoint new connections are rejected (TCP reset; ICMP port unreachable for the
    // others) — but dropped when a Local policy leaves none here while others have some, as kube-proxy.
    const noEndpoint = (local: boolean | undefined) => (local && policy?.anyReady ? 'drop' : `goto ${NFT_NAMES.reject}`);

    const affinity = state.affinityTimeoutSeconds;
    const endpointChains = new Map<string, string>();
    for (const endpoint of [...clusterEndpoints, ...externalEndpoints]) {
      const endpointBase = endpointChainBase(state, endpoint);
      const endpointChain = `endpoint-${endpointBase}`;
      if (objects.chains.has(endpointChain)) continue;
      const affinitySet = `affinity-${endpointBase}`;
      endpointChains.set(endpointKey(endpoint), endpointChain);
      const rules = [`ip saddr ${endpoint.ip} jump ${NFT_NAMES.markForMasquerade}`];
      if (affinity !== undefined) {
        objects.sets.set(affinitySet, `{ type ipv4_addr; flags dynamic,timeout; timeout ${affinity}s; }`);
        rules.push(`update @${affinitySet} { ip saddr }`);
      }
      rules.push(`meta l4proto ${protocol} dnat to ${endpoint.ip}:${endpoint.port}`);
      objects.chains.set(endpointChain, rules);
    }
    /** Rules that send a packet to one of `endpoints` (non-empty): the client's sticky one, or a random one. */
    const choose = (endpoints: readonly ServiceEndpoint[]): string[] => {
      const chains = endpoints.map((endpoint) => endpointChains.get(endpointKey(endpoint))!);
      const rules = affinity === undefined ? [] : chains.map((chain) => `ip saddr @${chain.replace(/^endpoint-/, 'affinity-')} goto ${chain}`);
      rules.push(`numgen random mod ${chains.length} vmap { ${chains.map((chain, i) => `${i} : goto ${chain}`).join(', ')} }`);
      return rules;
    };

    if (clusterEndpoints.length) {
      addElement(NFT_NAMES.serviceIPs, clusterKey, `goto ${serviceChain}`);
      objects.chains.set(serviceChain, [
        // Locally generated traffic to a cluster IP on lo has a loopback source, which must not
        // leave the host: masqueraded when the chosen endpoint is reached over another link.
        `ip saddr 127.0.0.0/8 jump ${NFT_NAMES.markForMasquerade}`,
        ...choose(clusterEndpoints),
      ]);
    } else addElement(NFT_NAMES.noEndpointServices, clusterKey, noEndpoint(policy?.internal));

    if (!nodePortKey && !extraKeys.length) continue;
    let externalRules: string[] | undefined;
    if (policy?.external) {
      // externalTrafficPolicy Local: the endpoints are on this node, so the client's address is
      // kept (no masquerade). Traffic from this node itself is cluster traffic, as in kube-proxy.
      const fromHere = clusterEndpoints.length ? [`fib saddr type local jump ${NFT_NAMES.markForMasquerade}`, `fib saddr type local goto ${serviceChain}`] : [];
      if (externalEndpoints.length) externalRules = [...fromHere, ...choose(externalEndpoints)];
      else if (fromHere.length) externalRules = [...fromHere, 'drop'];
    } else if (externalEndpoints.length) {
      // Node port (and external address) traffic may come from another host and go to an
      // endpoint on a third: its replies must come back through this host to be un-DNATed.
      externalRules =
        externalEndpoints === clusterEndpoints
          ? [`jump ${NFT_NAMES.markForMasquerade}`, `goto ${serviceChain}`]
          : [`jump ${NFT_NAMES.markForMasquerade}`, ...choose(externalEndpoints)];
    }
    if (externalRules) {
      objects.chains.set(externalChain, externalRules);
      if (nodePortKey) addElement(NFT_NAMES.serviceNodePorts, nodePortKey, `goto ${externalChain}`);
      for (const key of extraKeys) addElement(NFT_NAMES.serviceIPs, key, `goto ${externalChain}`);
    } else {
      if (nodePortKey) addElement(NFT_NAMES.noEndpointNodePorts, nodePortKey, noEndpoint(policy?.external));
      for (const key of extraKeys) addElement(NFT_NAMES.noEndpointServices, key, noEndpoint(policy?.external));
    }
  }
  return objects;
}

/** The objects of many Services together (their names never overlap). */
export function mergeObjects(all: Iterable<NftObjects>): NftObjects {
  const merged = emptyObjects();
  for (const objects of all) {
    for (const [name, rules] of objects.chains) merged.chains.set(name, rules);
    for (const [name, definition] of objects.sets) merged.sets.set(name, definition);
    for (const [key, element] of objects.elements) merged.elements.set(key, element);
  }
  return merged;
}

/** What {@link diffObjects} found. */
export interface ObjectsDiff {
  /** The transaction's lines (empty: nothing to change). */
  lines: string[];
  /** Chains no longer used: flushed by this transaction, to be deleted by a later one. */
  staleChains: string[];
  /** Chains (re)created or rewritten by this transaction. */
  writtenChains: string[];
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((rule, i) => rule === b[i]);
}

/** Whether `rule` refers to the set `name`. */
function refersToSet(rule: string, name: string): boolean {
  return rule.includes(`@${name} `) || rule.endsWith(`@${name}`);
}

/**
 * The transaction that turns `current` into `desired` in `table`, touching only what differs:
 *
 * 1. map elements that go away or change value are deleted;
 * 2. chains that change, or are no longer used, are flushed (the unused ones are left empty
 *    and reported in `staleChains`: the kernel may still see a reference to them from a map
 *    element deleted in the same transaction — kernels before 6.2 — so kube-proxy deletes them
 *    in a later transaction, and so does the proxier);
 * 3. sets that go away or change definition are deleted (a chain that uses a redefined set is
 *    rewritten too), then new and redefined sets added;
 * 4. new chains are added, and every new or changed chain gets its rules;
 * 5. new and changed map elements are added.
 *
 * Lines are in that order, so everything a rule or element refers to exists when it is added.
 */
export function diffObjects(current: NftObjects, desired: NftObjects, table = NFT_TABLE): ObjectsDiff {
  const t = `ip ${table}`;
  const lines: string[] = [];
  // Elements that go away or change.
  const elementsToAdd: NftElement[] = [];
  for (const [key, element] of current.elements) {
    const wanted = desired.elements.get(key);
    if (!wanted || wanted.value !== element.value) lines.push(`delete element ${t} ${element.map} { ${element.key} }`);
  }
  for (const [key, element] of desired.elements) {
    const had = current.elements.get(key);
    if (!had || had.value !== element.value) elementsToAdd.push(element);
  }
  // Sets that go away or are redefined.
  const setsToDelete = [...current.sets].filter(([name, definition]) => desired.sets.get(name) !== definition).map(([name]) => name);
  const redefinedSets = setsToDelete.filter((name) => desired.sets.has(name));
  // Chains: changed (or using a redefined set), new, stale.
  const changed: string[] = [];
  const added: string[] = [];
  for (const [name, rules] of desired.chains) {
    const had = current.chains.get(name);
    if (!had) added.push(name);
    else if (!sameRules(had, rules) || had.some((rule) => redefinedSets.some((set) => refersToSet(rule, set)))) changed.push(name);
  }
  const stale = [...current.chains.keys()].filter((name) => !desired.chains.has(name));
  for (const name of [...changed, ...stale]) lines.push(`flush chain ${t} ${name}`);
  for (const name of setsToDelete) lines.push(`delete set ${t} ${name}`);
  for (const [name, definition] of desired.sets) if (current.sets.get(name) !== definition) lines.push(`add set ${t} ${name} ${definition}`);
  for (const name of added) lines.push(`add chain ${t} ${name}`);
  for (const name of [...added, ...changed]) for (const rule of desired.chains.get(name)!) lines.push(`add rule ${t} ${name} ${rule}`);
  for (const element of elementsToAdd) lines.push(`add element ${t} ${element.map} { ${element.key} : ${element.value} }`);
  return { lines, staleChains: stale, writtenChains: [...added, ...changed] };
}

/**
 * The lines that (re)create the fixed part of the table, from nothing: the table is added then
 * deleted first (a no-op-safe way to drop whatever a previous run left), so a transaction that
 * starts with these lines replaces the table atomically.
 *
 * `nodeAddresses` are the addresses node ports answer on (IPv4 only; others are ignored).
 */
export function baseTableLines(nodeAddresses: readonly string[], table = NFT_TABLE): string[] {
  const t = `ip ${table}`;
  const n = NFT_NAMES;
  const lines = [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t} { comment "keelson service proxy (nftables mode)"; }`,
    // Base chains. In family ip, `dstnat` names a priority only on prerouting: numbers elsewhere.
    `add chain ${t} nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} nat-output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    // Filters see the pre-DNAT destination: they run before the nat chains of their hook.
    `add chain ${t} filter-input { type filter hook input priority -110; policy accept; }`,
    `add chain ${t} filter-forward { type filter hook forward priority -110; policy accept; }`,
    `add chain ${t} filter-output { type filter hook output priority -110; policy accept; }`,
    ...[n.services, n.masquerading, n.markForMasquerade, n.endpointsCheck, n.reject].map((chain) => `add chain ${t} ${chain}`),
    `add set ${t} ${n.nodePortIPs} { type ipv4_addr; comment "addresses that accept node port traffic"; }`,
    `add map ${t} ${n.serviceIPs} { type ipv4_addr . inet_proto . inet_service : verdict; comment "cluster IP traffic"; }`,
    `add map ${t} ${n.serviceNodePorts} { type inet_proto . inet_service : verdict; comment "node port traffic"; }`,
    `add map ${t} ${n.noEndpointServices} { type ipv4_addr . inet_proto . inet_service : verdict; comment "cluster IPs of Service ports without endpoints"; }`,
    `add map ${t} ${n.noEndpointNodePorts} { type inet_proto . inet_service : verdict; comment "node ports of Service ports without endpoints"; }`,
    `add rule ${t} nat-prerouting jump ${n.services}`,
    `add rule ${t} nat-output jump ${n.services}`,
    `add rule ${t} nat-postrouting jump ${n.masquerading}`,
    `add rule ${t} filter-input ct state new jump ${n.endpointsCheck}`,
    `add rule ${t} filter-forward ct state new jump ${n.endpointsCheck}`,
    `add rule ${t} filter-output ct state new jump ${n.endpointsCheck}`,
    `add rule ${t} filter-input iifname != "lo" ip daddr 127.0.0.0/8 ct state new ct status & dnat == 0 drop`,
    `add rule ${t} ${n.markForMasquerade} meta mark set meta mark or ${MASQUERADE_MARK}`,
    `add rule ${t} ${n.masquerading} meta mark & ${MASQUERADE_MARK} == 0 return`,
    `add rule ${t} ${n.masquerading} meta mark set meta mark xor ${MASQUERADE_MARK}`,
    // lo has no address to masquerade to (the kernel would drop the packet): loopback to
    // loopback needs no SNAT anyway, replies stay on this host.
    `add rule ${t} ${n.masquerading} oifname "lo" return`,
    `add rule ${t} ${n.masquerading} masquerade fully-random`,
    // TCP gets a reset (kube-proxy sends ICMP port unreachable for all, which the kernel rate
    // limits: a second refused connection within a second waits for a SYN retransmission).
    `add rule ${t} ${n.reject} meta l4proto tcp reject with tcp reset`,
    `add rule ${t} ${n.reject} reject`,
    `add rule ${t} ${n.endpointsCheck} ip daddr . meta l4proto . th dport vmap @${n.noEndpointServices}`,
    `add rule ${t} ${n.endpointsCheck} ip daddr @${n.nodePortIPs} meta l4proto . th dport vmap @${n.noEndpointNodePorts}`,
    `add rule ${t} ${n.services} ip daddr . meta l4proto . th dport vmap @${n.serviceIPs}`,
    `add rule ${t} ${n.services} ip daddr @${n.nodePortIPs} meta l4proto . th dport vmap @${n.serviceNodePorts}`,
  ];
  const addresses = [...new Set(nodeAddresses.filter((address) => isIPv4(address)))];
  if (addresses.length) lines.push(`add element ${t} ${n.nodePortIPs} { ${addresses.join(', ')} }`);
  return lines;
}
