/**
 * Shared helpers of the benchmarks in `bench/`: a monotonic clock, percentiles, a pool of
 * concurrent writers, per-operation latency tracking, cleanup that also runs on Ctrl-C, and the
 * output format — one `key=value` line per result, always with the peer or baseline measured in
 * the same run and their ratio, and `#` lines for everything else (header, notes) — and the
 * measurement children some benchmarks fork (each measurement in a fresh process).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem, platform, arch, release, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';

/** Milliseconds on a monotonic clock with sub-millisecond resolution. */
export function now(): number {
  return performance.now();
}

/** CPU time this process has used (user + system, all threads), in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** The `p`-th percentile (0..100) of `samples` by nearest rank; NaN when there are none. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50 and p99 of a sample, in the samples' unit. */
export interface Percentiles {
  p50: number;
  p99: number;
}

/** {@link Percentiles} of `samples`. */
export function percentiles(samples: ArrayLike<number>): Percentiles {
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/**
 * Runs `op(0) … op(count - 1)` with `concurrency` of them in flight at any time (each writer
 * takes the next index when its previous operation settles). Resolves with the elapsed
 * milliseconds; the first failure stops every writer and rejects.
 */
export async function runConcurrent(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  let failed = false;
  const writer = async (): Promise<void> => {
    while (!failed) {
      const i = next++;
      if (i >= count) return;
      try {
        await op(i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const start = now();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, writer));
  return now() - start;
}

/**
 * Timestamps of `count` writes: when each was issued, when its caller got the acknowledgement,
 * and when a watcher first saw its event. Indices are the writes' numbers.
 */
export class LatencyTracker {
  private readonly issued: Float64Array;
  private readonly acked: Float64Array;
  private readonly seen: Float64Array;
  private seenCount = 0;
  private readonly waiters: Array<{ n: number; wake: () => void }> = [];

  constructor(
    /** How many writes are tracked. */
    readonly count: number,
  ) {
    this.issued = new Float64Array(count).fill(Number.NaN);
    this.acked = new Float64Array(count).fill(Number.NaN);
    this.seen = new Float64Array(count).fill(Number.NaN);
  }

  /** Write `i` is about to be sent. */
  issue(i: number): void {
    this.issued[i] = now();
  }

  /** Write `i` was acknowledged to its caller. */
  ack(i: number): void {
    this.acked[i] = now();
  }

  /** A watcher delivered write `i` (only the first delivery counts; unknown indices are ignored). */
  event(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count || !Number.isNaN(this.seen[i]!)) return;
    this.seen[i] = now();
    this.seenCount++;
    for (let w = this.waiters.length - 1; w >= 0; w--) {
      const waiter = this.waiters[w]!;
      if (this.seenCount >= waiter.n) {
        this.waiters.splice(w, 1);
        waiter.wake();
      }
    }
  }

  /** Events seen so far. */
  get delivered(): number {
    return this.seenCount;
  }

  /**
   * Resolves once at least `n` events arrived (every write's, by default); rejects after
   * `timeoutMs` naming how many are missing.
   */
  async deliveredAtLeast(n: number = this.count, timeoutMs: number): Promise<void> {
    if (this.seenCount >= n) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ n, wake: resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`watch delivered ${this.seenCount} of ${n} events within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Write → event latency measured from the issue of each write. */
  fromIssue(): Percentiles {
    return percentiles(this.differences(this.issued));
  }

  /** Event time minus acknowledgement time (negative: the watcher saw it before the writer). */
  fromAck(): Percentiles {
    return percentiles(this.differences(this.acked));
  }

  /** Issue → acknowledgement latency of the writes themselves. */
  writeLatency(): Percentiles {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const d = this.acked[i]! - this.issued[i]!;
      if (!Number.isNaN(d)) out.push(d);
    }
    return percentiles(out);
  }

  private differences(start: Float64Array): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const d = this.seen[i]! - start[i]!;
      if (!Number.isNaN(d)) out.push(d);
    }
    return out;
  }
}

/** A field value: numbers are rounded for reading, strings printed as they are. */
export type FieldValue = number | string;

/** Rounds for display: 3 significant digits below 100, whole numbers above. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 100) return String(Math.round(n));
  if (abs === 0) return '0';
  return String(Number(n.toPrecision(abs >= 1 ? 3 : 2)));
}

/**
 * How a result compares with its goal: `ok`, `MISS`, or `none` when it has no goal. Misses are
 * reported, never fatal: benchmarks are a report, not a test.
 */
export function goalMark(ratio: number, min: number | undefined): string {
  if (min === undefined) return 'goal=none';
  return `goal>=${min} ${Number.isFinite(ratio) && ratio >= min ? 'ok' : 'MISS'}`;
}

/** Writes result lines and notes to stdout, and remembers failures for the exit code. */
export class Reporter {
  /** Errors reported so far (each also printed as an `ERROR` line). */
  readonly errors: string[] = [];
  private muted = false;

  /** Prints nothing more (after an interrupt, when measurements fail because their stores closed). */
  mute(): void {
    this.muted = true;
  }

  /** One result: `name` (e.g. `storage.create`), then `key=value` fields, then an optional goal mark. */
  result(name: string, fields: Array<[string, FieldValue]>, goal?: string): void {
    const parts = [name.padEnd(30), ...fields.map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`)];
    if (goal) parts.push(goal);
    if (this.muted) return;
    process.stdout.write(parts.join(' ') + '\n');
  }

  /** A comment line (`# …`): headers, legends, observations. */
  note(text: string): void {
    if (this.muted) return;
    for (const line of text.split('\n')) process.stdout.write(`# ${line}\n`);
  }

  /** A failed measurement: an `ERROR` line; the run goes on and exits non-zero at the end. */
  error(what: string, err: unknown): void {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.errors.push(`${what}: ${message}`);
    if (this.muted) return;
    process.stdout.write(`ERROR ${what}: ${message.split('\n').join('\n#   ')}\n`);
  }
}

