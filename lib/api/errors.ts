/**
 * Errors as values: every failure in keelson, in-process or over HTTP, is an {@link ApiError}
 * carrying a Kubernetes `Status` — the same `code`, `reason`, `message` and `details` a real
 * kube-apiserver would send for the same request. The constructors below mirror
 * k8s.io/apimachinery/pkg/api/errors, so messages read exactly as kubectl users know them.
 */

/** One field-level cause of an `Invalid` (422) error, as in `Status.details.causes`. */
export interface StatusCause {
  /** Machine-readable cause, e.g. `FieldValueInvalid`, `FieldValueRequired`. */
  reason?: CauseType | string;
  /** Human-readable description of the cause. */
  message?: string;
  /** JSON-path-like field name, e.g. `metadata.labels` or `spec.containers[0].name`. */
  field?: string;
}

/** `Status.details`: which object the error is about, plus field causes. */
export interface StatusDetails {
  name?: string;
  group?: string;
  /** For NotFound/AlreadyExists/Conflict this is the resource (plural); for Invalid the kind. */
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A Kubernetes `meta/v1 Status`. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { resourceVersion?: string; continue?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: StatusReason | string;
  details?: StatusDetails;
  code: number;
}

/** The `reason` values of k8s.io/apimachinery's StatusReason that keelson produces. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'ServerTimeout'
  | 'Timeout'
  | 'TooManyRequests'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'Expired'
  | 'ServiceUnavailable';

/** Field cause types (k8s.io/apimachinery/pkg/util/validation/field ErrorType). */
export type CauseType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid'
  | 'InternalError';

/**
 * The one error class of keelson's API. `status` is the full Kubernetes Status; `code`,
 * `reason` and `details` are shortcuts to its fields.
 */
export class ApiError extends Error {
  /** The Kubernetes Status this error carries, ready to be sent as a response body. */
  readonly status: Status;

  constructor(status: Omit<Status, 'kind' | 'apiVersion' | 'metadata' | 'status'> & Partial<Status>) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'ApiError';
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: status.metadata ?? {},
      status: 'Failure',
      ...(status.message !== undefined ? { message: status.message } : {}),
      ...(status.reason !== undefined ? { reason: status.reason } : {}),
      ...(status.details !== undefined ? { details: status.details } : {}),
      code: status.code,
    };
  }

  /** HTTP status code, e.g. 404. */
  get code(): number {
    return this.status.code;
  }

  /** Kubernetes reason, e.g. `NotFound`. */
  get reason(): string | undefined {
    return this.status.reason;
  }

  /** Status details (name, kind, field causes). */
  get details(): StatusDetails | undefined {
    return this.status.details;
  }

  /** Rebuilds an ApiError from a Status received from elsewhere (e.g. over HTTP). */
  static fromStatus(status: Partial<Status> & { code?: number }, fallbackCode = 500): ApiError {
    return new ApiError({ ...status, code: status.code ?? fallbackCode } as Status);
  }
}

/** Identifies a resource in error messages: plural `resource` and API `group` ('' for core). */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function details(gr: GroupResource, name: string | undefined, extra?: Partial<StatusDetails>): StatusDetails {
  return {
    ...(name !== undefined && name !== '' ? { name } : {}),
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
    ...extra,
  };
}

/** 404 NotFound: `pods "web" not found`. */
export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 404,
    reason: 'NotFound',
    message: `${qualified(gr)} "${name}" not found`,
    details: details(gr, name),
  });
}

/** 409 AlreadyExists: `pods "web" already exists`. */
export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 409,
    reason: 'AlreadyExists',
    message: `${qualified(gr)} "${name}" already exists`,
    details: details(gr, name),
  });
}

/** The message kube-apiserver gives for a stale resourceVersion. */
export const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 409 Conflict: `Operation cannot be fulfilled on pods "web": <why>`. */
export function conflict(gr: GroupResource, name: string, why: string = OPTIMISTIC_LOCK_MESSAGE): ApiError {
  return new ApiError({
    code: 409,
    reason: 'Conflict',
    message: `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`,
    details: details(gr, name),
  });
}

/** A field error before it is folded into an Invalid Status (field.Error in kube). */
export interface FieldError {
  type: CauseType;
  field: string;
  /** The offending value, if the error is about a value (rendered into the message). */
  value?: unknown;
  /** Why the value is wrong. */
  detail?: string;
  /** For NotSupported: the allowed values. */
  supported?: readonly string[];
}

/**
 * A value rendered as Go's `%#v` prints it — what kube's field errors show for a typed Go value
 * such as a `[]string` (`[]string{"10.0.0.1"}`), which JSON would print differently.
 */
export class GoValue {
  constructor(
    /** The text, as Go prints it. */
    readonly text: string,
  ) {}
}

