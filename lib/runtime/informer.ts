/**
 * The Informer: keeps a local, indexed copy of one kind in sync with a source and tells handlers
 * what changed — client-go's Reflector, DeltaFIFO and sharedIndexInformer in one piece.
 *
 * The Reflector's contract, over any {@link Client}:
 * - list (in pages of `pageSize`, following `continue`), then watch from the list's
 *   resourceVersion with bookmarks and a server-side timeout of 5–10 minutes (randomised so that
 *   many informers do not reconnect together); a watch that ends normally is resumed from the
 *   last resourceVersion seen, without a list;
 * - a 410 (an ERROR event or a failed watch) means the history is gone: relist, and tell the
 *   handlers exactly what changed meanwhile — ADDED for new objects, MODIFIED for those with a
 *   new resourceVersion, DELETED (with the last known state) for those gone, nothing otherwise;
 * - any other failure (list, watch, a source that is down) is logged once and retried after a
 *   jittered exponential backoff (800 ms doubling to 30 s, reset after 2 healthy minutes); the
 *   informer never gives up and never rejects into the void;
 * - a stream that stays silent past the server timeout plus a margin is presumed dead and
 *   restarted (the watchdog).
 *
 * Handlers run synchronously, in order, after the Indexer holds the change; an exception in one
 * is logged and affects nothing else. Objects handed to handlers are the Indexer's shared,
 * frozen objects: copy before changing.
 */
import { ApiError, isExpired, timeout, type Status } from '../api/errors.js';
import { fieldsOf } from '../api/fields.js';
import type { KubeObject, WatchEvent } from '../api/meta.js';
import { gvkOf, parseApiVersion, resourceInfoOf, type KindRef } from '../api/resources.js';
import type { Client, LabelSelectorInput } from '../client/client.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { ExponentialBackoff, type BackoffOptions } from '../util/backoff.js';
import { Indexer } from './cache.js';
import type { InformerEventHandler } from './types.js';

/** Where an informer logs (pino's `(fields, message)` calling convention; a pino Logger fits). */
export interface InformerLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** Which objects of the kind an informer holds. */
export interface InformerSelection {
  /** One namespace (all namespaces when absent). */
  namespace?: string;
  labelSelector?: LabelSelectorInput;
  fieldSelector?: string;
}

/** Options of an {@link Informer}. */
export interface InformerOptions<T extends KubeObject = KubeObject> extends InformerSelection {
  /** Every this many ms, handlers get `onUpdate(obj, obj)` for every cached object; 0 (default) = never. */
  resyncPeriodMs?: number;
  /** Time source for backoff, timers and the watchdog (default the system clock). */
  clock?: Clock;
  /** Default: warnings to the console, nothing else. */
  logger?: InformerLogger;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /** A list page that takes longer than this fails and is retried (default 60 s). */
  listTimeoutMs?: number;
  /** Override the reflector backoff (defaults: client-go's). */
  backoff?: BackoffOptions;
  /** Fields a cached field selector can test (default: kube's per-kind table, `fieldsOf`). */
  selectableFields?: (obj: T) => Record<string, string>;
  /** Deep-freeze cached objects (default true; see cache.ts). */
  freezeObjects?: boolean;
}

/** A handler's registration, to remove it (client-go's ResourceEventHandlerRegistration). */
export interface ResourceEventHandlerRegistration {
  /** Stops delivering events to the handler. */
  remove(): void;
}

/** The server-side watch timeout is this many seconds times 1 to 2 (client-go's minWatchTimeout). */
const MIN_WATCH_TIMEOUT_SECONDS = 5 * 60;
/** The watchdog gives the server this long past its own timeout before it calls a stream dead. */
const WATCHDOG_MARGIN_MS = 30_000;
/** A watch that ends sooner than this with no event counts as a failure (client-go's "very short watch"). */
const SHORT_WATCH_MS = 1000;

const noop = () => undefined;
const consoleLogger: InformerLogger = { warn: (fields, message) => console.warn(message, fields), info: noop, debug: noop };

type WatchOutcome = { expired: boolean; events: number };

