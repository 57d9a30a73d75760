/**
 * `kubectl logs` and `kubectl top` — the real kubectl — against `keelson up --nodes 2` with a
 * 500 ms stats interval, on pods that run as processes on the node agents. It proves that:
 *
 * - `kubectl logs` prints what the example HTTP server wrote (its start line, a line per request),
 *   `--tail` cuts it, `-f` streams a line written after it started until kubectl is killed, and
 *   `--previous` after a crash shows the previous instance's output (kube's error without one);
 * - for a two-container pod `-c` picks the container, none picks the first (kubectl says so),
 *   `--all-containers --prefix` shows both, an unknown one is kube's error;
 * - `kubectl top node` and `kubectl top pod` (also `--containers`, `-A`, `-l`, one by name) print
 *   CPU(cores) and MEMORY(bytes) rows for the nodes and running pods once the agents have two
 *   samples; a busy pod shows its CPU; a namespace whose pods have no metrics gets kubectl's
 *   "metrics not available yet", and a pod that is not Running is NotFound, as with metrics-server.
 *
 * Every process started (the pods carry a marker in their environment, kubectl its kubeconfig
 * path) is gone afterwards.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { Pod } from '../../lib/api/kinds.js';
import { DIST, expectNoProcessesMentioning, KUBECTL, processesMentioning, requireKubectl, ROOT, TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';
/** The example server, compiled next to this test (dist/ or another outDir), relative to the root keelson up runs from. */
const SERVER = relative(ROOT, join(DIST, 'examples', 'http-server', 'server.js'));
/**
 * The web pod's port: not the example's 8080, since other clusters on this machine (other test
 * runs) hand out the same pod IPs, and a second server on an address and port in use crash-loops.
 */
const PORT = 20_000 + Math.floor(Math.random() * 30_000);

