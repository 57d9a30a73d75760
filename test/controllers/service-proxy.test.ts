/**
 * The service proxy: the desired state computed from Services and Endpoints; the userspace
 * proxier with real TCP and UDP backends on loopback addresses (round-robin, ClientIP affinity
 * and its timeout on a fake clock, retry on a refused endpoint, draining, half-close, no
 * endpoints, rebinding, bind retries, node ports, UDP sessions) — once copying in JavaScript
 * only and once with the native relay, which takes the connections that last; and the
 * controller under a manager over an in-memory store, where Endpoints changes reach the proxy
 * in milliseconds. (The native relay's own cases: service-proxy-native-relay.test.ts.)
 *
 * Every address is on 127.0.0.0/8, chosen at random per test so that runs in parallel (and
 * clusters running on this host) never share a socket. Every socket is closed after each test.
 */
import { expect } from 'chai';
import { connect, createServer } from 'node:net';
import { EndpointSlice, Endpoints, Service } from '../../lib/api/kinds.js';
import type { EndpointSubset, ServiceSpec } from '../../lib/api/types/core.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';
import { TestEnv } from '../../lib/testing/env.js';
import { memoryClient } from '../../lib/testing/index.js';
import { systemClock, type Clock } from '../../lib/util/clock.js';
import {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  endpointsFromSlices,
  sameBinding,
  ProxyNodeNames,
  ServiceProxier,
  ServiceProxy,
  ServiceProxyController,
  servicePortsOf,
  UserspaceProxier,
  type RelayMode,
  type ServiceEndpoint,
  type ServicePortState,
} from '../../controllers/service-proxy/index.js';
import {
  cleanups,
  closeAfterEach,
  exchange,
  openConnection,
  outcome,
  portState,
  proxier,
  proxierDefaults,
  randomAddress,
  refusedEndpoint,
  tally,
  tcpBackend,
  udpBackend,
  udpClient,
  whoAnswers,
} from '../harness/proxy-fixtures.js';
import { isRoot } from '../harness/netns.js';
import { waitFor } from '../harness/wait.js';

// ---------------------------------------------------------------------------------------------

