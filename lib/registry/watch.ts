/**
 * WATCH with Kubernetes semantics, translated from the store's change stream:
 * - no resourceVersion (or "0"): synthetic ADDED events for every current object, then changes;
 * - resourceVersion N: every change after N, exactly once, in order; N older than the compacted
 *   history ends the stream with an ERROR event carrying a 410 Expired Status (as kube sends it);
 * - selectors filter events; an object that stops matching is sent as DELETED (and one that
 *   starts matching as ADDED), each stamped with the revision of the change;
 * - BOOKMARK events (when asked) carry a resourceVersion up to which everything was delivered.
 */
import { ApiError, expired, toApiError } from '../api/errors.js';
import type { KubeObject, WatchEvent } from '../api/meta.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';
import { isKVError, type KV, type KVEvent } from '../storage/kv.js';
import { Channel } from '../util/channel.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { decodeObject } from './codec.js';
import { collectionPrefix } from './keys.js';
import { listObjects, parseResourceVersion, waitForRevision, type Predicate } from './list.js';

/** Options of watch (meta/v1 ListOptions with watch=true, selectors already compiled). */
export interface WatchRequest {
  namespace?: string;
  predicate: Predicate;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** Send the current state as ADDED events first, then a bookmark marking their end. */
  sendInitialEvents?: boolean;
  /** End the watch after this many seconds (the server-side timeout). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** Options of the watch translator. */
export interface WatchSettings {
  /** How often an idle watch with bookmarks gets one (kube: about a minute). */
  bookmarkIntervalMs: number;
  clock: Clock;
}

/** The annotation kube puts on the bookmark that ends the initial events. */
export const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

function stamped(obj: KubeObject, revision: number): KubeObject {
  obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(revision) };
  return obj;
}

/** Starts a watch; events arrive on the returned iterator until it is closed or aborted. */
export function watchObjects(kv: KV, info: ResourceInfo, request: WatchRequest, settings: WatchSettings): AsyncIterableIterator<WatchEvent> {
  const inner = new AbortController();
  let timer: TimerHandle | undefined;
  const out = new Channel<WatchEvent>({
    ...(request.signal ? { signal: request.signal } : {}),
    onClose: () => {
      timer?.cancel();
      inner.abort();
    },
  });
  if (request.timeoutSeconds && request.timeoutSeconds > 0) {
    timer = settings.clock.setTimeout(() => out.end(), request.timeoutSeconds * 1000);
  }
  void pump(kv, info, request, settings, out, inner.signal).catch((err: unknown) => {
    if (!out.isDone) {
      out.push({ type: 'ERROR', object: toApiError(err).status as unknown as KubeObject });
      out.end();
    }
  });
  return out;
}

function bookmark(info: ResourceInfo, revision: number, annotations?: Record<string, string>): WatchEvent {
  return {
    type: 'BOOKMARK',
    object: {
      apiVersion: apiVersionOf(info),
      kind: info.kind,
      metadata: { resourceVersion: String(revision), ...(annotations ? { annotations } : {}) },
    },
  };
}

async function pump(
  kv: KV,
  info: ResourceInfo,
  request: WatchRequest,
  settings: WatchSettings,
  out: Channel<WatchEvent>,
  signal: AbortSignal,
): Promise<void> {
  const rv = request.resourceVersion ?? '';
  let from: number;
  const initial = request.sendInitialEvents ?? (rv === '' || rv === '0');
  if (initial) {
    // Current state first, read at one revision, then every change after it.
    let cont: string | undefined;
    let revision: number | undefined;
    if (rv !== '' && rv !== '0') await waitForRevision(kv, settings.clock, parseResourceVersion(rv));
    do {
      const page = await listObjects(kv, settings.clock, info, {
        ...(request.namespace ? { namespace: request.namespace } : {}),
        predicate: request.predicate,
        limit: 500,
        ...(cont ? { continue: cont } : {}),
      });
      revision ??= Number(page.metadata.resourceVersion);
      for (const item of page.items) out.push({ type: 'ADDED', object: item });
      cont = page.metadata.continue;
    } while (cont && !signal.aborted);
    from = revision!;
    if (request.sendInitialEvents && request.allowWatchBookmarks) {
      out.push(bookmark(info, from, { [INITIAL_EVENTS_END_ANNOTATION]: 'true' }));
    }
  } else {
    from = parseResourceVersion(rv);
  }
  if (signal.aborted) return;

  const prefix = collectionPrefix(info, request.namespace);
  const stream = kv.watch(prefix, from, {
    signal,
    progressNotify: !!request.allowWatchBookmarks,
    progressIntervalMs: settings.bookmarkIntervalMs,
  });
  let lastSent = from;
  try {
    for await (const message of stream) {
      if (message.type === 'progress') {
        if (request.allowWatchBookmarks && message.revision >= lastSent) {
          lastSent = message.revision;
          out.push(bookmark(info, message.revision));
        }
        continue;
      }
      for (const event of message.events) {
        const translated = translate(event, request.predicate);
        if (translated) out.push(translated);
        lastSent = event.revision;
      }
    }
  } catch (err) {
    if (isKVError(err, 'compacted')) {
      throw expired(`too old resource version: ${from} (${err.compactRevision ?? 0})`);
    }
    throw err instanceof ApiError ? err : toApiError(err);
  }
  out.end();
}

/** Turns one store change into the watch event a client with this predicate must see. */
export function translate(event: KVEvent, predicate: Predicate): WatchEvent | undefined {
  const current = event.kv ? decodeObject(event.kv.value, event.revision) : undefined;
  const previous = event.prev ? decodeObject(event.prev.value, event.prev.modRevision) : undefined;
  const nowMatches = current ? predicate.matches(current) : false;
  const matchedBefore = previous ? predicate.matches(previous) : false;
  if (event.type === 'delete') {
    return matchedBefore ? { type: 'DELETED', object: stamped(previous!, event.revision) } : undefined;
  }
  if (nowMatches && matchedBefore) return { type: 'MODIFIED', object: current! };
  if (nowMatches) return { type: 'ADDED', object: current! };
  if (matchedBefore) return { type: 'DELETED', object: stamped(previous!, event.revision) };
  return undefined;
}
