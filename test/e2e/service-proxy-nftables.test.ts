/**
 * The nftables proxy mode for real (root): network namespaces on 198.51.100.0/24
 * (test/harness/netns.ts, prefix `knft-`) — a node `h1` (.11) whose nftables the proxier
 * programs (`nft` runs there through `ip netns exec`; the test process stays on the host), backend
 * hosts `h2`…`h4` (.12–.14) each running a small TCP and UDP server that answers its name, a
 * loopback "pod" on the node (127.64.0.5), and a client host (.3). Clients connect from the node
 * itself (output hook) to cluster IPs on loopback, and from the client host to the node's address
 * (node ports, prerouting hook); their answers say which endpoint was reached, so packets went
 * through the kernel's DNAT — Node.js in the test process never sees them.
 *
 * Asserted: spread over endpoints, removed endpoints avoided, UDP, node ports (to a remote and a
 * loopback endpoint), reject without endpoints, ClientIP affinity, a removed Service's rules gone
 * from `nft -j list table ip keelson`, incremental transactions that touch only what changed,
 * a restart's full resync dropping stale rules, and the controller feeding the proxier from a
 * store. route_localnet is set by the proxier inside the node's namespace only — the host's
 * value is checked unchanged. Everything (namespaces with their tables, processes) is removed
 * afterwards, even on failure; leftovers of a crashed run (`knft-…`) are swept first.
 */
import { expect } from 'chai';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Endpoints, Service } from '../../lib/api/kinds.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { TestEnv } from '../../lib/testing/env.js';
import { systemClock } from '../../lib/util/clock.js';
import {
  NftablesProxier,
  nftablesTableForNode,
  ServiceProxier,
  ServiceProxyController,
  type NftablesProxierOptions,
  type ServiceEndpoint,
  type ServicePortState,
} from '../../controllers/service-proxy/index.js';
import { CLIENT_ADDRESS, execIn, ip, isRoot, sweepLabs, VipLab, type LabHost } from '../harness/netns.js';
import { waitFor } from '../harness/wait.js';

const PREFIX = 'knft';
const TCP_PORT = 8080;
const UDP_PORT = 5353;
const LOOPBACK_POD = '127.64.0.5';
const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';

/** The TCP port where a backend answers with the client address it sees (`name@address`). */
const WHO_PORT = 8081;

/** Each backend answers every TCP connection and UDP datagram with its name. */
const BACKEND_SCRIPT = `
  const net = require('node:net'), dgram = require('node:dgram');
  const [name, host] = process.argv.slice(1);
  let ready = 0; const up = () => { if (++ready === 3) process.stdout.write('ready\\n'); };
  net.createServer((s) => { s.on('error', () => {}); s.end(name + '\\n'); }).listen(${TCP_PORT}, host, up);
  net.createServer((s) => { s.on('error', () => {}); s.end(name + '@' + s.remoteAddress + '\\n'); }).listen(${WHO_PORT}, host, up);
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(name + '\\n', r.port, r.address));
  u.bind(${UDP_PORT}, host, up);`;

/** `count` sequential attempts (each a new connection / new UDP socket), one answer line each: a name, or `-CODE`. */
const PROBE_SCRIPT = `
  const net = require('node:net'), dgram = require('node:dgram');
  const [proto, host, port, count, sourcePort] = process.argv.slice(1);
  const once = () => new Promise((resolve) => {
    if (proto === 'tcp') {
      let data = '';
      const s = net.connect({ host, port: Number(port) });
      const t = setTimeout(() => { s.destroy(); resolve('-TIMEOUT'); }, 2000);
      s.on('data', (d) => (data += d));
      s.on('end', () => { clearTimeout(t); s.destroy(); resolve(data.trim() || '-EMPTY'); });
      s.on('error', (e) => { clearTimeout(t); resolve('-' + (e.code || e.message)); });
    } else {
      const s = dgram.createSocket('udp4');
      const t = setTimeout(() => { s.close(); resolve('-TIMEOUT'); }, 1000);
      s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString().trim()); });
      s.on('error', (e) => { clearTimeout(t); s.close(); resolve('-' + (e.code || e.message)); });
      if (sourcePort) s.bind(Number(sourcePort), () => s.send('hi', Number(port), host));
      else s.send('hi', Number(port), host);
    }
  });
  (async () => { for (let i = 0; i < Number(count); i++) process.stdout.write((await once()) + '\\n'); })();`;

