/**
 * A whole keelson cluster for end-to-end tests: `keelson up` as a child process (temp data dir,
 * free ports, run from the repository's root so pods can run `node dist/examples/…`), node
 * agents as separate `keelson node` processes when a test must kill one, the real kubectl, a
 * client over the kubeconfig — and a scan of /proc for processes a test left behind.
 */
import { expect } from 'chai';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '../../lib/client/client.js';
import { connect } from '../../lib/client/connect.js';
import { runProcess, startProcess, type ProcessRun, type StartedProcess } from './process.js';
import { waitFor } from './wait.js';

/** The compiled tree (`dist/`) and the repository's root. */
export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROOT = join(DIST, '..');
/** The kubectl the tests drive (≥ 1.32). */
export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

/** What a kubectl run printed. */
export type KubectlRun = ProcessRun;

/** Fails loudly unless kubectl ≥ 1.32 is installed. */
export function requireKubectl(): void {
  const version = execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  const minor = Number((JSON.parse(version) as { clientVersion: { minor: string } }).clientVersion.minor.replace(/\D/g, ''));
  expect(minor, `kubectl ≥ 1.32 is required (found ${version})`).to.be.at.least(32);
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopProcess(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts a keelson subcommand from the repository's root, collecting its output. */
function startKeelson(args: string[]): StartedProcess {
  return startProcess(process.execPath, [join(DIST, 'bin/keelson.js'), ...args], { cwd: ROOT });
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** In-process node agents of `keelson up` (default 3). */
  nodes?: number;
  /** More flags for `keelson up`. */
  args?: string[];
}

/** A running `keelson up` and the means to drive it. */
export class TestCluster {
  /** Everything under here is removed by {@link stop}. */
  readonly dir: string;
  readonly dataDir: string;
  readonly kubeconfig: string;
  /** The API server's bearer token file (agents require it too). */
  readonly tokenFile: string;
  /** A client over the kubeconfig (HTTPS, as any controller would use it). */
  client!: Client;
  private up!: StartedProcess;
  private readonly nodes = new Map<string, StartedProcess>();

  /**
   * The pod and Service ranges of this cluster: a random /16 of keelson's defaults each, so that
   * clusters started at the same time on this machine (by parallel runs) do not hand out the same
   * pod IPs or clusterIPs.
   */
  readonly networks = {
    clusterCIDR: `127.${64 + Math.floor(Math.random() * 32)}.0.0/16`,
    serviceRange: `127.${96 + Math.floor(Math.random() * 16)}.0.0/16`,
  };

  private constructor(readonly options: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'keelson-e2e-'));
    this.dataDir = join(this.dir, 'data');
    this.kubeconfig = join(this.dataDir, 'kubeconfig');
    this.tokenFile = join(this.dataDir, 'pki', 'token');
  }

  /** Starts `keelson up` and waits for its kubeconfig. */
  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const cluster = new TestCluster(options);
    try {
      await cluster.startUp();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async startUp(): Promise<void> {
    this.up = startKeelson([
      'up', '--data-dir', this.dataDir, '--port', '0', '--metrics-port', '0', '--kubelet-port', '0',
      '--nodes', String(this.options.nodes ?? 3), '--log-level', 'warn',
      '--cluster-cidr', this.networks.clusterCIDR, '--service-cluster-ip-range', this.networks.serviceRange,
      ...(this.options.args ?? []),
    ]);
    await waitFor(() => this.up.output().includes('keelson is up') && existsSync(this.kubeconfig), { timeoutMs: 30_000, what: 'keelson up to start' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.up.output()}`);
    });
    this.client = await connect({ kubeconfig: this.kubeconfig });
  }

  /**
   * Stops `keelson up` with `signal` and starts it again over the same data dir (the node
   * agents in other processes stay); resolves with the stopped process's exit code.
   */
  async restart(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    const { child } = this.up;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    await this.client.close();
    await this.startUp();
    return code;
  }

  /** The process id of `keelson up`. */
  get upPid(): number {
    return this.up.child.pid!;
  }

  /** What `keelson up` printed so far. */
  get output(): string {
    return this.up.output();
  }

  /** Starts a node agent as a `keelson node` process of its own and waits until it joined. */
  async startNode(name: string, address?: string): Promise<ChildProcess> {
    if (!existsSync(this.tokenFile)) throw new Error(`no token file at ${this.tokenFile}`);
    const node = startKeelson([
      'node', '--name', name, '--kubeconfig', this.kubeconfig, '--token-file', this.tokenFile, '--port', '0',
      '--data-dir', join(this.dataDir, 'nodes', name), '--log-level', 'warn', ...(address ? ['--address', address] : []),
    ]);
    this.nodes.set(name, node);
    await waitFor(() => node.output().includes(`node ${name} joined`) || node.child.exitCode !== null, { timeoutMs: 30_000, what: `node ${name} to join` });
    if (node.child.exitCode !== null) throw new Error(`keelson node ${name} exited ${node.child.exitCode}:\n${node.output()}`);
    return node.child;
  }

  /** The `keelson node` process of `name`. */
  nodeProcess(name: string): ChildProcess | undefined {
    return this.nodes.get(name)?.child;
  }

  /** kubectl's command line against the cluster (`kubeconfig` instead of the cluster's), and its environment (temp HOME). */
  private kubectlCommand(args: string[], kubeconfig = this.kubeconfig): { args: string[]; env: NodeJS.ProcessEnv } {
    return {
      args: ['--kubeconfig', kubeconfig, '--cache-dir', join(this.dir, 'kubectl-cache'), '--request-timeout', '20s', ...args],
      env: { ...process.env, HOME: this.dir, KUBECONFIG: '' },
    };
  }

  /** Runs kubectl against the cluster (or with another `kubeconfig`) to its end. */
  kubectl(args: string[], input = '', kubeconfig?: string): Promise<KubectlRun> {
    const command = this.kubectlCommand(args, kubeconfig);
    return runProcess(KUBECTL, command.args, { env: command.env, input, timeoutMs: 60_000 });
  }

  /** Starts a kubectl that keeps running (`get -w`, `logs -f`); the caller kills it. */
  startKubectl(args: string[]): StartedProcess {
    const command = this.kubectlCommand(args);
    return startProcess(KUBECTL, command.args, { env: command.env });
  }

  /** Runs kubectl and expects success; returns its stdout. */
  async ok(args: string[], input?: string): Promise<string> {
    const run = await this.kubectl(args, input);
    expect(run.code, `kubectl ${args.join(' ')}\n${run.stdout}\n${run.stderr}`).to.equal(0);
    return run.stdout;
  }

  /**
   * Stops the node processes and `keelson up`, asserts that no process of the cluster is left
   * (supervisors carry the data dir in their command lines), then removes the temp dir.
   */
  async stop(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    await Promise.all([...this.nodes.values()].map((node) => stopProcess(node.child)));
    await stopProcess(this.up?.child, 20_000);
    try {
      await expectNoProcessesMentioning(this.dir);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Whether process `pid` exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child processes of `pid` whose command name is `name` (from /proc). */
export function childrenNamed(pid: number, name: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === name && ppid === pid) found.push(Number(entry));
    } catch {
      // It exited meanwhile.
    }
  }
  return found;
}

/** A process found by {@link processesMentioning}. */
export interface FoundProcess {
  pid: number;
  command: string;
  /** Its environment (`NAME=value` entries). */
  environ: string[];
}

/**
 * The live processes whose command line or environment contains `marker` (this user's: the
 * others' environments are unreadable). Pod processes carry the marker in their environment
 * when the test puts it in the pod spec; supervisors carry the data dir in their command line.
 */
export function processesMentioning(marker: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (command === '') continue; // a zombie or a kernel thread
      let environ: string[] = [];
      try {
        environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      } catch {
        // not ours
      }
      if (command.includes(marker) || environ.some((v) => v.includes(marker))) found.push({ pid: Number(entry), command, environ });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Waits until no process mentions `marker` (processes may take the orphan grace to go). */
export async function expectNoProcessesMentioning(marker: string, timeoutMs = 15_000): Promise<void> {
  let left: FoundProcess[] = [];
  await waitFor(() => (left = processesMentioning(marker)).length === 0, { timeoutMs, intervalMs: 100, what: `no process mentioning ${marker}` }).catch(() => {
    throw new Error(`processes left behind:\n${left.map((p) => `  ${p.pid} ${p.command}`).join('\n')}`);
  });
}