/** One benchmark module of `bench/` (run by `bench/index.ts` when its name matches the filter). */
export interface Benchmark {
  /** The filter name, e.g. `storage`; also the prefix of its result lines. */
  readonly name: string;
  /** What it measures, one line. */
  readonly description: string;
  /** Its parts, selectable as `NAME/PART` on the command line (e.g. `storage/etcd`). */
  readonly parts: readonly string[];
  /**
   * Measures and reports the given parts (all when `parts` is empty); failures of single
   * measurements go to `report.error`, and everything it opens is registered with `cleanup`.
   */
  run(report: Reporter, cleanup: Cleanup, parts: readonly string[]): Promise<void>;
}

/**
 * Things to undo (stop servers, close stores, remove temp dirs), run in reverse order by
 * {@link runAll} — from `finally` blocks, and from SIGINT/SIGTERM via {@link onSignals}.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];

  /** Registers a step; the returned function runs it now (once) and unregisters it. */
  add(what: string, fn: () => Promise<void> | void): () => Promise<void> {
    const step = { what, fn };
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await step.fn();
    };
  }

  /** Runs every registered step, newest first; failures are collected and rethrown together. */
  async runAll(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (err) {
        errors.push(new Error(`cleanup "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}`));
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'cleanup failed');
  }

  /** On SIGINT/SIGTERM: call `first` (e.g. to mute the report), run every step, then exit 130/143. */
  onSignals(first?: () => void): void {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(signal, () => {
        first?.();
        process.stderr.write(`\n${signal}: cleaning up\n`);
        this.runAll().finally(() => process.exit(code));
      });
    }
  }
}

/** The header lines: machine, runtime, load, and how to read the results. */
export function machineHeader(): string[] {
  const cpu = cpus();
  const model = cpu[0]?.model.trim() ?? 'unknown CPU';
  const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return [
    `keelson bench  ${new Date().toISOString()}`,
    `machine: ${cpu.length} × ${model}, ${gib(totalmem())} GiB RAM (${gib(freemem())} free), ${platform()} ${release()} ${arch()}, load avg ${load}`,
    `runtime: node ${process.version}, pid ${process.pid}; temp files (sqlite, etcd data) in ${tmpdir()} on ${filesystemOf(tmpdir())}`,
  ];
}

/** Names of common filesystems by `statfs` magic number. */
const FILESYSTEMS: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x01021994: 'tmpfs (no real fsync)',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
};

/** The filesystem type holding `path`, for the header (fsync cost differs widely). */
function filesystemOf(path: string): string {
  try {
    const type = statfsSync(path).type;
    return FILESYSTEMS[type] ?? `filesystem type 0x${type.toString(16)}`;
  } catch {
    return 'unknown filesystem';
  }
}

/** A promise that rejects with `message()` after `ms` (its timer does not keep the process alive). */
export function rejectAfter(ms: number, message: () => string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message())), ms).unref());
}

/** Node flags of a measurement child: `base`, then `KEELSON_BENCH_CHILD_FLAGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
export function childExecArgv(base: readonly string[] = []): string[] {
  return [...base, ...(process.env.KEELSON_BENCH_CHILD_FLAGS ?? '').split(/\s+/).filter(Boolean)];
}

/** A measurement child forked by {@link forkChild}. */
export interface ForkedChild {
  readonly child: ChildProcess;
  /** The end of what it printed (stdout and stderr), for error messages. */
  outputTail(): string;
  /** Resolves with its exit code once it exited. */
  readonly exited: Promise<number | null>;
  /** SIGKILLs it if it still runs and waits for its end (also registered with the run's cleanup). */
  kill(): Promise<void>;
}

/** Forks `file` with `args` (an IPC channel, output collected); `cleanup` kills it if it still runs. */
export function forkChild(cleanup: Cleanup, file: string, args: readonly string[], execArgv: readonly string[]): ForkedChild {
  const child = fork(file, [...args], { execArgv: [...execArgv], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const output: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = cleanup.add(`kill child ${child.pid}`, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, outputTail: () => output.join('').slice(-2000), exited, kill };
}

/**
 * The result of a child that answers once with `{ ok: true, result }` (or `{ ok: false, error }`)
 * and then exits by itself — so that a `--cpu-prof` profile gets written: waits `answerMs` for
 * the answer and `exitMs` more for a clean exit, then kills what is left.
 */
export async function childResult<T>(forked: ForkedChild, answerMs: number, exitMs: number): Promise<T> {
  const { child, exited } = forked;
  try {
    const message = await Promise.race([
      new Promise<{ ok: boolean; result?: T; error?: string }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as { ok: boolean; result?: T; error?: string }));
        child.once('error', reject);
        void exited.then((code) => reject(new Error(`child exited (code ${code}) without a result: ${forked.outputTail()}`)));
      }),
      rejectAfter(answerMs, () => `child did not answer within ${answerMs} ms`),
    ]);
    if (!message.ok) throw new Error(`child failed: ${message.error}`);
    const code = await Promise.race([exited, rejectAfter(exitMs, () => `child did not exit within ${exitMs} ms after answering: ${forked.outputTail()}`)]);
    if (code !== 0) throw new Error(`child exited with code ${code}: ${forked.outputTail()}`);
    return message.result!;
  } finally {
    await forked.kill();
  }
}