describe('service proxy: desired state from Service and Endpoints', () => {
  const service = (spec: Partial<ServiceSpec>): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { clusterIP: '127.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec },
  });
  const endpoints = (subsets: EndpointSubset[]): Endpoints => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'shop' }, subsets });

  it('lists the ready addresses with the port of the same name, never the not-ready ones', () => {
    const ports = servicePortsOf(
      service({ ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
      endpoints([
        { addresses: [{ ip: '127.64.0.3' }, { ip: '127.64.0.2' }], notReadyAddresses: [{ ip: '127.64.0.9' }], ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }] },
        { addresses: [{ ip: '127.64.1.2' }], ports: [{ name: 'http', port: 9090 }] },
      ]),
    );
    expect(ports).to.deep.equal([
      {
        name: 'shop/web:http',
        service: 'shop/web',
        protocol: 'TCP',
        clusterIP: '127.96.0.10',
        port: 80,
        endpoints: [{ ip: '127.64.0.2', port: 8080 }, { ip: '127.64.0.3', port: 8080 }, { ip: '127.64.1.2', port: 9090 }],
      },
      { name: 'shop/web:dns', service: 'shop/web', protocol: 'UDP', clusterIP: '127.96.0.10', port: 53, endpoints: [{ ip: '127.64.0.2', port: 5353 }, { ip: '127.64.0.3', port: 5353 }] },
    ]);
  });

  it('names an unnamed port after the Service alone, and matches the unnamed endpoint port', () => {
    const [port] = servicePortsOf(service({ ports: [{ port: 80 }] }), endpoints([{ addresses: [{ ip: '127.64.0.2' }], ports: [{ port: 8080 }] }]));
    expect(port).to.include({ name: 'shop/web', port: 80 });
    expect(port!.endpoints).to.deep.equal([{ ip: '127.64.0.2', port: 8080 }]);
  });

  it('serves node ports of NodePort and LoadBalancer Services only', () => {
    const ports = [{ name: 'http', port: 80, nodePort: 30080 }];
    expect(servicePortsOf(service({ type: 'NodePort', ports }), undefined)[0]).to.include({ nodePort: 30080 });
    expect(servicePortsOf(service({ type: 'LoadBalancer', ports }), undefined)[0]).to.include({ nodePort: 30080 });
    expect(servicePortsOf(service({ type: 'ClusterIP', ports }), undefined)[0]).to.not.have.property('nodePort');
  });

  it('carries ClientIP affinity with its timeout (default 10800 s)', () => {
    expect(servicePortsOf(service({ sessionAffinity: 'ClientIP' }), undefined)[0]!.affinityTimeoutSeconds).to.equal(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
    expect(servicePortsOf(service({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }), undefined)[0]!.affinityTimeoutSeconds).to.equal(60);
    expect(servicePortsOf(service({}), undefined)[0]).to.not.have.property('affinityTimeoutSeconds');
  });

  it('carries the extra addresses (VIPs held here) on every port, sorted and unique; they are part of the binding', () => {
    const ports = servicePortsOf(service({ ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }), undefined, ['127.200.0.20', '127.200.0.10', '127.200.0.20', '127.96.0.10']);
    expect(ports.map((p) => p.extraAddresses)).to.deep.equal([['127.200.0.10', '127.200.0.20'], ['127.200.0.10', '127.200.0.20']]);
    const [plain] = servicePortsOf(service({}), undefined, []);
    expect(plain).to.not.have.property('extraAddresses');
    expect(sameBinding(plain!, { ...plain!, extraAddresses: ['127.200.0.10'] })).to.equal(false);
    expect(sameBinding({ ...plain!, extraAddresses: ['127.200.0.10'] }, { ...plain!, extraAddresses: ['127.200.0.10'] })).to.equal(true);
  });

  it('serves externalIPs, and the ingress IPs of a LoadBalancer (not ipMode Proxy), as extra addresses', () => {
    const status = { loadBalancer: { ingress: [{ ip: '127.200.0.30' }, { hostname: 'lb.example.com' }, { ip: '127.200.0.40', ipMode: 'Proxy' }] } };
    const lb: Service = { ...service({ type: 'LoadBalancer', externalIPs: ['127.200.0.20'] }), status };
    expect(servicePortsOf(lb, undefined, ['127.200.0.10', '127.200.0.20'])[0]!.extraAddresses).to.deep.equal(['127.200.0.10', '127.200.0.20', '127.200.0.30']);
    // Ingress IPs are a load balancer's: only for type LoadBalancer (a stale status elsewhere is ignored).
    const clusterIPOnly: Service = { ...service({ externalIPs: ['127.200.0.20'] }), status };
    expect(servicePortsOf(clusterIPOnly, undefined)[0]!.extraAddresses).to.deep.equal(['127.200.0.20']);
  });

  it('applies Local traffic policies with the nodes the proxy serves: local endpoints for that traffic only', () => {
    const subsets: EndpointSubset[] = [
      { addresses: [{ ip: '127.64.0.2', nodeName: 'node-1' }, { ip: '127.64.0.3', nodeName: 'node-2' }, { ip: '127.64.0.4' }], ports: [{ name: 'http', port: 8080 }] },
    ];
    const all = [{ ip: '127.64.0.2', port: 8080 }, { ip: '127.64.0.3', port: 8080 }, { ip: '127.64.0.4', port: 8080 }];
    const here = new Set(['node-1']);
    const internal = servicePortsOf(service({ internalTrafficPolicy: 'Local' }), endpoints(subsets), [], here)[0]!;
    expect(internal.endpoints).to.deep.equal([{ ip: '127.64.0.2', port: 8080 }]);
    expect(internal.externalEndpoints).to.deep.equal(all);
    expect(internal.local).to.deep.equal({ internal: true, external: false, anyReady: true });
    const external = servicePortsOf(service({ type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), endpoints(subsets), [], here)[0]!;
    expect(external.endpoints).to.deep.equal(all);
    expect(external.externalEndpoints).to.deep.equal([{ ip: '127.64.0.2', port: 8080 }]);
    expect(external.local).to.deep.equal({ internal: false, external: true, anyReady: true });
    // None here: an empty set, but the Service has endpoints elsewhere (traffic is dropped, not refused).
    expect(servicePortsOf(service({ internalTrafficPolicy: 'Local' }), endpoints(subsets), [], new Set(['node-9']))[0]).to.deep.include({ endpoints: [], local: { internal: true, external: false, anyReady: true } });
    // Nodes unknown, or policies Cluster: every ready endpoint, no policy carried.
    const unknown = servicePortsOf(service({ internalTrafficPolicy: 'Local' }), endpoints(subsets))[0]!;
    expect(unknown.endpoints).to.deep.equal(all);
    expect(unknown).to.not.have.any.keys('externalEndpoints', 'local');
    expect(servicePortsOf(service({ internalTrafficPolicy: 'Cluster' }), endpoints(subsets), [], here)[0]).to.not.have.any.keys('externalEndpoints', 'local');
  });

  it('reads EndpointSlices as Endpoints: IPv4 slices, ready unless ready is false, the first address, numbered ports', () => {
    const slice = (name: string, extra: Partial<EndpointSlice>): EndpointSlice => ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: 'shop' }, addressType: 'IPv4', ...extra });
    expect(endpointsFromSlices([])).to.equal(undefined);
    expect(endpointsFromSlices([slice('v6', { addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'] }] })])).to.equal(undefined);
    const endpoints = endpointsFromSlices([
      slice('a', {
        ports: [{ name: 'http', port: 8080 }, { name: 'all' }],
        endpoints: [
          { addresses: ['127.64.0.2', '127.64.0.99'], nodeName: 'node-1' },
          { addresses: ['127.64.0.3'], conditions: { ready: true } },
          { addresses: ['127.64.0.4'], conditions: { ready: false } },
        ],
      }),
      slice('b', { ports: [{ name: 'http', port: 9090, protocol: 'TCP' }], endpoints: [{ addresses: ['127.64.1.2'] }] }),
    ]);
    expect(endpoints!.subsets).to.deep.equal([
      { addresses: [{ ip: '127.64.0.2', nodeName: 'node-1' }, { ip: '127.64.0.3' }], notReadyAddresses: [{ ip: '127.64.0.4' }], ports: [{ name: 'http', port: 8080 }] },
      { addresses: [{ ip: '127.64.1.2' }], notReadyAddresses: [], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
    ]);
    expect(servicePortsOf(service({}), endpoints)[0]!.endpoints).to.deep.equal([
      { ip: '127.64.0.2', port: 8080 },
      { ip: '127.64.0.3', port: 8080 },
      { ip: '127.64.1.2', port: 9090 },
    ]);
  });

  it('proxies nothing for headless, ExternalName and SCTP', () => {
    expect(servicePortsOf(service({ clusterIP: 'None' }), undefined)).to.deep.equal([]);
    expect(servicePortsOf(service({ type: 'ExternalName', externalName: 'example.com', clusterIP: '' }), undefined)).to.deep.equal([]);
    expect(servicePortsOf(service({ ports: [{ name: 's', port: 80, protocol: 'SCTP' }] }), undefined)).to.deep.equal([]);
  });
});

for (const relay of ['javascript', 'native', 'sockmap'] as RelayMode[]) describe(`service proxy: the userspace proxier (relay: ${relay})`, function () {
  this.timeout(20_000);
  closeAfterEach();
  before(() => {
    if (relay === 'sockmap' && !isRoot()) throw new Error('the sockmap relay tests need root (BPF); run the suite as root');
    proxierDefaults.relay = relay;
  });
  after(() => delete proxierDefaults.relay);

  it('spreads connections round-robin over the endpoints', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((name) => tcpBackend(randomAddress(), name)));
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, backends.map((b) => b.endpoint))]);
    const answers: string[] = [];
    for (let i = 0; i < 30; i++) answers.push(await whoAnswers(vip, 8080));
    expect(tally(answers)).to.deep.equal({ a: 10, b: 10, c: 10 });
  });

  it('keeps a client IP on its endpoint with ClientIP affinity, until the timeout passes unused', async () => {
    const clock = new FakeClock();
    const backends = await Promise.all(['a', 'b', 'c'].map((name) => tcpBackend(randomAddress(), name)));
    const proxy = proxier({ clock });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, backends.map((b) => b.endpoint), { affinityTimeoutSeconds: 60 })]);
    const clientA = '127.0.0.11';
    const clientB = '127.0.0.12';
    const first = await whoAnswers(vip, 8080, clientA);
    for (let i = 0; i < 5; i++) expect(await whoAnswers(vip, 8080, clientA)).to.equal(first);
    const other = await whoAnswers(vip, 8080, clientB);
    expect(other).to.not.equal(first);
    // Each use refreshes the affinity: two periods of 59 s with a use in between keep it.
    await clock.advance(59_000);
    expect(await whoAnswers(vip, 8080, clientA)).to.equal(first);
    await clock.advance(59_000);
    expect(await whoAnswers(vip, 8080, clientA)).to.equal(first);
    // 60 s without a connection: the next one is placed afresh (round-robin moves on).
    await clock.advance(60_000);
    expect(await whoAnswers(vip, 8080, clientA)).to.not.equal(first);
  });

  it('retries a refused endpoint on the next one: the client sees no error', async () => {
    const dead = await refusedEndpoint(randomAddress());
    const dead2 = await refusedEndpoint(randomAddress());
    const alive = await tcpBackend(randomAddress(), 'alive');
    const metrics = new Metrics();
    const proxy = proxier({ metrics });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [dead, alive.endpoint, dead2])]);
    const answers: string[] = [];
    for (let i = 0; i < 12; i++) answers.push(await whoAnswers(vip, 8080));
    expect(tally(answers)).to.deep.equal({ alive: 12 });
    const failures = (await metrics.registry.getSingleMetric('keelson_proxy_endpoint_dial_failures_total')!.get()).values[0]!.value;
    expect(failures).to.be.greaterThan(0);
  });

  it('resets the client only when every attempt failed (bounded attempts)', async () => {
    const dead = await refusedEndpoint(randomAddress());
    const proxy = proxier({ connectTimeoutsMs: [100, 100, 100] });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [dead])]);
    expect(await outcome(vip, 8080)).to.be.oneOf(['ECONNRESET', 'EPIPE', 'empty']);
  });

  it('drains a removed endpoint: its open connection keeps working, new ones go elsewhere, cut after the grace period', async () => {
    const clock = new FakeClock();
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const proxy = proxier({ clock, drainGracePeriodMs: 30_000 });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint, b.endpoint])]);
    const open = await openConnection(vip, 8080);
    expect(await open.ask('one')).to.equal('a:one');

    await proxy.syncService('default/svc', [portState(vip, 8080, [b.endpoint])]);
    expect(await open.ask('two')).to.equal('a:two');
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await whoAnswers(vip, 8080));
    expect(tally(answers)).to.deep.equal({ b: 6 });

    await clock.advance(29_000);
    expect(await open.ask('three')).to.equal('a:three');
    await clock.advance(2_000);
    await open.closed;
    await waitFor(() => a.connections.size === 0, { timeoutMs: 2000, what: "the drained connection's backend side to close" });
  });

  it('keeps the connections of an endpoint that comes back within the grace period', async () => {
    const clock = new FakeClock();
    const a = await tcpBackend(randomAddress(), 'a');
    const proxy = proxier({ clock, drainGracePeriodMs: 10_000 });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    const open = await openConnection(vip, 8080);
    expect(await open.ask('first')).to.equal('a:first'); // the proxy has spliced it to a
    await proxy.syncService('default/svc', [portState(vip, 8080, [])]);
    await clock.advance(5_000);
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    await clock.advance(60_000);
    expect(await open.ask('still')).to.equal('a:still');
  });

  it('passes a half-close on: a client that ends its side still gets the whole reply', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    // The backend answers `a:end` only after it saw the client's FIN.
    expect(await exchange(vip, 8080, ['x', 'y'])).to.deep.equal(['a:x', 'a:y', 'a:end']);
  });

  it('carries a large payload both ways', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    const lines = Array.from({ length: 20_000 }, (_, i) => `line-${i}-${'x'.repeat(100)}`);
    const replies = await exchange(vip, 8080, lines);
    expect(replies).to.have.length(20_001);
    expect(replies[19_999]).to.equal(`a:${lines[19_999]}`);
  });

  it('refuses connections while the Service has no endpoints (as kube-proxy rejects), and serves once one is ready', async () => {
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [])]);
    const started = Date.now();
    const result = await outcome(vip, 8080);
    const tookMs = Date.now() - started;
    console.log(`      (no endpoints: ${result} after ${tookMs} ms)`);
    expect(result).to.equal('ECONNREFUSED');
    expect(tookMs).to.be.below(500);
    const a = await tcpBackend(randomAddress(), 'a');
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    expect(await exchange(vip, 8080, ['x'])).to.deep.equal(['a:x', 'a:end']);
    await proxy.syncService('default/svc', [portState(vip, 8080, [])]);
    expect(await outcome(vip, 8080)).to.equal('ECONNREFUSED');
  });

  it('re-binds a port that moved, and stops listening on a port removed', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    expect(await whoAnswers(vip, 8080)).to.equal('a');
    await proxy.syncService('default/svc', [portState(vip, 8081, [a.endpoint])]);
    expect(await outcome(vip, 8080)).to.equal('ECONNREFUSED');
    expect(await whoAnswers(vip, 8081)).to.equal('a');
    await proxy.syncService('default/svc', []);
    expect(await outcome(vip, 8081)).to.equal('ECONNREFUSED');
    expect(proxy.servicePorts()).to.deep.equal([]);
  });

  it('serves extra addresses (VIPs) at the Service port in place: the cluster IP socket and its connections are untouched', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const proxy = proxier();
    const ip = randomAddress();
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(ip, 8080, [a.endpoint, b.endpoint])]);
    const forwarder = proxy.forwarder('default/svc:http')!;
    const open = await openConnection(ip, 8080);
    const first = (await open.ask('hi')).split(':')[0];
    expect(await outcome(vip, 8080)).to.equal('ECONNREFUSED');

    await proxy.syncService('default/svc', [portState(ip, 8080, [a.endpoint, b.endpoint], { extraAddresses: [vip] })]);
    expect(proxy.forwarder('default/svc:http')).to.equal(forwarder);
    expect(forwarder.addresses).to.deep.equal([{ address: `${ip}:8080`, bound: true }, { address: `${vip}:8080`, bound: true }]);
    // Same endpoints, same round-robin as the cluster IP.
    expect(new Set(await Promise.all([0, 1, 2, 3].map(() => whoAnswers(vip, 8080))))).to.deep.equal(new Set(['a', 'b']));
    const overVip = await openConnection(vip, 8080);
    expect(await overVip.ask('x')).to.match(/^[ab]:x$/);

    await proxy.syncService('default/svc', [portState(ip, 8080, [a.endpoint, b.endpoint])]);
    expect(await outcome(vip, 8080)).to.equal('ECONNREFUSED');
    expect(forwarder.addresses).to.deep.equal([{ address: `${ip}:8080`, bound: true }]);
    // Connections accepted before go on, on either address.
    expect(await open.ask('again')).to.equal(`${first}:again`);
    expect(await overVip.ask('y')).to.match(/^[ab]:y$/);
    expect(await whoAnswers(ip, 8080)).to.be.oneOf(['a', 'b']);
  });

  it('Local traffic policies: cluster IP traffic to every endpoint and node port traffic to the local one (external Local), or the reverse (internal Local)', async () => {
    const local = await tcpBackend(randomAddress(), 'local');
    const remote = await tcpBackend(randomAddress(), 'remote');
    const nodeAddress = randomAddress();
    const proxy = proxier({ nodeAddresses: [nodeAddress] });
    const ip = randomAddress();
    const both = [local.endpoint, remote.endpoint];
    const external = portState(ip, 8080, both, { nodePort: 30080, externalEndpoints: [local.endpoint], local: { internal: false, external: true, anyReady: true } });
    await proxy.syncService('default/svc', [external]);
    const viaCluster = new Set<string>();
    for (let i = 0; i < 6; i++) viaCluster.add(await whoAnswers(ip, 8080));
    expect(viaCluster).to.deep.equal(new Set(['local', 'remote']));
    for (let i = 0; i < 4; i++) expect(await whoAnswers(nodeAddress, 30080)).to.equal('local');

    // internal Local, external Cluster: the reverse (same sockets, new endpoint sets).
    await proxy.syncService('default/svc', [{ ...external, endpoints: [local.endpoint], externalEndpoints: both, local: { internal: true, external: false, anyReady: true } }]);
    for (let i = 0; i < 4; i++) expect(await whoAnswers(ip, 8080)).to.equal('local');
    const viaNodePort = new Set<string>();
    for (let i = 0; i < 6; i++) viaNodePort.add(await whoAnswers(nodeAddress, 30080));
    expect(viaNodePort).to.deep.equal(new Set(['local', 'remote']));

    // No local endpoint for cluster traffic: those connections are closed at once (the userspace
    // proxy cannot drop a connection it accepted); node port traffic is still served.
    await proxy.syncService('default/svc', [{ ...external, endpoints: [], externalEndpoints: both, local: { internal: true, external: false, anyReady: true } }]);
    expect(await outcome(ip, 8080)).to.be.oneOf(['ECONNRESET', 'EPIPE', 'empty']);
    expect(await whoAnswers(nodeAddress, 30080)).to.be.oneOf(['local', 'remote']);
  });

  it('serves a node port on every node address', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const nodes = [randomAddress(), randomAddress()];
    const proxy = proxier({ nodeAddresses: nodes });
    const vip = randomAddress();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint], { nodePort: 30080 })]);
    expect(await whoAnswers(vip, 8080)).to.equal('a');
    for (const node of nodes) expect(await whoAnswers(node, 30080)).to.equal('a');
  });

  it('keeps retrying an address in use, and serves once it is free — never failing the sync', async () => {
    const vip = randomAddress();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(8080, vip, resolve)); // no SO_REUSEPORT: the proxy cannot share it
    const a = await tcpBackend(randomAddress(), 'a');
    const proxy = proxier();
    await proxy.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    expect(proxy.forwarder('default/svc:http')!.listening).to.equal(false);
    await new Promise((resolve) => blocker.close(resolve));
    await waitFor(() => proxy.forwarder('default/svc:http')!.listening, { timeoutMs: 5000, what: 'the proxy to bind after the address was freed' });
    expect(await whoAnswers(vip, 8080)).to.equal('a');
  });

  it('shares a cluster IP with a proxy of another process (SO_REUSEPORT)', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const vip = randomAddress();
    const first = proxier();
    const second = proxier();
    await first.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    await second.syncService('default/svc', [portState(vip, 8080, [a.endpoint])]);
    expect(first.forwarder('default/svc:http')!.listening).to.equal(true);
    expect(second.forwarder('default/svc:http')!.listening).to.equal(true);
    await first.stop();
    expect(await whoAnswers(vip, 8080)).to.equal('a');
  });

  it('forwards UDP: a session per client address, replies from the Service address', async () => {
    const u1 = await udpBackend(randomAddress(), 'u1');
    const u2 = await udpBackend(randomAddress(), 'u2');
    const proxy = proxier();
    const vip = randomAddress();
    await proxy.syncService('default/dns', [{ name: 'default/dns:dns', service: 'default/dns', protocol: 'UDP', clusterIP: vip, port: 5353, endpoints: [u1, u2] }]);
    const one = await udpClient('127.0.0.21');
    const two = await udpClient('127.0.0.22');
    const first = await one.ask(vip, 5353, 'hello');
    expect(first.from).to.equal(`${vip}:5353`);
    const backend = first.reply.split(':')[0]!;
    expect(first.reply).to.equal(`${backend}:hello`);
    for (let i = 0; i < 3; i++) expect((await one.ask(vip, 5353, `again-${i}`)).reply).to.equal(`${backend}:again-${i}`);
    expect((await two.ask(vip, 5353, 'hi')).reply).to.equal(`${backend === 'u1' ? 'u2' : 'u1'}:hi`);
  });

  it('ends an idle UDP session, so the next datagram is placed afresh', async () => {
    const clock = new FakeClock();
    const u1 = await udpBackend(randomAddress(), 'u1');
    const u2 = await udpBackend(randomAddress(), 'u2');
    const proxy = proxier({ clock, udpIdleTimeoutMs: 1000 });
    const vip = randomAddress();
    await proxy.syncService('default/dns', [{ name: 'default/dns:dns', service: 'default/dns', protocol: 'UDP', clusterIP: vip, port: 5353, endpoints: [u1, u2] }]);
    const client = await udpClient('127.0.0.23');
    const first = (await client.ask(vip, 5353, 'a')).reply.split(':')[0];
    const forwarder = proxy.forwarder('default/dns:dns') as unknown as { sessionCount: number };
    expect(forwarder.sessionCount).to.equal(1);
    await clock.advance(999);
    expect(forwarder.sessionCount).to.equal(1);
    await clock.advance(1);
    expect(forwarder.sessionCount).to.equal(0);
    expect((await client.ask(vip, 5353, 'b')).reply.split(':')[0]).to.not.equal(first);
  });
});

