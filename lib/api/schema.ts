/**
 * Structural schemas of the built-in kinds, derived from the model metadata that
 * `@kubernetes/client-node` ships (each generated model class has a static `attributeTypeMap`),
 * corrected where client-node is less precise than the real API (quantities, byte strings,
 * MicroTime, the CRD's recursive JSONSchemaProps), and annotated with the strategic-merge-patch
 * metadata that k8s.io/api declares in its `patchMergeKey`/`patchStrategy` struct tags.
 *
 * A schema node is a subset of OpenAPI v3 JSONSchemaProps. Nodes built here additionally carry
 * {@link DECODE_INFO} (a symbol-keyed property, invisible to JSON and `Object.keys`) telling the
 * decoder which Go type the node stands for, so it can reproduce kube-apiserver's decode errors.
 * Schemas are built lazily, cached, shared between kinds (one node per model) and frozen.
 */
import { createRequire } from 'node:module';

/** `x-kubernetes-list-type`: how a list merges in server-side apply. */
export type ListType = 'atomic' | 'set' | 'map';

/** A structural schema: the subset of OpenAPI v3 JSONSchemaProps keelson uses. */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  description?: string;
  properties?: Record<string, StructuralSchema>;
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema | boolean;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-list-type'?: ListType;
  'x-kubernetes-list-map-keys'?: string[];
  /** Decoding hints on nodes built by this module (absent on user/CRD schemas). */
  readonly [DECODE_INFO]?: DecodeInfo;
}

/** The Go-side shape of a schema node, as the decoder needs it. */
export const enum GoKind {
  Struct,
  Map,
  Array,
  String,
  Int32,
  Int64,
  Float,
  Bool,
  /** metav1.Time: RFC 3339 string. */
  Time,
  /** metav1.MicroTime: RFC 3339 with exactly 6 fractional digits. */
  MicroTime,
  /** intstr.IntOrString. */
  IntOrString,
  /** resource.Quantity: string or number. */
  Quantity,
  /** []byte: a base64 string. */
  Bytes,
  /** Any JSON (runtime.RawExtension-like, FieldsV1). */
  Any,
  /** An object whose content is kept as is (the CRD's JSONSchemaProps). */
  AnyObject,
}

/** The property under which nodes built here carry their {@link DecodeInfo}. */
export const DECODE_INFO: unique symbol = Symbol.for('keelson.schema.decode') as never;

/** Decoding hints for one schema node. */
export interface DecodeInfo {
  kind: GoKind;
  /** The Go type named in a type error about this node, e.g. `int32`, `[]v1.Container`. */
  goType: string;
  /** For structs: the Go struct name, e.g. `ContainerPort`. */
  struct?: string;
}

interface ModelAttribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
type ModelClass = { attributeTypeMap?: readonly ModelAttribute[] };

const MODELS_DIR = '@kubernetes/client-node/dist/gen/models/';
// client-node is ESM-only; Node ≥ 22 loads ES modules through require() synchronously, which lets
// schemas be built lazily on first use. Each model file stands alone (its imports are types only).
const requireModel = createRequire(import.meta.url);

function loadModel(name: string): ModelClass {
  if (!/^[A-Za-z0-9]+$/.test(name)) throw new Error(`not a client-node model name: ${name}`);
  const mod = requireModel(`${MODELS_DIR}${name}.js`) as Record<string, ModelClass | undefined>;
  const cls = mod[name];
  if (!cls?.attributeTypeMap) throw new Error(`client-node model ${name} has no attributeTypeMap`);
  return cls;
}

