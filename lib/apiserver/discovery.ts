/**
 * API discovery documents, in the JSON kube-apiserver serves (pure functions of the served
 * kinds; the HTTP layer routes to them):
 *
 * - `/version` → {@link versionInfo};
 * - `/api` → {@link apiVersions}, `/apis` → {@link apiGroupList}, `/apis/<group>` → {@link apiGroup};
 * - `/api/v1`, `/apis/<group>/<version>` → {@link apiResourceList} (subresources as separate
 *   `<plural>/<subresource>` entries);
 * - `/api` and `/apis` asked for `apidiscovery.k8s.io/v2` (kubectl ≥ 1.30 asks first) →
 *   {@link aggregatedDiscovery}; {@link negotiateDiscovery} reads the Accept header and
 *   {@link DISCOVERY_CONTENT_TYPES} gives the Content-Type to answer with.
 *
 * Built-in kinds are listed as kube lists them (verbs, subresources, storage version hashes);
 * custom kinds as apiextensions-apiserver lists them (its verb order, full response kinds).
 */
import { createHash } from 'node:crypto';
import { apiVersionOf, type ResourceInfo, type ResourceTypes } from '../api/resources.js';
import { customResourceOf } from '../registry/custom-resource.js';
import type {
  APIGroup,
  APIGroupDiscovery,
  APIGroupDiscoveryList,
  APIGroupList,
  APIResource,
  APIResourceDiscovery,
  APIResourceList,
  APIVersions,
  GroupVersionKind,
  VersionInfo,
} from './discovery-types.js';

/** The discovery documents' types (declared in discovery-types.ts). */
export type * from './discovery-types.js';

/** The Kubernetes version keelson's API answers as (kubectl warns beyond ±1 minor of skew). */
export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-keelson' } as const;

/** What `/version` answers; `overrides` replaces any field (e.g. a real build date). */
export function versionInfo(overrides: Partial<VersionInfo> = {}): VersionInfo {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return {
    ...KUBERNETES_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-12-11T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'node',
    platform: `${process.platform}/${arch[process.arch] ?? process.arch}`,
    ...overrides,
  };
}

// ---------------------------------------------------------------- content negotiation

/** The Accept/Content-Type of aggregated discovery, `apidiscovery.k8s.io/v2`. */
export const DISCOVERY_V2_MEDIA_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
/** The Accept/Content-Type of aggregated discovery, `apidiscovery.k8s.io/v2beta1` (kubectl ≤ 1.29). */
export const DISCOVERY_V2BETA1_MEDIA_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

/** Which discovery document a request gets: aggregated (v2 or v2beta1) or the legacy one. */
export type DiscoveryFormat = 'aggregated-v2' | 'aggregated-v2beta1' | 'legacy';

/** The Content-Type to answer each {@link DiscoveryFormat} with (client-go checks its parameters). */
export const DISCOVERY_CONTENT_TYPES: Readonly<Record<DiscoveryFormat, string>> = {
  'aggregated-v2': DISCOVERY_V2_MEDIA_TYPE,
  'aggregated-v2beta1': DISCOVERY_V2BETA1_MEDIA_TYPE,
  legacy: 'application/json',
};

/**
 * Picks the discovery format for an Accept header, honouring the client's order and `q`
 * weights: the first acceptable JSON clause wins — `g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`
 * is aggregated v2 (`v=v2beta1` aggregated v2beta1), plain `application/json` (or a wildcard) is
 * legacy. Clauses keelson cannot serve (protobuf, other `as=`) are skipped; with none left the
 * answer is legacy JSON.
 */
export function negotiateDiscovery(accept: string | undefined): DiscoveryFormat {
  const clauses = (accept ?? '')
    .split(',')
    .map((clause, index) => {
      const [type = '', ...rest] = clause.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      }
      const q = params.q === undefined ? 1 : Number(params.q);
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((c) => c.type !== '' && c.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { type, params } of clauses) {
    if (type !== 'application/json' && type !== 'application/*' && type !== '*/*') continue;
    if (params.g === undefined && params.v === undefined && params.as === undefined) return 'legacy';
    if (params.g !== 'apidiscovery.k8s.io' || params.as !== 'APIGroupDiscoveryList') continue;
    if (params.v === 'v2') return 'aggregated-v2';
    if (params.v === 'v2beta1') return 'aggregated-v2beta1';
  }
  return 'legacy';
}

// ---------------------------------------------------------------- versions and groups

/**
 * kube's version order (`CompareKubeAwareVersionStrings`): GA before beta before alpha, then the
 * higher major, then the higher minor (`v2 > v1 > v1beta2 > v1beta1 > v1alpha1`); versions that
 * do not look like Kubernetes versions come last, alphabetically. Negative when `a` is preferred.
 */
export function compareKubeAwareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const pa = parseKubeVersion(a);
  const pb = parseKubeVersion(b);
  if (!pa && !pb) return a < b ? -1 : 1;
  if (!pa) return 1;
  if (!pb) return -1;
  return pb.stability - pa.stability || pb.major - pa.major || pb.minor - pa.minor;
}

