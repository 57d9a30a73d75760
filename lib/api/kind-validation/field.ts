/**
 * Field paths and field-error constructors, mirroring k8s.io/apimachinery's `field` package: a
 * path prints as `spec.containers[0].ports[1].containerPort`, map keys as `metadata.labels[app]`
 * (no quotes), and each constructor builds the {@link FieldError} whose rendered text is kube's
 * (`Required value`, `Invalid value: 70000: must be between 1 and 65535, inclusive`, …).
 */
import { GoValue, goSliceText, type FieldError } from '../errors.js';

/** `parent.name…` (Go's `Path.Child`); an empty parent yields just the child. */
export function child(parent: string, ...names: string[]): string {
  return [parent, ...names].filter((part) => part !== '').join('.');
}

/** `parent[i]` (Go's `Path.Index`). */
export function index(parent: string, i: number): string {
  return `${parent}[${i}]`;
}

/** `parent[key]` (Go's `Path.Key`): the key is printed as is, without quotes. */
export function key(parent: string, k: string): string {
  return `${parent}[${k}]`;
}

/** A Go slice of strings of type `[]<type>` as kube's errors print it (`[]string{"a", "b"}`, `[]core.IPFamily{"IPv4"}`). */
export function goSlice(type: string, values: readonly string[]): GoValue {
  return new GoValue(goSliceText(type, values));
}

/** `field: Required value[: detail]`. */
export function required(field: string, detail = ''): FieldError {
  return detail ? { type: 'FieldValueRequired', field, detail } : { type: 'FieldValueRequired', field };
}

/** `field: Invalid value: <value>: detail`. */
export function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, value, detail };
}

/** `field: Unsupported value: <value>: supported values: "a", "b"` (in the order given). */
export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  return { type: 'FieldValueNotSupported', field, value, supported };
}

/** `field: Duplicate value: <value>[: detail]`. */
export function duplicate(field: string, value: unknown, detail = ''): FieldError {
  return detail ? { type: 'FieldValueDuplicate', field, value, detail } : { type: 'FieldValueDuplicate', field, value };
}

/** `field: Forbidden: detail`. */
export function forbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail };
}

/** `field: Not found: <value>`. */
export function notFound(field: string, value: unknown): FieldError {
  return { type: 'FieldValueNotFound', field, value };
}

/** `field: Too long: may not be more than N bytes`. */
export function tooLong(field: string, maxLength: number): FieldError {
  return { type: 'FieldValueTooLong', field, detail: `may not be more than ${maxLength} ${maxLength === 1 ? 'byte' : 'bytes'}` };
}

/** `field: Too many: <actual>: must have at most <max> items` (Go's `field.TooMany`). */
export function tooMany(field: string, actual: number, max: number): FieldError {
  return { type: 'FieldValueTooMany', field, value: actual, detail: `${actual}: must have at most ${max} ${max === 1 ? 'item' : 'items'}` };
}

/** Turns `is*` detail messages into one Invalid error each, on `field` with `value`. */
export function invalidEach(field: string, value: unknown, messages: readonly string[]): FieldError[] {
  return messages.map((msg) => invalid(field, value, msg));
}

/** kube's InclusiveRangeError. */
export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

/** kube's IsNegativeErrorMsg. */
export const IS_NEGATIVE_MESSAGE = 'must be greater than or equal to 0';

/** kube's ValidateNonnegativeField: Invalid when the value is negative (absent counts as 0). */
export function nonNegative(value: number | undefined, field: string): FieldError[] {
  return value !== undefined && value < 0 ? [invalid(field, value, IS_NEGATIVE_MESSAGE)] : [];
}

export { semanticEqual } from '../equality.js';

/**
 * Strict JSON equality for map-valued fields (ConfigMap `data`, selectors), as Go's
 * `reflect.DeepEqual` on maps: only absent and empty maps are the same; `{a: ""}` is not `{}`.
 */
export function mapEqual(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): boolean {
  const ak = Object.keys(a ?? {}).filter((k) => a?.[k] !== undefined);
  const bk = Object.keys(b ?? {}).filter((k) => b?.[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => b !== undefined && k in b && JSON.stringify(a?.[k]) === JSON.stringify(b[k]));
}
