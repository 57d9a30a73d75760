/**
 * The pod runtime of the node agent, with real processes: containers are the fixtures in
 * test/fixtures run by `process.execPath`, on loopback pod IPs. Every test ends by asserting
 * that no process it started (found in /proc by the test's marker) is left.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigMap, Secret, Service, type Pod } from '../../lib/index.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';
import { ClientEnvResolver, computePhase, CrashLoopBackOff, expandVariables, formatGoDuration } from '../../controllers/node-agent/runtime/index.js';
import { runAction } from '../../controllers/node-agent/runtime/handlers.js';
import { systemClock } from '../../lib/index.js';
import type { ContainerStatusView, PodRuntimeStatus } from '../../controllers/node-agent/runtime/types.js';
import { waitFor } from '../harness/wait.js';
import { collect, fixture, freePort, httpGet, isAlive, makePod, nextPodIP, Sandbox, waitForStatus } from '../fixtures/pod-runtime-kit.js';

const container = (s: PodRuntimeStatus, name = 'c') => [...s.containerStatuses, ...s.initContainerStatuses].find((c) => c.name === name)!;
const pidOf = (s: PodRuntimeStatus, name = 'c') => Number(container(s, name).containerID!.replace('keelson://', ''));

describe('ProcessRuntime', function () {
  let sandbox: Sandbox;
  beforeEach(() => (sandbox = new Sandbox()));
  afterEach(async () => sandbox.cleanup());

  it('runs a container with its environment, and its HTTP server answers on the pod IP', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const env = [
      { name: 'PORT', value: String(port) },
      { name: 'GREETING', value: 'hi $(POD_IP) $$(POD_IP) $(NOPE)' },
      { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    const pod = makePod('web', { containers: [sandbox.server('web', port, { env })] });
    runtime.sync(pod, ip);
    const status = await waitForStatus(runtime, pod.metadata!.uid!, (s) => s.ready, 'web ready');
    expect(status.phase).to.equal('Running');
    expect(status.startTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(container(status, 'web')).to.include({ ready: true, started: true, restartCount: 0, image: 'keelson/test-server' });
    expect(container(status, 'web').containerID).to.match(/^keelson:\/\/\d+$/);
    await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the server to answer' });
    expect((await httpGet(`http://${ip}:${port}/env?name=POD_IP`)).body).to.equal(ip);
    expect((await httpGet(`http://${ip}:${port}/env?name=GREETING`)).body).to.equal(`hi ${ip} $(POD_IP) $(NOPE)`);
    expect((await httpGet(`http://${ip}:${port}/env?name=MY_NAME`)).body).to.equal('web');
    expect((await httpGet(`http://${ip}:${port}/env?name=HOSTNAME`)).body).to.equal('web');
    expect(runtime.pods()).to.deep.equal([pod.metadata!.uid]);
  });

  it('waits with CreateContainerConfigError for a missing ConfigMap, and starts once it exists', async () => {
    const client = await memoryClient();
    try {
      const runtime = sandbox.runtime({ env: new ClientEnvResolver(client) });
      const ip = nextPodIP();
      const port = await freePort(ip);
      const env = [
        { name: 'PORT', value: String(port) },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
      ];
      const pod = makePod('configured', { containers: [sandbox.server('web', port, { env })] });
      const uid = pod.metadata!.uid!;
      runtime.sync(pod, ip);
      const waiting = await waitForStatus(runtime, uid, (s) => container(s, 'web').state.waiting?.reason === 'CreateContainerConfigError', 'config error');
      expect(container(waiting, 'web').state.waiting!.message).to.equal('configmap "settings" not found');
      expect(waiting.phase).to.equal('Pending');
      await client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { mode: 'fast' } });
      await waitForStatus(runtime, uid, (s) => s.ready, 'running once the ConfigMap exists');
      await waitFor(() => httpGet(`http://${ip}:${port}/env?name=MODE`).then((r) => r.body === 'fast'), { what: 'MODE=fast' });
    } finally {
      await client.close();
    }
  });

  it('restarts a crashing container with a doubling back-off and counts restarts (FakeClock)', async () => {
    const clock = new FakeClock();
    const runtime = sandbox.runtime({ clock, backoff: { initialMs: 10_000, maxMs: 40_000 } });
    const pod = makePod('crash', { containers: [sandbox.program('c', ['--exit-after', '0', '--code', '3'])] });
    const uid = pod.metadata!.uid!;
    const events: string[] = [];
    runtime.onEvent((about, e) => events.push(`${about.metadata!.name} ${e.type} ${e.reason} ${e.container}: ${e.message}`));
    runtime.sync(pod, nextPodIP());
    const backingOff = (restarts: number, delay: string) => (s: PodRuntimeStatus) =>
      container(s).restartCount === restarts && container(s).state.waiting?.message === `back-off ${delay} restarting failed container=c pod=crash_default(${uid})`;
    // The first restart is immediate (kubelet's), the next ones wait 10s, 20s, 40s, 40s.
    let status = await waitForStatus(runtime, uid, backingOff(1, '10s'), 'back-off 10s');
    expect(container(status).state.waiting!.reason).to.equal('CrashLoopBackOff');
    expect(container(status).lastState.terminated).to.include({ exitCode: 3, reason: 'Error' });
    expect(status.phase).to.equal('Running');
    await clock.advance(9_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(container(runtime.status(uid)!).restartCount).to.equal(1);
    await clock.advance(1_000);
    status = await waitForStatus(runtime, uid, backingOff(2, '20s'), 'back-off 20s');
    await clock.advance(20_000);
    status = await waitForStatus(runtime, uid, backingOff(3, '40s'), 'back-off 40s');
    await clock.advance(40_000);
    status = await waitForStatus(runtime, uid, backingOff(4, '40s'), 'back-off capped at 40s');
    expect(container(status).lastState.terminated!.finishedAt).to.be.a('string');
    // kubelet's events: each start, and each restart held by the back-off (10s, 20s, 40s, 40s) once.
    expect(events.filter((e) => e === 'crash Normal Started c: Started container c')).to.have.length(5);
    expect(events.filter((e) => e.includes(' BackOff '))).to.deep.equal(Array(4).fill(`crash Warning BackOff c: Back-off restarting failed container c in pod crash_default(${uid})`));
  });

  it('shows a failed bind (EADDRINUSE) with its exit code and, FallbackToLogsOnError, the log tail as message', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, ip, resolve));
    try {
      const pod = makePod('busy-port', { restartPolicy: 'Never', containers: [sandbox.server('web', port, { terminationMessagePolicy: 'FallbackToLogsOnError' })] });
      runtime.sync(pod, ip);
      const status = await waitForStatus(runtime, pod.metadata!.uid!, (s) => s.phase === 'Failed', 'phase Failed');
      const terminated = container(status, 'web').state.terminated!;
      expect(terminated).to.include({ exitCode: 1, reason: 'Error' });
      expect(terminated.message).to.include('EADDRINUSE').and.include(`${ip}:${port}`);
    } finally {
      squatter.close();
    }
  });

  it('turns ready on and off with an httpGet readiness probe on a named port', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const readinessProbe = { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1, failureThreshold: 1 };
    const pod = makePod('ready', { containers: [sandbox.server('web', port, { readinessProbe })] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, ip);
    expect(runtime.status(uid)!.ready).to.equal(false);
    await waitForStatus(runtime, uid, (s) => s.ready, 'ready');
    await httpGet(`http://${ip}:${port}/unready`);
    await waitForStatus(runtime, uid, (s) => !s.ready && container(s, 'web').state.running !== undefined, 'not ready');
    await httpGet(`http://${ip}:${port}/readyagain`);
    const status = await waitForStatus(runtime, uid, (s) => s.ready, 'ready again');
    expect(container(status, 'web').restartCount).to.equal(0);
  });

  it('restarts a container whose liveness probe fails', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const livenessProbe = { httpGet: { path: '/healthz', port }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 5 };
    const pod = makePod('live', { containers: [sandbox.server('web', port, { livenessProbe })] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, ip);
    await waitForStatus(runtime, uid, (s) => s.ready, 'ready');
    await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the server' });
    await new Promise((r) => setTimeout(r, 1500)); // a passing liveness probe or two
    expect(container(runtime.status(uid)!, 'web').restartCount).to.equal(0);
    await httpGet(`http://${ip}:${port}/break`);
    const status = await waitForStatus(runtime, uid, (s) => container(s, 'web').restartCount === 1 && s.ready, 'restarted and ready');
    expect(container(status, 'web').lastState.terminated).to.include({ exitCode: 0, reason: 'Completed' });
    const previous = await collect(runtime.logs(uid, 'web', { previous: true }));
    expect(previous).to.include('health: broken').and.include('SIGTERM: shutting down');
    await waitFor(() => httpGet(`http://${ip}:${port}/healthz`).then((r) => r.status === 200), { what: 'the new instance healthy' });
  });

  it('gates readiness behind the startup probe, and restarts a container whose startup probe fails', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const slowStart = sandbox.server('web', port, {
      startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 10 },
      readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 10 },
    });
    const neverStarts = sandbox.program('stuck', [], { startupProbe: { exec: { command: [process.execPath, '-e', 'process.exit(1)', sandbox.marker] }, periodSeconds: 1, failureThreshold: 1 } });
    const pod = makePod('startup', { containers: [slowStart, neverStarts], terminationGracePeriodSeconds: 2 });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, ip);
    const first = await waitForStatus(runtime, uid, (s) => container(s, 'web').state.running !== undefined, 'running');
    expect(container(first, 'web')).to.include({ started: false, ready: false });
    // Started by the startup probe; ready at once after (the readiness probe is triggered, not left to its 10 s period).
    await waitForStatus(runtime, uid, (s) => container(s, 'web').started && container(s, 'web').ready, 'web started and ready');
    const status = await waitForStatus(runtime, uid, (s) => container(s, 'stuck').restartCount >= 1, 'stuck restarted');
    expect(container(status, 'stuck').started).to.equal(false);
    expect(container(status, 'web').restartCount).to.equal(0);
  });

  it('runs exec and tcpSocket probes', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const flagFile = join(sandbox.dataDir, 'ready-flag');
    const check = `process.exit(require('fs').existsSync(${JSON.stringify(flagFile)}) ? 0 : 1)`;
    const web = sandbox.server('web', port, {
      readinessProbe: { exec: { command: [process.execPath, '-e', check, sandbox.marker] }, periodSeconds: 1, failureThreshold: 1 },
      livenessProbe: { tcpSocket: { port: 'http' }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1 },
    });
    const closedPort = await freePort(ip);
    const side = sandbox.program('side', [], { readinessProbe: { tcpSocket: { port: closedPort }, periodSeconds: 1 } });
    const pod = makePod('probes', { containers: [web, side] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, ip);
    await waitForStatus(runtime, uid, (s) => container(s, 'web').state.running !== undefined && container(s, 'side').state.running !== undefined, 'running');
    await new Promise((r) => setTimeout(r, 1500));
    expect(container(runtime.status(uid)!, 'web').ready).to.equal(false);
    writeFileSync(flagFile, 'yes');
    let status = await waitForStatus(runtime, uid, (s) => container(s, 'web').ready, 'web ready by exec probe');
    expect(container(status, 'side').ready).to.equal(false);
    expect(status.ready).to.equal(false);
    status = runtime.status(uid)!;
    expect(container(status, 'web').restartCount).to.equal(0); // the tcp liveness probe passes
  });

  it('kills a pod with SIGTERM to each process group and resolves once the processes have exited', async () => {
    const runtime = sandbox.runtime();
    const ip = nextPodIP();
    const port = await freePort(ip);
    const hookFile = join(sandbox.dataDir, 'pre-stop-ran');
    const preStop = { exec: { command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(hookFile)}, process.env.POD_IP)`, sandbox.marker] } };
    const pod = makePod('graceful', { containers: [sandbox.server('web', port, { lifecycle: { preStop } })] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, ip);
    const pid = pidOf(await waitForStatus(runtime, uid, (s) => s.ready, 'ready'), 'web');
    await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the server' });
    const started = Date.now();
    await runtime.kill(uid, 10);
    expect(Date.now() - started).to.be.lessThan(3000);
    expect(isAlive(pid)).to.equal(false);
    expect(readFileSync(hookFile, 'utf8')).to.equal(ip); // the preStop hook ran first, with the container's env
    expect(runtime.status(uid)).to.equal(undefined);
    expect(runtime.pods()).to.deep.equal([]);
    expect(await collect(runtime.logs(uid, 'web'))).to.include('SIGTERM: shutting down');
    runtime.sync(pod, ip); // a killed pod never runs again
    expect(runtime.pods()).to.deep.equal([]);
  });

  it('SIGKILLs a process group that ignores SIGTERM once the grace period is over', async () => {
    const runtime = sandbox.runtime();
    const pod = makePod('stubborn', { containers: [sandbox.program('c', ['--ignore-term', '--child'])] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, nextPodIP());
    const pid = pidOf(await waitForStatus(runtime, uid, (s) => s.ready, 'running'));
    const log = await waitFor(async () => /child (\d+)/.exec(await collect(runtime.logs(uid, 'c'))), { what: 'the grandchild pid' });
    const grandchild = Number(log[1]);
    expect(isAlive(grandchild)).to.equal(true);
    const started = Date.now();
    await runtime.kill(uid, 1);
    const elapsed = Date.now() - started;
    expect(elapsed).to.be.within(900, 4000);
    expect(isAlive(pid)).to.equal(false);
    expect(isAlive(grandchild)).to.equal(false);
    expect(await collect(runtime.logs(uid, 'c'))).to.include('ignoring SIGTERM');
  });

  it('follows the restart policies to kubelet’s phases', async () => {
    const runtime = sandbox.runtime();
    const cases = [
      { policy: 'Never', code: 0, phase: 'Succeeded' },
      { policy: 'Never', code: 2, phase: 'Failed' },
      { policy: 'OnFailure', code: 0, phase: 'Succeeded' },
    ] as const;
    const pods = cases.map((c) => makePod(`p-${c.policy}-${c.code}`.toLowerCase(), { restartPolicy: c.policy, containers: [sandbox.program('c', ['--exit-after', '50', '--code', String(c.code)])] }));
    const onFailure = makePod('p-onfailure-1', { restartPolicy: 'OnFailure', containers: [sandbox.program('c', ['--exit-after', '50', '--code', '1'])] });
    const always = makePod('p-always-0', { restartPolicy: 'Always', containers: [sandbox.program('c', ['--exit-after', '50'])] });
    for (const pod of [...pods, onFailure, always]) runtime.sync(pod, nextPodIP());
    for (const [i, c] of cases.entries()) {
      const status = await waitForStatus(runtime, pods[i]!.metadata!.uid!, (s) => s.phase === c.phase, `${c.policy}/${c.code} → ${c.phase}`);
      expect(container(status).state.terminated).to.include({ exitCode: c.code, reason: c.code === 0 ? 'Completed' : 'Error' });
      expect(container(status).restartCount).to.equal(0);
      expect(status.ready).to.equal(false);
    }
    let status = await waitForStatus(runtime, onFailure.metadata!.uid!, (s) => container(s).restartCount >= 2, 'OnFailure restarts');
    expect(status.phase).to.equal('Running');
    status = await waitForStatus(runtime, always.metadata!.uid!, (s) => container(s).restartCount >= 2, 'Always restarts a completed container');
    expect(status.phase).to.equal('Running');
    expect(container(status).lastState.terminated).to.include({ exitCode: 0, reason: 'Completed' });
  });

  it('runs init containers in order, each to completion, with a sidecar that keeps running', async () => {
    const runtime = sandbox.runtime();
    const pod = makePod('init', {
      initContainers: [
        sandbox.program('init-1', ['--print', '1', '--exit-after', '200']),
        sandbox.program('sidecar', ['--every', '1000'], { restartPolicy: 'Always' }),
        sandbox.program('init-2', ['--print', '1', '--exit-after', '200']),
      ],
      containers: [sandbox.program('main', [])],
    });
    const uid = pod.metadata!.uid!;
    const seen: PodRuntimeStatus[] = [];
    runtime.onChange((changed) => changed === uid && runtime.status(uid) && seen.push(runtime.status(uid)!));
    runtime.sync(pod, nextPodIP());
    const status = await waitForStatus(runtime, uid, (s) => s.ready, 'main ready');
    expect(status.phase).to.equal('Running');
    expect(container(status, 'init-1').state.terminated).to.include({ exitCode: 0, reason: 'Completed' });
    expect(container(status, 'init-1').ready).to.equal(true);
    expect(container(status, 'init-2').state.terminated).to.include({ exitCode: 0, reason: 'Completed' });
    expect(container(status, 'sidecar')).to.include({ ready: true, started: true });
    expect(container(status, 'sidecar').state.running).to.not.equal(undefined);
    for (const s of seen) {
      if (container(s, 'sidecar').state.running || container(s, 'init-2').state.running) expect(container(s, 'init-1').state.terminated, 'init-1 done first').to.not.equal(undefined);
      if (container(s, 'main').state.running) expect(container(s, 'init-2').state.terminated, 'init-2 done before main').to.not.equal(undefined);
      if (!container(s, 'init-2').state.terminated) expect(s.phase).to.equal('Pending');
    }
    expect(seen.some((s) => container(s, 'main').state.waiting?.reason === 'PodInitializing')).to.equal(true);

    const failing = makePod('init-fails', { restartPolicy: 'Never', initContainers: [sandbox.program('init', ['--exit-after', '0', '--code', '4'])], containers: [sandbox.program('main', [])] });
    runtime.sync(failing, nextPodIP());
    const failed = await waitForStatus(runtime, failing.metadata!.uid!, (s) => s.phase === 'Failed', 'failed init fails a Never pod');
    expect(container(failed, 'init').state.terminated!.exitCode).to.equal(4);
    expect(container(failed, 'main').state.waiting!.reason).to.equal('PodInitializing');
  });

  it('keeps each instance’s log: current, previous, tail, timestamps, since, follow', async () => {
    const runtime = sandbox.runtime();
    const countFile = join(sandbox.dataDir, 'runs');
    const pod = makePod('logs', {
      containers: [
        sandbox.program('c', ['--count-file', countFile, '--print', '3', '--exit-first-run-after', '100', '--code', '1']),
        sandbox.program('ticker', ['--every', '50']),
      ],
    });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, nextPodIP());
    await waitForStatus(runtime, uid, (s) => container(s).restartCount === 1 && container(s).state.running !== undefined, 'second run');
    const current = await waitFor(async () => {
      const text = await collect(runtime.logs(uid, 'c'));
      return text.includes('line 3') ? text : undefined;
    });
    expect(current).to.equal('run 2\nline 1\nline 2\nline 3\n');
    expect(await collect(runtime.logs(uid, 'c', { previous: true }))).to.equal('run 1\nline 1\nline 2\nline 3\n');
    expect(await collect(runtime.logs(uid, 'c', { tailLines: 2 }))).to.equal('line 2\nline 3\n');
    expect(await collect(runtime.logs(uid, 'c', { tailLines: 1, timestamps: true }))).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 3\n$/);
    expect(await collect(runtime.logs(uid, 'c', { sinceSeconds: 3600 }))).to.equal(current);
    expect(() => runtime.logs(uid, 'nope')).to.throw(/container nope is not valid for pod logs/);
    expect(() => runtime.logs('no-such-uid', 'c')).to.throw(/has no logs on this node/);

    const controller = new AbortController();
    let followed = '';
    for await (const chunk of runtime.logs(uid, 'ticker', { follow: true, tailLines: 1, signal: controller.signal })) {
      followed += chunk;
      if ((followed.match(/tick/g) ?? []).length >= 4) controller.abort();
    }
    expect(followed).to.match(/^tick \d+\ntick \d+\ntick \d+\ntick \d+\n/);

    const short = makePod('short', { restartPolicy: 'Never', containers: [sandbox.program('c', ['--every', '100', '--exit-after', '450'])] });
    runtime.sync(short, nextPodIP());
    await waitForStatus(runtime, short.metadata!.uid!, (s) => container(s).state.running !== undefined, 'short running');
    const all = await collect(runtime.logs(short.metadata!.uid!, 'c', { follow: true })); // ends with the instance
    expect(all).to.match(/^tick 1\ntick 2\ntick 3\ntick 4\n$/);
  });

  it('samples the CPU and memory of a busy container from /proc', async () => {
    const runtime = sandbox.runtime();
    const pod = makePod('busy', { containers: [sandbox.program('c', ['--busy'])] });
    const uid = pod.metadata!.uid!;
    runtime.sync(pod, nextPodIP());
    await waitForStatus(runtime, uid, (s) => s.ready, 'running');
    const usage = await waitFor(() => {
      const sample = runtime.usage(uid);
      return sample && sample.cpuSeconds > 0.2 ? sample : undefined;
    });
    expect(usage.memoryBytes).to.be.greaterThan(10 * 1024 * 1024);
    expect(usage.containers).to.have.length(1);
    expect(usage.containers[0]!.name).to.equal('c');
    expect(runtime.usage('unknown')).to.equal(undefined);
  });

  it('reports CreateContainerError for an image without command, and StartError/RunContainerError for a missing program', async () => {
    const runtime = sandbox.runtime({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const imageOnly = makePod('image-only', { containers: [{ name: 'c', image: 'nginx:1.27' }] });
    const missing = makePod('missing', { restartPolicy: 'Never', containers: [{ name: 'c', command: ['/nonexistent/keelson-nope'] }] });
    const notInPath = makePod('not-in-path', { containers: [{ name: 'c', command: ['keelson-no-such-program'], args: [sandbox.marker] }] });
    const failed: string[] = [];
    runtime.onEvent((about, e) => e.reason === 'Failed' && failed.push(`${about.metadata!.name} ${e.type}: ${e.message}`));
    for (const pod of [imageOnly, missing, notInPath]) runtime.sync(pod, nextPodIP());
    let status = await waitForStatus(runtime, imageOnly.metadata!.uid!, (s) => container(s).state.waiting?.reason === 'CreateContainerError', 'CreateContainerError');
    expect(container(status).state.waiting!.message).to.include('has no command or args').and.include('nginx:1.27');
    expect(status.phase).to.equal('Pending');
    status = await waitForStatus(runtime, missing.metadata!.uid!, (s) => s.phase === 'Failed', 'missing program fails');
    expect(container(status).state.terminated).to.include({ exitCode: 127, reason: 'StartError', message: 'exec: "/nonexistent/keelson-nope": stat /nonexistent/keelson-nope: no such file or directory' });
    status = await waitForStatus(runtime, notInPath.metadata!.uid!, (s) => container(s).state.waiting?.reason === 'RunContainerError', 'RunContainerError');
    expect(container(status).state.waiting!.message).to.equal('exec: "keelson-no-such-program": executable file not found in $PATH');
    expect(container(status).lastState.terminated).to.include({ exitCode: 127 });
    expect(container(status).restartCount).to.equal(1);
    expect(failed).to.include('missing Warning: Error: exec: "/nonexistent/keelson-nope": stat /nonexistent/keelson-nope: no such file or directory');
  });

  it('kills every container when the process hosting the runtime is SIGKILLed', async () => {
    const ip = nextPodIP();
    const port = await freePort(ip);
    const pod = makePod('hosted', { containers: [sandbox.program('stubborn', ['--ignore-term', '--child']), sandbox.server('web', port)] });
    const host = spawn(process.execPath, [fixture('pod-runtime-host.js'), sandbox.dataDir, JSON.stringify(pod), ip, '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await waitForLine(host.stdout!, /^running /);
      const status = JSON.parse(line.slice('running '.length)) as PodRuntimeStatus;
      await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the server' });
      const pids = await waitFor(() => {
        const found = sandbox.processes().map((p) => p.pid);
        return found.length >= 5 ? found : undefined; // 2 supervisors, 2 containers, 1 grandchild
      });
      expect(pids).to.include(pidOf(status, 'stubborn')).and.include(pidOf(status, 'web'));
      const killedAt = Date.now();
      host.kill('SIGKILL');
      await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeoutMs: 5000, what: 'every container process gone' });
      const elapsed = Date.now() - killedAt;
      console.log(`      (all ${pids.length} processes gone ${elapsed} ms after SIGKILL of the host; orphan grace 1000 ms)`);
      expect(elapsed).to.be.lessThan(5000);
    } finally {
      host.kill('SIGKILL');
    }
  });

  it('after the host died, a new runtime over the same data dir waits for the old processes, restarts the pod and keeps the old logs', async () => {
    const ip = nextPodIP();
    const port = await freePort(ip);
    const pod = makePod('reborn', { containers: [sandbox.server('web', port), sandbox.program('stubborn', ['--ignore-term'])] });
    const uid = pod.metadata!.uid!;
    const host = spawn(process.execPath, [fixture('pod-runtime-host.js'), sandbox.dataDir, JSON.stringify(pod), ip, '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let old: PodRuntimeStatus;
    try {
      old = JSON.parse((await waitForLine(host.stdout!, /^running /)).slice('running '.length)) as PodRuntimeStatus;
      await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the first server' });
      // Not before the stubborn one ignores SIGTERM: under load its start can lag the host's report.
      const stubbornLog = join(sandbox.dataDir, 'pods', `default_reborn_${uid}`, 'stubborn', '0.log');
      await waitFor(() => existsSync(stubbornLog) && readFileSync(stubbornLog, 'utf8').includes('SIGTERM handler installed'), { what: 'the stubborn container to ignore SIGTERM' });
    } finally {
      host.kill('SIGKILL');
    }
    const runtime = sandbox.runtime();
    runtime.sync(pod, ip); // at once: the old processes still run, the old server still holds the port
    const status = await waitForStatus(runtime, uid, (s) => s.ready, 'running again');
    expect(isAlive(pidOf(old, 'web'))).to.equal(false);
    expect(isAlive(pidOf(old, 'stubborn'))).to.equal(false);
    expect(container(status, 'web').restartCount).to.equal(1);
    expect(container(status, 'web').lastState.terminated).to.include({ exitCode: 0, reason: 'Completed' });
    // It ignored SIGTERM, so its supervisor SIGKILLed it after the orphan grace period.
    expect(container(status, 'stubborn').lastState.terminated).to.include({ exitCode: 137, signal: 9, reason: 'Error' });
    await waitFor(() => httpGet(`http://${ip}:${port}/`).then((r) => r.status === 200), { what: 'the new server' });
    const containers = sandbox.processes().filter((p) => p.cmdline.includes('pod-program.js') || p.cmdline.includes('pod-server.js'));
    expect(containers.map((p) => p.pid).sort()).to.deep.equal([pidOf(status, 'web'), pidOf(status, 'stubborn')].sort()); // no duplicate
    const previous = await collect(runtime.logs(uid, 'web', { previous: true }));
    expect(previous).to.include(`listening on ${ip}:${port}`).and.include('SIGTERM: shutting down');
    expect(existsSync(join(sandbox.dataDir, 'pods', `default_reborn_${uid}`, 'web', '0.log'))).to.equal(true);
  });
});

/** Resolves with the first line of `stream` matching `pattern`. */
function waitForLine(stream: NodeJS.ReadableStream, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    lines.on('line', (line) => {
      if (!pattern.test(line)) return;
      clearTimeout(timer);
      resolve(line);
    });
  });
}

