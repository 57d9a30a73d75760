/**
 * Node selectors as kube's component-helpers/scheduling/corev1/nodeaffinity evaluates them: a
 * pod's `nodeSelector` (every label equal) ANDed with its required node affinity, whose
 * `nodeSelectorTerms` are ORed and whose requirements inside a term are ANDed. Label
 * requirements support In, NotIn, Exists, DoesNotExist, Gt and Lt; field requirements In and
 * NotIn on `metadata.name` with exactly one value. An empty term selects nothing, and a term
 * that does not parse (unknown operator, wrong number of values, a non-integer Gt/Lt bound)
 * never matches — kube's "lazy" errors, ignored for backwards compatibility.
 */
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm } from '../../../lib/index.js';
import { labelsOf, nodeNameOf } from './common.js';

type LabelOp = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: ReadonlySet<string>;
  /** The integer bound of Gt/Lt. */
  bound: number;
}

interface FieldRequirement {
  key: string;
  equal: boolean;
  value: string;
}

/** One parsed term; `undefined` requirement lists mean "not given" (only the other kind applies). */
interface CompiledTerm {
  labels?: readonly LabelRequirement[];
  fields?: readonly FieldRequirement[];
}

const INTEGER = /^[+-]?[0-9]+$/;

function compileLabelRequirement(r: NodeSelectorRequirement): LabelRequirement | undefined {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      return values.length > 0 ? { key: r.key, op: r.operator, values: new Set(values), bound: 0 } : undefined;
    case 'Exists':
    case 'DoesNotExist':
      return values.length === 0 ? { key: r.key, op: r.operator, values: new Set(), bound: 0 } : undefined;
    case 'Gt':
    case 'Lt':
      return values.length === 1 && INTEGER.test(values[0]!) ? { key: r.key, op: r.operator, values: new Set(), bound: Number(values[0]) } : undefined;
    default:
      return undefined;
  }
}

function compileFieldRequirement(r: NodeSelectorRequirement): FieldRequirement | undefined {
  if ((r.operator !== 'In' && r.operator !== 'NotIn') || r.values?.length !== 1) return undefined;
  return { key: r.key, equal: r.operator === 'In', value: r.values[0]! };
}

/** A term, or undefined if it is empty or does not parse (either way it selects no node). */
function compileTerm(term: NodeSelectorTerm): CompiledTerm | undefined {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return undefined;
  const compiled: { labels?: LabelRequirement[]; fields?: FieldRequirement[] } = {};
  if (expressions.length) {
    compiled.labels = [];
    for (const r of expressions) {
      const requirement = compileLabelRequirement(r);
      if (!requirement) return undefined;
      compiled.labels.push(requirement);
    }
  }
  if (fields.length) {
    compiled.fields = [];
    for (const r of fields) {
      const requirement = compileFieldRequirement(r);
      if (!requirement) return undefined;
      compiled.fields.push(requirement);
    }
  }
  return compiled;
}

function labelRequirementMatches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const value = labels[r.key];
  switch (r.op) {
    case 'In': return value !== undefined && r.values.has(value);
    case 'NotIn': return value === undefined || !r.values.has(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt': return value !== undefined && INTEGER.test(value) && Number(value) > r.bound;
    case 'Lt': return value !== undefined && INTEGER.test(value) && Number(value) < r.bound;
  }
}

function termMatches(term: CompiledTerm, node: Node): boolean {
  if (term.labels) {
    const labels = labelsOf(node);
    for (const r of term.labels) if (!labelRequirementMatches(r, labels)) return false;
  }
  if (term.fields) {
    // The only node field a selector can see is metadata.name; other keys read as "".
    const name = nodeNameOf(node);
    for (const r of term.fields) {
      const value = r.key === 'metadata.name' ? name : '';
      if ((value === r.value) !== r.equal) return false;
    }
  }
  return true;
}

/** A pod's hard node constraints: `spec.nodeSelector` AND `requiredDuringScheduling…` node affinity. */
export class RequiredNodeAffinity {
  private constructor(
    private readonly nodeSelector: readonly (readonly [string, string])[] | undefined,
    /** The ORed terms of the required affinity, or undefined when the pod has none. */
    private readonly terms: readonly CompiledTerm[] | undefined,
  ) {}

  /** The pod's constraints, parsed once. */
  static of(pod: Pod): RequiredNodeAffinity {
    const spec = pod.spec;
    const selector = spec?.nodeSelector && Object.keys(spec.nodeSelector).length > 0 ? Object.entries(spec.nodeSelector) : undefined;
    const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    let terms: CompiledTerm[] | undefined;
    if (required) {
      terms = [];
      for (const term of required.nodeSelectorTerms ?? []) {
        const compiled = compileTerm(term);
        if (compiled) terms.push(compiled);
      }
    }
    return new RequiredNodeAffinity(selector, terms);
  }

  /** True when the pod constrains nothing (every node matches). */
  get isEmpty(): boolean {
    return this.nodeSelector === undefined && this.terms === undefined;
  }

  /** Does `node` satisfy both the node selector and (any term of) the required affinity? */
  matches(node: Node): boolean {
    if (this.nodeSelector) {
      const labels = labelsOf(node);
      for (const [key, value] of this.nodeSelector) if (labels[key] !== value) return false;
    }
    if (this.terms) {
      for (const term of this.terms) if (termMatches(term, node)) return true;
      return false;
    }
    return true;
  }
}

/** A pod's preferred node affinity: the sum of the weights of the terms a node matches. */
export class PreferredNodeAffinity {
  private constructor(private readonly terms: readonly { term: CompiledTerm; weight: number }[]) {}

  /** The pod's preferred terms; zero-weight and empty terms are dropped (as kube), unparsable ones too (kube fails the cycle). */
  static of(terms: readonly PreferredSchedulingTerm[] | undefined): PreferredNodeAffinity {
    const compiled: { term: CompiledTerm; weight: number }[] = [];
    for (const t of terms ?? []) {
      if (!t.weight) continue;
      const term = compileTerm(t.preference ?? {});
      if (term) compiled.push({ term, weight: t.weight });
    }
    return new PreferredNodeAffinity(compiled);
  }

  /** True if no term can add to any node's score. */
  get isEmpty(): boolean {
    return this.terms.length === 0;
  }

  /** The sum of the weights of the terms `node` matches. */
  score(node: Node): number {
    let total = 0;
    for (const { term, weight } of this.terms) if (termMatches(term, node)) total += weight;
    return total;
  }
}
