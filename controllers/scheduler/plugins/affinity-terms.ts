/**
 * Pod (anti-)affinity terms, parsed as kube's framework.PodInfo parses them: a term selects pods
 * by label selector (absent → nothing) in a set of namespaces — the listed `namespaces` plus
 * those whose labels match `namespaceSelector` (`{}` → every namespace); with neither given, the
 * namespace of the pod that owns the term. Parsed terms are cached per pod object (a pod's
 * affinity is immutable), so existing pods are parsed once, not once per scheduling cycle.
 * `matchLabelKeys`/`mismatchLabelKeys` add the owner's own values for those keys to the
 * selector (In / NotIn), as kube's API server does at pod creation (kube ≥ 1.31).
 */
import type { LabelSelector, LabelSelectorMatcher, LabelSelectorRequirement, Pod, PodAffinityTerm, WeightedPodAffinityTerm } from '../../../lib/index.js';
import { labelsOf, namespaceOf, parseSelector } from './common.js';

/**
 * How plugins learn a namespace's labels (for `namespaceSelector`): bind a function to this
 * token — `container.bind(NamespaceLabels).toConstantValue((ns) => cache.get(ns)?.metadata?.labels)`.
 * Unbound, a namespace is known only by the label the API server always sets,
 * `kubernetes.io/metadata.name: <name>`.
 */
export const NamespaceLabels: unique symbol = Symbol.for('keelson.scheduler.NamespaceLabels') as never;
/** A namespace's labels, or undefined for an unknown namespace. */
export type NamespaceLabels = (namespace: string) => Readonly<Record<string, string>> | undefined;

/** The lookup used when nothing is bound to {@link NamespaceLabels}. */
export const defaultNamespaceLabels: NamespaceLabels = (namespace) => ({ 'kubernetes.io/metadata.name': namespace });

/** One parsed term. */
export interface AffinityTerm {
  readonly selector: LabelSelectorMatcher;
  readonly namespaces: ReadonlySet<string>;
  readonly namespaceSelector: LabelSelectorMatcher;
  readonly topologyKey: string;
}

/** A parsed preferred term with its weight. */
export interface WeightedAffinityTerm extends AffinityTerm {
  readonly weight: number;
}

/** A pod's parsed terms; a kind whose terms do not all parse is left empty and `error` says why. */
export interface PodAffinityInfo {
  readonly requiredAffinity: readonly AffinityTerm[];
  readonly requiredAntiAffinity: readonly AffinityTerm[];
  readonly preferredAffinity: readonly WeightedAffinityTerm[];
  readonly preferredAntiAffinity: readonly WeightedAffinityTerm[];
  readonly error?: Error;
}

/**
 * The term's selector with `matchLabelKeys` (`key In [owner's value]`) and `mismatchLabelKeys`
 * (`key NotIn [owner's value]`) ANDed in, as kube's API server merges them at pod creation (a
 * nil selector stays nil: it matches nothing anyway). Merging twice changes nothing.
 */
function mergedSelector(pod: Pod, term: PodAffinityTerm): LabelSelector | undefined {
  const selector = term.labelSelector;
  if (!selector || (!term.matchLabelKeys?.length && !term.mismatchLabelKeys?.length)) return selector ?? undefined;
  const own = labelsOf(pod);
  const extra: LabelSelectorRequirement[] = [];
  for (const key of term.matchLabelKeys ?? []) if (own[key] !== undefined) extra.push({ key, operator: 'In', values: [own[key]] });
  for (const key of term.mismatchLabelKeys ?? []) if (own[key] !== undefined) extra.push({ key, operator: 'NotIn', values: [own[key]] });
  return extra.length ? { ...selector, matchExpressions: [...(selector.matchExpressions ?? []), ...extra] } : selector;
}

function parseTerm(pod: Pod, term: PodAffinityTerm): AffinityTerm | Error {
  const selector = parseSelector(mergedSelector(pod, term));
  if (selector instanceof Error) return selector;
  const namespaceSelector = parseSelector(term.namespaceSelector ?? undefined);
  if (namespaceSelector instanceof Error) return namespaceSelector;
  const own = !term.namespaces?.length && term.namespaceSelector == null;
  const namespaces = new Set(own ? [namespaceOf(pod)] : term.namespaces ?? []);
  return { selector, namespaces, namespaceSelector, topologyKey: term.topologyKey };
}

