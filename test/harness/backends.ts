/**
 * The storage backends every conformance suite runs against. Each backend opens fresh, empty
 * stores on demand; `setup`/`teardown` start and stop what the backend needs (a temp dir, a
 * real etcd-server process) once per suite.
 */
import type { KV } from '../../lib/storage/kv.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryKV } from '../../lib/storage/memory.js';
import { SqliteKV } from '../../lib/storage/sqlite.js';
import { randomBytes } from 'node:crypto';
import { EtcdKV } from '../../lib/storage/etcd.js';
import { EtcdServer } from './etcd.js';

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

/** SQLite on a temp dir: every store a fresh database file in it. */
const sqlite: KVBackend = (() => {
  let dir: string | undefined;
  let opened = 0;
  return {
    name: 'sqlite',
    async setup() {
      dir = await mkdtemp(join(tmpdir(), 'keelson-sqlite-'));
    },
    async open() {
      if (!dir) throw new Error('sqlite backend: setup() not called');
      return SqliteKV.open(join(dir, `kv-${++opened}.db`));
    },
    async teardown() {
      if (dir) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
})();

/** Every backend, in the order the suites run them. */
export const kvBackends: KVBackend[] = [memory, sqlite];

/**
 * A real etcd-server (one member, random ports, temp data dir) per suite; every store gets a
 * key prefix of its own, so cases never see each other's keys (the revision stays server-wide).
 */
const etcd: KVBackend = (() => {
  let server: EtcdServer | undefined;
  return {
    name: 'etcd',
    async setup() {
      server = await EtcdServer.start();
    },
    async open() {
      if (!server) throw new Error('etcd backend: setup() not called');
      return new EtcdKV({ endpoints: server.endpoints, prefix: `/t${randomBytes(6).toString('hex')}/` });
    },
    async teardown() {
      await server?.stop();
      server = undefined;
    },
  };
})();

kvBackends.push(etcd);