/** The kinds {@link schemaForKind} knows: `apiVersion kind` → client-node model name. */
const KIND_MODELS = new Map<string, string>();
function kinds(apiVersion: string, prefix: string, names: string[], overrides: Record<string, string> = {}): void {
  for (const kind of names) {
    KIND_MODELS.set(`${apiVersion} ${kind}`, overrides[kind] ?? `${prefix}${kind}`);
    if (kind !== 'Binding' && kind !== 'Status' && kind !== 'Scale' && kind !== 'DeleteOptions') {
      KIND_MODELS.set(`${apiVersion} ${kind}List`, overrides[`${kind}List`] ?? `${prefix}${kind}List`);
    }
  }
}
kinds('v1', 'V1', ['Pod', 'Node', 'Service', 'Endpoints', 'ReplicationController', 'ConfigMap', 'Secret', 'Namespace', 'Event', 'Binding', 'Status', 'DeleteOptions'], {
  Event: 'CoreV1Event',
  EventList: 'CoreV1EventList',
});
kinds('coordination.k8s.io/v1', 'V1', ['Lease']);
kinds('discovery.k8s.io/v1', 'V1', ['EndpointSlice']);
kinds('apiextensions.k8s.io/v1', 'V1', ['CustomResourceDefinition']);
kinds('autoscaling/v1', 'V1', ['Scale']);
kinds('meta.k8s.io/v1', 'V1', ['Status', 'DeleteOptions']);

/** Every `{ apiVersion, kind }` that {@link schemaForKind} has a schema for (kinds and their lists). */
export function builtinSchemaKinds(): { apiVersion: string; kind: string }[] {
  return [...KIND_MODELS.keys()].map((key) => {
    const [apiVersion = '', kind = ''] = key.split(' ');
    return { apiVersion, kind };
  });
}

/**
 * The structural schema of a built-in kind (or its list, `Status`, `Scale`, `DeleteOptions`),
 * or `undefined` for a kind keelson does not build in. Built on first use, then cached.
 */
export function schemaForKind(apiVersion: string, kind: string): StructuralSchema | undefined {
  const model = KIND_MODELS.get(`${apiVersion} ${kind}`);
  return model === undefined ? undefined : schemaForModel(model);
}

/** The schema of meta/v1 ObjectMeta (what every object's `metadata` is decoded with). */
export function objectMetaSchema(): StructuralSchema {
  return schemaForModel('V1ObjectMeta');
}

/** The schema of any client-node model by class name, e.g. `V1PodSpec`. Throws for unknown names. */
export function schemaForModel(model: string): StructuralSchema {
  return modelNode(model);
}

// ---- corrections of client-node's types (keys are `Model.jsonField`) ----

/** resource.Quantity fields (maps are `v1.ResourceList`). */
const QUANTITIES = new Set([
  'V1ResourceRequirements.limits', 'V1ResourceRequirements.requests',
  'V1VolumeResourceRequirements.limits', 'V1VolumeResourceRequirements.requests',
  'V1NodeStatus.capacity', 'V1NodeStatus.allocatable', 'V1PodSpec.overhead',
  'V1ContainerStatus.allocatedResources', 'V1EmptyDirVolumeSource.sizeLimit', 'V1ResourceFieldSelector.divisor',
  'V1PersistentVolumeSpec.capacity', 'V1PersistentVolumeClaimStatus.capacity', 'V1PersistentVolumeClaimStatus.allocatedResources',
  'V1ResourceQuotaSpec.hard', 'V1ResourceQuotaStatus.hard', 'V1ResourceQuotaStatus.used',
  'V1LimitRangeItem.default', 'V1LimitRangeItem.defaultRequest', 'V1LimitRangeItem.max', 'V1LimitRangeItem.min',
  'V1LimitRangeItem.maxLimitRequestRatio',
]);

