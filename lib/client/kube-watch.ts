/**
 * The watch of {@link KubeClient}: one `GET …?watch=true` stream of JSON lines after another,
 * presented as one iterator that survives what client-node's own Watch/ListWatch do not.
 *
 * - A network error, a stream the server ends, a 5xx or 429 answer (or ERROR event), a line that
 *   does not decode: watch again from the last resourceVersion seen (events' and bookmarks'),
 *   after a jittered exponential backoff (800 ms doubling to 30 s; a `Retry-After` wins).
 * - 410 Gone/Expired (an HTTP answer or an ERROR event), and every other error answer: the ERROR
 *   event is delivered and the iterator ends — the caller relists (the informer does).
 * - A stream with neither an event nor a bookmark for `silenceTimeoutMs` is torn down and
 *   re-established. Bookmarks are always requested; they reach the caller only if it asked.
 * - With `timeoutSeconds` the caller's budget holds across reconnects, and the stream ending
 *   (the server's timeout) ends the iterator, as StoreClient's watch does. Without it, a server
 *   timeout is just another reconnect.
 * - A watch without a resourceVersion (or '0') starts with the current state as synthetic ADDED
 *   events, which carry their objects' own resourceVersions — not a point to resume from. Only a
 *   bookmark, a MODIFIED/DELETED event (or an ADDED after either) makes one; if the stream breaks
 *   before that but after some ADDED events were delivered, a 410 Expired ERROR event is delivered
 *   instead of relisting silently. Before any event it simply starts over.
 */
import type { Response } from 'undici';
import { ApiError, toApiError, type Status } from '../api/errors.js';
import type { KubeObject, WatchEvent } from '../api/meta.js';
import { Channel } from '../util/channel.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { WatchOptions } from './client.js';
import { ExponentialBackoff, type BackoffOptions } from '../util/backoff.js';

/** How a watch behaves between streams. */
export interface KubeWatchSettings {
  clock: Clock;
  /** Re-establish a stream silent (no event, no bookmark) for this long, in ms. */
  silenceTimeoutMs: number;
  /** Delays between failed attempts. */
  backoff?: BackoffOptions;
  /** Told of each transparent retry (for logs): why, and how long until the next attempt. */
  onRetry?: (error: ApiError, delayMs: number) => void;
}

/** What a watch needs from the client: where, and how to open one stream. */
export interface WatchTarget {
  /** The collection path (resolved through discovery before each attempt). */
  path(): Promise<string>;
  /** Opens one stream; answers a 2xx response or throws an ApiError. */
  open(path: string, query: Record<string, string | number | boolean | undefined>, signal: AbortSignal): Promise<Response>;
  /** The path answered 404: forget what discovery knows. */
  pathNotFound(): void;
  /** Label and field selectors, passed as they are. */
  selection: { labelSelector?: string; fieldSelector?: string };
}

/** The outcome of one stream. */
type Attempt = { kind: 'final' } | { kind: 'closed'; healthy: boolean } | { kind: 'retry'; error: ApiError; retryAfterMs?: number };

/** A stream lasting less than this with no event is a failure, not a normal end. */
const SHORT_STREAM_MS = 1000;

/** Starts a watch; `done` settles once it has stopped and released its stream and timers. */
export function startKubeWatch(target: WatchTarget, options: WatchOptions, settings: KubeWatchSettings): { events: Channel<WatchEvent>; done: Promise<void> } {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const events = new Channel<WatchEvent>({ signal, onClose: () => stop.abort() });
  const run = new WatchRun(target, options, settings, events, signal);
  const done = run
    .pump()
    .catch((err: unknown) => events.push({ type: 'ERROR', object: toApiError(err).status as unknown as KubeObject }))
    .finally(() => {
      events.end();
      stop.abort();
    });
  return { events, done };
}

