/**
 * Discovery for {@link KubeClient}: which URL serves a kind. `GET /api/v1` or
 * `/apis/<group>/<version>` answers an APIResourceList; the resource whose `kind` matches (not a
 * subresource `x/y`) gives the plural and the scope. Lists are cached per group version and
 * fetched again when a kind is missing (a CRD established since) or when its path answers 404.
 */
import { ApiError, isNotFound } from '../api/errors.js';
import { ALL_VERBS, parseApiVersion, type ResourceInfo } from '../api/resources.js';

/** One entry of an APIResourceList. */
export interface APIResource {
  name: string;
  singularName?: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs?: string[];
  shortNames?: string[];
  categories?: string[];
}

/** A `meta/v1 APIResourceList`. */
export interface APIResourceList {
  kind?: 'APIResourceList';
  groupVersion: string;
  resources: APIResource[];
}

/** Fetches the APIResourceList at a path; answers undefined when the group version is not served. */
export type ResourceListFetcher = (path: string) => Promise<APIResourceList | undefined>;

/** The 404 of a kind the server does not serve (the same text as StoreClient's). */
export function kindNotServed(apiVersion: string, kind: string): ApiError {
  return new ApiError({
    code: 404,
    reason: 'NotFound',
    message: `the server could not find the requested resource (no kind "${kind}" is registered for version "${apiVersion}")`,
  });
}

/** The discovery path of a group version: `/api/v1`, `/apis/apps/v1`. */
export function groupVersionPath(apiVersion: string): string {
  const { group, version } = parseApiVersion(apiVersion);
  return group ? `/apis/${group}/${version}` : `/api/${version}`;
}

/** A per-group-version cache of APIResourceLists. */
export class KubeDiscovery {
  /** Settled lists by apiVersion (undefined entry: the group version is not served). */
  private readonly lists = new Map<string, APIResourceList | undefined>();
  private readonly inflight = new Map<string, Promise<APIResourceList | undefined>>();

  constructor(private readonly fetchList: ResourceListFetcher) {}

  /** The ResourceInfo of a kind; throws 404 when the server does not serve it. */
  async resolve(gvk: { apiVersion: string; kind: string }): Promise<ResourceInfo> {
    const cached = this.lists.has(gvk.apiVersion);
    let info = find(cached ? this.lists.get(gvk.apiVersion) : await this.load(gvk.apiVersion), gvk);
    // A kind missing from a cached list may have been added since (a CRD): look again once.
    if (!info && cached) info = find(await this.load(gvk.apiVersion), gvk);
    if (!info) throw kindNotServed(gvk.apiVersion, gvk.kind);
    return info;
  }

  /** The ResourceInfo of a kind if its list is cached (no request). */
  cached(gvk: { apiVersion: string; kind: string }): ResourceInfo | undefined {
    return find(this.lists.get(gvk.apiVersion), gvk);
  }

  /**
   * Every kind the server serves, in the preferred version of each group (fresh lists:
   * `groupVersions` comes from `/api` and `/apis`).
   */
  async all(groupVersions: readonly string[]): Promise<ResourceInfo[]> {
    const infos: ResourceInfo[] = [];
    for (const apiVersion of groupVersions) {
      this.lists.delete(apiVersion);
      const list = await this.load(apiVersion);
      for (const resource of list?.resources ?? []) {
        if (resource.name.includes('/')) continue;
        const info = find(list, { apiVersion, kind: resource.kind });
        if (info) infos.push(info);
      }
    }
    return infos;
  }

  /** Forgets a group version's list (its paths answered 404). */
  invalidate(apiVersion: string): void {
    this.lists.delete(apiVersion);
  }

  /** Fetches a list, sharing a fetch already in flight. */
  private load(apiVersion: string): Promise<APIResourceList | undefined> {
    let pending = this.inflight.get(apiVersion);
    if (!pending) {
      pending = this.fetchList(groupVersionPath(apiVersion))
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        })
        .then((list) => {
          this.lists.set(apiVersion, list);
          return list;
        })
        .finally(() => this.inflight.delete(apiVersion));
      this.inflight.set(apiVersion, pending);
    }
    return pending;
  }
}

function find(list: APIResourceList | undefined, gvk: { apiVersion: string; kind: string }): ResourceInfo | undefined {
  if (!list) return undefined;
  const resource = list.resources.find((r) => r.kind === gvk.kind && !r.name.includes('/'));
  if (!resource) return undefined;
  const gv = parseApiVersion(gvk.apiVersion);
  const group = resource.group || gv.group;
  const version = resource.version || gv.version;
  const subresources = new Set(list.resources.filter((r) => r.name.startsWith(`${resource.name}/`)).map((r) => r.name.slice(resource.name.length + 1)));
  return {
    group,
    version,
    kind: resource.kind,
    plural: resource.name,
    singular: resource.singularName || resource.kind.toLowerCase(),
    namespaced: resource.namespaced,
    shortNames: resource.shortNames ?? [],
    categories: resource.categories ?? [],
    listKind: `${resource.kind}List`,
    subresources: { status: subresources.has('status') },
    verbs: resource.verbs ?? ALL_VERBS,
  };
}
