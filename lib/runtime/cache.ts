/**
 * The Indexer: the local store an informer keeps of one kind (client-go's `cache.Indexer` over a
 * thread-safe store). Objects are keyed `namespace/name` (`name` for cluster-scoped ones) and
 * reachable through indexes: the built-in `namespace` and `label` (`key=value`) indexes and any
 * number of user indexes (`addIndexer(name, fn)`, client-go's IndexFunc), kept correct through
 * every add, update, delete and replace.
 *
 * Sharing, not copying: like client-go, the Indexer hands out the very objects it holds — a
 * read costs nothing. To make the "never mutate what the cache gave you" rule enforceable rather
 * than a convention, objects are deep-frozen when they enter the store (`freeze`, on by default):
 * a handler that mutates one gets a TypeError instead of silently corrupting the cache. Freezing
 * is paid once per stored object, not per read. Code that wants to change an object copies it
 * first — the cached Client does that for every read, as controller-runtime's does.
 */
import { badRequest } from '../api/errors.js';
import { FieldSelector, parseFieldSelector } from '../api/fields.js';
import { LabelSelectorMatcher, parseLabelSelector, selectorFromObject } from '../api/labels.js';
import type { KubeObject } from '../api/meta.js';
import type { LabelSelectorInput } from '../client/client.js';

/** Computes the values under which an object is indexed (client-go's IndexFunc). */
export type IndexFunc<T extends KubeObject = KubeObject> = (obj: T) => string[];

/** The built-in index of objects by namespace (`''` for cluster-scoped objects). */
export const NAMESPACE_INDEX = 'namespace';
/** The built-in index of objects by label, with values `key=value`. */
export const LABEL_INDEX = 'label';
/** The prefix of user indexes a cached list uses for field selectors (controller-runtime's `field:`). */
export const FIELD_INDEX_PREFIX = 'field:';

/** The store key of an object: `namespace/name`, or `name` (client-go's MetaNamespaceKeyFunc). */
export function metaNamespaceKey(obj: KubeObject): string {
  return objectKey(obj.metadata?.namespace, obj.metadata?.name ?? '');
}

/** The store key of a namespace and name: `namespace/name`, or `name` without a namespace. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Options of an {@link Indexer}. */
export interface IndexerOptions<T extends KubeObject> {
  /**
   * The fields a field selector can test (kube's selectable fields); default `metadata.name` and
   * `metadata.namespace`. A field the function does not return counts as `''`, as in kube.
   */
  selectableFields?: (obj: T) => Record<string, string>;
  /** Deep-freeze objects as they enter the store (default true). */
  freeze?: boolean;
  /**
   * Told when a user IndexFunc throws; the object is stored anyway, without entries in that
   * index (default: `console.warn`).
   */
  onIndexError?: (error: Error) => void;
}

/** What a list from the cache selects (all of it when empty). */
export interface CacheListOptions {
  namespace?: string;
  labelSelector?: LabelSelectorInput | LabelSelectorMatcher;
  /** Terms on a field with a `field:<name>` index use it; other fields go through `selectableFields`. */
  fieldSelector?: string | FieldSelector;
}

/** The differences a {@link Indexer.replace} made, so an informer can tell its handlers. */
export interface ReplaceDiff<T> {
  /** Objects that were not in the store, in the order given. */
  added: T[];
  /** Objects whose resourceVersion changed, with the state they replaced. */
  updated: Array<{ oldObj: T; newObj: T }>;
  /** Objects no longer present, in their last known state. */
  deleted: T[];
}

/** A keyed, indexed store of objects of one kind (client-go's cache.Indexer). */
export class Indexer<T extends KubeObject = KubeObject> {
  /** The resourceVersion the contents are current to: set by {@link replace}, advanced by the owner as it applies events. */
  resourceVersion = '';
  private readonly items = new Map<string, T>();
  private readonly indexFuncs = new Map<string, IndexFunc<T>>();
  /** index name → index value → keys. */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly selectableFields: (obj: T) => Record<string, string>;
  private readonly freeze: boolean;
  private readonly onIndexError: (error: Error) => void;

