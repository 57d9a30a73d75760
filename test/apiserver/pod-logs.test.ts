/**
 * `pods/log` for real: an API server over a store, real node agents running real processes (the
 * process runtime of a test Sandbox), and plain HTTP requests as kubectl sends them. The agent
 * requires a token, so every answer also proves the API server sends its agent credential. The
 * agent's side of a followed stream is watched in /proc/net/tcp: when the client goes away, the
 * API server's connection to the agent must go too.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Node, Pod, type Client } from '../../lib/index.js';
import { ApiServer } from '../../lib/apiserver/server.js';
import { agentErrorStatus, decodePodLogOptions, logContainer } from '../../lib/apiserver/pod-logs.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import type { NodeAgent } from '../../controllers/node-agent/index.js';
import { assignPodCIDR, boundPod, memoryStore, nodeAddressForTest, podCIDRForTest, startAgent, waitForPod } from '../fixtures/node-agent-kit.js';
import { freePort, httpGet, Sandbox } from '../fixtures/pod-runtime-kit.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'pod-logs-test-token-0123456789abcdefghij';

/** Sockets on the agent's side of connections to `address:port` that are still open (ESTABLISHED or CLOSE_WAIT). */
function agentSideConnections(address: string, port: number): number {
  const hex = address.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const local = `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] === local && (f[3] === '01' || f[3] === '08')).length;
}

describe('pods/log', function () {
  this.timeout(60_000);
  let store: Client;
  let sandbox: Sandbox;
  let server: ApiServer;
  let agent: NodeAgent;
  let idleAgent: NodeAgent;

  async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string; json: () => Record<string, unknown> }> {
    const response = await fetch(`${server.url}${path}`, { headers });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), text, json: () => JSON.parse(text) as Record<string, unknown> };
  }

  const log = (pod: string, query = '') => get(`/api/v1/namespaces/default/pods/${pod}/log${query}`);
  const running = (pod: Pod) => pod.status?.phase === 'Running' && !!pod.status.containerStatuses?.every((c) => c.state?.running);

  before(async () => {
    store = await memoryStore();
    sandbox = new Sandbox();
    server = new ApiServer({ registry: (store as StoreClient).registry as CustomResourceRegistry, port: 0, nodeClient: { token: TOKEN } });
    await server.start();
    const authenticate = (header: string | undefined) => header === `Bearer ${TOKEN}`;
    agent = await startAgent(store, sandbox, { name: 'n-logs', authenticate });
    idleAgent = await startAgent(store, sandbox, { name: 'n-idle', authenticate }); // never gets a pod CIDR: its pods never start
    await assignPodCIDR(store, 'n-logs', podCIDRForTest());
    const countFile = join(sandbox.dataDir, 'crasher-runs');
    await Promise.all([
      store.create(boundPod('printer', 'n-logs', [sandbox.program('main', ['--print', '3'])])),
      store.create(boundPod('ticker', 'n-logs', [sandbox.program('main', ['--every', '100'])])),
      store.create(boundPod('twins', 'n-logs', [sandbox.program('a', ['--print', '1']), sandbox.program('b', ['--print', '2'])])),
      store.create(boundPod('crasher', 'n-logs', [sandbox.program('main', ['--count-file', countFile, '--exit-first-run-after', '100', '--code', '1'])])),
      store.create(boundPod('waiting', 'n-idle', [sandbox.program('main', ['--print', '1'])])),
      store.create({ ...boundPod('unbound', 'x', [sandbox.program('main', [])]), spec: { containers: [sandbox.program('main', [])] } }),
      store.create(boundPod('ghost', 'no-such-node', [sandbox.program('main', [])])),
      store.create(boundPod('homeless', 'no-address', [sandbox.program('main', [])])),
      store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'no-address' } } as Node),
    ]);
    for (const name of ['printer', 'ticker', 'twins']) await waitForPod(store, name, running, `${name} running`);
    await waitForPod(store, 'crasher', (p) => running(p) && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'crasher restarted once');
    // Running comes before the program's first line: wait for the second run to have printed it.
    await waitFor(async () => (await log('crasher')).text === 'run 2\n', { timeoutMs: 10_000, what: "the crasher's second run to print" });
  });

  after(async () => {
    await Promise.all([agent, idleAgent].filter(Boolean).map((a) => a.stop()));
    await sandbox?.cleanup();
    await server?.stop();
    await store?.close();
  });

  it("streams the only container's log as text/plain through the agent, with the agent credential", async () => {
    const answer = await waitFor(async () => {
      const r = await log('printer');
      return r.text.includes('line 3') ? r : undefined;
    }, { what: 'the log of printer' });
    expect(answer.status).to.equal(200);
    expect(answer.type).to.equal('text/plain');
    expect(answer.text).to.equal('line 1\nline 2\nline 3\n');
    // Without the API server's token the agent refuses: the credential is what let it through.
    expect((await httpGet(`http://${agent.address}:${agent.port}/containerLogs/default/printer/main`)).status).to.equal(401);
  });

  it('passes tailLines, timestamps and limitBytes on to the agent', async () => {
    expect((await log('printer', '?tailLines=1')).text).to.equal('line 3\n');
    expect((await log('printer', '?container=main&tailLines=0')).text).to.equal('');
    const stamped = (await log('printer', '?timestamps=true')).text.trimEnd().split('\n');
    expect(stamped).to.have.length(3);
    for (const [i, line] of stamped.entries()) expect(line).to.match(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z line ${i + 1}$`));
    expect((await log('printer', '?limitBytes=8')).text).to.equal('line 1\nl');
    expect((await log('printer', '?sinceSeconds=3600&insecureSkipTLSVerifyBackend=true')).text).to.equal('line 1\nline 2\nline 3\n');
    expect((await log('printer', '?sinceTime=2020-01-01T00:00:00Z')).text).to.equal('line 1\nline 2\nline 3\n');
  });

  it('names the container of a several-container pod, or asks for one as kube does', async () => {
    expect((await log('twins', '?container=b')).text).to.equal('line 1\nline 2\n');
    const missing = await log('twins');
    expect(missing.status).to.equal(400);
    expect(missing.json()).to.deep.include({ kind: 'Status', reason: 'BadRequest', code: 400, message: 'a container name must be specified for pod twins, choose one of: [a b]' });
    const unknown = await log('twins', '?container=c');
    expect(unknown.status).to.equal(400);
    expect(unknown.json()).to.include({ reason: 'BadRequest', message: 'container c is not valid for pod twins' });
  });

  it("reads the previous instance's log, and says so when there is none", async () => {
    expect((await log('crasher', '?previous=true')).text).to.equal('run 1\n');
    expect((await log('crasher')).text).to.equal('run 2\n');
    const none = await log('printer', '?previous=true');
    expect(none.status).to.equal(400);
    expect(none.json()).to.include({ kind: 'Status', reason: 'BadRequest', code: 400, message: 'previous terminated container "main" in pod "printer" not found' });
  });

  it('follows a log as it grows, and closes the connection to the agent when the client goes away', async () => {
    const before = agentSideConnections(agent.address, agent.port);
    const client = new AbortController();
    const response = await fetch(`${server.url}/api/v1/namespaces/default/pods/ticker/log?follow=true&tailLines=1`, { signal: client.signal });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.equal('text/plain');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const ticks = () => [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    while (ticks().length < 3) {
      const { value, done } = await reader.read();
      expect(done, 'the stream ended early').to.equal(false);
      text += decoder.decode(value, { stream: true });
    }
    const seen = ticks();
    // New lines, one after the other, as they are written (a read may bring more than the three waited for).
    expect(seen).to.deep.equal(seen.map((_, i) => seen[0]! + i));
    expect(agentSideConnections(agent.address, agent.port)).to.equal(before + 1);
    client.abort();
    await waitFor(() => agentSideConnections(agent.address, agent.port) === before, { what: "the API server's connection to the agent to close", timeoutMs: 5000 });
  });

  it('ends a followed log when the container instance ends', async () => {
    await store.create(boundPod('short', 'n-logs', [sandbox.program('main', ['--every', '100', '--exit-after', '800'])], { restartPolicy: 'Never' }));
    await waitForPod(store, 'short', running, 'short running');
    const started = Date.now();
    const answer = await log('short', '?follow=true');
    expect(answer.status).to.equal(200);
    expect(answer.text).to.match(/tick 1\n/);
    expect(Date.now() - started).to.be.lessThan(15_000);
    const pod = await store.get(Pod, 'short', { namespace: 'default' });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).to.equal(0);
  });

  it('answers like kube for a pod that is missing, not bound, or on a node that cannot be reached', async () => {
    const missing = await log('nope');
    expect(missing.status).to.equal(404);
    expect(missing.json()).to.deep.include({ kind: 'Status', reason: 'NotFound', message: 'pods "nope" not found', details: { name: 'nope', kind: 'pods' } });
    // kube: a pod without a node has no log location — an empty answer.
    const unbound = await log('unbound');
    expect(unbound).to.include({ status: 200, type: 'text/plain', text: '' });
    const ghost = await log('ghost');
    expect(ghost.status).to.equal(404);
    expect(ghost.json()).to.include({ reason: 'NotFound', message: 'nodes "no-such-node" not found' });
    const homeless = await log('homeless');
    expect(homeless.status).to.equal(500);
    expect(homeless.json()).to.include({ code: 500, message: 'no preferred addresses found; known addresses: []' });
  });

  it("relays the agent's refusal of a container that never ran as a Status", async () => {
    await waitForPod(store, 'waiting', (p) => !!p.status?.containerStatuses?.[0]?.state?.waiting, 'waiting for a pod CIDR');
    const answer = await log('waiting');
    expect(answer.status).to.be.oneOf([400, 404]);
    const status = answer.json();
    expect(status).to.include({ kind: 'Status', code: answer.status, reason: answer.status === 404 ? 'NotFound' : 'BadRequest' });
    expect(status.message).to.be.a('string').and.match(/waiting|no logs|not found/);
  });

  it('answers 500 with Go\'s wording when the agent cannot be reached', async () => {
    const address = nodeAddressForTest();
    const port = await freePort(address);
    const node = await store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'unreachable' } } as Node);
    await store.updateStatus({ ...node, status: { addresses: [{ type: 'InternalIP', address }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } });
    await store.create(boundPod('stranded', 'unreachable', [sandbox.program('main', [])]));
    const answer = await log('stranded', '?follow=true&tailLines=5');
    expect(answer.status).to.equal(500);
    expect(answer.json().message).to.equal(`Get "http://${address}:${port}/containerLogs/default/stranded/main?follow=true&tailLines=5": dial tcp ${address}:${port}: connect: connection refused`);
  });

  it('validates the options as kube does: 422 for bad values, 400 for what does not parse', async () => {
    const cases: [string, number, string][] = [
      ['?tailLines=-1', 422, 'PodLogOptions "printer" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'],
      ['?limitBytes=0', 422, 'PodLogOptions "printer" is invalid: limitBytes: Invalid value: 0: must be greater than 0'],
      ['?sinceSeconds=0', 422, 'PodLogOptions "printer" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'],
      ['?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z', 422, 'PodLogOptions "printer" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'],
      ['?tailLines=ten', 400, 'strconv.ParseInt: parsing "ten": invalid syntax'],
      ['?sinceTime=yesterday', 400, 'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as RFC 3339'],
    ];
    for (const [query, code, message] of cases) {
      const answer = await log('printer', query);
      expect(answer.status, query).to.equal(code);
      expect(answer.json(), query).to.include({ kind: 'Status', code, reason: code === 422 ? 'Invalid' : 'BadRequest', message });
    }
    // Validation comes before the pod is read, as in kube.
    expect((await log('nope', '?tailLines=-1')).status).to.equal(422);
  });

  it('serves only GET', async () => {
    const answer = await fetch(`${server.url}/api/v1/namespaces/default/pods/printer/log`, { method: 'POST', body: '{}' });
    expect(answer.status).to.equal(405);
    expect(((await answer.json()) as { reason: string }).reason).to.equal('MethodNotAllowed');
  });

  it('lists pods/log and nodes/proxy in discovery', async () => {
    const resources = (await get('/api/v1')).json().resources as { name: string; verbs: string[]; kind: string }[];
    expect(resources.find((r) => r.name === 'pods/log')).to.deep.include({ kind: 'Pod', verbs: ['get'] });
    expect(resources.find((r) => r.name === 'nodes/proxy')).to.deep.include({ kind: 'NodeProxyOptions', verbs: ['get'] });
  });

  it("proxies nodes/<name>/proxy/<path> to the node's agent, with the agent credential", async () => {
    const summary = await get('/api/v1/nodes/n-logs/proxy/stats/summary');
    expect(summary.status, summary.text).to.equal(200);
    expect(summary.type).to.match(/^application\/json/);
    expect((summary.json().node as { nodeName: string }).nodeName).to.equal('n-logs');
    const metrics = await get('/api/v1/nodes/n-logs/proxy/metrics');
    expect(metrics.status).to.equal(200);
    expect(metrics.text).to.match(/^# (HELP|TYPE) /m);
    const pods = await get('/api/v1/nodes/n-logs/proxy/pods');
    expect(pods.status).to.equal(200);
    expect((pods.json().items as Pod[]).map((p) => p.metadata?.name)).to.include('ticker');
    // The agent's own 404 comes back as it is; a missing Node is the API's 404.
    expect((await get('/api/v1/nodes/n-logs/proxy/no-such-endpoint')).status).to.equal(404);
    const missing = await get('/api/v1/nodes/nope/proxy/metrics');
    expect(missing.status).to.equal(404);
    expect(missing.json()).to.include({ reason: 'NotFound', message: 'nodes "nope" not found' });
    const post = await fetch(`${server.url}/api/v1/nodes/n-logs/proxy/metrics`, { method: 'POST', body: '{}' });
    expect(post.status).to.equal(405);
    // Only the proxy subresource takes a path after it.
    expect((await get('/api/v1/nodes/n-logs/status/extra')).status).to.equal(404);
  });
});

describe('pod log pieces', () => {
  const pod = (containers: string[], init: string[] = []): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: { containers: containers.map((name) => ({ name, image: 'x' })), initContainers: init.map((name) => ({ name, image: 'x' })) },
  });

  it('picks the container as kube does: named (init containers too), the only one, or none', () => {
    expect(logContainer(pod(['a']), undefined)).to.equal('a');
    expect(logContainer(pod(['a', 'b'], ['setup']), 'setup')).to.equal('setup');
    expect(() => logContainer(pod(['a', 'b'], ['setup']), undefined)).to.throw('a container name must be specified for pod p, choose one of: [setup a b]');
    expect(() => logContainer(pod([]), undefined)).to.throw('a container name must be specified for pod p');
    expect(() => logContainer(pod(['a']), 'b')).to.throw('container b is not valid for pod p');
  });

  it("reads booleans as kube's parameter codec does", () => {
    const options = decodePodLogOptions(new URLSearchParams('follow=1&previous=F&timestamps=yes&insecureSkipTLSVerifyBackend=false'));
    expect(options).to.deep.equal({ follow: true, previous: false, timestamps: true, insecureSkipTLSVerifyBackend: false });
  });

  it("turns the agent's answers into Statuses", () => {
    expect(agentErrorStatus(400, 'bad thing\n', 'p').status).to.include({ code: 400, reason: 'BadRequest', message: 'bad thing' });
    expect(agentErrorStatus(404, 'pod "p" in namespace "default" not found on this node', 'p').status).to.deep.include({
      code: 404,
      reason: 'NotFound',
      message: 'pod "p" in namespace "default" not found on this node',
      details: { name: 'p', kind: 'pods/log' },
    });
    expect(agentErrorStatus(401, 'Unauthorized', 'p').status).to.include({ code: 401, reason: 'Unauthorized', message: 'the server has asked for the client to provide credentials ( pods/log p)' });
    expect(agentErrorStatus(500, 'boom', 'p').status).to.include({ code: 500, reason: 'InternalError', message: 'Internal error occurred: boom' });
  });
});
