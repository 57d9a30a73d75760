/**
 * The control plane's controllers working together under `keelson up --nodes 3`, driven as a user
 * would (kubectl, and a client over the kubeconfig): the scheduler places a ReplicationController's
 * pods over the nodes, the node agents run them as processes, the replication controller replaces
 * and scales them keeping the spread, the endpoints controller follows readiness, and deletes
 * cascade — or orphan with `kubectl delete --cascade=orphan`. Nothing is left running afterwards.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Endpoints, Pod, ReplicationController } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { expectNoProcessesMentioning, processesMentioning, requireKubectl, TestCluster } from '../harness/cluster.js';
import { isReady } from '../harness/pods.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';

/** How many of the pods each node holds, sorted descending. */
function spreadOf(pods: Pod[]): number[] {
  const counts = new Map<string, number>();
  for (const pod of pods) counts.set(pod.spec!.nodeName!, (counts.get(pod.spec!.nodeName!) ?? 0) + 1);
  return [...counts.values()].sort((a, b) => b - a);
}

describe('the control plane under keelson up --nodes 3', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  /** In every pod's environment, so the test can find (and account for) their processes. */
  const marker = `keelson-e2e-${randomUUID()}`;

  const sleeper = (name: string, replicas: number) => `apiVersion: v1
kind: ReplicationController
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {app: ${name}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: busybox
          command: [sleep, "600"]
          env: [{name: KEELSON_E2E, value: ${marker}}]
`;

  async function podsOf(app: string): Promise<Pod[]> {
    return (await cluster.client.list(Pod, { namespace: NS, labelSelector: `app=${app}` })).items;
  }

  /** Waits until exactly `n` pods of `app` exist, all Ready, and returns them. */
  async function readyPods(app: string, n: number, timeoutMs = 60_000): Promise<Pod[]> {
    let last: Pod[] = [];
    await waitFor(async () => {
      last = await podsOf(app);
      return last.length === n && last.every(isReady);
    }, { timeoutMs, intervalMs: 100, what: `${n} ready pods of ${app}` }).catch((err: Error) => {
      throw new Error(`${err.message}; have ${last.map((p) => `${p.metadata?.name}@${p.spec?.nodeName ?? '-'}:${p.status?.phase}${p.metadata?.deletionTimestamp ? '(deleting)' : ''}`).join(', ')}`);
    });
    return last;
  }

  /** The processes of the pods of this test, by pod IP. */
  function containerProcesses(): number {
    return processesMentioning(marker).filter((p) => p.command.startsWith('sleep') || p.command.startsWith('node ')).length;
  }

  before(async () => {
    requireKubectl();
    cluster = await TestCluster.start({ nodes: 3 });
    await waitFor(async () => {
      const out = await cluster.ok(['get', 'nodes']);
      return (out.match(/\sReady\s/g) ?? []).length === 3;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'three Ready nodes' });
  });

  after(async () => {
    await cluster?.stop();
    await expectNoProcessesMentioning(marker);
  });

  it('converges an RC of 5 over 3 nodes, each pod a running process', async () => {
    await cluster.ok(['apply', '-f', '-'], sleeper('spread', 5));
    const pods = await readyPods('spread', 5);
    const spread = spreadOf(pods);
    console.log(`      (5 pods over the nodes: ${spread.join('/')})`);
    expect(spread).to.have.length(3);
    expect(spread[0]! - spread[2]!).to.be.at.most(1);
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.[0]).to.include({ kind: 'ReplicationController', name: 'spread', controller: true });
      // From this cluster's --cluster-cidr (a /16 the harness picks).
      expect(pod.status?.podIP).to.match(new RegExp(`^${cluster.networks.clusterCIDR.split('.').slice(0, 2).join('\\.')}\\.`));
    }
    expect(containerProcesses()).to.equal(5);
    const rc = await cluster.client.get(ReplicationController, 'spread', { namespace: NS });
    await waitFor(async () => ((await cluster.client.get(ReplicationController, 'spread', { namespace: NS })).status as { readyReplicas?: number } | undefined)?.readyReplicas === 5, {
      timeoutMs: 20_000,
      what: 'status.readyReplicas 5',
    });
    expect((rc.spec as { replicas: number }).replicas).to.equal(5);
  });

  it('replaces a deleted pod', async () => {
    const before = await podsOf('spread');
    const victim = before[0]!.metadata!.name!;
    expect(await cluster.ok(['delete', 'pod', victim])).to.contain(`pod "${victim}" deleted`);
    const after = await readyPods('spread', 5);
    expect(after.map((p) => p.metadata?.name)).to.not.include(victim);
    expect(spreadOf(after)[0]! - spreadOf(after).at(-1)!).to.be.at.most(1);
    await waitFor(() => containerProcesses() === 5, { timeoutMs: 15_000, what: 'five processes again' });
  });

  it('kubectl drain evicts the pods of a node through pods/eviction; the RC runs them on the other nodes; uncordon lets it schedule again', async () => {
    const node = (await podsOf('spread'))[0]!.spec!.nodeName!;
    const onNode = (await podsOf('spread')).filter((p) => p.spec?.nodeName === node).map((p) => p.metadata!.name!);
    const out = await cluster.ok(['drain', node, '--ignore-daemonsets', '--timeout=90s']);
    // kubectl says "evicting pod" only when the server offers pods/eviction (else it deletes).
    for (const name of onNode) expect(out).to.contain(`evicting pod ${NS}/${name}`);
    expect(out).to.contain(`node/${node} drained`);
    const after = await readyPods('spread', 5);
    expect(after.filter((p) => p.spec?.nodeName === node)).to.deep.equal([]);
    const cordoned = await cluster.ok(['get', 'node', node, '-o', 'jsonpath={.spec.unschedulable}']);
    expect(cordoned.trim()).to.equal('true');
    expect(await cluster.ok(['uncordon', node])).to.contain(`node/${node} uncordoned`);
    await waitFor(() => containerProcesses() === 5, { timeoutMs: 15_000, what: 'five processes after the drain' });
  });

  it('scales 5 → 2 with kubectl, keeping the two on different nodes', async () => {
    expect(await cluster.ok(['scale', 'rc', 'spread', '--replicas=2'])).to.contain('replicationcontroller/spread scaled');
    const pods = await readyPods('spread', 2);
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).to.equal(2);
    await waitFor(() => containerProcesses() === 2, { timeoutMs: 15_000, what: 'the scaled-away processes to stop' });
  });

  it("keeps a Service's Endpoints on the ready pods as readiness changes", async () => {
    const manifest = `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: server
          image: node
          command: [node, dist/examples/http-server/server.js]
          env:
            - {name: KEELSON_E2E, value: ${marker}}
            - {name: PORT, value: "8080"}
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;
    await cluster.ok(['apply', '-f', '-'], manifest);
    // Its clusterIP comes from this cluster's --service-cluster-ip-range (a /16 the harness picks).
    const clusterIP = (await cluster.ok(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    expect(clusterIP).to.match(new RegExp(`^${cluster.networks.serviceRange.split('.').slice(0, 2).join('\\.')}\\.\\d+\\.\\d+$`));
    const pods = await readyPods('web', 2);
    const ips = pods.map((p) => p.status!.podIP!).sort();
    type Subsets = { addresses?: { ip: string; targetRef?: { name?: string } }[]; notReadyAddresses?: { ip: string }[]; ports?: { name?: string; port: number }[] }[];
    const subsets = async () => ((await cluster.client.get(Endpoints, 'web', { namespace: NS })) as KubeObject & { subsets?: Subsets }).subsets ?? [];
    const ready = async () => (await subsets()).flatMap((s) => s.addresses ?? []).map((a) => a.ip).sort();
    const notReady = async () => (await subsets()).flatMap((s) => s.notReadyAddresses ?? []).map((a) => a.ip).sort();
    await waitFor(async () => JSON.stringify(await ready()) === JSON.stringify(ips), { timeoutMs: 20_000, what: 'both pods in the Endpoints' });
    expect((await subsets())[0]!.ports).to.deep.equal([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const out = await cluster.ok(['get', 'endpoints', 'web']);
    expect(out).to.match(new RegExp(`^web\\s+${ips.map((ip) => `${ip.replaceAll('.', '\\.')}:8080`).join(',')}\\s`, 'm'));

    // The pod answers on its own address; flipping its readiness moves it to notReadyAddresses.
    const [first, second] = ips as [string, string];
    const firstPod = pods.find((p) => p.status?.podIP === first)!.metadata!.name!;
    expect(await (await fetch(`http://${first}:8080/`)).text()).to.equal(`hello from ${firstPod} (${first}:8080)\n`);
    expect((await fetch(`http://${first}:8080/ready?value=false`, { method: 'POST' })).status).to.equal(200);
    await waitFor(async () => JSON.stringify(await ready()) === JSON.stringify([second]) && JSON.stringify(await notReady()) === JSON.stringify([first]), {
      timeoutMs: 20_000,
      what: 'the unready pod in notReadyAddresses',
    });
    await fetch(`http://${first}:8080/ready?value=true`, { method: 'POST' });
    await waitFor(async () => JSON.stringify(await ready()) === JSON.stringify(ips) && (await notReady()).length === 0, { timeoutMs: 20_000, what: 'the pod back in addresses' });
  });

  it('deletes an RC with its pods, and orphans them with kubectl delete --cascade=orphan', async () => {
    expect(await cluster.ok(['delete', 'rc', 'spread'])).to.contain('replicationcontroller "spread" deleted');
    await waitFor(async () => (await podsOf('spread')).length === 0, { timeoutMs: 30_000, intervalMs: 100, what: "the RC's pods to be deleted" });

    await cluster.ok(['apply', '-f', '-'], sleeper('keep', 2));
    const pods = await readyPods('keep', 2);
    expect(await cluster.ok(['delete', 'rc', 'keep', '--cascade=orphan'])).to.contain('replicationcontroller "keep" deleted');
    await waitFor(async () => (await cluster.kubectl(['get', 'rc', 'keep'])).code !== 0, { timeoutMs: 20_000, what: 'the RC to be gone' });
    const orphans = await waitFor(async () => {
      const now = await podsOf('keep');
      return now.every((p) => !p.metadata?.ownerReferences?.length) ? now : undefined;
    }, { timeoutMs: 20_000, what: 'the ownerReferences to be removed' });
    expect(orphans.map((p) => p.metadata?.uid).sort()).to.deep.equal(pods.map((p) => p.metadata?.uid).sort());
    expect(orphans.every(isReady)).to.equal(true);

    await cluster.ok(['delete', 'rc', 'web']);
    await cluster.ok(['delete', 'pods', '-l', 'app=keep']);
    await waitFor(async () => (await cluster.client.list(Pod, { namespace: NS })).items.length === 0, { timeoutMs: 30_000, what: 'every pod to be gone' });
    await waitFor(() => containerProcesses() === 0, { timeoutMs: 15_000, what: 'every pod process to stop' });
  });
});
