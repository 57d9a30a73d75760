/**
 * The service proxy end to end, under `keelson up --nodes 3` driven as a user would (kubectl,
 * plain HTTP clients): the `hello` Service of examples/http-server answers on its cluster IP;
 * requests spread over its pods; scaling the ReplicationController 3 → 5 → 2 while a client
 * keeps sending requests — each on a new connection, none retried — fails none of them (the
 * proxy retries refused dials, pods scaled away drain); a killed pod leaves the rotation within
 * one readiness period (1 s in hello.yaml), again with no failed request; a keep-alive
 * connection is handed to the native relay, a child process of keelson up, which ends with it.
 * Times are printed; the bounds asserted are generous. Nothing is left running afterwards.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { relative } from 'node:path';
import { Service } from '../../lib/api/kinds.js';
import { childrenNamed, DIST, processAlive, expectNoProcessesMentioning, requireKubectl, ROOT, TestCluster } from '../harness/cluster.js';
import { endpointIPs, helloManifest, readyHello, serverProcesses } from '../harness/pods.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';

/** One GET on a new connection (no keep-alive, no retry) — or on `agent`'s: the body, or throws. */
function get(url: string, timeoutMs = 5000, agent?: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...(agent ? { agent } : { agent: false, headers: { connection: 'close' } }), timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** One POST straight to a pod; resolves when answered (or the connection failed). */
function post(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
    req.end();
  });
}

