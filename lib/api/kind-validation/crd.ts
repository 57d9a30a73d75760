/**
 * CustomResourceDefinition validation (apiextensions.k8s.io/v1): group, scope, names, versions
 * (exactly one storage version, a structural schema each), printer columns, conversion, stored
 * versions; on update, group and plural fixed (scope and kind too once established) — the rules
 * of apiextensions-apiserver's validation.go that keelson serves. Paths are those of the internal
 * type, as kube reports them (`spec.conversion.webhookClientConfig`, `…additionalPrinterColumns[0].JSONPath`).
 */
import type { FieldError } from '../errors.js';
import type { CustomResourceDefinition } from '../kinds.js';
import type { CustomResourceDefinitionNames, CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, JSONSchemaProps } from '../types/apiextensions.js';
import { isDNS1035Label, isDNS1123Subdomain, nameIsDNSSubdomain, validateImmutableField, type NameValidator } from '../validation.js';
import { child, forbidden, index, invalid, key, notSupported, required } from './field.js';

const PRINTER_COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];
const PRINTER_COLUMN_FORMATS = ['byte', 'date', 'date-time', 'double', 'float', 'int32', 'int64', 'password'];
const OPENAPI_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const CONVERSION_REVIEW_VERSIONS = ['v1', 'v1beta1'];

/** A CRD's name must be `<spec.names.plural>.<spec.group>` (kube's CRD name validator). */
export function crdNameValidator(crd: CustomResourceDefinition): NameValidator {
  return (name, prefix) => {
    const errs = nameIsDNSSubdomain(name, prefix);
    if (name !== `${crd.spec?.names?.plural ?? ''}.${crd.spec?.group ?? ''}`) errs.push('must be spec.names.plural+"."+spec.group');
    return errs;
  };
}

function dns1035(value: string, path: string, prefix = ''): FieldError[] {
  const errs = isDNS1035Label(value);
  return errs.length > 0 ? [invalid(path, value, prefix + errs.join(','))] : [];
}

/** kube's ValidateCustomResourceDefinitionNames (spec.names and status.acceptedNames). */
export function validateNames(names: Partial<CustomResourceDefinitionNames> | undefined, path: string): FieldError[] {
  const n = names ?? {};
  const errs: FieldError[] = [];
  if (n.plural) errs.push(...dns1035(n.plural, child(path, 'plural')));
  if (n.singular) errs.push(...dns1035(n.singular, child(path, 'singular')));
  for (const field of ['kind', 'listKind'] as const) {
    const value = n[field];
    const msgs = value ? isDNS1035Label(value.toLowerCase()) : [];
    if (msgs.length > 0) errs.push(invalid(child(path, field), value, `may have mixed case, but should otherwise match: ${msgs.join(',')}`));
  }
  (n.shortNames ?? []).forEach((s, i) => errs.push(...dns1035(s, index(child(path, 'shortNames'), i))));
  if (n.kind && n.kind === n.listKind) errs.push(invalid(child(path, 'listKind'), n.listKind, 'kind and listKind may not be the same'));
  (n.categories ?? []).forEach((c, i) => errs.push(...dns1035(c, index(child(path, 'categories'), i))));
  return errs;
}

type Level = 'root' | 'item' | 'field';

/** The structural-schema rules kube enforces on every v1 CRD schema (a subset: types, items, root). */
function validateSchema(schema: JSONSchemaProps, path: string, level: Level): FieldError[] {
  const errs: FieldError[] = [];
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true || schema['x-kubernetes-int-or-string'] === true;
  if (schema['x-kubernetes-embedded-resource'] && schema.type !== 'object') {
    const detail = 'must be object if x-kubernetes-embedded-resource is true';
    errs.push(schema.type ? invalid(child(path, 'type'), schema.type, detail) : required(child(path, 'type'), detail));
  } else if (!schema.type && !preserve) {
    const where = { root: 'at the root', item: 'for specified array items', field: 'for specified object fields' }[level];
    errs.push(required(child(path, 'type'), `must not be empty ${where}`));
  }
  if (level === 'root' && schema.type && schema.type !== 'object') errs.push(invalid(child(path, 'type'), schema.type, 'must be object at the root'));
  if (schema.type === 'array' && schema.items === undefined) errs.push(required(child(path, 'items'), 'must be specified'));
  if (schema.type && !OPENAPI_TYPES.includes(schema.type)) errs.push(notSupported(child(path, 'type'), schema.type, OPENAPI_TYPES));
  if (schema.uniqueItems) errs.push(forbidden(child(path, 'uniqueItems'), 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));
  if (level === 'root' && schema.nullable) errs.push(forbidden(`${path}.nullable`, 'nullable cannot be true at the root'));
  const additional = schema.additionalProperties;
  if (additional !== undefined && Object.keys(schema.properties ?? {}).length > 0 && (additional === false || typeof additional === 'object')) {
    errs.push(forbidden(child(path, 'additionalProperties'), 'additionalProperties and properties are mutual exclusive'));
  }
  if (typeof additional === 'object') errs.push(...validateSchema(additional, child(path, 'additionalProperties'), 'field'));
  for (const [name, prop] of Object.entries(schema.properties ?? {})) errs.push(...validateSchema(prop, key(child(path, 'properties'), name), 'field'));
  if (schema.items && !Array.isArray(schema.items)) errs.push(...validateSchema(schema.items, child(path, 'items'), 'item'));
  return errs;
}

