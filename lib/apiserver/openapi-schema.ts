/**
 * The component schemas of keelson's OpenAPI documents, named as kube-apiserver names them:
 * built-in structs by Go package (`io.k8s.api.core.v1.PodSpec`,
 * `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`), custom kinds by reversed group
 * (`com.example.v1.Website`). Built-in structs become `$ref`ed components (converted once per
 * process: the structural schemas they come from are static); a custom kind's schema is its CRD
 * version's `openAPIV3Schema` with `apiVersion`, `kind` and a `metadata` reference added. Kind
 * schemas carry `x-kubernetes-group-version-kind`, which kubectl looks for (`explain`, `apply`).
 * Built-in fields carry kube's descriptions and required markers (see openapi-descriptions.ts).
 */
import { DECODE_INFO, GoKind, objectMetaSchema, schemaForKind, schemaForModel, type StructuralSchema } from '../api/schema.js';
import { hasModel, modelDoc } from './openapi-descriptions.js';

/** A JSON object (a schema, an operation…). */
export type Json = Record<string, unknown>;

/** A group, version and kind, as the `x-kubernetes-group-version-kind` extensions hold them. */
export interface GVK {
  group: string;
  version: string;
  kind: string;
}

/** Where OpenAPI v3 component schemas live (`$ref` prefix). */
export const V3_REF_PREFIX = '#/components/schemas/';
/** The package of meta/v1 types. */
export const META_PACKAGE = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

/** Component names of the meta/v1 types documents refer to. */
export const META = {
  objectMeta: `${META_PACKAGE}.ObjectMeta`,
  listMeta: `${META_PACKAGE}.ListMeta`,
  status: `${META_PACKAGE}.Status`,
  deleteOptions: `${META_PACKAGE}.DeleteOptions`,
  patch: `${META_PACKAGE}.Patch`,
  watchEvent: `${META_PACKAGE}.WatchEvent`,
} as const;

/** Structs of meta/v1 (every other struct lives in the package of the kind it was reached from). */
const META_STRUCTS = new Set([
  'ObjectMeta', 'ListMeta', 'OwnerReference', 'ManagedFieldsEntry', 'LabelSelector', 'LabelSelectorRequirement', 'Status',
  'StatusDetails', 'StatusCause', 'Preconditions', 'DeleteOptions', 'Condition', 'FieldsV1', 'APIResource', 'WatchEvent', 'Patch',
]);

/** core/v1 structs other groups' kinds refer to (an EndpointSlice endpoint's `targetRef`): named in core's package. */
const SHARED_CORE_STRUCTS = new Set(['ObjectReference']);
const CORE_PACKAGE = 'io.k8s.api.core.v1';

const API_VERSION_DESCRIPTION =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.';
const KIND_DESCRIPTION =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase.';

/** Components whose schema is fixed (leaf types, and types keelson has no structural schema for). */
const FIXED: Record<string, Json> = {
  [`${META_PACKAGE}.Time`]: { type: 'string', format: 'date-time', description: 'Time is an RFC 3339 date and time (seconds precision).' },
  [`${META_PACKAGE}.MicroTime`]: { type: 'string', format: 'date-time', description: 'MicroTime is an RFC 3339 date and time with microseconds.' },
  [QUANTITY]: {
    description: 'Quantity is a fixed-point number with an optional suffix: 128974848, 129e6, 129M, 123Mi, 500m.',
    oneOf: [{ type: 'string' }, { type: 'number' }],
  },
  [INT_OR_STRING]: { description: 'IntOrString holds an int32 or a string.', format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
  [META.patch]: { type: 'object', description: 'Patch is the body of a PATCH request: its format depends on the Content-Type.' },
  [META.watchEvent]: {
    type: 'object',
    description: 'Event represents a single event to a watched resource.',
    required: ['type', 'object'],
    properties: {
      type: { type: 'string', description: 'ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.' },
      object: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'The object (or Status, for ERROR).' },
    },
  },
};

/** The same components in OpenAPI v2 (swagger has no `oneOf`). */
export const FIXED_V2: Record<string, Json> = {
  [QUANTITY]: { type: 'string', description: FIXED[QUANTITY]!.description },
  [INT_OR_STRING]: { type: 'string', format: 'int-or-string', description: FIXED[INT_OR_STRING]!.description },
};

/** A built-in struct converted to a component: its schema and the components it refers to. */
interface BuiltinComponent {
  node: StructuralSchema;
  schema: Json;
  refs: Set<string>;
}

