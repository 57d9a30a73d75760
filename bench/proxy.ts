/**
 * The service proxy benchmark: HTTP requests per second and latency through keelson's service
 * proxy, against HAProxy on the same backends and against one backend reached directly, with
 * wrk (Debian `wrk`, installed with HAProxy when missing: see `debian-helper.ts`).
 *
 * - Backends: three identical static responders — one HAProxy process of their own (`mode http`,
 *   `http-request return`, one thread), each backend a frontend on its own loopback address —
 *   so backends are fast, cost little CPU and live outside every proxy under test. Each subject
 *   reaches them on a port of its own (see {@link BACKEND_BASE_PORT}).
 * - Subjects, each a separate process on its own loopback address and the same port:
 *   `direct` (wrk straight to the first backend: the ceiling); `haproxy` (`mode tcp`,
 *   `balance roundrobin` over the three backends — the same L4 job as keelson's proxy:
 *   round-robin per connection — `nbthread 1`, as keelson's proxy copies on one thread: its
 *   JavaScript thread, or the native relay's);
 *   `keelson` (the userspace proxier of controllers/service-proxy, fed the desired state of one
 *   Service with the three backends as endpoints, directly — no API server — in a child process
 *   running this file with {@link CHILD_FLAG}, with metrics on as under `keelson up`, and its
 *   default relay: lasting connections go to the native relay when it was built, which has the
 *   kernel forward them — sockmap — when run as root, as the bench is); `keelson-copy` (the
 *   same with the relay copying: `--proxy-relay native`, what a proxy without root gets);
 *   `keelson-js` (the same, copying in JavaScript only: what the native relay saves); and
 *   `keelson-nftables` (the same child with `--proxy-mode nftables`: DNAT rules in a table of
 *   its own, `keelson_bench`, in this host's namespace, deleted afterwards; needs root; wrk's
 *   connections are DNATed in the output hook straight to the backends, no process in the path).
 *   A subject is one entry of {@link SUBJECTS}: adding a proxy mode is a few lines there.
 * - Measurement: `wrk -t1 -c<connections> -d<seconds>s --latency`; the subjects alternate
 *   (A B C D A B C D …, {@link ROUNDS} rounds, each run after a 1 s warm-up of its own) and
 *   each subject's median round is reported — req/s, p50/p99 latency from wrk's distribution of
 *   that round, SYN retransmissions during it — with the ratios of medians: keelson/HAProxy
 *   (goal ≥ 1.0×) and keelson/direct; keelson-nftables/direct (goal ≥ 0.95×) and /HAProxy; and
 *   for the goal's ratio also the median of the ratios within each round (`…_per_round_p50`),
 *   which drifting load on a shared machine disturbs less: the goals are judged on it. For
 *   subjects that are a process (HAProxy, the userspace proxy) also the CPU time it spent per
 *   request (`cpu_us_per_req`, median over the rounds, from /proc; the userspace proxy's with its
 *   native relay's): the cost itself, which the load of the machine disturbs far less than
 *   req/s — with its ratio to
 *   each peer's (`cpu_vs_haproxy`: below 1, cheaper than HAProxy). The kernel's forwarding
 *   (sockmap) runs in kernel threads and in the senders' system calls, outside the proxy's
 *   processes, so every subject also gets the whole machine's busy CPU time per request
 *   (`machine_cpu_us_per_req`: wrk, backends, subject and kernel together, /proc/stat).
 * - Parts: `keepalive` (wrk's persistent connections, its default: forwarding cost per request;
 *   the goals are judged here) and `close` (`Connection: close`: a new connection per request,
 *   so a proxy's accept and dial cost; ratios printed, no goal — a Node.js socket costs several
 *   times HAProxy's per connection: README, Benchmarks).
 *
 * Loopback only (a random 127.210.N.0/24 per run); everything started is stopped afterwards,
 * also on Ctrl-C. Every process shares the machine's cores (wrk, backends, the subject): the
 * header line names them. `KEELSON_BENCH_PROXY_ROUNDS`, `…_SECONDS`, `…_CONNECTIONS` override
 * the defaults.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxier, nativeRelayFor, type ProxyMode, type RelayMode } from '../controllers/service-proxy/index.js';
import { silentLogger } from '../lib/runtime/logger.js';
import { Metrics } from '../lib/runtime/metrics.js';
import { systemClock } from '../lib/util/clock.js';
import { ensureTools } from './debian-helper.js';
import { goalMark, percentile, type Benchmark, type Cleanup, type Reporter } from './harness.js';

/** The first argument that makes this file run keelson's proxier as a child process. */
export const CHILD_FLAG = '--proxy-bench-child';
/** Rounds of A B C … (each subject measured once per round); the median round is reported. */
const ROUNDS = positiveEnv('KEELSON_BENCH_PROXY_ROUNDS', 5);
/** Seconds of one wrk run. */
const SECONDS = positiveEnv('KEELSON_BENCH_PROXY_SECONDS', 5);
/** wrk's connections (one thread). */
const CONNECTIONS = positiveEnv('KEELSON_BENCH_PROXY_CONNECTIONS', 32);
/** The port every subject listens on (each on its own address). */
const PORT = 8080;
/**
 * The backends' first port: each backend listens on one port per subject (8081, 8082, …), and
 * each subject uses its own, so that one subject's TIME_WAIT sockets on the backends (the
 * backends close first under `Connection: close`) never collide with another's connections —
 * on loopback every connection comes from 127.0.0.1, and a DNATed one does not avoid them.
 */