/** Named Go string types, for the exact type in error messages (the rest are plain `string`). */
const NAMED_STRINGS: Record<string, string> = {
  'V1ObjectMeta.uid': 'types.UID', 'V1OwnerReference.uid': 'types.UID', 'V1ObjectReference.uid': 'types.UID',
  'V1Container.imagePullPolicy': 'v1.PullPolicy', 'V1EphemeralContainer.imagePullPolicy': 'v1.PullPolicy',
  'V1Container.terminationMessagePolicy': 'v1.TerminationMessagePolicy',
  'V1ContainerPort.protocol': 'v1.Protocol', 'V1ServicePort.protocol': 'v1.Protocol', 'CoreV1EndpointPort.protocol': 'v1.Protocol',
  'V1PodSpec.restartPolicy': 'v1.RestartPolicy', 'V1PodSpec.dnsPolicy': 'v1.DNSPolicy', 'V1PodSpec.preemptionPolicy': 'v1.PreemptionPolicy',
  'V1ServiceSpec.type': 'v1.ServiceType', 'V1ServiceSpec.sessionAffinity': 'v1.ServiceAffinity',
  'V1PodStatus.phase': 'v1.PodPhase', 'V1PodStatus.qosClass': 'v1.PodQOSClass',
  'V1PodCondition.type': 'v1.PodConditionType', 'V1PodCondition.status': 'v1.ConditionStatus',
  'V1NodeCondition.type': 'v1.NodeConditionType', 'V1NodeCondition.status': 'v1.ConditionStatus',
  'V1ReplicationControllerCondition.type': 'v1.ReplicationControllerConditionType',
  'V1ReplicationControllerCondition.status': 'v1.ConditionStatus',
  'V1NamespaceCondition.type': 'v1.NamespaceConditionType', 'V1NamespaceCondition.status': 'v1.ConditionStatus',
  'V1NamespaceStatus.phase': 'v1.NamespacePhase', 'V1NodeStatus.phase': 'v1.NodePhase', 'V1NodeAddress.type': 'v1.NodeAddressType',
  'V1Taint.effect': 'v1.TaintEffect', 'V1Toleration.effect': 'v1.TaintEffect', 'V1Toleration.operator': 'v1.TolerationOperator',
  'V1Secret.type': 'v1.SecretType', 'V1NamespaceSpec.finalizers': 'v1.FinalizerName',
};

/** Fields whose content is kept as is (no recursion into the schema of schemas). */
const ANY_OBJECTS: Record<string, string> = { 'V1CustomResourceValidation.openAPIV3Schema': 'v1.JSONSchemaProps' };

/** List metadata: `patchMergeKey`/`patchStrategy` tags and `+listType`/`+listMapKey` markers of k8s.io/api. */
interface ListMeta {
  key?: string;
  strategy?: string;
  list?: ListType;
  mapKeys?: string[];
}
const byName: ListMeta = { key: 'name', strategy: 'merge', list: 'map' };
const byType: ListMeta = { key: 'type', strategy: 'merge', list: 'map' };
const atomic: ListMeta = { list: 'atomic' };
const containerLists: Record<string, ListMeta> = {
  ports: { key: 'containerPort', strategy: 'merge', list: 'map', mapKeys: ['containerPort', 'protocol'] },
  env: byName,
  volumeMounts: { key: 'mountPath', strategy: 'merge', list: 'map' },
  volumeDevices: { key: 'devicePath', strategy: 'merge', list: 'map' },
  command: atomic, args: atomic, envFrom: atomic, resizePolicy: atomic,
};
const LISTS: Record<string, Record<string, ListMeta>> = {
  V1ObjectMeta: { ownerReferences: { key: 'uid', strategy: 'merge', list: 'map' }, finalizers: { strategy: 'merge', list: 'set' }, managedFields: atomic },
  V1PodSpec: {
    volumes: { key: 'name', strategy: 'merge,retainKeys', list: 'map' },
    initContainers: byName, containers: byName, ephemeralContainers: byName, imagePullSecrets: byName,
    hostAliases: { key: 'ip', strategy: 'merge', list: 'map' },
    topologySpreadConstraints: { key: 'topologyKey', strategy: 'merge', list: 'map', mapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    resourceClaims: { key: 'name', strategy: 'merge,retainKeys', list: 'map' },
    schedulingGates: byName, tolerations: atomic, readinessGates: atomic,
  },
  V1Container: containerLists,
  V1EphemeralContainer: containerLists,
  V1PodStatus: {
    conditions: byType, podIPs: { key: 'ip', strategy: 'merge', list: 'map' }, hostIPs: { key: 'ip', strategy: 'merge', list: 'atomic' },
    resourceClaimStatuses: { key: 'name', strategy: 'merge,retainKeys', list: 'map' },
    containerStatuses: atomic, initContainerStatuses: atomic, ephemeralContainerStatuses: atomic,
  },
  V1ContainerStatus: { volumeMounts: { key: 'mountPath', strategy: 'merge', list: 'map' }, allocatedResourcesStatus: byName },
  V1NodeSpec: { podCIDRs: { strategy: 'merge', list: 'set' }, taints: atomic },
  V1NodeStatus: { conditions: byType, addresses: { key: 'type', strategy: 'merge' }, images: atomic, volumesInUse: atomic, volumesAttached: atomic },
  V1ServiceSpec: { ports: { key: 'port', strategy: 'merge', list: 'map', mapKeys: ['port', 'protocol'] }, clusterIPs: atomic, externalIPs: atomic, ipFamilies: atomic },
  V1ServiceStatus: { conditions: byType },
  V1NamespaceStatus: { conditions: byType },
  V1ReplicationControllerStatus: { conditions: byType },
  V1CustomResourceDefinitionStatus: { conditions: { list: 'map', mapKeys: ['type'] } },
  V1LabelSelector: { matchExpressions: atomic },
};

// ---- building ----

type MutableNode = { -readonly [K in keyof StructuralSchema]: StructuralSchema[K] } & { [DECODE_INFO]?: DecodeInfo };

const cache = new Map<string, StructuralSchema>();
const building = new Set<string>();

/** Strips client-node's group/version prefix: `V1PodSpec` → `PodSpec`, `CoreV1Event` → `Event`. */
function goStructName(model: string): string {
  return model.replace(/^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])/, '');
}

