/**
 * Where objects live in the key space, modelled on kube-apiserver's layout:
 * `/registry/<resource>/<namespace>/<name>` for the core group, with the group in front of the
 * resource for other groups (`/registry/coordination.k8s.io/leases/<namespace>/<name>`), and no
 * namespace segment for cluster-scoped kinds (`/registry/nodes/<name>`).
 */
import type { ResourceInfo } from '../api/resources.js';

/** The root every key of a kind starts with, ending in `/`. */
export function resourcePrefix(info: Pick<ResourceInfo, 'group' | 'plural'>): string {
  return info.group ? `/registry/${info.group}/${info.plural}/` : `/registry/${info.plural}/`;
}

/** The prefix of a collection: one namespace, or every object of the kind when `namespace` is empty. */
export function collectionPrefix(info: Pick<ResourceInfo, 'group' | 'plural' | 'namespaced'>, namespace?: string): string {
  const root = resourcePrefix(info);
  return info.namespaced && namespace ? `${root}${namespace}/` : root;
}

/** The key of one object. */
export function objectKey(info: Pick<ResourceInfo, 'group' | 'plural' | 'namespaced'>, namespace: string | undefined, name: string): string {
  const root = resourcePrefix(info);
  return info.namespaced ? `${root}${namespace ?? ''}/${name}` : `${root}${name}`;
}
