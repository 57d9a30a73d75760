/**
 * What only the SQLite backend promises, beyond the shared contract (test/storage/kv.test.ts):
 * acknowledged writes survive a SIGKILL, several processes share one file (reads, watches,
 * compare-and-swap, compaction, lease expiry), group commit batches without coupling outcomes,
 * and everything survives close and reopen. The other process is test/fixtures/sqlite-child.ts.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { isKVError, type KVErrorCode, type KVEvent, type KVWatchMessage, type KeyValue } from '../../lib/storage/kv.js';
import { SqliteKV } from '../../lib/storage/sqlite.js';
import { burstKey, burstValue, casIncrements } from '../fixtures/sqlite-child.js';
import { eventsOf } from '../harness/kv.js';
import { collectUntil, waitFor } from '../harness/wait.js';

const CHILD = fileURLToPath(new URL('../fixtures/sqlite-child.js', import.meta.url));

/** A child process running the fixture, with line-based output and JSON requests. */
class Child {
  readonly lines: string[] = [];
  /** Resolves when the process has exited and its stdout is drained. */
  readonly exited: Promise<void>;
  private readonly proc: ChildProcess;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    const out = createInterface({ input: this.proc.stdout! });
    out.on('line', (line) => this.onLine(line));
    const outClosed = new Promise<void>((resolve) => out.once('close', resolve));
    const procExited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.exited = Promise.all([outClosed, procExited]).then(() => {
      for (const w of this.waiting.values()) w.reject(new Error(`child exited; stderr: ${this.stderr}`));
      this.waiting.clear();
    });
  }

  /** Sends one request and resolves with its result (rejects with the child's error). */
  request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /** Waits until the child printed `line`. */
  async waitForLine(line: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.lines.includes(line) || this.proc.exitCode !== null, { timeoutMs, what: `child to print ${line}` });
    if (!this.lines.includes(line)) throw new Error(`child exited before printing ${line}; stderr: ${this.stderr}`);
  }

  /** Kills the child (if still running) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (!line.startsWith('{')) return;
    const reply = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: { code?: string; message?: string } };
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (reply.ok) w.resolve(reply.result);
    else w.reject(Object.assign(new Error(reply.error?.message ?? 'child error'), { code: reply.error?.code }));
  }
}


describe('SqliteKV (SQLite-specific)', function () {
  this.timeout(60_000);
  let dir: string;
  let children: Child[] = [];
  let stores: SqliteKV[] = [];
  const watches = new AbortController();

  function child(args: string[]): Child {
    const c = new Child(args);
    children.push(c);
    return c;
  }

  function open(path: string, options?: Parameters<typeof SqliteKV.open>[1]): SqliteKV {
    const kv = SqliteKV.open(path, options);
    stores.push(kv);
    return kv;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keelson-sqlite-test-'));
  });

  afterEach(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await Promise.all(stores.map((s) => s.close()));
    children = [];
    stores = [];
    await rm(dir, { recursive: true, force: true });
  });

  after(() => watches.abort());

  describe('durability', () => {
    it('keeps every acknowledged write of a group-committing writer that is SIGKILLed mid-burst', async () => {
      const path = join(dir, 'burst.db');
      const total = 100_000;
      const writer = child(['burst', path, String(total), '64']);
      const acked = () => writer.lines.filter((l) => l.startsWith('ack '));
      await waitFor(() => acked().length >= 3000 || writer.lines.includes('done'), { timeoutMs: 30_000, what: '3000 acknowledged writes' });
      await writer.kill('SIGKILL');
      // Acks read after the kill were still printed after their commit: they count too.
      const ackedKeys = acked().map((l) => l.slice(4));
      expect(writer.lines, 'the writer finished before it could be killed').to.not.include('done');

      const db = new DatabaseSync(path);
      try {
        expect(db.prepare('PRAGMA integrity_check').all()).to.deep.equal([{ integrity_check: 'ok' }]);
      } finally {
        db.close();
      }
      const kv = open(path);
      const { kvs } = await kv.range('/burst/');
      const present = new Map(kvs.map((k) => [k.key, k]));
      for (const key of ackedKeys) expect(present.get(key)?.value, `acknowledged ${key}`).to.equal(burstValue(Number(key.slice('/burst/k'.length))));
      for (const k of kvs) {
        const i = Number(k.key.slice('/burst/k'.length));
        expect(k.key).to.equal(burstKey(i));
        expect(k.value, `value of ${k.key}`).to.equal(burstValue(i));
      }
      // Nothing but whole creates: one revision per key, no gaps, no stray rows.
      expect(await kv.revision()).to.equal(kvs.length);
      expect(kvs.map((k) => k.modRevision).sort((a, b) => a - b)).to.deep.equal(kvs.map((_, i) => i + 1));
      expect(kvs.length).to.be.at.least(ackedKeys.length).and.below(total);
      console.log(`      (${ackedKeys.length} acknowledged, ${kvs.length} present after SIGKILL)`);
      // The store takes writes again after recovery.
      expect((await kv.create('/after/crash', 'ok')).modRevision).to.equal(kvs.length + 1);
    });
  });

  describe('group commit', () => {
    it('commits writes submitted together in one transaction, each with its own outcome', async () => {
      const kv = open(join(dir, 'group.db'));
      const a = await kv.create('/g/a', '0');
      const before = kv.commitStats.transactions;
      const results = await Promise.allSettled([
        kv.create('/g/b', '1'),
        kv.update('/g/a', 'stale', a.modRevision + 7),
        kv.create('/g/a', 'dup'),
        kv.update('/g/a', '1', a.modRevision),
        kv.delete('/g/missing'),
        kv.create('/g/c', '2'),
      ]);
      expect(kv.commitStats.transactions - before, 'transactions for one batch').to.equal(1);
      expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code))).to.deep.equal([
        'ok',
        'conflict',
        'exists',
        'ok',
        'not-found',
        'ok',
      ]);
      // The successful writes took consecutive revisions in submission order.
      const revs = [results[0], results[3], results[5]].map((r) => (r as PromiseFulfilledResult<KeyValue>).value.modRevision);
      expect(revs).to.deep.equal([a.modRevision + 1, a.modRevision + 2, a.modRevision + 3]);
      expect((await kv.range('/g/')).kvs.map((k) => [k.key, k.value])).to.deep.equal([
        ['/g/a', '1'],
        ['/g/b', '1'],
        ['/g/c', '2'],
      ]);
    });

    it('batches many writers in flight into few transactions', async () => {
      const kv = open(join(dir, 'many.db'));
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < 2000) {
            const i = next++;
            await kv.create(`/many/${i}`, String(i));
          }
        }),
      );
      const stats = kv.commitStats;
      expect(stats.writes).to.equal(2000);
      expect(stats.transactions).to.be.below(200);
      expect(await kv.count('/many/')).to.equal(2000);
    });
  });

  describe('several processes on one file', () => {
    it('sees the other process’s writes, in both directions', async () => {
      const path = join(dir, 'shared.db');
      const kv = open(path);
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const mine = await kv.create('/mp/parent', 'p');
      expect(await other.request<KeyValue>('get', { key: '/mp/parent' })).to.include({ value: 'p', modRevision: mine.modRevision });
      const theirs = await other.request<{ kv: KeyValue }>('create', { key: '/mp/child', value: 'c' });
      expect(theirs.kv.modRevision).to.equal(mine.modRevision + 1);
      expect(await kv.get('/mp/child')).to.include({ value: 'c', modRevision: theirs.kv.modRevision });
      expect(await kv.revision()).to.equal(theirs.kv.modRevision);
      expect((await kv.range('/mp/')).kvs.map((k) => k.key)).to.deep.equal(['/mp/child', '/mp/parent']);
      await expectCode(kv.create('/mp/child', 'again'), 'exists');
    });

    it('delivers another process’s writes to a watcher quickly', async () => {
      const path = join(dir, 'latency.db');
      const kv = open(path);
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const it = kv.watch('/lat/', await kv.revision(), { signal: watches.signal });
      const seenAt = new Map<string, number>();
      const consumer = (async () => {
        for await (const m of it) if (m.type === 'events') for (const e of m.events) seenAt.set(e.key, Date.now());
      })();
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const key = `/lat/${i}`;
        const { committedAt } = await other.request<{ committedAt: number }>('create', { key, value: 'v' });
        await waitFor(() => seenAt.has(key), { timeoutMs: 5000, what: `watch event for ${key}` });
        latencies.push(Math.max(0, seenAt.get(key)! - committedAt));
      }
      await it.return!();
      await consumer;
      latencies.sort((a, b) => a - b);
      console.log(`      (cross-process watch latency over ${latencies.length} writes: p50 ${latencies[10]} ms, max ${latencies[latencies.length - 1]} ms)`);
      expect(latencies[latencies.length - 1]).to.be.below(1000);
    });

    it('lets exactly one compare-and-swap win per revision across processes, and watchers see each once', async () => {
      const path = join(dir, 'cas.db');
      const kv = open(path);
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const start = await kv.create('/cas/counter', JSON.stringify({ n: 0, by: 'init' }));
      const mine = kv.watch('/cas/', start.modRevision, { signal: watches.signal });
      await other.request('watch', { prefix: '/cas/', from: start.modRevision });
      const perSide = 150;
      const [parentWins, childWins] = await Promise.all([
        casIncrements(kv, '/cas/counter', 'parent', perSide, 4),
        other.request<number[]>('casIncrements', { key: '/cas/counter', tag: 'child', times: perSide, inflight: 4 }),
      ]);
      const all = [...parentWins, ...childWins].sort((a, b) => a - b);
      // No revision won twice, and no lost update: the counter went up once per win.
      expect(all).to.deep.equal(Array.from({ length: 2 * perSide }, (_, i) => start.modRevision + 1 + i));
      const final = await kv.get('/cas/counter');
      expect(JSON.parse(final!.value).n).to.equal(2 * perSide);
      expect(final!.version).to.equal(2 * perSide + 1);

      const check = (events: KVEvent[], who: string) => {
        expect(events.map((e) => e.revision), `${who}: revisions`).to.deep.equal(all);
        events.forEach((e, i) => {
          expect(JSON.parse(e.kv!.value).n, `${who}: value at ${e.revision}`).to.equal(i + 1);
          expect(e.prev?.modRevision, `${who}: prev of ${e.revision}`).to.equal(i === 0 ? start.modRevision : all[i - 1]);
        });
      };
      check(eventsOf(await collectUntil(mine, (ms) => eventsOf(ms).length >= all.length, 10_000)), 'parent watcher');
      check(await other.request<KVEvent[]>('watched', { count: all.length }), 'child watcher');
    });

    it('compacts safely when both processes compact, never going backwards', async () => {
      const path = join(dir, 'compact.db');
      const kv = open(path);
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const valueAt = new Map<number, string>();
      let k = await kv.create('/cp/k', '0');
      valueAt.set(k.modRevision, k.value);
      for (let i = 1; i <= 300; i++) {
        k = await kv.update('/cp/k', String(i), k.modRevision);
        valueAt.set(k.modRevision, k.value);
      }
      await kv.create('/cp/gone', 'x');
      await kv.delete('/cp/gone');
      const head = await kv.revision();
      // Both at once (the write lock orders them), then each asks for less than is done already.
      await Promise.all([other.request('compact', { revision: head - 10 }), kv.compact(head - 100)]);
      await kv.compact(head - 50);
      await other.request('compact', { revision: head - 60 });
      expect(await kv.compactRevision()).to.equal(head - 10);
      expect(await other.request<number>('revision')).to.equal(head);
      // The history from the compaction point on is intact, with prev values.
      const it = kv.watch('/cp/', head - 11);
      const events = eventsOf(await collectUntil(it, (ms) => eventsOf(ms).length >= 11));
      await it.return!();
      expect(events.map((e) => e.revision)).to.deep.equal(Array.from({ length: 11 }, (_, i) => head - 10 + i));
      expect(events[0]!.prev?.value).to.equal(valueAt.get(head - 11));
      await expectCode(kv.range('/cp/', { revision: head - 11 }), 'compacted');
      expect((await kv.range('/cp/', { revision: head - 10 })).kvs.map((x) => x.value)).to.deep.equal([valueAt.get(head - 10)]);
      // Superseded rows are gone: the log does not keep growing once compacted.
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        const rows = (db.prepare('SELECT count(*) AS n FROM kv_log').get() as { n: number }).n;
        expect(rows).to.be.at.most(12);
      } finally {
        db.close();
      }
    });

    it('fails a watcher whose history another process compacted before it was read', async () => {
      const path = join(dir, 'lost.db');
      // A poll interval longer than the test: this process only reads the log when asked to.
      const kv = open(path, { pollIntervalMs: 600_000 });
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const stale = kv.watch('/lost/', await kv.revision(), { signal: watches.signal });
      let last = (await other.request<{ kv: KeyValue }>('create', { key: '/lost/k', value: '0' })).kv;
      last = (await other.request<{ kv: KeyValue }>('create', { key: '/lost/j', value: '0' })).kv;
      await other.request('compact', { revision: last.modRevision });
      // Starting another watch reads the log's head, which reveals the gap to the first one.
      const fresh = kv.watch('/lost/', last.modRevision, { signal: watches.signal });
      await expectCode(stale.next(), 'compacted');
      const mine = await kv.create('/lost/mine', 'x');
      const events = eventsOf(await collectUntil(fresh, (ms) => eventsOf(ms).length >= 1));
      expect(events.map((e) => e.revision)).to.deep.equal([mine.modRevision]);
    });

    it('expires another process’s lease after that process dies', async () => {
      const path = join(dir, 'lease.db');
      const kv = open(path);
      const other = child(['serve', path]);
      await other.waitForLine('ready');
      const it = kv.watch('/ls/', await kv.revision(), { signal: watches.signal });
      const lease = await other.request<number>('grantLease', { ttl: 1 });
      await other.request('create', { key: '/ls/ephemeral', value: 'e', lease });
      await other.kill('SIGKILL');
      const events = eventsOf(await collectUntil(it, (ms) => eventsOf(ms).length >= 2, 10_000));
      await it.return!();
      expect(events.map((e) => [e.type, e.key])).to.deep.equal([
        ['put', '/ls/ephemeral'],
        ['delete', '/ls/ephemeral'],
      ]);
      expect(events[1]!.prev?.lease).to.equal(lease);
      await expectCode(kv.keepAlive(lease), 'lease-not-found');
    });
  });

  describe('keys', () => {
    it('ranges over non-ASCII prefixes in UTF-8 byte order', async () => {
      const kv = open(join(dir, 'utf8.db'));
      for (const key of ['/u/é', '/u/éa', '/u/é\u{10FFFF}', '/u/ê', '/u/f', '/u/\u{1F680}', '/u/\uFFFF', '/v']) await kv.create(key, key);
      expect((await kv.range('/u/é')).kvs.map((k) => k.key)).to.deep.equal(['/u/é', '/u/éa', '/u/é\u{10FFFF}']);
      expect((await kv.range('/u/')).kvs.map((k) => k.key)).to.deep.equal(['/u/f', '/u/é', '/u/éa', '/u/é\u{10FFFF}', '/u/ê', '/u/\uFFFF', '/u/\u{1F680}']);
      expect((await kv.range('')).kvs).to.have.length(8);
      expect(await kv.count('/u/é')).to.equal(3);
    });
  });

  describe('persistence', () => {
    it('keeps keys, revisions, the compacted revision and leases across close and reopen', async () => {
      const path = join(dir, 'persist.db');
      const first = open(path);
      const a = await first.create('/p/a', '1');
      const a2 = await first.update('/p/a', '2', a.modRevision);
      await first.create('/p/b', 'b');
      await first.delete('/p/b');
      const lease = await first.grantLease(60);
      const leased = await first.create('/p/leased', 'l', { lease });
      await first.compact(a2.modRevision + 1);
      const revision = await first.revision();
      await first.close();
      await first.close();
      await expectCode(first.get('/p/a'), 'closed');

      const kv = open(path);
      expect(await kv.revision()).to.equal(revision);
      expect(await kv.compactRevision()).to.equal(a2.modRevision + 1);
      expect((await kv.range('/p/')).kvs.map((k) => [k.key, k.value, k.version, k.lease])).to.deep.equal([
        ['/p/a', '2', 2, 0],
        ['/p/leased', 'l', 1, lease],
      ]);
      await expectCode(kv.range('/p/', { revision: a2.modRevision }), 'compacted');
      await kv.keepAlive(lease);
      await kv.revokeLease(lease);
      expect(await kv.get('/p/leased')).to.equal(undefined);
      const next = await kv.update('/p/a', '3', a2.modRevision);
      expect(next.modRevision).to.equal(revision + 2);
      expect(next.modRevision).to.be.greaterThan(leased.modRevision);
      // A new lease never reuses an old id.
      expect(await kv.grantLease(5)).to.be.greaterThan(lease);
    });
  });
});

async function expectCode(promise: Promise<unknown>, code: KVErrorCode): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect(isKVError(err, code), `expected ${code}, got ${String(err)}`).to.equal(true);
    return;
  }
  throw new Error(`expected a ${code} error`);
}