/** Keeps an {@link Indexer} of one kind in sync with a source and notifies handlers. */
export class Informer<T extends KubeObject = KubeObject> {
  /** The local store; read it, never change its objects. */
  readonly indexer: Indexer<T>;
  /** The kind's apiVersion and kind. */
  readonly gvk: { apiVersion: string; kind: string };
  private readonly clock: Clock;
  private readonly logger: InformerLogger;
  private readonly backoff: ExponentialBackoff;
  private readonly handlers = new Set<InformerEventHandler<T>>();
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private readonly stopController = new AbortController();
  private state: 'new' | 'running' | 'stopped' = 'new';
  private synced = false;
  private lastResourceVersion = '';
  private resyncTimer: TimerHandle | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    /** The kind this informer holds. */
    readonly kind: KindRef<T>,
    /** The options it was made with. */
    readonly options: InformerOptions<T> = {},
  ) {
    this.gvk = gvkOf(kind);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? consoleLogger;
    this.backoff = new ExponentialBackoff(this.clock, options.backoff);
    const info = resourceInfoOf(kind);
    const fieldKind = { group: parseApiVersion(this.gvk.apiVersion).group, kind: this.gvk.kind, ...(info ? { namespaced: info.namespaced } : {}) };
    this.indexer = new Indexer<T>({
      selectableFields: options.selectableFields ?? ((obj) => fieldsOf(fieldKind, obj)),
      freeze: options.freezeObjects ?? true,
      onIndexError: (err) => this.logger.warn({ err, informer: this.description }, err.message),
    });
  }

  /** The kind and selection, for logs and errors: `Pod (v1) in namespace "default"`. */
  get description(): string {
    const { namespace, labelSelector, fieldSelector } = this.options;
    const parts = [`${this.gvk.kind} (${this.gvk.apiVersion})`];
    if (namespace) parts.push(`in namespace "${namespace}"`);
    if (labelSelector) parts.push(`with labels ${typeof labelSelector === 'string' ? labelSelector : JSON.stringify(labelSelector)}`);
    if (fieldSelector) parts.push(`with fields ${fieldSelector}`);
    return parts.join(' ');
  }

  /** The resourceVersion of the last list, event or bookmark applied ('' before the first list). */
  get lastSyncResourceVersion(): string {
    return this.lastResourceVersion;
  }

  /** True once {@link start} was called (and until stopped). */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** True once the first list is in the Indexer and its onAdd events were delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, false if the informer stops or `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.state === 'stopped' || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (synced: boolean) => {
        this.syncWaiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve(synced);
      };
      const onAbort = () => done(false);
      this.syncWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Adds a handler. If objects are already cached, it gets a synthetic `onAdd(obj, true)` for
   * each at once (as client-go), then every later event.
   */
  addEventHandler(handler: InformerEventHandler<T>): ResourceEventHandlerRegistration {
    this.handlers.add(handler);
    for (const obj of this.indexer.list()) this.call(handler, 'onAdd', () => handler.onAdd?.(obj, true));
    return { remove: () => void this.handlers.delete(handler) };
  }

  /** Starts listing and watching in the background; `signal` (or {@link stop}) stops it. Starting twice is a no-op. */
  start(signal?: AbortSignal): void {
    if (this.state === 'stopped') throw new Error(`informer for ${this.description} was stopped; create a new one`);
    if (this.state === 'running') return;
    this.state = 'running';
    if (signal?.aborted) return void this.stop();
    // The listener goes away with the informer's own stop signal.
    signal?.addEventListener('abort', () => void this.stop(), { once: true, signal: this.stopController.signal });
    this.running = this.run().catch((err: unknown) => this.logger.warn({ err, informer: this.description }, 'informer loop failed'));
  }

  /** Stops the informer: ends the watch, cancels every timer; resolves once the loop has exited. */
  async stop(): Promise<void> {
    if (this.state !== 'stopped') {
      this.state = 'stopped';
      this.stopController.abort();
      this.resyncTimer?.cancel();
      for (const waiter of [...this.syncWaiters]) waiter(false);
    }
    await this.running;
  }

  /** The reflector loop: list, then watch and re-watch; relist on 410; back off on anything else. */
  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    let needList = true;
    while (!signal.aborted) {
      try {
        const justListed = needList;
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        const outcome = await this.watch(signal);
        if (!outcome.expired) continue;
        needList = true;
        this.logger.info({ informer: this.description, resourceVersion: this.lastResourceVersion }, 'watch history expired (410); relisting');
        // A watch that expires straight after a list, without a single event, would spin.
        if (justListed && outcome.events === 0) await this.sleep(this.backoff.next(), signal);
      } catch (err) {
        if (signal.aborted) break;
        const retryInMs = Math.round(this.backoff.next());
        this.logger.warn({ err, informer: this.description, retryInMs }, `${needList ? 'list' : 'watch'} of ${this.description} failed: ${errorMessage(err)}`);
        await this.sleep(retryInMs, signal);
      }
    }
  }

  /** Lists everything, replaces the Indexer's contents and tells handlers the differences. */
  private async relist(signal: AbortSignal): Promise<void> {
    const { items, resourceVersion } = await this.listAll(signal);
    if (signal.aborted) return;
    const diff = this.indexer.replace(items.map((obj) => this.withKind(obj)), resourceVersion);
    this.lastResourceVersion = resourceVersion;
    const initial = !this.synced;
    for (const obj of diff.added) this.dispatch('onAdd', (h) => h.onAdd?.(obj, initial));
    for (const { oldObj, newObj } of diff.updated) this.dispatch('onUpdate', (h) => h.onUpdate?.(oldObj, newObj));
    for (const obj of diff.deleted) this.dispatch('onDelete', (h) => h.onDelete?.(obj));
    if (initial) {
      this.synced = true;
      for (const waiter of [...this.syncWaiters]) waiter(true);
      this.scheduleResync();
    }
  }

  /** All pages of a list at one resourceVersion; an expired continue token falls back to one full list (client-go's pager). */
  private async listAll(signal: AbortSignal): Promise<{ items: T[]; resourceVersion: string }> {
    const selection = this.selection();
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      let page;
      try {
        page = await this.bounded(() => this.client.list(this.kind, { ...selection, limit: this.options.pageSize ?? 500, ...(cont ? { continue: cont } : {}) }), signal);
      } catch (err) {
        if (!cont || !isExpired(err)) throw err;
        const full = await this.bounded(() => this.client.list(this.kind, selection), signal);
        return { items: full.items, resourceVersion: full.metadata.resourceVersion ?? '' };
      }
      resourceVersion ??= page.metadata.resourceVersion;
      for (const item of page.items) items.push(item);
      cont = page.metadata.continue;
    } while (cont && !signal.aborted);
    return { items, resourceVersion: resourceVersion ?? '' };
  }

  /** One watch from the last resourceVersion, until it ends, expires, goes silent or the informer stops. */
  private async watch(signal: AbortSignal): Promise<WatchOutcome> {
    const timeoutSeconds = Math.floor(MIN_WATCH_TIMEOUT_SECONDS * (1 + Math.random()));
    const idleLimitMs = timeoutSeconds * 1000 + WATCHDOG_MARGIN_MS;
    const ended = new AbortController();
    const watchSignal = AbortSignal.any([signal, ended.signal]);
    const startedAt = this.clock.now();
    let lastEventAt = startedAt;
    let silent = false;
    let watchdog: TimerHandle | undefined;
    const arm = () => {
      watchdog = this.clock.setTimeout(() => {
        if (this.clock.now() - lastEventAt < idleLimitMs) return arm();
        silent = true;
        ended.abort();
      }, lastEventAt + idleLimitMs - this.clock.now());
    };
    arm();
    // Wakes a pending `next()` when the watch is aborted, even if the iterator itself hangs.
    let wake: ((r: IteratorResult<WatchEvent<T>>) => void) | undefined;
    const onAbort = () => wake?.({ done: true, value: undefined });
    watchSignal.addEventListener('abort', onAbort, { once: true });
    let iterator: AsyncIterator<WatchEvent<T>> | undefined;
    let events = 0;
    try {
      const options = { ...this.selection(), resourceVersion: this.lastResourceVersion, allowWatchBookmarks: true, timeoutSeconds, signal: watchSignal };
      iterator = this.client.watch(this.kind, options);
      for (;;) {
        const it = iterator;
        const next = watchSignal.aborted
          ? ({ done: true, value: undefined } as const)
          : await new Promise<IteratorResult<WatchEvent<T>>>((resolve, reject) => {
              wake = resolve;
              it.next().then(resolve, reject);
            });
        if (next.done || watchSignal.aborted) break;
        events++;
        lastEventAt = this.clock.now();
        const event = next.value;
        if (event.type === 'ERROR') {
          const error = ApiError.fromStatus((event.object ?? {}) as unknown as Status);
          if (isExpired(error)) return { expired: true, events };
          throw error;
        }
        this.apply(event);
      }
    } catch (err) {
      if (isExpired(err)) return { expired: true, events };
      throw err;
    } finally {
      watchdog?.cancel();
      watchSignal.removeEventListener('abort', onAbort);
      ended.abort();
      closeQuietly(iterator);
    }
    if (silent) {
      this.logger.info({ informer: this.description, idleMs: idleLimitMs }, 'watch silent past its timeout; restarting it');
    } else if (!signal.aborted && events === 0 && this.clock.now() - startedAt < SHORT_WATCH_MS) {
      throw new Error(`very short watch of ${this.description}: unexpected watch close - watch lasted less than a second and no items received`);
    }
    return { expired: false, events };
  }

  /** Applies one watch event to the Indexer, then tells the handlers. */
  private apply(event: WatchEvent<T>): void {
    const obj = event.object;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const stored = this.withKind(obj);
        const old = this.indexer.add(stored);
        if (old) this.dispatch('onUpdate', (h) => h.onUpdate?.(old, stored));
        else this.dispatch('onAdd', (h) => h.onAdd?.(stored, false));
        break;
      }
      case 'DELETED': {
        const gone = this.withKind(obj);
        this.indexer.delete(gone);
        this.dispatch('onDelete', (h) => h.onDelete?.(gone));
        break;
      }
      case 'BOOKMARK':
        break;
      default:
        this.logger.debug({ informer: this.description, type: event.type }, 'ignoring watch event of unknown type');
    }
    const resourceVersion = obj.metadata?.resourceVersion;
    if (resourceVersion) {
      this.lastResourceVersion = resourceVersion;
      this.indexer.resourceVersion = resourceVersion;
    }
  }

  private scheduleResync(): void {
    const period = this.options.resyncPeriodMs ?? 0;
    if (period <= 0 || this.state === 'stopped') return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.state === 'stopped') return;
      for (const obj of this.indexer.list()) this.dispatch('onUpdate', (h) => h.onUpdate?.(obj, obj));
      this.scheduleResync();
    }, period);
  }

  private dispatch(what: keyof InformerEventHandler<T>, deliver: (handler: InformerEventHandler<T>) => void): void {
    for (const handler of [...this.handlers]) this.call(handler, what, () => deliver(handler));
  }

  private call(handler: InformerEventHandler<T>, what: string, deliver: () => void): void {
    if (!this.handlers.has(handler)) return;
    try {
      deliver();
    } catch (err) {
      this.logger.warn({ err, informer: this.description, handler: what }, `event handler ${what} of ${this.description} failed: ${errorMessage(err)}`);
    }
  }

  /** Fills in apiVersion and kind, which list items from some sources lack. */
  private withKind(obj: T): T {
    return obj.apiVersion && obj.kind ? obj : { ...obj, apiVersion: this.gvk.apiVersion, kind: this.gvk.kind };
  }

  /** The list/watch options that select this informer's objects. */
  private selection(): InformerSelection {
    const { namespace, labelSelector, fieldSelector } = this.options;
    return { ...(namespace ? { namespace } : {}), ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) };
  }

  /** Runs one list call, failing it when it outlives `listTimeoutMs` or the informer stops. */
  private bounded<R>(call: () => Promise<R>, signal: AbortSignal): Promise<R> {
    const limitMs = this.options.listTimeoutMs ?? 60_000;
    return new Promise<R>((resolve, reject) => {
      const finish = (outcome: () => void) => {
        timer.cancel();
        signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const onAbort = () => finish(() => reject(signal.reason));
      const timer = this.clock.setTimeout(() => finish(() => reject(timeout(`list of ${this.description} did not answer within ${limitMs} ms`))), limitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      new Promise<R>((settled) => settled(call())).then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }

  /** Waits `ms`; an abort just ends the wait early (the loop then sees the signal). */
  private async sleep(ms: number, signal: AbortSignal): Promise<void> {
    await this.clock.sleep(ms, signal).catch(noop);
  }
}

/** Ends an iterator without waiting for it or letting its failure escape. */
function closeQuietly(iterator: AsyncIterator<unknown> | undefined): void {
  try {
    iterator?.return?.()?.catch(noop);
  } catch {
    // A synchronous throw from return() leaves nothing to release.
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