describe('service proxy, nftables mode, in network namespaces (root)', function () {
  this.timeout(60_000);
  let lab: VipLab | undefined;
  let node: LabHost;
  let backends: LabHost[];
  let hostRouteLocalnet: string;
  const children: ChildProcess[] = [];

  before(async () => {
    if (!isRoot()) throw new Error('the nftables proxy mode e2e test needs root (network namespaces, nftables); run the suite as root');
    try {
      execFileSync('nft', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('`nft` is not installed: run scripts/ensure-tools.mjs (npm test runs it as pretest) or apt-get install nftables');
    }
    hostRouteLocalnet = readFileSync(ROUTE_LOCALNET, 'utf8').trim();
    await sweepLabs(PREFIX);
    lab = await VipLab.create({ prefix: PREFIX, hosts: 4 });
    node = lab.host('h1');
    backends = ['h2', 'h3', 'h4'].map((name) => lab!.host(name));
    // The node forwards node port traffic to other hosts, as a Kubernetes node must (the kubelet's
    // and CNI's job there, not kube-proxy's): set here, inside the node's namespace only.
    await execIn(node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const started = [...backends.map((h) => ({ ns: h.ns, name: h.name, host: '0.0.0.0' })), { ns: node.ns, name: 'lo-pod', host: LOOPBACK_POD }].map((b) => {
      const run = lab!.exec(b.ns, process.execPath, ['-e', BACKEND_SCRIPT, b.name, b.host]);
      children.push(run.child);
      return run;
    });
    for (const run of started) await waitFor(() => run.output().includes('ready'), { timeoutMs: 10_000, what: `a backend to listen (${run.output()})` });
  });

  after(async () => {
    const namespaces = lab?.namespaces ?? [];
    await lab?.destroy();
    const left = (await ip(['netns', 'list'])).split('\n').filter((line) => namespaces.some((ns) => line === ns || line.startsWith(`${ns} `)));
    expect(left, 'namespaces left behind').to.deep.equal([]);
    if (hostRouteLocalnet !== undefined) expect(readFileSync(ROUTE_LOCALNET, 'utf8').trim(), "the host's route_localnet").to.equal(hostRouteLocalnet);
  });

  // -------------------------------------------------------------------------------------------
  // Helpers.

  const endpoint = (host: LabHost): ServiceEndpoint => ({ ip: host.address, port: TCP_PORT });
  const udpEndpoint = (host: LabHost): ServiceEndpoint => ({ ip: host.address, port: UDP_PORT });

  function servicePort(name: string, clusterIP: string, endpoints: ServiceEndpoint[], extra: Partial<ServicePortState> = {}): ServicePortState {
    return { name: `default/${name}:p`, service: `default/${name}`, protocol: 'TCP', clusterIP, port: 80, endpoints, ...extra };
  }

  /** Runs `count` attempts from namespace `ns` to `host:port` (UDP: from `sourcePort` if set); their answers, in order. */
  async function probe(ns: string, proto: 'tcp' | 'udp', host: string, port: number, count: number, sourcePort?: number): Promise<string[]> {
    const run = lab!.exec(ns, process.execPath, ['-e', PROBE_SCRIPT, proto, host, String(port), String(count), ...(sourcePort ? [String(sourcePort)] : [])]);
    const code = await new Promise<number | null>((resolve) => run.child.once('exit', resolve));
    const answers = run.output().trim().split('\n').filter(Boolean);
    if (code !== 0 || answers.length !== count) throw new Error(`probe from ${ns} failed (${code}): ${run.output()}`);
    return answers;
  }

  /** The keelson table in the node's namespace as nft's JSON text ('' when there is none). */
  async function tableJson(table = 'keelson'): Promise<string> {
    return execIn(node.ns, 'nft', ['-j', 'list', 'table', 'ip', table]).catch(() => '');
  }

  /** The chain names of the keelson table. */
  async function chains(): Promise<string[]> {
    const json = await tableJson();
    if (!json) return [];
    const parsed = JSON.parse(json) as { nftables: Array<{ chain?: { name: string } }> };
    return parsed.nftables.flatMap((o) => (o.chain ? [o.chain.name] : []));
  }

  let proxier: NftablesProxier | undefined;
  let transactions: string[] = [];
  let logs: string[] = [];

  function newProxier(options: Partial<NftablesProxierOptions> = {}): NftablesProxier {
    return new NftablesProxier({
      nodeAddresses: [node.address],
      clock: systemClock,
      logger: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(line) } }),
      netns: node.ns,
      staleChainDeleteDelayMs: 50,
      onTransaction: (text) => transactions.push(text),
      ...options,
    });
  }

  beforeEach(() => {
    transactions = [];
    logs = [];
    proxier = newProxier();
  });

  afterEach(async () => {
    await proxier?.stop();
    proxier = undefined;
    expect(await tableJson(), 'the table after stop').to.equal('');
  });

  // -------------------------------------------------------------------------------------------

  it('a client on the node reaches a backend through clusterIP:port, spread over every endpoint (route_localnet set in the namespace, and logged)', async () => {
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', backends.map(endpoint))]);
    expect(transactions[0]).to.match(/^add table ip keelson\ndelete table ip keelson\n/);
    const answers = await probe(node.ns, 'tcp', '127.96.0.10', 80, 45);
    expect(answers.filter((a) => a.startsWith('-')), answers.join(' ')).to.deep.equal([]);
    expect(new Set(answers)).to.deep.equal(new Set(['h2', 'h3', 'h4']));
    expect((await execIn(node.ns, 'sysctl', ['-n', 'net.ipv4.conf.all.route_localnet'])).trim()).to.equal('1');
    expect(logs.some((l) => l.includes('route_localnet=1') && l.includes(node.ns))).to.equal(true);
    expect(readFileSync(ROUTE_LOCALNET, 'utf8').trim(), "the host's route_localnet").to.equal(hostRouteLocalnet);
  });

  it('an endpoint removed: new connections avoid it', async () => {
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', backends.map(endpoint))]);
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', [endpoint(backends[0]!), endpoint(backends[1]!)])]);
    const answers = await probe(node.ns, 'tcp', '127.96.0.10', 80, 30);
    expect(new Set(answers)).to.deep.equal(new Set(['h2', 'h3']));
    // Its chain is flushed at once, deleted by a later transaction.
    await waitFor(async () => !(await chains()).some((c) => c.endsWith(`__${backends[2]!.address}/${TCP_PORT}`)), { timeoutMs: 5000, what: 'the endpoint chain to be deleted' });
  });

  it('an update touches only what changed: one endpoint added rewrites one service chain and adds one endpoint chain; a no-op sends nothing', async () => {
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', [endpoint(backends[0]!)])]);
    await proxier!.syncService('default/api', [servicePort('api', '127.96.0.11', [endpoint(backends[1]!)], { nodePort: 30081 })]);
    const sent = transactions.length;
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', [endpoint(backends[0]!), endpoint(backends[2]!)])]);
    expect(transactions).to.have.length(sent + 1);
    const lines = transactions.at(-1)!.trim().split('\n');
    expect(lines.filter((l) => l.includes('default/api')), 'lines about another Service').to.deep.equal([]);
    expect(lines.some((l) => l.includes('table'))).to.equal(false);
    expect(lines.filter((l) => l.startsWith('flush chain'))).to.have.length(1);
    const addedChains = lines.filter((l) => l.startsWith('add chain'));
    expect(addedChains).to.have.length(1);
    expect(addedChains[0]).to.match(/endpoint-\S+default\/web\/tcp\/p__198\.51\.100\.14\/8080$/);
    expect(lines.some((l) => l.includes('element'))).to.equal(false);
    // The same state again: no transaction.
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', [endpoint(backends[0]!), endpoint(backends[2]!)])]);
    expect(transactions).to.have.length(sent + 1);
    expect(new Set(await probe(node.ns, 'tcp', '127.96.0.10', 80, 30))).to.deep.equal(new Set(['h2', 'h4']));
  });

  it('syncs arriving together go out as one transaction', async () => {
    await Promise.all([
      proxier!.syncService('default/a', [servicePort('a', '127.96.0.20', [endpoint(backends[0]!)])]),
      proxier!.syncService('default/b', [servicePort('b', '127.96.0.21', [endpoint(backends[1]!)])]),
      proxier!.syncService('default/c', [servicePort('c', '127.96.0.22', [endpoint(backends[2]!)])]),
    ]);
    expect(transactions).to.have.length(1);
    expect(await probe(node.ns, 'tcp', '127.96.0.22', 80, 1)).to.deep.equal(['h4']);
  });

  it('UDP: datagrams to clusterIP:port reach the endpoints, spread over them', async () => {
    await proxier!.syncService('default/dns', [servicePort('dns', '127.96.0.12', [udpEndpoint(backends[0]!), udpEndpoint(backends[1]!)], { protocol: 'UDP', port: 53 })]);
    const answers = await probe(node.ns, 'udp', '127.96.0.12', 53, 30);
    expect(answers.filter((a) => a.startsWith('-')), answers.join(' ')).to.deep.equal([]);
    expect(new Set(answers)).to.deep.equal(new Set(['h2', 'h3']));
  });

  it('UDP: a flow to a removed endpoint is moved — its conntrack entry deleted — so the same client socket reaches the new one', async () => {
    const dns = (hosts: LabHost[]) => [servicePort('dns', '127.96.0.12', hosts.map(udpEndpoint), { protocol: 'UDP', port: 53, nodePort: 30054 })];
    await proxier!.syncService('default/dns', dns([backends[0]!]));
    // The same source port each time: one flow, one conntrack entry (UDP entries live 30 s and more).
    expect(await probe(node.ns, 'udp', '127.96.0.12', 53, 1, 40123)).to.deep.equal(['h2']);
    expect(await probe(lab!.clientNs, 'udp', node.address, 30054, 1, 40124)).to.deep.equal(['h2']);
    await proxier!.syncService('default/dns', dns([backends[1]!]));
    expect(await probe(node.ns, 'udp', '127.96.0.12', 53, 1, 40123)).to.deep.equal(['h3']);
    expect(await probe(lab!.clientNs, 'udp', node.address, 30054, 1, 40124)).to.deep.equal(['h3']);
  });

  it('UDP after a restart: the new proxier deletes the flows recorded before (they could point anywhere), so a client socket reaches a current endpoint', async () => {
    const dns = (host: LabHost) => [servicePort('dns2', '127.96.0.24', [udpEndpoint(host)], { protocol: 'UDP', port: 53 })];
    const crashed = newProxier({ cleanupOnStop: false });
    await crashed.syncService('default/dns2', dns(backends[0]!));
    expect(await probe(node.ns, 'udp', '127.96.0.24', 53, 1, 40125)).to.deep.equal(['h2']);
    await crashed.stop();
    // The restarted proxier's first transaction rebuilds the table with another endpoint.
    await proxier!.syncService('default/dns2', dns(backends[1]!));
    expect(await probe(node.ns, 'udp', '127.96.0.24', 53, 1, 40125)).to.deep.equal(['h3']);
  });

  it("NodePort: a client on another host reaches the Service on the node's address — a remote endpoint (masqueraded) and a loopback one (route_localnet)", async () => {
    const endpoints = [endpoint(backends[1]!), { ip: LOOPBACK_POD, port: TCP_PORT }];
    await proxier!.syncService('default/np', [servicePort('np', '127.96.0.13', endpoints, { nodePort: 30080 })]);
    const answers = await probe(lab!.clientNs, 'tcp', node.address, 30080, 40);
    expect(answers.filter((a) => a.startsWith('-')), answers.join(' ')).to.deep.equal([]);
    expect(new Set(answers)).to.deep.equal(new Set(['h3', 'lo-pod']));
    // UDP node ports too, and the node itself on its own address.
    await proxier!.syncService('default/np-udp', [servicePort('np-udp', '127.96.0.14', [udpEndpoint(backends[2]!)], { protocol: 'UDP', port: 53, nodePort: 30053 })]);
    expect(await probe(lab!.clientNs, 'udp', node.address, 30053, 3)).to.deep.equal(['h4', 'h4', 'h4']);
    expect(new Set(await probe(node.ns, 'tcp', node.address, 30080, 20))).to.deep.equal(new Set(['h3', 'lo-pod']));
  });

  it("extra addresses (VIPs held here): the Service answers on them at its port — a loopback VIP from the node, an address on the node's link from another host — until they are removed", async () => {
    const vip = '127.200.0.30';
    const endpoints = [endpoint(backends[1]!), endpoint(backends[2]!)];
    await proxier!.syncService('default/vip', [servicePort('vip', '127.96.0.17', endpoints, { extraAddresses: [vip, node.address] })]);
    expect(new Set(await probe(node.ns, 'tcp', vip, 80, 20))).to.deep.equal(new Set(['h3', 'h4']));
    expect(new Set(await probe(lab!.clientNs, 'tcp', node.address, 80, 20))).to.deep.equal(new Set(['h3', 'h4']));
    await proxier!.syncService('default/vip', [servicePort('vip', '127.96.0.17', endpoints)]);
    expect(await probe(node.ns, 'tcp', vip, 80, 1)).to.deep.equal(['-ECONNREFUSED']);
    expect(await probe(lab!.clientNs, 'tcp', node.address, 80, 1)).to.deep.equal(['-ECONNREFUSED']);
    expect(new Set(await probe(node.ns, 'tcp', '127.96.0.17', 80, 10))).to.deep.equal(new Set(['h3', 'h4']));
  });

  it('no endpoints: new connections are refused (the reject maps), and served again when one comes', async () => {
    await proxier!.syncService('default/empty', [servicePort('empty', '127.96.0.15', [], { nodePort: 30082 })]);
    const json = await tableJson();
    expect(json).to.match(/"no-endpoint-services"[^}]*"elem": \[\[\{"concat": \["127\.96\.0\.15", "tcp", 80\]\}, \{"goto": \{"target": "reject-chain"\}\}\]\]/);
    expect(await probe(node.ns, 'tcp', '127.96.0.15', 80, 2)).to.deep.equal(['-ECONNREFUSED', '-ECONNREFUSED']);
    expect(await probe(lab!.clientNs, 'tcp', node.address, 30082, 1)).to.deep.equal(['-ECONNREFUSED']);
    await proxier!.syncService('default/empty', [servicePort('empty', '127.96.0.15', [endpoint(backends[0]!)], { nodePort: 30082 })]);
    expect(await probe(lab!.clientNs, 'tcp', node.address, 30082, 1)).to.deep.equal(['h2']);
  });

  it('ClientIP affinity: a client sticks to one endpoint (a timed set per endpoint)', async () => {
    await proxier!.syncService('default/sticky', [servicePort('sticky', '127.96.0.16', backends.map(endpoint), { affinityTimeoutSeconds: 600 })]);
    const answers = await probe(node.ns, 'tcp', '127.96.0.16', 80, 20);
    expect(new Set(answers).size, answers.join(' ')).to.equal(1);
    expect(await tableJson()).to.include('"timeout": 600');
  });

  it('a Service removed: its rules, sets and elements are gone from the table', async () => {
    await proxier!.syncService('default/web', [servicePort('web', '127.96.0.10', backends.map(endpoint), { nodePort: 30083, affinityTimeoutSeconds: 60 })]);
    await proxier!.syncService('default/other', [servicePort('other', '127.96.0.17', [endpoint(backends[0]!)])]);
    expect(await tableJson()).to.include('default/web');
    await proxier!.syncService('default/web', []);
    expect(proxier!.services()).to.deep.equal(['default/other']);
    await waitFor(async () => {
      const json = await tableJson();
      return json.includes('default/other') && !json.includes('default/web') && !json.includes('127.96.0.10') && !json.includes('30083');
    }, { timeoutMs: 5000, what: "the removed Service's chains to be deleted" });
    expect(await probe(node.ns, 'tcp', '127.96.0.10', 80, 1)).to.deep.equal(['-ECONNREFUSED']);
    expect(await probe(node.ns, 'tcp', '127.96.0.17', 80, 1)).to.deep.equal(['h2']);
  });

  it('a restart resyncs: the new proxier replaces the table, so rules of Services gone meanwhile vanish', async () => {
    const crashed = newProxier({ cleanupOnStop: false });
    await crashed.syncService('default/old', [servicePort('old', '127.96.0.18', [endpoint(backends[0]!)])]);
    await crashed.syncService('default/kept', [servicePort('kept', '127.96.0.19', [endpoint(backends[1]!)])]);
    await crashed.stop();
    expect(await tableJson(), 'rules left by a proxier that died').to.include('default/old');
    transactions = [];
    await proxier!.syncService('default/kept', [servicePort('kept', '127.96.0.19', [endpoint(backends[1]!)])]);
    expect(transactions[0]).to.match(/^add table ip keelson\ndelete table ip keelson\n/);
    const json = await tableJson();
    expect(json).to.include('default/kept');
    expect(json).to.not.include('default/old');
    expect(await probe(node.ns, 'tcp', '127.96.0.19', 80, 1)).to.deep.equal(['h3']);
    expect(await probe(node.ns, 'tcp', '127.96.0.18', 80, 1)).to.deep.equal(['-ECONNREFUSED']);
  });

  it('traffic policies Local: external traffic to the endpoints on this node only, with the client address kept; cluster traffic to local endpoints only, dropped when there is none', async () => {
    const here = (port: number) => ({ ip: LOOPBACK_POD, port });
    const remote = (port: number) => ({ ip: backends[0]!.address, port });
    const externalLocal = (name: string, clusterIP: string, port: number, nodePort: number) =>
      servicePort(name, clusterIP, [here(port), remote(port)], { nodePort, externalEndpoints: [here(port)], local: { internal: false, external: true, anyReady: true } });
    await proxier!.syncService('default/ext-local', [externalLocal('ext-local', '127.96.0.21', TCP_PORT, 30086)]);
    await proxier!.syncService('default/who', [externalLocal('who', '127.96.0.22', WHO_PORT, 30087)]);
    // From another host: only the endpoint on this node, which sees the client's own address.
    expect(new Set(await probe(lab!.clientNs, 'tcp', node.address, 30086, 10))).to.deep.equal(new Set(['lo-pod']));
    const client = (await probe(lab!.clientNs, 'tcp', node.address, 30087, 1))[0]!;
    expect(client).to.equal(`lo-pod@${CLIENT_ADDRESS}`);
    // Cluster traffic (policy Cluster) and the node's own traffic to its node port go everywhere.
    expect(new Set(await probe(node.ns, 'tcp', '127.96.0.21', 80, 20))).to.deep.equal(new Set(['lo-pod', 'h2']));
    expect(new Set(await probe(node.ns, 'tcp', node.address, 30086, 20))).to.deep.equal(new Set(['lo-pod', 'h2']));

    // internalTrafficPolicy Local: cluster traffic to the local endpoint only; none here → dropped.
    const internal = (endpoints: ServiceEndpoint[]) =>
      servicePort('int-local', '127.96.0.23', endpoints, { externalEndpoints: [here(TCP_PORT), remote(TCP_PORT)], local: { internal: true, external: false, anyReady: true } });
    await proxier!.syncService('default/int-local', [internal([here(TCP_PORT)])]);
    expect(new Set(await probe(node.ns, 'tcp', '127.96.0.23', 80, 10))).to.deep.equal(new Set(['lo-pod']));
    await proxier!.syncService('default/int-local', [internal([])]);
    expect(await probe(node.ns, 'tcp', '127.96.0.23', 80, 1)).to.deep.equal(['-TIMEOUT']);
  });

  it('two agents on one host: each proxier owns its table; both serve a Service, node ports on their own addresses, and one stopping leaves the other serving', async () => {
    const table = nftablesTableForNode('second.node-b');
    expect(table).to.equal('keelson-node-second.node-b');
    const secondAddress = '127.1.0.9';
    const second = newProxier({ table, nodeAddresses: [secondAddress] });
    try {
      const ports = (nodePort: number) => [servicePort('shared', '127.96.0.20', [endpoint(backends[0]!), endpoint(backends[1]!)], { nodePort })];
      await proxier!.syncService('default/shared', ports(30085));
      await second.syncService('default/shared', ports(30085));
      // The second's first transaction rebuilt its own table only: the first's is untouched.
      expect(await tableJson()).to.include('default/shared');
      expect(await tableJson(table)).to.include('default/shared');
      expect(new Set(await probe(node.ns, 'tcp', '127.96.0.20', 80, 20))).to.deep.equal(new Set(['h2', 'h3']));
      // Each table answers node ports on its own node's address.
      expect(new Set(await probe(lab!.clientNs, 'tcp', node.address, 30085, 10))).to.deep.equal(new Set(['h2', 'h3']));
      expect(new Set(await probe(node.ns, 'tcp', secondAddress, 30085, 10))).to.deep.equal(new Set(['h2', 'h3']));
      // The first stops (its table goes): the Service still answers, through the second's rules.
      await proxier!.stop();
      proxier = undefined;
      expect(await tableJson(table)).to.include('default/shared');
      expect(new Set(await probe(node.ns, 'tcp', '127.96.0.20', 80, 20))).to.deep.equal(new Set(['h2', 'h3']));
      expect(await probe(lab!.clientNs, 'tcp', node.address, 30085, 1)).to.deep.equal(['-ECONNREFUSED']);
    } finally {
      await second.stop();
    }
    expect(await tableJson(table), "the second's table after its stop").to.equal('');
  });

  it('fed by the service proxy controller from a store: Services and Endpoints become rules within milliseconds', async () => {
    const env = await TestEnv.start({ controllers: [ServiceProxyController], configure: (c) => c.bind(ServiceProxier).toConstantValue(proxier!) });
    try {
      const endpointsOf = (hosts: LabHost[]): Endpoints => ({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web', namespace: 'default' },
        subsets: [{ addresses: hosts.map((h) => ({ ip: h.address })), ports: [{ name: 'http', port: TCP_PORT }] }],
      });
      await env.client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.96.0.30', ports: [{ name: 'http', port: 80 }] } });
      await env.client.create(endpointsOf([backends[0]!]));
      await waitFor(async () => (await probe(node.ns, 'tcp', '127.96.0.30', 80, 1))[0] === 'h2', { timeoutMs: 5000, what: 'the Service to answer' });
      const current = await env.client.get(Endpoints, 'web', { namespace: 'default' });
      await env.client.update({ ...current, subsets: endpointsOf([backends[2]!]).subsets! });
      await waitFor(async () => (await probe(node.ns, 'tcp', '127.96.0.30', 80, 1))[0] === 'h4', { timeoutMs: 5000, what: 'the new endpoint to answer' });
      await env.client.delete(Service, 'web', { namespace: 'default' });
      await waitFor(() => proxier!.services().length === 0, { timeoutMs: 5000, what: 'the Service to be unprogrammed' });
    } finally {
      await env.stop();
    }
  });
});
