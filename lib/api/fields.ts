/**
 * Field selectors, with the semantics of k8s.io/apimachinery/pkg/fields and kube-apiserver's
 * per-kind field tables. `?fieldSelector=spec.nodeName=n1,status.phase!=Failed` is an AND of
 * `field=value`, `field==value` and `field!=value` terms; in values, `\,` `\=` and `\\` escape a
 * literal comma, equals sign and backslash. A field an object does not have counts as ''.
 *
 * Which fields may be selected depends on the kind ({@link validateFieldSelector}, kube's field
 * label conversion), and what they hold is extracted from an object by {@link fieldsOf} (kube's
 * GetAttrs / ToSelectableFields).
 */
import { badRequest } from './errors.js';

/** One term of a field selector (`==` is parsed as `=`). */
export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

const VALUE_ESCAPES: Record<string, string> = { '\\': '\\\\', ',': '\\,', '=': '\\=' };

/** Escapes a literal value for use in a field selector (kube's fields.EscapeValue). */
export function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (ch) => VALUE_ESCAPES[ch]!);
}

/**
 * Undoes {@link escapeFieldValue} (kube's fields.UnescapeValue). Throws a 400 for an unknown
 * escape or an unescaped ',' or '='; like kube, the latter names the character by its code
 * point (`unescaped character in value: 61` for '=').
 */