function validateVersion(version: CustomResourceDefinitionVersion, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!version.deprecated && version.deprecationWarning !== undefined) {
    errs.push(invalid(child(path, 'deprecationWarning'), version.deprecationWarning, 'can only be set for deprecated versions'));
  }
  const schema = version.schema?.openAPIV3Schema;
  if (schema) errs.push(...validateSchema(schema, child(path, 'schema', 'openAPIV3Schema'), 'root'));
  (version.additionalPrinterColumns ?? []).forEach((col, i) => {
    const p = index(child(path, 'additionalPrinterColumns'), i);
    if (!col.name) errs.push(required(child(p, 'name')));
    const types = `must be one of ${PRINTER_COLUMN_TYPES.join(',')}`;
    if (!col.type) errs.push(required(child(p, 'type'), types));
    else if (!PRINTER_COLUMN_TYPES.includes(col.type)) errs.push(invalid(child(p, 'type'), col.type, types));
    if (col.format && !PRINTER_COLUMN_FORMATS.includes(col.format)) {
      errs.push(invalid(child(p, 'format'), col.format, `must be one of ${PRINTER_COLUMN_FORMATS.join(',')}`));
    }
    if (!col.jsonPath) errs.push(required(child(p, 'JSONPath')));
  });
  return errs;
}

function validateSpec(spec: Partial<CustomResourceDefinitionSpec>): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec.group) errs.push(required('spec.group'));
  else if (isDNS1123Subdomain(spec.group).length > 0) errs.push(invalid('spec.group', spec.group, isDNS1123Subdomain(spec.group).join(',')));
  else if (spec.group.split('.').length < 2) errs.push(invalid('spec.group', spec.group, 'should be a domain with at least one dot'));
  if (!spec.scope) errs.push(required('spec.scope'));
  else if (spec.scope !== 'Cluster' && spec.scope !== 'Namespaced') errs.push(notSupported('spec.scope', spec.scope, ['Cluster', 'Namespaced']));
  const versions = spec.versions ?? [];
  versions.forEach((v, i) => {
    if (!v.schema?.openAPIV3Schema) errs.push(required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
  });
  const seen = new Set<string>();
  let unique = true;
  versions.forEach((v, i) => {
    if (seen.has(v.name)) unique = false;
    seen.add(v.name);
    errs.push(...dns1035(v.name ?? '', child(index('spec.versions', i), 'name')));
    errs.push(...validateVersion(v, index('spec.versions', i)));
  });
  if (!unique) errs.push(invalid('spec.versions', versions, 'must contain unique version names'));
  if (versions.filter((v) => v.storage).length !== 1) errs.push(invalid('spec.versions', versions, 'must have exactly one version marked as storage version'));
  for (const name of ['plural', 'singular', 'kind', 'listKind'] as const) if (!spec.names?.[name]) errs.push(required(`spec.names.${name}`));
  errs.push(...validateNames(spec.names, 'spec.names'));
  const conversion = spec.conversion;
  if (conversion) {
    if (!conversion.strategy) errs.push(required('spec.conversion.strategy'));
    else if (conversion.strategy !== 'None' && conversion.strategy !== 'Webhook') {
      errs.push(notSupported('spec.conversion.strategy', conversion.strategy, ['None', 'Webhook']));
    }
    const config = conversion.webhook?.clientConfig;
    if (conversion.strategy === 'Webhook') {
      if (!config) errs.push(required('spec.conversion.webhookClientConfig', 'required when strategy is set to Webhook'));
      else if ((config.url === undefined) === (config.service === undefined)) {
        errs.push(required('spec.conversion.webhookClientConfig', 'exactly one of url or service is required'));
      }
      const reviews = conversion.webhook?.conversionReviewVersions ?? [];
      if (reviews.length === 0) errs.push(required('spec.conversion.conversionReviewVersions'));
      else if (!reviews.some((v) => CONVERSION_REVIEW_VERSIONS.includes(v))) {
        errs.push(invalid('spec.conversion.conversionReviewVersions', reviews, `must include at least one of ${CONVERSION_REVIEW_VERSIONS.join(', ')}`));
      }
    } else if (config) {
      errs.push(forbidden('spec.conversion.webhookClientConfig', 'should not be set when strategy is not set to Webhook'));
    }
  }
  if (spec.preserveUnknownFields === true) {
    const why = 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead';
    errs.push(invalid('spec.preserveUnknownFields', true, why));
  }
  return errs;
}