class WatchRun {
  private readonly clock: Clock;
  /** Where to resume: the last resourceVersion of an event or bookmark that is a valid point. */
  private resourceVersion: string | undefined;
  /** True while the synthetic ADDED events of a watch without a resourceVersion may be flowing. */
  private replaying: boolean;
  private deliveredWhileReplaying = 0;

  constructor(
    private readonly target: WatchTarget,
    private readonly options: WatchOptions,
    private readonly settings: KubeWatchSettings,
    private readonly out: Channel<WatchEvent>,
    private readonly signal: AbortSignal,
  ) {
    this.clock = settings.clock;
    const rv = options.resourceVersion;
    const fromRevision = rv !== undefined && rv !== '' && rv !== '0';
    this.resourceVersion = fromRevision ? rv : undefined;
    this.replaying = options.sendInitialEvents === true || (!fromRevision && options.sendInitialEvents !== false);
  }

  async pump(): Promise<void> {
    const backoff = new ExponentialBackoff(this.clock, this.settings.backoff);
    const timeoutSeconds = this.options.timeoutSeconds && this.options.timeoutSeconds > 0 ? this.options.timeoutSeconds : undefined;
    const deadline = timeoutSeconds !== undefined ? this.clock.now() + timeoutSeconds * 1000 : undefined;
    while (!this.signal.aborted) {
      let remaining: number | undefined;
      if (deadline !== undefined) {
        const left = deadline - this.clock.now();
        if (left <= 0) return;
        remaining = Math.max(1, Math.ceil(left / 1000));
      }
      const result = await this.attempt(remaining);
      if (this.signal.aborted || result.kind === 'final') return;
      if (result.kind === 'closed') {
        if (deadline !== undefined) return;
        if (result.healthy && !this.stuckInReplay()) continue;
      }
      if (this.stuckInReplay()) {
        this.out.push({ type: 'ERROR', object: cannotResume().status as unknown as KubeObject });
        return;
      }
      const delay = result.kind === 'retry' && result.retryAfterMs !== undefined ? result.retryAfterMs : backoff.next();
      const why = result.kind === 'retry' ? result.error : new ApiError({ code: 503, reason: 'ServiceUnavailable', message: 'the watch stream ended at once, with no event' });
      this.settings.onRetry?.(why, delay);
      await this.clock.sleep(delay, this.signal).catch(() => undefined);
    }
  }

  /** Some synthetic ADDED events went out, but no point to resume from is known yet. */
  private stuckInReplay(): boolean {
    return this.replaying && this.deliveredWhileReplaying > 0;
  }

  private query(timeoutSeconds: number | undefined): Record<string, string | number | boolean | undefined> {
    // Resuming: from a known point, without the caller's initial-events request (already served).
    const resuming = !this.replaying && this.resourceVersion !== undefined;
    const initial = this.options.sendInitialEvents;
    return {
      watch: true,
      allowWatchBookmarks: true,
      ...this.target.selection,
      resourceVersion: resuming ? this.resourceVersion : this.options.resourceVersion,
      ...(!resuming && initial !== undefined ? { sendInitialEvents: initial, resourceVersionMatch: 'NotOlderThan' } : {}),
      timeoutSeconds,
    };
  }

