/**
 * The work queue, as client-go's Type, DelayingQueue and RateLimitingQueue: dedup, no key
 * processed twice at once, dirty re-adds, FIFO, shutdown, delayed and rate-limited adds, the
 * `workqueue_*` metrics — and the acceptance property: 8 workers and 10k random adds never hold
 * one key twice, and every key is processed after its last add. Time is a FakeClock.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Metrics } from '../../lib/runtime/metrics.js';
import { ItemExponentialFailureRateLimiter } from '../../lib/runtime/rate-limiter.js';
import { requestKey, type ReconcileRequest } from '../../lib/runtime/types.js';
import { WorkQueue } from '../../lib/runtime/workqueue.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';

/** Whether a promise has settled, after letting pending callbacks run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await new Promise<void>((resolve) => setImmediate(resolve));
  return settled;
}

/** Every item the queue hands out without waiting, marking each done. */
async function drainReady<T>(queue: WorkQueue<T>): Promise<T[]> {
  const items: T[] = [];
  while (queue.len() > 0) {
    const item = (await queue.get())!;
    items.push(item);
    queue.done(item);
  }
  return items;
}

describe('WorkQueue', () => {
  describe('queue', () => {
    it('hands items out in the order they were added', async () => {
      const queue = new WorkQueue();
      for (const key of ['c', 'a', 'b']) queue.add(key);
      expect(queue.len()).to.equal(3);
      expect(await drainReady(queue)).to.deep.equal(['c', 'a', 'b']);
      expect(queue.len()).to.equal(0);
    });

    it('queues a key at most once', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      queue.add('b');
      queue.add('a');
      expect(queue.len()).to.equal(2);
      expect(await drainReady(queue)).to.deep.equal(['a', 'b']);
    });

    it('never hands out a key that is being processed; a re-add while processing is queued on done', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      const first = await queue.get();
      expect(first).to.equal('a');
      queue.add('a');
      queue.add('a');
      expect(queue.len()).to.equal(0);
      const second = queue.get();
      expect(await isSettled(second)).to.equal(false);
      queue.done('a');
      expect(await second).to.equal('a');
      queue.done('a');
      expect(queue.len()).to.equal(0);
    });

    it('queues a dirty key behind the keys already waiting', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      await queue.get();
      queue.add('a');
      queue.add('b');
      queue.done('a');
      expect(await drainReady(queue)).to.deep.equal(['b', 'a']);
    });

    it('ignores done for a key that is not being processed', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      queue.done('a');
      expect(queue.len()).to.equal(1);
      expect(await drainReady(queue)).to.deep.equal(['a']);
    });

    it('gives a waiting getter the next item added, oldest getter first', async () => {
      const queue = new WorkQueue();
      const first = queue.get();
      const second = queue.get();
      queue.add('a');
      queue.add('b');
      expect([await first, await second]).to.deep.equal(['a', 'b']);
    });

    it('identifies items by the key function and hands out the first one added', async () => {
      const queue = new WorkQueue<ReconcileRequest>({ key: requestKey });
      const original = { namespace: 'ns', name: 'a' };
      queue.add(original);
      queue.add({ namespace: 'ns', name: 'a' });
      queue.add({ namespace: '', name: 'a' });
      expect(queue.len()).to.equal(2);
      const got = await queue.get();
      expect(got).to.equal(original);
      expect(() => new WorkQueue<ReconcileRequest>().add(original)).to.throw(TypeError);
    });

    it('resolves a getter undefined when its signal aborts, without losing the next item', async () => {
      const queue = new WorkQueue();
      const controller = new AbortController();
      const aborted = queue.get(controller.signal);
      const waiting = queue.get();
      controller.abort();
      expect(await aborted).to.equal(undefined);
      queue.add('a');
      expect(await waiting).to.equal('a');
      queue.add('b');
      expect(await queue.get(controller.signal)).to.equal(undefined);
      expect(queue.len()).to.equal(1);
    });
  });

  describe('shutdown', () => {
    it('releases waiting getters with undefined and ignores later adds', async () => {
      const queue = new WorkQueue();
      const getters = [queue.get(), queue.get()];
      queue.shutDown();
      expect(await Promise.all(getters)).to.deep.equal([undefined, undefined]);
      expect(queue.isShuttingDown()).to.equal(true);
      queue.add('a');
      queue.addAfter('b', 10);
      queue.addRateLimited('c');
      expect(queue.len()).to.equal(0);
      expect(await queue.get()).to.equal(undefined);
    });

    it('still hands out the items queued before the shutdown, then undefined', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      queue.add('b');
      queue.shutDown();
      expect(await queue.get()).to.equal('a');
      expect(await queue.get()).to.equal('b');
      expect(await queue.get()).to.equal(undefined);
    });

    it('drains: shutDownWithDrain resolves once every item handed out is done', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      queue.add('b');
      const a = (await queue.get())!;
      const b = (await queue.get())!;
      const drained = queue.shutDownWithDrain();
      queue.done(a);
      expect(await isSettled(drained)).to.equal(false);
      queue.done(b);
      expect(await isSettled(drained)).to.equal(true);
      expect(await new WorkQueue().shutDownWithDrain()).to.equal(undefined);
    });

    it('stops draining at once when shutDown follows shutDownWithDrain', async () => {
      const queue = new WorkQueue();
      queue.add('a');
      await queue.get();
      const drained = queue.shutDownWithDrain();
      expect(await isSettled(drained)).to.equal(false);
      queue.shutDown();
      expect(await isSettled(drained)).to.equal(true);
    });

    it('releases every timer: delayed items, the metrics tick', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ name: 'timers', clock, metrics: new Metrics() });
      queue.addAfter('a', 1000);
      queue.addRateLimited('b');
      expect(clock.pendingTimers).to.equal(2);
      queue.shutDown();
      expect(clock.pendingTimers).to.equal(0);
      await clock.advance(2000);
      expect(queue.len()).to.equal(0);
      const drained = new WorkQueue({ name: 'drained', clock, metrics: new Metrics() });
      drained.addAfter('a', 1000);
      await drained.shutDownWithDrain();
      expect(clock.pendingTimers).to.equal(0);
    });
  });

  describe('delaying', () => {
    it('adds delayed items when their time comes, in time order', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ clock });
      queue.addAfter('slow', 30);
      queue.addAfter('fast', 10);
      queue.addAfter('middle', 20);
      queue.addAfter('also-middle', 20);
      await clock.advance(9);
      expect(queue.len()).to.equal(0);
      await clock.advance(1);
      expect(await drainReady(queue)).to.deep.equal(['fast']);
      await clock.advance(20);
      expect(await drainReady(queue)).to.deep.equal(['middle', 'also-middle', 'slow']);
      expect(clock.pendingTimers).to.equal(0);
    });

    it('moves a waiting item earlier when re-added with an earlier time, and ignores a later one', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ clock });
      queue.addAfter('a', 100);
      queue.addAfter('a', 10);
      queue.addAfter('b', 10);
      queue.addAfter('b', 100);
      await clock.advance(10);
      expect(await drainReady(queue)).to.deep.equal(['a', 'b']);
      await clock.advance(200);
      expect(queue.len()).to.equal(0);
      expect(clock.pendingTimers).to.equal(0);
    });

    it('adds at once with no delay, and dedups with the queue when the delay fires', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ clock });
      queue.addAfter('a', 0);
      queue.addAfter('b', -5);
      expect(queue.len()).to.equal(2);
      queue.addAfter('a', 10);
      await clock.advance(10);
      expect(await drainReady(queue)).to.deep.equal(['a', 'b']);
    });
  });

  describe('rate limiting', () => {
    it('retries after 5, 10, 20 ms …, and forget starts over', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ clock });
      for (const [i, delayMs] of [5, 10, 20, 40].entries()) {
        queue.addRateLimited('a');
        expect(queue.numRequeues('a')).to.equal(i + 1);
        await clock.advance(delayMs - 1);
        expect(queue.len(), `before ${delayMs} ms`).to.equal(0);
        await clock.advance(1);
        expect(await drainReady(queue)).to.deep.equal(['a']);
      }
      queue.forget('a');
      expect(queue.numRequeues('a')).to.equal(0);
      queue.addRateLimited('a');
      await clock.advance(5);
      expect(await drainReady(queue)).to.deep.equal(['a']);
    });

    it('uses the given rate limiter over item keys', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue<ReconcileRequest>({ clock, key: requestKey, rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 1000 }) });
      queue.addRateLimited({ namespace: 'ns', name: 'a' });
      expect(queue.numRequeues({ namespace: 'ns', name: 'a' })).to.equal(1);
      await clock.advance(999);
      expect(queue.len()).to.equal(0);
      await clock.advance(1);
      expect(await queue.get()).to.deep.equal({ namespace: 'ns', name: 'a' });
    });
  });

  describe('metrics', () => {
    /** The value of a metric of the queue `name` (a histogram's `_sum` or `_count` by suffix). */
    async function value(metrics: Metrics, metric: string, name: string, suffix = ''): Promise<number | undefined> {
      const family = await metrics.registry.getSingleMetric(metric)!.get();
      return family.values.find((v) => v.labels['name'] === name && (!suffix || (v as { metricName?: string }).metricName === metric + suffix))?.value;
    }

    it('reports depth, adds, queue latency, work duration, unfinished work and retries', async () => {
      const clock = new FakeClock();
      const metrics = new Metrics();
      const queue = new WorkQueue({ name: 'q', clock, metrics });
      queue.add('a');
      queue.add('b');
      queue.add('a');
      expect(await value(metrics, 'workqueue_depth', 'q')).to.equal(2);
      expect(await value(metrics, 'workqueue_adds_total', 'q')).to.equal(2);
      await clock.advance(2000);
      await queue.get();
      await queue.get();
      expect(await value(metrics, 'workqueue_depth', 'q')).to.equal(0);
      expect(await value(metrics, 'workqueue_queue_duration_seconds', 'q', '_count')).to.equal(2);
      expect(await value(metrics, 'workqueue_queue_duration_seconds', 'q', '_sum')).to.equal(4);
      await clock.advance(1000); // two ticks: a and b have been processing for 1 s each
      expect(await value(metrics, 'workqueue_unfinished_work_seconds', 'q')).to.equal(2);
      expect(await value(metrics, 'workqueue_longest_running_processor_seconds', 'q')).to.equal(1);
      queue.done('a');
      await clock.advance(500);
      queue.done('b');
      expect(await value(metrics, 'workqueue_work_duration_seconds', 'q', '_count')).to.equal(2);
      expect(await value(metrics, 'workqueue_work_duration_seconds', 'q', '_sum')).to.equal(2.5);
      await clock.advance(500);
      expect(await value(metrics, 'workqueue_unfinished_work_seconds', 'q')).to.equal(0);
      queue.addRateLimited('c');
      queue.addAfter('d', 0);
      expect(await value(metrics, 'workqueue_retries_total', 'q')).to.equal(2);
      queue.shutDown();
    });

    it('takes one queue\'s metrics directly, and needs a name to pick them from Metrics', () => {
      const metrics = new Metrics();
      const queue = new WorkQueue({ clock: new FakeClock(), metrics: metrics.forQueue('direct') });
      queue.shutDown();
      expect(() => new WorkQueue({ metrics })).to.throw(TypeError);
    });
  });

  describe('under concurrent workers (property)', () => {
    it('never hands one key to two of 8 workers, processes every key after its last add, and drains', async function () {
      this.timeout(20_000);
      const started = Date.now();
      const step = fc.record({ key: fc.integer({ min: 0, max: 49 }), pause: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 }) });
      // A work plan of only zeros never yields while holding a key: nothing could be added during
      // processing, which the property also requires to have happened; such plans prove nothing.
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 10_000, maxLength: 10_000 }), fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 64 }).filter((plan) => plan.some((work) => work > 0)), async (steps, workPlan) => {
          const queue = new WorkQueue({ clock: new FakeClock(), metrics: new Metrics(), name: 'property' });
          const holders = new Map<string, number>();
          const lastAdd = new Map<string, number>();
          const lastGet = new Map<string, number>();
          let sequence = 0;
          let violations = 0;
          let addsWhileProcessing = 0;
          let worked = 0;

          const worker = async (id: number) => {
            for (let key: string | undefined; (key = await queue.get()) !== undefined; ) {
              if (holders.has(key)) violations++;
              holders.set(key, id);
              lastGet.set(key, ++sequence);
              const work = workPlan[worked++ % workPlan.length]!;
              for (let i = 0; i < work; i++) await Promise.resolve();
              if (work % 3 === 2) await new Promise<void>((resolve) => setImmediate(resolve));
              holders.delete(key);
              queue.done(key);
            }
          };
          const workers = Array.from({ length: 8 }, (_, id) => worker(id));

          for (const { key, pause } of steps) {
            const name = `ns/item-${key}`;
            if (holders.has(name)) addsWhileProcessing++;
            lastAdd.set(name, ++sequence);
            queue.add(name);
            for (let i = 0; i < pause; i++) await Promise.resolve();
            if (pause === 4) await new Promise<void>((resolve) => setImmediate(resolve));
          }
          // Let the workers drain the queue (bounded, so that a broken queue fails instead of hanging).
          for (let turn = 0; turn < 100_000 && (queue.len() > 0 || holders.size > 0); turn++) {
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          queue.shutDown();
          await Promise.all(workers);

          expect(violations, 'a key held by two workers').to.equal(0);
          expect(addsWhileProcessing, 'adds while processing').to.be.greaterThan(0);
          for (const [name, addedAt] of lastAdd) expect(lastGet.get(name) ?? 0, name).to.be.greaterThan(addedAt);
          expect(queue.len()).to.equal(0);
          expect(holders.size).to.equal(0);
        }),
        // No shrinking: the 10k steps cannot get shorter, and a failure should report in seconds.
        { numRuns: 4, endOnFailure: true },
      );
      const elapsed = Date.now() - started;
      console.log(`      (4 runs of 10k adds over 8 workers: ${elapsed} ms)`);
      // A generous bound: this is a correctness test on a shared machine, not a benchmark.
      expect(elapsed).to.be.lessThan(60_000);
    });
  });
});
