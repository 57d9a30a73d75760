/**
 * Validation of the small kinds: ConfigMap and Secret (keys, size, immutability, Secret types),
 * Namespace (finalizers, status phase), Event (kube's legacy v1 rules), Endpoints (subsets) and
 * Lease (durations and strategy).
 */
import type { FieldError } from '../errors.js';
import type { ConfigMap, Endpoints, Event, Lease, Namespace, Secret } from '../kinds.js';
import type { EndpointAddress } from '../types/core.js';
import { isQualifiedName, nameIsDNSSubdomain, validateFinalizerName, validateImmutableField } from '../validation.js';
import { child, forbidden, index, invalid, invalidEach, key, mapEqual, notSupported, required, tooLong } from './field.js';
import { PORT_PROTOCOLS } from './container.js';
import { isConfigMapKey, isDNS1123Subdomain, isValidPortNum, validateDNS1123Label, validateIP, validateNonSpecialIP, validateQualifiedName } from './formats.js';

/** Max total size of a ConfigMap's or Secret's data (kube's MaxSecretSize, 1 MiB). */
export const MAX_DATA_SIZE = 1024 * 1024;
const IMMUTABLE_MESSAGE = 'field is immutable when `immutable` is set';
const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/**
 * Where Go's base64 decoder would fail on `value` (its CorruptInputError offset), or -1 when it
 * decodes. Secret `data` and ConfigMap `binaryData` are `[]byte`, base64 in JSON.
 */
export function base64ErrorOffset(value: string): number {
  const text = value.replace(/[\r\n]/g, '');
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const pad = text.indexOf('=');
  if (pad >= 0) {
    if (!/^={1,2}$/.test(text.slice(pad)) || text.length % 4 !== 0) return pad;
    return -1;
  }
  return text.length % 4 === 0 ? -1 : text.length - (text.length % 4);
}

function decodedSize(value: string): number {
  return Buffer.from(value, 'base64').length;
}

function validateBase64Values(data: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, value] of Object.entries(data ?? {})) {
    const offset = base64ErrorOffset(String(value));
    if (offset >= 0) errs.push(invalid(key(path, k), '<secret contents redacted>', `illegal base64 data at input byte ${offset}`));
  }
  return errs;
}

/** A ConfigMap (create and update). */
export function validateConfigMap(cm: ConfigMap): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, value] of Object.entries(cm.data ?? {})) {
    errs.push(...invalidEach(key('data', k), k, isConfigMapKey(k)));
    if (cm.binaryData && k in cm.binaryData) errs.push(invalid(key('data', k), k, 'duplicate of key present in binaryData'));
    size += Buffer.byteLength(String(value));
  }
  for (const [k, value] of Object.entries(cm.binaryData ?? {})) {
    errs.push(...invalidEach(key('binaryData', k), k, isConfigMapKey(k)));
    size += decodedSize(String(value));
  }
  errs.push(...validateBase64Values(cm.binaryData, 'binaryData'));
  if (size > MAX_DATA_SIZE) errs.push(tooLong('', MAX_DATA_SIZE));
  return errs;
}

/** A ConfigMap update: an immutable ConfigMap keeps its data, binaryData and `immutable: true`. */
export function validateConfigMapUpdate(cm: ConfigMap, old: ConfigMap): FieldError[] {
  const errs: FieldError[] = [];
  if (old.immutable) {
    if (!cm.immutable) errs.push(forbidden('immutable', IMMUTABLE_MESSAGE));
    if (!mapEqual(cm.data, old.data)) errs.push(forbidden('data', IMMUTABLE_MESSAGE));
    if (!mapEqual(cm.binaryData, old.binaryData)) errs.push(forbidden('binaryData', IMMUTABLE_MESSAGE));
  }
  return [...errs, ...validateConfigMap(cm)];
}

/** A Secret (create and update); `stringData` is expected to have been merged into `data` already. */
export function validateSecret(secret: Secret): FieldError[] {
  const data = secret.data ?? {};
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, value] of Object.entries(data)) {
    errs.push(...invalidEach(key('data', k), k, isConfigMapKey(k)));
    size += decodedSize(String(value));
  }
  errs.push(...validateBase64Values(data, 'data'));
  if (size > MAX_DATA_SIZE) errs.push(tooLong('data', MAX_DATA_SIZE));
  const has = (k: string) => data[k] !== undefined;
  switch (secret.type ?? '') {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const k = secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!has(k)) errs.push(required(key('data', k)));
      else if (!isJsonObject(Buffer.from(String(data[k]), 'base64').toString('utf8'))) {
        errs.push(invalid(key('data', k), '<secret contents redacted>', 'invalid character in JSON'));
      }
      break;
    }
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) errs.push(required('data[username]'), required('data[password]'));
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) errs.push(required('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(required('data[tls.crt]'));
      if (!has('tls.key')) errs.push(required('data[tls.key]'));
      break;
    default:
  }
  return errs;
}

