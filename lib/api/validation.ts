/**
 * Kubernetes' name and metadata validation, with kube-apiserver's exact detail messages, so a 422
 * from keelson reads like one from a real cluster. Mirrors k8s.io/apimachinery's
 * `util/validation` (the `is*` string checks), `apis/meta/v1/validation` (labels) and
 * `api/validation` (ObjectMeta, owner references, finalizers, the update rules).
 *
 * The `is*` functions return detail strings (empty = valid); the `validate*` functions return
 * {@link FieldError}s ready for {@link invalid}. Messages follow the wording of kube 1.33
 * (`must be no more than 63 characters`, `a qualified name …`), the last released wording
 * before apimachinery's `validate/content` rewrite. Lengths are counted in UTF-8 bytes, as Go's
 * `len` does.
 */
import { goSliceText, type FieldError } from './errors.js';
import type { ManagedFieldsEntry, ObjectMeta, OwnerReference } from './meta.js';

/** Checks a name; `prefix` is true for a `generateName` (a trailing '-' is then allowed). */
export type NameValidator = (name: string, prefix: boolean) => string[];

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;

const DNS1123_LABEL_RE = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const DNS1035_LABEL_RE = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`);

const QUALIFIED_NAME_ERR =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** Max length of a DNS-1123 label, a label value and the name part of a qualified name. */
export const DNS1123_LABEL_MAX_LENGTH = 63;
/** Max length of a DNS-1123 subdomain. */
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
/** Max total size of `metadata.annotations` (keys + values, bytes). */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024;
/** The detail kube gives a changed immutable field. */
export const FIELD_IMMUTABLE_MESSAGE = 'field is immutable';

/** Length in bytes, as Go's `len(string)`. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** kube's MaxLenError. */
export function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** kube's RegexError; note its `', ' + ' or '` join gives two spaces before each "or". */
export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let out = `${msg} (e.g. `;
  examples.forEach((example, i) => {
    if (i > 0) out += ' or ';
    out += `'${example}', `;
  });
  return `${out}regex used for validation is '${fmt}')`;
}

/** RFC 1123 label: ≤63 chars, `[a-z0-9]([-a-z0-9]*[a-z0-9])?` (namespace names, node-local names). */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1123_LABEL_MAX_LENGTH));
  if (!DNS1123_LABEL_RE.test(value)) {
    if (DNS1123_SUBDOMAIN_RE.test(value)) {
      // A valid subdomain that is not a valid label can only be failing on dots.
      errs.push('must not contain dots');
    } else {
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          DNS1123_LABEL_FMT,
          'my-name',
          '123-abc',
        ),
      );
    }
  }
  return errs;
}

/** RFC 1123 subdomain: ≤253 chars, dot-separated labels (most object names). */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        'example.com',
      ),
    );
  }
  return errs;
}

/** RFC 1035 label: like a DNS-1123 label but must start with a letter (Service names). */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1123_LABEL_MAX_LENGTH));
  if (!DNS1035_LABEL_RE.test(value)) {
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        'my-name',
        'abc-123',
      ),
    );
  }
  return errs;
}

/**
 * A "qualified name" (label keys, annotation keys, finalizers): an optional DNS-1123 subdomain
 * prefix and '/', then a name of ≤63 chars matching `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
 */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((msg) => `prefix part ${msg}`));
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}` +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (byteLength(name) > DNS1123_LABEL_MAX_LENGTH) errs.push(`name part ${maxLenError(DNS1123_LABEL_MAX_LENGTH)}`);
  // Checked even when empty, as kube does: an empty name gets both messages.
  if (!QUALIFIED_NAME_RE.test(name)) {
    errs.push(`name part ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`);
  }
  return errs;
}

/** A label value: empty, or ≤63 chars matching the qualified-name charset. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1123_LABEL_MAX_LENGTH));
  if (!LABEL_VALUE_RE.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

/** A name usable as one URL/storage path segment: not `.`/`..`, no `/` or `%`. */
export function isValidPathSegmentName(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return isValidPathSegmentPrefix(name);
}

/** The prefix form of {@link isValidPathSegmentName}: any suffix may follow, so only contents count. */
export function isValidPathSegmentPrefix(name: string): string[] {
  const errs: string[] = [];
  for (const illegal of ['/', '%']) if (name.includes(illegal)) errs.push(`may not contain '${illegal}'`);
  return errs;
}

/**
 * A generateName may end in '-' (a suffix follows), so kube replaces a trailing dash before
 * checking. It drops two characters, not one — a long-standing quirk kept for identical results.
 */
function maskTrailingDash(name: string): string {
  return name.endsWith('-') ? `${name.slice(0, Math.max(0, name.length - 2))}a` : name;
}

/** Names that must be DNS-1123 subdomains: most kinds, custom resources included (kube's `NameIsDNSSubdomain`). */
export const nameIsDNSSubdomain: NameValidator = (name, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);

/** Names that must be DNS-1123 labels: Namespaces and other hostname-like names (`NameIsDNSLabel`). */
export const nameIsDNSLabel: NameValidator = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);

/** Names that must be DNS-1035 labels: Services (`NameIsDNS1035Label`). */
export const nameIsDNS1035Label: NameValidator = (name, prefix) => isDNS1035Label(prefix ? maskTrailingDash(name) : name);

/**
 * Names that need only be a safe path segment (kube's `ValidatePathSegmentName`, used by RBAC
 * kinds). Note that kube validates custom resource names as DNS subdomains, not with this.
 */
export const validatePathSegmentName: NameValidator = (name, prefix) =>
  prefix ? isValidPathSegmentPrefix(name) : isValidPathSegmentName(name);

/** Namespace names are DNS-1123 labels. */
export const validateNamespaceName: NameValidator = nameIsDNSLabel;

function invalidValue(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}

/** Go's `%#v` of a `[]string`, which kube prints for list-valued causes. */
export function goStringSlice(values: readonly string[] | undefined): string {
  return values === undefined ? '[]string(nil)' : goSliceText('string', values);
}

