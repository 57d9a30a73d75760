/**
 * apiextensions.k8s.io/v1 types in Kubernetes' JSON shape: CustomResourceDefinition and the
 * structural OpenAPI v3 schema (JSONSchemaProps with the `x-kubernetes-*` extensions).
 */

/** Names under which a custom resource is served. */
export interface CustomResourceDefinitionNames {
  /** Lower-case plural, used in URLs: `/apis/<group>/<version>/<plural>`. */
  plural: string;
  /** Defaults to the lower-cased kind. */
  singular?: string;
  shortNames?: string[];
  /** CamelCase kind. */
  kind: string;
  /** Defaults to `<kind>List`. */
  listKind?: string;
  categories?: string[];
}

/** One CEL validation rule (`x-kubernetes-validations`). */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate' | string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** External documentation of a schema. */
export interface ExternalDocumentation {
  description?: string;
  url?: string;
}

/** A JSON Schema (OpenAPI v3 subset) describing a custom resource, as in a CRD version's schema. */
export interface JSONSchemaProps {
  id?: string;
  $schema?: string;
  $ref?: string;
  description?: string;
  /** `object`, `array`, `string`, `integer`, `number` or `boolean`. */
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | string;
  format?: string;
  title?: string;
  default?: unknown;
  maximum?: number;
  exclusiveMaximum?: boolean;
  minimum?: number;
  exclusiveMinimum?: boolean;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  maxItems?: number;
  minItems?: number;
  uniqueItems?: boolean;
  multipleOf?: number;
  enum?: unknown[];
  maxProperties?: number;
  minProperties?: number;
  required?: string[];
  items?: JSONSchemaProps | JSONSchemaProps[];
  allOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  anyOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  patternProperties?: Record<string, JSONSchemaProps>;
  dependencies?: Record<string, JSONSchemaProps | string[]>;
  additionalItems?: JSONSchemaProps | boolean;
  definitions?: Record<string, JSONSchemaProps>;
  externalDocs?: ExternalDocumentation;
  example?: unknown;
  nullable?: boolean;
  /** Keep fields not described by the schema instead of pruning them. */
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  /** The value is a full Kubernetes object (apiVersion, kind, metadata). */
  'x-kubernetes-embedded-resource'?: boolean;
  /** The value is an integer or a string. */
  'x-kubernetes-int-or-string'?: boolean;
  /** With `x-kubernetes-list-type: map`: the fields identifying an item. */
  'x-kubernetes-list-map-keys'?: string[];
  /** `atomic`, `set` or `map`. */
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map' | string;
  /** `granular` or `atomic`. */
  'x-kubernetes-map-type'?: 'granular' | 'atomic' | string;
  'x-kubernetes-validations'?: ValidationRule[];
}

/** The schema of one CRD version. */
export interface CustomResourceValidation {
  openAPIV3Schema?: JSONSchemaProps;
}

/** The scale subresource of a custom resource: JSON paths into the object. */
export interface CustomResourceSubresourceScale {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

/** Subresources served for a CRD version: `status` is an empty object when enabled. */
export interface CustomResourceSubresources {
  status?: Record<string, never>;
  scale?: CustomResourceSubresourceScale;
}

/** An extra column for `kubectl get`. */
export interface CustomResourceColumnDefinition {
  name: string;
  /** `integer`, `number`, `string`, `boolean` or `date`. */
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** A field usable in field selectors of the custom resource. */
export interface SelectableField {
  jsonPath: string;
}

/** One version of a CRD. */
export interface CustomResourceDefinitionVersion {
  name: string;
  served: boolean;
  /** Exactly one version is the storage version. */
  storage: boolean;
  deprecated?: boolean;
  deprecationWarning?: string;
  schema?: CustomResourceValidation;
  subresources?: CustomResourceSubresources;
  additionalPrinterColumns?: CustomResourceColumnDefinition[];
  selectableFields?: SelectableField[];
}

/** A reference to the Service of a conversion webhook. */
export interface ServiceReference {
  namespace: string;
  name: string;
  path?: string;
  /** Defaults to 443. */
  port?: number;
}

/** How to reach a conversion webhook: exactly one of `url` or `service`. */
export interface WebhookClientConfig {
  url?: string;
  service?: ServiceReference;
  /** Base64 PEM bundle. */
  caBundle?: string;
}

/** Conversion webhook settings. */
export interface WebhookConversion {
  clientConfig?: WebhookClientConfig;
  conversionReviewVersions: string[];
}

/** How objects are converted between versions. */
export interface CustomResourceConversion {
  /** `None` (default) or `Webhook`. */
  strategy: 'None' | 'Webhook' | string;
  webhook?: WebhookConversion;
}

/** The desired state of a CustomResourceDefinition. */
export interface CustomResourceDefinitionSpec {
  /** Must contain a dot, e.g. `keelson.dev`. */
  group: string;
  names: CustomResourceDefinitionNames;
  scope: 'Namespaced' | 'Cluster' | string;
  versions: CustomResourceDefinitionVersion[];
  conversion?: CustomResourceConversion;
  /** Must be false (or absent) for apiextensions.k8s.io/v1. */
  preserveUnknownFields?: boolean;
}

/** A condition of a CRD (`Established`, `NamesAccepted`, `Terminating`, …). */
export interface CustomResourceDefinitionCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** The observed state of a CustomResourceDefinition. */
export interface CustomResourceDefinitionStatus {
  conditions?: CustomResourceDefinitionCondition[];
  acceptedNames?: CustomResourceDefinitionNames;
  /** Every version ever used as storage version (defaults to the current storage version). */
  storedVersions?: string[];
}