const BACKEND_BASE_PORT = 8081;
/** Backends behind every proxy. */
const BACKENDS = 3;
/** The body each backend answers (identical for all). */
const BODY = 'hello';

/** A numeric setting from the environment, or `fallback`. */
function positiveEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** Where one run's processes listen: `127.210.<n>.x`, `n` random per run. */
interface Addresses {
  backends: string[];
  /** An address for the subject `name` (stable within the run). */
  subject(name: string): string;
  /** The backends' port for the subject `name` (see {@link BACKEND_BASE_PORT}). */
  backendPort(name: string): number;
}

/** The addresses of a new run (a random /24 of 127.210.0.0/16). */
function addressesOfRun(): Addresses {
  const net = `127.210.${Math.floor(Math.random() * 250) + 1}`;
  const taken = new Map<string, string>();
  return {
    backends: Array.from({ length: BACKENDS }, (_, i) => `${net}.${11 + i}`),
    subject(name) {
      let address = taken.get(name);
      if (!address) taken.set(name, (address = `${net}.${30 + taken.size}`));
      return address;
    },
    backendPort(name) {
      const index = SUBJECTS.findIndex((s) => s.name === name);
      if (index < 0) throw new Error(`unknown subject ${name}`);
      return BACKEND_BASE_PORT + index;
    },
  };
}

/** What a subject needs to start. */
interface SubjectContext {
  addresses: Addresses;
  /** A temp dir of the run (configs). */
  dir: string;
  cleanup: Cleanup;
}

/** A running subject: the URL wrk is pointed at. */
interface RunningSubject {
  url: string;
  /** The process doing the subject's work, whose CPU time is measured per request (none: kernel only). */
  pid?: number;
}

/** One thing measured: how to start it, and its goal against a peer measured in the same run. */
export interface ProxySubject {
  /** The result line's name, e.g. `keelson`. */
  name: string;
  /** What it is, for the notes. */
  description: string;
  /** Its goal: this subject's req/s median over `peer`'s at least `min`. */
  goal?: { peer: string; min: number };
  /** Other ratios to print (against these subjects' medians), without a goal. */
  compareWith?: string[];
  /** Starts it (registering its stop with `ctx.cleanup`); rejects when it cannot run here. */
  start(ctx: SubjectContext): Promise<RunningSubject>;
}

/**
 * The subjects, in the order they alternate. `direct` and `haproxy` must stay: the others'
 * ratios refer to them. Another proxy mode is one more `keelsonSubject(mode, name, goal, …)`.
 */
export const SUBJECTS: readonly ProxySubject[] = [
  {
    name: 'direct',
    description: 'wrk straight to backend 1 (no proxy): the ceiling',
    start: async ({ addresses }) => ({ url: `http://${addresses.backends[0]}:${addresses.backendPort('direct')}/` }),
  },
  {
    name: 'haproxy',
    description: 'HAProxy 1 thread, mode tcp, balance roundrobin over the 3 backends',
    start: startHaproxySubject,
  },
  keelsonSubject('userspace', 'keelson', { peer: 'haproxy', min: 1.0 }, ['direct'], 'auto'),
  keelsonSubject('userspace', 'keelson-copy', undefined, ['haproxy', 'keelson'], 'native'),
  keelsonSubject('userspace', 'keelson-js', undefined, ['haproxy', 'keelson'], 'javascript'),
  keelsonSubject('nftables', 'keelson-nftables', { peer: 'direct', min: 0.95 }, ['haproxy']),
];

