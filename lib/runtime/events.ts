/**
 * Events: what a controller tells humans about an object (`kubectl describe` shows them). An
 * {@link EventRecorder} writes core/v1 Events as client-go's `record` package does, so they look
 * the same as Kubernetes' own: named `<object>.<hex time>`, in the object's namespace, with
 * `count`, `firstTimestamp` and `lastTimestamp`.
 *
 * Recording never blocks and never throws: events go to a bounded queue and are written in the
 * background, failures are logged. Before writing, events pass client-go's EventCorrelator:
 * - a repeat of the same event (object, type, reason, message, source) within the correlation
 *   window patches the existing Event (`count` + 1, new `lastTimestamp`) instead of creating one;
 * - once 10 events with the same object, type and reason but different messages arrive in that
 *   window, further ones are combined into one "(combined from similar events)" Event;
 * - a spam filter allows each source+object a burst of 25 events, then one per 5 minutes.
 */
import { format } from 'node:util';
import { ApiError, isNotFound } from '../api/errors.js';
import { Event } from '../api/kinds.js';
import { formatTimestamp, type KubeObject } from '../api/meta.js';
import type { ObjectReference } from '../api/types/core.js';
import type { Client } from '../client/client.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger } from './logger.js';
import { EventRecorderToken, type Logger } from './tokens.js';

/** The two event types of core/v1. */
export type EventType = 'Normal' | 'Warning';

/**
 * Records events about objects (client-go's record.EventRecorder). `reason` is a short
 * UpperCamelCase machine-readable word (`ScalingReplicaSet`); `message` is for humans.
 */
export interface EventRecorder {
  /** Records an event; returns at once (the write happens in the background). */
  event(object: KubeObject, type: EventType, reason: string, message: string): void;
  /** Like {@link event}, with a printf-style message (`%s`, `%d`, `%j`, as Node's util.format). */
  eventf(object: KubeObject, type: EventType, reason: string, messageFormat: string, ...args: unknown[]): void;
}

/** The DI token of the manager's EventRecorder: `@inject(EventRecorder) events: EventRecorder`. */
export const EventRecorder: typeof EventRecorderToken = EventRecorderToken;

/** Options of {@link ClientEventRecorder}; defaults are client-go's. */
export interface ClientEventRecorderOptions {
  /** `source.component` and `reportingComponent`, e.g. the controller or manager name. */
  component: string;
  /** `source.host` and `reportingInstance`, e.g. the node or pod name. */
  host?: string;
  /** Time source of timestamps, correlation and retries (default the system clock). */
  clock?: Clock;
  /** Where write failures and dropped events are logged (default: nowhere). */
  logger?: Logger;
  /** Events waiting to be written beyond this are dropped (default 1000). */
  maxQueuedEvents?: number;
  /** A repeat within this window updates the existing Event (default 10 minutes). */
  correlationWindowMs?: number;
  /** Distinct messages per object+type+reason within the window before combining (default 10). */
  maxSimilarEvents?: number;
  /** Spam filter burst per source+object (default 25); 0 disables the filter. */
  spamBurst?: number;
  /** Spam filter refill: one event per this many ms (default 5 minutes). */
  spamRefillMs?: number;
  /** Attempts to write one event when the failure is not an API error (default 12). */
  maxTries?: number;
  /** Pause between those attempts (default 10 s). */
  retryDelayMs?: number;
}

/** A recorded occurrence, before correlation. */
interface PendingEvent {
  involvedObject: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
  atMs: number;
}

/** What the correlator remembers of an Event it wrote (client-go's eventLog). */
interface ObservedEvent {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSeenMs: number;
}

/** Similar events (same object, type, reason) seen in the window (client-go's aggregateRecord). */
interface SimilarEvents {
  messages: Set<string>;
  lastSeenMs: number;
}

/** A token bucket of the spam filter. */
interface SpamBucket {
  tokens: number;
  lastRefillMs: number;
}

/** client-go's maxLruCacheEntries: the correlator forgets the least recently seen beyond this. */
const MAX_CACHE_ENTRIES = 4096;
const COMBINED_PREFIX = '(combined from similar events): ';