describe('service proxy: the controller under a manager', function () {
  this.timeout(20_000);
  closeAfterEach();
  const NS = 'default';

  /** A random free-looking cluster IP in the store's static band (127.96.0.0/24). */
  const clusterIP = () => `127.96.0.${Math.floor(Math.random() * 200) + 20}`;

  async function start(clock: Clock = systemClock, nodeNames?: string[]): Promise<{ env: TestEnv; proxy: UserspaceProxier; metrics: Metrics }> {
    const metrics = new Metrics();
    const proxy = new UserspaceProxier({ nodeAddresses: [], clock, logger: silentLogger(), metrics });
    const env = await TestEnv.start({
      metrics,
      controllers: [ServiceProxyController],
      configure: (c) => {
        c.bind(ServiceProxier).toConstantValue(proxy);
        if (nodeNames) c.bind(ProxyNodeNames).toConstantValue(nodeNames);
      },
    });
    cleanups.push(async () => {
      await env.stop();
      await proxy.stop();
    });
    return { env, proxy, metrics };
  }

  function endpointsOf(name: string, backends: ServiceEndpoint[]): Endpoints {
    return {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace: NS },
      subsets: backends.map((b) => ({ addresses: [{ ip: b.ip }], ports: [{ name: 'http', port: b.port }] })),
    };
  }

  it('makes a Service answer on its cluster IP, and follows its Endpoints within milliseconds', async () => {
    const { env, proxy, metrics } = await start();
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const ip = clusterIP();
    await env.client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 8080 }] } });
    await env.client.create(endpointsOf('web', [a.endpoint]));
    await waitFor(async () => (await outcome(ip, 8080)) === 'a:end', { timeoutMs: 5000, what: 'the Service to answer on its cluster IP' });

    const updated = await env.client.get(Endpoints, 'web', { namespace: NS });
    const started = performance.now();
    await env.client.update({ ...updated, subsets: endpointsOf('web', [b.endpoint]).subsets! });
    await waitFor(() => proxy.forwarder('default/web:http')?.state.endpoints[0]?.port === b.endpoint.port, { timeoutMs: 2000, intervalMs: 1, what: 'the proxy to take the new endpoints' });
    const tookMs = performance.now() - started;
    console.log(`      (Endpoints update → proxy: ${tookMs.toFixed(1)} ms)`);
    expect(tookMs).to.be.below(500);
    for (let i = 0; i < 4; i++) expect(await whoAnswers(ip, 8080)).to.equal('b');
    const open = await openConnection(ip, 8080);
    expect(await open.ask('hi')).to.equal('b:hi');
    const text = await metrics.registry.metrics();
    expect(text).to.match(/^kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/m);
    expect(text).to.match(/^keelson_proxy_active_connections\{protocol="TCP"\} 1$/m);
    expect(text).to.match(/^keelson_proxy_connections_total\{protocol="TCP",result="proxied"\} [1-9]/m);
    open.socket.destroy();

    await env.client.delete(Service, 'web', { namespace: NS });
    await waitFor(async () => (await outcome(ip, 8080)) === 'ECONNREFUSED', { timeoutMs: 5000, what: 'the deleted Service to stop listening' });
  });

  it('serves a selector-less Service from its EndpointSlices when it has no Endpoints, following them; an Endpoints object takes over', async () => {
    const { env, proxy } = await start();
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const c = await tcpBackend(randomAddress(), 'c');
    const ip = clusterIP();
    await env.client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: NS }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 8080 }] } });
    const slice = await env.client.create<EndpointSlice>({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'ext-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'ext' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: a.endpoint.port }],
      endpoints: [{ addresses: [a.endpoint.ip] }],
    });
    await waitFor(async () => (await outcome(ip, 8080)) === 'a:end', { timeoutMs: 5000, what: 'the Service to answer from its slice' });

    await env.client.update<EndpointSlice>({ ...slice, ports: [{ name: 'http', port: b.endpoint.port }], endpoints: [{ addresses: [b.endpoint.ip] }] });
    await waitFor(() => proxy.forwarder('default/ext:http')?.state.endpoints[0]?.ip === b.endpoint.ip, { timeoutMs: 2000, what: 'the proxy to follow the slice' });
    expect(await whoAnswers(ip, 8080)).to.equal('b');

    await env.client.create(endpointsOf('ext', [c.endpoint]));
    await waitFor(() => proxy.forwarder('default/ext:http')?.state.endpoints[0]?.ip === c.endpoint.ip, { timeoutMs: 2000, what: 'the Endpoints to take over' });
    expect(await whoAnswers(ip, 8080)).to.equal('c');
  });

  it("serves kube-proxy's health check of a LoadBalancer Service with externalTrafficPolicy Local on its healthCheckNodePort: 200 with local endpoints, 503 without", async () => {
    const client = await memoryClient();
    const node = randomAddress();
    const proxy = new ServiceProxy({ client, logger: silentLogger(), nodeAddresses: [node], nodeNames: ['node-1'] });
    cleanups.push(async () => {
      await proxy.stop();
      await client.close();
    });
    await proxy.start();
    const a = await tcpBackend(randomAddress(), 'a');
    const created = await client.create<Service>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'lb', namespace: NS },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: clusterIP(), ports: [{ name: 'http', port: 8080 }] },
    });
    const port = created.spec!.healthCheckNodePort!;
    expect(port, 'allocated by the API server').to.be.within(30000, 32767);
    const check = async () => {
      try {
        const res = await fetch(`http://${node}:${port}/`);
        return { status: res.status, weight: res.headers.get('x-load-balancing-endpoint-weight'), body: (await res.json()) as Record<string, unknown> };
      } catch {
        return undefined;
      }
    };
    const endpointsOn = (nodeName: string): Endpoints => ({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'lb', namespace: NS },
      subsets: [{ addresses: [{ ip: a.endpoint.ip, nodeName }], ports: [{ name: 'http', port: a.endpoint.port }] }],
    });
    await client.create(endpointsOn('node-1'));
    const healthy = await waitFor(async () => ((await check())?.status === 200 ? check() : undefined), { timeoutMs: 5000, what: 'the health check to answer 200' });
    expect(healthy).to.deep.equal({ status: 200, weight: '1', body: { service: { namespace: NS, name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true } });

    // The endpoint moves to another node: none local, 503.
    const current = await client.get(Endpoints, 'lb', { namespace: NS });
    await client.update({ ...current, subsets: endpointsOn('node-2').subsets! });
    const unhealthy = await waitFor(async () => ((await check())?.status === 503 ? check() : undefined), { timeoutMs: 5000, what: 'the health check to answer 503' });
    expect(unhealthy!.body).to.deep.include({ localEndpoints: 0 });

    // Policy Cluster: no health check any more.
    const svc = await client.get(Service, 'lb', { namespace: NS });
    await client.update<Service>({ ...svc, spec: { ...svc.spec, externalTrafficPolicy: 'Cluster' } });
    await waitFor(async () => (await check()) === undefined, { timeoutMs: 5000, what: 'the health check to stop' });
  });

  it('ServiceProxy.serveServiceOn: a Service answers on an extra address (a held VIP) until told to stop', async () => {
    const client = await memoryClient();
    const proxy = new ServiceProxy({ client, logger: silentLogger() });
    cleanups.push(async () => {
      await proxy.stop();
      await client.close();
    });
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const ip = clusterIP();
    const vip = randomAddress();
    // Before start: carried by the Service's first sync.
    proxy.serveServiceOn('default/web', vip, true);
    await proxy.start();
    await client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 8080 }] } });
    await client.create(endpointsOf('web', [a.endpoint, b.endpoint]));
    await waitFor(async () => (await outcome(vip, 8080)).endsWith(':end'), { timeoutMs: 5000, what: 'the Service to answer on the VIP' });
    expect(proxy.servedOn('default/web')).to.deep.equal([vip]);
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) answers.add(await whoAnswers(vip, 8080));
    expect(answers).to.deep.equal(new Set(['a', 'b']));

    let started = performance.now();
    proxy.serveServiceOn('default/web', vip, false);
    await waitFor(async () => (await outcome(vip, 8080)) === 'ECONNREFUSED', { timeoutMs: 2000, intervalMs: 5, what: 'the VIP listener to close' });
    console.log(`      (serveServiceOn off → refused on the VIP: ${(performance.now() - started).toFixed(1)} ms)`);
    expect(proxy.servedOn('default/web')).to.deep.equal([]);
    expect(await whoAnswers(ip, 8080)).to.be.oneOf(['a', 'b']);

    // Again, once running: on within milliseconds too; a Service deleted stops it everywhere.
    started = performance.now();
    proxy.serveServiceOn('default/web', vip, true);
    await waitFor(async () => (await outcome(vip, 8080)).endsWith(':end'), { timeoutMs: 2000, intervalMs: 5, what: 'the VIP to answer again' });
    console.log(`      (serveServiceOn on → answering on the VIP: ${(performance.now() - started).toFixed(1)} ms)`);
    await client.delete(Service, 'web', { namespace: NS });
    await waitFor(async () => (await outcome(vip, 8080)) === 'ECONNREFUSED', { timeoutMs: 5000, what: 'the deleted Service to stop listening on the VIP' });
  });

  it('serves a Service on its externalIPs and on the ingress IP of its load balancer, following changes to both', async () => {
    const { env } = await start();
    const a = await tcpBackend(randomAddress(), 'a');
    const ip = clusterIP();
    const external = randomAddress();
    const ingress = randomAddress();
    const created = await env.client.create<Service>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ext', namespace: NS },
      spec: { type: 'LoadBalancer', clusterIP: ip, externalIPs: [external], ports: [{ name: 'http', port: 8080 }] },
    });
    await env.client.create(endpointsOf('ext', [a.endpoint]));
    await waitFor(async () => (await outcome(external, 8080)) === 'a:end', { timeoutMs: 5000, what: 'the Service to answer on its external IP' });
    expect(await outcome(ingress, 8080)).to.equal('ECONNREFUSED');

    // The load balancer reports its address: the proxy serves it too (status, not spec).
    await env.client.updateStatus<Service>({ ...created, status: { loadBalancer: { ingress: [{ ip: ingress }] } } });
    await waitFor(async () => (await outcome(ingress, 8080)) === 'a:end', { timeoutMs: 5000, what: 'the Service to answer on its ingress IP' });

    // The external IP removed: refused there at once, still served on the cluster IP.
    const current = await env.client.get(Service, 'ext', { namespace: NS });
    await env.client.update<Service>({ ...current, spec: { ...current.spec, externalIPs: [] } });
    await waitFor(async () => (await outcome(external, 8080)) === 'ECONNREFUSED', { timeoutMs: 5000, what: 'the external IP to stop answering' });
    expect(await outcome(ip, 8080)).to.equal('a:end');
    expect(await outcome(ingress, 8080)).to.equal('a:end');
  });

  it('with the names of its nodes bound (ProxyNodeNames), applies internalTrafficPolicy Local from the Endpoints\' nodeName', async () => {
    const { env, proxy } = await start(systemClock, ['node-1']);
    const here = await tcpBackend(randomAddress(), 'here');
    const there = await tcpBackend(randomAddress(), 'there');
    const ip = clusterIP();
    await env.client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'loc', namespace: NS }, spec: { clusterIP: ip, internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 8080 }] } });
    await env.client.create<Endpoints>({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'loc', namespace: NS },
      subsets: [{ addresses: [{ ip: here.endpoint.ip, nodeName: 'node-1' }, { ip: there.endpoint.ip, nodeName: 'node-2' }], ports: [{ name: 'http', port: here.endpoint.port }] }],
    });
    await waitFor(() => proxy.forwarder('default/loc:http')?.state.local?.anyReady, { timeoutMs: 5000, what: 'the proxy to take the Endpoints' });
    expect(proxy.forwarder('default/loc:http')!.state.endpoints).to.deep.equal([{ ip: here.endpoint.ip, port: here.endpoint.port }]);
  });

  it('re-binds when the Service port changes, and refuses while the Endpoints are empty', async () => {
    const { env } = await start();
    const a = await tcpBackend(randomAddress(), 'a');
    const ip = clusterIP();
    const created = await env.client.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: NS }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 8080 }] } });
    expect(await outcome(ip, 8080), 'no endpoints: refused').to.equal('ECONNREFUSED');
    await env.client.create(endpointsOf('api', [a.endpoint]));
    await waitFor(async () => (await outcome(ip, 8080)) === 'a:end', { timeoutMs: 5000, what: 'the endpoint to answer' });
    await env.client.update<Service>({ ...created, spec: { ...created.spec, ports: [{ name: 'http', port: 9090 }] } });
    await waitFor(async () => (await outcome(ip, 9090)) === 'a:end', { timeoutMs: 5000, what: 'the new port to answer' });
    expect(await outcome(ip, 8080)).to.equal('ECONNREFUSED');
  });
});
