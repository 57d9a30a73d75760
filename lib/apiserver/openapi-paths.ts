/**
 * The `paths` of keelson's OpenAPI documents: for each served kind, its collection and item
 * endpoints and subresources, with kube's operation ids, `x-kubernetes-action` and
 * `x-kubernetes-group-version-kind` extensions and the query parameters kube declares. kubectl
 * reads them: `explain` finds a resource's kind through its paths, and `apply`/`create` use
 * server-side field validation only when the kind's PATCH operation declares `fieldValidation`,
 * and strategic merge patch only when it accepts `application/strategic-merge-patch+json`.
 * Built once per operation as an abstract {@link PathSpec}, rendered as OpenAPI v3 or swagger 2.0.
 */
import type { ResourceInfo } from '../api/resources.js';
import { customResourceOf } from '../registry/custom-resource.js';
import { verbsOf } from './discovery.js';
import { META, type GVK, type Json } from './openapi-schema.js';

type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

/** One operation of a path. */
export interface OperationSpec {
  method: Method;
  action: 'list' | 'post' | 'deletecollection' | 'get' | 'put' | 'patch' | 'delete';
  operationId: string;
  description: string;
  gvk: GVK;
  /** Query parameters of the operation (names in {@link PARAMETERS}). */
  params: string[];
  /** Request body: an object of a component, a patch, or DeleteOptions. */
  body?: { object: string } | { patch: true; strategic: boolean } | { deleteOptions: true };
  /** Response: a component, or plain text (logs). */
  response: { component: string; codes: number[]; watch?: boolean } | { text: true };
}

/** A path with its path-level parameters and operations. */
export interface PathSpec {
  path: string;
  params: string[];
  operations: OperationSpec[];
}

interface Parameter {
  in: 'path' | 'query';
  type: 'string' | 'boolean' | 'integer';
  description: string;
}

