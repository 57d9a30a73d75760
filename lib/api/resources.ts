/**
 * The GVK/resource registry: which kinds exist, their plural resource names, API group and
 * version, scope (namespaced or cluster), short names and subresources. The registry and the
 * API server look kinds up here, by `apiVersion`+`kind` or by group+resource.
 *
 * A kind is referred to by a {@link KindRef}: a class carrying resource metadata (a built-in
 * such as `Pod`, or a user class decorated with `@Resource`) or a literal `{ apiVersion, kind }`.
 */

/** The scale subresource of a kind (paths into the object, as in a CRD). */
export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

/** Everything keelson knows about one kind. */
export interface ResourceInfo {
  /** API group, '' for the core group. */
  group: string;
  version: string;
  kind: string;
  /** Lower-case plural resource name used in URLs and keys, e.g. `pods`. */
  plural: string;
  /** Lower-case singular name, e.g. `pod`. */
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** The kind of the list type, e.g. `PodList`. */
  listKind: string;
  /** Subresources served for the kind. */
  subresources: { status: boolean; scale?: ScaleSubresource };
  /** Verbs served (discovery); default: the full set. */
  verbs: string[];
}

/** The input to {@link defineResource}: the required fields, the rest defaulted. */
export interface ResourceSpec {
  group?: string;
  version: string;
  kind: string;
  plural?: string;
  singular?: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  listKind?: string;
  subresources?: { status?: boolean; scale?: ScaleSubresource };
  verbs?: string[];
}

/** The verbs of an ordinary read-write resource. */
export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Completes a {@link ResourceSpec} with Kubernetes' defaults (plural = lower-case kind + s, …). */
export function defineResource(spec: ResourceSpec): ResourceInfo {
  const lower = spec.kind.toLowerCase();
  return {
    group: spec.group ?? '',
    version: spec.version,
    kind: spec.kind,
    plural: spec.plural ?? pluralize(lower),
    singular: spec.singular ?? lower,
    namespaced: spec.namespaced ?? true,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    listKind: spec.listKind ?? `${spec.kind}List`,
    subresources: { status: spec.subresources?.status ?? false, ...(spec.subresources?.scale ? { scale: spec.subresources.scale } : {}) },
    verbs: spec.verbs ?? ALL_VERBS,
  };
}

/** A naive English plural, as kubebuilder and `kubectl` guess it (used only as a default). */
function pluralize(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

/** `group/version`, or just `version` for the core group. */
export function apiVersionOf(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** Splits an apiVersion into group and version (`v1` → core). */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/**
 * The property under which a class carries its {@link ResourceInfo}. A global symbol, so a user
 * module that loads its own copy of keelson still matches this one.
 */
export const RESOURCE_INFO: unique symbol = Symbol.for('keelson.resource') as never;

/** A class that carries resource metadata (built-in kinds, `@Resource` classes). */
export interface ResourceClass<T = unknown> {
  new (...args: never[]): T;
  readonly [RESOURCE_INFO]?: ResourceInfo;
}

/** A reference to a kind: a resource class or a literal `{ apiVersion, kind }`. */
export type KindRef<T = unknown> = ResourceClass<T> | { apiVersion: string; kind: string };

/** The ResourceInfo a class carries, if any. */
export function resourceInfoOf(cls: unknown): ResourceInfo | undefined {
  if (typeof cls !== 'function') return undefined;
  return (cls as { [RESOURCE_INFO]?: ResourceInfo })[RESOURCE_INFO];
}

/** Attaches resource metadata to a class (what `@Resource` does). */
export function attachResourceInfo(cls: object, info: ResourceInfo): void {
  Object.defineProperty(cls, RESOURCE_INFO, { value: info, enumerable: false, configurable: true, writable: false });
}

/** The `{ apiVersion, kind }` a KindRef names. */
export function gvkOf(ref: KindRef): { apiVersion: string; kind: string } {
  if (typeof ref === 'function') {
    const info = resourceInfoOf(ref);
    if (!info) {
      throw new TypeError(
        `${ref.name || 'class'} is not a resource: decorate it with @Resource({ group, version, kind, plural }) or pass { apiVersion, kind }`,
      );
    }
    return { apiVersion: apiVersionOf(info), kind: info.kind };
  }
  return { apiVersion: ref.apiVersion, kind: ref.kind };
}

/**
 * The set of kinds a store or API server serves. Built-in kinds are registered at construction;
 * CRDs add and remove kinds at run time. Lookups by kind and by resource are O(1).
 */
export class ResourceTypes {
  private readonly byGvk = new Map<string, ResourceInfo>();
  private readonly byGvr = new Map<string, ResourceInfo>();
  private readonly listeners = new Set<() => void>();

  constructor(initial: Iterable<ResourceInfo> = []) {
    for (const info of initial) this.register(info);
  }

  /** Adds or replaces a kind. */
  register(info: ResourceInfo): void {
    const old = this.byGvk.get(gvkKey(apiVersionOf(info), info.kind));
    if (old) this.byGvr.delete(gvrKey(old.group, old.version, old.plural));
    this.byGvk.set(gvkKey(apiVersionOf(info), info.kind), info);
    this.byGvr.set(gvrKey(info.group, info.version, info.plural), info);
    this.changed();
  }

  /** Removes a kind (a CRD was deleted). */
  unregister(group: string, version: string, plural: string): void {
    const info = this.byGvr.get(gvrKey(group, version, plural));
    if (!info) return;
    this.byGvr.delete(gvrKey(group, version, plural));
    this.byGvk.delete(gvkKey(apiVersionOf(info), info.kind));
    this.changed();
  }

  /** The kind with this apiVersion and kind, if served. */
  forKind(apiVersion: string, kind: string): ResourceInfo | undefined {
    return this.byGvk.get(gvkKey(apiVersion, kind));
  }

  /** The kind served at group/version/plural, if any. */
  forResource(group: string, version: string, plural: string): ResourceInfo | undefined {
    return this.byGvr.get(gvrKey(group, version, plural));
  }

  /** Resolves a KindRef; a class's own metadata wins, then the registered kind by GVK. */
  resolve(ref: KindRef): ResourceInfo | undefined {
    const { apiVersion, kind } = gvkOf(ref);
    return this.forKind(apiVersion, kind);
  }

  /** Every served kind. */
  all(): ResourceInfo[] {
    return [...this.byGvk.values()];
  }

  /** Calls `listener` after every register/unregister; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

function gvkKey(apiVersion: string, kind: string): string {
  return `${apiVersion}\u0000${kind}`;
}

function gvrKey(group: string, version: string, plural: string): string {
  return `${group}\u0000${version}\u0000${plural}`;
}
