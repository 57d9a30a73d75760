/**
 * VIP failover for real (root): network namespaces for three hosts, a client and the control
 * plane on a bridge (test/harness/netns.ts); `keelson up --nodes 0` in its namespace, serving
 * on its bridge address; a `keelson node` agent in each host namespace joining through that
 * address, heartbeating on its own; a VirtualIP with the `arp` announcer. A client connects to
 * the VIP every 50 ms while the holder dies — its agent SIGKILLed with its link down (host
 * death), then SIGKILLed alone (process death, link up, the kernel keeping the address unless
 * the guard removes it) — and every 50 ms each host is asked whether it holds the address.
 *
 * Goal: an unreachable gap ≤ 0.4 s at 100 ms heartbeats; asserted: ≤ 1 s, and never two holders.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { CONTROL_PLANE_ADDRESS, formatFailover, ip, isRoot, LAB_VIP, runFailover, sweepLabs, VipLab, type FailoverResult, type LabHost } from '../harness/netns.js';
import { waitFor } from '../harness/wait.js';

const KEELSON = fileURLToPath(new URL('../../bin/keelson.js', import.meta.url));
const LIB = new URL('../../lib/index.js', import.meta.url).href;
const GAP_BOUND_MS = 1000;

describe('VIP failover in network namespaces (arp announcer, root)', function () {
  this.timeout(120_000);
  let lab: VipLab | undefined;
  let dir: string | undefined;
  const agents = new Map<string, { child: ChildProcess; output: () => string }>();
  const results: FailoverResult[] = [];
  let controlPlane: { child: ChildProcess; output: () => string } | undefined;

  /** Runs a small program against the API server from inside the control plane's namespace. */
  async function inControlPlane(body: string, ...args: string[]): Promise<string> {
    const script = `const { connect } = await import(${JSON.stringify(LIB)}); const client = await connect({ kubeconfig: process.argv[1] }); try { ${body} } finally { await client.close(); }`;
    const run = lab!.exec(lab!.controlPlaneNs, process.execPath, ['--input-type=module', '-e', script, join(dir!, 'data', 'kubeconfig'), ...args]);
    const code = await new Promise<number | null>((resolve) => run.child.once('exit', resolve));
    if (code !== 0) throw new Error(`program in the control plane's namespace failed (${code}): ${run.output()}`);
    return run.output();
  }

  before(async () => {
    if (!isRoot()) throw new Error('the VIP failover e2e test needs root (network namespaces); run the suite as root');
    await sweepLabs();
    lab = await VipLab.create({ hosts: 3 });
    dir = mkdtempSync(join(tmpdir(), 'keelson-vip-'));
    const dataDir = join(dir, 'data');
    controlPlane = lab.exec(lab.controlPlaneNs, process.execPath, [
      KEELSON, 'up', '--data-dir', dataDir, '--nodes', '0', '--bind-address', CONTROL_PLANE_ADDRESS, '--port', '6443', '--metrics-port', '0', '--log-level', 'warn',
    ]);
    await waitFor(() => controlPlane!.output().includes('keelson is up') && existsSync(join(dataDir, 'kubeconfig')), { timeoutMs: 30_000, what: 'keelson up' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${controlPlane!.output()}`);
    });
    for (const host of lab.hosts) {
      const agent = lab.exec(host.ns, process.execPath, [
        KEELSON, 'node', '--name', host.name, '--kubeconfig', join(dataDir, 'kubeconfig'), '--token-file', join(dataDir, 'pki', 'token'),
        '--port', '0', '--data-dir', join(dir, 'nodes', host.name), '--vip-heartbeat-address', host.address, '--log-level', 'warn',
      ]);
      agents.set(host.name, agent);
      await waitFor(() => agent.output().includes(`node ${host.name} joined`), { timeoutMs: 30_000, what: `agent ${host.name} to join` }).catch((err: Error) => {
        throw new Error(`${err.message}\n${agent.output()}`);
      });
    }
    lab.startNameServers();
    const vip = { apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP', metadata: { name: 'lab' }, spec: { address: LAB_VIP, announcer: 'arp' } };
    await inControlPlane('await client.create(JSON.parse(process.argv[2]));', JSON.stringify(vip));
  });

  after(async () => {
    for (const r of results) console.log(`      ${formatFailover(r)}`);
    const namespaces = lab?.namespaces ?? [];
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    const left = (await ip(['netns', 'list'])).split('\n').filter((line) => namespaces.some((ns) => line.startsWith(`${ns} `) || line === ns));
    expect(left, 'namespaces left behind').to.deep.equal([]);
  });

  /** SIGKILLs the agent of `host` and waits until it is gone. */
  async function killAgent(host: LabHost): Promise<void> {
    const agent = agents.get(host.name)!;
    const exited = new Promise((resolve) => agent.child.once('exit', resolve));
    agent.child.kill('SIGKILL');
    await exited;
  }

  it('host death (agent SIGKILLed, link down): another host serves within 1 s, never two at once', async () => {
    const result = await runFailover(lab!, {
      scenario: 'host death (SIGKILL + link down)',
      kill: async (victim) => {
        await lab!.cutLink(victim);
        await killAgent(victim);
      },
    });
    results.push(result);
    expect(result.dualHolderSamples, formatFailover(result)).to.equal(0);
    expect(result.gapMs, formatFailover(result)).to.be.at.most(GAP_BOUND_MS);
  });

  it('process death (agent SIGKILLed, link up): its guard removes the address, another host serves within 1 s, never two at once', async () => {
    let victimHost: LabHost | undefined;
    const result = await runFailover(lab!, {
      scenario: 'process death (SIGKILL, link up)',
      kill: async (victim) => {
        victimHost = victim;
        await killAgent(victim);
      },
    });
    results.push(result);
    expect(result.dualHolderSamples, formatFailover(result)).to.equal(0);
    expect(result.gapMs, formatFailover(result)).to.be.at.most(GAP_BOUND_MS);
    // The address did not outlive the agent, though the link stayed up.
    expect(await lab!.holds(victimHost!, LAB_VIP)).to.equal(false);
    const status = await inControlPlane(`const v = await client.get({ apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP' }, 'lab'); process.stdout.write(JSON.stringify(v.status));`);
    const parsed = JSON.parse(status) as { holder?: string; transitions?: number };
    expect(parsed.holder).to.equal(result.successor);
    expect(parsed.transitions).to.be.at.least(3);
  });
});

describe('VIP address guard in a network namespace (root)', function () {
  this.timeout(60_000);
  let lab: VipLab | undefined;
  const GUARD = new URL('../../controllers/vip-failover/index.js', import.meta.url).href;

  before(async () => {
    if (!isRoot()) throw new Error('the address guard test needs root (network namespaces); run the suite as root');
    lab = await VipLab.create({ hosts: 1 });
  });

  after(async () => {
    await lab?.destroy();
  });

  /** Starts an "agent" in the host namespace that has its guard add the VIP for `holdForMs`, then idles. */
  function agentWithGuard(holdForMs: number): { child: ChildProcess; output: () => string } {
    const script = `const { AddressGuard } = await import(${JSON.stringify(GUARD)}); const g = new AddressGuard(); await g.add(process.argv[1], 24, 'eth0', 1, Number(process.argv[2]), 2); console.log('added'); setInterval(() => {}, 1000);`;
    return lab!.exec(lab!.hosts[0]!.ns, process.execPath, ['--input-type=module', '-e', script, LAB_VIP, String(holdForMs)]);
  }

  it('removes the address when its agent is SIGKILLed, though the link stays up', async () => {
    const host = lab!.hosts[0]!;
    const agent = agentWithGuard(60_000);
    await waitFor(() => agent.output().includes('added'), { timeoutMs: 10_000, what: 'the address to be added' });
    expect(await lab!.holds(host, LAB_VIP)).to.equal(true);
    const killedAt = Date.now();
    agent.child.kill('SIGKILL');
    await waitFor(async () => !(await lab!.holds(host, LAB_VIP)), { timeoutMs: 2000, what: 'the guard to remove the address' });
    console.log(`      address removed ${Date.now() - killedAt} ms after the SIGKILL`);
  });

  it('removes the address when the agent stops extending its hold (a stalled agent)', async () => {
    const host = lab!.hosts[0]!;
    const agent = agentWithGuard(300);
    await waitFor(() => agent.output().includes('added'), { timeoutMs: 10_000, what: 'the address to be added' });
    await waitFor(async () => !(await lab!.holds(host, LAB_VIP)), { timeoutMs: 2000, what: 'the hold to run out' });
    expect(agent.child.exitCode).to.equal(null); // the agent lives on; only its right ran out
    agent.child.kill('SIGKILL');
  });
});