/** The parameters keelson's operations declare (descriptions abridged from kube's). */
export const PARAMETERS: Record<string, Parameter> = {
  name: { in: 'path', type: 'string', description: 'name of the object' },
  namespace: { in: 'path', type: 'string', description: 'object name and auth scope, such as for teams and projects' },
  pretty: { in: 'query', type: 'string', description: "If 'true', then the output is pretty printed." },
  allowWatchBookmarks: { in: 'query', type: 'boolean', description: 'allowWatchBookmarks requests watch events with type "BOOKMARK".' },
  continue: { in: 'query', type: 'string', description: 'The continue option should be set when retrieving more results from the server.' },
  fieldSelector: { in: 'query', type: 'string', description: 'A selector to restrict the list of returned objects by their fields. Defaults to everything.' },
  labelSelector: { in: 'query', type: 'string', description: 'A selector to restrict the list of returned objects by their labels. Defaults to everything.' },
  limit: { in: 'query', type: 'integer', description: 'limit is a maximum number of responses to return for a list call.' },
  resourceVersion: { in: 'query', type: 'string', description: 'resourceVersion sets a constraint on what resource versions a request may be served from.' },
  resourceVersionMatch: { in: 'query', type: 'string', description: 'resourceVersionMatch determines how resourceVersion is applied to list calls.' },
  sendInitialEvents: { in: 'query', type: 'boolean', description: 'sendInitialEvents=true may be set together with watch=true.' },
  timeoutSeconds: { in: 'query', type: 'integer', description: 'Timeout for the list/watch call.' },
  watch: { in: 'query', type: 'boolean', description: 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.' },
  dryRun: { in: 'query', type: 'string', description: 'When present, indicates that modifications should not be persisted. Valid values are: - All' },
  fieldManager: { in: 'query', type: 'string', description: 'fieldManager is a name associated with the actor or entity that is making these changes.' },
  fieldValidation: {
    in: 'query',
    type: 'string',
    description: 'fieldValidation determines how the server should respond to unknown/duplicate fields in the object in the request: Ignore, Warn or Strict.',
  },
  force: { in: 'query', type: 'boolean', description: 'Force is going to "force" Apply requests. Must be unset for non-apply patch requests.' },
  gracePeriodSeconds: { in: 'query', type: 'integer', description: 'The duration in seconds before the object should be deleted.' },
  orphanDependents: { in: 'query', type: 'boolean', description: 'Deprecated: please use the PropagationPolicy.' },
  propagationPolicy: { in: 'query', type: 'string', description: "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'." },
  container: { in: 'query', type: 'string', description: 'The container for which to stream logs.' },
  follow: { in: 'query', type: 'boolean', description: 'Follow the log stream of the pod.' },
  limitBytes: { in: 'query', type: 'integer', description: 'The number of bytes to read from the server before terminating the log output.' },
  previous: { in: 'query', type: 'boolean', description: 'Return previous terminated container logs.' },
  sinceSeconds: { in: 'query', type: 'integer', description: 'A relative time in seconds before the current time from which to show logs.' },
  tailLines: { in: 'query', type: 'integer', description: 'The number of lines from the end of the logs to show.' },
  timestamps: { in: 'query', type: 'boolean', description: 'Add an RFC3339 timestamp at the beginning of every line of log output.' },
};

const LIST = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'];
const WRITE = ['dryRun', 'fieldManager', 'fieldValidation'];
const PATCH = ['dryRun', 'fieldManager', 'fieldValidation', 'force'];
const DELETE = ['dryRun', 'gracePeriodSeconds', 'orphanDependents', 'propagationPolicy'];
const DELETE_COLLECTION = ['continue', 'dryRun', 'fieldSelector', 'gracePeriodSeconds', 'labelSelector', 'limit', 'orphanDependents', 'propagationPolicy', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds'];
const LOG = ['container', 'follow', 'limitBytes', 'previous', 'sinceSeconds', 'tailLines', 'timestamps'];

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** kube's operation-id spelling of a group: `` → `Core`, `coordination.k8s.io` → `Coordination`, `example.com` → `ExampleCom`. */
export function groupIdentifier(group: string): string {
  if (group === '') return 'Core';
  return group.replace(/\.k8s\.io$/, '').split(/[.-]/).map(capitalize).join('');
}

/** The component names a kind's paths refer to. */
export interface KindComponents {
  kind: string;
  list?: string;
  scale?: string;
  binding?: string;
}

/** The paths of one served kind (collection, item, all-namespaces list, subresources). */
export function pathsOf(info: ResourceInfo, components: KindComponents): PathSpec[] {
  const gv = `${groupIdentifier(info.group)}${capitalize(info.version)}`;
  const prefix = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const scope = info.namespaced ? 'Namespaced' : '';
  const ns = info.namespaced ? ['namespace'] : [];
  const collection = `${prefix}${info.namespaced ? '/namespaces/{namespace}' : ''}/${info.plural}`;
  const item = `${collection}/{name}`;
  const gvk: GVK = { group: info.group, version: info.version, kind: info.kind };
  const verbs = new Set(verbsOf(info));
  const custom = !!customResourceOf(info);
  const obj = (codes: number[]) => ({ component: components.kind, codes });
  const op = (o: OperationSpec): OperationSpec => o;
  const paths: PathSpec[] = [];

  const collectionOps: OperationSpec[] = [];
  if (verbs.has('list') && components.list) {
    collectionOps.push(op({ method: 'get', action: 'list', operationId: `list${gv}${scope}${info.kind}`, description: `list or watch objects of kind ${info.kind}`, gvk, params: LIST, response: { component: components.list, codes: [200], watch: true } }));
  }
  if (verbs.has('create')) {
    collectionOps.push(op({ method: 'post', action: 'post', operationId: `create${gv}${scope}${info.kind}`, description: `create a ${info.kind}`, gvk, params: WRITE, body: { object: components.kind }, response: obj([200, 201, 202]) }));
  }
  if (verbs.has('deletecollection')) {
    collectionOps.push(op({ method: 'delete', action: 'deletecollection', operationId: `delete${gv}Collection${scope}${info.kind}`, description: `delete collection of ${info.kind}`, gvk, params: DELETE_COLLECTION, body: { deleteOptions: true }, response: { component: META.status, codes: [200] } }));
  }
  if (collectionOps.length) paths.push({ path: collection, params: [...ns, 'pretty'], operations: collectionOps });

  const itemOps: OperationSpec[] = [];
  if (verbs.has('get')) itemOps.push(op({ method: 'get', action: 'get', operationId: `read${gv}${scope}${info.kind}`, description: `read the specified ${info.kind}`, gvk, params: [], response: obj([200]) }));
  if (verbs.has('update')) itemOps.push(op({ method: 'put', action: 'put', operationId: `replace${gv}${scope}${info.kind}`, description: `replace the specified ${info.kind}`, gvk, params: WRITE, body: { object: components.kind }, response: obj([200, 201]) }));
  if (verbs.has('patch')) itemOps.push(op({ method: 'patch', action: 'patch', operationId: `patch${gv}${scope}${info.kind}`, description: `partially update the specified ${info.kind}`, gvk, params: PATCH, body: { patch: true, strategic: !custom }, response: obj([200, 201]) }));
  if (verbs.has('delete')) itemOps.push(op({ method: 'delete', action: 'delete', operationId: `delete${gv}${scope}${info.kind}`, description: `delete a ${info.kind}`, gvk, params: DELETE, body: { deleteOptions: true }, response: obj([200, 202]) }));
  if (itemOps.length) paths.push({ path: item, params: ['name', ...ns, 'pretty'], operations: itemOps });

  if (info.namespaced && verbs.has('list') && components.list) {
    paths.push({
      path: `${prefix}/${info.plural}`,
      params: [...LIST, 'pretty'],
      operations: [op({ method: 'get', action: 'list', operationId: `list${gv}${info.kind}ForAllNamespaces`, description: `list or watch objects of kind ${info.kind}`, gvk, params: [], response: { component: components.list, codes: [200], watch: true } })],
    });
  }

  const sub = (name: string, kindName: string, subGvk: GVK, component: string, strategic: boolean) => ({
    path: `${item}/${name}`,
    params: ['name', ...ns, 'pretty'],
    operations: [
      op({ method: 'get', action: 'get', operationId: `read${gv}${scope}${info.kind}${kindName}`, description: `read ${name} of the specified ${info.kind}`, gvk: subGvk, params: [], response: { component, codes: [200] } }),
      op({ method: 'put', action: 'put', operationId: `replace${gv}${scope}${info.kind}${kindName}`, description: `replace ${name} of the specified ${info.kind}`, gvk: subGvk, params: WRITE, body: { object: component }, response: { component, codes: [200, 201] } }),
      op({ method: 'patch', action: 'patch', operationId: `patch${gv}${scope}${info.kind}${kindName}`, description: `partially update ${name} of the specified ${info.kind}`, gvk: subGvk, params: PATCH, body: { patch: true, strategic }, response: { component, codes: [200, 201] } }),
    ],
  });
  if (info.subresources.status) paths.push(sub('status', 'Status', gvk, components.kind, !custom));
  if (info.subresources.scale && components.scale) paths.push(sub('scale', 'Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' }, components.scale, !custom));

  if (!custom && info.group === '' && info.kind === 'Pod') {
    if (components.binding) {
      const bindingGvk: GVK = { group: '', version: info.version, kind: 'Binding' };
      paths.push({
        path: `${item}/binding`,
        params: ['name', ...ns, 'pretty'],
        operations: [op({ method: 'post', action: 'post', operationId: `create${gv}${scope}PodBinding`, description: 'create binding of a Pod', gvk: bindingGvk, params: WRITE, body: { object: components.binding }, response: { component: components.binding, codes: [200, 201, 202] } })],
      });
    }
    paths.push({
      path: `${item}/log`,
      params: ['name', ...ns, 'pretty', ...LOG],
      operations: [op({ method: 'get', action: 'get', operationId: `read${gv}${scope}PodLog`, description: 'read log of the specified Pod', gvk, params: [], response: { text: true } })],
    });
  }
  if (!custom && info.group === '' && info.kind === 'Namespace') {
    paths.push({
      path: `${item}/finalize`,
      params: ['name', 'pretty'],
      operations: [op({ method: 'put', action: 'put', operationId: `replace${gv}NamespaceFinalize`, description: 'replace finalize of the specified Namespace', gvk, params: WRITE, body: { object: components.kind }, response: obj([200, 201]) })],
    });
  }
  return paths;
}

// ---------------------------------------------------------------- rendering

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };
const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];
const SMP = 'application/strategic-merge-patch+json';