/** How many sockets listen on `ip:port` on this host (from /proc/net/tcp; IPv4). */
function listeners(ip: string, port: number): number {
  const hex = ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const local = `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1] === local && fields[3] === '0A';
  }).length;
}

/** The pod name in `hello from <pod> (<ip>:<port>)`. */
function podOf(body: string): string {
  const match = /^hello from (\S+) \(/.exec(body);
  if (!match) throw new Error(`unexpected answer: ${body}`);
  return match[1]!;
}

/** A client sending requests one after another, each on a new connection, until stopped. */
class SteadyClient {
  readonly byPod = new Map<string, number>();
  /** Failed requests: when they started (`performance.now()`) and why. */
  readonly failures: { at: number; error: string }[] = [];
  requests = 0;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly url: string, private readonly gapMs = 10) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.requests++;
      const at = performance.now();
      try {
        const pod = podOf(await get(this.url));
        this.byPod.set(pod, (this.byPod.get(pod) ?? 0) + 1);
      } catch (err) {
        this.failures.push({ at, error: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, this.gapMs));
    }
  }

  /** Stops after the request in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

describe('the service proxy under keelson up --nodes 3', function () {
  this.timeout(240_000);
  let cluster: TestCluster;
  let url: string;
  let client: SteadyClient | undefined;
  const marker = `keelson-e2e-${randomUUID()}`;
  /** The native relay's process, once a test saw it. */
  let relayPid: number | undefined;

  before(async () => {
    requireKubectl();
    cluster = await TestCluster.start({ nodes: 3 });
    // The pods run the example server of this build (the manifest names dist/'s).
    const manifest = helloManifest(marker, 3).replace('dist/examples/http-server/server.js', `${relative(ROOT, DIST)}/examples/http-server/server.js`);
    await cluster.ok(['apply', '-f', '-'], manifest);
    const pods = await readyHello(cluster, 3);
    const ips = pods.map((p) => p.status!.podIP!).sort();
    await waitFor(async () => JSON.stringify((await endpointIPs(cluster, 'hello')).ready) === JSON.stringify(ips), { timeoutMs: 20_000, what: 'the Endpoints to list the three pods' });
    const service = await cluster.client.get(Service, 'hello', { namespace: NS });
    url = `http://${service.spec!.clusterIP!}:80/`;
  });

  afterEach(async () => {
    await client?.stop();
    client = undefined;
  });

  after(async () => {
    await cluster?.stop();
    await expectNoProcessesMentioning(marker);
    if (relayPid !== undefined) expect(processAlive(relayPid), 'the native relay ends with keelson up').to.equal(false);
  });

  it('answers on the Service cluster IP and spreads requests over the pods', async () => {
    expect(url).to.match(/^http:\/\/127\.(9[6-9]|10\d|11[01])\.\d+\.\d+:80\/$/);
    const pods = new Set((await readyHello(cluster, 3)).map((p) => p.metadata!.name!));
    const started = performance.now();
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const pod = podOf(await get(url));
      counts.set(pod, (counts.get(pod) ?? 0) + 1);
    }
    const ms = performance.now() - started;
    console.log(`      (30 requests in ${ms.toFixed(0)} ms: ${[...counts.values()].join('/')} over ${counts.size} pods)`);
    expect(new Set(counts.keys())).to.deep.equal(pods);
    for (const n of counts.values()) expect(n).to.be.at.least(5);
  });

  it('hands a keep-alive connection to the native relay, a child process of keelson up; its requests all reach one pod', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const pods: string[] = [];
      for (let i = 0; i < 20; i++) pods.push(podOf(await get(url, 5000, agent)));
      expect(new Set(pods).size, 'one connection, one pod').to.equal(1);
      const relays = await waitFor(() => {
        const found = childrenNamed(cluster.upPid, 'keelson-relay');
        return found.length ? found : undefined;
      }, { timeoutMs: 2000, what: "keelson up's native relay process" });
      expect(relays).to.have.length(1);
      relayPid = relays[0];
    } finally {
      agent.destroy();
    }
  });

  it('kubectl describe service lists the endpoints (from the EndpointSlices, as kubectl 1.32 reads them)', async () => {
    const ips = (await readyHello(cluster, 3)).map((p) => `${p.status!.podIP!}:8080`).sort();
    const listed = await waitFor(async () => {
      const described = await cluster.ok(['describe', 'service', 'hello']);
      const line = /^Endpoints:\s+(.*)$/m.exec(described)?.[1] ?? '';
      return line.split(',').sort().join(',') === ips.join(',') ? line : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'kubectl describe service to list the three pods' });
    expect(listed.split(',')).to.have.length(3);
    const slices = await cluster.ok(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=hello', '--no-headers']);
    expect(slices.trim().split('\n')).to.have.length(1);
    expect(slices).to.match(/^hello-[a-z0-9]{5}\s+IPv4\s+8080\s+\S+/);
  });

  it('serves a selector-less Service whose endpoints a user publishes as an EndpointSlice (kubectl apply)', async () => {
    const [pod] = await readyHello(cluster, 3);
    const manifest = [
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: by-hand}',
      'spec:',
      '  ports: [{name: http, port: 80}]',
      '---',
      'apiVersion: discovery.k8s.io/v1',
      'kind: EndpointSlice',
      'metadata:',
      '  name: by-hand-1',
      '  labels: {kubernetes.io/service-name: by-hand}',
      'addressType: IPv4',
      'ports: [{name: http, port: 8080}]',
      'endpoints:',
      `  - addresses: ["${pod!.status!.podIP!}"]`,
      '',
    ].join('\n');
    await cluster.ok(['apply', '-f', '-'], manifest);
    try {
      const service = await cluster.client.get(Service, 'by-hand', { namespace: NS });
      const byHand = `http://${service.spec!.clusterIP!}:80/`;
      const body = await waitFor(async () => get(byHand).catch(() => undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the selector-less Service to answer' });
      expect(podOf(body)).to.equal(pod!.metadata!.name);
    } finally {
      await cluster.ok(['delete', '-f', '-'], manifest);
    }
  });

  it('fails no request while the RC scales 3 → 5 → 2 (new pods join, removed ones drain)', async () => {
    const before = new Set((await readyHello(cluster, 3)).map((p) => p.metadata!.name!));
    client = new SteadyClient(url);
    await waitFor(() => client!.requests >= 20, { timeoutMs: 10_000, what: 'the client to get going' });

    let started = performance.now();
    await cluster.ok(['scale', 'rc', 'hello', '--replicas=5']);
    const five = await readyHello(cluster, 5);
    const added = five.map((p) => p.metadata!.name!).filter((name) => !before.has(name));
    // The new pods are in rotation once they served a request.
    await waitFor(() => added.every((name) => client!.byPod.has(name)), { timeoutMs: 20_000, what: 'the new pods to get requests' });
    const upMs = performance.now() - started;

    started = performance.now();
    await cluster.ok(['scale', 'rc', 'hello', '--replicas=2']);
    const two = await readyHello(cluster, 2);
    const kept = new Set(two.map((p) => p.metadata!.name!));
    await waitFor(() => serverProcesses(marker).size === 2, { timeoutMs: 30_000, intervalMs: 100, what: 'the scaled-away servers to exit' });
    const countsAtDown = new Map(client.byPod);
    await waitFor(() => [...kept].every((name) => (client!.byPod.get(name) ?? 0) >= (countsAtDown.get(name) ?? 0) + 5), { timeoutMs: 10_000, what: 'more requests to the two pods left' });
    const downMs = performance.now() - started;
    await client.stop();

    console.log(
      `      (${client.requests} requests, ${client.failures.length} failed; 3→5 in rotation after ${upMs.toFixed(0)} ms, 5→2 settled after ${downMs.toFixed(0)} ms; per pod ${[...client.byPod.values()].join('/')})`,
    );
    expect(client.failures.map((f) => f.error)).to.deep.equal([]);
    expect(client.byPod.size).to.equal(5);
  });

  it('drops a killed pod from the rotation within one readiness period; only a request in flight at the crash may fail', async () => {
    const pods = await readyHello(cluster, 2);
    const victim = pods[0]!;
    const victimIP = victim.status!.podIP!;
    client = new SteadyClient(url);
    await waitFor(() => client!.requests >= 20, { timeoutMs: 10_000, what: 'the client to get going' });

    const killedAt = performance.now();
    await post(`http://${victimIP}:8080/exit?code=1`);
    await waitFor(async () => !(await endpointIPs(cluster, 'hello')).ready.includes(victimIP), { timeoutMs: 10_000, intervalMs: 20, what: 'the killed pod out of the ready Endpoints' });
    const droppedMs = performance.now() - killedAt;
    // It comes back (restartPolicy Always) and gets requests again.
    await readyHello(cluster, 2);
    await client.stop();
    console.log(`      (killed pod out of the rotation after ${droppedMs.toFixed(0)} ms; ${client.requests} requests, ${client.failures.length} failed)`);
    // A crash resets the connection it was serving (no proxy can replay a request it already
    // passed on); every later connection is refused by the dead pod and retried on a live one.
    expect(client.failures.length, client.failures.map((f) => f.error).join('; ')).to.be.at.most(1);
    for (const failure of client.failures) expect(failure.at, `a request started ${(failure.at - killedAt).toFixed(0)} ms after the kill failed`).to.be.below(killedAt + 100);
    expect(droppedMs).to.be.below(3000);
  });

  it('shares the cluster IP with the proxy of a keelson node process on this host (SO_REUSEPORT)', async () => {
    const ip = new URL(url).hostname;
    expect(listeners(ip, 80)).to.equal(1);
    await cluster.startNode('node-4');
    await waitFor(() => listeners(ip, 80) === 2, { timeoutMs: 20_000, what: "node-4's proxy to listen on the cluster IP too" });
    for (let i = 0; i < 20; i++) expect(await get(url)).to.match(/^hello from /);
    cluster.nodeProcess('node-4')!.kill('SIGKILL');
    await waitFor(() => listeners(ip, 80) === 1, { timeoutMs: 10_000, what: "the killed node's listener to go" });
    for (let i = 0; i < 20; i++) expect(await get(url)).to.match(/^hello from /);
  });

  it("serves the Service on a VirtualIP held by a keelson node process, through that node's own proxy (spec.serviceRef)", async () => {
    const vip = '127.200.0.21';
    const vipUrl = `http://${vip}:80/`;
    const refused = async () => get(vipUrl, 2000).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    expect(await refused()).to.equal(true);
    await cluster.startNode('node-5');
    try {
      // Only node-5 may hold it: its own proxy serves hello there (keelson up's host proxy does not).
      await cluster.ok(['apply', '-f', '-'], `apiVersion: keelson.dev/v1alpha1
kind: VirtualIP
metadata: {name: hello-on-node-5}
spec:
  address: ${vip}
  announcer: loopback
  nodeSelector: {kubernetes.io/hostname: node-5}
  serviceRef: {name: hello, namespace: ${NS}}
`);
      expect(podOf(await waitFor(() => get(vipUrl, 2000).catch(() => undefined), { timeoutMs: 20_000, intervalMs: 100, what: 'hello to answer on the VIP' }))).to.match(/^hello-/);
      expect(listeners(vip, 80)).to.equal(1);
      await cluster.ok(['delete', 'virtualip', 'hello-on-node-5']);
      await waitFor(refused, { timeoutMs: 10_000, intervalMs: 20, what: 'the VIP to stop serving hello' });
      expect(listeners(vip, 80)).to.equal(0);
    } finally {
      await cluster.kubectl(['delete', 'virtualip', 'hello-on-node-5', '--ignore-not-found']);
      const node = cluster.nodeProcess('node-5');
      node?.kill('SIGTERM');
      if (node && node.exitCode === null) await new Promise((resolve) => node.once('exit', resolve));
    }
  });
});
