/**
 * Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) for the built-in kinds:
 * like a JSON merge patch, except that lists the API declares as `patchStrategy: merge` merge
 * element-wise — by their merge key (containers by `name`, ports by `containerPort`, …) or, for
 * lists of scalars, as sets — instead of being replaced. The directives kubectl sends are
 * honoured: `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<list>` and
 * `$deleteFromPrimitiveList/<list>`.
 */
import { badRequest } from '../api/errors.js';
import type { StructuralSchema } from '../api/schema.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SET_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE = '$deleteFromPrimitiveList/';

function childSchema(schema: StructuralSchema | undefined, key: string): StructuralSchema | undefined {
  if (!schema) return undefined;
  const prop = schema.properties?.[key];
  if (prop) return prop;
  return typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
}

function strategyOf(schema: StructuralSchema | undefined): { merge: boolean; retainKeys: boolean; mergeKey: string | undefined } {
  const strategy = schema?.['x-kubernetes-patch-strategy'] ?? '';
  const parts = strategy.split(',').map((s) => s.trim());
  return { merge: parts.includes('merge'), retainKeys: parts.includes('retainKeys'), mergeKey: schema?.['x-kubernetes-patch-merge-key'] };
}

/** Applies a strategic merge patch to `original` (not modified) under `schema`. */
export function applyStrategicMergePatch(original: unknown, patch: unknown, schema: StructuralSchema | undefined): unknown {
  if (!isObject(patch)) throw badRequest('a strategic merge patch must be a JSON object');
  return mergeMap(isObject(original) ? original : {}, patch, schema);
}

function mergeMap(original: JsonObject, patch: JsonObject, schema: StructuralSchema | undefined): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest) as JsonObject;
  }
  if (directive !== undefined && directive !== 'merge') throw badRequest(`Unknown patch type: ${String(directive)}`);

  const result: JsonObject = { ...original };
  const orders = new Map<string, unknown[]>();
  const deletions = new Map<string, unknown[]>();
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    if (key.startsWith(SET_ORDER)) {
      if (!Array.isArray(value)) throw badRequest(`invalid ${key}: must be a list`);
      orders.set(key.slice(SET_ORDER.length), value);
      continue;
    }
    if (key.startsWith(DELETE_FROM_PRIMITIVE)) {
      if (!Array.isArray(value)) throw badRequest(`invalid ${key}: must be a list`);
      deletions.set(key.slice(DELETE_FROM_PRIMITIVE.length), value);
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const sub = childSchema(schema, key);
    const current = result[key];
    if (isObject(value)) {
      const merged = mergeMap(isObject(current) ? current : {}, value, sub);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(Array.isArray(current) ? current : [], value, sub);
    } else {
      result[key] = value;
    }
  }
  for (const [key, values] of deletions) {
    const current = result[key];
    if (Array.isArray(current)) result[key] = current.filter((item) => !values.some((v) => sameScalar(v, item)));
  }
  for (const [key, order] of orders) {
    const current = result[key];
    if (Array.isArray(current)) result[key] = applyOrder(current, order, strategyOf(childSchema(schema, key)).mergeKey);
  }
  const retain = patch.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw badRequest('invalid $retainKeys: must be a list');
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function sameScalar(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && JSON.stringify(a) === JSON.stringify(b));
}

function mergeList(original: unknown[], patch: unknown[], schema: StructuralSchema | undefined): unknown[] {
  const { merge, mergeKey } = strategyOf(schema);
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return stripDirectives(patch.filter((item) => !(isObject(item) && item.$patch === 'replace'))) as unknown[];
  }
  if (!merge) return stripDirectives(patch) as unknown[];
  if (!mergeKey) {
    // A set of scalars: union, keeping the original order.
    const result = [...original];
    for (const item of patch) if (!result.some((existing) => sameScalar(existing, item))) result.push(item);
    return result;
  }
  const result = original.map((item) => item);
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`invalid strategic merge patch: list elements must be objects with the merge key "${mergeKey}"`);
    const keyValue = item[mergeKey];
    const index = result.findIndex((existing) => isObject(existing) && sameScalar(existing[mergeKey], keyValue));
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = mergeMap(result[index] as JsonObject, item, schema?.items);
      if (merged === undefined) result.splice(index, 1);
      else result[index] = merged;
    } else {
      result.push(stripDirectives(item));
    }
  }
  return result;
}

/** Orders a merged list as `$setElementOrder` says; elements it does not name keep their place at the end. */
function applyOrder(list: unknown[], order: unknown[], mergeKey: string | undefined): unknown[] {
  const keyOf = (item: unknown) => (mergeKey && isObject(item) ? item[mergeKey] : item);
  const rank = (item: unknown) => {
    const k = keyOf(item);
    const i = order.findIndex((o) => sameScalar(mergeKey && isObject(o) ? o[mergeKey] : o, k));
    return i < 0 ? order.length : i;
  };
  return list
    .map((item, position) => ({ item, position, rank: rank(item) }))
    .sort((a, b) => a.rank - b.rank || a.position - b.position)
    .map((e) => e.item);
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith('$')) continue;
    if (v === null) continue;
    out[key] = stripDirectives(v);
  }
  return out;
}
