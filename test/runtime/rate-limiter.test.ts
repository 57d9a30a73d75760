/**
 * The rate limiters behind `addRateLimited`, as client-go's: per-item exponential backoff, an
 * overall token bucket with `rate.Limiter` reservation semantics, fast-then-slow, and the max of
 * several. Time is a FakeClock; nothing sleeps.
 */
import { expect } from 'chai';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  ItemFastSlowRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from '../../lib/runtime/rate-limiter.js';
import { requestKey, type ReconcileRequest } from '../../lib/runtime/types.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';

/** `n` delays from `when(item)`. */
function delays(limiter: { when(item: string): number }, item: string, n: number): number[] {
  return Array.from({ length: n }, () => limiter.when(item));
}

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms per failure of an item, counting its requeues', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    expect(delays(limiter, 'a', 5)).to.deep.equal([5, 10, 20, 40, 80]);
    expect(limiter.numRequeues('a')).to.equal(5);
  });

  it('tracks each item on its own', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    delays(limiter, 'a', 3);
    expect(limiter.when('b')).to.equal(5);
    expect(limiter.numRequeues('a')).to.equal(3);
    expect(limiter.numRequeues('b')).to.equal(1);
  });

  it('starts again from the base delay once an item is forgotten', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    delays(limiter, 'a', 4);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).to.equal(0);
    expect(delays(limiter, 'a', 2)).to.deep.equal([5, 10]);
  });

  it('never waits longer than the maximum (1000 s by default), however many failures', () => {
    expect(delays(new ItemExponentialFailureRateLimiter({ baseDelayMs: 1, maxDelayMs: 10 }), 'a', 6)).to.deep.equal([1, 2, 4, 8, 10, 10]);
    const limiter = new ItemExponentialFailureRateLimiter();
    const all = delays(limiter, 'a', 2000);
    expect(all[17]).to.equal(655_360);
    expect(all[18]).to.equal(1_000_000);
    expect(all[1999]).to.equal(1_000_000);
    expect(delays(new ItemExponentialFailureRateLimiter({ baseDelayMs: 0 }), 'a', 1100).every((d) => d === 0)).to.equal(true);
  });

  it('tells non-string items apart by a key function, and refuses them without one', () => {
    const limiter = new ItemExponentialFailureRateLimiter<ReconcileRequest>({ key: requestKey });
    limiter.when({ namespace: 'ns', name: 'a' });
    expect(limiter.when({ namespace: 'ns', name: 'a' })).to.equal(10);
    expect(limiter.when({ namespace: 'other', name: 'a' })).to.equal(5);
    const keyless = new ItemExponentialFailureRateLimiter<ReconcileRequest>();
    expect(() => keyless.when({ namespace: 'ns', name: 'a' })).to.throw(TypeError);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst of 100 through at once, then queues reservations 100 ms apart (10 qps)', () => {
    const limiter = new BucketRateLimiter({ clock: new FakeClock() });
    const burst = Array.from({ length: 100 }, (_, i) => limiter.when(`item-${i}`));
    expect(burst.every((d) => d === 0)).to.equal(true);
    expect(delays(limiter, 'next', 3)).to.deep.equal([100, 200, 300]);
  });

  it('refills at qps tokens a second, up to the burst', async () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ clock });
    delays(limiter, 'a', 100);
    await clock.advance(1000);
    expect(delays(limiter, 'a', 10).every((d) => d === 0)).to.equal(true);
    expect(limiter.when('a')).to.equal(100);
    await clock.advance(3_600_000);
    expect(delays(limiter, 'a', 100).every((d) => d === 0)).to.equal(true);
    expect(limiter.when('a')).to.equal(100);
  });

  it('pays back borrowed tokens as time passes', async () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ qps: 2, burst: 1, clock });
    expect(delays(limiter, 'a', 3)).to.deep.equal([0, 500, 1000]);
    await clock.advance(1000); // the 500 ms and 1000 ms reservations are due; the bucket is empty
    expect(limiter.when('a')).to.equal(500);
  });

  it('does not track items', () => {
    const limiter = new BucketRateLimiter({ clock: new FakeClock() });
    limiter.when('a');
    limiter.forget('a');
    expect(limiter.numRequeues('a')).to.equal(0);
  });

  it('never delays at an infinite rate, and refuses a bucket that can never grant', () => {
    const limiter = new BucketRateLimiter({ qps: Infinity, burst: 1, clock: new FakeClock() });
    expect(delays(limiter, 'a', 1000).every((d) => d === 0)).to.equal(true);
    expect(() => new BucketRateLimiter({ qps: 0 })).to.throw(RangeError);
    expect(() => new BucketRateLimiter({ burst: 0 })).to.throw(RangeError);
  });
});

describe('ItemFastSlowRateLimiter', () => {
  it('retries fast a few times, then slowly, until forgotten', () => {
    const limiter = new ItemFastSlowRateLimiter({ fastDelayMs: 1, slowDelayMs: 60_000, maxFastAttempts: 3 });
    expect(delays(limiter, 'a', 5)).to.deep.equal([1, 1, 1, 60_000, 60_000]);
    expect(limiter.numRequeues('a')).to.equal(5);
    expect(limiter.when('b')).to.equal(1);
    limiter.forget('a');
    expect(limiter.when('a')).to.equal(1);
  });
});

describe('MaxOfRateLimiter', () => {
  it('waits as long as the strictest limiter says, and forgets in all of them', () => {
    const exponential = new ItemExponentialFailureRateLimiter();
    const fastSlow = new ItemFastSlowRateLimiter({ fastDelayMs: 1, slowDelayMs: 50, maxFastAttempts: 2 });
    const limiter = new MaxOfRateLimiter(exponential, fastSlow);
    expect(delays(limiter, 'a', 5)).to.deep.equal([5, 10, 50, 50, 80]);
    expect(limiter.numRequeues('a')).to.equal(5);
    limiter.forget('a');
    expect(exponential.numRequeues('a')).to.equal(0);
    expect(fastSlow.numRequeues('a')).to.equal(0);
    expect(limiter.when('a')).to.equal(5);
  });

  it('waits 0 ms with no limiters', () => {
    expect(new MaxOfRateLimiter().when('a')).to.equal(0);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('backs one item off exponentially from 5 ms', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock() });
    expect(delays(limiter, 'a', 4)).to.deep.equal([5, 10, 20, 40]);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).to.equal(0);
    expect(limiter.when('a')).to.equal(5);
  });

  it('holds a mass failure to 10 retries a second after a burst of 100', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock() });
    const first = Array.from({ length: 100 }, (_, i) => limiter.when(`item-${i}`));
    expect(first.every((d) => d === 5)).to.equal(true);
    expect(limiter.when('item-100')).to.equal(100);
    expect(limiter.when('item-101')).to.equal(200);
  });

  it('takes every parameter', () => {
    const limiter = defaultControllerRateLimiter({ baseDelayMs: 1, maxDelayMs: 4, qps: 1, burst: 1, clock: new FakeClock() });
    expect(delays(limiter, 'a', 4)).to.deep.equal([1, 1000, 2000, 3000]);
    const items = defaultControllerRateLimiter<ReconcileRequest>({ baseDelayMs: 1, maxDelayMs: 4, key: requestKey, clock: new FakeClock() });
    expect([1, 2, 3, 4].map(() => items.when({ namespace: 'ns', name: 'a' }))).to.deep.equal([1, 2, 4, 4]);
  });
});