/**
 * `status.storedVersions` as kube's CRD strategy leaves it before validating: on create, just the
 * storage version (a client-supplied status is dropped); on update, the old list (status is a
 * subresource) plus the current storage version when it is new.
 */
function storedVersionsAfterPrepare(crd: CustomResourceDefinition, old?: CustomResourceDefinition): string[] {
  const stored = [...(old?.status?.storedVersions ?? [])];
  const storage = (crd.spec?.versions ?? []).find((v) => v.storage);
  if (storage && !stored.includes(storage.name)) stored.push(storage.name);
  return stored;
}

function validateStatus(crd: CustomResourceDefinition, old?: CustomResourceDefinition): FieldError[] {
  const errs = validateNames(crd.status?.acceptedNames, 'status.acceptedNames');
  const stored = storedVersionsAfterPrepare(crd, old);
  if (stored.length === 0) return [...errs, invalid('status.storedVersions', stored, 'must have at least one stored version')];
  const remaining = new Map(stored.map((v, i) => [v, i]));
  for (const v of crd.spec?.versions ?? []) {
    if (v.storage && !remaining.has(v.name)) errs.push(invalid('status.storedVersions', stored, `must have the storage version ${v.name}`));
    remaining.delete(v.name);
  }
  for (const [v, i] of remaining) {
    const why =
      `missing from spec.versions; ${v} was previously a storage version, and must remain in spec.versions until a storage ` +
      `migration ensures no data remains persisted in ${v} and removes ${v} from status.storedVersions`;
    errs.push(invalid(index('status.storedVersions', i), v, why));
  }
  return errs;
}

/** A new CRD (metadata excluded; see {@link crdNameValidator} for its name rule). */
export function validateCRD(crd: CustomResourceDefinition): FieldError[] {
  return [...validateSpec(crd.spec ?? {}), ...validateStatus(crd)];
}

/** A CRD update: group and plural never change; scope and kind not once the CRD is established. */
export function validateCRDUpdate(crd: CustomResourceDefinition, old: CustomResourceDefinition): FieldError[] {
  const spec = crd.spec ?? ({} as Partial<CustomResourceDefinitionSpec>);
  const prev = old.spec ?? ({} as Partial<CustomResourceDefinitionSpec>);
  const errs = validateSpec(spec);
  const established = (old.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
  if (established) {
    errs.push(...validateImmutableField((spec.scope ?? '') === (prev.scope ?? ''), spec.scope ?? '', 'spec.scope'));
    errs.push(...validateImmutableField((spec.names?.kind ?? '') === (prev.names?.kind ?? ''), spec.names?.kind ?? '', 'spec.names.kind'));
  }
  errs.push(...validateImmutableField((spec.group ?? '') === (prev.group ?? ''), spec.group ?? '', 'spec.group'));
  errs.push(...validateImmutableField((spec.names?.plural ?? '') === (prev.names?.plural ?? ''), spec.names?.plural ?? '', 'spec.names.plural'));
  return [...errs, ...validateStatus(crd, old)];
}

/** A CRD `/status` update: accepted names well-formed. */
export function validateCRDStatus(crd: CustomResourceDefinition): FieldError[] {
  return validateNames(crd.status?.acceptedNames, 'status.acceptedNames');
}
