/**
 * What the default plugins share: kube's score range and normalization, reading a plugin's
 * per-cycle state, and small accessors over plain pod and node objects.
 */
import { LabelSelectorMatcher, selectorFromObject, type LabelSelector, type Node, type Pod } from '../../../lib/index.js';
import type { CycleState } from '../framework.js';

/** kube's framework.MaxNodeScore: every plugin's normalized score lies in 0..100. */
export const MAX_NODE_SCORE = 100;

/** The well-known node label kube fills with the node's name (`kubernetes.io/hostname`). */
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';

/**
 * A plugin's value in the cycle state under one key: written by the extension point that
 * computes it (preFilter, preScore) and read by the per-node ones (filter, score), which compute
 * and store it themselves when that extension point did not run. The last cycle's value is kept
 * at hand, so reading it on each of thousands of nodes costs no map lookup — which relies on
 * the framework's contract that every cycle gets a CycleState of its own.
 */
export class CycleSlot<T> {
  private lastState: CycleState | undefined;
  private lastValue: T | undefined;

  constructor(private readonly key: string) {}

  /** Stores the cycle's value. */
  set(state: CycleState, value: T): void {
    state.set(this.key, value);
    this.lastState = state;
    this.lastValue = value;
  }

  /** The cycle's value, computed and stored by `compute` if nothing stored it yet. */
  get(state: CycleState, compute: () => T): T {
    if (state === this.lastState) return this.lastValue as T;
    let value = state.get(this.key) as T | undefined;
    if (value === undefined) {
      value = compute();
      state.set(this.key, value);
    }
    this.lastState = state;
    this.lastValue = value;
    return value;
  }

  /** The cycle's value if one was stored. */
  peek(state: CycleState): T | undefined {
    return state === this.lastState ? this.lastValue : (state.get(this.key) as T | undefined);
  }
}

/**
 * kube's helper.DefaultNormalizeScore: scales raw scores from [0, max] to [0, 100] with integer
 * division; `reverse` turns "more is worse" counts into scores. All zero → 0 (100 if reversed).
 */
export function defaultNormalizeScore(scores: Map<string, number>, reverse: boolean): void {
  normalizeMap(scores, (values) => defaultNormalizeScores(values, reverse));
}

/** {@link defaultNormalizeScore} over an array of scores. */
export function defaultNormalizeScores(scores: Float64Array, reverse: boolean): void {
  let max = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! > max) max = scores[i]!;
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    const scaled = Math.trunc((MAX_NODE_SCORE * scores[i]!) / max);
    scores[i] = reverse ? MAX_NODE_SCORE - scaled : scaled;
  }
}

/**
 * Runs an array normalization over a map of scores by node name (the map form of a plugin's
 * normalize, for callers that hold one): `normalize` gets the values in the map's order and
 * `names` the matching node names.
 */
export function normalizeMap(scores: Map<string, number>, normalize: (values: Float64Array, names: readonly string[]) => void): void {
  const names = [...scores.keys()];
  const values = Float64Array.from(scores.values());
  normalize(values, names);
  for (let i = 0; i < names.length; i++) scores.set(names[i]!, values[i]!);
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** The labels of an object (an empty object when it has none; never mutate it). */
export function labelsOf(obj: Pod | Node): Readonly<Record<string, string>> {
  return obj.metadata?.labels ?? NO_LABELS;
}

/** A pod's namespace; kube's API server always sets one, plain test objects may not (`default`). */
export function namespaceOf(pod: Pod): string {
  return pod.metadata?.namespace || 'default';
}

/** The node's name. */
export function nodeNameOf(node: Node): string {
  return node.metadata?.name ?? '';
}

/**
 * An object-form label selector as a matcher, as metav1.LabelSelectorAsSelector (absent →
 * matches nothing, `{}` → everything), or the parse error as a value for the caller to report.
 */
export function parseSelector(selector: LabelSelector | undefined): LabelSelectorMatcher | Error {
  try {
    return selectorFromObject(selector);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