/** The nftables table the `nftables` subject programs (not `keelson`, which a running proxy may own). */
const NFT_BENCH_TABLE = 'keelson_bench';

/** Deletes the benchmark's nftables table if it is there (a SIGKILLed child leaves it). */
async function deleteBenchTable(): Promise<void> {
  await new Promise<void>((resolve) => {
    const nft = spawn('nft', ['delete', 'table', 'ip', NFT_BENCH_TABLE], { stdio: 'ignore' });
    nft.once('error', () => resolve());
    nft.once('exit', () => resolve());
  });
}

/**
 * A subject running keelson's proxier of `mode` in a child process; for `userspace`, with the
 * `relay` mode given (`auto`: the native relay when it was built — the description says which).
 */
function keelsonSubject(mode: ProxyMode, name: string, goal: ProxySubject['goal'], compareWith: string[], relay: RelayMode = 'auto'): ProxySubject {
  const chosen = mode === 'userspace' ? nativeRelayFor(relay) : undefined;
  const copiedBy = !chosen
    ? 'JavaScript only'
    : `the native relay${chosen.sockmap ? ', which has the kernel forward them (sockmap)' : ''} (a connection leaves Node.js after 2 exchanges)`;
  return {
    name,
    description: `keelson's service proxy, --proxy-mode ${mode}, in a process of its own, round-robin over the 3 backends${mode === 'userspace' ? `; bytes copied by ${copiedBy}` : ''}`,
    ...(goal ? { goal } : {}),
    compareWith,
    start: async ({ addresses, cleanup }) => {
      const clusterIP = addresses.subject(name);
      if (mode === 'nftables') cleanup.add('nftables bench table', deleteBenchTable);
      const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify({ mode, relay, clusterIP, port: PORT, backends: addresses.backends, backendPort: addresses.backendPort(name) })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      cleanup.add(`keelson proxy (${mode})`, () => stopProcess(child));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`keelson proxy (${mode}) not ready within 15 s`)), 15_000);
        child.once('message', (m) => {
          clearTimeout(timer);
          if (m === 'ready') resolve();
          else reject(new Error(`keelson proxy (${mode}): ${String(m)}`));
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`keelson proxy (${mode}) exited with ${code}`));
        });
      });
      return { url: `http://${clusterIP}:${PORT}/`, ...(mode === 'userspace' && child.pid ? { pid: child.pid } : {}) };
    },
  };
}

/** SIGTERMs `child` and waits for it to exit (SIGKILL after 3 s). */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** HAProxy's common settings: one thread, foreground, no logs. */
function haproxyGlobal(mode: 'http' | 'tcp'): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 2000',
    'defaults',
    `  mode ${mode}`,
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '',
  ].join('\n');
}

/** Starts `haproxy -db -f <config>`; resolves with its pid once every address in `listens` accepts connections. */
async function startHaproxy(ctx: SubjectContext, name: string, config: string, listens: Array<{ host: string; port: number }>): Promise<number | undefined> {
  const file = join(ctx.dir, `${name}.cfg`);
  await writeFile(file, config);
  let output = '';
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  ctx.cleanup.add(`haproxy ${name}`, () => stopProcess(child));
  const accepts = ({ host, port }: { host: string; port: number }) =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`haproxy ${name} exited with ${child.exitCode}: ${output.trim()}`);
    if ((await Promise.all(listens.map(accepts))).every(Boolean)) return child.pid;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`haproxy ${name} not listening within 10 s: ${output.trim()}`);
}

/** The backends: one HAProxy answering `BODY` on each backend address. */
async function startBackends(ctx: SubjectContext): Promise<void> {
  const ports = SUBJECTS.map((s) => ctx.addresses.backendPort(s.name));
  const frontends = ctx.addresses.backends.map((address, i) =>
    [`frontend backend${i + 1}`, ...ports.map((port) => `  bind ${address}:${port}`), `  http-request return status 200 content-type text/plain string "${BODY}"`, ''].join('\n'),
  );
  const listens = ctx.addresses.backends.flatMap((host) => ports.map((port) => ({ host, port })));
  await startHaproxy(ctx, 'backends', haproxyGlobal('http') + frontends.join('\n'), listens);
}

