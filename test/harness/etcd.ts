/**
 * Real etcd-server processes for tests: one member (or a 3-member cluster) on loopback with
 * random free ports and a fresh data dir under the OS temp dir. Servers can be SIGKILLed and
 * restarted on the same ports and data dir (durability tests), and never outlive the test
 * process: an `exit` handler SIGKILLs them, and a tiny shell watchdog does the same if the
 * test process itself is killed (when no handler can run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet, request as httpRequest } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options for {@link EtcdServer.start}. */
export interface EtcdServerOptions {
  /** The etcd binary (default: `etcd` on PATH). */
  binary?: string;
  /** How long to wait for the member to report healthy (default 20 s). */
  startTimeoutMs?: number;
  /**
   * etcd's `--experimental-watch-progress-notify-interval` (default 500ms here, 10m in etcd).
   * EtcdKV watches only learn that revisions written *elsewhere* are delivered from these
   * server-side notifications, so tests that look at idle progress need a short interval.
   */
  progressNotifyInterval?: string;
}

/** One member's fixed identity: what a restart must reuse. */
interface MemberSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** `--initial-cluster` value (all members). */
  initialCluster: string;
  clusterToken: string;
}

/** How long a SIGTERM may take before SIGKILL. */
const STOP_GRACE_MS = 5000;
/** Lines of etcd's stderr kept for error messages. */
const STDERR_TAIL_LINES = 40;

/** A running (or stopped) etcd member. */
export class EtcdServer {
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail: string[] = [];
  private readonly onProcessExit = () => this.killSync();
  private removed = false;

  private constructor(
    private readonly spec: MemberSpec,
    private readonly options: EtcdServerOptions,
  ) {}