  /** One stream, until it ends, breaks, goes silent or delivers a final ERROR. */
  private async attempt(timeoutSeconds: number | undefined): Promise<Attempt> {
    const silenceMs = this.settings.silenceTimeoutMs;
    const abort = new AbortController();
    const signal = AbortSignal.any([this.signal, abort.signal]);
    const startedAt = this.clock.now();
    let lastActivity = startedAt;
    let silent = false;
    let watchdog: TimerHandle | undefined;
    const arm = (ms: number): void => {
      watchdog = this.clock.setTimeout(() => {
        const idle = this.clock.now() - lastActivity;
        if (idle < silenceMs) return arm(silenceMs - idle);
        silent = true;
        abort.abort();
      }, ms);
    };
    arm(silenceMs);
    let events = 0;
    try {
      const path = await this.target.path();
      const res = await this.target.open(path, this.query(timeoutSeconds), signal);
      if (!res.body) return { kind: 'closed', healthy: false };
      const decoder = new TextDecoder();
      let pending: string[] = [];
      const lines = function* (text: string): Generator<string> {
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          pending.push(text.slice(start, nl));
          const line = pending.join('');
          pending = [];
          start = nl + 1;
          yield line;
        }
        if (start < text.length) pending.push(text.slice(start));
      };
      for await (const chunk of res.body) {
        lastActivity = this.clock.now();
        for (const line of lines(decoder.decode(chunk as Uint8Array, { stream: true }))) {
          if (!line.trim()) continue;
          const result = this.handle(line);
          if (result) return result;
          events++;
        }
      }
      const rest = pending.join('') + decoder.decode();
      if (rest.trim()) {
        const result = this.handle(rest);
        if (result) return result;
        events++;
      }
      return { kind: 'closed', healthy: events > 0 || this.clock.now() - startedAt >= SHORT_STREAM_MS };
    } catch (err) {
      if (this.signal.aborted) return { kind: 'final' };
      if (silent) {
        return { kind: 'retry', error: new ApiError({ code: 504, reason: 'Timeout', message: `the watch stream was silent for ${silenceMs} ms` }) };
      }
      return this.failed(err);
    } finally {
      watchdog?.cancel();
      abort.abort();
    }
  }

  /** Handles one line of the stream; answers an outcome when the stream should stop. */
  private handle(line: string): Attempt | undefined {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      return { kind: 'retry', error: new ApiError({ code: 500, reason: 'InternalError', message: `unable to decode an event from the watch stream: ${line.slice(0, 200)}` }) };
    }
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') {
      return { kind: 'retry', error: new ApiError({ code: 500, reason: 'InternalError', message: `not a watch event: ${line.slice(0, 200)}` }) };
    }
    const rv = event.object?.metadata?.resourceVersion;
    switch (event.type) {
      case 'ERROR': {
        const status = (event.object ?? {}) as unknown as Partial<Status>;
        const error = ApiError.fromStatus(status);
        if (retryable(error.code)) return retry(error);
        this.out.push(event);
        return { kind: 'final' };
      }
      case 'BOOKMARK':
        if (rv) this.resourceVersion = rv;
        this.replaying = false;
        if (this.options.allowWatchBookmarks) this.out.push(event);
        return undefined;
      default:
        if (this.replaying && event.type === 'ADDED') {
          this.deliveredWhileReplaying++;
        } else {
          this.replaying = false;
          if (rv) this.resourceVersion = rv;
        }
        this.out.push(event);
        return undefined;
    }
  }

  /** A stream that failed: retry what is transient, deliver the rest as a final ERROR event. */
  private failed(err: unknown): Attempt {
    if (!(err instanceof ApiError)) {
      // The body broke mid-stream (reset, terminated): a network failure.
      const message = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      return { kind: 'retry', error: new ApiError({ code: 503, reason: 'ServiceUnavailable', message: `the watch stream broke: ${message}` }) };
    }
    if (retryable(err.code)) return retry(err);
    if (err.code === 404 && !err.details?.name) this.target.pathNotFound();
    this.out.push({ type: 'ERROR', object: err.status as unknown as KubeObject });
    return { kind: 'final' };
  }
}

function retryable(code: number): boolean {
  return code !== 410 && (code >= 500 || code === 429);
}

function retry(error: ApiError): Attempt {
  const seconds = error.details?.retryAfterSeconds;
  // Honoured up to 5 minutes: a longer wait would look like a dead watch.
  return { kind: 'retry', error, ...(seconds !== undefined ? { retryAfterMs: Math.min(seconds, 300) * 1000 } : {}) };
}

function cannotResume(): ApiError {
  return new ApiError({
    code: 410,
    reason: 'Expired',
    message: 'the watch stream broke while it was sending the initial state and has no resourceVersion to resume from: relist',
  });
}
