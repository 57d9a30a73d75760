/**
 * Durability of the etcd backend (acceptance): etcd is SIGKILLed in the middle of a burst of
 * concurrent writes and restarted on the same data dir; every write whose promise resolved must
 * be there with its value, and no key may hold a value that was never written. A watch open
 * across the restart must deliver the committed history exactly once, in order.
 */
import { expect } from 'chai';
import { EtcdKV } from '../../lib/storage/etcd.js';
import { isKVError, type KVEvent, type KVWatchMessage, type KeyValue } from '../../lib/storage/kv.js';
import { EtcdServer } from '../harness/etcd.js';
import { collectUntil, waitFor } from '../harness/wait.js';

/** A value that names its key and generation, padded to vary in size (a torn write would not parse). */
function valueFor(key: string, generation: number): string {
  const pad = 'x'.repeat(64 + ((key.length * 7919 + generation * 104729) % 900));
  return JSON.stringify({ key, generation, pad });
}

/** Creates keys from `keys` with `concurrency` writers; each writer stops at its first failure. */
async function burst(
  kv: EtcdKV,
  keys: string[],
  concurrency: number,
  onAck: (key: string, kv: KeyValue) => void,
  onAttempt: (key: string, value: string) => void,
  withUpdate: boolean,
): Promise<unknown[]> {
  const failures: unknown[] = [];
  let next = 0;
  const writer = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      try {
        const v1 = valueFor(key, 1);
        onAttempt(key, v1);
        const created = await kv.create(key, v1);
        onAck(key, created);
        if (withUpdate) {
          const v2 = valueFor(key, 2);
          onAttempt(key, v2);
          onAck(key, await kv.update(key, v2, created.modRevision));
        }
      } catch (err) {
        failures.push(err);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, writer));
  return failures;
}