function node(kind: GoKind, goType: string, props: MutableNode, struct?: string): MutableNode {
  Object.defineProperty(props, DECODE_INFO, { value: { kind, goType, ...(struct ? { struct } : {}) }, enumerable: false });
  return props;
}

function modelNode(model: string): StructuralSchema {
  const cached = cache.get(model);
  if (cached) return cached;
  const struct = goStructName(model);
  // A model that contains itself would expand forever: keep such a subtree as is.
  if (building.has(model)) return node(GoKind.AnyObject, `v1.${struct}`, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  building.add(model);
  try {
    const properties: Record<string, StructuralSchema> = Object.create(null) as Record<string, StructuralSchema>;
    for (const attr of loadModel(model).attributeTypeMap ?? []) {
      properties[attr.baseName] = attributeNode(model, attr);
    }
    const result = Object.freeze(node(GoKind.Struct, `v1.${struct}`, { type: 'object', properties: Object.freeze(properties) }, struct));
    cache.set(model, result);
    return result;
  } finally {
    building.delete(model);
  }
}

function attributeNode(model: string, attr: ModelAttribute): StructuralSchema {
  const key = `${model}.${attr.baseName}`;
  const anyObject = ANY_OBJECTS[key];
  if (anyObject) return Object.freeze(node(GoKind.AnyObject, anyObject, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }));
  const result = typeNode(attr.type, attr.format, QUANTITIES.has(key), NAMED_STRINGS[key]);
  const meta = LISTS[model]?.[attr.baseName];
  if (meta && result.type === 'array') {
    if (meta.key) result['x-kubernetes-patch-merge-key'] = meta.key;
    if (meta.strategy) result['x-kubernetes-patch-strategy'] = meta.strategy;
    if (meta.list) result['x-kubernetes-list-type'] = meta.list;
    if (meta.list === 'map') result['x-kubernetes-list-map-keys'] = Object.freeze([...(meta.mapKeys ?? [meta.key ?? 'name'])]) as string[];
  }
  return Object.freeze(result);
}

function typeNode(type: string, format: string, quantity: boolean, named?: string): MutableNode {
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1]) {
    const items = Object.freeze(typeNode(array[1], format, quantity, named));
    return node(GoKind.Array, `[]${goName(items)}`, { type: 'array', items });
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1]) {
    const values = Object.freeze(typeNode(map[1], format, quantity, named));
    return node(GoKind.Map, quantity ? 'v1.ResourceList' : `map[string]${goName(values)}`, { type: 'object', additionalProperties: values });
  }
  if (quantity) return node(GoKind.Quantity, 'resource.Quantity', { 'x-kubernetes-int-or-string': true, format: 'quantity' });
  switch (type) {
    case 'string':
      if (format === 'byte') return node(GoKind.Bytes, '[]uint8', { type: 'string', format: 'byte' });
      return node(GoKind.String, named ?? 'string', { type: 'string' });
    case 'number':
      if (format === 'int32') return node(GoKind.Int32, 'int32', { type: 'integer', format: 'int32' });
      if (format === 'int64') return node(GoKind.Int64, 'int64', { type: 'integer', format: 'int64' });
      return node(GoKind.Float, 'float64', { type: 'number', format: 'double' });
    case 'boolean':
      return node(GoKind.Bool, 'bool', { type: 'boolean' });
    case 'Date':
    case 'V1MicroTime':
      // Both metav1.Time and MicroTime are `format: date-time` in kube's OpenAPI; null means unset.
      return node(format === 'date-time-micro' ? GoKind.MicroTime : GoKind.Time, 'string', { type: 'string', format: 'date-time', nullable: true });
    case 'IntOrString':
      return node(GoKind.IntOrString, 'int32', { 'x-kubernetes-int-or-string': true });
    case 'any':
    case 'object':
      return node(GoKind.Any, 'interface {}', { 'x-kubernetes-preserve-unknown-fields': true });
    default:
      return modelNode(type) as MutableNode;
  }
}

