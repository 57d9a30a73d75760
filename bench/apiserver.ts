/**
 * The apiserver benchmark: what the HTTP API costs on top of the in-process StoreClient, for the
 * same work on the same store in the same run.
 *
 * - `list`: 10,000 Pods (a small Deployment-style pod, ~0.9 KB as stored and served) in one
 *   namespace, on memory and on sqlite. An ApiServer (plain HTTP on 127.0.0.1, no auth) runs **in
 *   this process**, over the same registry the StoreClient baseline uses; so the HTTP numbers
 *   carry both the server's and the client's work on one event loop (cpu_ms/list is the two
 *   together). Full lists (one response) and pages of 500 (following `continue`) through raw
 *   `fetch` + `JSON.parse`, through `KubeClient.list`, and the Table kubectl asks for
 *   (`kubectl get pods`: `limit=500`, `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`),
 *   each next to `StoreClient.list` with the same paging. Subjects run in interleaved rounds
 *   (ABBA order) after a discarded warm-up round.
 * - `watch`: 100 watchers on the pods of that namespace — HTTP watch streams through one
 *   KubeClient (100 connections), or 100 `StoreClient.watch` iterators (the baseline) — then
 *   1,000 merge patches of the pods' annotations issued by an in-process StoreClient, at a steady
 *   rate and as a burst. Latency = a write's issue (for the steady rate: its scheduled time) →
 *   its MODIFIED event at each watcher. Each subject's 1,000 writes are cut into two slices run in
 *   ABBA order; only one subject's watchers are open at a time.
 * - `memory`: a child process holding 100,000 ConfigMaps with one key (seeded through a
 *   StoreClient in the child), with an ApiServer started (the parent then lists them all through
 *   HTTP) or without one (baseline `store-only`: the child lists them in-process instead). RSS
 *   after seeding (after a gc), peak RSS during the full list, RSS after it (after a gc).
 *
 * Node flags for the memory children (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) can be passed
 * in `KEELSON_BENCH_CHILD_FLAGS`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigMap, Pod } from '../lib/api/kinds.js';
import type { KubeObject, WatchEvent } from '../lib/api/meta.js';
import type { ApiServer } from '../lib/apiserver/server.js';
import type { Client } from '../lib/client/client.js';
import { createRegistry, openStore, type SystemRegistry } from '../lib/client/connect.js';
import { KubeClient } from '../lib/client/kube-client.js';
import { StoreClient } from '../lib/client/store-client.js';
import type { KV } from '../lib/storage/kv.js';
import { childExecArgv, cpuMicros, forkChild, goalMark, now, percentiles, rejectAfter, runConcurrent, type Benchmark, type Cleanup, type FieldValue, type Percentiles, type Reporter } from './harness.js';

/** Pods seeded for the list and watch parts. */
const PODS = 10_000;
/** The namespace of the pods (exists from the start: a system namespace). */
const NAMESPACE = 'default';
/** Page size of the paged lists (kubectl's default `--chunk-size`). */
const PAGE = 500;
/** Measured rounds of the list part (each runs every subject once), after {@link LIST_WARMUP_ROUNDS}. */
const LIST_ROUNDS = 6;
/** Discarded rounds before the measured ones. */
const LIST_WARMUP_ROUNDS = 1;
/** Concurrent watchers. */
const WATCHERS = 100;
/** Writes per subject and mode (cut into {@link WATCH_SLICES} slices). */
const WRITES = 1_000;
/** Slices per subject and mode, run in ABBA order with the other subject's. */
const WATCH_SLICES = 2;
/** Writes per second of the steady mode. */
const STEADY_RATE = 100;
/** Writes in flight in the burst mode. */
const BURST_IN_FLIGHT = 32;
/** How long a slice waits for every watcher's events after its last write. */
const DELIVERY_TIMEOUT_MS = 60_000;
/** ConfigMaps in the memory part's child. */
const MEMORY_OBJECTS = 100_000;
/** Creates in flight when seeding. */
const SEED_IN_FLIGHT = 64;
/** RSS sampling period in the memory child during the list. */
const RSS_SAMPLE_MS = 5;
/** How long a memory child may take from start to result. */
const CHILD_TIMEOUT_MS = 90_000;
/** The annotation the watch part's patches set: `<slice>:<write index>` (or `<slice>:ready`). */
const SEQ_ANNOTATION = 'bench.keelson.dev/seq';
/** The Accept header `kubectl get` sends (tables, falling back to plain JSON). */
const KUBECTL_TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
/** The first argument that makes this file run a memory measurement as a child process. */
export const CHILD_FLAG = '--apiserver-bench-child';

/** The backends of every part, in the order they run. */
const BACKENDS = ['memory', 'sqlite'] as const;
type Backend = (typeof BACKENDS)[number];

const MB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Objects and seeding.