/** One label key (qualified name); every problem is its own cause on `path`. */
export function validateLabelName(name: string, path: string): FieldError[] {
  return isQualifiedName(name).map((msg) => invalidValue(path, name, msg));
}

/** `metadata.labels`: keys are qualified names, values label values; causes are on `path` itself. */
export function validateLabels(labels: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    errs.push(...validateLabelName(key, path));
    for (const msg of isValidLabelValue(String(value))) errs.push(invalidValue(path, value, msg));
  }
  return errs;
}

/**
 * `metadata.annotations`: keys are qualified names compared case-insensitively (lower-cased
 * before the check); keys and values together at most 256 KiB.
 */
export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let totalSize = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) {
    for (const msg of isQualifiedName(key.toLowerCase())) errs.push(invalidValue(path, key, msg));
    totalSize += byteLength(key) + byteLength(String(value));
  }
  if (totalSize > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) {
    errs.push({ type: 'FieldValueTooLong', field: path, detail: `may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes` });
  }
  return errs;
}

/** Group and version of an apiVersion; both '' when it is malformed (schema.ParseGroupVersion fails). */
function parseGroupVersion(apiVersion: string): { group: string; version: string } {
  if (apiVersion === '' || apiVersion === '/') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: apiVersion };
  if (parts.length === 2) return { group: parts[0]!, version: parts[1]! };
  return { group: '', version: '' };
}

/**
 * `metadata.ownerReferences`: apiVersion (with a version), kind, name and uid required; an Event
 * may not be an owner; at most one reference has `controller: true`. Like kube, causes name the
 * list's path without an index (`metadata.ownerReferences.uid`).
 */
