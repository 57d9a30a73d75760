/**
 * Compiles the selectors of a list or watch request into a {@link Predicate} over objects:
 * label selectors (string syntax or object form) and field selectors checked against the
 * fields the kind supports, as kube-apiserver does — an unsupported field is a 400.
 */
import { parseFieldSelector, validateFieldSelector } from '../api/fields.js';
import { parseLabelSelector, selectorFromObject } from '../api/labels.js';
import type { KubeObject, LabelSelector } from '../api/meta.js';
import type { Predicate } from './list.js';
import type { KindStrategy } from './strategy.js';

/** Selects every object. */
export const EVERYTHING: Predicate = { empty: true, matches: () => true };

/** Builds the predicate of a request; parse errors and unsupported fields throw 400s. */
export function compilePredicate(strategy: KindStrategy, labelSelector?: string | LabelSelector, fieldSelector?: string): Predicate {
  const labels =
    labelSelector === undefined || labelSelector === ''
      ? undefined
      : typeof labelSelector === 'string'
        ? parseLabelSelector(labelSelector)
        : selectorFromObject(labelSelector);
  const fields = fieldSelector ? validateFieldSelector(strategy.info, parseFieldSelector(fieldSelector)) : undefined;
  const labelsEmpty = !labels || labels.isEmpty();
  const fieldsEmpty = !fields || fields.isEmpty();
  if (labelsEmpty && fieldsEmpty) return EVERYTHING;
  return {
    empty: false,
    matches: (obj: KubeObject) =>
      (labelsEmpty || labels!.matches(obj.metadata?.labels)) && (fieldsEmpty || fields!.matches(strategy.selectableFields(obj))),
  };
}