export function unescapeFieldValue(text: string): string {
  if (!/[\\,=]/.test(text)) return text;
  let out = '';
  let inSlash = false;
  for (const ch of text) {
    if (inSlash) {
      if (ch !== '\\' && ch !== ',' && ch !== '=') throw badRequest(`invalid field selector: invalid escape sequence: \\${ch}`);
      out += ch;
      inSlash = false;
    } else if (ch === '\\') {
      inSlash = true;
    } else if (ch === ',' || ch === '=') {
      throw badRequest(`invalid field selector: unescaped character in value: ${ch.codePointAt(0)}`);
    } else {
      out += ch;
    }
  }
  if (inSlash) throw badRequest('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** A parsed field selector (kube's fields.Selector): an immutable AND of terms. */
export class FieldSelector {
  private static readonly EVERYTHING = new FieldSelector([]);

  /** The ANDed terms; a parsed selector keeps kube's order (sorted by source text), so `toString()` matches kube's. */
  readonly requirements: readonly FieldRequirement[];

  /** A selector of the given terms, in the given order. */
  constructor(requirements: readonly FieldRequirement[]) {
    this.requirements = Object.freeze(requirements.map((r) => Object.freeze({ ...r })));
  }

  /** The selector that matches everything (the empty selector). */
  static everything(): FieldSelector {
    return FieldSelector.EVERYTHING;
  }

  /** True if every term holds for `fields`; an absent field counts as ''. */
  matches(fields: Record<string, string> | undefined): boolean {
    return this.requirements.every((r) => {
      const actual = fields !== undefined && Object.prototype.hasOwnProperty.call(fields, r.field) ? fields[r.field]! : '';
      return r.operator === '=' ? actual === r.value : actual !== r.value;
    });
  }

  /** True if the selector does not restrict anything. */
  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  /** The value `field` must equal, if some `=` term demands one — for indexes (e.g. `spec.nodeName`). */
  requiresExactMatch(field: string): string | undefined {
    return this.requirements.find((r) => r.field === field && r.operator === '=')?.value;
  }

  /** A copy with every term rewritten by `fn` (kube's Transform; used for field label conversion). */
  transform(fn: (field: string, value: string) => { field: string; value: string }): FieldSelector {
    return new FieldSelector(this.requirements.map((r) => ({ ...fn(r.field, r.value), operator: r.operator })));
  }

  /** kube's text: `a=b,c!=d`, values escaped; '' for the empty selector. */
  toString(): string {
    return this.requirements.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
  }
}

/** Splits on commas not escaped by a backslash; the backslashes stay for {@link unescapeFieldValue}. */
function splitTerms(text: string): string[] {
  if (text === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inSlash) inSlash = false;
    else if (ch === '\\') inSlash = true;
    else if (ch === ',') {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

/** The first operator occurrence splits a term; the field part is taken literally (kube's splitTerm). */
function splitTerm(term: string): { field: string; op: string; rest: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { field: term.slice(0, i), op, rest: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/** Go's byte-wise string order (kube sorts the raw terms before parsing them). */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Parses the string form (`?fieldSelector=`), exactly as kube's fields.ParseSelector: empty
 * terms are skipped, the empty string selects everything. Errors are 400s with kube's text,
 * e.g. `invalid selector: 'a'; can't understand 'a'`.
 */
export function parseFieldSelector(text: string): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(text).sort(compareBytes)) {
    if (term === '') continue;
    const parts = splitTerm(term);
    if (!parts) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const value = unescapeFieldValue(parts.rest);
    requirements.push({ field: parts.field, operator: parts.op === '!=' ? '!=' : '=', value });
  }
  return requirements.length ? new FieldSelector(requirements) : FieldSelector.everything();
}

/** The selector matching exactly the given fields (`a=1,b=2`); empty or absent → everything. */
export function fieldSelectorFromSet(fields: Record<string, string> | undefined): FieldSelector {
  const requirements = Object.entries(fields ?? {}).map(([field, value]) => ({ field, operator: '=' as const, value }));
  return requirements.length ? new FieldSelector(requirements) : FieldSelector.everything();
}

// ---- Per-kind tables ---------------------------------------------------------------------------

/**
 * A kind for field selection: a built-in kind's name (`'Pod'`), or `{ group, kind, namespaced }`
 * (a ResourceInfo fits). A kind outside keelson's built-in groups is a custom resource; a bare
 * unknown name is taken as a namespaced custom resource.
 */
export type FieldSelectorKind = string | { readonly group?: string; readonly kind: string; readonly namespaced?: boolean };

type AnyObject = Record<string, unknown> | null | undefined;

/** The value at a dotted path, '' if absent or not a string/number/boolean. */
function at(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : '';
}

/** kube's ObjectMetaFieldsSet: `metadata.name`, plus `metadata.namespace` for namespaced kinds. */
function metaFields(obj: AnyObject, namespaced: boolean): Record<string, string> {
  return namespaced
    ? { 'metadata.name': at(obj, 'metadata.name'), 'metadata.namespace': at(obj, 'metadata.namespace') }
    : { 'metadata.name': at(obj, 'metadata.name') };
}

interface KindFieldTable {
  /** Accepted labels (after alias conversion). */
  readonly labels: readonly string[];
  /** Legacy labels rewritten before use (Pod `spec.host` → `spec.nodeName`). */
  readonly aliases?: Readonly<Record<string, string>>;
  /** kube's message for an unsupported label. */
  readonly reject: (label: string) => string;
  readonly extract: (obj: AnyObject) => Record<string, string>;
}

/** Kinds with their own conversion function in kube word rejections like this. */
const notSupported = (label: string) => `field label not supported: ${label}`;

/** Kinds without one fall back to runtime.DefaultMetaV1FieldSelectorConversion, which words it so. */
const notKnown = (label: string) => `${JSON.stringify(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`;

/** The fallback table: name and namespace accepted even for cluster-scoped kinds, as in kube. */
function defaultTable(namespaced: boolean): KindFieldTable {
  return { labels: ['metadata.name', 'metadata.namespace'], reject: notKnown, extract: (obj) => metaFields(obj, namespaced) };
}

/** Custom resources (kube's crConverter): name, and namespace only when namespaced. */
function customResourceTable(namespaced: boolean): KindFieldTable {
  return {
    labels: namespaced ? ['metadata.name', 'metadata.namespace'] : ['metadata.name'],
    reject: notSupported,
    extract: (obj) => metaFields(obj, namespaced),
  };
}

function podFields(pod: AnyObject): Record<string, string> {
  const status = (pod?.['status'] ?? {}) as { podIPs?: Array<{ ip?: string }>; podIP?: string };
  return {
    ...metaFields(pod, true),
    'spec.nodeName': at(pod, 'spec.nodeName'),
    'spec.restartPolicy': at(pod, 'spec.restartPolicy'),
    'spec.schedulerName': at(pod, 'spec.schedulerName'),
    'spec.serviceAccountName': at(pod, 'spec.serviceAccountName'),
    'spec.hostNetwork': String(at(pod, 'spec.hostNetwork') === 'true'),
    'status.phase': at(pod, 'status.phase'),
    // The first pod IP, as kube's internal type derives it; `status.podIPs` is accepted but never populated, as in kube.
    'status.podIP': status.podIPs?.[0]?.ip ?? status.podIP ?? '',
    'status.nominatedNodeName': at(pod, 'status.nominatedNodeName'),
  };
}

function eventFields(event: AnyObject): Record<string, string> {
  const involved = (name: string) => at(event, `involvedObject.${name}`);
  return {
    ...metaFields(event, true),
    'involvedObject.kind': involved('kind'),
    'involvedObject.namespace': involved('namespace'),
    'involvedObject.name': involved('name'),
    'involvedObject.uid': involved('uid'),
    'involvedObject.apiVersion': involved('apiVersion'),
    'involvedObject.resourceVersion': involved('resourceVersion'),
    'involvedObject.fieldPath': involved('fieldPath'),
    reason: at(event, 'reason'),
    reportingComponent: at(event, 'reportingComponent'),
    // Events from the events.k8s.io API have no source.component; kube falls back to the reporter.
    source: at(event, 'source.component') || at(event, 'reportingComponent'),
    type: at(event, 'type'),
  };
}

/** Built-in kinds by `group/kind`, with kube-apiserver's accepted labels and field sets. */
const BUILTIN_TABLES: ReadonlyMap<string, KindFieldTable> = new Map<string, KindFieldTable>([
  [
    '/Pod',
    {
      labels: ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.podIPs', 'status.nominatedNodeName'],
      aliases: { 'spec.host': 'spec.nodeName' },
      reject: notSupported,
      extract: podFields,
    },
  ],
  ['/Node', { labels: ['metadata.name', 'spec.unschedulable'], reject: notSupported, extract: (o) => ({ ...metaFields(o, false), 'spec.unschedulable': String(at(o, 'spec.unschedulable') === 'true') }) }],
  ['/ReplicationController', { labels: ['metadata.name', 'metadata.namespace', 'status.replicas'], reject: notSupported, extract: (o) => ({ ...metaFields(o, true), 'status.replicas': at(o, 'status.replicas') || '0' }) }],
  [
    '/Event',
    {
      labels: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type', 'metadata.namespace', 'metadata.name'],
      reject: notSupported,
      extract: eventFields,
    },
  ],
  ['/Namespace', { labels: ['status.phase', 'metadata.name'], reject: notSupported, extract: (o) => ({ ...metaFields(o, false), 'status.phase': at(o, 'status.phase') }) }],
  ['/Secret', { labels: ['type', 'metadata.namespace', 'metadata.name'], reject: notSupported, extract: (o) => ({ ...metaFields(o, true), type: at(o, 'type') }) }],
  ['/Service', { labels: ['metadata.namespace', 'metadata.name', 'spec.clusterIP', 'spec.type'], reject: notSupported, extract: (o) => ({ ...metaFields(o, true), 'spec.clusterIP': at(o, 'spec.clusterIP'), 'spec.type': at(o, 'spec.type') }) }],
  ['/ConfigMap', defaultTable(true)],
  ['/Endpoints', defaultTable(true)],
  ['/Binding', defaultTable(true)],
  ['coordination.k8s.io/Lease', defaultTable(true)],
  ['discovery.k8s.io/EndpointSlice', defaultTable(true)],
  ['apiextensions.k8s.io/CustomResourceDefinition', defaultTable(false)],
]);

/** Groups whose kinds are built in (compiled into kube-apiserver's scheme), not custom resources. */
const BUILTIN_GROUPS = new Set(['', 'coordination.k8s.io', 'discovery.k8s.io', 'apiextensions.k8s.io']);

function tableFor(kind: FieldSelectorKind): KindFieldTable {
  if (typeof kind === 'string') {
    for (const [key, table] of BUILTIN_TABLES) if (key.slice(key.indexOf('/') + 1) === kind) return table;
    return customResourceTable(true);
  }
  const group = kind.group ?? '';
  const namespaced = kind.namespaced ?? true;
  const table = BUILTIN_TABLES.get(`${group}/${kind.kind}`);
  if (table) return table;
  return BUILTIN_GROUPS.has(group) ? defaultTable(namespaced) : customResourceTable(namespaced);
}

/** The labels a kind accepts in a field selector (legacy aliases not included). */
export function supportedFieldLabels(kind: FieldSelectorKind): readonly string[] {
  return tableFor(kind).labels;
}

/**
 * The selectable fields of one object of `kind`, as kube-apiserver computes them for filtering
 * lists and watches (e.g. a Pod's `spec.hostNetwork` is `'false'` when unset). Feed the result
 * to {@link FieldSelector.matches}.
 */
export function fieldsOf(kind: FieldSelectorKind, obj: unknown): Record<string, string> {
  return tableFor(kind).extract(obj as AnyObject);
}

/**
 * Checks every term's field against the kind's supported labels and returns the selector with
 * legacy labels converted (Pod `spec.host` → `spec.nodeName`), as kube-apiserver does before
 * listing. An unsupported label throws kube's 400: `field label not supported: spec.foo` (kinds
 * with their own table, custom resources) or `"spec.foo" is not a known field selector: only
 * "metadata.name", "metadata.namespace"` (built-in kinds without one, e.g. ConfigMap).
 */
export function validateFieldSelector(kind: FieldSelectorKind, selector: FieldSelector | string): FieldSelector {
  const table = tableFor(kind);
  const parsed = typeof selector === 'string' ? parseFieldSelector(selector) : selector;
  return parsed.transform((field, value) => {
    const aliases = table.aliases ?? {};
    const converted = Object.prototype.hasOwnProperty.call(aliases, field) ? aliases[field]! : field;
    if (!table.labels.includes(converted)) throw badRequest(table.reject(field));
    return { field: converted, value };
  });
}