  constructor(options: IndexerOptions<T> = {}) {
    this.selectableFields = options.selectableFields ?? metadataFields;
    this.freeze = options.freeze ?? true;
    this.onIndexError = options.onIndexError ?? ((error) => console.warn(error.message));
    this.indexFuncs.set(NAMESPACE_INDEX, (obj) => [obj.metadata?.namespace ?? '']);
    this.indexFuncs.set(LABEL_INDEX, (obj) => Object.entries(obj.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`));
    for (const name of this.indexFuncs.keys()) this.indices.set(name, new Map());
  }

  /** Number of objects held. */
  get size(): number {
    return this.items.size;
  }

  /** Adds or replaces an object; returns the state it replaced, if any. */
  add(obj: T): T | undefined {
    const key = metaNamespaceKey(obj);
    const old = this.items.get(key);
    if (this.freeze) deepFreeze(obj);
    if (old) this.unindex(old, key);
    this.items.set(key, obj);
    this.index(obj, key);
    return old;
  }

  /** Same as {@link add} (client-go's Update). */
  update(obj: T): T | undefined {
    return this.add(obj);
  }

  /** Removes the object with this object's key; returns what was stored, if anything. */
  delete(obj: T): T | undefined {
    return this.deleteByKey(metaNamespaceKey(obj));
  }

  /** Removes the object under `key`; returns what was stored, if anything. */
  deleteByKey(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(old, key);
    this.items.delete(key);
    return old;
  }

  /** The object `namespace/name` (or `name` without a namespace), shared and frozen. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(objectKey(namespace, name));
  }

  /** The object under a store key. */
  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  /** Every store key, in insertion order. */
  keys(): string[] {
    return [...this.items.keys()];
  }

  /** The objects matching every given selection (in no particular order). */
  list(options: CacheListOptions = {}): T[] {
    const labels = toLabelMatcher(options.labelSelector);
    const fields = typeof options.fieldSelector === 'string' ? parseFieldSelector(options.fieldSelector) : (options.fieldSelector ?? FieldSelector.everything());
    if (labels.matchesNothing()) return [];
    const candidates = this.candidateKeys(options.namespace, labels, fields);
    const out: T[] = [];
    const consider = (key: string, obj: T) => {
      if (options.namespace !== undefined && (obj.metadata?.namespace ?? '') !== options.namespace) return;
      if (!labels.isEmpty() && !labels.matches(obj.metadata?.labels)) return;
      if (!fields.isEmpty() && !this.fieldsMatch(key, obj, fields)) return;
      out.push(obj);
    };
    if (candidates) {
      for (const key of candidates) consider(key, this.items.get(key)!);
    } else {
      for (const [key, obj] of this.items) consider(key, obj);
    }
    return out;
  }

  /**
   * Adds an index. Allowed before and after objects exist (existing ones are indexed at once);
   * a name already in use (including `namespace` and `label`) is refused with a 400.
   */
  addIndexer(name: string, indexFunc: IndexFunc<T>): void {
    if (this.indexFuncs.has(name)) throw badRequest(`indexer conflict: an index named "${name}" already exists`);
    this.indexFuncs.set(name, indexFunc);
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.items) this.indexOne(name, indexFunc, index, obj, key);
  }

  /** True if an index of this name exists. */
  hasIndex(name: string): boolean {
    return this.indexFuncs.has(name);
  }

  /** The objects an index holds under `value`; 400 for an unknown index. */
  byIndex(name: string, value: string): T[] {
    return this.indexKeys(name, value).map((key) => this.items.get(key)!);
  }

  /** The keys an index holds under `value`; 400 for an unknown index. */
  indexKeys(name: string, value: string): string[] {
    return [...(this.indexNamed(name).get(value) ?? [])];
  }

  /** Every value an index holds (client-go's ListIndexFuncValues). */
  listIndexFuncValues(name: string): string[] {
    return [...this.indexNamed(name).keys()];
  }

  /**
   * Replaces the whole contents with `items` at `resourceVersion` and answers what changed: an
   * object with the same key and resourceVersion as before counts as unchanged (the stored one
   * is kept); a different resourceVersion is an update; keys not in `items` are deleted.
   */
  replace(items: readonly T[], resourceVersion: string): ReplaceDiff<T> {
    const diff: ReplaceDiff<T> = { added: [], updated: [], deleted: [] };
    const seen = new Set<string>();
    for (const obj of items) {
      const key = metaNamespaceKey(obj);
      seen.add(key);
      const old = this.items.get(key);
      if (!old) {
        this.add(obj);
        diff.added.push(obj);
      } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        this.add(obj);
        diff.updated.push({ oldObj: old, newObj: obj });
      }
    }
    for (const [key, old] of [...this.items]) {
      if (seen.has(key)) continue;
      this.deleteByKey(key);
      diff.deleted.push(old);
    }
    this.resourceVersion = resourceVersion;
    return diff;
  }

  private indexNamed(name: string): Map<string, Set<string>> {
    const index = this.indices.get(name);
    if (!index) throw badRequest(`Index with name ${name} does not exist`);
    return index;
  }

  /** The smallest key set an index narrows the selection to, or undefined to scan everything. */
  private candidateKeys(namespace: string | undefined, labels: LabelSelectorMatcher, fields: FieldSelector): Set<string> | undefined {
    let best: Set<string> | undefined;
    const offer = (keys: Set<string> | undefined) => {
      const set = keys ?? new Set<string>();
      if (!best || set.size < best.size) best = set;
    };
    if (namespace !== undefined) offer(this.indices.get(NAMESPACE_INDEX)!.get(namespace));
    for (const r of labels.requirements) {
      const value = labels.requiresExactMatch(r.key);
      if (value !== undefined) offer(this.indices.get(LABEL_INDEX)!.get(`${r.key}=${value}`));
    }
    for (const r of fields.requirements) {
      const index = this.indices.get(FIELD_INDEX_PREFIX + r.field);
      if (index && r.operator === '=') offer(index.get(r.value));
    }
    return best;
  }

  private fieldsMatch(key: string, obj: T, fields: FieldSelector): boolean {
    let extracted: Record<string, string> | undefined;
    return fields.requirements.every((r) => {
      const index = this.indices.get(FIELD_INDEX_PREFIX + r.field);
      let equal: boolean;
      if (index) {
        equal = index.get(r.value)?.has(key) ?? false;
      } else {
        extracted ??= this.selectableFields(obj);
        const actual = Object.prototype.hasOwnProperty.call(extracted, r.field) ? extracted[r.field] : '';
        equal = actual === r.value;
      }
      return r.operator === '=' ? equal : !equal;
    });
  }

  private index(obj: T, key: string): void {
    for (const [name, fn] of this.indexFuncs) this.indexOne(name, fn, this.indices.get(name)!, obj, key);
  }

  private indexOne(name: string, fn: IndexFunc<T>, index: Map<string, Set<string>>, obj: T, key: string): void {
    for (const value of this.valuesOf(name, fn, obj, key)) {
      let keys = index.get(value);
      if (!keys) index.set(value, (keys = new Set()));
      keys.add(key);
    }
  }

  private unindex(obj: T, key: string): void {
    for (const [name, fn] of this.indexFuncs) {
      const index = this.indices.get(name)!;
      for (const value of this.valuesOf(name, fn, obj, key)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  }

  /** An IndexFunc's values, deduplicated; a throwing IndexFunc is reported and indexes nothing. */
  private valuesOf(name: string, fn: IndexFunc<T>, obj: T, key: string): Set<string> {
    try {
      return new Set(fn(obj));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.onIndexError(new Error(`unable to calculate an index entry for key "${key}" on index "${name}": ${why}`, { cause: err }));
      return new Set();
    }
  }
}

/** The default selectable fields: `metadata.name` and `metadata.namespace`. */
export function metadataFields(obj: KubeObject): Record<string, string> {
  return { 'metadata.name': obj.metadata?.name ?? '', 'metadata.namespace': obj.metadata?.namespace ?? '' };
}

function toLabelMatcher(selector: LabelSelectorInput | LabelSelectorMatcher | undefined): LabelSelectorMatcher {
  if (selector === undefined || selector === '') return LabelSelectorMatcher.everything();
  if (selector instanceof LabelSelectorMatcher) return selector;
  return typeof selector === 'string' ? parseLabelSelector(selector) : selectorFromObject(selector);
}

/** Freezes an object and everything reachable from it; a part already frozen is taken to be deeply frozen (JSON data, no cycles). */
export function deepFreeze<V>(value: V): V {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
  return value;
}
