/**
 * The nftables proxy mode's ruleset as data (no root, no `nft`): the objects one Service port
 * owns — its dispatch elements, its service chain with `numgen` over per-endpoint chains, DNAT,
 * affinity sets, reject elements when it has no endpoints — and the diff between two states,
 * which must touch only what changed; and the proxier's batching and recovery against a fake
 * `nft` (a script that records its transactions). The kernel side is tested in
 * test/e2e/service-proxy-nftables.test.ts (root, network namespaces).
 */
import { expect } from 'chai';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/runtime/logger.js';
import { systemClock } from '../../lib/util/clock.js';
import {
  baseTableLines,
  diffObjects,
  emptyObjects,
  endpointChainBase,
  hashAndTruncate,
  mergeObjects,
  NftablesError,
  NftablesProxier,
  servicePortChainBase,
  servicePortObjects,
  staleUdpFlows,
  type ServicePortState,
} from '../../controllers/service-proxy/index.js';

function web(endpoints: ServicePortState['endpoints'], extra: Partial<ServicePortState> = {}): ServicePortState {
  return { name: 'default/web:http', service: 'default/web', protocol: 'TCP', clusterIP: '127.96.0.10', port: 80, endpoints, ...extra };
}

const A = { ip: '198.51.100.12', port: 8080 };
const B = { ip: '198.51.100.13', port: 8080 };
const C = { ip: '198.51.100.14', port: 8080 };