function parseKubeVersion(v: string): { major: number; stability: number; minor: number } | undefined {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return undefined;
  const stability = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
  return { major: Number(m[1]), stability, minor: m[3] === undefined ? 0 : Number(m[3]) };
}

/** kube-apiserver's group order (by group priority) after the core group; custom groups follow, alphabetically. */
const GROUP_ORDER = [
  'apiregistration.k8s.io', 'apps', 'events.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling',
  'batch', 'certificates.k8s.io', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'storage.k8s.io',
  'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'scheduling.k8s.io', 'coordination.k8s.io', 'node.k8s.io',
  'discovery.k8s.io', 'flowcontrol.apiserver.k8s.io', 'resource.k8s.io',
];

function compareGroups(a: string, b: string): number {
  if (a === '' || b === '') return a === b ? 0 : a === '' ? -1 : 1;
  const ia = GROUP_ORDER.indexOf(a);
  const ib = GROUP_ORDER.indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The served kinds grouped: group → version → kinds, groups and versions in discovery order. */
export function servedGroups(types: ResourceTypes): Map<string, Map<string, ResourceInfo[]>> {
  const byGroup = new Map<string, Map<string, ResourceInfo[]>>();
  for (const info of types.all()) {
    let versions = byGroup.get(info.group);
    if (!versions) byGroup.set(info.group, (versions = new Map()));
    let infos = versions.get(info.version);
    if (!infos) versions.set(info.version, (infos = []));
    infos.push(info);
  }
  const sorted = new Map<string, Map<string, ResourceInfo[]>>();
  for (const group of [...byGroup.keys()].sort(compareGroups)) {
    const versions = byGroup.get(group)!;
    sorted.set(group, new Map([...versions.keys()].sort(compareKubeAwareVersions).map((v) => [v, versions.get(v)!])));
  }
  return sorted;
}

/** `/api`: the core versions, and the address clients reach the server at. */
export function apiVersions(serverAddress: string): APIVersions {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupOf(group: string, versions: Iterable<string>): APIGroup {
  const list = [...versions].map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: list, preferredVersion: list[0]! };
}

/** `/apis`: every group except the core one, versions in preference order (the first is preferred). */
export function apiGroupList(types: ResourceTypes): APIGroupList {
  const groups: APIGroup[] = [];
  for (const [group, versions] of servedGroups(types)) if (group !== '') groups.push(groupOf(group, versions.keys()));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** `/apis/<group>`, or undefined when no kind of the group is served (404). */
export function apiGroup(types: ResourceTypes, group: string): APIGroup | undefined {
  const versions = group === '' ? undefined : servedGroups(types).get(group);
  if (!versions) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupOf(group, versions.keys()) };
}

// ---------------------------------------------------------------- resources

/** The verbs of a CRD's kind, in apiextensions-apiserver's order. */
const CUSTOM_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];
/** …and while the CRD is being deleted. */
const TERMINATING_CUSTOM_VERBS = ['delete', 'deletecollection', 'get', 'list', 'watch'];
/** Built-in kinds whose verbs kube lists differently from the full set. */
const BUILTIN_VERBS: Record<string, string[]> = {
  '/namespaces': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
};
const STATUS_VERBS = ['get', 'patch', 'update'];
const SCALE_KIND: GroupVersionKind = { group: 'autoscaling', version: 'v1', kind: 'Scale' };

/** One subresource of a kind: name, response kind (same group version when group is empty) and verbs. */
interface Subresource {
  name: string;
  kind: GroupVersionKind;
  verbs: string[];
}

/** Subresources of built-in core kinds beyond `/status` and `/scale`. */
const BUILTIN_SUBRESOURCES: Record<string, { name: string; kind: string; verbs: string[]; group?: string; version?: string }[]> = {
  pods: [
    { name: 'binding', kind: 'Binding', verbs: ['create'] },
    // kubectl drain looks for this entry (kind Eviction, with its group and version) before evicting.
    { name: 'eviction', kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] },
    { name: 'log', kind: 'Pod', verbs: ['get'] },
  ],
  namespaces: [{ name: 'finalize', kind: 'Namespace', verbs: ['update'] }],
  // Only GET: node agents serve nothing else.
  nodes: [{ name: 'proxy', kind: 'NodeProxyOptions', verbs: ['get'] }],
};

function isBuiltin(info: ResourceInfo): boolean {
  return !customResourceOf(info);
}

/** The verbs discovery lists for a kind. */
export function verbsOf(info: ResourceInfo): string[] {
  const custom = customResourceOf(info);
  if (custom) return [...(custom.terminating ? TERMINATING_CUSTOM_VERBS : CUSTOM_VERBS)];
  return [...(BUILTIN_VERBS[`${info.group}/${info.plural}`] ?? info.verbs)].sort();
}

