/**
 * keelson/testing — what a user needs to test controllers without a cluster:
 *
 * - {@link ReconcileHarness}: call one controller's `reconcile` against seeded objects in an
 *   in-memory store and assert the objects and events that result — milliseconds per test;
 * - {@link TestEnv}: run controllers under a real manager over an in-memory store;
 * - {@link FakeClock}: drive time (backoffs, requeues, leases) from the test;
 * - {@link FakeEventRecorder} and {@link memoryClient} for everything else.
 *
 * ```ts
 * import { ReconcileHarness } from 'keelson/testing';
 * const h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site] });
 * await h.reconcile('default/my-site');
 * const rc = await h.client.get(ReplicationController, 'my-site', { namespace: 'default' });
 * ```
 */
import { connect } from '../client/connect.js';
import type { Client } from '../client/client.js';
import type { Clock } from '../util/clock.js';

export { FakeClock } from './fake-clock.js';
export { ReconcileHarness, TestEnv, type ReconcileHarnessOptions, type TestEnvOptions } from './env.js';
export { FakeEventRecorder, type RecordedEvent } from '../runtime/events.js';
export { installCrds } from '../runtime/crd-gen.js';

/** A Client over a fresh in-memory store (no compaction timers; close it when done). */
export function memoryClient(options: { clock?: Clock } = {}): Promise<Client> {
  return connect({ store: 'memory:', compactionIntervalMs: 0, ...(options.clock ? { clock: options.clock } : {}) });
}
