/**
 * The message schemas the Kubernetes protobuf decoder (`protobuf.ts`) reads request bodies with:
 * for each message, its fields by number, with the JSON name kube's JSON encoding gives them.
 *
 * Tables are written compactly, one string of space-separated fields per message:
 * `jsonName=number:type` followed by modifiers. Types are
 *
 * - scalars: `s` string, `i` int32, `l` int64, `u` uint32, `b` bool, `y` bytes (base64 in JSON),
 *   `d` double, `f` float;
 * - maps (repeated entries with key = 1, value = 2, keys always strings): `{s}`, `{y}`,
 *   `{Quantity}`, or `{Message}`;
 * - a message name: one of the tables' messages, or a well-known type with a special JSON form —
 *   `Time` (RFC 3339 seconds), `MicroTime` (RFC 3339, 6 fractional digits), `Quantity` (its
 *   string), `IntOrString` (a number or a string), `RawExtension` and `FieldsV1` (embedded JSON).
 *
 * Modifiers: `*` repeated; `?` the Go field is a pointer, so an explicit zero/false/empty value
 * is kept in the JSON (without it, zero values are omitted as Go's `omitempty` would, and empty
 * non-pointer structs are dropped); `^` the Go field is embedded (`json:",inline"`), so its
 * fields are merged into the parent object.
 *
 * Field numbers come from the generated.proto files of k8s.io/api and k8s.io/apimachinery.
 */
import { CORE_MESSAGES } from './protobuf-core.js';
import { CORE_POD_MESSAGES, CORE_POD_STATUS_MESSAGES, CORE_VOLUME_MESSAGES } from './protobuf-core-pod.js';

/** Messages by name, each a string of field specs (see the module comment). */
export type MessageTable = Readonly<Record<string, string>>;

/** Scalar wire kinds: string, int32, int64, uint32, bool, bytes, double, float. */
export type ScalarKind = 's' | 'i' | 'l' | 'u' | 'b' | 'y' | 'd' | 'f';

/** Well-known messages whose JSON form is not an object. */
export type SpecialKind = 'Time' | 'MicroTime' | 'Quantity' | 'IntOrString' | 'RawExtension' | 'FieldsV1';

/** What a field (or a map's value) holds. */
export type ValueType = { readonly scalar: ScalarKind } | { readonly special: SpecialKind } | { readonly message: string };

/** One field of a message. */
export interface FieldDef {
  /** The JSON name. */
  readonly name: string;
  /** The protobuf field number. */
  readonly number: number;
  /** The field's value type; for a map, the type of its values. */
  readonly type: ValueType;
  /** A `map<string, …>` field. */
  readonly map: boolean;
  /** A `repeated` field (JSON array). */
  readonly repeated: boolean;
  /** A Go pointer field: zero values are kept, not omitted. */
  readonly keep: boolean;
  /** An embedded Go struct whose fields are inlined into the parent JSON object. */
  readonly inline: boolean;
}

/** A message: its name and fields by number. */
export interface MessageDef {
  /** The message name, as used in the tables. */
  readonly name: string;
  /** The fields, by protobuf field number. */
  readonly fields: ReadonlyMap<number, FieldDef>;
}

/** meta/v1 messages (k8s.io/apimachinery/pkg/apis/meta/v1). */
export const META_MESSAGES: MessageTable = {
  ObjectMeta:
    'name=1:s generateName=2:s namespace=3:s selfLink=4:s uid=5:s resourceVersion=6:s generation=7:l creationTimestamp=8:Time ' +
    'deletionTimestamp=9:Time? deletionGracePeriodSeconds=10:l? labels=11:{s} annotations=12:{s} ownerReferences=13:OwnerReference* ' +
    'finalizers=14:s* managedFields=17:ManagedFieldsEntry*',
  OwnerReference: 'apiVersion=5:s kind=1:s name=3:s uid=4:s controller=6:b? blockOwnerDeletion=7:b?',
  ManagedFieldsEntry: 'manager=1:s operation=2:s apiVersion=3:s time=4:Time? fieldsType=6:s fieldsV1=7:FieldsV1? subresource=8:s',
  ListMeta: 'selfLink=1:s resourceVersion=2:s continue=3:s remainingItemCount=4:l?',
  LabelSelector: 'matchLabels=1:{s} matchExpressions=2:LabelSelectorRequirement*',
  LabelSelectorRequirement: 'key=1:s operator=2:s values=3:s*',
  Condition: 'type=1:s status=2:s observedGeneration=3:l lastTransitionTime=4:Time reason=5:s message=6:s',
  DeleteOptions:
    'gracePeriodSeconds=1:l? preconditions=2:Preconditions? orphanDependents=3:b? propagationPolicy=4:s? dryRun=5:s* ' +
    'ignoreStoreReadErrorWithClusterBreakingPotential=6:b?',
  Preconditions: 'uid=1:s? resourceVersion=2:s?',
  Status: 'metadata=1:ListMeta status=2:s message=3:s reason=4:s details=5:StatusDetails? code=6:i',
  StatusDetails: 'name=1:s group=2:s kind=3:s uid=6:s causes=4:StatusCause* retryAfterSeconds=5:i',
  StatusCause: 'reason=1:s message=2:s field=3:s',
};

/**
 * coordination.k8s.io/v1, discovery.k8s.io/v1 and autoscaling/v1 messages. discovery/v1's
 * EndpointPort is named `DiscoveryEndpointPort` here, apart from core/v1's `EndpointPort`.
 */