/** The subresources of a kind, by name. */
function subresourcesOf(info: ResourceInfo): Subresource[] {
  const own: GroupVersionKind = isBuiltin(info) ? { group: '', version: '', kind: info.kind } : { group: info.group, version: info.version, kind: info.kind };
  const list: Subresource[] = [];
  if (info.subresources.status) list.push({ name: 'status', kind: own, verbs: STATUS_VERBS });
  if (info.subresources.scale) list.push({ name: 'scale', kind: SCALE_KIND, verbs: STATUS_VERBS });
  if (isBuiltin(info) && info.group === '') {
    for (const extra of BUILTIN_SUBRESOURCES[info.plural] ?? []) {
      const kind = extra.group ? { group: extra.group, version: extra.version ?? '', kind: extra.kind } : { ...own, kind: extra.kind };
      list.push({ name: extra.name, kind, verbs: extra.verbs });
    }
  }
  return list.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * kube's storage version hash: the first 8 bytes of the SHA-256 of `group/version/kind` of the
 * stored version, base64 (`/v1/Pod` → `xPOwRZ+Yhw8=`).
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256').update(`${group}/${version}/${kind}`).digest().subarray(0, 8).toString('base64');
}

function storageHashOf(info: ResourceInfo): string | undefined {
  const custom = customResourceOf(info);
  if (custom) return storageVersionHash(info.group, custom.storageVersion, info.kind);
  // Kinds that are never stored (Binding: create-only) have none.
  return info.verbs.includes('get') ? storageVersionHash(info.group, info.version, info.kind) : undefined;
}

function byName<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

/**
 * `/api/v1` (group '') or `/apis/<group>/<version>`: the resources of a group version with their
 * subresources as `<plural>/<sub>` entries, sorted by name; undefined when nothing is served there.
 */
export function apiResourceList(types: ResourceTypes, group: string, version: string): APIResourceList | undefined {
  const infos = servedGroups(types).get(group)?.get(version);
  if (!infos) return undefined;
  const resources: APIResource[] = [];
  for (const info of infos) {
    const hash = storageHashOf(info);
    resources.push({
      name: info.plural,
      singularName: info.singular,
      namespaced: info.namespaced,
      kind: info.kind,
      verbs: verbsOf(info),
      ...(info.shortNames.length ? { shortNames: [...info.shortNames] } : {}),
      ...(info.categories.length ? { categories: [...info.categories] } : {}),
      ...(hash ? { storageVersionHash: hash } : {}),
    });
    for (const sub of subresourcesOf(info)) {
      const other = sub.kind.group !== '' && (sub.kind.group !== info.group || sub.kind.version !== info.version);
      resources.push({
        name: `${info.plural}/${sub.name}`,
        singularName: '',
        namespaced: info.namespaced,
        ...(other ? { group: sub.kind.group, version: sub.kind.version } : {}),
        kind: sub.kind.kind,
        verbs: [...sub.verbs],
      });
    }
  }
  resources.sort(byName((r) => r.name));
  const groupVersion = apiVersionOf({ group, version });
  return group === '' ? { kind: 'APIResourceList', groupVersion, resources } : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function resourceDiscovery(info: ResourceInfo): APIResourceDiscovery {
  const subresources = subresourcesOf(info).map((sub) => ({ subresource: sub.name, responseKind: { ...sub.kind }, verbs: [...sub.verbs] }));
  return {
    resource: info.plural,
    responseKind: isBuiltin(info) ? { group: '', version: '', kind: info.kind } : { group: info.group, version: info.version, kind: info.kind },
    scope: info.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: info.singular,
    verbs: verbsOf(info),
    ...(info.shortNames.length ? { shortNames: [...info.shortNames] } : {}),
    ...(info.categories.length ? { categories: [...info.categories] } : {}),
    ...(subresources.length ? { subresources } : {}),
  };
}

/**
 * Aggregated discovery: `/api` (`'core'`: one item named '') or `/apis` (`'apis'`: every other
 * group), each group with all its versions (preferred first) and their resources. `version` is
 * the apidiscovery version to answer in (a {@link negotiateDiscovery} result will do).
 */
export function aggregatedDiscovery(
  types: ResourceTypes,
  scope: 'core' | 'apis',
  version: 'v2' | 'v2beta1' | Exclude<DiscoveryFormat, 'legacy'> = 'v2',
): APIGroupDiscoveryList {
  const apiVersion = version === 'v2beta1' || version === 'aggregated-v2beta1' ? 'apidiscovery.k8s.io/v2beta1' : 'apidiscovery.k8s.io/v2';
  const items: APIGroupDiscovery[] = [];
  for (const [group, versions] of servedGroups(types)) {
    if ((group === '') !== (scope === 'core')) continue;
    items.push({
      metadata: { name: group },
      versions: [...versions].map(([v, infos]) => ({
        version: v,
        resources: infos.map(resourceDiscovery).sort(byName((r) => r.resource)),
        freshness: 'Current' as const,
      })),
    });
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
}