/** Pod `i`: one container with ports and resources, labels as a Deployment sets them, a node. */
function podOf(i: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${i}`, namespace: NAMESPACE, labels: { app: 'web', 'pod-template-hash': '7d4b9c6f5' } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        },
      ],
      nodeName: `node-${i % 20}`,
    },
  } as Pod;
}

/** ConfigMap `i` of the memory part: one key. */
function configMapOf(i: number): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: NAMESPACE }, data: { key: 'value' } };
}

/** Creates `count` objects through `client`, {@link SEED_IN_FLIGHT} at a time; resolves with the elapsed ms. */
function seed(client: Client, count: number, make: (i: number) => KubeObject): Promise<number> {
  return runConcurrent(count, SEED_IN_FLIGHT, async (i) => {
    await client.create(make(i));
  });
}

/** A store, the registry over it (system namespaces ready) and a StoreClient; `close` releases them. */
interface OpenedStore {
  kv: KV;
  registry: SystemRegistry;
  client: StoreClient;
  close(): Promise<void>;
}

/** Opens a store URL with createRegistry (no compactor), as `keelson up` serves it. */
async function openRegistry(url: string): Promise<OpenedStore> {
  const kv = await openStore(url);
  const registry = createRegistry(kv);
  const close = async () => {
    await registry.system.stop();
    await registry.crds.stop();
    await kv.close();
  };
  try {
    await registry.crds.waitForSync();
    await registry.system.ready;
  } catch (err) {
    await close();
    throw err;
  }
  return { kv, registry, client: new StoreClient(registry), close };
}

/** Starts an ApiServer (plain HTTP, 127.0.0.1, random port, no auth) over `registry`. */
async function startServer(registry: SystemRegistry): Promise<ApiServer> {
  const { ApiServer } = await import('../lib/apiserver/server.js');
  const server = new ApiServer({ registry, port: 0 });
  await server.start();
  return server;
}

/** A KubeClient for `url` with a kubeconfig built in memory (no credentials: plain HTTP). */
function kubeClientFor(url: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server: url, skipTLSVerify: false }],
    users: [{ name: 'bench' }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
    currentContext: 'bench',
  });
  return new KubeClient(kc, { onWarning: () => undefined });
}

/** One backend served in this process: store, registry, StoreClient, ApiServer and a KubeClient. */
interface Served {
  backend: Backend;
  store: OpenedStore;
  server: ApiServer;
  kube: KubeClient;
  /** Milliseconds the seeding of the pods took. */
  seedMs: number;
  /** Bytes of one pod's JSON as the API serves it. */
  podBytes: number;
  close(): Promise<void>;
}

/** Opens `backend` (sqlite in `dir`), seeds the pods and serves it; registered with `cleanup`. */
async function openServed(cleanup: Cleanup, backend: Backend, dir: string): Promise<Served> {
  const url = backend === 'memory' ? 'memory:' : `sqlite:${join(dir, `${backend}-pods.db`)}`;
  const store = await openRegistry(url);
  let server: ApiServer | undefined;
  let kube: KubeClient | undefined;
  const close = cleanup.add(`close ${backend} apiserver`, async () => {
    await kube?.close();
    await server?.stop();
    await store.close();
  });
  try {
    const seedMs = await seed(store.client, PODS, podOf);
    const podBytes = Buffer.byteLength(JSON.stringify(await store.client.get(Pod, 'web-1', { namespace: NAMESPACE })));
    server = await startServer(store.registry);
    kube = kubeClientFor(server.url);
    return { backend, store, server, kube, seedMs, podBytes, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// List.

/** One way of listing the pods: answers how many came back and the bytes received (0 in-process). */
interface ListSubject {
  via: string;
  page: number | 'all';
  run(): Promise<{ items: number; bytes: number }>;
}

/** What one list subject measured over the rounds. */
interface ListMeasurement {
  lists: number;
  items: number;
  bytes: number;
  ms: number;
  cpuUs: number;
}

/** GET of `path` with `fetch`, body as text, parsed; answers the parsed body and its size. */
async function fetchJson(url: string, accept?: string): Promise<{ body: { items?: unknown[]; rows?: unknown[]; metadata?: { continue?: string } }; bytes: number }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 300)}`);
  return { body: JSON.parse(text) as { items?: unknown[]; metadata?: { continue?: string } }, bytes: Buffer.byteLength(text) };
}