/** The Go type of a node as part of a composite type (`[]X`, `map[string]X`). */
function goName(n: StructuralSchema): string {
  const info = n[DECODE_INFO];
  switch (info?.kind) {
    case GoKind.Time:
      return 'v1.Time';
    case GoKind.MicroTime:
      return 'v1.MicroTime';
    case GoKind.IntOrString:
      return 'intstr.IntOrString';
    default:
      return info?.goType ?? 'interface {}';
  }
}

// ---- value formats, with the exact errors of the Go types' UnmarshalJSON ----

/** resource.ErrFormatWrong's text. */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";
const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES = new Set(['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Why `resource.ParseQuantity` rejects `text` (after trimming), or undefined if it parses. */
export function quantityError(text: string): string | undefined {
  const s = text.trim();
  if (s === '') return QUANTITY_FORMAT_ERROR;
  let pos = s[0] === '-' || s[0] === '+' ? 1 : 0;
  while (isDigit(s[pos])) pos++;
  if (s[pos] === '.') for (pos++; isDigit(s[pos]); ) pos++;
  const suffixStart = pos;
  while (pos < s.length && 'eEinumkKMGTP'.includes(s[pos] ?? '')) pos++;
  if (s[pos] === '-' || s[pos] === '+') pos++;
  while (isDigit(s[pos])) pos++;
  if (pos < s.length) return QUANTITY_FORMAT_ERROR;
  const suffix = s.slice(suffixStart);
  if (suffix in DECIMAL_SUFFIXES || BINARY_SUFFIXES.has(suffix)) return undefined;
  const exponent = /^[eE]([+-]?\d+)$/.exec(suffix);
  return exponent && Math.abs(Number(exponent[1])) < 2 ** 31 ? undefined : QUANTITY_SUFFIX_ERROR;
}

/**
 * The canonical text kube stores for a quantity sent as a JSON number (`0.5` → `"500m"`,
 * `1000` → `"1k"`, `1e3` → `"1e3"`): factors of ten are removed from the mantissa, the exponent
 * rounded down to a multiple of three, sub-nano precision rounded up.
 */
export function canonicalNumberQuantity(n: number): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!m) return String(n);
  let mantissa = BigInt(`${m[2]}${m[3] ?? ''}`);
  let scale = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  if (mantissa === 0n) return '0';
  if (scale < -9) {
    const divisor = 10n ** BigInt(-9 - scale);
    mantissa = (mantissa + divisor - 1n) / divisor;
    scale = -9;
  }
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    scale++;
  }
  const down = ((scale % 3) + 3) % 3;
  mantissa *= 10n ** BigInt(down);
  scale -= down;
  const si = Object.keys(DECIMAL_SUFFIXES).find((k) => DECIMAL_SUFFIXES[k] === scale);
  const suffix = m[4] !== undefined ? (scale === 0 ? '' : `e${scale}`) : (si ?? `e${scale}`);
  return `${m[1]}${mantissa}${suffix}`;
}

const RFC3339 = '2006-01-02T15:04:05Z07:00';
const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';
const TIME_STEPS = ['2006', '-', '01', '-', '02', 'T', '15', ':', '04', ':', '05'];