describe('Pod runtime rules', () => {
  it('backs off as kubelet: the first restart at once, then 10s doubling to 5m, from scratch after a 10-minute run', () => {
    const backoff = new CrashLoopBackOff({ initialMs: 10_000, maxMs: 300_000 });
    let now = 0;
    const delays: number[] = [];
    for (let crash = 0; crash < 8; crash++) {
      const finishedAt = now;
      if (backoff.isInBackOffSince('c', finishedAt, now)) {
        expect(backoff.isInBackOffSince('c', finishedAt, now + backoff.get('c') - 1)).to.equal(true);
        now += backoff.get('c');
        expect(backoff.isInBackOffSince('c', finishedAt, now)).to.equal(false);
      }
      backoff.next('c', finishedAt, now);
      delays.push(backoff.get('c') / 1000);
      now += 1000; // runs a second, then crashes again
    }
    expect(delays).to.deep.equal([10, 20, 40, 80, 160, 300, 300, 300]);
    now += 11 * 60_000; // a long, stable run
    expect(backoff.isInBackOffSince('c', now, now)).to.equal(false);
    backoff.next('c', now, now);
    expect(backoff.get('c')).to.equal(10_000);
  });

  it("words failed probes as kubelet does (Go's dial and client errors)", async () => {
    const port = await freePort('127.0.0.1');
    const target = { podIP: '127.0.0.1', ports: [], exec: () => Promise.reject(new Error('no exec')) };
    const tcp = await runAction({ tcpSocket: { port } }, target, 1000, systemClock);
    expect(tcp).to.deep.equal({ success: false, output: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
    const http = await runAction({ httpGet: { port, path: '/healthz' } }, target, 1000, systemClock);
    expect(http).to.deep.equal({ success: false, output: `Get "http://127.0.0.1:${port}/healthz": dial tcp 127.0.0.1:${port}: connect: connection refused` });
    // A server that accepts and never answers: the probe's timeout, as Go's http.Client says it.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const silentPort = (silent.address() as { port: number }).port;
      const slow = await runAction({ httpGet: { port: silentPort } }, target, 200, systemClock);
      expect(slow).to.deep.equal({ success: false, output: `Get "http://127.0.0.1:${silentPort}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('formats durations as Go does', () => {
    expect([10_000, 20_000, 80_000, 160_000, 300_000, 1500, 250, 3_600_000].map(formatGoDuration)).to.deep.equal(['10s', '20s', '1m20s', '2m40s', '5m0s', '1.5s', '250ms', '1h0m0s']);
  });

  it('expands $(VAR) references as kubelet does', () => {
    const lookup = (name: string) => ({ A: 'a', B: 'b' })[name];
    expect(expandVariables('$(A)-$(B)', lookup)).to.equal('a-b');
    expect(expandVariables('$$(A) $(C) $(A', lookup)).to.equal('$(A) $(C) $(A');
    expect(expandVariables('cost: $5 and $', lookup)).to.equal('cost: $5 and $');
  });

  it('computes kubelet’s phase', () => {
    const pod = (restartPolicy: string, init = false): Pod => makePod('p', { restartPolicy, containers: [{ name: 'c' }], ...(init ? { initContainers: [{ name: 'i' }] } : {}) });
    const view = (name: string, state: ContainerStatusView['state'], last: ContainerStatusView['lastState'] = {}): ContainerStatusView =>
      ({ name, ready: false, started: false, restartCount: 0, image: '', imageID: '', state, lastState: last });
    const running = { running: { startedAt: '2026-01-01T00:00:00Z' } };
    const exited = (exitCode: number) => ({ terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', finishedAt: '2026-01-01T00:00:01Z' } });
    const backingOff = { waiting: { reason: 'CrashLoopBackOff' } };
    expect(computePhase(pod('Always'), [], [view('c', { waiting: { reason: 'ContainerCreating' } })], false, false)).to.equal('Pending');
    expect(computePhase(pod('Always'), [], [view('c', running)], false, true)).to.equal('Running');
    expect(computePhase(pod('Always'), [], [view('c', backingOff, exited(1))], false, true)).to.equal('Running');
    expect(computePhase(pod('OnFailure'), [], [view('c', exited(0))], false, true)).to.equal('Succeeded');
    expect(computePhase(pod('OnFailure'), [], [view('c', backingOff, exited(1))], false, true)).to.equal('Running');
    expect(computePhase(pod('Never'), [], [view('c', exited(1))], false, true)).to.equal('Failed');
    expect(computePhase(pod('Always'), [], [view('c', exited(0))], true, true)).to.equal('Succeeded');
    expect(computePhase(pod('Always', true), [view('i', running)], [view('c', { waiting: { reason: 'PodInitializing' } })], false, false)).to.equal('Pending');
    expect(computePhase(pod('Never', true), [view('i', exited(2))], [view('c', { waiting: { reason: 'PodInitializing' } })], false, false)).to.equal('Failed');
  });

  it('resolves envFrom, env, the downward API, resources and Service variables through a Client', async () => {
    const client = await memoryClient();
    try {
      await client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1', mode: 'fast' } });
      await client.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, data: { password: Buffer.from('s3cret').toString('base64') } });
      const service = await client.create<Service>({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web-api', namespace: 'default' },
        spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090, protocol: 'UDP' }] },
      });
      const ip = service.spec!.clusterIP!;
      const pod = makePod('env', {
        nodeName: 'n1',
        containers: [
          {
            name: 'c',
            resources: { limits: { memory: '64Mi' }, requests: { cpu: '250m' } },
            envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'absent', optional: true } }],
            env: [
              { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'OPTIONAL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } },
              { name: 'COMBINED', value: '$(CFG_a)/$(MODE)/$(WEB_API_SERVICE_HOST)' },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'MEMORY_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'CPU_REQUEST_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
              { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
            ],
          },
        ],
      }, { app: 'shop' });
      const env = await new ClientEnvResolver(client, { nodeAllocatable: { cpu: '2', memory: '8Gi' } }).resolve(pod, 'c', '127.64.0.9');
      expect(env).to.deep.include({
        POD_IP: '127.64.0.9',
        CFG_a: '1',
        CFG_mode: 'fast',
        MODE: 'fast',
        PASSWORD: 's3cret',
        COMBINED: `1/fast/${ip}`,
        NODE: 'n1',
        APP: 'shop',
        MEMORY_MI: '64',
        CPU_REQUEST_M: '250',
        CPU_LIMIT: '2',
        WEB_API_SERVICE_HOST: ip,
        WEB_API_SERVICE_PORT: '80',
        WEB_API_SERVICE_PORT_HTTP: '80',
        WEB_API_SERVICE_PORT_METRICS: '9090',
        WEB_API_PORT: `tcp://${ip}:80`,
        WEB_API_PORT_80_TCP: `tcp://${ip}:80`,
        WEB_API_PORT_80_TCP_PROTO: 'tcp',
        WEB_API_PORT_80_TCP_PORT: '80',
        WEB_API_PORT_80_TCP_ADDR: ip,
        WEB_API_PORT_9090_UDP: `udp://${ip}:9090`,
      });
      expect(env).to.not.have.property('OPTIONAL');
      const noLinks = { ...pod, spec: { ...pod.spec!, enableServiceLinks: false } };
      expect(await new ClientEnvResolver(client).resolve(noLinks, 'c', '127.64.0.9')).to.not.have.property('WEB_API_SERVICE_HOST');
      const missingKey = { ...pod, spec: { ...pod.spec!, containers: [{ name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } }] }] } };
      try {
        await new ClientEnvResolver(client).resolve(missingKey, 'c', '127.64.0.9');
        expect.fail('resolved a missing key');
      } catch (err) {
        expect((err as Error).message).to.equal("couldn't find key user in Secret default/creds");
      }
    } finally {
      await client.close();
    }
  });
});