/** A Map that keeps its `max` most recently used entries. */
class LruCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** An EventRecorder writing core/v1 Events through a Client (client-go's recorder + broadcaster + sink). */
export class ClientEventRecorder implements EventRecorder {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly queue: PendingEvent[] = [];
  private readonly observed = new LruCache<ObservedEvent>(MAX_CACHE_ENTRIES);
  private readonly similar = new LruCache<SimilarEvents>(MAX_CACHE_ENTRIES);
  private readonly spam = new LruCache<SpamBucket>(MAX_CACHE_ENTRIES);
  private readonly stopping = new AbortController();
  private draining: Promise<void> | undefined;
  private lastNameSuffix = 0n;
  private readonly settings: Required<Omit<ClientEventRecorderOptions, 'host' | 'clock' | 'logger'>>;

  constructor(
    private readonly client: Client,
    private readonly options: ClientEventRecorderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.settings = {
      component: options.component,
      maxQueuedEvents: options.maxQueuedEvents ?? 1000,
      correlationWindowMs: options.correlationWindowMs ?? 10 * 60_000,
      maxSimilarEvents: options.maxSimilarEvents ?? 10,
      spamBurst: options.spamBurst ?? 25,
      spamRefillMs: options.spamRefillMs ?? 5 * 60_000,
      maxTries: options.maxTries ?? 12,
      retryDelayMs: options.retryDelayMs ?? 10_000,
    };
  }

  event(object: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.stopping.signal.aborted) return;
    if (type !== 'Normal' && type !== 'Warning') {
      this.logger.error({ type, reason }, 'unsupported event type');
      return;
    }
    const meta = object.metadata ?? {};
    if (!object.kind || !meta.name) {
      this.logger.error({ kind: object.kind, name: meta.name, reason }, 'could not construct a reference to the object; event dropped');
      return;
    }
    if (this.queue.length >= this.settings.maxQueuedEvents) {
      this.logger.warn({ reason, object: meta.name }, 'event queue is full; event dropped');
      return;
    }
    const involvedObject: ObjectReference = {
      kind: object.kind,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      name: meta.name,
      ...(meta.uid ? { uid: meta.uid } : {}),
      ...(object.apiVersion ? { apiVersion: object.apiVersion } : {}),
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
    };
    this.queue.push({ involvedObject, type, reason, message, atMs: this.clock.now() });
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  eventf(object: KubeObject, type: EventType, reason: string, messageFormat: string, ...args: unknown[]): void {
    this.event(object, type, reason, format(messageFormat, ...args));
  }

  /** Resolves once every event recorded so far has been written (or given up on). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Stops accepting events, abandons pending retries, and waits for the write in progress. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.queue.length = 0;
    await this.flush();
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      try {
        await this.record(next);
      } catch (err) {
        this.logger.error({ err, reason: next.reason }, 'unexpected failure while recording an event');
      }
    }
  }

  /** Correlates one occurrence, then creates or patches its Event. */
  private async record(pending: PendingEvent): Promise<void> {
    const source = { component: this.settings.component, ...(this.options.host ? { host: this.options.host } : {}) };
    const ref = pending.involvedObject;
    const objectKey = [source.component, source.host ?? '', ref.kind, ref.namespace ?? '', ref.name, ref.uid ?? '', ref.apiVersion ?? ''].join('\u0000');
    const { message, key } = this.aggregate(pending, `${objectKey}\u0000${pending.type}\u0000${pending.reason}`);
    const now = pending.atMs;
    const timestamp = formatTimestamp(now);
    const previous = this.observed.get(key);
    const repeat = previous !== undefined && now - previous.lastSeenMs <= this.settings.correlationWindowMs;
    const observed: ObservedEvent = repeat
      ? { ...previous, count: previous.count + 1, lastSeenMs: now }
      : { name: `${ref.name}.${this.nameSuffix(now)}`, namespace: ref.namespace || 'default', count: 1, firstTimestamp: timestamp, lastSeenMs: now };
    this.observed.set(key, observed);
    if (!this.allowedBySpamFilter(objectKey, now)) {
      this.logger.debug({ reason: pending.reason, object: ref.name }, 'event filtered as spam');
      return;
    }
    const event: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: observed.name, namespace: observed.namespace },
      involvedObject: ref,
      reason: pending.reason,
      message,
      source,
      firstTimestamp: observed.firstTimestamp,
      lastTimestamp: timestamp,
      count: observed.count,
      type: pending.type,
      reportingComponent: source.component,
      reportingInstance: source.host ?? '',
    };
    await this.write(event, repeat);
  }

  /**
   * client-go's EventAggregator: answers the message to write and the key the event is
   * deduplicated under — its own, or the object+type+reason key once similar events are combined.
   */
  private aggregate(pending: PendingEvent, similarKey: string): { message: string; key: string } {
    const ownKey = `${similarKey}\u0000${pending.message}`;
    if (this.settings.maxSimilarEvents <= 0) return { message: pending.message, key: ownKey };
    let record = this.similar.get(similarKey);
    if (!record || pending.atMs - record.lastSeenMs > this.settings.correlationWindowMs) record = { messages: new Set(), lastSeenMs: pending.atMs };
    record.messages.add(pending.message);
    record.lastSeenMs = pending.atMs;
    this.similar.set(similarKey, record);
    if (record.messages.size < this.settings.maxSimilarEvents) return { message: pending.message, key: ownKey };
    // Keep the set bounded, as client-go does: one message leaves for each that arrives.
    record.messages.delete(record.messages.values().next().value!);
    return { message: `${COMBINED_PREFIX}${pending.message}`, key: similarKey };
  }

  /** client-go's EventSourceObjectSpamFilter: a token bucket per source+object. */
  private allowedBySpamFilter(objectKey: string, now: number): boolean {
    const { spamBurst, spamRefillMs } = this.settings;
    if (spamBurst <= 0) return true;
    const bucket = this.spam.get(objectKey) ?? { tokens: spamBurst, lastRefillMs: now };
    bucket.tokens = Math.min(spamBurst, bucket.tokens + (now - bucket.lastRefillMs) / spamRefillMs);
    bucket.lastRefillMs = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.spam.set(objectKey, bucket);
    return allowed;
  }

  /**
   * Patches a repeat into its Event, or creates the Event (also when the one to patch is gone,
   * e.g. expired). API errors are final, as in client-go; other failures (transport) are retried.
   */
  private async write(event: Event, patchExisting: boolean): Promise<void> {
    const { name, namespace } = event.metadata as { name: string; namespace: string };
    for (let attempt = 1; ; attempt++) {
      try {
        if (patchExisting) {
          try {
            const patch = { count: event.count, lastTimestamp: event.lastTimestamp, message: event.message };
            await this.client.patch(Event, name, patch, { namespace, type: 'merge' });
            return;
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        await this.client.create(event);
        return;
      } catch (err) {
        if (isApiFailure(err) || attempt >= this.settings.maxTries || this.stopping.signal.aborted) {
          this.logger.error({ err, event: `${namespace}/${name}`, reason: event.reason }, 'unable to write event (will not retry)');
          return;
        }
        this.logger.warn({ err, event: `${namespace}/${name}`, attempt }, 'unable to write event; retrying');
        try {
          await this.clock.sleep(this.settings.retryDelayMs, this.stopping.signal);
        } catch {
          return; // stopped
        }
      }
    }
  }

  /** `<time in ns, hex>`, strictly increasing so two events in one millisecond get distinct names. */
  private nameSuffix(nowMs: number): string {
    const nanos = BigInt(Math.floor(nowMs)) * 1_000_000n;
    this.lastNameSuffix = nanos > this.lastNameSuffix ? nanos : this.lastNameSuffix + 1n;
    return this.lastNameSuffix.toString(16);
  }
}

/** The server answered with a Status: writing the same event again would fail the same way. */
function isApiFailure(err: unknown): boolean {
  if (err instanceof ApiError) return true;
  const status = (err as { status?: { kind?: unknown } } | null)?.status;
  return typeof status === 'object' && status !== null && status.kind === 'Status';
}

/** One event captured by a {@link FakeEventRecorder}. */
export interface RecordedEvent {
  involvedObject: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

/**
 * An EventRecorder for unit tests (client-go's FakeRecorder): keeps every event in
 * {@link FakeEventRecorder.events}, writes nothing.
 */
export class FakeEventRecorder implements EventRecorder {
  /** Every event recorded, oldest first. */
  readonly events: RecordedEvent[] = [];

  event(object: KubeObject, type: EventType, reason: string, message: string): void {
    const meta = object.metadata ?? {};
    const involvedObject: ObjectReference = {
      ...(object.kind ? { kind: object.kind } : {}),
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      ...(meta.name ? { name: meta.name } : {}),
      ...(meta.uid ? { uid: meta.uid } : {}),
      ...(object.apiVersion ? { apiVersion: object.apiVersion } : {}),
    };
    this.events.push({ involvedObject, type, reason, message });
  }

  eventf(object: KubeObject, type: EventType, reason: string, messageFormat: string, ...args: unknown[]): void {
    this.event(object, type, reason, format(messageFormat, ...args));
  }

  /** The events as client-go's FakeRecorder renders them: `"<type> <reason> <message>"`. */
  strings(): string[] {
    return this.events.map((e) => `${e.type} ${e.reason} ${e.message}`);
  }

  /** Forgets the events recorded so far. */
  clear(): void {
    this.events.length = 0;
  }
}
