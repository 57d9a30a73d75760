/**
 * What the shared KV suite cannot see about the etcd backend: key prefixes, etcd's limits and
 * errors, that closing a watch really cancels the etcd watcher, that progress notifications
 * never run ahead of events, compaction done by someone else, and a 3-member cluster losing a
 * member.
 */
import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { EtcdKV, prefixEndBytes } from '../../lib/storage/etcd.js';
import { isKVError, type KVEvent, type KVWatchMessage } from '../../lib/storage/kv.js';
import { EtcdServer } from '../harness/etcd.js';
import { eventsOf, expectKVError } from '../harness/kv.js';
import { collectUntil, nextWithin, waitFor } from '../harness/wait.js';



describe('EtcdKV specifics [etcd]', function () {
  this.timeout(30_000);
  let server: EtcdServer;
  const stores: EtcdKV[] = [];
  const open = (prefix: string) => {
    const kv = new EtcdKV({ endpoints: server.endpoints, prefix });
    stores.push(kv);
    return kv;
  };

  before(async () => {
    const started = Date.now();
    server = await EtcdServer.start();
    console.log(`      [etcd] one member healthy ${Date.now() - started} ms after spawn`);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((kv) => kv.close()));
  });
  after(async () => {
    await server?.stop();
  });

  it('computes byte-wise prefix ends [etcd]', () => {
    expect(prefixEndBytes(Buffer.from('/a/'))).to.deep.equal(Buffer.from('/a0'));
    expect(prefixEndBytes(Buffer.from([0x61, 0xff, 0xff]))).to.deep.equal(Buffer.from([0x62]));
    expect(prefixEndBytes(Buffer.from([0xff]))).to.deep.equal(Buffer.from([0]));
    expect(prefixEndBytes(Buffer.alloc(0))).to.deep.equal(Buffer.from([0]));
  });

  it('keeps stores with different prefixes apart and never shows the prefix [etcd]', async () => {
    const a = open('/iso-a/');
    const b = open('/iso-b/');
    const unprefixed = open('');
    const start = await a.revision();
    const watchA = a.watch('/', start);
    await a.create('/k', 'from a');
    await b.create('/k', 'from b');
    const deleted = await a.delete('/k');
    expect(deleted.prev.key).to.equal('/k');
    await a.create('/k2', 'again');
    expect((await a.range('/')).kvs.map((k) => [k.key, k.value])).to.deep.equal([['/k2', 'again']]);
    expect((await b.get('/k'))?.value).to.equal('from b');
    expect(await b.count('/')).to.equal(1);
    const events = eventsOf(await collectUntil(watchA, (ms) => eventsOf(ms).length >= 3));
    await watchA.return?.();
    expect(events.map((e) => [e.type, e.key])).to.deep.equal([
      ['put', '/k'],
      ['delete', '/k'],
      ['put', '/k2'],
    ]);
    expect(events[1]!.prev?.key).to.equal('/k');
    // Without a prefix the full keys are visible, as etcdctl would show them.
    expect((await unprefixed.get('/iso-b//k'))?.value).to.equal('from b');
  });

  it('maps etcd size limits to too-large [etcd]', async () => {
    const kv = open('/big/');
    // Above etcd's --max-request-bytes (1.5 MiB): refused by etcd.
    await expectKVError(kv.create('/a', 'x'.repeat(1_600_000)), 'too-large');
    // Above gRPC's receive limit (request bytes + 512 KiB): refused by gRPC.
    await expectKVError(kv.create('/b', 'x'.repeat(3_000_000)), 'too-large');
    // A large value below the limit works, and a failed request did not disturb the client.
    await kv.create('/c', 'x'.repeat(1_000_000));
    expect((await kv.get('/c'))?.value.length).to.equal(1_000_000);
  });

  it('fails with unavailable when no member answers [etcd]', async () => {
    const dead = new EtcdKV({ endpoints: ['http://127.0.0.1:1'], prefix: '/x/' });
    stores.push(dead);
    const started = Date.now();
    await expectKVError(dead.get('/a'), 'unavailable');
    await expectKVError(dead.create('/a', 'v'), 'unavailable');
    // Fails fast rather than retrying for ever (a generous bound on a shared machine).
    expect(Date.now() - started).to.be.lessThan(30_000);
  });

  it('refuses every call after close and ends open watches [etcd]', async () => {
    const kv = new EtcdKV({ endpoints: server.endpoints, prefix: '/closing/' });
    const it = kv.watch('/', await kv.revision());
    const pending = nextWithin(it, 5000);
    await kv.close();
    expect((await pending).done).to.equal(true);
    await expectKVError(kv.get('/a'), 'closed');
    expect(() => kv.watch('/', 0)).to.throw(/closed/);
  });

  it('cancels the etcd watcher when a watch is closed or aborted [etcd]', async () => {
    const kv = open('/cancel/');
    const watchers = () => server.metric('etcd_debugging_mvcc_watcher_total');
    const baseline = await watchers();
    const ac = new AbortController();
    const from = await kv.revision();
    const its = Array.from({ length: 4 }, () => kv.watch('/', from, { signal: ac.signal }));
    const returned = kv.watch('/', from);
    await waitFor(async () => (await watchers()) === baseline + 5, { what: '5 etcd watchers' });
    await returned.return?.();
    await waitFor(async () => (await watchers()) === baseline + 4, { what: 'the returned watch to cancel its watcher' });
    ac.abort();
    await waitFor(async () => (await watchers()) === baseline, { what: 'aborted watches to cancel their watchers' });
    for (const it of its) expect((await nextWithin(it)).done).to.equal(true);
  });

  it('never reports progress ahead of an undelivered event, and progresses past other prefixes\' writes [etcd]', async () => {
    const kv = open('/progress/');
    const start = await kv.revision();
    const ac = new AbortController();
    const it = kv.watch('/a/', start, { signal: ac.signal, progressNotify: true, progressIntervalMs: 20 });
    let progress = start;
    let lastEvent = start;
    const violations: string[] = [];
    let seen = 0;
    const reading = (async () => {
      for await (const m of it) {
        if (m.type === 'progress') {
          if (m.revision < progress) violations.push(`progress went back from ${progress} to ${m.revision}`);
          progress = Math.max(progress, m.revision);
          continue;
        }
        for (const e of m.events) {
          if (e.revision <= progress) violations.push(`event ${e.revision} after progress ${progress}`);
          if (e.revision <= lastEvent) violations.push(`event ${e.revision} after event ${lastEvent}`);
          lastEvent = e.revision;
          seen++;
        }
      }
    })();
    // Writes to the watched prefix interleaved with bursts elsewhere, with idle gaps for progress.
    let written = 0;
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => kv.create(`/b/${round}-${i}`, 'x')));
      await kv.create(`/a/${round}`, 'x');
      written++;
      await Promise.all(Array.from({ length: 10 }, (_, i) => kv.create(`/c/${round}-${i}`, 'x')));
      await waitFor(() => seen >= written, { what: `event ${written}` });
    }
    const last = await kv.create('/elsewhere/last', 'x');
    // etcd's periodic progress (500 ms in the harness) lets the idle watch move past it.
    await waitFor(() => progress >= last.modRevision, { timeoutMs: 10_000, what: `progress to reach ${last.modRevision}` });
    ac.abort();
    await reading;
    expect(violations).to.deep.equal([]);
    expect(seen).to.equal(10);
  });

  it('sees compaction done by another client, and serves exactly the history the contract promises [etcd]', async () => {
    const kv = open('/cmp-a/');
    const other = open('/cmp-b/');
    let k = await kv.create('/k', '0');
    for (let i = 1; i < 20; i++) k = await kv.update('/k', String(i), k.modRevision);
    expect(await kv.compactRevision()).to.be.lessThan(k.modRevision - 5);
    const c = k.modRevision - 5;
    await other.compact(c);
    expect(await kv.compactRevision()).to.equal(c);
    const err = (await expectKVError(kv.range('/', { revision: c - 2 }), 'compacted')) as { compactRevision?: number };
    expect(err.compactRevision).to.equal(c);
    expect((await kv.range('/', { revision: c })).kvs[0]?.value).to.equal('14');
    // Watching from just below the compacted revision works, with previous values; two below fails.
    const ok = kv.watch('/', c - 1);
    const first = eventsOf(await collectUntil(ok, (ms) => eventsOf(ms).length >= 1))[0]!;
    await ok.return?.();
    expect([first.revision, first.kv?.value, first.prev?.value]).to.deep.equal([c, '14', '13']);
    const gone = kv.watch('/', c - 2);
    const failure = (await expectKVError(nextWithin(gone), 'compacted')) as { compactRevision?: number };
    expect(failure.compactRevision).to.equal(c);
  });

  it('delivers a delete at the compacted revision with its previous value [etcd]', async () => {
    // etcd's own compaction at X drops X's delete tombstones; compact(R) must keep R's.
    const kv = open('/cmp-del/');
    await kv.create('/k', 'v');
    const { revision } = await kv.delete('/k');
    await kv.compact(revision);
    expect(await kv.compactRevision()).to.equal(revision);
    const it = kv.watch('/', revision - 1);
    const events = eventsOf(await collectUntil(it, (ms) => eventsOf(ms).length >= 1));
    await it.return?.();
    expect(events.map((e) => [e.type, e.revision, e.prev?.value])).to.deep.equal([['delete', revision, 'v']]);
  });

  it('refuses, rather than silently shortens, a watch over a raw etcd compaction [etcd]', async () => {
    // As etcd's auto-compaction or etcdctl would: compact etcd itself at a delete's revision.
    const kv = open('/cmp-raw/');
    const raw = new Etcd3({ hosts: server.endpoints });
    try {
      await kv.create('/k', 'v');
      const { revision } = await kv.delete('/k');
      await kv.create('/after', 'x');
      await raw.kv.compact({ revision });
      // The delete at `revision` is gone from etcd's history, so the contract's compacted
      // revision is the next one, and a watch that would need the delete fails.
      expect(await kv.compactRevision()).to.equal(revision + 1);
      await expectKVError(nextWithin(kv.watch('/', revision - 1)), 'compacted');
      const ok = kv.watch('/', revision);
      const events = eventsOf(await collectUntil(ok, (ms) => eventsOf(ms).length >= 1));
      await ok.return?.();
      expect(events.map((e) => e.key)).to.deep.equal(['/after']);
    } finally {
      raw.close();
    }
  });

  it('keeps working on a 3-member cluster with a follower SIGKILLed [etcd]', async function () {
    this.timeout(60_000);
    const started = Date.now();
    const cluster = await EtcdServer.startCluster(3);
    const startMs = Date.now() - started;
    const kv = new EtcdKV({ endpoints: cluster.endpoints, prefix: '/cluster/' });
    try {
      const start = await kv.revision();
      const ac = new AbortController();
      const it = kv.watch('/', start, { signal: ac.signal });
      for (let i = 0; i < 20; i++) await kv.create(`/k${String(i).padStart(3, '0')}`, String(i));
      let follower: EtcdServer | undefined;
      for (const m of cluster.members) if (!(await m.isLeader())) follower = m;
      await follower!.kill();
      for (let i = 20; i < 60; i++) await kv.create(`/k${String(i).padStart(3, '0')}`, String(i));
      expect(await kv.count('/')).to.equal(60);
      const events = eventsOf(await collectUntil(it, (ms) => eventsOf(ms).length >= 60, 20_000));
      ac.abort();
      expect(events.map((e) => e.kv?.value)).to.deep.equal(Array.from({ length: 60 }, (_, i) => String(i)));
      await follower!.restart();
      console.log(`      [etcd] 3-member cluster healthy ${startMs} ms after spawn`);
    } finally {
      await kv.close();
      await cluster.stop();
    }
  });
});
