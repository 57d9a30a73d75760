/**
 * StoreClient: the {@link Client} over keelson's own registry, in-process. No HTTP, no
 * serialization beyond the store's: the same semantics and the same Status errors an API
 * server would give, at function-call cost.
 */
import { badRequest, type Status } from '../api/errors.js';
import type { KubeList, KubeObject, WatchEvent } from '../api/meta.js';
import type { KindRef, ResourceInfo } from '../api/resources.js';
import { createBinding, isBinding } from '../registry/binding.js';
import type { Registry } from '../registry/registry.js';
import { compilePredicate } from '../registry/selection.js';
import type { Client, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, WatchOptions, WriteOptions } from './client.js';

/** A Client over a {@link Registry} in the same process. */
export class StoreClient implements Client {
  private readonly watches = new Set<AbortController>();
  private closed = false;

  /**
   * @param registry the registry to serve from.
   * @param release called once by {@link close} (e.g. to close the store the registry owns).
   */
  constructor(
    readonly registry: Registry,
    private readonly release?: () => Promise<void>,
  ) {}

  async get<T extends KubeObject>(kind: KindRef<T>, name: string, options: GetOptions = {}): Promise<T> {
    const info = this.registry.resolve(kind);
    return this.registry.get<T>(info, options.namespace, name);
  }

  async list<T extends KubeObject>(kind: KindRef<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    const info = this.registry.resolve(kind);
    const strategy = this.registry.strategy(info);
    return (await this.registry.list(info, {
      ...(options.namespace ? { namespace: options.namespace } : {}),
      predicate: compilePredicate(strategy, options.labelSelector, options.fieldSelector),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(options.continue ? { continue: options.continue } : {}),
      ...(options.resourceVersion !== undefined ? { resourceVersion: options.resourceVersion } : {}),
      ...(options.resourceVersionMatch ? { resourceVersionMatch: options.resourceVersionMatch } : {}),
    })) as KubeList<T>;
  }

  watch<T extends KubeObject>(kind: KindRef<T>, options: WatchOptions = {}): AsyncIterableIterator<WatchEvent<T>> {
    const info = this.registry.resolve(kind);
    const strategy = this.registry.strategy(info);
    const predicate = compilePredicate(strategy, options.labelSelector, options.fieldSelector);
    const stop = new AbortController();
    this.watches.add(stop);
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const events = this.registry.watch(info, {
      ...(options.namespace ? { namespace: options.namespace } : {}),
      predicate,
      ...(options.resourceVersion !== undefined ? { resourceVersion: options.resourceVersion } : {}),
      ...(options.allowWatchBookmarks ? { allowWatchBookmarks: true } : {}),
      ...(options.sendInitialEvents !== undefined ? { sendInitialEvents: options.sendInitialEvents } : {}),
      ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
      signal,
    });
    signal.addEventListener('abort', () => this.watches.delete(stop), { once: true });
    return events as AsyncIterableIterator<WatchEvent<T>>;
  }

  async create<T extends KubeObject>(obj: T, options: CreateOptions = {}): Promise<T> {
    const info = this.kindOf(obj);
    // A Binding is not stored: it binds a pod to a node and answers a 201 Status, as over HTTP.
    if (isBinding(obj)) {
      return (await createBinding(this.registry, asJson(obj), {
        ...(options.namespace ? { namespace: options.namespace } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
      })) as unknown as T;
    }
    const result = await this.registry.create(info, asJson(obj), {
      ...writeOptions(options),
      ...(options.namespace ?? obj.metadata?.namespace ? { namespace: options.namespace ?? obj.metadata?.namespace } : {}),
    });
    return result.object as T;
  }

  async update<T extends KubeObject>(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.put(obj, options, undefined);
  }

  async updateStatus<T extends KubeObject>(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.put(obj, options, 'status');
  }

  async patch<T extends KubeObject>(kind: KindRef<T>, name: string, patch: unknown, options: PatchOptions = {}): Promise<T> {
    const info = this.registry.resolve(kind);
    const result = await this.registry.patch(info, options.namespace, name, asJson(patch), options.type ?? 'merge', {
      ...writeOptions(options),
      ...(options.subresource ? { subresource: options.subresource } : {}),
    });
    return result.object as T;
  }

  async delete<T extends KubeObject>(kind: KindRef<T>, name: string, options: DeleteOptions = {}): Promise<T | Status> {
    const info = this.registry.resolve(kind);
    const result = await this.registry.delete(info, options.namespace, name, {
      ...(options.preconditions ? { preconditions: options.preconditions } : {}),
      ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
      ...(options.dryRun ? { dryRun: true } : {}),
    });
    return result.object as T | Status;
  }

  async serverResources(): Promise<ResourceInfo[]> {
    // One entry per group and kind: the first served version of a multi-version CRD stands for it.
    const seen = new Set<string>();
    return this.registry.types.all().filter((info) => {
      const key = `${info.group}/${info.kind}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.watches) stop.abort();
    this.watches.clear();
    await this.release?.();
  }

  private async put<T extends KubeObject>(obj: T, options: WriteOptions, subresource: 'status' | undefined): Promise<T> {
    const info = this.kindOf(obj);
    const result = await this.registry.update(info, asJson(obj), {
      ...writeOptions(options),
      ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
      ...(subresource ? { subresource } : {}),
    });
    return result.object as T;
  }

  /** The kind an object names by its apiVersion and kind (400 if it names none). */
  private kindOf(obj: KubeObject): ResourceInfo {
    if (typeof obj !== 'object' || obj === null) throw badRequest('the object to write must be a JSON object');
    if (!obj.kind) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
    if (!obj.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
    return this.registry.resolve({ apiVersion: obj.apiVersion, kind: obj.kind });
  }
}

/**
 * The object as it would arrive over the wire: a deep copy with `undefined` fields dropped and
 * Dates as strings, so an in-process write means exactly what the same JSON would over HTTP.
 */
function asJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function writeOptions(options: WriteOptions): WriteOptions {
  return {
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.fieldValidation ? { fieldValidation: options.fieldValidation } : {}),
    ...(options.fieldManager ? { fieldManager: options.fieldManager } : {}),
  };
}