export const GROUP_MESSAGES: MessageTable = {
  Lease: 'metadata=1:ObjectMeta spec=2:LeaseSpec',
  LeaseSpec:
    'holderIdentity=1:s? leaseDurationSeconds=2:i? acquireTime=3:MicroTime? renewTime=4:MicroTime? leaseTransitions=5:i? ' +
    'strategy=6:s? preferredHolder=7:s?',
  EndpointSlice: 'metadata=1:ObjectMeta addressType=4:s endpoints=2:Endpoint* ports=3:DiscoveryEndpointPort*',
  Endpoint:
    'addresses=1:s* conditions=2:EndpointConditions hostname=3:s? targetRef=4:ObjectReference? deprecatedTopology=5:{s} nodeName=6:s? ' +
    'zone=7:s? hints=8:EndpointHints?',
  EndpointConditions: 'ready=1:b? serving=2:b? terminating=3:b?',
  EndpointHints: 'forZones=1:ForZone* forNodes=2:ForNode*',
  ForZone: 'name=1:s',
  ForNode: 'name=1:s',
  DiscoveryEndpointPort: 'name=1:s? protocol=2:s? port=3:i? appProtocol=4:s?',
  Scale: 'metadata=1:ObjectMeta spec=2:ScaleSpec status=3:ScaleStatus',
  // Go's omitempty would drop `replicas: 0`; it is kept because scaling to zero must say so.
  ScaleSpec: 'replicas=1:i?',
  ScaleStatus: 'replicas=1:i selector=2:s',
};

const SCALARS: ReadonlySet<string> = new Set<ScalarKind>(['s', 'i', 'l', 'u', 'b', 'y', 'd', 'f']);
const SPECIALS: ReadonlySet<string> = new Set<SpecialKind>(['Time', 'MicroTime', 'Quantity', 'IntOrString', 'RawExtension', 'FieldsV1']);
const FIELD = /^([A-Za-z][A-Za-z0-9]*)=([1-9][0-9]*):(\{[A-Za-z][A-Za-z0-9]*\}|[A-Za-z][A-Za-z0-9]*)([*?^]*)$/;

function valueType(name: string): ValueType {
  if (SCALARS.has(name)) return { scalar: name as ScalarKind };
  if (SPECIALS.has(name)) return { special: name as SpecialKind };
  return { message: name };
}

/**
 * Parses message tables into message definitions, checking that every field spec is well formed,
 * that numbers and JSON names are unique within a message, and that every referenced message
 * exists. Throws on a malformed table (a programming error, caught at module load).
 */
export function parseMessageTables(...tables: MessageTable[]): ReadonlyMap<string, MessageDef> {
  const messages = new Map<string, MessageDef>();
  for (const table of tables) {
    for (const [name, spec] of Object.entries(table)) {
      if (messages.has(name)) throw new Error(`protobuf schema: message ${name} is defined twice`);
      const fields = new Map<number, FieldDef>();
      const names = new Set<string>();
      for (const token of spec.trim().split(/\s+/)) {
        const m = FIELD.exec(token);
        if (!m) throw new Error(`protobuf schema: bad field spec "${token}" in ${name}`);
        const [, json, num, rawType, mods] = m as unknown as [string, string, string, string, string];
        const number = Number(num);
        const map = rawType.startsWith('{');
        const type = valueType(map ? rawType.slice(1, -1) : rawType);
        const field: FieldDef = { name: json, number, type, map, repeated: mods.includes('*'), keep: mods.includes('?'), inline: mods.includes('^') };
        if (fields.has(number) || names.has(json)) throw new Error(`protobuf schema: duplicate field ${json}=${number} in ${name}`);
        if (field.inline && !('message' in type && !map && !field.repeated)) throw new Error(`protobuf schema: only a single message can be inlined (${name}.${json})`);
        if (map && field.repeated) throw new Error(`protobuf schema: a map cannot be repeated (${name}.${json})`);
        fields.set(number, field);
        names.add(json);
      }
      messages.set(name, { name, fields });
    }
  }
  for (const message of messages.values()) {
    for (const field of message.fields.values()) {
      if ('message' in field.type && !messages.has(field.type.message)) {
        throw new Error(`protobuf schema: ${message.name}.${field.name} refers to unknown message ${field.type.message}`);
      }
    }
  }
  return messages;
}

/** Every message the decoder knows, by name. */
export const PROTOBUF_MESSAGES: ReadonlyMap<string, MessageDef> = parseMessageTables(
  META_MESSAGES,
  GROUP_MESSAGES,
  CORE_MESSAGES,
  CORE_POD_MESSAGES,
  CORE_VOLUME_MESSAGES,
  CORE_POD_STATUS_MESSAGES,
);

/**
 * The top-level kinds a protobuf body may carry, each with its message, keyed `apiVersion/Kind`;
 * kinds accepted in any version (DeleteOptions, Status) have `*` as their apiVersion.
 */
export const PROTOBUF_KINDS: ReadonlyMap<string, string> = new Map([
  ...['Namespace', 'ConfigMap', 'Secret', 'Service', 'Pod', 'PodTemplate', 'ReplicationController', 'Endpoints', 'Node', 'Event', 'Binding'].map(
    (kind) => [`v1/${kind}`, kind] as const,
  ),
  ['coordination.k8s.io/v1/Lease', 'Lease'],
  ['discovery.k8s.io/v1/EndpointSlice', 'EndpointSlice'],
  ['autoscaling/v1/Scale', 'Scale'],
  ['*/DeleteOptions', 'DeleteOptions'],
  ['*/Status', 'Status'],
]);

/** The message a body of `apiVersion`/`kind` is encoded as, if the decoder knows it. */
export function protobufMessageFor(apiVersion: string, kind: string): MessageDef | undefined {
  const name = PROTOBUF_KINDS.get(`${apiVersion}/${kind}`) ?? PROTOBUF_KINDS.get(`*/${kind}`);
  return name === undefined ? undefined : PROTOBUF_MESSAGES.get(name);
}
