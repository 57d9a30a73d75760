/**
 * Equality of API values the way kube-apiserver compares decoded objects
 * (`apiequality.Semantic.DeepEqual`): used to decide whether a spec changed (generation) and
 * which fields an update touched.
 */

/**
 * Semantic equality of two JSON values, as kube's `apiequality.Semantic.DeepEqual` on decoded
 * objects: key order is ignored, and an absent field, `null`, `""`, `0`, `false`, an empty list
 * and an empty map are all the same (Go decodes most of them to the same zero value; for the few
 * pointer fields this is slightly more lenient than kube).
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((value, i) => semanticEqual(value, other[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!semanticEqual(ao[k], bo[k])) return false;
  return true;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.values(value as Record<string, unknown>).every((v) => v === undefined);
}