/** The HAProxy subject (see {@link SUBJECTS}). */
async function startHaproxySubject(ctx: SubjectContext): Promise<RunningSubject> {
  const address = ctx.addresses.subject('haproxy');
  const config = [
    haproxyGlobal('tcp'),
    'frontend proxy',
    `  bind ${address}:${PORT}`,
    '  default_backend backends',
    'backend backends',
    '  balance roundrobin',
    ...ctx.addresses.backends.map((b, i) => `  server b${i + 1} ${b}:${ctx.addresses.backendPort('haproxy')}`),
    '',
  ].join('\n');
  const pid = await startHaproxy(ctx, 'subject', config, [{ host: address, port: PORT }]);
  return { url: `http://${address}:${PORT}/`, ...(pid ? { pid } : {}) };
}

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  /** Latency percentiles from `--latency`, in ms. */
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors (connect + read + write + timeout) and non-2xx/3xx responses. */
  errors: number;
  /**
   * SYNs retransmitted on this host during the run (`TcpExt: TCPSynRetrans`, host-wide): a
   * connection that waited ≥ 1 s for its SYN to be retried — not in wrk's latency, which starts
   * at the request. Under `Connection: close` these come from TIME_WAIT collisions on loopback.
   */
  synRetrans?: number;
  /** CPU time (user + system) the subject's process spent per request, µs; absent without a process. */
  cpuUsPerRequest?: number;
  /** The whole machine's busy CPU time per request during the run, µs (wrk, backends, subject, kernel threads). */
  machineCpuUsPerRequest?: number;
}

/** The unit of /proc's CPU times: ticks per second (Linux's USER_HZ). */
const USER_HZ = 100;

/** The fields of `/proc/<pid>/stat` after the command (`state` first, then `ppid`, …); throws when the process is gone. */
function statFields(pid: number | string): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
}

/** CPU time (user + system) of process `pid` so far, ms (`/proc/<pid>/stat`); NaN when unreadable. */
function processCpuMs(pid: number): number {
  try {
    const fields = statFields(pid);
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** The running children of process `pid` (processes in /proc whose parent it is). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(entry)[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // It exited meanwhile.
    }
  }
  return children;
}

/**
 * CPU time of process `pid` and its running descendants so far, ms: the userspace proxy's work
 * is its own process's plus the native relay's (a child). NaN when `pid` is unreadable.
 */
function processTreeCpuMs(pid: number): number {
  return childrenOf(pid).reduce((sum, child) => sum + (processTreeCpuMs(child) || 0), processCpuMs(pid));
}

/** Busy CPU time of the whole machine so far, ms: every CPU's time in /proc/stat but idle and iowait. */
function machineBusyMs(): number {
  // cpu  user nice system idle iowait irq softirq steal …, in USER_HZ ticks
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = ticks.reduce((sum, t) => sum + t, 0) - ticks[3]! - ticks[4]!;
  return (busy * 1000) / USER_HZ;
}

/** A `TcpExt` counter of /proc/net/netstat (NaN when unreadable). */
function tcpExtCounter(name: string): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const i = names.indexOf(name);
    return i < 0 ? Number.NaN : Number(values[i]);
  } catch {
    return Number.NaN;
  }
}

/** A wrk duration (`812.00us`, `1.23ms`, `2.00s`, `1.5m`) in ms. */
function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return Number.NaN;
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(match[1]) * factor;
}

/** Parses wrk's output (with `--latency`). */
export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  const requests = /(\d+) requests in/.exec(output);
  if (!rps || !p50 || !p99 || !requests) throw new Error(`unexpected wrk output:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const errors = (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requestsPerSecond: Number(rps[1]), p50Ms: durationMs(p50[1]!), p99Ms: durationMs(p99[1]!), requests: Number(requests[1]), errors };
}

/** Runs wrk against `url` for `seconds`; `close` sends `Connection: close` (a connection per request). */
async function wrk(url: string, seconds: number, close: boolean): Promise<WrkResult> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s', ...(close ? ['-H', 'Connection: close'] : []), url];
  const synBefore = tcpExtCounter('TCPSynRetrans');
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} exited with ${code}: ${output.trim()}`);
  return { ...parseWrk(output), synRetrans: tcpExtCounter('TCPSynRetrans') - synBefore };
}