const builtins = new Map<string, BuiltinComponent>();
const nodeNames = new WeakMap<StructuralSchema, string>();

/** The Go package (as kube names components) of a built-in apiVersion's types. */
export function packageOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (group === '') return `io.k8s.api.core.${version}`;
  if (group === 'meta.k8s.io') return `io.k8s.apimachinery.pkg.apis.meta.${version}`;
  if (group === 'apiextensions.k8s.io') return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}`;
  if (group === 'apiregistration.k8s.io') return `io.k8s.kube-aggregator.pkg.apis.apiregistration.${version}`;
  return `io.k8s.api.${group.split('.')[0]}.${version}`;
}

/** `example.com` → `com.example` (the prefix of custom kinds' component names). */
export function reverseGroup(group: string): string {
  return group.split('.').reverse().join('.');
}

function ref(name: string, refs: Set<string>): Json {
  refs.add(name);
  return { $ref: `${V3_REF_PREFIX}${name}` };
}

/**
 * A structural schema node as an OpenAPI v3 schema: structs, times and quantities by reference.
 * `model` is the client-node model the node (or its items/values) stands for, when known.
 */
function convert(node: StructuralSchema, pkg: string, refs: Set<string>, model?: string): Json {
  const info = node[DECODE_INFO];
  switch (info?.kind) {
    case GoKind.Struct:
      return ref(structComponent(node, info.struct ?? 'Object', pkg, model), refs);
    case GoKind.Time:
      return ref(`${META_PACKAGE}.Time`, refs);
    case GoKind.MicroTime:
      return ref(`${META_PACKAGE}.MicroTime`, refs);
    case GoKind.Quantity:
      return ref(QUANTITY, refs);
    case GoKind.IntOrString:
      return ref(INT_OR_STRING, refs);
    default:
      return convertBody(node, pkg, refs, model);
  }
}

function convertBody(node: StructuralSchema, pkg: string, refs: Set<string>, model?: string): Json {
  const doc = node.properties && model ? modelDoc(model) : undefined;
  const out: Json = doc?.description ? { description: doc.description } : {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = convert(value as StructuralSchema, pkg, refs, model);
    } else if (key === 'properties') {
      const properties: Json = {};
      for (const [name, child] of Object.entries(value as Record<string, StructuralSchema>)) {
        const field = doc?.fields.get(name);
        const schema = convert(child, pkg, refs, field?.model);
        properties[name] = field?.description ? { description: field.description, ...schema } : schema;
      }
      out.properties = properties;
      const required = [...(doc?.fields ?? [])].filter(([name, f]) => f.required && name in properties).map(([name]) => name);
      if (required.length) out.required = required;
    } else {
      out[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    }
  }
  return out;
}

/** The component name of a built-in struct node, converting it on first use. */
function structComponent(node: StructuralSchema, struct: string, pkg: string, model?: string): string {
  const known = nodeNames.get(node);
  if (known) return known;
  const base = `${META_STRUCTS.has(struct) ? META_PACKAGE : SHARED_CORE_STRUCTS.has(struct) ? CORE_PACKAGE : pkg}.${struct}`;
  let name = base;
  // Another package's struct of the same name (client-node models are per group): keep both.
  for (let i = 2; builtins.has(name) || name in FIXED; i++) name = `${base}${i}`;
  nodeNames.set(node, name);
  const component: BuiltinComponent = { node, schema: {}, refs: new Set() };
  builtins.set(name, component);
  component.schema = convertBody(node, pkg, component.refs, model);
  return name;
}

/** The client-node model of a built-in kind: `CoreV1Event`, `V1Pod`… (undefined if none is declared). */
function kindModel(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = (slash < 0 ? apiVersion : apiVersion.slice(slash + 1)).replace(/^./, (c) => c.toUpperCase());
  const prefix = group === '' ? 'Core' : (group.split('.')[0] ?? '').replace(/^./, (c) => c.toUpperCase());
  return [`${prefix}${version}${kind}`, `${version}${kind}`].find(hasModel);
}

/** The component name of a built-in kind (or its list), or undefined if keelson has no schema for it. */
export function builtinKindComponent(apiVersion: string, kind: string): string | undefined {
  const node = schemaForKind(apiVersion, kind);
  if (!node) return undefined;
  return structComponent(node, node[DECODE_INFO]?.struct ?? kind, packageOf(apiVersion), kindModel(apiVersion, kind));
}

/** Converts the meta/v1 structs every document refers to (once). */
function ensureMetaComponents(): void {
  if (builtins.has(META.objectMeta)) return;
  structComponent(objectMetaSchema(), 'ObjectMeta', META_PACKAGE, 'V1ObjectMeta');
  structComponent(schemaForModel('V1ListMeta'), 'ListMeta', META_PACKAGE, 'V1ListMeta');
  builtinKindComponent('v1', 'Status');
  builtinKindComponent('v1', 'DeleteOptions');
}

/** A JSON Schema given by a user (a CRD's), as a component: a deep copy. */
function copySchema(schema: unknown): Json {
  return structuredClone(schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }) as Json;
}

/**
 * The components of one OpenAPI document: kinds are added by name (their schema-dependencies
 * follow), each with the GVKs it is the schema of.
 */
export class ComponentSet {
  private readonly custom = new Map<string, Json>();
  private readonly roots = new Set<string>();
  private readonly gvks = new Map<string, GVK[]>();

  /** Adds a component (built-in or fixed) by name. */
  add(name: string): string {
    this.roots.add(name);
    return name;
  }

  /** Adds a built-in kind's component with its GVK; undefined if keelson has no schema for it. */
  addBuiltinKind(gvk: GVK, kind = gvk.kind): string | undefined {
    const name = builtinKindComponent(gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version, kind);
    if (name) this.tag(this.add(name), { ...gvk, kind });
    return name;
  }

  /**
   * Adds a custom kind and its list: the kind's schema (a CRD version's `openAPIV3Schema`, or
   * any object when it has none) with `apiVersion`, `kind` and `metadata` (ObjectMeta) set.
   */
  addCustomKind(gvk: GVK, listKind: string, schema: unknown): { kind: string; list: string } {
    const prefix = gvk.group ? `${reverseGroup(gvk.group)}.${gvk.version}` : packageOf(gvk.version);
    const kindName = `${prefix}.${gvk.kind}`;
    const listName = `${prefix}.${listKind}`;
    const body = copySchema(schema);
    body.type ??= 'object';
    body.properties = {
      apiVersion: { type: 'string', description: API_VERSION_DESCRIPTION },
      kind: { type: 'string', description: KIND_DESCRIPTION },
      metadata: { $ref: `${V3_REF_PREFIX}${META.objectMeta}` },
      ...Object.fromEntries(Object.entries((body.properties as Json | undefined) ?? {}).filter(([k]) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata')),
    };
    this.custom.set(kindName, body);
    this.custom.set(listName, {
      type: 'object',
      description: `${listKind} is a list of ${gvk.kind}`,
      required: ['items'],
      properties: {
        apiVersion: { type: 'string', description: API_VERSION_DESCRIPTION },
        items: { type: 'array', description: `List of ${gvk.kind.toLowerCase()}s.`, items: { $ref: `${V3_REF_PREFIX}${kindName}` } },
        kind: { type: 'string', description: KIND_DESCRIPTION },
        metadata: { $ref: `${V3_REF_PREFIX}${META.listMeta}` },
      },
    });
    this.add(META.objectMeta);
    this.add(META.listMeta);
    this.tag(this.add(kindName), gvk);
    this.tag(this.add(listName), { ...gvk, kind: listKind });
    return { kind: kindName, list: listName };
  }

  /** Records that component `name` is the schema of `gvk`. */
  tag(name: string, gvk: GVK): void {
    const list = this.gvks.get(name) ?? [];
    if (!list.some((g) => g.group === gvk.group && g.version === gvk.version && g.kind === gvk.kind)) list.push({ ...gvk });
    this.gvks.set(name, list);
  }

  /** Every component reachable from those added, by name (sorted), kinds tagged with their GVKs. */
  schemas(): Record<string, Json> {
    ensureMetaComponents();
    const out = new Map<string, Json>();
    const pending = [...this.roots];
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (out.has(name)) continue;
      const custom = this.custom.get(name);
      const builtin = builtins.get(name);
      const schema = custom ?? builtin?.schema ?? FIXED[name] ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      const gvks = this.gvks.get(name);
      out.set(name, gvks ? { ...schema, 'x-kubernetes-group-version-kind': gvks.map(({ group, kind, version }) => ({ group, kind, version })) } : schema);
      if (builtin) pending.push(...builtin.refs);
    }
    return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
