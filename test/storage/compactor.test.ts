/**
 * Periodic compaction keeps one interval of history and no more, driven by a fake clock.
 */
import { expect } from 'chai';
import { isKVError } from '../../lib/storage/kv.js';
import { startCompactor } from '../../lib/storage/compactor.js';
import { MemoryKV } from '../../lib/storage/memory.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';

describe('Compactor', () => {
  it('compacts every interval to the revision seen one interval earlier', async () => {
    const clock = new FakeClock();
    const kv = new MemoryKV({ clock });
    const compactor = startCompactor(kv, { intervalMs: 5 * 60_000, clock });
    try {
      let k = await kv.create('/c/k', '0');
      k = await kv.update('/c/k', '1', k.modRevision);
      await clock.advance(5 * 60_000); // first tick: remembers revision 2, compacts nothing
      expect(await kv.compactRevision()).to.equal(0);
      k = await kv.update('/c/k', '2', k.modRevision);
      k = await kv.update('/c/k', '3', k.modRevision);
      await clock.advance(5 * 60_000); // second tick: compacts to 2
      expect(await kv.compactRevision()).to.equal(2);
      // History after the compacted revision is still there; before it is gone.
      const ok = kv.watch('/c/', 2);
      const first = await ok.next();
      await ok.return?.();
      expect(first.value).to.deep.include({ type: 'events' });
      const gone = kv.watch('/c/', 0);
      const err = await gone.next().catch((e: unknown) => e);
      expect(isKVError(err, 'compacted')).to.equal(true);
      expect((await kv.get('/c/k'))?.value).to.equal('3');
    } finally {
      compactor.stop();
      await kv.close();
    }
    expect(clock.pendingTimers).to.equal(0);
  });
});