export function validateOwnerReferences(refs: readonly OwnerReference[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const apiVersion = ref.apiVersion ?? '';
    const { group, version } = parseGroupVersion(apiVersion);
    if (version === '') errs.push(invalidValue(`${path}.apiVersion`, apiVersion, 'version must not be empty'));
    if (!ref.kind) errs.push(invalidValue(`${path}.kind`, ref.kind ?? '', 'must not be empty'));
    if (!ref.name) errs.push(invalidValue(`${path}.name`, ref.name ?? '', 'must not be empty'));
    if (!ref.uid) errs.push(invalidValue(`${path}.uid`, ref.uid ?? '', 'must not be empty'));
    // kube's BannedOwners: an Event is short-lived and must never hold other objects alive.
    if (group === '' && version === 'v1' && ref.kind === 'Event') {
      errs.push(invalidValue(path, ref, '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref.controller === true) {
      const current = `${ref.kind}/${ref.name}`;
      if (firstController !== '') {
        errs.push(
          invalidValue(
            path,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${current}`,
          ),
        );
      } else {
        firstController = current;
      }
    }
  }
  return errs;
}

/** One finalizer: a qualified name (kube only warns about unprefixed ones; so do we not). */
export function validateFinalizerName(finalizer: string, path: string): FieldError[] {
  return isQualifiedName(finalizer).map((msg) => invalidValue(path, finalizer, msg));
}

/** `metadata.finalizers`: qualified names; `orphan` and `foregroundDeletion` are exclusive. */
export function validateFinalizers(finalizers: readonly string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const finalizer of finalizers ?? []) errs.push(...validateFinalizerName(finalizer, path));
  if (finalizers?.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(invalidValue(path, finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function validateFieldManager(manager: string, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (byteLength(manager) > 128) errs.push({ type: 'FieldValueTooLong', field: path, detail: 'may not be more than 128 bytes' });
  let offset = 0;
  for (const ch of manager) {
    if (!PRINTABLE.test(ch)) {
      const code = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      errs.push(invalidValue(path, manager, `invalid character U+${code} (at position ${offset})`));
    }
    offset += byteLength(ch);
  }
  return errs;
}

/** `metadata.managedFields`: operation Apply/Update, fieldsType FieldsV1, a printable manager. */
export function validateManagedFields(entries: readonly ManagedFieldsEntry[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (entries ?? []).forEach((entry, i) => {
    const at = `${path}[${i}]`;
    if (entry.operation !== 'Apply' && entry.operation !== 'Update') {
      errs.push(invalidValue(`${at}.operation`, entry.operation ?? '', 'must be `Apply` or `Update`'));
    }
    if (entry.fieldsType && entry.fieldsType !== 'FieldsV1') {
      errs.push(invalidValue(`${at}.fieldsType`, entry.fieldsType, 'must be `FieldsV1`'));
    }
    errs.push(...validateFieldManager(entry.manager ?? '', `${at}.manager`));
    if (byteLength(entry.subresource ?? '') > 256) {
      errs.push({ type: 'FieldValueTooLong', field: `${at}.subresource`, detail: 'may not be more than 256 bytes' });
    }
  });
  return errs;
}

/** How {@link validateObjectMeta} treats one kind. */
export interface ObjectMetaValidationOptions {
  /** True for namespaced kinds: `namespace` is then required and must be a DNS label. */
  namespaced: boolean;
  /** How `name` and `generateName` are checked; default {@link nameIsDNSSubdomain}. */
  nameValidator?: NameValidator;
}

/**
 * Validates metadata on create (kube's ValidateObjectMeta). Unlike kube, which generates the
 * name before validating, `name` may be missing when `generateName` is set. A namespace on a
 * cluster-scoped kind is not an error here: the registry clears it first, as kube's BeforeCreate does.
 */
export function validateObjectMeta(meta: ObjectMeta | undefined, options: ObjectMetaValidationOptions, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const nameValidator = options.nameValidator ?? nameIsDNSSubdomain;
  const errs: FieldError[] = [];
  if (m.generateName) {
    for (const msg of nameValidator(m.generateName, true)) errs.push(invalidValue(`${path}.generateName`, m.generateName, msg));
  }
  if (!m.name) {
    if (!m.generateName) errs.push({ type: 'FieldValueRequired', field: `${path}.name`, detail: 'name or generateName is required' });
  } else {
    for (const msg of nameValidator(m.name, false)) errs.push(invalidValue(`${path}.name`, m.name, msg));
  }
  if (options.namespaced) {
    if (!m.namespace) errs.push({ type: 'FieldValueRequired', field: `${path}.namespace` });
    else for (const msg of validateNamespaceName(m.namespace, false)) errs.push(invalidValue(`${path}.namespace`, m.namespace, msg));
  }
  if (m.generation !== undefined && m.generation < 0) {
    errs.push(invalidValue(`${path}.generation`, m.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(m.labels, `${path}.labels`));
  errs.push(...validateAnnotations(m.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(m.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateFinalizers(m.finalizers, `${path}.finalizers`));
  errs.push(...validateManagedFields(m.managedFields, `${path}.managedFields`));
  return errs;
}

/** Semantic equality of two timestamps (absent and '' are both Go's zero time). */
function sameTime(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return !a && !b;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isNaN(ta) || Number.isNaN(tb) ? a === b : ta === tb;
}

/** One `field is immutable` cause when `same` is false; `value` is the new value. */
export function validateImmutableField(same: boolean, value: unknown, path: string): FieldError[] {
  return same ? [] : [invalidValue(path, value, FIELD_IMMUTABLE_MESSAGE)];
}

/** While an object is being deleted, finalizers may only be removed (kube's ValidateNoNewFinalizers). */
export function validateNoNewFinalizers(newFinalizers: readonly string[] | undefined, oldFinalizers: readonly string[] | undefined, path: string): FieldError[] {
  const old = new Set(oldFinalizers ?? []);
  const extra = [...new Set((newFinalizers ?? []).filter((f) => !old.has(f)))].sort();
  if (extra.length === 0) return [];
  return [
    {
      type: 'FieldValueForbidden',
      field: path,
      detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(extra)}`,
    },
  ];
}

/**
 * Validates metadata on update (kube's ValidateObjectMetaUpdate): resourceVersion present; no
 * new finalizers once deleting; generation never decreases; name, namespace, uid,
 * creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds immutable; labels,
 * annotations, ownerReferences and managedFields re-validated. Like kube, finalizer names are
 * not re-validated on update. The registry is expected to have copied server-owned fields from
 * the old object first (uid, creationTimestamp, an unconditional update's resourceVersion), as
 * kube's BeforeUpdate does.
 */
export function validateObjectMetaUpdate(newMeta: ObjectMeta | undefined, oldMeta: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const n = newMeta ?? {};
  const o = oldMeta ?? {};
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) errs.push(...validateNoNewFinalizers(n.finalizers, o.finalizers, `${path}.finalizers`));
  if (!n.resourceVersion) errs.push(invalidValue(`${path}.resourceVersion`, n.resourceVersion ?? '', 'must be specified for an update'));
  if ((n.generation ?? 0) < (o.generation ?? 0)) errs.push(invalidValue(`${path}.generation`, n.generation ?? 0, 'must not be decremented'));
  errs.push(...validateImmutableField((n.name ?? '') === (o.name ?? ''), n.name ?? '', `${path}.name`));
  errs.push(...validateImmutableField((n.namespace ?? '') === (o.namespace ?? ''), n.namespace ?? '', `${path}.namespace`));
  errs.push(...validateImmutableField((n.uid ?? '') === (o.uid ?? ''), n.uid ?? '', `${path}.uid`));
  errs.push(...validateImmutableField(sameTime(n.creationTimestamp, o.creationTimestamp), n.creationTimestamp, `${path}.creationTimestamp`));
  errs.push(...validateImmutableField(sameTime(n.deletionTimestamp, o.deletionTimestamp), n.deletionTimestamp, `${path}.deletionTimestamp`));
  errs.push(
    ...validateImmutableField(
      (n.deletionGracePeriodSeconds ?? undefined) === (o.deletionGracePeriodSeconds ?? undefined),
      n.deletionGracePeriodSeconds,
      `${path}.deletionGracePeriodSeconds`,
    ),
  );
  errs.push(...validateLabels(n.labels, `${path}.labels`));
  errs.push(...validateAnnotations(n.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(n.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateManagedFields(n.managedFields, `${path}.managedFields`));
  return errs;
}
