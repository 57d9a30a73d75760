/**
 * The storage contract, one suite for every backend (memory, SQLite, etcd). Each case's title
 * names the backend. Revisions are asserted relative to the store's revision at the start of a
 * case, since etcd's revision is server-wide.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { isKVError, type KV, type KVEvent, type KVWatchMessage } from '../../lib/storage/kv.js';
import { kvBackends } from '../harness/backends.js';
import { eventsOf, expectKVError } from '../harness/kv.js';
import { collectUntil, nextWithin, waitFor } from '../harness/wait.js';


async function collectEvents(it: AsyncIterator<KVWatchMessage>, count: number, timeoutMs = 5000): Promise<KVEvent[]> {
  const messages = await collectUntil(it, (ms) => eventsOf(ms).length >= count, timeoutMs);
  return eventsOf(messages);
}


for (const backend of kvBackends) {
  describe(`KV contract [${backend.name}]`, function () {
    this.timeout(30_000);
    let kv: KV;

    before(async () => backend.setup());
    after(async () => backend.teardown());
    beforeEach(async () => {
      kv = await backend.open();
    });
    afterEach(async () => kv.close());

    describe(`create/get [${backend.name}]`, () => {
      it(`creates a key at the next revision with version 1 [${backend.name}]`, async () => {
        const rev0 = await kv.revision();
        const created = await kv.create('/a/one', 'v1');
        expect(created.modRevision).to.equal(rev0 + 1);
        expect(created.createRevision).to.equal(rev0 + 1);
        expect(created.version).to.equal(1);
        const got = await kv.get('/a/one');
        expect(got).to.include({ key: '/a/one', value: 'v1', modRevision: rev0 + 1, createRevision: rev0 + 1, version: 1 });
        expect(await kv.revision()).to.equal(rev0 + 1);
      });

      it(`refuses to create an existing key and reports its current value [${backend.name}]`, async () => {
        const first = await kv.create('/a/one', 'v1');
        const err = (await expectKVError(kv.create('/a/one', 'v2'), 'exists')) as { current?: { value: string; modRevision: number } };
        expect(err.current?.value).to.equal('v1');
        expect(err.current?.modRevision).to.equal(first.modRevision);
        expect((await kv.get('/a/one'))?.value).to.equal('v1');
      });

      it(`returns undefined for a missing key [${backend.name}]`, async () => {
        expect(await kv.get('/nope')).to.equal(undefined);
      });

      it(`round-trips unicode and large values [${backend.name}]`, async () => {
        const value = JSON.stringify({ text: 'ünïcødé — 日本語 🚀', big: 'x'.repeat(200_000) });
        await kv.create('/a/u', value);
        expect((await kv.get('/a/u'))?.value).to.equal(value);
      });
    });

    describe(`compare-and-swap [${backend.name}]`, () => {
      it(`updates only at the expected modRevision [${backend.name}]`, async () => {
        const created = await kv.create('/a/k', 'v1');
        const updated = await kv.update('/a/k', 'v2', created.modRevision);
        expect(updated.modRevision).to.equal(created.modRevision + 1);
        expect(updated.createRevision).to.equal(created.createRevision);
        expect(updated.version).to.equal(2);
        const err = (await expectKVError(kv.update('/a/k', 'v3', created.modRevision), 'conflict')) as { current?: { value: string } };
        expect(err.current?.value).to.equal('v2');
        expect((await kv.get('/a/k'))?.value).to.equal('v2');
      });

      it(`fails to update a missing key with not-found [${backend.name}]`, async () => {
        await expectKVError(kv.update('/a/missing', 'v', 1), 'not-found');
      });

      it(`deletes with and without a precondition [${backend.name}]`, async () => {
        const a = await kv.create('/a/x', '1');
        await kv.create('/a/y', '2');
        await expectKVError(kv.delete('/a/x', a.modRevision + 100), 'conflict');
        const deleted = await kv.delete('/a/x', a.modRevision);
        expect(deleted.prev.value).to.equal('1');
        expect(deleted.revision).to.equal(await kv.revision());
        const y = await kv.delete('/a/y');
        expect(y.prev.value).to.equal('2');
        await expectKVError(kv.delete('/a/y'), 'not-found');
        expect(await kv.get('/a/x')).to.equal(undefined);
      });

      it(`gives a recreated key a new createRevision [${backend.name}]`, async () => {
        const first = await kv.create('/a/r', '1');
        await kv.delete('/a/r');
        const second = await kv.create('/a/r', '2');
        expect(second.createRevision).to.be.greaterThan(first.createRevision);
        expect(second.version).to.equal(1);
      });

      it(`lets exactly one of many concurrent updates at the same revision win [${backend.name}]`, async () => {
        const created = await kv.create('/a/race', '0');
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => kv.update('/a/race', String(i + 1), created.modRevision)));
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).to.have.length(1);
        for (const r of results) if (r.status === 'rejected') expect(isKVError(r.reason, 'conflict')).to.equal(true);
        const winner = (won[0] as PromiseFulfilledResult<{ value: string }>).value.value;
        expect((await kv.get('/a/race'))?.value).to.equal(winner);
      });

      it(`advances the revision by exactly one per write [${backend.name}]`, async () => {
        const rev0 = await kv.revision();
        const a = await kv.create('/a/1', 'x');
        const b = await kv.create('/b/1', 'x');
        const c = await kv.update('/a/1', 'y', a.modRevision);
        const d = await kv.delete('/b/1');
        expect([a.modRevision, b.modRevision, c.modRevision, d.revision]).to.deep.equal([rev0 + 1, rev0 + 2, rev0 + 3, rev0 + 4]);
      });
    });

    describe(`range [${backend.name}]`, () => {
      it(`lists keys under a prefix in key order and nothing beyond it [${backend.name}]`, async () => {
        for (const key of ['/p/b', '/p/a', '/p/c/d', '/pp/x', '/o/z']) await kv.create(key, key);
        const result = await kv.range('/p/');
        expect(result.kvs.map((k) => k.key)).to.deep.equal(['/p/a', '/p/b', '/p/c/d']);
        expect(result.more).to.equal(false);
        expect(result.revision).to.equal(await kv.revision());
        expect(await kv.count('/p/')).to.equal(3);
      });

      it(`pages with limit and fromKey, each key exactly once [${backend.name}]`, async () => {
        const keys = Array.from({ length: 23 }, (_, i) => `/pg/k${String(i).padStart(3, '0')}`);
        for (const key of keys) await kv.create(key, 'v');
        const seen: string[] = [];
        let fromKey: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await kv.range('/pg/', { limit: 5, ...(fromKey ? { fromKey } : {}) });
          pages++;
          seen.push(...page.kvs.map((k) => k.key));
          if (!page.more) break;
          fromKey = page.kvs[page.kvs.length - 1]!.key + '\u0000';
        }
        expect(seen).to.deep.equal(keys);
        expect(pages).to.equal(5);
      });

      it(`reads the state at an earlier revision [${backend.name}]`, async () => {
        const a = await kv.create('/h/a', '1');
        await kv.create('/h/b', '1');
        const at = await kv.revision();
        await kv.update('/h/a', '2', a.modRevision);
        await kv.delete('/h/b');
        await kv.create('/h/c', '1');
        const then = await kv.range('/h/', { revision: at });
        expect(then.revision).to.equal(at);
        expect(then.kvs.map((k) => [k.key, k.value])).to.deep.equal([
          ['/h/a', '1'],
          ['/h/b', '1'],
        ]);
        const now = await kv.range('/h/');
        expect(now.kvs.map((k) => [k.key, k.value])).to.deep.equal([
          ['/h/a', '2'],
          ['/h/c', '1'],
        ]);
      });

      it(`refuses a compacted or future revision [${backend.name}]`, async () => {
        const a = await kv.create('/c/a', '1');
        await kv.update('/c/a', '2', a.modRevision);
        await kv.create('/c/b', '1');
        const rev = await kv.revision();
        await kv.compact(rev);
        await expectKVError(kv.range('/c/', { revision: a.modRevision }), 'compacted');
        await expectKVError(kv.range('/c/', { revision: rev + 1000 }), 'future-revision');
        expect((await kv.range('/c/', { revision: rev })).kvs).to.have.length(2);
      });
    });

    describe(`watch [${backend.name}]`, () => {
      it(`delivers every change after the start revision in order, with previous values [${backend.name}]`, async () => {
        const start = await kv.revision();
        const ac = new AbortController();
        const it = kv.watch('/w/', start, { signal: ac.signal });
        const a = await kv.create('/w/a', '1');
        await kv.create('/other/a', '1');
        const a2 = await kv.update('/w/a', '2', a.modRevision);
        await kv.delete('/w/a');
        const events = await collectEvents(it, 3);
        ac.abort();
        expect(events.map((e) => [e.type, e.key, e.revision])).to.deep.equal([
          ['put', '/w/a', a.modRevision],
          ['put', '/w/a', a2.modRevision],
          ['delete', '/w/a', a2.modRevision + 1],
        ]);
        expect(events[0]!.kv?.value).to.equal('1');
        expect(events[0]!.prev).to.equal(undefined);
        expect(events[1]!.prev?.value).to.equal('1');
        expect(events[1]!.kv?.version).to.equal(2);
        expect(events[2]!.prev?.value).to.equal('2');
        expect(events[2]!.kv).to.equal(undefined);
      });

      it(`resumes exactly from any past revision [${backend.name}]`, async () => {
        const revs: number[] = [await kv.revision()];
        let last = await kv.create('/r/k', '0');
        revs.push(last.modRevision);
        for (let i = 1; i <= 5; i++) {
          last = await kv.update('/r/k', String(i), last.modRevision);
          revs.push(last.modRevision);
        }
        for (let from = 0; from < revs.length; from++) {
          const ac = new AbortController();
          const it = kv.watch('/r/', revs[from]!, { signal: ac.signal });
          const expected = revs.length - 1 - from;
          const events = expected > 0 ? await collectEvents(it, expected) : [];
          ac.abort();
          expect(events.map((e) => e.revision)).to.deep.equal(revs.slice(from + 1));
          expect(events.map((e) => e.kv?.value)).to.deep.equal(revs.slice(from + 1).map((_, i) => String(from + i)));
        }
      });

      it(`fails with compacted when the start revision is gone [${backend.name}]`, async () => {
        const start = await kv.revision();
        let last = await kv.create('/cw/k', '0');
        for (let i = 1; i <= 3; i++) last = await kv.update('/cw/k', String(i), last.modRevision);
        await kv.compact(last.modRevision);
        expect(await kv.compactRevision()).to.be.at.least(last.modRevision);
        const it = kv.watch('/cw/', start);
        try {
          await expectKVError(nextWithin(it, 5000), 'compacted');
        } finally {
          await it.return?.();
        }
        // The compacted revision itself still serves: a watch from just before it gets its event.
        const ok = kv.watch('/cw/', last.modRevision - 1);
        const events = await collectEvents(ok, 1);
        await ok.return?.();
        expect(events[0]!.revision).to.equal(last.modRevision);
      });

      it(`ends when its signal aborts [${backend.name}]`, async () => {
        const ac = new AbortController();
        const it = kv.watch('/sig/', await kv.revision(), { signal: ac.signal });
        const pending = nextWithin(it, 5000);
        ac.abort();
        const r = await pending;
        expect(r.done).to.equal(true);
      });

      it(`sends progress notifications while idle [${backend.name}]`, async () => {
        await kv.create('/pn/a', '1');
        const rev = await kv.revision();
        const ac = new AbortController();
        const it = kv.watch('/pn/', rev, { signal: ac.signal, progressNotify: true, progressIntervalMs: 100 });
        const messages = await collectUntil(it, (ms) => ms.some((m) => m.type === 'progress'), 10_000);
        ac.abort();
        const progress = messages.find((m) => m.type === 'progress') as { revision: number };
        expect(progress.revision).to.be.at.least(rev);
      });

      it(`sees a write made right after the watch starts [${backend.name}]`, async () => {
        const rev = await kv.revision();
        const it = kv.watch('/now/', rev);
        const created = await kv.create('/now/x', 'y');
        const events = await collectEvents(it, 1);
        await it.return?.();
        expect(events[0]!.revision).to.equal(created.modRevision);
      });
    });

    describe(`compaction [${backend.name}]`, () => {
      it(`keeps the current state intact and is idempotent [${backend.name}]`, async () => {
        let a = await kv.create('/cp/a', '0');
        for (let i = 1; i < 10; i++) a = await kv.update('/cp/a', String(i), a.modRevision);
        await kv.create('/cp/b', 'b');
        await kv.delete('/cp/b');
        const rev = await kv.revision();
        await kv.compact(rev);
        await kv.compact(rev);
        await kv.compact(rev - 1);
        const now = await kv.range('/cp/');
        expect(now.kvs.map((k) => [k.key, k.value, k.version])).to.deep.equal([['/cp/a', '9', 10]]);
        const next = await kv.update('/cp/a', 'x', a.modRevision);
        expect(next.modRevision).to.equal(rev + 1);
      });
    });

    describe(`leases [${backend.name}]`, () => {
      it(`deletes keys bound to an expired lease, as a watched delete [${backend.name}]`, async () => {
        const lease = await kv.grantLease(2);
        const rev = await kv.revision();
        const it = kv.watch('/ls/', rev);
        await kv.create('/ls/ephemeral', 'e', { lease });
        await kv.create('/ls/durable', 'd');
        const events = await collectEvents(it, 3, 15_000);
        await it.return?.();
        expect(events.map((e) => [e.type, e.key])).to.deep.equal([
          ['put', '/ls/ephemeral'],
          ['put', '/ls/durable'],
          ['delete', '/ls/ephemeral'],
        ]);
        expect(events[0]!.kv?.lease).to.equal(lease);
        expect(await kv.get('/ls/durable')).to.not.equal(undefined);
        await expectKVError(kv.keepAlive(lease), 'lease-not-found');
      });

      it(`keeps keys while the lease is kept alive, and revoking deletes them [${backend.name}]`, async () => {
        const lease = await kv.grantLease(2);
        await kv.create('/lk/a', 'a', { lease });
        const until = Date.now() + 4000;
        while (Date.now() < until) {
          await kv.keepAlive(lease);
          expect(await kv.get('/lk/a'), 'kept alive').to.not.equal(undefined);
          await new Promise((r) => setTimeout(r, 500));
        }
        await kv.revokeLease(lease);
        await waitFor(async () => (await kv.get('/lk/a')) === undefined, { what: 'revoked key to vanish' });
      });

      it(`refuses to bind a key to an unknown lease [${backend.name}]`, async () => {
        await expectKVError(kv.create('/lu/a', 'a', { lease: 987654321 }), 'lease-not-found');
        expect(await kv.get('/lu/a')).to.equal(undefined);
      });
    });

    describe(`history property [${backend.name}]`, () => {
      it(`gives every watcher, from any revision, exactly the committed history [${backend.name}]`, async () => {
        const keys = ['/prop/a', '/prop/b', '/prop/c'];
        const op = fc.record({
          key: fc.constantFrom(...keys),
          kind: fc.constantFrom('create', 'update', 'delete', 'delete-any'),
          value: fc.string({ maxLength: 8 }),
          stale: fc.boolean(),
        });
        const runs = backend.name === 'etcd' ? 12 : 40;
        await fc.assert(
          fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), async (batches) => {
            for (const key of keys) await kv.delete(key).catch(() => undefined);
            const start = await kv.revision();
            const ac = new AbortController();
            const early = kv.watch('/prop/', start, { signal: ac.signal });
            const committed: { revision: number; key: string; type: string; value?: string }[] = [];
            for (const batch of batches) {
              // Each batch runs concurrently: compare-and-swap decides the winners.
              const snapshot = new Map<string, number>();
              for (const key of keys) snapshot.set(key, (await kv.get(key))?.modRevision ?? 0);
              await Promise.all(
                batch.map(async (o) => {
                  const expect = (snapshot.get(o.key) ?? 0) + (o.stale ? 1000 : 0);
                  try {
                    if (o.kind === 'create') {
                      const r = await kv.create(o.key, o.value);
                      committed.push({ revision: r.modRevision, key: o.key, type: 'put', value: o.value });
                    } else if (o.kind === 'update') {
                      const r = await kv.update(o.key, o.value, expect);
                      committed.push({ revision: r.modRevision, key: o.key, type: 'put', value: o.value });
                    } else {
                      const r = await kv.delete(o.key, o.kind === 'delete' ? expect : undefined);
                      committed.push({ revision: r.revision, key: o.key, type: 'delete' });
                    }
                  } catch (err) {
                    if (!isKVError(err)) throw err;
                  }
                }),
              );
            }
            committed.sort((x, y) => x.revision - y.revision);
            const end = await kv.revision();
            expect(committed.map((c) => c.revision)).to.deep.equal(Array.from({ length: end - start }, (_, i) => start + 1 + i));
            const late = kv.watch('/prop/', start, { signal: ac.signal });
            const mid = committed.length > 1 ? committed[Math.floor(committed.length / 2)]!.revision : start;
            const middle = kv.watch('/prop/', mid, { signal: ac.signal });
            const asSeen = (events: KVEvent[]) => events.map((e) => ({ revision: e.revision, key: e.key, type: e.type, ...(e.kv ? { value: e.kv.value } : {}) }));
            const want = committed.map((c) => ({ ...c }));
            expect(asSeen(await collectEvents(early, want.length))).to.deep.equal(want);
            expect(asSeen(await collectEvents(late, want.length))).to.deep.equal(want);
            const wantMiddle = want.filter((c) => c.revision > mid);
            expect(asSeen(wantMiddle.length ? await collectEvents(middle, wantMiddle.length) : [])).to.deep.equal(wantMiddle);
            ac.abort();
          }),
          { numRuns: runs },
        );
      });
    });
  });
}