describe('nftables ruleset (service proxy, nftables mode)', () => {
  describe('names', () => {
    it("are kube-proxy's: a base32 hash prefix, then namespace/name/protocol/port-name (and __ip/port for an endpoint)", () => {
      const state = web([A]);
      expect(servicePortChainBase(state)).to.match(/^[A-Z2-7]{8}-default\/web\/tcp\/http$/);
      expect(endpointChainBase(state, A)).to.match(/^[A-Z2-7]{8}-default\/web\/tcp\/http__198\.51\.100\.12\/8080$/);
      expect(servicePortChainBase({ ...state, name: 'default/web' })).to.match(/-default\/web\/tcp\/$/);
    });

    it('are stable, and truncated (still unique) past the nft length limit', () => {
      expect(hashAndTruncate('x')).to.equal(hashAndTruncate('x'));
      const long = hashAndTruncate('n'.repeat(300));
      expect(long.length).to.be.at.most(239);
      expect(long.endsWith('...')).to.equal(true);
      expect(hashAndTruncate(`${'n'.repeat(300)}a`)).to.not.equal(long);
    });
  });

  describe('the objects of a Service port', () => {
    it('dispatches clusterIP . protocol . port to a service chain that picks an endpoint chain with numgen, which DNATs', () => {
      const state = web([A, B]);
      const objects = servicePortObjects([state]);
      const base = servicePortChainBase(state);
      const [epA, epB] = [A, B].map((e) => `endpoint-${endpointChainBase(state, e)}`);
      expect([...objects.elements.values()]).to.deep.equal([{ map: 'service-ips', key: '127.96.0.10 . tcp . 80', value: `goto service-${base}` }]);
      expect(objects.chains.get(`service-${base}`)).to.deep.equal([
        'ip saddr 127.0.0.0/8 jump mark-for-masquerade',
        `numgen random mod 2 vmap { 0 : goto ${epA}, 1 : goto ${epB} }`,
      ]);
      expect(objects.chains.get(epA!)).to.deep.equal(['ip saddr 198.51.100.12 jump mark-for-masquerade', 'meta l4proto tcp dnat to 198.51.100.12:8080']);
      expect(objects.sets.size).to.equal(0);
    });

    it('adds a node port element to an external chain that masquerades, then goes to the service chain', () => {
      const state = web([A], { nodePort: 30080, protocol: 'UDP' });
      const objects = servicePortObjects([state]);
      const base = servicePortChainBase(state);
      expect(objects.elements.get('service-nodeports udp . 30080')?.value).to.equal(`goto external-${base}`);
      expect(objects.chains.get(`external-${base}`)).to.deep.equal(['jump mark-for-masquerade', `goto service-${base}`]);
      expect(objects.chains.get(`endpoint-${endpointChainBase(state, A)}`)!.at(-1)).to.equal('meta l4proto udp dnat to 198.51.100.12:8080');
    });

    it('ClientIP affinity: one timed set per endpoint, consulted before numgen and updated by the endpoint chain', () => {
      const state = web([A, B], { affinityTimeoutSeconds: 600 });
      const objects = servicePortObjects([state]);
      const set = `affinity-${endpointChainBase(state, A)}`;
      expect(objects.sets.get(set)).to.equal('{ type ipv4_addr; flags dynamic,timeout; timeout 600s; }');
      const serviceRules = objects.chains.get(`service-${servicePortChainBase(state)}`)!;
      expect(serviceRules[1]).to.equal(`ip saddr @${set} goto endpoint-${endpointChainBase(state, A)}`);
      expect(serviceRules.at(-1)).to.match(/^numgen random mod 2 /);
      expect(objects.chains.get(`endpoint-${endpointChainBase(state, A)}`)).to.include(`update @${set} { ip saddr }`);
    });

    it('without endpoints: no chains, the cluster IP and node port go to the reject maps', () => {
      const objects = servicePortObjects([web([], { nodePort: 30080 })]);
      expect(objects.chains.size).to.equal(0);
      expect([...objects.elements.keys()].sort()).to.deep.equal(['no-endpoint-nodeports tcp . 30080', 'no-endpoint-services 127.96.0.10 . tcp . 80']);
    });

    it('serves extra addresses (VIPs held here) like the cluster IP, through the external chain; rejects there without endpoints', () => {
      const state = web([A], { extraAddresses: ['127.200.0.10', '198.51.100.100'] });
      const objects = servicePortObjects([state]);
      const base = servicePortChainBase(state);
      expect(objects.elements.get('service-ips 127.200.0.10 . tcp . 80')?.value).to.equal(`goto external-${base}`);
      expect(objects.elements.get('service-ips 198.51.100.100 . tcp . 80')?.value).to.equal(`goto external-${base}`);
      expect(objects.elements.get('service-ips 127.96.0.10 . tcp . 80')?.value).to.equal(`goto service-${base}`);
      expect(objects.chains.get(`external-${base}`)).to.deep.equal(['jump mark-for-masquerade', `goto service-${base}`]);
      const empty = servicePortObjects([web([], { extraAddresses: ['127.200.0.10'] })]);
      expect([...empty.elements.keys()].sort()).to.deep.equal(['no-endpoint-services 127.200.0.10 . tcp . 80', 'no-endpoint-services 127.96.0.10 . tcp . 80']);
      // Giving the VIP up: only its element goes, and the external chain (stale) with it.
      const { lines, staleChains } = diffObjects(servicePortObjects([state]), servicePortObjects([web([A])]));
      expect(lines.filter((l) => l.startsWith('delete element'))).to.deep.equal([
        'delete element ip keelson service-ips { 127.200.0.10 . tcp . 80 }',
        'delete element ip keelson service-ips { 198.51.100.100 . tcp . 80 }',
      ]);
      expect(lines.some((l) => l.startsWith('add '))).to.equal(false);
      expect(staleChains).to.deep.equal([`external-${base}`]);
    });

    it('externalTrafficPolicy Local: the external chain keeps the client address, sends this node\'s own traffic to the cluster chain, and picks among the local endpoints', () => {
      const state = web([A, B], { nodePort: 30080, externalEndpoints: [B], local: { internal: false, external: true, anyReady: true } });
      const objects = servicePortObjects([state]);
      const base = servicePortChainBase(state);
      const epB = `endpoint-${endpointChainBase(state, B)}`;
      expect(objects.chains.get(`external-${base}`)).to.deep.equal([
        'fib saddr type local jump mark-for-masquerade',
        `fib saddr type local goto service-${base}`,
        `numgen random mod 1 vmap { 0 : goto ${epB} }`,
      ]);
      expect(objects.chains.get(`service-${base}`)!.at(-1)).to.match(/^numgen random mod 2 /);
      // No local endpoint: this node's own traffic still reaches the cluster chain; the rest is dropped.
      const none = servicePortObjects([web([A], { nodePort: 30080, externalEndpoints: [], local: { internal: false, external: true, anyReady: true } })]);
      expect(none.chains.get(`external-${base}`)!.at(-1)).to.equal('drop');
    });

    it('internalTrafficPolicy Local: cluster traffic to the local endpoints only; none here while others have some: dropped, not refused', () => {
      const state = web([B], { nodePort: 30080, externalEndpoints: [A, B], local: { internal: true, external: false, anyReady: true } });
      const objects = servicePortObjects([state]);
      const base = servicePortChainBase(state);
      const [epA, epB] = [A, B].map((e) => `endpoint-${endpointChainBase(state, e)}`);
      expect(objects.chains.get(`service-${base}`)!.at(-1)).to.equal(`numgen random mod 1 vmap { 0 : goto ${epB} }`);
      // External traffic (policy Cluster) still goes everywhere, masqueraded.
      expect(objects.chains.get(`external-${base}`)).to.deep.equal(['jump mark-for-masquerade', `numgen random mod 2 vmap { 0 : goto ${epA}, 1 : goto ${epB} }`]);
      const noLocal = servicePortObjects([web([], { externalEndpoints: [A], local: { internal: true, external: false, anyReady: true } })]);
      expect(noLocal.elements.get('no-endpoint-services 127.96.0.10 . tcp . 80')?.value).to.equal('drop');
      const noneAtAll = servicePortObjects([web([], { externalEndpoints: [], local: { internal: true, external: false, anyReady: false } })]);
      expect(noneAtAll.elements.get('no-endpoint-services 127.96.0.10 . tcp . 80')?.value).to.equal('goto reject-chain');
    });

    it('skips (and reports) addresses that are not IPv4', () => {
      const skipped: string[] = [];
      const objects = servicePortObjects([web([{ ip: 'fd00::1', port: 80 }, A]), web([A], { clusterIP: 'fd00::10', name: 'default/web:v6' })], skipped);
      expect(skipped).to.have.length(2);
      expect([...objects.chains.keys()].filter((c) => c.startsWith('endpoint-'))).to.have.length(1);
    });
  });

  describe('the diff between two states', () => {
    it('from nothing: sets, chains, rules, then elements (everything referred to exists first)', () => {
      const { lines, staleChains } = diffObjects(emptyObjects(), servicePortObjects([web([A], { affinityTimeoutSeconds: 60 })]));
      const kinds = lines.map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(kinds.indexOf('add set')).to.be.below(kinds.indexOf('add chain'));
      expect(kinds.lastIndexOf('add chain')).to.be.below(kinds.indexOf('add rule'));
      expect(kinds.lastIndexOf('add rule')).to.be.below(kinds.indexOf('add element'));
      expect(staleChains).to.deep.equal([]);
    });

    it('an endpoint added: rewrites that service chain and adds one endpoint chain — nothing of other Services, no element', () => {
      const api = { ...web([C]), name: 'default/api:http', service: 'default/api', clusterIP: '127.96.0.11' };
      const before = mergeObjects([servicePortObjects([web([A])]), servicePortObjects([api])]);
      const after = mergeObjects([servicePortObjects([web([A, B])]), servicePortObjects([api])]);
      const { lines } = diffObjects(before, after);
      const serviceChain = `service-${servicePortChainBase(web([]))}`;
      const added = `endpoint-${endpointChainBase(web([]), B)}`;
      expect(lines).to.deep.equal([
        `flush chain ip keelson ${serviceChain}`,
        `add chain ip keelson ${added}`,
        `add rule ip keelson ${added} ip saddr 198.51.100.13 jump mark-for-masquerade`,
        `add rule ip keelson ${added} meta l4proto tcp dnat to 198.51.100.13:8080`,
        `add rule ip keelson ${serviceChain} ip saddr 127.0.0.0/8 jump mark-for-masquerade`,
        `add rule ip keelson ${serviceChain} numgen random mod 2 vmap { 0 : goto endpoint-${endpointChainBase(web([]), A)}, 1 : goto ${added} }`,
      ]);
    });

    it('the same state twice: no line at all', () => {
      expect(diffObjects(servicePortObjects([web([A, B])]), servicePortObjects([web([A, B])])).lines).to.deep.equal([]);
    });

    it('a Service gone: its elements deleted, its chains flushed and reported stale (deleted later)', () => {
      const { lines, staleChains } = diffObjects(servicePortObjects([web([A], { nodePort: 30080 })]), emptyObjects());
      expect(lines.filter((l) => l.startsWith('delete element'))).to.have.length(2);
      expect(lines.filter((l) => l.startsWith('flush chain'))).to.have.length(3);
      expect(staleChains).to.have.length(3);
      expect(lines.some((l) => l.startsWith('delete chain'))).to.equal(false);
    });

    it('the last endpoint gone: the dispatch element moves to the reject map', () => {
      const { lines } = diffObjects(servicePortObjects([web([A])]), servicePortObjects([web([])]));
      expect(lines[0]).to.equal('delete element ip keelson service-ips { 127.96.0.10 . tcp . 80 }');
      expect(lines.at(-1)).to.equal('add element ip keelson no-endpoint-services { 127.96.0.10 . tcp . 80 : goto reject-chain }');
    });

    it('an affinity timeout changed: the sets are replaced and the chains that use them rewritten', () => {
      const { lines } = diffObjects(servicePortObjects([web([A], { affinityTimeoutSeconds: 60 })]), servicePortObjects([web([A], { affinityTimeoutSeconds: 120 })]));
      const flushes = lines.filter((l) => l.startsWith('flush chain'));
      expect(flushes).to.have.length(2);
      const deleteSet = lines.findIndex((l) => l.startsWith('delete set'));
      expect(deleteSet).to.be.above(lines.lastIndexOf(flushes.at(-1)!));
      expect(lines[deleteSet + 1]).to.match(/^add set .* timeout 120s; }$/);
    });
  });

  describe('stale UDP flows (conntrack -D filters)', () => {
    const dns = (endpoints: ServicePortState['endpoints'], extra: Partial<ServicePortState> = {}) => web(endpoints, { protocol: 'UDP', port: 53, ...extra });

    it('an endpoint removed: its flows, by cluster IP and by node port', () => {
      expect(staleUdpFlows([dns([A, B], { nodePort: 30053 })], [dns([B], { nodePort: 30053 })])).to.deep.equal([
        ['-p', 'udp', '--orig-dst', '127.96.0.10', '--dst-nat', A.ip],
        ['-p', 'udp', '--orig-port-dst', '30053', '--dst-nat', A.ip],
      ]);
    });

    it('a first endpoint: every flow to the port (recorded while nothing answered)', () => {
      expect(staleUdpFlows([dns([])], [dns([A])])).to.deep.equal([['-p', 'udp', '--orig-dst', '127.96.0.10', '--orig-port-dst', '53']]);
    });

    it('with a Local traffic policy, each kind of traffic by its own endpoints: node port flows to an endpoint that left the external set only', () => {
      const local = { internal: false, external: true, anyReady: true };
      expect(staleUdpFlows([dns([A, B], { nodePort: 30053, externalEndpoints: [A, B], local })], [dns([A, B], { nodePort: 30053, externalEndpoints: [B], local })])).to.deep.equal([
        ['-p', 'udp', '--orig-port-dst', '30053', '--dst-nat', A.ip],
      ]);
      // A first local endpoint for node port traffic: every flow to the node port.
      expect(staleUdpFlows([dns([A], { nodePort: 30053, externalEndpoints: [], local })], [dns([A], { nodePort: 30053, externalEndpoints: [A], local })])).to.deep.equal([
        ['-p', 'udp', '--orig-port-dst', '30053'],
      ]);
    });

    it('nothing for TCP, or when the endpoints stay', () => {
      expect(staleUdpFlows([web([A, B])], [web([B])])).to.deep.equal([]);
      expect(staleUdpFlows([dns([A, B])], [dns([A, B, C])])).to.deep.equal([]);
    });
  });

  it('the fixed table: replaced atomically (add, delete, add), node addresses in @nodeport-ips', () => {
    const lines = baseTableLines(['198.51.100.11', '198.51.100.11', 'fd00::1']);
    expect(lines.slice(0, 2)).to.deep.equal(['add table ip keelson', 'delete table ip keelson']);
    expect(lines.at(-1)).to.equal('add element ip keelson nodeport-ips { 198.51.100.11 }');
    expect(lines.filter((l) => /hook (prerouting|output|postrouting)/.test(l) && l.includes('type nat'))).to.have.length(3);
  });
});

