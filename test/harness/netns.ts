/**
 * A small network of Linux network namespaces for VIP failover (root only), and the failover
 * scenario runner that measures it — shared by the e2e test and the benchmark (`bench/vip`,
 * which runs the same scenarios with keepalived).
 *
 * The lab: a bridge in its own namespace, and one namespace per role on it through a veth
 * (`eth0` inside, named after the role on the bridge side): the control plane (`.2`), a client
 * (`.3`) and hosts `h1`…`hN` (`.11`…) on 198.51.100.0/24 (TEST-NET-2: never routed). Every
 * namespace is named `<prefix>-<run id>-<role>`, so {@link sweepLabs} finds what a crashed run
 * left behind, and {@link VipLab.destroy} removes everything — the processes inside first.
 *
 * The scenario ({@link runFailover}): a client process connects to the VIP every 50 ms (each
 * host runs a tiny TCP server that answers its name), and a sampler asks every 50 ms every host
 * namespace whether it holds the address (configured on a link that is up). The caller kills
 * the holder its own way; the runner reports the unreachable gap — from the client's last
 * answer before the outage to its first answer after it — and the samples in which two hosts
 * held the address at once.
 *
 * For the comparison in `bench/vip`: {@link KeepalivedVrrp} runs keepalived (VRRP) on the lab's
 * hosts instead of keelson agents, and {@link restoreLink} / {@link dropAddress} reset a host
 * between runs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { waitFor } from './wait.js';

/** The prefix of every namespace a lab creates. */
export const NETNS_PREFIX = 'kvip';
/** The lab's subnet (TEST-NET-2) and its addresses. */
export const LAB_SUBNET = '198.51.100';
/** The control plane's address on the bridge. */
export const CONTROL_PLANE_ADDRESS = `${LAB_SUBNET}.2`;
/** The client's address on the bridge. */
export const CLIENT_ADDRESS = `${LAB_SUBNET}.3`;
/** The VIP the scenarios use. */
export const LAB_VIP = `${LAB_SUBNET}.100`;
/** The port of the hosts' name servers. */
export const NAME_SERVER_PORT = 8080;