/** Whether a pod is Running with every container running and Ready. */
function isReady(pod: Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    !!pod.status.containerStatuses?.every((c) => c.state?.running) &&
    !!pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** A CPU column of kubectl top (`12m`, `1`) in millicores. */
function millicores(text: string): number {
  const match = /^(\d+)(m?)$/.exec(text);
  expect(match, `CPU(cores) ${text}`).to.not.equal(null);
  return Number(match![1]) * (match![2] ? 1 : 1000);
}

/** A MEMORY column of kubectl top (`45Mi`, `1Gi`, `512Ki`) in bytes. */
function memoryBytes(text: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(text);
  expect(match, `MEMORY(bytes) ${text}`).to.not.equal(null);
  return Number(match![1]) * { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, '': 1 }[match![2] ?? '']!;
}

/** The rows of a kubectl table, each split on runs of spaces; the header first. */
function rows(output: string): string[][] {
  return output
    .trimEnd()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
}

/** A kubectl process that keeps running (`logs -f`), its output collected. */
class KubectlStream {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(cluster: TestCluster, args: string[]) {
    this.child = spawn(KUBECTL, ['--kubeconfig', cluster.kubeconfig, '--cache-dir', join(cluster.dir, 'kubectl-cache'), ...args], {
      env: { ...process.env, HOME: cluster.dir, KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Waits until stdout contains `text`. */
  async sees(text: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.stdout.includes(text) || this.child.exitCode !== null, { timeoutMs, what: `kubectl to print ${JSON.stringify(text)}` });
    if (!this.stdout.includes(text)) throw new Error(`kubectl exited ${this.child.exitCode} before printing ${JSON.stringify(text)}:\n${this.stdout}\n${this.stderr}`);
  }

  /** Kills kubectl (as Ctrl-C would) and waits for it to go. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe('kubectl logs and kubectl top under keelson up --nodes 2', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  /** In every pod's environment, so the test can find (and account for) their processes. */
  const marker = `keelson-e2e-${randomUUID()}`;
  const streams: KubectlStream[] = [];

  const env = [{ name: 'KEELSON_E2E', value: marker }];
  /** A container running a small inline program. */
  const inline = (name: string, program: string) => ({ name, image: 'node', command: ['node', '-e', program], env });
  const manifests = [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'server',
            image: 'node',
            command: ['node', SERVER],
            env: [...env, { name: 'PORT', value: String(PORT) }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            ports: [{ name: 'http', containerPort: PORT }],
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'duo', labels: { app: 'duo' } },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          inline('left', "console.log('left: hello from duo'); setInterval(() => {}, 1e9)"),
          inline('right', "console.log('right: hello from duo'); console.log('right: second line'); setInterval(() => {}, 1e9)"),
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'burner', labels: { app: 'burner' } },
      spec: { terminationGracePeriodSeconds: 1, containers: [inline('main', "console.log('burning'); for (;;) {}")] },
    },
  ];

  async function pod(name: string, namespace = NS): Promise<Pod> {
    return cluster.client.get(Pod, name, { namespace });
  }

  /** The processes of the pods of this test. */
  function podProcesses(): number {
    return processesMentioning(marker).filter((p) => p.command.startsWith('node ')).length;
  }

  before(async () => {
    requireKubectl();
    cluster = await TestCluster.start({ nodes: 2, args: ['--stats-interval', '500ms'] });
    await waitFor(async () => {
      const out = await cluster.ok(['get', 'nodes']);
      return (out.match(/\sReady\s/g) ?? []).length === 2;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'two Ready nodes' });
    await cluster.ok(['apply', '-f', '-'], manifests.map((m) => stringify(m)).join('---\n'));
    for (const name of ['web', 'duo', 'burner']) {
      await waitFor(async () => isReady(await pod(name)), { timeoutMs: 60_000, intervalMs: 100, what: `${name} Ready` });
    }
    expect(podProcesses()).to.equal(4);
  });

  after(async () => {
    await Promise.all(streams.map((s) => s.kill()));
    await cluster?.stop();
    await expectNoProcessesMentioning(marker);
  });

  describe('kubectl logs', () => {
    it("prints the example server's output, a line per request, and --tail cuts it", async () => {
      const ip = (await pod('web')).status!.podIP!;
      const started = await waitFor(async () => {
        const out = await cluster.ok(['logs', 'web']);
        return out.includes('listening') ? out : undefined;
      }, { timeoutMs: 10_000, what: 'the start line' });
      expect(started.split('\n')[0]).to.equal(`web listening on ${ip}:${PORT}`);

      expect(await (await fetch(`http://${ip}:${PORT}/?from=kubectl-test`)).text()).to.equal(`hello from web (${ip}:${PORT})\n`);
      const out = await waitFor(async () => {
        const text = await cluster.ok(['logs', 'web']);
        return text.includes('GET /?from=kubectl-test') ? text : undefined;
      }, { timeoutMs: 10_000, what: 'the request line' });
      expect(out).to.match(/^GET \/\?from=kubectl-test from \S+$/m);
      // The readiness probe's requests are logged too (one a second): the tail is the latest of them.
      expect(out).to.match(/^GET \/healthz from \S+$/m);
      expect(await cluster.ok(['logs', 'web', '--tail=1'])).to.match(/^GET \/\S* from \S+\n$/);
      expect(await cluster.ok(['logs', 'pod/web', '--tail=0'])).to.equal('');
      expect(await cluster.ok(['logs', 'web', '--timestamps', '--tail=1'])).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z GET \/\S* from \S+\n$/);
    });

    it('streams with -f: a line written after kubectl started appears, until kubectl is killed', async () => {
      const ip = (await pod('web')).status!.podIP!;
      const follow = new KubectlStream(cluster, ['logs', '-f', 'web']);
      streams.push(follow);
      await follow.sees(`web listening on ${ip}:${PORT}`);
      expect(follow.child.exitCode, 'kubectl logs -f keeps running').to.equal(null);
      const tag = randomUUID();
      await fetch(`http://${ip}:${PORT}/?tag=${tag}`);
      await follow.sees(`GET /?tag=${tag} from`);
      // And another: the stream keeps following.
      await fetch(`http://${ip}:${PORT}/?tag=${tag}-2`);
      await follow.sees(`GET /?tag=${tag}-2 from`);
      await follow.kill();
      expect(follow.stderr).to.equal('');
    });

    it("shows the previous instance's output with --previous after a crash, and kube's error without one", async () => {
      const none = await cluster.kubectl(['logs', 'web', '--previous']);
      expect(none.code).to.equal(1);
      expect(none.stderr.trim()).to.equal('Error from server (BadRequest): previous terminated container "server" in pod "web" not found');

      const ip = (await pod('web')).status!.podIP!;
      expect((await fetch(`http://${ip}:${PORT}/exit?code=3`, { method: 'POST' })).status).to.equal(200);
      const restarted = await waitFor(async () => {
        const p = await pod('web');
        return p.status?.containerStatuses?.[0]?.restartCount === 1 && isReady(p) ? p : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100, what: 'web restarted and Ready' });
      expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).to.include({ exitCode: 3 });

      const previous = await cluster.ok(['logs', 'web', '--previous']);
      const lines = previous.trimEnd().split('\n').filter((l) => !l.startsWith('GET /healthz ')); // less the probe's requests
      expect(lines[0]).to.equal(`web listening on ${ip}:${PORT}`);
      expect(previous).to.include('GET /?from=kubectl-test'); // what the first test made it write
      expect(lines.at(-1)).to.equal('exiting with code 3 on request');
      expect(previous.match(/listening/g)).to.have.length(1);

      const current = await waitFor(async () => {
        const out = await cluster.ok(['logs', 'web']);
        return out.includes('listening') ? out : undefined;
      }, { timeoutMs: 10_000, what: "the new instance's start line" });
      expect(current.split('\n')[0]).to.equal(`web listening on ${ip}:${PORT}`);
      expect(current).to.not.include('exiting with code 3');
      expect(current).to.not.include('from=kubectl-test');
    });

    it('picks the container of a two-container pod with -c; without it the first, saying so', async () => {
      expect(await cluster.ok(['logs', 'duo', '-c', 'right'])).to.equal('right: hello from duo\nright: second line\n');
      expect(await cluster.ok(['logs', 'duo', '--container=left'])).to.equal('left: hello from duo\n');

      const defaulted = await cluster.kubectl(['logs', 'duo']);
      expect(defaulted.code).to.equal(0);
      expect(defaulted.stdout).to.equal('left: hello from duo\n');
      expect(defaulted.stderr).to.include('Defaulted container "left" out of: left, right');

      const all = await cluster.ok(['logs', 'duo', '--all-containers', '--prefix']);
      expect(all.trimEnd().split('\n').sort()).to.deep.equal(['[pod/duo/left] left: hello from duo', '[pod/duo/right] right: hello from duo', '[pod/duo/right] right: second line']);

      const unknown = await cluster.kubectl(['logs', 'duo', '-c', 'middle']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr.trim()).to.equal('error: container middle is not valid for pod duo'); // kubectl checks it itself
      const missing = await cluster.kubectl(['logs', 'nobody']);
      expect(missing.code).to.equal(1);
      expect(missing.stderr.trim()).to.equal('error: error from server (NotFound): pods "nobody" not found in namespace "default"'); // kubectl reads the pod first
    });
  });

  describe('kubectl top', () => {
    it('prints CPU(cores) and MEMORY(bytes) for every node once the agents have sampled', async () => {
      const out = await waitFor(async () => {
        const run = await cluster.kubectl(['top', 'node']);
        return run.code === 0 && rows(run.stdout).length === 3 ? run.stdout : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250, what: 'kubectl top node to show both nodes' });
      const [header, ...nodes] = rows(out);
      expect(header).to.deep.equal(['NAME', 'CPU(cores)', 'CPU(%)', 'MEMORY(bytes)', 'MEMORY(%)']);
      expect(nodes.map((r) => r[0])).to.deep.equal(['node-1', 'node-2']);
      for (const [, cpu, cpuPercent, memory, memoryPercent] of nodes) {
        expect(millicores(cpu!)).to.be.at.least(0);
        expect(cpuPercent).to.match(/^\d+%$/);
        expect(memoryBytes(memory!)).to.be.greaterThan(1024 * 1024); // the RSS of its pods' processes
        expect(memoryPercent).to.match(/^\d+%$/);
      }
      // The node running the busy pod shows it.
      const burnerNode = (await pod('burner')).spec!.nodeName!;
      const single = await waitFor(async () => {
        const r = rows(await cluster.ok(['top', 'node', burnerNode]));
        return millicores(r[1]![1]!) >= 50 ? r : undefined;
      }, { timeoutMs: 15_000, intervalMs: 250, what: `${burnerNode} to show the busy pod's CPU` });
      expect(single).to.have.length(2);
      expect(single[1]![0]).to.equal(burnerNode);

      const unknown = await cluster.kubectl(['top', 'node', 'node-9']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr.trim()).to.equal('Error from server (NotFound): node "node-9" not found');
    });

    it("reads an agent's summary and metrics through nodes/proxy with kubectl get --raw", async () => {
      const summary = JSON.parse(await cluster.ok(['get', '--raw', '/api/v1/nodes/node-1/proxy/stats/summary'])) as { node: { nodeName: string; memory?: { workingSetBytes?: number } } };
      expect(summary.node.nodeName).to.equal('node-1');
      expect(await cluster.ok(['get', '--raw', '/api/v1/nodes/node-2/proxy/metrics'])).to.match(/^# TYPE /m);
    });

    it('prints CPU(cores) and MEMORY(bytes) for every running pod; a busy one shows its CPU', async () => {
      const out = await waitFor(async () => {
        const run = await cluster.kubectl(['top', 'pod']);
        return run.code === 0 && rows(run.stdout).length === 4 ? run.stdout : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250, what: 'kubectl top pod to show the three pods' });
      const [header, ...pods] = rows(out);
      expect(header).to.deep.equal(['NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      expect(pods.map((r) => r[0]).sort()).to.deep.equal(['burner', 'duo', 'web']);
      for (const [, cpu, memory] of pods) {
        expect(millicores(cpu!)).to.be.at.least(0);
        expect(memoryBytes(memory!)).to.be.greaterThan(1024 * 1024);
      }
      const burner = await waitFor(async () => {
        const r = rows(await cluster.ok(['top', 'pod', 'burner']));
        return millicores(r[1]![1]!) >= 50 ? r : undefined;
      }, { timeoutMs: 15_000, intervalMs: 250, what: "the busy pod's CPU" });
      expect(burner).to.have.length(2);
      expect(millicores(burner[1]![1]!)).to.be.at.most(1500); // one thread
      const web = rows(await cluster.ok(['top', 'pod', 'web']))[1]!;
      expect(millicores(web[1]!)).to.be.lessThan(millicores(burner[1]![1]!));
    });

    it('prints per-container rows with --containers, a NAMESPACE column with -A, and filters with -l', async () => {
      const containers = rows(await cluster.ok(['top', 'pod', 'duo', '--containers']));
      expect(containers[0]).to.deep.equal(['POD', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      expect(containers.slice(1).map((r) => [r[0], r[1]])).to.deep.equal([
        ['duo', 'left'],
        ['duo', 'right'],
      ]);
      for (const row of containers.slice(1)) expect(memoryBytes(row[3]!)).to.be.greaterThan(1024 * 1024);

      const all = rows(await cluster.ok(['top', 'pod', '-A']));
      expect(all[0]).to.deep.equal(['NAMESPACE', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      expect(all.slice(1).map((r) => `${r[0]}/${r[1]}`).sort()).to.deep.equal(['default/burner', 'default/duo', 'default/web']);

      const labelled = rows(await cluster.ok(['top', 'pod', '-l', 'app in (web,duo)']));
      expect(labelled.slice(1).map((r) => r[0]).sort()).to.deep.equal(['duo', 'web']);
      const sorted = rows(await cluster.ok(['top', 'pod', '--sort-by=cpu']));
      expect(sorted[1]![0]).to.equal('burner');
    });

    it('says "metrics not available yet" where pods have no metrics, and a pod that is not Running is not found', async () => {
      await cluster.ok(['create', 'namespace', 'waiting']);
      await cluster.ok(['apply', '-n', 'waiting', '-f', '-'], JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'pending' },
        spec: { nodeSelector: { 'keelson.test/nowhere': 'true' }, containers: [inline('main', 'setInterval(() => {}, 1e9)')] },
      }));
      const pending = await pod('pending', 'waiting');
      expect(pending.status?.phase ?? 'Pending').to.equal('Pending');

      const empty = await cluster.kubectl(['top', 'pod', '-n', 'waiting']);
      expect(empty.code).to.equal(1);
      expect(empty.stderr.trim()).to.equal('error: metrics not available yet');
      // metrics-server's pod lister holds only Running pods.
      const one = await cluster.kubectl(['top', 'pod', 'pending', '-n', 'waiting']);
      expect(one.code).to.equal(1);
      expect(one.stderr.trim()).to.equal('Error from server (NotFound): pods "pending" not found');
      // A namespace without pods has nothing to say.
      const none = await cluster.kubectl(['top', 'pod', '-n', 'kube-public']);
      expect(none.code).to.equal(0);
      expect(none.stderr.trim()).to.equal('No resources found in kube-public namespace.');
    });

    it('stops showing a pod once it is deleted, and its processes go', async () => {
      await cluster.ok(['delete', 'pod', 'burner']);
      await waitFor(async () => !rows(await cluster.ok(['top', 'pod'])).some((r) => r[0] === 'burner'), { timeoutMs: 20_000, intervalMs: 250, what: 'burner gone from kubectl top pod' });
      await waitFor(() => podProcesses() === 3, { timeoutMs: 15_000, what: "the busy pod's process to stop" });
    });
  });
});
