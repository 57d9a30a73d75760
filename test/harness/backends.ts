/**
 * The storage backends every conformance suite runs against. Each backend opens fresh, empty
 * stores on demand; `setup`/`teardown` start and stop what the backend needs (a temp dir, a
 * real etcd-server process) once per suite.
 */
import type { KV } from '../../lib/storage/kv.js';
import { MemoryKV } from '../../lib/storage/memory.js';

/** A backend under test. */
export interface KVBackend {
  /** `memory`, `sqlite` or `etcd`: appears in every test title. */
  readonly name: string;
  setup(): Promise<void>;
  /** A fresh store with no keys (its revision may not start at 0: etcd's is server-wide). */
  open(): Promise<KV>;
  teardown(): Promise<void>;
}

const memory: KVBackend = {
  name: 'memory',
  async setup() {},
  async open() {
    return new MemoryKV();
  },
  async teardown() {},
};

/** Every backend, in the order the suites run them. */
export const kvBackends: KVBackend[] = [memory];