describe('NftablesProxier against a fake nft (batching, recovery)', () => {
  let dir: string;
  let log: string;
  let failFlag: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keelson-fake-nft-'));
    log = join(dir, 'transactions');
    failFlag = join(dir, 'fail');
    writeFileSync(join(dir, 'nft'), `#!/bin/sh\ncat >> '${log}'\necho '----' >> '${log}'\nif [ -e '${failFlag}' ]; then echo 'Error: Could not process rule: boom' >&2; exit 1; fi\n`);
    chmodSync(join(dir, 'nft'), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sentTransactions = () => (existsSync(log) ? readFileSync(log, 'utf8').split('----\n').filter(Boolean) : []);
  const proxier = () =>
    new NftablesProxier({ nodeAddresses: [], clock: systemClock, logger: silentLogger(), nftCommand: join(dir, 'nft'), routeLocalnet: false, conntrackCommand: false, cleanupOnStop: false });

  it('batches concurrent syncs into one transaction: the first a full resync, the next only a diff', async () => {
    const p = proxier();
    await Promise.all([p.syncService('default/web', [web([A])]), p.syncService('default/api', [{ ...web([B]), name: 'default/api:http', service: 'default/api', clusterIP: '127.96.0.11' }])]);
    await p.syncService('default/web', [web([A, B])]);
    const sent = sentTransactions();
    expect(sent).to.have.length(2);
    expect(sent[0]).to.match(/^add table ip keelson\ndelete table ip keelson\n/);
    expect(sent[0]).to.include('default/api');
    expect(sent[1]).to.not.include('table');
    expect(sent[1]).to.not.include('default/api');
    expect(p.services()).to.deep.equal(['default/api', 'default/web']);
    await p.stop();
  });

  it('a failed transaction rejects the sync, and the next one rebuilds the table with everything desired', async () => {
    const p = proxier();
    await p.syncService('default/web', [web([A])]);
    writeFileSync(failFlag, '');
    const error = await p.syncService('default/web', [web([A, B])]).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(NftablesError);
    expect((error as NftablesError).message).to.include('boom');
    rmSync(failFlag);
    await p.syncService('default/api', [{ ...web([C]), name: 'default/api:http', service: 'default/api', clusterIP: '127.96.0.11' }]);
    const last = sentTransactions().at(-1)!;
    expect(last).to.match(/^add table ip keelson\ndelete table ip keelson\n/);
    expect(last).to.include('dnat to 198.51.100.13:8080');
    expect(last).to.include('default/api');
    await p.stop();
  });
});