function twoDigits(s: string, fixed: boolean): [number, string] | undefined {
  if (!isDigit(s[0])) return undefined;
  if (!isDigit(s[1])) return fixed ? undefined : [Number(s[0]), s.slice(1)];
  return [Number(s.slice(0, 2)), s.slice(2)];
}

/**
 * Why Go's `time.Parse` rejects `value` with metav1.Time's layout (RFC 3339) or, for `micro`,
 * MicroTime's (`2006-01-02T15:04:05.000000Z07:00`), in Go's words; undefined if it parses.
 */
export function timeError(value: string, micro = false): string | undefined {
  const layout = micro ? RFC3339_MICRO : RFC3339;
  const q = (s: string): string => JSON.stringify(s);
  const bad = (rest: string, elem: string): string => `parsing time ${q(value)} as ${q(layout)}: cannot parse ${q(rest)} as ${q(elem)}`;
  const outOfRange = (what: string): string => `parsing time ${q(value)}: ${what} out of range`;
  let rest = value;
  let year = 0;
  let month = 0;
  let day = 0;
  for (const step of [...TIME_STEPS, ...(micro ? ['.000000'] : []), 'Z07:00']) {
    if (step.length === 1) {
      if (rest[0] !== step) return bad(rest, step);
      rest = rest.slice(1);
      continue;
    }
    const hold = rest;
    if (step === '2006') {
      if (!/^\d{4}/.test(rest)) return bad(hold, step);
      year = Number(rest.slice(0, 4));
      rest = rest.slice(4);
    } else if (step === '.000000') {
      if (!/^[.,]\d{6}/.test(rest)) return bad(hold, step);
      rest = rest.slice(7);
    } else if (step === 'Z07:00') {
      if (rest[0] === 'Z') {
        rest = rest.slice(1);
        continue;
      }
      const hh = twoDigits(rest.slice(1, 3), true);
      const mm = twoDigits(rest.slice(4, 6), true);
      if (rest.length < 6 || rest[3] !== ':' || !hh || !mm || (rest[0] !== '+' && rest[0] !== '-')) return bad(hold, step);
      if (mm[0] > 60) return outOfRange('time zone offset minute');
      if (hh[0] > 24) return outOfRange('time zone offset hour');
      rest = rest.slice(6);
    } else {
      const parsed = twoDigits(rest, step !== '15');
      if (!parsed) return bad(hold, step);
      [, rest] = parsed;
      const n = parsed[0];
      if (step === '01' && (n < 1 || n > 12)) return outOfRange('month');
      if (step === '15' && n >= 24) return outOfRange('hour');
      if (step === '04' && n >= 60) return outOfRange('minute');
      if (step === '05' && n >= 60) return outOfRange('second');
      if (step === '01') month = n;
      if (step === '02') day = n;
      if (step === '05' && !micro && /^[.,]\d/.test(rest)) rest = rest.replace(/^[.,]\d+/, '');
    }
  }
  if (rest !== '') return `parsing time ${q(value)}: extra text: ${q(rest)}`;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  if (day < 1 || day > daysInMonth) return `parsing time ${q(value)}: day out of range`;
  return undefined;
}

/** Go's `base64.StdEncoding` error for `text` (`illegal base64 data at input byte N`), or undefined. */
export function base64Error(text: string): string | undefined {
  const src = Buffer.from(text, 'utf8');
  const valid = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
  const newline = (c: number | undefined): boolean => c === 10 || c === 13;
  const corrupt = (at: number): string => `illegal base64 data at input byte ${at}`;
  let si = 0;
  while (si < src.length) {
    for (let j = 0; j < 4; j++) {
      if (si === src.length) return j === 0 ? undefined : corrupt(si - j);
      const c = src[si++] ?? 0;
      if (valid(c)) continue;
      if (newline(c)) {
        j--;
        continue;
      }
      if (c !== 61 || j < 2) return corrupt(si - 1);
      if (j === 2) {
        while (newline(src[si])) si++;
        if (si === src.length) return corrupt(src.length);
        if (src[si] !== 61) return corrupt(si - 1);
        si++;
      }
      while (newline(src[si])) si++;
      return si < src.length ? corrupt(si) : undefined;
    }
  }
  return undefined;
}
