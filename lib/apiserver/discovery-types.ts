/**
 * The JSON shapes of API discovery, as kube-apiserver serves them (meta/v1 `APIVersions`,
 * `APIGroupList`, `APIGroup`, `APIResourceList`; `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`;
 * `/version`'s `version.Info`). Built by discovery.ts, which re-exports them.
 */

/** A group and version as discovery lists them (`GroupVersionForDiscovery`). */
export interface GroupVersionForDiscovery {
  groupVersion: string;
  version: string;
}

/** `/api`: the core group's versions. */
export interface APIVersions {
  kind: 'APIVersions';
  versions: string[];
  serverAddressByClientCIDRs: { clientCIDR: string; serverAddress: string }[];
}

/** One API group (`/apis/<group>`, and each entry of `/apis`). */
export interface APIGroup {
  kind?: 'APIGroup';
  apiVersion?: 'v1';
  name: string;
  versions: GroupVersionForDiscovery[];
  preferredVersion: GroupVersionForDiscovery;
}

/** `/apis`: every non-core group. */
export interface APIGroupList {
  kind: 'APIGroupList';
  apiVersion: 'v1';
  groups: APIGroup[];
}

/** One resource or subresource of an {@link APIResourceList}. */
export interface APIResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  /** Set when the response kind's group differs from the list's (e.g. `autoscaling` for `/scale`). */
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

/** `/api/v1`, `/apis/<group>/<version>`: the resources of one group version. */
export interface APIResourceList {
  kind: 'APIResourceList';
  /** Absent for the core group, as kube serves it. */
  apiVersion?: 'v1';
  groupVersion: string;
  resources: APIResource[];
}

/** A `{ group, version, kind }` (empty group and version: those of the enclosing list). */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** A subresource in aggregated discovery. */
export interface APISubresourceDiscovery {
  subresource: string;
  responseKind: GroupVersionKind;
  verbs: string[];
}

/** A resource in aggregated discovery. */
export interface APIResourceDiscovery {
  resource: string;
  responseKind: GroupVersionKind;
  scope: 'Namespaced' | 'Cluster';
  singularResource: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: APISubresourceDiscovery[];
}

/** One version of a group in aggregated discovery. */
export interface APIVersionDiscovery {
  version: string;
  resources: APIResourceDiscovery[];
  freshness: 'Current' | 'Stale';
}

/** One group in aggregated discovery (the core group's name is ''). */
export interface APIGroupDiscovery {
  metadata: { name: string };
  versions: APIVersionDiscovery[];
}

/** `apidiscovery.k8s.io/v2` (or `v2beta1`) `APIGroupDiscoveryList`: `/api` or `/apis`, aggregated. */
export interface APIGroupDiscoveryList {
  kind: 'APIGroupDiscoveryList';
  apiVersion: 'apidiscovery.k8s.io/v2' | 'apidiscovery.k8s.io/v2beta1';
  metadata: Record<string, never>;
  items: APIGroupDiscovery[];
}

/** `/version`. */
export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
  gitCommit: string;
  gitTreeState: string;
  buildDate: string;
  goVersion: string;
  compiler: string;
  platform: string;
}