function patchTypes(strategic: boolean): string[] {
  return strategic ? [...PATCH_TYPES, SMP] : PATCH_TYPES;
}

function tagOf(op: OperationSpec): string {
  const id = groupIdentifier(op.gvk.group);
  return `${id.charAt(0).toLowerCase()}${id.slice(1)}_${op.gvk.version}`;
}

function extensions(op: OperationSpec): Json {
  return { 'x-kubernetes-action': op.action, 'x-kubernetes-group-version-kind': { group: op.gvk.group, kind: op.gvk.kind, version: op.gvk.version } };
}

/** An operation's request body component (`undefined`: it has none). */
function bodyComponent(op: OperationSpec): string | undefined {
  if (!op.body) return undefined;
  if ('object' in op.body) return op.body.object;
  return 'patch' in op.body ? META.patch : META.deleteOptions;
}

/** A path as an OpenAPI v3 path item; `ref` turns a component name into a `$ref`. */
export function renderV3(spec: PathSpec, ref: (name: string) => Json): Json {
  const param = (name: string): Json => {
    const p = PARAMETERS[name]!;
    return { name, in: p.in, description: p.description, ...(p.in === 'path' ? { required: true } : {}), schema: { type: p.type, uniqueItems: true } };
  };
  const item: Json = {};
  for (const op of spec.operations) {
    const body = bodyComponent(op);
    const types = op.body && 'patch' in op.body ? patchTypes(op.body.strategic) : ['*/*'];
    const responses: Json = {};
    if ('text' in op.response) {
      responses['200'] = { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } };
    } else {
      const { component, watch } = op.response;
      for (const code of op.response.codes) {
        const content: Json = { 'application/json': { schema: ref(component) } };
        if (watch) content['application/json;stream=watch'] = { schema: ref(component) };
        responses[String(code)] = { description: STATUS_TEXT[code], content };
      }
    }
    responses['401'] = { description: 'Unauthorized' };
    item[op.method] = {
      tags: [tagOf(op)],
      description: op.description,
      operationId: op.operationId,
      ...(op.params.length ? { parameters: op.params.map(param) } : {}),
      ...(body ? { requestBody: { content: Object.fromEntries(types.map((t) => [t, { schema: ref(body) }])), required: op.body && !('deleteOptions' in op.body) } } : {}),
      responses,
      ...extensions(op),
    };
  }
  if (spec.params.length) item.parameters = spec.params.map(param);
  return item;
}

