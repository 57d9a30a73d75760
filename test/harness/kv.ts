/**
 * Assertions shared by the storage suites.
 */
import { expect } from 'chai';
import { isKVError, type KVEvent, type KVWatchMessage } from '../../lib/storage/kv.js';

/** Expects `promise` to reject with a KVError of `code`; returns the error. */
export async function expectKVError(promise: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    expect(isKVError(err), `expected a KVError, got ${String(err)}`).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    return err;
  }
  throw new Error(`expected a ${code} error`);
}

/** The change events among watch messages, in order. */
export function eventsOf(messages: KVWatchMessage[]): KVEvent[] {
  return messages.flatMap((m) => (m.type === 'events' ? m.events : []));
}