/** Runs `ip args…`; rejects with its stderr. */
export function ip(args: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** True when this process may create namespaces (root). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Kills every process in namespace `ns` (SIGKILL) and deletes it; never rejects. */
async function removeNamespace(ns: string): Promise<void> {
  const pids = await ip(['netns', 'pids', ns]).catch(() => '');
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await ip(['netns', 'del', ns]).catch(() => undefined);
}

/** Removes every namespace named `<prefix>-…` (what earlier runs left behind). Returns their names. */
export async function sweepLabs(prefix = NETNS_PREFIX): Promise<string[]> {
  const listed = await ip(['netns', 'list']);
  const names = listed.split('\n').map((line) => line.split(' ')[0]!).filter((name) => name.startsWith(`${prefix}-`));
  await Promise.all(names.map(removeNamespace));
  return names;
}

/** One host of the lab. */
export interface LabHost {
  /** `h1`, `h2`, … */
  name: string;
  /** Its namespace. */
  ns: string;
  /** Its address on the bridge. */
  address: string;
  /** Its veth's name on the bridge side (in the bridge namespace). */
  bridgePort: string;
}

/** Options of {@link createLab}. */
export interface LabOptions {
  /** How many hosts (default 3, at most 80). */
  hosts?: number;
  /** Default {@link NETNS_PREFIX}. */
  prefix?: string;
}

/** A lab of namespaces on a bridge (see the file header). */
export class VipLab {
  /** Processes started in the lab (stopped by {@link destroy}). */
  private readonly processes = new Set<ChildProcess>();

  private constructor(
    readonly id: string,
    readonly prefix: string,
    readonly bridgeNs: string,
    readonly controlPlaneNs: string,
    readonly clientNs: string,
    readonly hosts: readonly LabHost[],
  ) {}

  /** Every namespace of the lab. */
  get namespaces(): string[] {
    return [this.bridgeNs, this.controlPlaneNs, this.clientNs, ...this.hosts.map((h) => h.ns)];
  }

  /** The host named `name`. */
  host(name: string): LabHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no host ${name} in the lab`);
    return host;
  }

  /** Builds the lab; on failure removes what it made. */
  static async create(options: LabOptions = {}): Promise<VipLab> {
    const prefix = options.prefix ?? NETNS_PREFIX;
    const count = options.hosts ?? 3;
    if (count < 1 || count > 80) throw new RangeError('a lab has 1 to 80 hosts');
    const id = Math.random().toString(16).slice(2, 8);
    const ns = (role: string) => `${prefix}-${id}-${role}`;
    const hosts = Array.from({ length: count }, (_, i) => ({ name: `h${i + 1}`, ns: ns(`h${i + 1}`), address: `${LAB_SUBNET}.${11 + i}`, bridgePort: `h${i + 1}` }));
    const lab = new VipLab(id, prefix, ns('br'), ns('cp'), ns('client'), hosts);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    for (const name of this.namespaces) await ip(['netns', 'add', name]);
    await ip(['-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
    const members = [
      { ns: this.controlPlaneNs, port: 'cp', address: CONTROL_PLANE_ADDRESS },
      { ns: this.clientNs, port: 'client', address: CLIENT_ADDRESS },
      ...this.hosts.map((h) => ({ ns: h.ns, port: h.bridgePort, address: h.address })),
    ];
    for (const m of members) {
      await ip(['-n', this.bridgeNs, 'link', 'add', m.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.ns]);
      await ip(['-n', this.bridgeNs, 'link', 'set', m.port, 'master', 'br0', 'up']);
      await ip(['-n', m.ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', m.ns, 'addr', 'add', `${m.address}/24`, 'dev', 'eth0']);
      await ip(['-n', m.ns, 'link', 'set', 'eth0', 'up']);
    }
  }

  /**
   * Starts `command args` inside namespace `ns` (through `ip netns exec`), collecting its
   * output. It is killed by {@link destroy} if still running.
   */
  exec(ns: string, command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { child: ChildProcess; output: () => string } {
    let output = '';
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env: options.env ?? process.env, ...(options.cwd ? { cwd: options.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    this.processes.add(child);
    child.once('exit', () => this.processes.delete(child));
    return { child, output: () => output };
  }

  /** Starts a TCP server in every host namespace that answers each connection with the host's name. */
  startNameServers(port = NAME_SERVER_PORT): void {
    const script = `require('node:net').createServer((s) => { s.on('error', () => {}); s.end(process.argv[1] + '\\n'); }).listen(${port}, '0.0.0.0');`;
    for (const host of this.hosts) this.exec(host.ns, process.execPath, ['-e', script, host.name]);
  }

  /** Whether `host` holds `address`: configured on its `eth0`, and the link is up. */
  async holds(host: LabHost, address: string): Promise<boolean> {
    return holdsIn(await ip(['-n', host.ns, '-j', '-4', 'addr', 'show', 'dev', 'eth0'], 2000), address);
  }

  /**
   * A fast {@link holds} for sampling: one long-running `ip -j -batch -` in the host's
   * namespace answers each question (a process start costs tens of milliseconds here).
   */
  addressQuery(host: LabHost): (address: string) => Promise<boolean> {
    let child: ChildProcess | undefined;
    let buffer = '';
    let waiting: ((line: string) => void) | undefined;
    const start = () => {
      const c = spawn('ip', ['-n', host.ns, '-j', '-4', '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'ignore'] });
      this.processes.add(c);
      c.once('exit', () => {
        this.processes.delete(c);
        if (child === c) child = undefined;
      });
      c.stdin!.on('error', () => undefined);
      c.stdout!.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const w = waiting;
          waiting = undefined;
          w?.(line);
        }
      });
      return c;
    };
    return async (address) => {
      child ??= start();
      const c = child;
      let timer: NodeJS.Timeout | undefined;
      const line = await new Promise<string | undefined>((resolve) => {
        waiting = resolve;
        timer = setTimeout(() => resolve(undefined), 1000);
        c.stdin!.write('addr show dev eth0\n');
      });
      clearTimeout(timer);
      if (line === undefined) {
        // Out of step (an error printed nothing): start over.
        waiting = undefined;
        c.kill('SIGKILL');
        if (child === c) child = undefined;
        return false;
      }
      return holdsIn(line, address);
    };
  }

  /** Host death: its link goes down (both ends), then `kill` ends its processes. */
  async cutLink(host: LabHost): Promise<void> {
    await Promise.all([ip(['-n', host.ns, 'link', 'set', 'eth0', 'down']), ip(['-n', this.bridgeNs, 'link', 'set', host.bridgePort, 'down'])]);
  }

  /** Kills every process started in the lab, then removes every namespace (and with them the veths and the bridge). */
  async destroy(): Promise<void> {
    for (const child of this.processes) child.kill('SIGKILL');
    this.processes.clear();
    await Promise.all(this.namespaces.map(removeNamespace));
  }
}

/** Whether `ip -j addr show` output lists `address` on a link that is up. */
function holdsIn(json: string, address: string): boolean {
  let links: Array<{ flags?: string[]; addr_info?: Array<{ local?: string }> }>;
  try {
    links = JSON.parse(json || '[]') as typeof links;
  } catch {
    return false;
  }
  return links.some((l) => !!l.flags?.includes('UP') && !!l.flags.includes('LOWER_UP') && !!l.addr_info?.some((a) => a.local === address));
}

/** One client attempt: when it started, and who answered (undefined: no answer). */
export interface Probe {
  atMs: number;
  who: string | undefined;
}

/**
 * A client in the lab's client namespace connecting to `address:port` every `intervalMs`
 * (each attempt given 90% of the interval), at most `maxAttempts` times.
 */
export class Prober {
  readonly probes: Probe[] = [];
  private readonly process: { child: ChildProcess };
  private buffer = '';

  constructor(lab: VipLab, address: string, options: { port?: number; intervalMs?: number; maxAttempts?: number } = {}) {
    const interval = options.intervalMs ?? 50;
    const script = `
      const net = require('node:net');
      const [host, port, interval, max] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
      let n = 0;
      const timer = setInterval(() => {
        if (++n > max) { clearInterval(timer); return; }
        const at = Date.now();
        let who = '', done = false;
        const s = net.connect({ host, port });
        const finish = (ok) => { if (done) return; done = true; clearTimeout(t); s.destroy(); process.stdout.write(at + ' ' + (ok && who.trim() ? who.trim() : '-') + '\\n'); };
        const t = setTimeout(() => finish(false), Math.floor(interval * 0.9));
        s.on('data', (d) => (who += d));
        s.on('end', () => finish(true));
        s.on('error', () => finish(false));
      }, interval);`;
    this.process = lab.exec(lab.clientNs, process.execPath, ['-e', script, address, String(options.port ?? NAME_SERVER_PORT), String(interval), String(options.maxAttempts ?? 12_000)]);
    this.process.child.stdout!.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop()!;
      for (const line of lines) {
        const [at, who] = line.trim().split(' ');
        if (at) this.probes.push({ atMs: Number(at), who: who && who !== '-' ? who : undefined });
      }
    });
  }

  /** Stops the client. */
  stop(): void {
    this.process.child.kill('SIGKILL');
  }
}

/** One sample: when, and which hosts held the address. */
export interface HolderSample {
  atMs: number;
  holders: string[];
}

/** Asks every host whether it holds `address`, every `intervalMs`, at most `maxSamples` times. */
export class HolderSampler {
  readonly samples: HolderSample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly queries: ((address: string) => Promise<boolean>)[];
  private busy = false;

  constructor(
    private readonly lab: VipLab,
    private readonly address: string,
    options: { intervalMs?: number; maxSamples?: number } = {},
  ) {
    const max = options.maxSamples ?? 12_000;
    this.queries = lab.hosts.map((h) => lab.addressQuery(h));
    this.timer = setInterval(() => {
      if (this.busy) return;
      if (this.samples.length >= max) return this.stop();
      this.busy = true;
      void this.sample().finally(() => (this.busy = false));
    }, options.intervalMs ?? 50);
  }

  /** The hosts holding the address in the latest sample. */
  get current(): string[] {
    return this.samples.at(-1)?.holders ?? [];
  }

  private async sample(): Promise<void> {
    const atMs = Date.now();
    const holds = await Promise.all(this.queries.map((query) => query(this.address).catch(() => false)));
    this.samples.push({ atMs, holders: this.lab.hosts.filter((_, i) => holds[i]).map((h) => h.name) });
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.timer);
  }
}

/** What one failover scenario measured. */
export interface FailoverResult {
  scenario: string;
  /** The host that held the address and was killed. */
  victim: string;
  /** The host that answered after. */
  successor: string;
  /** From the client's last answer before the outage to its first answer after it (ms). */
  gapMs: number;
  /** Samples in which two or more hosts held the address. */
  dualHolderSamples: number;
  samples: number;
  probes: number;
  failedProbes: number;
}

/** Options of {@link runFailover}. */
export interface FailoverOptions {
  /** A name for the report. */
  scenario: string;
  /** Kills the holder, the caller's way (a keelson agent, keepalived, with or without its link). */
  kill: (victim: LabHost) => Promise<void>;
  address?: string;
  /** How long to measure after the kill, at most (default 15 s). */
  timeoutMs?: number;
  /** Samples to keep taking after the successor answered (default 20, one second at 50 ms). */
  settleSamples?: number;
  /** How long to wait for a holder that answers five probes in a row (default 45 s). */
  steadyTimeoutMs?: number;
}

/**
 * Runs one failover: waits for a steady holder that answers, kills it, waits for another host
 * to answer, keeps sampling a while, and reports the gap and the dual-holder samples.
 */
export async function runFailover(lab: VipLab, options: FailoverOptions): Promise<FailoverResult> {
  const address = options.address ?? LAB_VIP;
  const prober = new Prober(lab, address);
  const sampler = new HolderSampler(lab, address);
  try {
    // Steady: five answers in a row from the one host that holds the address.
    const victimName = await waitFor(
      () => {
        const last = prober.probes.slice(-5);
        const who = last[0]?.who;
        return last.length === 5 && who && last.every((p) => p.who === who) && sampler.current.length === 1 && sampler.current[0] === who ? who : undefined;
      },
      // Generous: on a loaded machine (2 cores) slow renewals make early holders fence themselves.
      { timeoutMs: options.steadyTimeoutMs ?? 45_000, what: `a steady holder of ${address}` },
    );
    const killAt = Date.now();
    await options.kill(lab.host(victimName));
    const after = (p: Probe) => p.atMs >= killAt;
    const successor = await waitFor(() => prober.probes.find((p) => after(p) && p.who && p.who !== victimName)?.who, { timeoutMs: options.timeoutMs ?? 15_000, what: `another host to answer on ${address} after ${victimName} died` });
    const settled = sampler.samples.length + (options.settleSamples ?? 20);
    await waitFor(() => sampler.samples.length >= settled, { timeoutMs: 10_000, what: 'the settle samples' });
    const probes = prober.probes;
    const firstAfter = probes.findIndex((p) => after(p) && p.who === successor);
    const lastBefore = probes.slice(0, firstAfter).findLastIndex((p) => p.who === victimName);
    const gapMs = probes[firstAfter]!.atMs - probes[Math.max(0, lastBefore)]!.atMs;
    const duals = sampler.samples.filter((s) => s.holders.length > 1);
    return {
      scenario: options.scenario,
      victim: victimName,
      successor,
      gapMs,
      dualHolderSamples: duals.length,
      samples: sampler.samples.length,
      probes: probes.length,
      failedProbes: probes.filter((p) => !p.who).length,
    };
  } finally {
    prober.stop();
    sampler.stop();
  }
}

/** One line for a report: `host death: h1 → h2, gap 270 ms, 0 dual-holder samples of 84`. */
export function formatFailover(r: FailoverResult): string {
  return `${r.scenario}: ${r.victim} → ${r.successor}, gap ${r.gapMs} ms, ${r.dualHolderSamples} dual-holder samples of ${r.samples} (${r.failedProbes}/${r.probes} probes failed)`;
}

/** Host death undone: brings `host`'s link up again (both ends), as {@link VipLab.cutLink} took it down. */
export async function restoreLink(lab: VipLab, host: LabHost): Promise<void> {
  await Promise.all([ip(['-n', host.ns, 'link', 'set', 'eth0', 'up']), ip(['-n', lab.bridgeNs, 'link', 'set', host.bridgePort, 'up'])]);
}

/** Removes `address` (a /24 of the lab) from `host`'s `eth0` if it is there; never rejects. */
export async function dropAddress(host: LabHost, address = LAB_VIP): Promise<void> {
  await ip(['-n', host.ns, 'addr', 'del', `${address}/24`, 'dev', 'eth0']).catch(() => undefined);
}

/** The pids of the processes in namespace `ns` whose command name (`/proc/PID/comm`) is `comm`. */
export async function pidsNamed(ns: string, comm: string): Promise<number[]> {
  const pids = (await ip(['netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
  const named = await Promise.all(pids.map(async (pid) => ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === comm ? pid : undefined)));
  return named.filter((pid): pid is number => pid !== undefined);
}

/** Options of {@link KeepalivedVrrp}. */
export interface KeepalivedOptions {
  /** VRRP version: 3 allows sub-second adverts (centiseconds), 2 whole seconds only. */
  version: 2 | 3;
  /** `advert_int`, in seconds (e.g. 0.1 with VRRPv3, 1 with VRRPv2). */
  advertIntSec: number;
  /** A directory for the configurations and pid files (the caller creates and removes it). */
  dir: string;
  /** The VIP (default {@link LAB_VIP}). */
  address?: string;
  /** `virtual_router_id` (default 51). */
  virtualRouterId?: number;
}

/**
 * keepalived as the VIP failover subject to compare keelson with: one `keepalived --vrrp` per
 * host namespace (started through {@link VipLab.exec}, in the foreground), one VRRP instance
 * with the VIP on `eth0`, all hosts `state BACKUP` with priorities h1 > h2 > … (so `h1` is
 * master once elected), peers by unicast to each other's bridge addresses. {@link kill} is the
 * crash: SIGKILL of every keepalived process of a host (the parent and its VRRP child at once,
 * so neither gets to release the address). The Debian package `keepalived` must be installed.
 */
export class KeepalivedVrrp {
  private readonly address: string;
  private starts = 0;

  constructor(
    private readonly lab: VipLab,
    private readonly options: KeepalivedOptions,
  ) {
    this.address = options.address ?? LAB_VIP;
  }

  /** The keepalived configuration of `host`. */
  configFor(host: LabHost): string {
    const index = this.lab.hosts.indexOf(host);
    const peers = this.lab.hosts.filter((h) => h !== host).map((h) => `    ${h.address}`);
    return [
      'global_defs {',
      `  router_id ${host.name}`,
      `  vrrp_version ${this.options.version}`,
      '}',
      'vrrp_instance VI_BENCH {',
      '  state BACKUP',
      '  interface eth0',
      `  virtual_router_id ${this.options.virtualRouterId ?? 51}`,
      `  priority ${200 - 10 * index}`,
      `  advert_int ${this.options.advertIntSec}`,
      `  unicast_src_ip ${host.address}`,
      '  unicast_peer {',
      ...peers,
      '  }',
      '  virtual_ipaddress {',
      `    ${this.address}/24 dev eth0`,
      '  }',
      '}',
      '',
    ].join('\n');
  }

  /** Starts keepalived on `hosts` (default: every host); resolves once each one runs its VRRP process. */
  async start(hosts: readonly LabHost[] = this.lab.hosts): Promise<void> {
    for (const host of hosts) {
      // Fresh pid files per start: a SIGKILLed VRRP child may linger as a zombie until init
      // reaps it, and keepalived refuses to start while a pid file names a process that exists.
      const base = `${this.options.dir}/${this.lab.id}-${host.name}-${++this.starts}`;
      await writeFile(`${base}.conf`, this.configFor(host));
      const run = this.lab.exec(host.ns, 'keepalived', [
        '--vrrp', '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--dont-respawn',
        '-f', `${base}.conf`, '-p', `${base}.pid`, '-r', `${base}-vrrp.pid`,
      ]);
      await waitFor(async () => (run.child.exitCode !== null ? 'exited' : (await pidsNamed(host.ns, 'keepalived')).length >= 2 ? 'running' : undefined), {
        timeoutMs: 10_000,
        what: `keepalived on ${host.name}`,
      }).then((state) => {
        if (state === 'exited') throw new Error(`keepalived on ${host.name} exited (${run.child.exitCode}): ${run.output()}`);
      }, (err: Error) => {
        throw new Error(`${err.message}: ${run.output()}`);
      });
    }
  }

  /** The crash: SIGKILLs every keepalived process of `host` at once; resolves once they are gone. */
  async kill(host: LabHost): Promise<void> {
    const pids = await pidsNamed(host.ns, 'keepalived');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await waitFor(async () => (await pidsNamed(host.ns, 'keepalived')).length === 0, { timeoutMs: 5000, what: `keepalived on ${host.name} to die` });
  }

  /** Back to a clean slate between runs: keepalived killed everywhere, links up, the VIP on no host. */
  async reset(): Promise<void> {
    for (const host of this.lab.hosts) {
      await this.kill(host);
      await restoreLink(this.lab, host);
      await dropAddress(host, this.address);
    }
  }
}

/**
 * Runs `command args…` inside namespace `ns` (through `ip netns exec`) to completion, with
 * `input` on its stdin; resolves with its stdout, rejects with its stderr (and exit code).
 */
export function execIn(ns: string, command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, command, ...args], { timeout: options.timeoutMs ?? 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip netns exec ${ns} ${command} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    // The command may exit without reading its stdin: a late write must not fail the caller.
    child.stdin?.on('error', () => undefined);
    if (options.input) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}