describe('etcd durability [etcd]', function () {
  this.timeout(90_000);
  let server: EtcdServer;

  before(async () => {
    server = await EtcdServer.start();
  });
  after(async () => {
    await server?.stop();
  });

  it('keeps every acknowledged write across a SIGKILL mid-burst and a restart, with no torn or invented value [etcd]', async () => {
    const kv = new EtcdKV({ endpoints: server.endpoints, prefix: '/durability-writes/' });
    try {
      const keys = Array.from({ length: 4000 }, (_, i) => `/burst/k${String(i).padStart(5, '0')}`);
      const attempted = new Map<string, Set<string>>();
      const acked = new Map<string, KeyValue>();
      let acks = 0;
      let killing: Promise<void> | undefined;
      const killAfterAcks = 1500;
      const failures = await burst(
        kv,
        keys,
        64,
        (key, written) => {
          acked.set(key, written);
          // Kill while the other writers' requests are in flight.
          if (++acks === killAfterAcks) killing = server.kill();
        },
        (key, value) => {
          const set = attempted.get(key) ?? new Set<string>();
          set.add(value);
          attempted.set(key, set);
        },
        true,
      );
      expect(killing, 'etcd was killed during the burst').to.not.equal(undefined);
      await killing;
      // Every writer saw its request fail, and only as "unavailable" (never as a false conflict).
      expect(failures).to.have.length(64);
      for (const err of failures) expect(isKVError(err, 'unavailable'), `unexpected failure: ${String(err)}`).to.equal(true);

      const restartStarted = Date.now();
      await server.restart();
      const restartMs = Date.now() - restartStarted;
      // The same client recovers by itself once etcd is back.
      await waitFor(async () => (await kv.revision()) > 0, { timeoutMs: 20_000, what: 'the client to reach the restarted etcd' });
      const recoveredMs = Date.now() - restartStarted;

      const stored = new Map((await kv.range('/burst/')).kvs.map((k) => [k.key, k]));
      const maxAcked = Math.max(...[...acked.values()].map((k) => k.modRevision));
      expect(await kv.revision()).to.be.at.least(maxAcked);

      for (const [key, ack] of acked) {
        const now = stored.get(key);
        expect(now, `acknowledged key ${key} is missing`).to.not.equal(undefined);
        if (now!.modRevision === ack.modRevision) {
          expect(now!.value, `value of ${key}`).to.equal(ack.value);
        } else {
          // Only a later write of ours (the update in flight at the kill) may have replaced it.
          expect(now!.modRevision, `revision of ${key}`).to.be.greaterThan(ack.modRevision);
          expect(JSON.parse(ack.value).generation).to.equal(1);
          expect(now!.value).to.equal(valueFor(key, 2));
        }
      }
      for (const [key, now] of stored) {
        expect(attempted.get(key)?.has(now.value), `key ${key} holds a value never written`).to.equal(true);
      }
      // New writes work on the restarted server.
      const after = await kv.create('/after/restart', 'ok');
      expect(after.modRevision).to.be.greaterThan(maxAcked);
      console.log(
        `      [etcd] ${acked.size} keys acknowledged (${acks} writes), ${stored.size} stored; restart healthy in ${restartMs} ms, client recovered in ${recoveredMs} ms`,
      );
    } finally {
      await kv.close();
    }
  });

  it('keeps a watch delivering across an etcd restart, without loss or duplicates [etcd]', async () => {
    const kv = new EtcdKV({ endpoints: server.endpoints, prefix: '/durability-watch/' });
    const ac = new AbortController();
    try {
      const start = await kv.revision();
      const it = kv.watch('/w/', start, { signal: ac.signal });
      // Read along while writing, so the stream is mid-delivery when etcd dies.
      const messages: KVWatchMessage[] = [];
      const reading = (async () => {
        for await (const m of it) messages.push(m);
      })();

      const acked = new Map<string, KeyValue>();
      let acks = 0;
      let killing: Promise<void> | undefined;
      const before = Array.from({ length: 600 }, (_, i) => `/w/a${String(i).padStart(4, '0')}`);
      await burst(
        kv,
        before,
        16,
        (key, written) => {
          acked.set(key, written);
          if (++acks === 300) killing = server.kill();
        },
        () => undefined,
        false,
      );
      await killing;
      await server.restart();
      await waitFor(async () => (await kv.revision()) > 0, { timeoutMs: 20_000, what: 'the client to reach the restarted etcd' });

      // Writes committed after the restart reach the same watch.
      const afterKeys = Array.from({ length: 200 }, (_, i) => `/w/b${String(i).padStart(4, '0')}`);
      const failures = await burst(kv, afterKeys, 16, (key, written) => acked.set(key, written), () => undefined, false);
      expect(failures).to.deep.equal([]);

      // Everything committed (acknowledged or not) is what the store holds now: creates only.
      const stored = (await kv.range('/w/')).kvs;
      const eventsOf = () => messages.flatMap((m) => (m.type === 'events' ? m.events : []));
      await waitFor(() => eventsOf().length >= stored.length, { timeoutMs: 20_000, what: `${stored.length} watch events` });
      ac.abort();
      await reading;

      const events: KVEvent[] = eventsOf();
      expect(events).to.have.length(stored.length);
      for (let i = 1; i < events.length; i++) expect(events[i]!.revision, 'revisions strictly increase').to.be.greaterThan(events[i - 1]!.revision);
      const byKey = new Map(events.map((e) => [e.key, e]));
      expect(byKey.size, 'no key delivered twice').to.equal(events.length);
      for (const kvNow of stored) {
        const e = byKey.get(kvNow.key);
        expect(e, `event for ${kvNow.key}`).to.not.equal(undefined);
        expect(e!.type).to.equal('put');
        expect(e!.revision).to.equal(kvNow.modRevision);
        expect(e!.kv?.value).to.equal(kvNow.value);
      }
      for (const [key, written] of acked) expect(byKey.get(key)?.revision, `acknowledged ${key}`).to.equal(written.modRevision);
    } finally {
      ac.abort();
      await kv.close();
    }
  });

  it('starts delivering a watch opened while etcd is down once it is back [etcd]', async () => {
    const kv = new EtcdKV({ endpoints: server.endpoints, prefix: '/durability-late/' });
    try {
      const first = await kv.create('/l/a', '1');
      await server.kill();
      const it = kv.watch('/l/', first.modRevision - 1);
      await server.restart();
      const second = await waitFor(async () => kv.create('/l/b', '2').catch(() => undefined), { timeoutMs: 20_000, what: 'a write after restart' });
      const messages = await collectUntil(it, (ms) => ms.flatMap((m) => (m.type === 'events' ? m.events : [])).length >= 2, 20_000);
      await it.return?.();
      const events = messages.flatMap((m) => (m.type === 'events' ? m.events : []));
      expect(events.map((e) => [e.key, e.revision])).to.deep.equal([
        ['/l/a', first.modRevision],
        ['/l/b', second.modRevision],
      ]);
    } finally {
      await kv.close();
    }
  });
});
