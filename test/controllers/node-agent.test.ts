/**
 * The node agent, for real: agents over keelson's process runtime run actual processes on
 * loopback pod IPs. Each test owns a Sandbox whose marker is in every process it starts; the
 * sandbox's cleanup fails the test if any is left. Registration, the Lease, pod status, graceful
 * and forced deletion, deadlines, agent restarts, the endpoints, and `keelson node` / `keelson up
 * --nodes` as separate processes — SIGKILL included. The pure pieces are tested on their own.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lease, Node, Pod, type Client } from '../../lib/index.js';
import { ApiServer } from '../../lib/apiserver/server.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import { desiredPodStatus, lostPodStatus, PodIPAllocator, type NodeAgent } from '../../controllers/node-agent/index.js';
import { writePlainKubeconfig } from '../harness/kubeconfig.js';
import { waitFor } from '../harness/wait.js';
import { freePort, httpGet, processesMarked, Sandbox } from '../fixtures/pod-runtime-kit.js';
import { assignPodCIDR, boundPod, keelson, KeelsonProcess, memoryStore, nodeAddressForTest, podCIDRForTest, podCondition, podGone, startAgent, waitForPod } from '../fixtures/node-agent-kit.js';

const isRunningAndReady = (pod: Pod) => pod.status?.phase === 'Running' && podCondition(pod, 'Ready')?.status === 'True';

describe('NodeAgent', function () {
  this.timeout(60_000);
  let client: Client;
  let sandbox: Sandbox;
  let agents: NodeAgent[];

  beforeEach(async () => {
    client = await memoryStore();
    sandbox = new Sandbox();
    agents = [];
  });

  afterEach(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await sandbox.cleanup(); // fails the test if a process of it is left
    await client.close();
  });

  async function agent(name: string, options: Parameters<typeof startAgent>[2] | object = {}): Promise<NodeAgent> {
    const started = await startAgent(client, sandbox, { name, ...options });
    agents.push(started);
    return started;
  }

  /** An agent with a pod CIDR, and a pod-server pod on it Running and Ready. */
  async function runningServer(nodeName: string, podName: string, spec: Partial<Pod['spec']> = {}) {
    const node = await agent(nodeName);
    const cidr = await assignPodCIDR(client, nodeName, podCIDRForTest());
    const port = await freePort('127.0.0.1');
    await client.create(boundPod(podName, nodeName, [sandbox.server('web', port, { readinessProbe: { httpGet: { path: '/ready', port }, periodSeconds: 1 } })], spec));
    const pod = await waitForPod(client, podName, isRunningAndReady, `${podName} Running and Ready`);
    return { node, cidr, port, pod };
  }

  it("registers its Node with kubelet's labels, addresses, capacity, nodeInfo and conditions", async () => {
    const node = await agent('n-register', { cpu: '2', memory: '4Gi', pods: 20 });
    let registered = await client.get(Node, 'n-register');
    expect(registered.metadata?.labels).to.include({ 'kubernetes.io/hostname': 'n-register', 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'keelson' });
    expect(registered.metadata?.labels?.['kubernetes.io/arch']).to.be.a('string');
    expect(registered.status?.addresses).to.deep.equal([{ type: 'InternalIP', address: node.address }, { type: 'Hostname', address: 'n-register' }]);
    expect(registered.status?.capacity).to.deep.equal({ cpu: '2', memory: '4Gi', pods: '20' });
    expect(registered.status?.allocatable).to.deep.equal({ cpu: '2', memory: '4Gi', pods: '20' });
    expect(registered.status?.daemonEndpoints?.kubeletEndpoint?.Port).to.equal(node.port).and.be.greaterThan(0);
    expect(registered.status?.nodeInfo).to.include({ kubeletVersion: 'v1.32.0-keelson', operatingSystem: 'linux' });
    expect(registered.status?.nodeInfo?.containerRuntimeVersion).to.match(/^keelson-process:\/\//);
    expect(registered.spec?.podCIDR).to.equal(undefined); // node-ipam's, not the agent's
    const types = (registered.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`);
    expect(types).to.deep.equal(['MemoryPressure=False', 'DiskPressure=False', 'PIDPressure=False', 'Ready=False']);
    expect(registered.status?.conditions?.[3]?.reason).to.equal('KubeletNotReady');
    expect(registered.status?.conditions?.[3]?.message).to.contain('network not ready');

    await assignPodCIDR(client, 'n-register', podCIDRForTest());
    registered = await waitFor(async () => {
      const n = await client.get(Node, 'n-register');
      return n.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
    }, { what: 'Ready=True once the pod CIDR is there' });
    expect(registered.status?.conditions?.find((c) => c.type === 'Ready')).to.include({ reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  });

  it('renews its Lease in kube-node-lease every interval, owned by its Node', async () => {
    const node = await agent('n-lease', { leaseRenewIntervalMs: 200 });
    const first = await waitFor(() => client.get(Lease, 'n-lease', { namespace: 'kube-node-lease' }).catch(() => undefined), { what: 'the lease' });
    const before = node.leaseRenewals;
    await waitFor(() => node.leaseRenewals >= before + 3, { what: 'three more renewals', timeoutMs: 5000 });
    const lease = await client.get(Lease, 'n-lease', { namespace: 'kube-node-lease' });
    expect(lease.spec).to.include({ holderIdentity: 'n-lease', leaseDurationSeconds: 40 });
    expect(lease.spec?.renewTime).to.match(/\.\d{6}Z$/);
    expect(Date.parse(lease.spec!.renewTime!)).to.be.greaterThan(Date.parse(first.spec!.renewTime!));
    const registered = await client.get(Node, 'n-lease');
    expect(lease.metadata?.ownerReferences).to.deep.equal([{ apiVersion: 'v1', kind: 'Node', name: 'n-lease', uid: registered.metadata?.uid }]);
  });

  it('keeps its Node, uid and pod CIDR when it registers again', async () => {
    const first = await agent('n-again');
    const cidr = await assignPodCIDR(client, 'n-again', podCIDRForTest());
    const uid = (await client.get(Node, 'n-again')).metadata?.uid;
    await first.stop();
    await agent('n-again', { address: first.address });
    const again = await client.get(Node, 'n-again');
    expect(again.metadata?.uid).to.equal(uid);
    expect(again.spec?.podCIDR).to.equal(cidr);
  });

  it('runs a pod bound to it: it answers on its pod IP, Running and Ready, with kubelet\'s status', async () => {
    const { node, cidr, port, pod } = await runningServer('n-run', 'web-1');
    const prefix = cidr.replace(/0\/24$/, '');
    expect(pod.status?.podIP).to.match(new RegExp(`^${prefix.replace(/\./g, '\\.')}\\d+$`));
    expect(pod.status?.podIP).to.not.equal(`${prefix}1`);
    expect(pod.status?.podIPs).to.deep.equal([{ ip: pod.status?.podIP }]);
    expect(pod.status).to.include({ hostIP: node.address });
    expect(pod.status?.startTime).to.be.a('string');
    expect(pod.status?.qosClass).to.equal('BestEffort');
    const conditions = Object.fromEntries((pod.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conditions).to.deep.equal({ PodScheduled: 'True', PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'True', ContainersReady: 'True' });
    const [web] = pod.status?.containerStatuses ?? [];
    expect(web).to.include({ name: 'web', ready: true, started: true, restartCount: 0, image: 'keelson/test-server' });
    expect(web?.state?.running?.startedAt).to.be.a('string');
    const answer = await httpGet(`http://${pod.status!.podIP}:${port}/`);
    expect(answer.status).to.equal(200);
  });

  it("reports a container that is not ready with kube's reason and message", async () => {
    await agent('n-unready');
    await assignPodCIDR(client, 'n-unready', podCIDRForTest());
    const port = await freePort('127.0.0.1');
    const probe = { tcpSocket: { port: port + 1 }, periodSeconds: 1 };
    await client.create(boundPod('unready-1', 'n-unready', [sandbox.server('web', port, { readinessProbe: probe })]));
    const pod = await waitForPod(client, 'unready-1', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.state?.running, 'running');
    expect(podCondition(pod, 'Ready')).to.include({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [web]' });
    expect(podCondition(pod, 'ContainersReady')).to.include({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [web]' });
  });

  it('keeps a pod Pending, saying why, until the node has a pod CIDR', async () => {
    await agent('n-nocidr');
    await client.create(boundPod('waiting-1', 'n-nocidr', [sandbox.server('web', 18080)]));
    const pod = await waitForPod(client, 'waiting-1', (p) => !!p.status?.containerStatuses?.length, 'a status');
    expect(pod.status?.phase).to.equal('Pending');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).to.equal('ContainerCreating');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).to.contain('pod CIDR');
    expect(sandbox.processes()).to.deep.equal([]);
  });

  it('deletes gracefully: SIGTERM, the process gone, then the final delete', async () => {
    await runningServer('n-delete', 'web-2');
    expect(sandbox.processes().length).to.be.greaterThan(0);
    await client.delete(Pod, 'web-2', { namespace: 'default' });
    const terminating = await client.get(Pod, 'web-2', { namespace: 'default' });
    expect(terminating.metadata?.deletionTimestamp).to.be.a('string');
    await waitFor(() => podGone(client, 'web-2'), { what: 'the pod deleted by the agent', timeoutMs: 15_000 });
    expect(sandbox.processes()).to.deep.equal([]); // gone before the delete
  });

  it('kills a pod deleted from the API while it runs', async () => {
    await runningServer('n-force', 'web-3');
    await client.delete(Pod, 'web-3', { namespace: 'default', gracePeriodSeconds: 0 });
    await waitFor(() => sandbox.processes().length === 0, { what: 'its processes gone', timeoutMs: 10_000 });
  });

  it('fails a pod past its activeDeadlineSeconds with DeadlineExceeded', async () => {
    await agent('n-deadline');
    await assignPodCIDR(client, 'n-deadline', podCIDRForTest());
    await client.create(boundPod('deadline-1', 'n-deadline', [sandbox.program('main', ['--every', '100'])], { activeDeadlineSeconds: 2 }));
    const pod = await waitForPod(client, 'deadline-1', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(pod.status).to.include({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    await waitFor(() => sandbox.processes().length === 0, { what: 'its processes gone', timeoutMs: 10_000 });
  });

  it('restarts its pods after an agent restart, one process per container, same IP', async () => {
    const { node, pod } = await runningServer('n-restart', 'web-4');
    await node.stop(); // the pods' processes stop; the pods stay in the API, Running
    expect(sandbox.processes()).to.deep.equal([]);
    await agent('n-restart', { address: node.address });
    const again = await waitForPod(client, 'web-4', (p) => isRunningAndReady(p) && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0, 'running again');
    expect(again.status?.podIP).to.equal(pod.status?.podIP);
    const servers = sandbox.processes().filter((p) => p.cmdline.includes('pod-server.js') && !p.cmdline.includes('--keelson-record'));
    expect(servers, JSON.stringify(servers)).to.have.length(1);
  });

  it('reports a Never pod whose container died with the previous agent Failed, and does not run it again', async () => {
    const { node } = await runningServer('n-never', 'web-5', { restartPolicy: 'Never' });
    await node.stop();
    await agent('n-never', { address: node.address });
    const failed = await waitForPod(client, 'web-5', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated).to.include({ exitCode: 137, reason: 'ContainerStatusUnknown' });
    expect(sandbox.processes()).to.deep.equal([]);
  });

  it('serves /containerLogs, /stats/summary and /metrics, with the token when one is set', async () => {
    const token = 'node-agent-test-token-0123456789abcdef';
    await agent('n-http', { authenticate: (header: string | undefined) => header === `Bearer ${token}` });
    await assignPodCIDR(client, 'n-http', podCIDRForTest());
    const port = await freePort('127.0.0.1');
    await client.create(boundPod('web-6', 'n-http', [sandbox.server('web', port)]));
    await waitForPod(client, 'web-6', isRunningAndReady, 'Running');
    const node = agents[0]!;
    const base = `http://${node.address}:${node.port}`;
    const auth = { headers: { authorization: `Bearer ${token}` } };
    expect((await fetch(`${base}/stats/summary`)).status).to.equal(401);
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    const logs = await waitFor(async () => {
      const text = await (await fetch(`${base}/containerLogs/default/web-6/web?timestamps=true`, auth)).text();
      return text.includes('listening on') ? text : undefined;
    }, { what: 'the log' });
    expect(logs).to.match(/^\d{4}-\d\d-\d\dT[^ ]+ listening on 127\.64\./m);
    expect((await fetch(`${base}/containerLogs/default/nope/web`, auth)).status).to.equal(404);
    expect((await fetch(`${base}/containerLogs/default/web-6/web?previous=true`, auth)).status).to.equal(400);
    const following = new AbortController();
    const stream = await fetch(`${base}/containerLogs/default/web-6/web?follow=true`, { ...auth, signal: following.signal });
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).to.contain('listening on');
    following.abort();
    const summary = await waitFor(async () => {
      const body = (await (await fetch(`${base}/stats/summary`, auth)).json()) as { node: { nodeName: string }; pods: { podRef: { name: string }; containers: { cpu: { usageNanoCores?: number }; memory: { workingSetBytes: number } }[] }[] };
      return body.pods[0]?.containers[0]?.cpu.usageNanoCores !== undefined ? body : undefined;
    }, { what: 'a summary with rates' });
    expect(summary.node.nodeName).to.equal('n-http');
    expect(summary.pods[0]?.podRef.name).to.equal('web-6');
    expect(summary.pods[0]?.containers[0]?.memory.workingSetBytes).to.be.greaterThan(0);
    const metrics = await (await fetch(`${base}/metrics`, auth)).text();
    expect(metrics).to.contain('kubelet_running_pods 1');
    expect(metrics).to.match(/container_memory_working_set_bytes\{container="web",namespace="default",pod="web-6"\} [1-9]\d*/);
  });
});

describe('keelson node and keelson up --nodes', function () {
  this.timeout(90_000);
  let dir: string;
  let sandbox: Sandbox;

  beforeEach(() => {
    sandbox = new Sandbox();
    dir = mkdtempSync(join(tmpdir(), `${sandbox.marker}-cli-`));
  });

  afterEach(async () => {
    await sandbox.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers bad flags with one line and exit code 2, and documents every flag', async () => {
    for (const args of [['node'], ['node', '--name', 'x', '--port', 'abc'], ['node', '--name', 'x', '--address', '10.0.0.1'], ['node', '--name', 'x', '--proxy-mode', 'ipvs'], ['node', '--name', 'x', '--proxy-relay', 'fast'], ['node', '--name', 'x', '--lease-renew-interval', 'soon']]) {
      const { code, stderr } = await keelson(args, dir);
      expect(code, args.join(' ')).to.equal(2);
      expect(stderr.trim().split('\n'), stderr).to.have.length(1);
    }
    const help = await keelson(['node', '--help'], dir);
    for (const flag of ['--name', '--kubeconfig', '--context', '--store', '--address', '--port', '--cpu', '--memory', '--pods', '--data-dir', '--lease-renew-interval', '--proxy-mode', '--proxy-relay', '--token-file']) {
      expect(help.stdout).to.contain(flag);
    }
    expect(help.stdout).to.match(/--proxy-mode <mode>\s+the node's service proxy/);
  });

  it('joins as a separate process; SIGKILL leaves none of its pod processes; a restart runs the pod once', async () => {
    const store = (await memoryStore()) as StoreClient;
    const server = new ApiServer({ registry: store.registry as CustomResourceRegistry, port: 0 });
    await server.start();
    const kubeconfig = join(dir, 'kubeconfig');
    writePlainKubeconfig(kubeconfig, server.url);
    const address = nodeAddressForTest();
    const args = ['node', '--name', 'n-proc', '--kubeconfig', kubeconfig, '--address', address, '--port', '0', '--data-dir', join(sandbox.dataDir, 'n-proc'), '--lease-renew-interval', '500ms', '--log-level', 'warn'];
    let agent = new KeelsonProcess(args, dir);
    try {
      await agent.output(/node n-proc joined .* address 127\.1\./);
      await assignPodCIDR(store, 'n-proc', podCIDRForTest());
      const port = await freePort('127.0.0.1');
      await store.create(boundPod('web-7', 'n-proc', [sandbox.server('web', port, { readinessProbe: { httpGet: { path: '/ready', port }, periodSeconds: 1 } })]));
      const pod = await waitForPod(store, 'web-7', isRunningAndReady, 'Running under the separate agent');
      expect((await httpGet(`http://${pod.status!.podIP}:${port}/`)).status).to.equal(200);
      const podProcesses = () => processesMarked(sandbox.marker).filter((p) => p.pid !== agent.child.pid && !p.cmdline.includes('bin/keelson.js'));
      expect(podProcesses().length).to.be.greaterThan(0);

      agent.child.kill('SIGKILL');
      await agent.exited;
      await waitFor(() => podProcesses().length === 0, { what: 'no pod process left after SIGKILL', timeoutMs: 10_000 });

      agent = new KeelsonProcess(args, dir);
      await agent.output(/node n-proc joined/);
      await waitForPod(store, 'web-7', (p) => isRunningAndReady(p) && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0, 'running again after the restart');
      await new Promise((r) => setTimeout(r, 1500)); // time enough for a duplicate to show up, if there were one
      const servers = podProcesses().filter((p) => p.cmdline.includes('pod-server.js') && !p.cmdline.includes('--keelson-record'));
      expect(servers, JSON.stringify(servers)).to.have.length(1);

      const { code } = await agent.stop('SIGTERM');
      expect(code).to.equal(0);
      expect(await store.get(Pod, 'web-7', { namespace: 'default' })).to.have.nested.property('metadata.name', 'web-7'); // left in the API
    } finally {
      await agent.stop('SIGKILL');
      await server.stop();
      await store.close();
    }
  });

  it('keelson up --nodes 1 runs an agent in the up process', async () => {
    const up = new KeelsonProcess(['up', '--data-dir', join(dir, 'up'), '--store', 'memory:', '--port', '0', '--metrics-port', '0', '--kubelet-port', '0', '--nodes', '1', '--log-level', 'warn'], dir);
    try {
      const [, address, port] = await up.output(/nodes: node-1 \((127\.1\.0\.1):(\d+)\)/, 60_000);
      const { connect } = await import('../../lib/index.js');
      const cluster = await connect({ kubeconfig: join(dir, 'up', 'kubeconfig') });
      try {
        const node = await waitFor(() => cluster.get(Node, 'node-1').catch(() => undefined), { what: 'node-1' });
        expect(node.status?.addresses?.[0]).to.deep.equal({ type: 'InternalIP', address });
        expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).to.equal(Number(port));
        await waitFor(() => cluster.get(Lease, 'node-1', { namespace: 'kube-node-lease' }).catch(() => undefined), { what: 'its lease' });
        // The endpoints want the apiserver's token.
        expect((await fetch(`http://${address}:${port}/stats/summary`)).status).to.equal(401);
      } finally {
        await cluster.close();
      }
      const { code } = await up.stop('SIGTERM');
      expect(code).to.equal(0);
    } finally {
      await up.stop('SIGKILL');
    }
  });
});

describe('node agent pieces', () => {
  it('PodIPAllocator hands out .2 to .254 round-robin, keeps a preferred address, and runs out', () => {
    const allocator = new PodIPAllocator('127.64.7.0/24');
    expect(allocator.allocate('a')).to.equal('127.64.7.2');
    expect(allocator.allocate('b')).to.equal('127.64.7.3');
    expect(allocator.allocate('a')).to.equal('127.64.7.2');
    allocator.release('a');
    expect(allocator.allocate('c')).to.equal('127.64.7.4'); // not the one just freed
    expect(allocator.allocate('d', '127.64.7.100')).to.equal('127.64.7.100');
    expect(allocator.allocate('e', '127.64.8.9')).to.equal('127.64.7.5'); // not in range
    expect(allocator.range).to.equal('127.64.7.2-127.64.7.254');
    const small = new PodIPAllocator('127.64.9.0/29');
    expect(['a', 'b', 'c', 'd', 'e', 'f'].map((uid) => small.allocate(uid))).to.deep.equal(['127.64.9.2', '127.64.9.3', '127.64.9.4', '127.64.9.5', '127.64.9.6', undefined]);
  });

  it('desiredPodStatus keeps a terminal phase and unchanged transition times', () => {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', uid: 'u' },
      spec: { containers: [{ name: 'a', image: 'i' }] },
      status: { phase: 'Succeeded', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
    };
    const status = desiredPodStatus({ pod, hostIP: '127.1.0.1', now: Date.UTC(2026, 0, 2), runtime: { uid: 'u', phase: 'Running', containerStatuses: [], initContainerStatuses: [], ready: false } });
    expect(status.phase).to.equal('Succeeded');
    expect(status.conditions?.find((c) => c.type === 'Ready')).to.include({ status: 'False', reason: 'PodCompleted' });
    expect(status.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime).to.equal('2026-01-01T00:00:00Z');
  });

  it('lostPodStatus reports running containers of a Never pod as ContainerStatusUnknown', () => {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', uid: 'u' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'i' }] },
      status: { phase: 'Running', containerStatuses: [{ name: 'a', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] },
    };
    const lost = lostPodStatus(pod, Date.UTC(2026, 0, 1, 1));
    expect(lost.phase).to.equal('Failed');
    expect(lost.containerStatuses[0]?.state.terminated).to.include({ exitCode: 137, reason: 'ContainerStatusUnknown', startedAt: '2026-01-01T00:00:00Z' });
  });
});
