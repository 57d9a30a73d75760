/**
 * Label selectors, with the semantics of k8s.io/apimachinery/pkg/labels: the string syntax of
 * `?labelSelector=` and `kubectl -l` (`app=web,tier in (a,b),!canary,x`), the object form of
 * specs (`matchLabels` + `matchExpressions`), and matching. A {@link LabelSelectorMatcher} is
 * immutable; its requirements are ANDed and kept sorted by key, so `toString()` is canonical.
 *
 * Grammar (kube's): requirements separated by ',', each one of `key`, `!key`, `key=v`, `key==v`,
 * `key!=v`, `key in (v1,v2)`, `key notin (v1,v2)`, `key>n`, `key<n`; whitespace between tokens
 * is ignored; values may be empty (`a=`, `a in ()`); the empty string selects everything.
 */
import { badRequest, type FieldError } from './errors.js';
import type { LabelSelector, LabelSelectorRequirement } from './meta.js';
import { goStringSlice, isQualifiedName, isValidLabelValue, validateLabelName, validateLabels } from './validation.js';

/** kube's selection.Operator values (`exists` is written as a bare key, `!` as `!key`). */
export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

/**
 * One requirement; `values` is empty for `exists`/`!` and has exactly one entry for `=`, `==`,
 * `!=`, `gt`, `lt`. Values are kept sorted and de-duplicated (kube keeps an object selector's
 * duplicates, which shows only in its String(); dropping them makes `toString()` canonical).
 */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

type Labels = Record<string, string> | undefined;

/** Go's strconv.ParseInt(s, 10, 64); undefined when it would fail. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels![r.key]! : undefined;
  switch (r.operator) {
    case '=': case '==': case 'in': return has && r.values.includes(value!);
    case '!=': case 'notin': return !has || !r.values.includes(value!);
    case 'exists': return has;
    case '!': return !has;
    case 'gt': case 'lt': {
      // Both sides must be 64-bit integers, or the requirement does not match (kube's ParseInt).
      const actual = has ? parseInt64(value!) : undefined;
      const bound = r.values.length === 1 ? parseInt64(r.values[0]!) : undefined;
      if (actual === undefined || bound === undefined) return false;
      return r.operator === 'gt' ? actual > bound : actual < bound;
    }
    default: return false;
  }
}

const OPERATOR_TEXT: Record<LabelOperator, string> = {
  '=': '=', '==': '==', '!=': '!=', in: ' in ', notin: ' notin ', gt: '>', lt: '<', exists: '', '!': '',
};

function requirementToString(r: LabelRequirement): string {
  if (r.operator === 'exists') return r.key;
  if (r.operator === '!') return `!${r.key}`;
  const values = r.values.join(',');
  const set = r.operator === 'in' || r.operator === 'notin';
  return `${r.key}${OPERATOR_TEXT[r.operator]}${set ? `(${values})` : values}`;
}

/**
 * A parsed label selector (kube's labels.Selector). {@link LabelSelectorMatcher.nothing} is the
 * distinct selector of a null object-form selector: it matches no label set, and prints as ''.
 */
export class LabelSelectorMatcher {
  private static readonly EVERYTHING = new LabelSelectorMatcher([], false);
  private static readonly NOTHING = new LabelSelectorMatcher([], true);

  private constructor(
    /** The ANDed requirements, sorted by key (stable, so same-key requirements keep their order). */
    readonly requirements: readonly LabelRequirement[],
    private readonly selectsNothing: boolean,
  ) {}

  /** The selector that matches every label set (the empty selector). */
  static everything(): LabelSelectorMatcher {
    return LabelSelectorMatcher.EVERYTHING;
  }

  /** The selector that matches no label set (what a null `selector` in a spec means). */
  static nothing(): LabelSelectorMatcher {
    return LabelSelectorMatcher.NOTHING;
  }