/** Go's `%#v` of a slice of strings of type `[]<type>`: `[]string{"a", "b"}`. */
export function goSliceText(type: string, values: readonly string[]): string {
  return `[]${type}{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
}

function renderValue(value: unknown): string {
  if (value instanceof GoValue) return value.text;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'null';
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** Renders one field error's text the way k8s.io/apimachinery's field.Error.ErrorBody does. */
export function fieldErrorBody(e: FieldError): string {
  const withDetail = (s: string) => (e.detail ? `${s}: ${e.detail}` : s);
  switch (e.type) {
    case 'FieldValueRequired':
      return withDetail('Required value');
    case 'FieldValueForbidden':
      return withDetail('Forbidden');
    case 'FieldValueTooLong':
      return withDetail('Too long');
    case 'FieldValueTooMany':
      return withDetail('Too many');
    case 'FieldValueNotFound':
      return withDetail(`Not found: ${renderValue(e.value)}`);
    case 'FieldValueDuplicate':
      return withDetail(`Duplicate value: ${renderValue(e.value)}`);
    case 'FieldValueNotSupported': {
      const supported = e.supported?.length ? `: supported values: ${e.supported.map((s) => `"${s}"`).join(', ')}` : '';
      return `Unsupported value: ${renderValue(e.value)}${supported}`;
    }
    case 'FieldValueTypeInvalid':
      return withDetail(`Invalid value: ${renderValue(e.value)}`);
    case 'InternalError':
      return withDetail('Internal error');
    case 'FieldValueInvalid':
    default:
      return withDetail(`Invalid value: ${renderValue(e.value)}`);
  }
}

/**
 * 422 Invalid: `Pod "web" is invalid: metadata.name: Invalid value: "Web": …`, with one
 * `details.causes` entry per field error. `kind` is the object's kind (not the resource).
 */
export function invalid(kind: string, group: string, name: string, errors: readonly FieldError[]): ApiError {
  const texts = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const joined = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return new ApiError({
    code: 422,
    reason: 'Invalid',
    message: `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${joined}`,
    details: {
      ...(name ? { name } : {}),
      ...(group ? { group } : {}),
      kind,
      causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
    },
  });
}

/** 400 BadRequest with a free-form message. */
export function badRequest(message: string, causes?: StatusCause[]): ApiError {
  return new ApiError({ code: 400, reason: 'BadRequest', message, ...(causes ? { details: { causes } } : {}) });
}

/** 410 Expired: a resourceVersion or continue token older than the compacted history. */
export function expired(message: string): ApiError {
  return new ApiError({ code: 410, reason: 'Expired', message });
}

/** 410 Gone (kube uses it for some too-old watch/list cases). */
export function gone(message: string): ApiError {
  return new ApiError({ code: 410, reason: 'Gone', message });
}

/** 413 RequestEntityTooLarge. */
export function tooLarge(message: string): ApiError {
  return new ApiError({ code: 413, reason: 'RequestEntityTooLarge', message });
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(message: string): ApiError {
  return new ApiError({ code: 405, reason: 'MethodNotAllowed', message });
}

/** 415 UnsupportedMediaType. */
export function unsupportedMediaType(contentType: string, supported: readonly string[]): ApiError {
  return new ApiError({
    code: 415,
    reason: 'UnsupportedMediaType',
    message: `the body of the request was in an unknown format - accepted media types include: ${supported.join(', ')}`,
    details: { causes: [{ reason: 'UnexpectedServerResponse', message: contentType }] },
  });
}

/** 403 Forbidden (e.g. creating in a terminating namespace). */
export function forbidden(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError({
    code: 403,
    reason: 'Forbidden',
    message: `${qualified(gr)} "${name}" is forbidden: ${why}`,
    details: details(gr, name),
  });
}

/** 504 Timeout, e.g. "Too large resource version". */
export function timeout(message: string, retryAfterSeconds?: number): ApiError {
  return new ApiError({
    code: 504,
    reason: 'Timeout',
    message,
    ...(retryAfterSeconds !== undefined ? { details: { retryAfterSeconds } } : {}),
  });
}

/** 500 InternalError wrapping an unexpected failure. */
export function internalError(err: unknown): ApiError {
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError({
    code: 500,
    reason: 'InternalError',
    message: `Internal error occurred: ${message}`,
    details: { causes: [{ message }] },
  });
}

/** Turns anything thrown into an ApiError (ApiErrors pass through unchanged). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isStatusLike(err)) return ApiError.fromStatus(err.status as Status);
  return internalError(err);
}

function isStatusLike(err: unknown): err is { status: Partial<Status> } {
  if (typeof err !== 'object' || err === null) return false;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'object' && status !== null && (status as { kind?: unknown }).kind === 'Status';
}

function reasonOf(err: unknown): string | undefined {
  if (err instanceof ApiError) return err.reason;
  if (isStatusLike(err)) return err.status.reason;
  return undefined;
}

function codeOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.code;
  if (isStatusLike(err)) return err.status.code;
  return undefined;
}

/** True for 404 NotFound. */
export function isNotFound(err: unknown): boolean {
  return reasonOf(err) === 'NotFound' || (reasonOf(err) === undefined && codeOf(err) === 404);
}

/**
 * Turns a 404 into `undefined` and rethrows anything else — controller-runtime's
 * `client.IgnoreNotFound`, for promise chains:
 * `const pod = await client.get(Pod, name, { namespace }).catch(ignoreNotFound);`
 */
export function ignoreNotFound(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}

/** True for 409 Conflict (stale resourceVersion, failed precondition). */
export function isConflict(err: unknown): boolean {
  return reasonOf(err) === 'Conflict';
}

/** True for 409 AlreadyExists. */
export function isAlreadyExists(err: unknown): boolean {
  return reasonOf(err) === 'AlreadyExists';
}

/** True for 422 Invalid. */
export function isInvalid(err: unknown): boolean {
  return reasonOf(err) === 'Invalid';
}

/** True for 410 Expired or Gone: the resourceVersion or continue token is too old; relist. */
export function isExpired(err: unknown): boolean {
  const reason = reasonOf(err);
  return reason === 'Expired' || reason === 'Gone' || codeOf(err) === 410;
}

/** True for 400 BadRequest. */
export function isBadRequest(err: unknown): boolean {
  return reasonOf(err) === 'BadRequest';
}
