/**
 * The registry that serves custom kinds: a {@link Registry} whose reads and write answers
 * present custom resources as apiextensions-apiserver does — pruned and defaulted with the schema
 * of the version they are stored in, in the version the request named — and which owns the
 * {@link CustomResourceDefinitions} controller that keeps its kinds in sync with the store's CRDs.
 * Built-in kinds pass through untouched.
 */
import type { KubeList, KubeObject, WatchEvent } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';
import type { KV } from '../storage/kv.js';
import { CustomResourceDefinitions, type CustomResourceDefinitionsOptions } from './crds.js';
import { customResourceOf, presentCustomResource } from './custom-resource.js';
import type { ListRequest } from './list.js';
import { Registry, type CreateOptions, type DeleteOptions, type DeleteResult, type RegistryOptions, type UpdateOptions, type WriteResult } from './registry.js';
import type { WatchRequest } from './watch.js';

/** A Registry that serves the custom kinds its store's CustomResourceDefinitions define. */
export class CustomResourceRegistry extends Registry {
  /** The controller serving the CRDs (started by `createRegistry`/`connect`). */
  readonly crds: CustomResourceDefinitions;

  constructor(kv: KV, options: RegistryOptions & { crds?: CustomResourceDefinitionsOptions }) {
    super(kv, options);
    this.crds = new CustomResourceDefinitions(this, options.crds);
  }

  override async get<T extends KubeObject = KubeObject>(info: ResourceInfo, namespace: string | undefined, name: string): Promise<T> {
    return presentCustomResource(info, await super.get(info, namespace, name)) as T;
  }

  override async list(info: ResourceInfo, request: ListRequest): Promise<KubeList> {
    const list = await super.list(info, request);
    if (customResourceOf(info)) list.items = list.items.map((item) => presentCustomResource(info, item));
    return list;
  }

  override watch(info: ResourceInfo, request: WatchRequest): AsyncIterableIterator<WatchEvent> {
    const events = super.watch(info, request);
    if (!customResourceOf(info)) return events;
    // A watch outlives CRD updates: each event is presented with the version's current schema.
    const present = (event: WatchEvent): WatchEvent => {
      if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') return event;
      const current = this.types.forResource(info.group, info.version, info.plural) ?? info;
      return { type: event.type, object: presentCustomResource(current, event.object) };
    };
    const mapped: AsyncIterableIterator<WatchEvent> = {
      async next() {
        const result = await events.next();
        return result.done ? result : { done: false, value: present(result.value) };
      },
      async return(value?: unknown) {
        return events.return ? events.return(value) : { done: true, value: undefined };
      },
      async throw(err?: unknown) {
        return events.throw ? events.throw(err) : { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return mapped;
      },
    };
    return mapped;
  }

  override async create(info: ResourceInfo, body: unknown, options?: CreateOptions): Promise<WriteResult> {
    const result = await super.create(info, body, options);
    return { ...result, object: presentCustomResource(info, result.object) };
  }

  override async update(info: ResourceInfo, body: unknown, options?: UpdateOptions): Promise<WriteResult & { created: boolean }> {
    const result = await super.update(info, body, options);
    return { ...result, object: presentCustomResource(info, result.object) };
  }

  override async delete(info: ResourceInfo, namespace: string | undefined, name: string, options?: DeleteOptions): Promise<DeleteResult> {
    const result = await super.delete(info, namespace, name, options);
    return { ...result, object: presentCustomResource(info, result.object) };
  }
}
