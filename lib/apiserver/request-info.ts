/**
 * What a request path and method mean, as kube-apiserver's RequestInfoFactory reads them:
 * `/api/v1/namespaces/ns/pods/web/status` is verb `get` (or `update`, …) of subresource
 * `status` of pod `web` in namespace `ns`. Non-resource paths (`/version`, `/api`,
 * `/openapi/v3`) are left to the caller.
 */

/** The verbs of the Kubernetes API. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** A parsed resource request. */
export interface RequestInfo {
  /** `api` (core group) or `apis`. */
  apiPrefix: 'api' | 'apis';
  group: string;
  version: string;
  verb: Verb;
  /** The namespace in the path ('' when none). */
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** What follows a `proxy` subresource (`/api/v1/nodes/<n>/proxy/metrics` → `/metrics`; `/` when nothing does); '' otherwise. */
  proxyPath: string;
}

/** Subresources of `namespaces/<name>` (the rest of such a path names a namespaced resource). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * Parses a resource request, or returns undefined when the path is not one (`/api`, `/apis/g`,
 * `/api/v1` discovery, or anything else) or has too many segments.
 */
export function parseRequestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo | undefined {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let rest: string[];
  let group = '';
  let version: string;
  let apiPrefix: 'api' | 'apis';
  if (parts[0] === 'api' && parts.length >= 3) {
    apiPrefix = 'api';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    apiPrefix = 'apis';
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  // Only a proxy subresource has a path after it.
  if (rest.length === 0 || (rest.length > 3 && rest[2] !== 'proxy')) return undefined;
  const [resource = '', name = '', subresource = ''] = rest;
  const proxyPath = subresource === 'proxy' ? `/${rest.slice(3).map(encodeURIComponent).join('/')}` : '';
  // `/namespaces/<name>` names the namespace itself, not a namespace of the request.
  if (resource === 'namespaces' && namespace === name) namespace = '';

  const watchParam = query.get('watch');
  const watch = legacyWatch || watchParam === 'true' || watchParam === '1';
  let verb: Verb;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = watch ? 'watch' : name ? 'get' : 'list';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name ? 'delete' : 'deletecollection';
      break;
    default:
      return undefined;
  }
  return { apiPrefix, group, version, verb, namespace, resource, name, subresource, proxyPath };
}