/** How one part drives wrk, and whether the subjects' goals are judged on it. */
interface Part {
  /** `Connection: close`: a new connection per request. */
  close: boolean;
  /** Whether goals are marked (the issue's goals are for wrk's default, persistent connections). */
  goals: boolean;
}

/** Measures one part (`keepalive` or `close`) over every running subject, alternating. */
async function measurePart(report: Reporter, part: string, { close, goals }: Part, running: Map<ProxySubject, RunningSubject>): Promise<void> {
  const rounds = new Map<string, WrkResult[]>();
  /** Each subject's result by round (undefined: that round failed), for ratios within a round. */
  const byRound = new Map<string, Array<WrkResult | undefined>>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [subject, { url, pid }] of running) {
      try {
        await wrk(url, 1, close); // warm-up: connections, JIT, caches
        const cpuBefore = pid ? processTreeCpuMs(pid) : Number.NaN;
        const machineBefore = machineBusyMs();
        const result = await wrk(url, SECONDS, close);
        result.machineCpuUsPerRequest = ((machineBusyMs() - machineBefore) * 1000) / result.requests;
        if (pid) result.cpuUsPerRequest = ((processTreeCpuMs(pid) - cpuBefore) * 1000) / result.requests;
        rounds.set(subject.name, [...(rounds.get(subject.name) ?? []), result]);
        const list = byRound.get(subject.name) ?? [];
        list[round] = result;
        byRound.set(subject.name, list);
      } catch (err) {
        report.error(`proxy.${part}.${subject.name} round ${round + 1}`, err);
      }
    }
  }
  /** The median round of a subject (by req/s). */
  const median = (name: string): WrkResult | undefined => {
    const results = rounds.get(name);
    if (!results?.length) return undefined;
    const rps = percentile(results.map((r) => r.requestsPerSecond), 50);
    return results.find((r) => r.requestsPerSecond === rps);
  };
  /** A subject's CPU time per request, median over its rounds (undefined: not a process). */
  const cpuPerRequest = (name: string): number | undefined => {
    const cpu = (rounds.get(name) ?? []).flatMap((r) => (r.cpuUsPerRequest !== undefined && Number.isFinite(r.cpuUsPerRequest) ? [r.cpuUsPerRequest] : []));
    return cpu.length ? percentile(cpu, 50) : undefined;
  };
  for (const subject of running.keys()) {
    const results = rounds.get(subject.name);
    const m = median(subject.name);
    if (!results || !m) continue;
    const fields: Array<[string, number | string]> = [
      ['req/s', m.requestsPerSecond],
      ['p50_ms', m.p50Ms],
      ['p99_ms', m.p99Ms],
      ['rounds', results.length],
      ['min', Math.min(...results.map((r) => r.requestsPerSecond))],
      ['max', Math.max(...results.map((r) => r.requestsPerSecond))],
      ['errors', results.reduce((sum, r) => sum + r.errors, 0)],
      ['syn_retrans', m.synRetrans ?? Number.NaN],
    ];
    // CPU per request is less disturbed by a busy machine than req/s: the median over the rounds,
    // and its ratio to every peer that has one (below 1: cheaper than the peer).
    const cpu = cpuPerRequest(subject.name);
    if (cpu !== undefined) fields.push(['cpu_us_per_req', cpu]);
    fields.push(['machine_cpu_us_per_req', percentile(results.map((r) => r.machineCpuUsPerRequest ?? Number.NaN), 50)]);
    for (const other of subject.compareWith ?? []) {
      const o = median(other);
      if (o) fields.push([`vs_${other}`, m.requestsPerSecond / o.requestsPerSecond]);
    }
    for (const other of [...(subject.compareWith ?? []), ...(subject.goal ? [subject.goal.peer] : [])]) {
      const theirs = cpuPerRequest(other);
      if (cpu !== undefined && theirs !== undefined) fields.push([`cpu_vs_${other}`, cpu / theirs]);
    }
    let goal: string | undefined;
    if (subject.goal) {
      const peer = median(subject.goal.peer);
      const ratio = peer ? m.requestsPerSecond / peer.requestsPerSecond : Number.NaN;
      fields.push([`vs_${subject.goal.peer}`, ratio]);
      // The same ratio taken within each round (measured seconds apart), then the median: less
      // sensitive to load that drifts over the minutes of the run.
      const mine = byRound.get(subject.name) ?? [];
      const theirs = byRound.get(subject.goal.peer) ?? [];
      const paired = mine.flatMap((r, i) => (r && theirs[i] ? [r.requestsPerSecond / theirs[i]!.requestsPerSecond] : []));
      const pairedMedian = paired.length ? percentile(paired, 50) : undefined;
      if (pairedMedian !== undefined) fields.push([`vs_${subject.goal.peer}_per_round_p50`, pairedMedian]);
      // The goal is judged on the paired ratio: the subjects of one round ran seconds apart, the
      // medians of two subjects may come from rounds minutes apart on a machine whose speed drifts.
      if (goals) goal = goalMark(pairedMedian ?? ratio, subject.goal.min);
    }
    report.result(`proxy.${part}.${subject.name}`, fields, goal);
  }
}

