/**
 * Wakeup (lib/util/clock.ts), the sleep the scheduler, the node status loop and the VIP election
 * share, on the fake clock: it ends when its time is up, on wake(), on abort, and never rejects;
 * a wake with no one sleeping does nothing; without a time only a wake or an abort end it.
 */
import { expect } from 'chai';
import { FakeClock } from '../../lib/testing/fake-clock.js';
import { Wakeup } from '../../lib/util/clock.js';

/** Whether `promise` has settled by the time pending microtasks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe('Wakeup', () => {
  it('ends when its time is up', async () => {
    const clock = new FakeClock();
    const sleep = new Wakeup(clock).sleep(100, new AbortController().signal);
    await clock.advance(99);
    expect(await settled(sleep)).to.equal(false);
    await clock.advance(1);
    expect(await settled(sleep)).to.equal(true);
  });

  it('ends at once on wake(), its timer cancelled; a wake with no one sleeping does nothing', async () => {
    const clock = new FakeClock();
    const wakeup = new Wakeup(clock);
    wakeup.wake();
    const sleep = wakeup.sleep(1000, new AbortController().signal);
    expect(await settled(sleep)).to.equal(false, 'an earlier wake is not remembered');
    wakeup.wake();
    expect(await settled(sleep)).to.equal(true);
    expect(clock.pendingTimers).to.equal(0);
  });

  it('ends on abort without rejecting; without a time only a wake or an abort end it', async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const forever = new Wakeup(clock).sleep(undefined, abort.signal);
    await clock.advance(1_000_000);
    expect(await settled(forever)).to.equal(false);
    abort.abort(new Error('stop'));
    await forever; // resolves: a rejection would fail the test
    expect(clock.pendingTimers).to.equal(0);
  });
});