  /** A selector of already-validated requirements (see {@link newRequirement}); sorts them by key. */
  static of(requirements: readonly LabelRequirement[]): LabelSelectorMatcher {
    if (requirements.length === 0) return LabelSelectorMatcher.EVERYTHING;
    const sorted = [...requirements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return new LabelSelectorMatcher(Object.freeze(sorted), false);
  }

  /** A new selector with `requirements` ANDed in (a nothing-selector stays nothing). */
  add(...requirements: LabelRequirement[]): LabelSelectorMatcher {
    return this.selectsNothing ? this : LabelSelectorMatcher.of([...this.requirements, ...requirements]);
  }

  /** True if every requirement holds for `labels` (an absent label set has no labels). */
  matches(labels: Record<string, string> | undefined): boolean {
    if (this.selectsNothing) return false;
    return this.requirements.every((r) => requirementMatches(r, labels));
  }

  /** True if the selector does not restrict anything (false for {@link LabelSelectorMatcher.nothing}). */
  isEmpty(): boolean {
    return !this.selectsNothing && this.requirements.length === 0;
  }

  /** True only for {@link LabelSelectorMatcher.nothing}. */
  matchesNothing(): boolean {
    return this.selectsNothing;
  }

  /** The single value `key` must have (`key=v`, `key==v`, `key in (v)`), if the first requirement on it demands one — for indexes. */
  requiresExactMatch(key: string): string | undefined {
    const r = this.requirements.find((req) => req.key === key);
    if (!r || !['=', '==', 'in'].includes(r.operator) || r.values.length !== 1) return undefined;
    return r.values[0];
  }

  /** The canonical text, as kube prints it: `a=b,c in (x,y),!d`; '' for everything and for nothing. */
  toString(): string {
    return this.requirements.map(requirementToString).join(',');
  }
}

/** kube's field.Error text with its path (`values[0][app]: Invalid value: "x": …`). */
function fieldErrorText(path: string, valueText: string, detail: string): string {
  return `${path}: Invalid value: ${valueText}: ${detail}`;
}

/** kube's utilerrors.Aggregate text: one message alone, several deduplicated in brackets. */
function aggregate(messages: readonly string[]): string {
  const unique = [...new Set(messages)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}

interface RequirementProblem {
  message: string;
  /** The value the problem is about, if any (lets the parser point at its token). */
  value?: string;
}

const IN_RULE = { count: (n: number) => n > 0, detail: "for 'in', 'notin' operators, values set can't be empty" };
const EXACT_RULE = { count: (n: number) => n === 1, detail: 'exact-match compatibility requires one single value' };
const EXISTS_RULE = { count: (n: number) => n === 0, detail: 'values set must be empty for exists and does not exist' };
const ORDER_RULE = { count: (n: number) => n === 1, detail: "for 'Gt', 'Lt' operators, exactly one value is required" };

/** How many values each operator takes, with kube's complaint otherwise. */
const VALUE_COUNT_RULES: Record<LabelOperator, { count: (n: number) => boolean; detail: string }> = {
  in: IN_RULE, notin: IN_RULE, '=': EXACT_RULE, '==': EXACT_RULE, '!=': EXACT_RULE, exists: EXISTS_RULE, '!': EXISTS_RULE, gt: ORDER_RULE, lt: ORDER_RULE,
};

/** kube's NewRequirement checks, in kube's order, with its paths (`key`, `values`, `values[i][key]`). */
function requirementProblems(key: string, operator: string, values: readonly string[] | undefined): RequirementProblem[] {
  const problems: RequirementProblem[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) problems.push({ message: fieldErrorText('key', JSON.stringify(key), keyErrs.join('; ')) });
  const vals = values ?? [];
  const rule = Object.prototype.hasOwnProperty.call(VALUE_COUNT_RULES, operator) ? VALUE_COUNT_RULES[operator as LabelOperator] : undefined;
  if (!rule) {
    problems.push({ message: `operator: Unsupported value: ${JSON.stringify(operator)}: supported values: "in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"` });
  } else if (!rule.count(vals.length)) {
    problems.push({ message: fieldErrorText('values', goStringSlice(values), rule.detail) });
  }
  if (operator === 'gt' || operator === 'lt') {
    vals.forEach((v, i) => {
      if (parseInt64(v) === undefined) {
        problems.push({ message: fieldErrorText(`values[${i}]`, JSON.stringify(v), "for 'Gt', 'Lt' operators, the value must be an integer"), value: v });
      }
    });
  }
  vals.forEach((v, i) => {
    const errs = isValidLabelValue(v);
    if (errs.length) problems.push({ message: fieldErrorText(`values[${i}][${key}]`, JSON.stringify(v), errs.join('; ')), value: v });
  });
  return problems;
}

/**
 * Builds one requirement with kube's NewRequirement checks: a valid key; `in`/`notin` need ≥1
 * value; `=`/`==`/`!=` exactly one; `exists`/`!` none; `gt`/`lt` one integer; every value a valid
 * label value. Throws a 400 with kube's aggregated message otherwise.
 */
export function newRequirement(key: string, operator: LabelOperator, values: readonly string[] = []): LabelRequirement {
  const problems = requirementProblems(key, operator, values);
  if (problems.length) throw badRequest(aggregate(problems.map((p) => p.message)));
  return frozenRequirement(key, operator, values);
}

/** A requirement with its values sorted and unique (kube's parser stores them in a sorted set, too). */
function frozenRequirement(key: string, operator: LabelOperator, values: readonly string[]): LabelRequirement {
  return Object.freeze({ key, operator, values: Object.freeze([...new Set(values)].sort()) });
}

/** The selector matching exactly the given labels (`a=1,b=2`); empty or absent → everything. Not validated, as kube's SelectorFromSet. */
export function selectorFromSet(labels: Record<string, string> | undefined): LabelSelectorMatcher {
  const requirements = Object.entries(labels ?? {}).map(([key, value]) => frozenRequirement(key, '=', [value]));
  return LabelSelectorMatcher.of(requirements);
}

const OBJECT_OPERATORS: Record<string, LabelOperator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/**
 * The object form (`matchLabels` + `matchExpressions`) as a matcher, as metav1.LabelSelectorAsSelector:
 * `null`/`undefined` → {@link LabelSelectorMatcher.nothing} (matches nothing); `{}` → everything.
 * Throws a 400 for an unknown operator (`"Foo" is not a valid pod selector operator`) or a
 * requirement kube's NewRequirement rejects.
 */
export function selectorFromObject(selector: LabelSelector | null | undefined): LabelSelectorMatcher {
  if (selector === null || selector === undefined) return LabelSelectorMatcher.nothing();
  const requirements: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) requirements.push(newRequirement(key, '=', [value]));
  for (const expr of selector.matchExpressions ?? []) {
    const operator = Object.prototype.hasOwnProperty.call(OBJECT_OPERATORS, expr.operator) ? OBJECT_OPERATORS[expr.operator] : undefined;
    if (!operator) throw badRequest(`${JSON.stringify(expr.operator)} is not a valid pod selector operator`);
    // kube copies values with append([]string(nil), ...): an empty list is reported as nil.
    const values = expr.values?.length ? expr.values : undefined;
    const problems = requirementProblems(expr.key, operator, values);
    if (problems.length) throw badRequest(aggregate(problems.map((p) => p.message)));
    requirements.push(frozenRequirement(expr.key, operator, values ?? []));
  }
  return LabelSelectorMatcher.of(requirements);
}

const TO_OBJECT_OPERATORS: Partial<Record<LabelOperator, LabelSelectorRequirement['operator']>> = {
  '=': 'In', '==': 'In', in: 'In', '!=': 'NotIn', notin: 'NotIn', exists: 'Exists', '!': 'DoesNotExist',
};

/**
 * The object form of a matcher: `=`/`==` become `matchLabels` (a repeated key becomes `In [v]`),
 * `!=` becomes `NotIn [v]`. Returns `undefined` for {@link LabelSelectorMatcher.nothing}. Throws
 * a 400 for `gt`/`lt`, which the object form cannot express (as kube's ParseToLabelSelector).
 */
export function selectorToObject(matcher: LabelSelectorMatcher): LabelSelector | undefined {
  if (matcher.matchesNothing()) return undefined;
  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const r of matcher.requirements) {
    if ((r.operator === '=' || r.operator === '==') && !Object.prototype.hasOwnProperty.call(matchLabels, r.key)) {
      matchLabels[r.key] = r.values[0]!;
      continue;
    }
    const operator = TO_OBJECT_OPERATORS[r.operator];
    if (!operator) throw badRequest(`${JSON.stringify(r.operator)} isn't supported in label selectors`);
    matchExpressions.push(r.values.length ? { key: r.key, operator, values: [...r.values] } : { key: r.key, operator });
  }
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(matchExpressions.length ? { matchExpressions } : {}),
  };
}