/** Every page of a paged GET (raw fetch), counting `items` (or `rows` of a Table). */
async function fetchAllPages(base: string, page: number | 'all', accept?: string): Promise<{ items: number; bytes: number }> {
  let items = 0;
  let bytes = 0;
  let cont: string | undefined;
  do {
    const query = page === 'all' ? '' : `?limit=${page}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
    const { body, bytes: size } = await fetchJson(base + query, accept);
    items += (body.items ?? body.rows ?? []).length;
    bytes += size;
    cont = page === 'all' ? undefined : body.metadata?.continue;
  } while (cont);
  return { items, bytes };
}

/** Every page of a Client list. */
async function clientAllPages(client: Client, page: number | 'all'): Promise<{ items: number; bytes: number }> {
  let items = 0;
  let cont: string | undefined;
  do {
    const list = await client.list(Pod, { namespace: NAMESPACE, ...(page === 'all' ? {} : { limit: page }), ...(cont ? { continue: cont } : {}) });
    items += list.items.length;
    cont = page === 'all' ? undefined : list.metadata.continue;
  } while (cont);
  return { items, bytes: 0 };
}

/** The list subjects of a served backend: the StoreClient baselines first. */
function listSubjects(served: Served): ListSubject[] {
  const base = `${served.server.url}/api/v1/namespaces/${NAMESPACE}/pods`;
  const subjects: ListSubject[] = [];
  for (const page of ['all', PAGE] as const) {
    subjects.push({ via: 'storeclient', page, run: () => clientAllPages(served.store.client, page) });
    subjects.push({ via: 'http', page, run: () => fetchAllPages(base, page) });
    subjects.push({ via: 'kubeclient', page, run: () => clientAllPages(served.kube, page) });
  }
  subjects.push({ via: 'http-table', page: PAGE, run: () => fetchAllPages(base, PAGE, KUBECTL_TABLE_ACCEPT) });
  return subjects;
}

/** Runs every list subject once per round (ABBA order), the first rounds discarded. */
async function measureLists(subjects: readonly ListSubject[]): Promise<Map<ListSubject, ListMeasurement>> {
  const results = new Map<ListSubject, ListMeasurement>(subjects.map((s) => [s, { lists: 0, items: 0, bytes: 0, ms: 0, cpuUs: 0 }]));
  for (let round = 0; round < LIST_WARMUP_ROUNDS + LIST_ROUNDS; round++) {
    const order = round % 2 === 0 ? subjects : [...subjects].reverse();
    for (const subject of order) {
      const cpu0 = cpuMicros();
      const t0 = now();
      const { items, bytes } = await subject.run();
      const ms = now() - t0;
      const cpuUs = cpuMicros() - cpu0;
      if (items !== PODS) throw new Error(`list via ${subject.via} page=${subject.page}: ${items} items, expected ${PODS}`);
      if (round < LIST_WARMUP_ROUNDS) continue;
      const m = results.get(subject)!;
      m.lists++;
      m.items += items;
      m.bytes += bytes;
      m.ms += ms;
      m.cpuUs += cpuUs;
    }
  }
  return results;
}

/** Lists per second of a measurement. */
function listsPerSec(m: ListMeasurement | undefined): number {
  return m && m.ms > 0 ? (m.lists / m.ms) * 1000 : Number.NaN;
}

/** Measures and prints the list lines of one served backend. */
async function runList(report: Reporter, served: Served): Promise<void> {
  const subjects = listSubjects(served);
  const results = await measureLists(subjects);
  for (const subject of subjects) {
    if (subject.via === 'storeclient') continue;
    const m = results.get(subject)!;
    const baselineSubject = subjects.find((s) => s.via === 'storeclient' && s.page === subject.page)!;
    const b = results.get(baselineSubject)!;
    const ratio = listsPerSec(m) / listsPerSec(b);
    const fields: Array<[string, FieldValue]> = [
      ['backend', served.backend],
      ['n', PODS],
      ['via', subject.via],
      ['page', subject.page],
      ['lists/s', listsPerSec(m)],
      ['pods/s', (m.items / m.ms) * 1000],
      ['ms/list', m.ms / m.lists],
      ['cpu_ms/list', m.cpuUs / 1000 / m.lists],
      ...(m.bytes > 0 ? ([['mb/list', m.bytes / m.lists / MB]] as Array<[string, FieldValue]>) : []),
      ['baseline', `storeclient`],
      ['base_lists/s', listsPerSec(b)],
      ['base_pods/s', (b.items / b.ms) * 1000],
      ['base_cpu_ms/list', b.cpuUs / 1000 / b.lists],
      ['ratio', ratio],
      ['cpu_ratio', b.cpuUs / b.lists / (m.cpuUs / m.lists)],
    ];
    report.result('apiserver.list', fields, goalMark(ratio, undefined));
  }
}

// ---------------------------------------------------------------------------------------------
// Watch fan-out.

/** Who watches: 100 HTTP watch streams through the KubeClient, or 100 StoreClient watches. */
type WatchVia = 'http' | 'storeclient';
/** Steady-rate writes or a burst. */
type WriteMode = 'steady' | 'burst';

/**
 * Per (watcher, write): when the watcher got the write's event; per write: when it was issued
 * (or scheduled); resolves {@link waitAll} when every watcher got every write.
 */
class FanoutTracker {
  /** Per write: its issue time (steady: its scheduled time). */
  readonly issued: Float64Array;
  /** Per write: when it was actually issued. */
  readonly actual: Float64Array;
  /** `seen[w * count + i]`: when watcher `w` got write `i`. */
  readonly seen: Float64Array;
  private delivered = 0;
  private readonly ready = new Set<number>();
  private wakeAll: (() => void) | undefined;
  private wakeReady: (() => void) | undefined;
  /** Rejects when a watcher fails. */
  readonly failed: Promise<never>;
  private fail!: (err: unknown) => void;

  constructor(
    readonly watchers: number,
    readonly count: number,
  ) {
    this.issued = new Float64Array(count).fill(Number.NaN);
    this.actual = new Float64Array(count).fill(Number.NaN);
    this.seen = new Float64Array(watchers * count).fill(Number.NaN);
    this.failed = new Promise<never>((_, reject) => (this.fail = reject));
    this.failed.catch(() => undefined);
  }

  /** Watcher `w` saw the annotation value `seq` (of this slice, `tag`). */
  event(w: number, tag: string, seq: string | undefined): void {
    if (!seq || !seq.startsWith(tag)) return;
    const rest = seq.slice(tag.length);
    if (rest === 'ready') {
      this.ready.add(w);
      if (this.ready.size === this.watchers) this.wakeReady?.();
      return;
    }
    const i = Number(rest);
    if (!Number.isInteger(i) || i < 0 || i >= this.count) return;
    const slot = w * this.count + i;
    if (!Number.isNaN(this.seen[slot]!)) return;
    this.seen[slot] = now();
    if (++this.delivered === this.watchers * this.count) this.wakeAll?.();
  }

  /** A watcher failed. */
  error(err: unknown): void {
    this.fail(err);
  }

  /** Resolves once every watcher saw the sentinel. */
  async waitReady(timeoutMs: number): Promise<void> {
    if (this.ready.size === this.watchers) return;
    await Promise.race([
      new Promise<void>((resolve) => (this.wakeReady = resolve)),
      this.failed,
      rejectAfter(timeoutMs, () => `${this.ready.size} of ${this.watchers} watchers saw the sentinel within ${timeoutMs} ms`),
    ]);
  }

  /** Resolves once every watcher saw every write. */
  async waitAll(timeoutMs: number): Promise<void> {
    if (this.delivered === this.watchers * this.count) return;
    await Promise.race([
      new Promise<void>((resolve) => (this.wakeAll = resolve)),
      this.failed,
      rejectAfter(timeoutMs, () => `watchers got ${this.delivered} of ${this.watchers * this.count} events within ${timeoutMs} ms`),
    ]);
  }
}

/** Resolves after `ms`. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What one (subject, mode) measured over its slices. */
interface FanoutMeasurement {
  /** Issue → event, every (watcher, write). */
  latencies: number[];
  /** Issue → event at the last watcher, per write. */
  lastWatcher: number[];
  /** Scheduled → actual issue, per write (steady mode). */
  issueLag: number[];
  events: number;
  /** Sum over slices of first issue → last event. */
  deliveryMs: number;
  /** Sum over slices of first issue → last acknowledgement. */
  writeMs: number;
  writes: number;
  cpuUs: number;
}

/** Opens `WATCHERS` watchers of `via` from the store's current revision; resolves with their stop. */
async function openWatchers(served: Served, via: WatchVia, tracker: FanoutTracker, tag: string): Promise<() => Promise<void>> {
  const resourceVersion = String(await served.store.kv.revision());
  const client: Client = via === 'http' ? served.kube : served.store.client;
  const abort = new AbortController();
  const loops: Array<Promise<void>> = [];
  for (let w = 0; w < WATCHERS; w++) {
    const events: AsyncIterableIterator<WatchEvent<Pod>> = client.watch(Pod, { namespace: NAMESPACE, resourceVersion, signal: abort.signal });
    loops.push(
      (async () => {
        try {
          for await (const event of events) {
            if (event.type === 'MODIFIED') tracker.event(w, tag, event.object.metadata?.annotations?.[SEQ_ANNOTATION]);
            else if (event.type === 'ERROR') throw new Error(`watch ERROR event: ${JSON.stringify(event.object)}`);
          }
          if (!abort.signal.aborted) throw new Error(`watcher ${w} (${via}) ended`);
        } catch (err) {
          if (!abort.signal.aborted) tracker.error(err);
        }
      })(),
    );
  }
  return async () => {
    abort.abort();
    await Promise.all(loops);
  };
}

/** Sets the seq annotation of a pod (the write the watchers wait for). */
async function patchSeq(client: Client, podIndex: number, value: string): Promise<void> {
  await client.patch(Pod, `web-${podIndex % PODS}`, { metadata: { annotations: { [SEQ_ANNOTATION]: value } } }, { namespace: NAMESPACE });
}

/** Counts slices across the run, so every slice has its own annotation tag. */
let sliceCounter = 0;

/** One slice: open the watchers, prove them live, write `count` patches, wait for every event, stop. */
async function fanoutSlice(served: Served, via: WatchVia, mode: WriteMode, count: number, into: FanoutMeasurement): Promise<void> {
  const tag = `s${++sliceCounter}:`;
  const tracker = new FanoutTracker(WATCHERS, count);
  const kvWatchersBefore = kvWatchers(served.store.kv);
  const stop = await openWatchers(served, via, tracker, tag);
  try {
    await patchSeq(served.store.client, 0, `${tag}ready`);
    await tracker.waitReady(30_000);
    const writer = served.store.client;
    const cpu0 = cpuMicros();
    const t0 = now();
    let lastAck = t0;
    const write = async (i: number) => {
      tracker.actual[i] = now();
      await patchSeq(writer, i + 1, `${tag}${i}`);
      lastAck = Math.max(lastAck, now());
    };
    if (mode === 'burst') {
      await Promise.race([
        runConcurrent(count, BURST_IN_FLIGHT, async (i) => {
          tracker.issued[i] = now();
          await write(i);
        }),
        tracker.failed,
      ]);
    } else {
      const interval = 1000 / STEADY_RATE;
      const pending: Array<Promise<void>> = [];
      let failed = false;
      for (let i = 0; i < count && !failed; i++) {
        const due = t0 + i * interval;
        const wait = due - now();
        if (wait > 0.5) await sleep(wait);
        tracker.issued[i] = due;
        const written = write(i);
        // Open loop: not awaited here, but a failure (e.g. the store closed by an interrupt) stops the issuing.
        written.catch(() => (failed = true));
        pending.push(written);
      }
      await Promise.race([Promise.all(pending), tracker.failed]);
    }
    await tracker.waitAll(DELIVERY_TIMEOUT_MS);
    let lastSeen = t0;
    for (let i = 0; i < count; i++) {
      let last = -Infinity;
      for (let w = 0; w < WATCHERS; w++) {
        const seen = tracker.seen[w * count + i]!;
        into.latencies.push(seen - tracker.issued[i]!);
        last = Math.max(last, seen);
      }
      into.lastWatcher.push(last - tracker.issued[i]!);
      if (mode === 'steady') into.issueLag.push(tracker.actual[i]! - tracker.issued[i]!);
      if (last > lastSeen) lastSeen = last;
    }
    into.cpuUs += cpuMicros() - cpu0;
    into.events += WATCHERS * count;
    into.deliveryMs += lastSeen - t0;
    into.writeMs += lastAck - t0;
    into.writes += count;
  } finally {
    await stop();
    await kvWatchersGone(served.store.kv, kvWatchersBefore);
  }
}

/** The open watchers of a MemoryKV or SqliteKV (their WatchHub's size, a private field); undefined for other stores. */
function kvWatchers(kv: KV): number | undefined {
  const size = (kv as unknown as { hub?: { size?: unknown } }).hub?.size;
  return typeof size === 'number' ? size : undefined;
}

/**
 * Waits until the store has no more watchers than `before`: every server-side watch handler has
 * seen its client go. Without this, the next slice's first write can reach a handler whose socket
 * is destroyed but whose 'close' event has not been emitted yet: `res.write` answers false, the
 * handler awaits a 'drain' that never comes, and its server-side timeout timer (30–60 min) keeps
 * the process alive (see the report of this benchmark). Stores without a visible hub get 500 ms.
 */
async function kvWatchersGone(kv: KV, before: number | undefined): Promise<void> {
  if (before === undefined || kvWatchers(kv) === undefined) return sleep(500);
  const deadline = now() + 10_000;
  while (kvWatchers(kv)! > before) {
    if (now() > deadline) throw new Error(`${kvWatchers(kv)! - before} store watchers still open 10 s after their clients stopped`);
    await sleep(2);
  }
}

/** An empty measurement. */
function emptyFanout(): FanoutMeasurement {
  return { latencies: [], lastWatcher: [], issueLag: [], events: 0, deliveryMs: 0, writeMs: 0, writes: 0, cpuUs: 0 };
}

/** Measures both subjects in `mode` (slices in ABBA order, the baseline first) and prints the line. */
async function runFanout(report: Reporter, served: Served, mode: WriteMode): Promise<void> {
  const results: Record<WatchVia, FanoutMeasurement> = { http: emptyFanout(), storeclient: emptyFanout() };
  const perSlice = Math.ceil(WRITES / WATCH_SLICES);
  // Warm-up: one short slice each, discarded (JIT, connections, the sqlite page cache).
  for (const via of ['storeclient', 'http'] as const) await fanoutSlice(served, via, mode, 50, emptyFanout());
  for (let s = 0; s < WATCH_SLICES; s++) {
    const order: WatchVia[] = s % 2 === 0 ? ['storeclient', 'http'] : ['http', 'storeclient'];
    for (const via of order) await fanoutSlice(served, via, mode, Math.min(perSlice, WRITES - s * perSlice), results[via]);
  }
  const m = results.http;
  const b = results.storeclient;
  const lat = percentiles(m.latencies);
  const baseLat = percentiles(b.latencies);
  const last = percentiles(m.lastWatcher);
  const baseLast = percentiles(b.lastWatcher);
  const rate = (x: FanoutMeasurement) => (x.events / x.deliveryMs) * 1000;
  const ratio = baseLat.p50 / lat.p50;
  const fields: Array<[string, FieldValue]> = [
    ['backend', served.backend],
    ['watchers', WATCHERS],
    ['writes', m.writes],
    ['mode', mode === 'steady' ? `steady@${STEADY_RATE}/s` : `burst@${BURST_IN_FLIGHT}`],
    ['via', 'http'],
    ['p50_ms', lat.p50],
    ['p99_ms', lat.p99],
    ['last_p99_ms', last.p99],
    ['events/s', rate(m)],
    ['writes/s', (m.writes / m.writeMs) * 1000],
    ['cpu_us/event', m.cpuUs / m.events],
    ...(mode === 'steady' ? ([['issue_lag_p99_ms', percentiles(m.issueLag).p99]] as Array<[string, FieldValue]>) : []),
    ['baseline', 'storeclient'],
    ['base_p50_ms', baseLat.p50],
    ['base_p99_ms', baseLat.p99],
    ['base_last_p99_ms', baseLast.p99],
    ['base_events/s', rate(b)],
    ['base_cpu_us/event', b.cpuUs / b.events],
    ['ratio', ratio],
    ['ratio_p99', baseLat.p99 / lat.p99],
    ['rate_ratio', rate(m) / rate(b)],
    ['cpu_ratio', b.cpuUs / b.events / (m.cpuUs / m.events)],
  ];
  report.result('apiserver.watch-fanout', fields, goalMark(ratio, undefined));
}

// ---------------------------------------------------------------------------------------------
// Memory: the child.

/** What the parent tells a memory child. */
interface ChildConfig {
  store: string;
  /** Start an ApiServer (the parent lists through it) or not (the child lists in-process). */
  serve: boolean;
  objects: number;
}

/** What a memory child measured (MB unless said otherwise). */
interface ChildResult {
  emptyRssMb: number;
  seededRssMb: number;
  seededHeapMb: number;
  seedMs: number;
  listPeakRssMb: number;
  afterListRssMb: number;
  /** Items the in-process list returned, and the ms it took (store-only child). */
  listed?: number;
  listMs?: number;
}

/** Messages between the parent and a memory child. */
type ToParent = { type: 'seeded'; url?: string } | { type: 'result'; result: ChildResult } | { type: 'failed'; error: string };
type ToChild = { type: 'list' } | { type: 'listed' };

/** A full gc (the children run with --expose-gc), then RSS in MB. */
function settledRssMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage.rss() / MB;
}

/** The memory child: opens the store (and server), seeds, waits for the list, reports. */
async function childMain(config: ChildConfig): Promise<void> {
  const send = (m: ToParent) => process.send!(m);
  const messages: ToChild[] = [];
  let wake: (() => void) | undefined;
  process.on('message', (m: ToChild) => {
    messages.push(m);
    wake?.();
  });
  const next = async (): Promise<ToChild> => {
    while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return messages.shift()!;
  };
  let store: OpenedStore | undefined;
  let server: ApiServer | undefined;
  try {
    store = await openRegistry(config.store);
    if (config.serve) server = await startServer(store.registry);
    const emptyRssMb = settledRssMb();
    const seedMs = await seed(store.client, config.objects, configMapOf);
    const seededRssMb = settledRssMb();
    const seededHeapMb = process.memoryUsage().heapUsed / MB;
    let peak = process.memoryUsage.rss();
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), RSS_SAMPLE_MS);
    send({ type: 'seeded', ...(server ? { url: server.url } : {}) });
    const order = await next();
    let listed: number | undefined;
    let listMs: number | undefined;
    if (order.type === 'list') {
      const t0 = now();
      const list = await store.client.list(ConfigMap, { namespace: NAMESPACE });
      listMs = now() - t0;
      listed = list.items.length;
      peak = Math.max(peak, process.memoryUsage.rss());
    }
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    const afterListRssMb = settledRssMb();
    send({ type: 'result', result: { emptyRssMb, seededRssMb, seededHeapMb, seedMs, listPeakRssMb: peak / MB, afterListRssMb, ...(listed !== undefined && listMs !== undefined ? { listed, listMs } : {}) } });
  } catch (err) {
    send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    await server?.stop();
    await store?.close();
    process.disconnect?.();
  }
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void childMain(JSON.parse(process.argv[3] ?? '{}') as ChildConfig);
}

// ---------------------------------------------------------------------------------------------
// Memory: the parent.

/** What the parent saw of a child's list, besides the child's own numbers. */
interface MemoryMeasurement extends ChildResult {
  /** HTTP list (parent: GET, body, JSON.parse): items and MB received. */
  httpItems?: number;
  httpMb?: number;
}

/** Runs one memory child to its result; the child is killed by `cleanup` if still running. */
async function runMemoryChild(cleanup: Cleanup, config: ChildConfig): Promise<MemoryMeasurement> {
  const forked = forkChild(cleanup, fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(config)], childExecArgv(['--expose-gc']));
  const { child, exited, kill } = forked;
  const inbox: ToParent[] = [];
  let wake: (() => void) | undefined;
  child.on('message', (m: ToParent) => {
    inbox.push(m);
    wake?.();
  });
  const died = exited.then((code): never => {
    throw new Error(`child exited (code ${code}) early: ${forked.outputTail()}`);
  });
  died.catch(() => undefined);
  const receive = async (): Promise<ToParent> => {
    while (inbox.length === 0) await Promise.race([new Promise<void>((resolve) => (wake = resolve)), died]);
    const m = inbox.shift()!;
    if (m.type === 'failed') throw new Error(`child failed: ${m.error}`);
    return m;
  };
  try {
    return await Promise.race([
      (async () => {
        const seeded = await receive();
        if (seeded.type !== 'seeded') throw new Error(`unexpected message ${seeded.type}`);
        let http: { items: number; bytes: number; ms: number } | undefined;
        if (seeded.url) {
          const t0 = now();
          const got = await fetchAllPages(`${seeded.url}/api/v1/namespaces/${NAMESPACE}/configmaps`, 'all');
          http = { ...got, ms: now() - t0 };
          child.send({ type: 'listed' } satisfies ToChild);
        } else {
          child.send({ type: 'list' } satisfies ToChild);
        }
        const done = await receive();
        if (done.type !== 'result') throw new Error(`unexpected message ${done.type}`);
        const code = await Promise.race([exited, rejectAfter(15_000, () => 'child did not exit after answering')]);
        if (code !== 0) throw new Error(`child exited with code ${code}: ${forked.outputTail()}`);
        return { ...done.result, ...(http ? { httpItems: http.items, httpMb: http.bytes / MB, listMs: http.ms } : {}) };
      })(),
      rejectAfter(CHILD_TIMEOUT_MS, () => `memory child did not finish within ${CHILD_TIMEOUT_MS} ms`),
    ]);
  } finally {
    await kill();
  }
}

/** Measures the apiserver child and its store-only baseline on `backend`, then prints the line. */
async function runMemory(report: Reporter, cleanup: Cleanup, backend: Backend, dir: string): Promise<void> {
  let n = 0;
  const url = () => (backend === 'memory' ? 'memory:' : `sqlite:${join(dir, `memory-${++n}.db`)}`);
  // The baseline first on one backend, the apiserver first on the other: neither always runs on a warmer machine.
  const order: boolean[] = backend === 'memory' ? [false, true] : [true, false];
  const results = new Map<boolean, MemoryMeasurement>();
  for (const serve of order) results.set(serve, await runMemoryChild(cleanup, { store: url(), serve, objects: MEMORY_OBJECTS }));
  const m = results.get(true)!;
  const b = results.get(false)!;
  if (m.httpItems !== MEMORY_OBJECTS) throw new Error(`HTTP list of the configmaps returned ${m.httpItems} items, expected ${MEMORY_OBJECTS}`);
  if (b.listed !== MEMORY_OBJECTS) throw new Error(`in-process list of the configmaps returned ${b.listed} items, expected ${MEMORY_OBJECTS}`);
  const perObject = (x: ChildResult) => ((x.seededRssMb - x.emptyRssMb) * MB) / MEMORY_OBJECTS;
  const ratio = m.seededRssMb / b.seededRssMb;
  const fields: Array<[string, FieldValue]> = [
    ['backend', backend],
    ['objects', MEMORY_OBJECTS],
    ['rss_mb', m.seededRssMb],
    ['bytes/object', perObject(m)],
    ['empty_rss_mb', m.emptyRssMb],
    ['heap_mb', m.seededHeapMb],
    ['list_peak_rss_mb', m.listPeakRssMb],
    ['after_list_rss_mb', m.afterListRssMb],
    ['list_mb', m.httpMb ?? Number.NaN],
    ['list_ms', m.listMs ?? Number.NaN],
    ['baseline', 'store-only'],
    ['base_rss_mb', b.seededRssMb],
    ['base_bytes/object', perObject(b)],
    ['base_empty_rss_mb', b.emptyRssMb],
    ['base_list_peak_rss_mb', b.listPeakRssMb],
    ['base_after_list_rss_mb', b.afterListRssMb],
    ['base_list_ms', b.listMs ?? Number.NaN],
    ['ratio', ratio],
    ['list_peak_ratio', m.listPeakRssMb / b.listPeakRssMb],
  ];
  report.result('apiserver.memory', fields, goalMark(ratio, undefined));
  report.note(`  ${backend}: seeding ${MEMORY_OBJECTS} configmaps took ${(m.seedMs / 1000).toFixed(1)} s (apiserver child), ${(b.seedMs / 1000).toFixed(1)} s (store-only child)`);
}

// ---------------------------------------------------------------------------------------------
// The module.

/** The apiserver benchmark module. */
export const apiserverBenchmark: Benchmark = {
  name: 'apiserver',
  description: `HTTP API vs in-process StoreClient: list ${PODS} pods, watch fan-out to ${WATCHERS} watchers, RSS of an apiserver process holding ${MEMORY_OBJECTS} objects`,
  parts: ['list', 'watch', 'memory'],
  async run(report, cleanup, parts) {
    const unknown = parts.filter((p) => !this.parts.includes(p));
    if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(', ')} of apiserver; parts: ${this.parts.join(', ')}`);
    const wanted = (part: string) => parts.length === 0 || parts.includes(part);
    report.note(
      [
        `apiserver: ApiServer = plain HTTP on 127.0.0.1, no auth; backends ${BACKENDS.join(', ')} (sqlite on a temp file); etcd not measured.`,
        `  list: ${PODS} pods in one namespace (one container, ports, resources, labels; ~1 KB each as served), the ApiServer in THIS process over`,
        '    the registry the baseline uses, so HTTP numbers include server and client work on one event loop; cpu_ms/list = both (all threads).',
        `    via=http: fetch + res.text() + JSON.parse; via=kubeclient: KubeClient.list; via=http-table: what kubectl get pods asks (limit=${PAGE},`,
        `    Accept as=Table…); page=all: one response, page=${PAGE}: following continue. baseline=storeclient: StoreClient.list, same paging.`,
        `    ${LIST_WARMUP_ROUNDS} warm-up round, then ${LIST_ROUNDS} rounds running every subject once, in ABBA order. ratio = lists/s ÷ base_lists/s;`,
        '    cpu_ratio = base_cpu_ms/list ÷ cpu_ms/list (less sensitive to other load on the machine than the wall-clock ratio).',
        `  watch-fanout: ${WATCHERS} watchers of the namespace's pods from the current resourceVersion — via=http: ${WATCHERS} HTTP watch streams of one`,
        `    KubeClient; baseline=storeclient: ${WATCHERS} StoreClient.watch iterators — then ${WRITES} merge patches of one annotation, by an in-process`,
        `    StoreClient, steady at ${STEADY_RATE} writes/s (open loop) or as a burst with ${BURST_IN_FLIGHT} in flight. Latency = write issued (steady: its`,
        '    scheduled time, so a late issue counts) → its MODIFIED event at a watcher, over every (watcher, write); last_p99 = at the slowest',
        `    watcher; events/s = events delivered ÷ (first write → last event). ${WATCH_SLICES} slices per subject in ABBA order after a 50-write warm-up`,
        '    slice each; one subject\'s watchers open at a time. ratio = base_p50_ms ÷ p50_ms (< 1: HTTP slower); rate_ratio = events/s ÷ base;',
        '    cpu_ratio = base_cpu_us/event ÷ cpu_us/event.',
        '    cpu_us/event = this process\'s CPU per delivered event (writes, server, clients). A burst issues writes faster than 100 watchers',
        '    can take them, so its latencies are mostly queueing (the last writes wait for the backlog): read events/s there.',
        `  memory: a child process (--expose-gc) with the store, the registry and an ApiServer, seeded with ${MEMORY_OBJECTS} ConfigMaps (one key);`,
        '    empty_rss_mb before seeding, rss_mb after it (both after gc); bytes/object = (rss_mb − empty_rss_mb) ÷ objects; list_peak_rss_mb = peak',
        `    while the parent lists every object in one HTTP GET (sampled every ${RSS_SAMPLE_MS} ms); after_list_rss_mb after it (after gc); list_ms = that`,
        '    GET in the parent (response, body, JSON.parse). baseline=store-only: the same child without an ApiServer, listing in-process',
        '    (StoreClient.list; base_list_ms) instead. ratio = rss_mb ÷ base_rss_mb; list_peak_ratio likewise for the peaks.',
        '  No goals. Single runs on a shared machine: expect ±20%, more for p99.',
      ].join('\n'),
    );
    const dir = await mkdtemp(join(tmpdir(), 'keelson-bench-apiserver-'));
    const removeDir = cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    if (wanted('list') || wanted('watch')) {
      for (const backend of BACKENDS) {
        let served: Served;
        try {
          served = await openServed(cleanup, backend, dir);
        } catch (err) {
          report.error(`apiserver ${backend}: open and seed`, err);
          continue;
        }
        report.note(`  ${backend}: seeded ${PODS} pods (${served.podBytes} bytes of JSON each, defaults included) in ${(served.seedMs / 1000).toFixed(1)} s; ApiServer at ${served.server.url}`);
        try {
          if (wanted('list')) {
            try {
              await runList(report, served);
            } catch (err) {
              report.error(`apiserver.list ${backend}`, err);
            }
          }
          if (wanted('watch')) {
            for (const mode of ['steady', 'burst'] as const) {
              try {
                await runFanout(report, served, mode);
              } catch (err) {
                report.error(`apiserver.watch-fanout ${backend} ${mode}`, err);
              }
            }
          }
        } finally {
          await served.close();
        }
      }
    }
    if (wanted('memory')) {
      for (const backend of BACKENDS) {
        try {
          await runMemory(report, cleanup, backend, dir);
        } catch (err) {
          report.error(`apiserver.memory ${backend}`, err);
        }
      }
    }
    await removeDir();
  },
};