function isJsonObject(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** A Secret update: the type is fixed; an immutable Secret keeps its data and `immutable: true`. */
export function validateSecretUpdate(secret: Secret, old: Secret): FieldError[] {
  const errs = validateImmutableField((secret.type ?? '') === (old.type ?? ''), secret.type ?? '', 'type');
  if (old.immutable) {
    if (!secret.immutable) errs.push(forbidden('immutable', IMMUTABLE_MESSAGE));
    if (!mapEqual(secret.data, old.data)) errs.push(forbidden('data', IMMUTABLE_MESSAGE));
  }
  return [...errs, ...validateSecret(secret)];
}

/** A Namespace's spec: each finalizer a qualified name, standard or fully qualified (reported on `spec.finalizers`, as kube does). */
export function validateNamespace(ns: Namespace): FieldError[] {
  const errs: FieldError[] = [];
  for (const finalizer of ns.spec?.finalizers ?? []) {
    errs.push(...validateFinalizerName(finalizer, 'spec.finalizers'));
    if (!finalizer.includes('/') && !STANDARD_FINALIZERS.has(finalizer)) {
      errs.push(invalid('spec.finalizers', finalizer, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  }
  return errs;
}

/** A Namespace `/status` update: `Active` unless deleting, then `Terminating` (kube reports `status.Phase`). */
export function validateNamespaceStatus(ns: Namespace): FieldError[] {
  const phase = ns.status?.phase ?? '';
  if (!ns.metadata?.deletionTimestamp) {
    return phase === 'Active' ? [] : [invalid('status.Phase', phase, "may only be 'Active' if `deletionTimestamp` is empty")];
  }
  return phase === 'Terminating' ? [] : [invalid('status.Phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")];
}

/** An Event created or updated through core/v1 (kube's legacyValidateEvent). */
export function validateEvent(event: Event): FieldError[] {
  const errs: FieldError[] = [];
  const namespace = event.metadata?.namespace ?? '';
  const involvedNamespace = event.involvedObject?.namespace ?? '';
  const mismatch = () => invalid('involvedObject.namespace', involvedNamespace, 'does not match event.namespace');
  if (!event.eventTime) {
    if (!involvedNamespace ? namespace !== '' && namespace !== 'default' : namespace !== involvedNamespace) errs.push(mismatch());
  } else {
    if (!involvedNamespace && namespace !== 'default' && namespace !== 'kube-system') errs.push(mismatch());
    const controller = event.reportingComponent ?? '';
    if (!controller) errs.push(required('reportingController'));
    errs.push(...invalidEach('reportingController', controller, isQualifiedName(controller)));
    const limited = [
      ['reportingInstance', event.reportingInstance],
      ['action', event.action],
      ['reason', event.reason],
    ] as const;
    for (const [field, value] of limited) {
      if (!value) errs.push(required(field));
      if ((value ?? '').length > 128) errs.push(invalid(field, '', 'can have at most 128 characters'));
    }
    if ((event.message ?? '').length > 1024) errs.push(invalid('message', '', 'can have at most 1024 characters'));
  }
  errs.push(...invalidEach('namespace', namespace, isDNS1123Subdomain(namespace)));
  return errs;
}

function validateEndpointAddress(address: EndpointAddress, path: string): FieldError[] {
  const errs = validateIP(address.ip ?? '', child(path, 'ip'));
  if (address.hostname) errs.push(...validateDNS1123Label(address.hostname, child(path, 'hostname')));
  if (address.nodeName !== undefined) errs.push(...invalidEach(child(path, 'nodeName'), address.nodeName, nameIsDNSSubdomain(address.nodeName, false)));
  errs.push(...validateNonSpecialIP(address.ip ?? '', child(path, 'ip')));
  return errs;
}

/** Endpoints (create and update): every subset has addresses; ports named when several. */
export function validateEndpoints(endpoints: Endpoints): FieldError[] {
  const errs: FieldError[] = [];
  (endpoints.subsets ?? []).forEach((subset, i) => {
    const p = index('subsets', i);
    if (!subset.addresses?.length && !subset.notReadyAddresses?.length) errs.push(required(p, 'must specify `addresses` or `notReadyAddresses`'));
    (subset.addresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'addresses'), j))));
    (subset.notReadyAddresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'notReadyAddresses'), j))));
    const ports = subset.ports ?? [];
    ports.forEach((port, j) => {
      const pp = index(child(p, 'ports'), j);
      if (ports.length > 1 && !port.name) errs.push(required(child(pp, 'name')));
      else if (port.name) errs.push(...validateDNS1123Label(port.name, child(pp, 'name')));
      errs.push(...invalidEach(child(pp, 'port'), port.port ?? 0, isValidPortNum(port.port ?? 0)));
      if (!port.protocol) errs.push(required(child(pp, 'protocol')));
      else if (!(PORT_PROTOCOLS as readonly string[]).includes(port.protocol)) errs.push(notSupported(child(pp, 'protocol'), port.protocol, PORT_PROTOCOLS));
      if (port.appProtocol !== undefined) errs.push(...validateQualifiedName(port.appProtocol, child(pp, 'appProtocol')));
    });
  });
  return errs;
}

/** A Lease's spec (create and update). */
export function validateLease(lease: Lease): FieldError[] {
  const spec = lease.spec ?? {};
  const errs: FieldError[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    errs.push(invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    errs.push(invalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
  }
  if (spec.strategy !== undefined) {
    // kube appends `strategy` to a path that already ends in it.
    if (!spec.strategy.includes('/')) {
      if (spec.strategy !== 'OldestEmulationVersion') errs.push(notSupported('spec.strategy.strategy', spec.strategy, ['OldestEmulationVersion']));
    } else {
      errs.push(...validateQualifiedName(spec.strategy, 'spec.strategy.strategy'));
    }
  }
  if (spec.preferredHolder && !spec.strategy) errs.push(forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  return errs;
}