  /** Starts one member on random loopback ports with a fresh data dir; resolves when healthy. */
  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    // Free ports are found by binding port 0; another process may grab one before etcd binds
    // it, so a failed start is retried on new ports.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const [clientPort, peerPort] = await freePorts(2);
      const dataDir = await mkdtemp(join(tmpdir(), 'keelson-etcd-'));
      const name = 'm1';
      const server = new EtcdServer(
        {
          name,
          clientPort: clientPort!,
          peerPort: peerPort!,
          dataDir,
          initialCluster: `${name}=http://127.0.0.1:${peerPort}`,
          clusterToken: `keelson-${randomBytes(4).toString('hex')}`,
        },
        options,
      );
      try {
        server.spawnProcess();
        await server.waitHealthy();
        return server;
      } catch (err) {
        lastError = err;
        await server.stop();
      }
    }
    throw lastError;
  }

  /** Starts an `n`-member cluster (m1..mn) on loopback; resolves when every member is healthy. */
  static async startCluster(n = 3, options: EtcdServerOptions = {}): Promise<EtcdCluster> {
    const ports = await freePorts(2 * n);
    const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
    const clusterToken = `keelson-${randomBytes(4).toString('hex')}`;
    const members: EtcdServer[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const dataDir = await mkdtemp(join(tmpdir(), 'keelson-etcd-'));
        const member = new EtcdServer(
          { name: names[i]!, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]!, dataDir, initialCluster, clusterToken },
          options,
        );
        members.push(member);
        member.spawnProcess();
      }
      // A member only reports healthy once a leader is elected, which needs a quorum running:
      // start them all first, then wait.
      await Promise.all(members.map((m) => m.waitHealthy()));
      return new EtcdCluster(members);
    } catch (err) {
      await Promise.all(members.map((m) => m.stop()));
      throw err;
    }
  }

  /** Client URLs to hand to a client (`http://127.0.0.1:PORT`). */
  get endpoints(): string[] {
    return [`http://127.0.0.1:${this.spec.clientPort}`];
  }

  /** The member's data directory (kept across {@link kill} and {@link restart}). */
  get dataDir(): string {
    return this.spec.dataDir;
  }

  /** The member name (`m1`, ...). */
  get name(): string {
    return this.spec.name;
  }

  /** The etcd process id while running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** SIGKILLs the process (no clean shutdown) and waits for it to exit; the data dir stays. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Starts the member again on the same ports and data dir; resolves when healthy. */
  async restart(): Promise<void> {
    if (this.removed) throw new Error('etcd server was stopped and its data dir removed');
    if (this.child) await this.kill();
    this.spawnProcess();
    await this.waitHealthy();
  }

  /** Stops the process (SIGTERM, then SIGKILL after a grace period) and removes the data dir. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.exited,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (this.child === child) {
        child.kill('SIGKILL');
        await this.exited;
      }
    }
    this.removed = true;
    await rm(this.spec.dataDir, { recursive: true, force: true });
  }

  /** Polls `GET /health` until the member reports healthy; fails early if the process exits. */
  async waitHealthy(): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.child) throw new Error(`etcd ${this.spec.name} exited before becoming healthy:\n${this.stderrTail.join('\n')}`);
      if (await this.healthy()) return;
      if (Date.now() > deadline) {
        throw new Error(`etcd ${this.spec.name} not healthy after ${timeoutMs} ms:\n${this.stderrTail.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** One health probe: true when `/health` answers `{"health":"true"}`. */
  async healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = httpGet({ host: '127.0.0.1', port: this.spec.clientPort, path: '/health', timeout: 1000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }

  /** Whether this member is the raft leader (via the JSON gateway's maintenance status). */
  async isLeader(): Promise<boolean> {
    const status = JSON.parse(await this.http('POST', '/v3/maintenance/status', '{}')) as { header?: { member_id?: string }; leader?: string };
    return status.leader !== undefined && status.leader === status.header?.member_id;
  }

  /** One numeric Prometheus metric from `/metrics` (e.g. `etcd_debugging_mvcc_watcher_total`). */
  async metric(name: string): Promise<number> {
    const text = await this.http('GET', '/metrics');
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (!line) throw new Error(`metric ${name} not found`);
    return Number(line.slice(name.length + 1));
  }

  private http(method: string, path: string, body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: this.spec.clientPort, path, method, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text}`))));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  private spawnProcess(): void {
    const { name, clientPort, peerPort, dataDir, initialCluster, clusterToken } = this.spec;
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const args = [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', clusterToken,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
      '--experimental-watch-progress-notify-interval', this.options.progressNotifyInterval ?? '500ms',
    ];
    const child = spawn(this.options.binary ?? 'etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderrTail = [];
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail.push(...chunk.split('\n').filter(Boolean));
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.splice(0, this.stderrTail.length - STDERR_TAIL_LINES);
    });
    // A running etcd must not keep the test process alive by itself: the exit handler and the
    // watchdog take care of it when the process ends.
    child.unref();
    (child.stderr as Socket | null)?.unref?.();
    this.exited = new Promise<void>((resolve) => {
      const done = () => {
        if (this.child === child) this.child = undefined;
        process.removeListener('exit', this.onProcessExit);
        this.watchdog?.kill('SIGKILL');
        this.watchdog = undefined;
        resolve();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        this.stderrTail.push(`spawn failed: ${err.message}`);
        done();
      });
    });
    process.on('exit', this.onProcessExit);
    if (child.pid !== undefined) this.watchdog = startWatchdog(process.pid, child.pid);
  }

  /** Synchronous SIGKILL for the process `exit` handler, where nothing async can run. */
  private killSync(): void {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** A multi-member cluster started by {@link EtcdServer.startCluster}. */
export class EtcdCluster {
  constructor(
    /** The members, m1..mn. */
    readonly members: EtcdServer[],
  ) {}

  /** Every member's client URL. */
  get endpoints(): string[] {
    return this.members.flatMap((m) => m.endpoints);
  }

  /** Stops every member and removes their data dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}

/**
 * Watches `parentPid` from a separate shell: if the test process dies without running its exit
 * handlers (SIGKILL, an unhandled signal), the shell SIGKILLs etcd. It also exits when etcd does,
 * so it can never hit a recycled pid.
 */
function startWatchdog(parentPid: number, childPid: number): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done; kill -9 "$2" 2>/dev/null; exit 0';
  const watchdog = spawn('/bin/sh', ['-c', script, 'keelson-etcd-watchdog', String(parentPid), String(childPid)], { stdio: 'ignore' });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  return watchdog;
}

/** Finds `n` distinct free TCP ports on 127.0.0.1 (held open together so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
