/**
 * keelson/testing — what a user needs to test controllers without a cluster: a fake clock to
 * drive time, and an in-memory store with the full Kubernetes object semantics (no binaries,
 * no ports, milliseconds per test).
 *
 * ```ts
 * import { FakeClock, memoryClient } from 'keelson/testing';
 * const clock = new FakeClock();
 * const client = await memoryClient({ clock });
 * ```
 */
import { connect } from '../client/connect.js';
import type { Client } from '../client/client.js';
import type { Clock } from '../util/clock.js';

export { FakeClock } from './fake-clock.js';

/** A Client over a fresh in-memory store (no compaction timers; close it when done). */
export function memoryClient(options: { clock?: Clock } = {}): Promise<Client> {
  return connect({ store: 'memory:', compactionIntervalMs: 0, ...(options.clock ? { clock: options.clock } : {}) });
}