/** A path as a swagger 2.0 path item; `ref` turns a component name into a `$ref`. */
export function renderV2(spec: PathSpec, ref: (name: string) => Json): Json {
  const param = (name: string): Json => {
    const p = PARAMETERS[name]!;
    return { name, in: p.in, description: p.description, ...(p.in === 'path' ? { required: true } : {}), type: p.type, uniqueItems: true };
  };
  const item: Json = {};
  for (const op of spec.operations) {
    const body = bodyComponent(op);
    const text = 'text' in op.response;
    const responses: Json = {};
    if ('text' in op.response) {
      responses['200'] = { description: 'OK', schema: { type: 'string' } };
    } else {
      for (const code of op.response.codes) responses[String(code)] = { description: STATUS_TEXT[code], schema: ref(op.response.component) };
    }
    responses['401'] = { description: 'Unauthorized' };
    const watch = !text && 'watch' in op.response && op.response.watch;
    item[op.method] = {
      tags: [tagOf(op)],
      description: op.description,
      consumes: op.body && 'patch' in op.body ? patchTypes(op.body.strategic) : ['*/*'],
      produces: text ? ['text/plain', 'application/json'] : watch ? ['application/json', 'application/json;stream=watch'] : ['application/json'],
      schemes: ['https'],
      operationId: op.operationId,
      parameters: [
        ...(body ? [{ name: 'body', in: 'body', required: !!op.body && !('deleteOptions' in op.body), schema: ref(body) }] : []),
        ...op.params.map(param),
      ],
      responses,
      ...extensions(op),
    };
  }
  if (spec.params.length) item.parameters = spec.params.map(param);
  return item;
}