/** Options of {@link validateLabelSelectorObject}. */
export interface LabelSelectorValidationOptions {
  /** Skip the label-value check of `matchExpressions[*].values` (kube allows it for objects stored before the check existed). */
  allowInvalidLabelValueInSelector?: boolean;
}

/**
 * Validates an object-form selector in a spec (kube's ValidateLabelSelector), e.g. with
 * `fieldPath` `spec.selector`: matchLabels as labels; per expression the operator, the value
 * count, the key and (unless allowed) each value. A null selector is valid.
 */
export function validateLabelSelectorObject(selector: LabelSelector | null | undefined, fieldPath: string, options: LabelSelectorValidationOptions = {}): FieldError[] {
  if (selector === null || selector === undefined) return [];
  const errs: FieldError[] = [...validateLabels(selector.matchLabels, `${fieldPath}.matchLabels`)];
  (selector.matchExpressions ?? []).forEach((expr, i) => {
    const path = `${fieldPath}.matchExpressions[${i}]`;
    const values = expr.values ?? [];
    if (expr.operator === 'In' || expr.operator === 'NotIn') {
      if (values.length === 0) errs.push({ type: 'FieldValueRequired', field: `${path}.values`, detail: "must be specified when `operator` is 'In' or 'NotIn'" });
    } else if (expr.operator === 'Exists' || expr.operator === 'DoesNotExist') {
      if (values.length > 0) errs.push({ type: 'FieldValueForbidden', field: `${path}.values`, detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
    } else {
      errs.push({ type: 'FieldValueInvalid', field: `${path}.operator`, value: expr.operator, detail: 'not a valid selector operator' });
    }
    errs.push(...validateLabelName(expr.key, `${path}.key`));
    if (!options.allowInvalidLabelValueInSelector) {
      values.forEach((value, j) => {
        for (const msg of isValidLabelValue(value)) errs.push({ type: 'FieldValueInvalid', field: `${path}.values[${j}]`, value, detail: msg });
      });
    }
  });
  return errs;
}

// ---- Parsing: a port of kube's lexer and recursive-descent parser, so the same input is accepted,
// rejected and reported the same way. Every token remembers where it starts, for the error text.

type Token = 'error' | 'eos' | ')' | ',' | '!' | '==' | '=' | '>' | 'ident' | 'in' | '<' | '!=' | 'notin' | '(';

const KEYWORDS = new Map<string, Token>([
  [')', ')'], [',', ','], ['!', '!'], ['==', '=='], ['=', '='], ['>', '>'], ['in', 'in'], ['<', '<'], ['!=', '!='], ['notin', 'notin'], ['(', '('],
]);

interface Scanned {
  tok: Token;
  literal: string;
  /** Offset of the token's first character in the input (the input's length for the end). */
  pos: number;
}

const isWhitespace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecialSymbol = (ch: string) => '=!(),><'.includes(ch) && ch !== '';

/** kube's Lexer: reads one character at a time; '\0' stands for the end, as Go's 0 byte does. */
class Lexer {
  private pos = 0;
  constructor(private readonly text: string) {}

  private read = (): string => (this.pos < this.text.length ? this.text[this.pos++]! : '\0');
  private unread = (): void => void this.pos--;

  private scanIdOrKeyword(start: number): Scanned {
    let buffer = '';
    for (let ch = this.read(); ch !== '\0'; ch = this.read()) {
      if (isSpecialSymbol(ch) || isWhitespace(ch)) {
        this.unread();
        break;
      }
      buffer += ch;
    }
    return { tok: KEYWORDS.get(buffer) ?? 'ident', literal: buffer, pos: start };
  }

  /** The longest operator made of special symbols (`!=` rather than `!`). */
  private scanSpecialSymbol(start: number): Scanned {
    let buffer = '';
    let last: Scanned | undefined;
    for (let ch = this.read(); ch !== '\0'; ch = this.read()) {
      if (!isSpecialSymbol(ch)) {
        this.unread();
        break;
      }
      buffer += ch;
      const tok = KEYWORDS.get(buffer);
      if (tok) last = { tok, literal: buffer, pos: start };
      else if (last) {
        this.unread();
        break;
      }
    }
    return last ?? { tok: 'error', literal: `error expected: keyword found '${buffer}'`, pos: start };
  }

  lex(): Scanned {
    let ch = this.read();
    while (isWhitespace(ch)) ch = this.read();
    if (ch === '\0') return { tok: 'eos', literal: '', pos: Math.min(this.pos, this.text.length) };
    this.unread();
    return isSpecialSymbol(ch) ? this.scanSpecialSymbol(this.pos) : this.scanIdOrKeyword(this.pos);
  }
}

/** A parse failure: kube's message and the offset of the token it is about. */
class SelectorSyntaxError extends Error {
  constructor(message: string, readonly pos: number) {
    super(message);
  }
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private readonly items: Scanned[] = [];
  private position = 0;

  constructor(text: string) {
    const lexer = new Lexer(text);
    for (;;) {
      const item = lexer.lex();
      this.items.push(item);
      if (item.tok === 'eos') break;
    }
  }

  /** In a value position `in` and `notin` are ordinary identifiers (`a in (in)`). */
  private lookahead(values: boolean): Scanned {
    const item = this.items[this.position]!;
    return values && (item.tok === 'in' || item.tok === 'notin') ? { ...item, tok: 'ident' } : item;
  }

  private consume(values: boolean): Scanned {
    const item = this.lookahead(values);
    this.position++;
    return item;
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    for (;;) {
      const next = this.lookahead(true);
      if (next.tok === 'eos') return requirements;
      if (next.tok !== 'ident' && next.tok !== '!') {
        throw new SelectorSyntaxError(`found '${next.literal}', expected: !, identifier, or 'end of string'`, next.pos);
      }
      try {
        requirements.push(this.parseRequirement());
      } catch (err) {
        if (err instanceof SelectorSyntaxError) throw new SelectorSyntaxError(`unable to parse requirement: ${err.message}`, err.pos);
        throw err;
      }
      const after = this.consume(true);
      if (after.tok === 'eos') return requirements;
      if (after.tok !== ',') throw new SelectorSyntaxError(`found '${after.literal}', expected: ',' or 'end of string'`, after.pos);
      const following = this.lookahead(true);
      if (following.tok !== 'ident' && following.tok !== '!') {
        throw new SelectorSyntaxError(`found '${following.literal}', expected: identifier after ','`, following.pos);
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    let item = this.consume(true);
    let operator: LabelOperator | undefined;
    if (item.tok === '!') {
      operator = '!';
      item = this.consume(true);
    }
    if (item.tok !== 'ident') throw new SelectorSyntaxError(`found '${item.literal}', expected: identifier`, item.pos);
    const key = item.literal;
    const keyErrs = isQualifiedName(key);
    if (keyErrs.length) throw new SelectorSyntaxError(fieldErrorText('<nil>', JSON.stringify(key), keyErrs.join('; ')), item.pos);
    const next = this.lookahead(true);
    if (operator !== '!' && (next.tok === 'eos' || next.tok === ',')) operator = 'exists';
    if (operator === 'exists' || operator === '!') return this.build(key, operator, new Map(), item.pos);

    const opItem = this.consume(false);
    const op = OPERATOR_TOKENS.get(opItem.tok);
    if (!op) throw new SelectorSyntaxError(`found '${opItem.literal}', expected: ${BINARY_OPERATORS}`, opItem.pos);
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    return this.build(key, op, values, opItem.pos);
  }

  /** Validates as NewRequirement does; a bad value is reported at its own token. */
  private build(key: string, operator: LabelOperator, values: Map<string, number>, fallbackPos: number): LabelRequirement {
    const sorted = [...values.keys()].sort();
    const problems = requirementProblems(key, operator, sorted);
    if (problems.length) {
      const culprit = problems.find((p) => p.value !== undefined)?.value;
      const pos = culprit !== undefined ? values.get(culprit) ?? fallbackPos : fallbackPos;
      throw new SelectorSyntaxError(aggregate(problems.map((p) => p.message)), pos);
    }
    return frozenRequirement(key, operator, sorted);
  }

  /** `(v1,v2)`; empty entries are the empty value: `()`, `(,a)`, `(a,)`, `(a,,b)`. */
  private parseValues(): Map<string, number> {
    const open = this.consume(true);
    if (open.tok !== '(') throw new SelectorSyntaxError(`found '${open.literal}' expected: '('`, open.pos);
    const first = this.lookahead(true);
    if (first.tok === ')') {
      this.consume(true);
      return new Map([['', first.pos]]);
    }
    if (first.tok !== 'ident' && first.tok !== ',') {
      throw new SelectorSyntaxError(`found '${first.literal}', expected: ',', ')' or identifier`, first.pos);
    }
    const values = new Map<string, number>();
    const insert = (value: string, pos: number) => values.has(value) || values.set(value, pos);
    for (;;) {
      const item = this.consume(true);
      if (item.tok === 'ident') {
        insert(item.literal, item.pos);
        const next = this.lookahead(true);
        if (next.tok === ',') continue;
        if (next.tok === ')') break;
        throw new SelectorSyntaxError(`found '${next.literal}', expected: ',' or ')'`, next.pos);
      } else if (item.tok === ',') {
        if (values.size === 0) insert('', item.pos);
        const next = this.lookahead(true);
        if (next.tok === ')') {
          insert('', item.pos);
          break;
        }
        if (next.tok === ',') insert('', item.pos);
      } else {
        throw new SelectorSyntaxError(`found '${item.literal}', expected: ',', or identifier`, item.pos);
      }
    }
    this.consume(true); // the ')' the loop stopped at
    return values;
  }

  /** The one value after `=`, `==`, `!=`, `>`, `<`; nothing before ',' or the end is the empty value. */
  private parseExactValue(): Map<string, number> {
    const next = this.lookahead(true);
    if (next.tok === 'eos' || next.tok === ',') return new Map([['', next.pos]]);
    const item = this.consume(true);
    if (item.tok === 'ident') return new Map([[item.literal, item.pos]]);
    throw new SelectorSyntaxError(`found '${item.literal}', expected: identifier`, item.pos);
  }
}

const OPERATOR_TOKENS = new Map<Token, LabelOperator>([
  ['in', 'in'], ['=', '='], ['==', '=='], ['>', 'gt'], ['<', 'lt'], ['notin', 'notin'], ['!=', '!='],
]);

/**
 * Parses the string form (`?labelSelector=`), exactly as kube's labels.Parse. A syntax or
 * validation error throws a 400 BadRequest with kube's message followed by ` at position N`
 * (N = 0-based offset of the offending token; the input's length for its end), e.g.
 * `unable to parse requirement: found '', expected: in, notin, =, ==, !=, gt, lt at position 5`.
 */
export function parseLabelSelector(text: string): LabelSelectorMatcher {
  try {
    return LabelSelectorMatcher.of(new Parser(text).parse());
  } catch (err) {
    if (err instanceof SelectorSyntaxError) throw badRequest(`${err.message} at position ${err.pos}`);
    throw err;
  }
}