function parseTerms(pod: Pod, terms: readonly PodAffinityTerm[] | undefined): AffinityTerm[] | Error {
  const parsed: AffinityTerm[] = [];
  for (const term of terms ?? []) {
    const t = parseTerm(pod, term);
    if (t instanceof Error) return t;
    parsed.push(t);
  }
  return parsed;
}

function parseWeighted(pod: Pod, terms: readonly WeightedPodAffinityTerm[] | undefined): WeightedAffinityTerm[] | Error {
  const parsed: WeightedAffinityTerm[] = [];
  for (const term of terms ?? []) {
    const t = parseTerm(pod, term.podAffinityTerm);
    if (t instanceof Error) return t;
    parsed.push({ ...t, weight: term.weight });
  }
  return parsed;
}

const NONE: PodAffinityInfo = Object.freeze({ requiredAffinity: [], requiredAntiAffinity: [], preferredAffinity: [], preferredAntiAffinity: [] });
const cache = new WeakMap<Pod, PodAffinityInfo>();

function parseInfo(pod: Pod): PodAffinityInfo {
  const affinity = pod.spec?.affinity;
  if (!affinity?.podAffinity && !affinity?.podAntiAffinity) return NONE;
  let error: Error | undefined;
  const orEmpty = <T>(parsed: T[] | Error): T[] => {
    if (!(parsed instanceof Error)) return parsed;
    error ??= parsed;
    return [];
  };
  const info = {
    requiredAffinity: orEmpty(parseTerms(pod, affinity.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution)),
    requiredAntiAffinity: orEmpty(parseTerms(pod, affinity.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution)),
    preferredAffinity: orEmpty(parseWeighted(pod, affinity.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution)),
    preferredAntiAffinity: orEmpty(parseWeighted(pod, affinity.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution)),
  };
  return error ? { ...info, error } : info;
}

/** The pod's parsed (anti-)affinity terms, cached per pod object. */
export function podAffinityInfo(pod: Pod): PodAffinityInfo {
  let info = cache.get(pod);
  if (!info) {
    info = parseInfo(pod);
    cache.set(pod, info);
  }
  return info;
}

/**
 * Does `term` select a pod of `namespace` with `labels`: the namespace listed or selected by
 * `namespaceSelector`, and the labels matched?
 */
export function termSelects(term: AffinityTerm, namespace: string, labels: Readonly<Record<string, string>>, namespaceLabels: NamespaceLabels): boolean {
  if (!term.namespaces.has(namespace)) {
    if (term.namespaceSelector.matchesNothing() || !term.namespaceSelector.matches(namespaceLabels(namespace))) return false;
  }
  return term.selector.matches(labels);
}

/** Does `term` select `pod`? */
export function termMatches(term: AffinityTerm, pod: Pod, namespaceLabels: NamespaceLabels): boolean {
  return termSelects(term, namespaceOf(pod), labelsOf(pod), namespaceLabels);
}

/** Do all of `terms` select a pod of `namespace` with `labels` (false for no terms)? */
export function allTermsSelect(terms: readonly AffinityTerm[], namespace: string, labels: Readonly<Record<string, string>>, namespaceLabels: NamespaceLabels): boolean {
  if (terms.length === 0) return false;
  for (const term of terms) if (!termSelects(term, namespace, labels, namespaceLabels)) return false;
  return true;
}

/** A lookup that asks `lookup` at most once per namespace (for one scheduling cycle). */
export function memoizedNamespaceLabels(lookup: NamespaceLabels): NamespaceLabels {
  const seen = new Map<string, Readonly<Record<string, string>> | undefined>();
  return (namespace) => {
    if (seen.has(namespace)) return seen.get(namespace);
    const labels = lookup(namespace);
    seen.set(namespace, labels);
    return labels;
  };
}