/**
 * The parts: `keepalive` (wrk's default, persistent connections: the goals' measure) and `close`
 * (a connection per request: the accept and dial cost, reported with its ratios but no goal).
 */
const PARTS: Record<string, Part> = { keepalive: { close: false, goals: true }, close: { close: true, goals: false } };

/** See the file header. */
export const proxyBenchmark: Benchmark = {
  name: 'proxy',
  description: 'wrk through keelson\'s service proxy (userspace, nftables) vs HAProxy vs direct, same backends, alternated (goals: userspace ≥ 1.0× HAProxy, nftables ≥ 0.95× direct req/s)',
  parts: Object.keys(PARTS),
  async run(report: Reporter, cleanup: Cleanup, parts: readonly string[]): Promise<void> {
    try {
      ensureTools([{ tool: 'wrk', pkg: 'wrk' }, { tool: 'haproxy', pkg: 'haproxy' }], (line) => report.note(`proxy: ${line}`));
    } catch (err) {
      report.error('proxy', err);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'keelson-bench-proxy-'));
    cleanup.add('proxy temp dir', () => rm(dir, { recursive: true, force: true }));
    const ctx: SubjectContext = { addresses: addressesOfRun(), dir, cleanup };
    report.note(
      `proxy: ${cpus().length} cores shared by wrk (-t1 -c${CONNECTIONS}, ${SECONDS} s per run, ${ROUNDS} rounds alternated, median), ` +
        `the backends (${BACKENDS} × HAProxy http-request return, 1 thread) and the subject; addresses ${ctx.addresses.backends[0]!.replace(/\.\d+$/, '.0/24')}`,
    );
    try {
      await startBackends(ctx);
    } catch (err) {
      report.error('proxy backends', err);
      return;
    }
    const running = new Map<ProxySubject, RunningSubject>();
    for (const subject of SUBJECTS) {
      try {
        running.set(subject, await subject.start(ctx));
        report.note(`proxy: ${subject.name}: ${subject.description}`);
      } catch (err) {
        report.error(`proxy.${subject.name}`, err);
      }
    }
    for (const [part, settings] of Object.entries(PARTS)) {
      if (parts.length > 0 && !parts.includes(part)) continue;
      await measurePart(report, part, settings, running);
    }
  },
};

/** The child: runs keelson's proxier of the given mode for one Service until SIGTERM or disconnect. */
async function child(config: { mode: ProxyMode; relay: RelayMode; clusterIP: string; port: number; backends: string[]; backendPort: number }): Promise<void> {
  const proxier = createProxier(config.mode, {
    userspace: { relay: config.relay },
    nodeAddresses: [],
    clock: systemClock,
    logger: silentLogger(),
    metrics: new Metrics(),
    // Its own table; wrk, the subject and the backends all talk over lo, so no route_localnet.
    nftables: { table: NFT_BENCH_TABLE, routeLocalnet: false },
  });
  const stop = () => void proxier.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  await proxier.syncService('bench/web', [
    {
      name: 'bench/web',
      service: 'bench/web',
      protocol: 'TCP',
      clusterIP: config.clusterIP,
      port: config.port,
      endpoints: config.backends.map((ip) => ({ ip, port: config.backendPort })),
    },
  ]);
  process.send?.('ready');
}

if (process.argv[2] === CHILD_FLAG) {
  child(JSON.parse(process.argv[3]!) as Parameters<typeof child>[0]).catch((err: unknown) => {
    process.send?.(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
