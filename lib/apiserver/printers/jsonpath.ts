/**
 * The part of kube's JSONPath (client-go `util/jsonpath`) that CRD printer columns use, with
 * missing keys allowed: `.a.b`, `['a.b']`, escaped dots (`.labels.app\.kubernetes\.io/name`),
 * `[0]`, `[-1]`, slices `[1:3]`, `[*]`/`.*`, unions `[0,2]`/`['a','b']`, recursive descent `..a`,
 * and filters `[?(@.type=="Ready")]` (`==`, `!=`, `<`, `<=`, `>`, `>=`, or existence `[?(@.x)]`).
 * Evaluation errors throw; a path that finds nothing returns [].
 */

/** One step of a compiled path. */
export type JSONPathStep =
  | { kind: 'field'; name: string }
  | { kind: 'recursive' }
  | { kind: 'wildcard' }
  | { kind: 'index'; index: number }
  | { kind: 'slice'; start?: number; end?: number; step?: number }
  | { kind: 'union'; items: (string | number)[] }
  | { kind: 'filter'; left: JSONPathStep[]; op: string; right: JSONPathStep[] | Literal | undefined };

type Literal = { literal: string | number | boolean };

/** A JSONPath could not be parsed. */
export class JSONPathError extends Error {}

const TERMINATORS = new Set([' ', '.', ',', '[', ']', '$', '@', '{', '}', '(', ')', '=', '!', '<', '>']);

/** Compiles a CRD column's jsonPath (with or without the surrounding `{}` and leading `$`). */
export function compileJSONPath(path: string): JSONPathStep[] {
  let text = path.trim();
  if (text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1).trim();
  const parser = new Parser(text);
  const steps = parser.steps(false);
  if (!parser.done()) throw new JSONPathError(`unrecognized character in action: ${JSON.stringify(text.slice(parser.pos))}`);
  return steps;
}

/** Evaluates a compiled path against a JSON value: every match, in kube's order. */
export function evaluateJSONPath(steps: JSONPathStep[], data: unknown): unknown[] {
  let current: unknown[] = [data];
  for (const step of steps) current = current.flatMap((value) => applyStep(step, value));
  return current;
}

class Parser {
  pos = 0;
  constructor(private readonly text: string) {}

  done(): boolean {
    return this.pos >= this.text.length;
  }

  private peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  /** Steps until the end (or, inside a filter, until an operator or `)`). */
  steps(inFilter: boolean): JSONPathStep[] {
    const steps: JSONPathStep[] = [];
    if (this.peek() === '$' || (inFilter && this.peek() === '@')) this.pos++;
    while (!this.done()) {
      const c = this.peek();
      if (c === '.') {
        if (this.peek(1) === '.') {
          this.pos += 2;
          steps.push({ kind: 'recursive' });
        } else {
          this.pos++;
        }
        const name = this.field();
        if (name === '*') steps.push({ kind: 'wildcard' });
        else if (name !== '') steps.push({ kind: 'field', name });
      } else if (c === '[') {
        steps.push(this.bracket());
      } else if (inFilter || c === ' ') {
        break;
      } else {
        throw new JSONPathError(`unrecognized character in action: ${JSON.stringify(this.text.slice(this.pos))}`);
      }
    }
    return steps;
  }

  /** A field name up to a terminator; `\x` escapes any character. */
  private field(): string {
    let name = '';
    while (!this.done() && !TERMINATORS.has(this.peek())) {
      if (this.peek() === '\\' && this.pos + 1 < this.text.length) this.pos++;
      name += this.peek();
      this.pos++;
    }
    return name;
  }

  private bracket(): JSONPathStep {
    const close = this.text.indexOf(']', this.pos);
    if (this.peek(1) === '?') return this.filter();
    if (close < 0) throw new JSONPathError('unclosed array expect ]');
    const inner = this.text.slice(this.pos + 1, close).trim();
    this.pos = close + 1;
    if (inner === '*') return { kind: 'wildcard' };
    if (/^'.*'$|^".*"$/s.test(inner) && !/['"]\s*,\s*['"]/.test(inner)) return { kind: 'field', name: inner.slice(1, -1) };
    if (inner.includes(',')) {
      return { kind: 'union', items: inner.split(',').map((part) => unionItem(part.trim())) };
    }
    if (inner.includes(':')) {
      const parts = inner.split(':').map((p) => p.trim());
      if (parts.length > 3) throw new JSONPathError(`invalid array index ${inner}`);
      const num = (p: string | undefined) => (p === undefined || p === '' ? undefined : parseInteger(p, inner));
      const start = num(parts[0]);
      const end = num(parts[1]);
      const step = num(parts[2]);
      return { kind: 'slice', ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}), ...(step !== undefined ? { step } : {}) };
    }
    return { kind: 'index', index: parseInteger(inner, inner) };
  }

  private filter(): JSONPathStep {
    this.pos += 2; // [?
    if (this.peek() !== '(') throw new JSONPathError('unrecognized filter');
    this.pos++;
    this.skipSpaces();
    const left = this.operand();
    this.skipSpaces();
    let op = 'exists';
    let right: JSONPathStep[] | Literal | undefined;
    const match = /^(==|!=|<=|>=|<|>|=)/.exec(this.text.slice(this.pos));
    if (match) {
      op = match[1] === '=' ? '==' : match[1]!;
      this.pos += match[1]!.length;
      this.skipSpaces();
      right = this.operand();
      this.skipSpaces();
    }
    if (this.peek() !== ')' || this.peek(1) !== ']') throw new JSONPathError('unclosed filter expect )]');
    this.pos += 2;
    if (Array.isArray(left) === false) throw new JSONPathError('the left side of a filter must be a path');
    return { kind: 'filter', left: left as JSONPathStep[], op, right };
  }

  private operand(): JSONPathStep[] | Literal {
    const c = this.peek();
    if (c === '@' || c === '$') return this.steps(true);
    if (c === '"' || c === "'") {
      const end = this.text.indexOf(c, this.pos + 1);
      if (end < 0) throw new JSONPathError('unclosed quote');
      const literal = this.text.slice(this.pos + 1, end);
      this.pos = end + 1;
      return { literal };
    }
    const match = /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false)/.exec(this.text.slice(this.pos));
    if (!match) throw new JSONPathError(`unrecognized filter operand ${JSON.stringify(this.text.slice(this.pos))}`);
    this.pos += match[1]!.length;
    const token = match[1]!;
    return { literal: token === 'true' ? true : token === 'false' ? false : Number(token) };
  }

  private skipSpaces(): void {
    while (this.peek() === ' ') this.pos++;
  }
}

function parseInteger(text: string, context: string): number {
  if (!/^-?\d+$/.test(text)) throw new JSONPathError(`invalid array index ${context}`);
  return Number(text);
}

function unionItem(part: string): string | number {
  if (/^'.*'$|^".*"$/.test(part)) return part.slice(1, -1);
  return parseInteger(part, part);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyStep(step: JSONPathStep, value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  switch (step.kind) {
    case 'field':
      // A field of anything but an object finds nothing (kube skips non-maps).
      return isMap(value) && Object.hasOwn(value, step.name) ? [value[step.name]] : [];
    case 'wildcard':
      if (Array.isArray(value)) return [...value];
      if (isMap(value)) return Object.keys(value).sort().map((k) => value[k]);
      return [];
    case 'recursive':
      return descendants(value);
    case 'index':
    case 'slice':
      return slice(step, value);
    case 'union':
      return step.items.flatMap((item) => (typeof item === 'number' ? slice({ kind: 'index', index: item }, value) : applyStep({ kind: 'field', name: item }, value)));
    case 'filter':
      return filter(step, value);
  }
}

function descendants(value: unknown): unknown[] {
  const out: unknown[] = [value];
  if (Array.isArray(value)) for (const item of value) out.push(...descendants(item));
  else if (isMap(value)) for (const key of Object.keys(value).sort()) out.push(...descendants(value[key]));
  return out;
}

function slice(step: Extract<JSONPathStep, { kind: 'index' | 'slice' }>, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${JSON.stringify(value)} is not array or slice`);
  const length = value.length;
  if (step.kind === 'index') {
    const index = step.index < 0 ? step.index + length : step.index;
    if (index < 0 || index >= length) throw new Error(`array index out of bounds: index ${step.index}, length ${length}`);
    return [value[index]];
  }
  const clamp = (n: number) => Math.min(Math.max(n < 0 ? n + length : n, 0), length);
  const start = clamp(step.start ?? 0);
  const end = clamp(step.end ?? length);
  const stride = step.step ?? 1;
  if (stride <= 0) throw new Error('step must be > 0');
  const out: unknown[] = [];
  for (let i = start; i < end; i += stride) out.push(value[i]);
  return out;
}

function compare(op: string, left: unknown, right: unknown): boolean {
  const kind = (v: unknown) => (typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : 'other');
  // Go templates' eq/lt: both sides of one basic kind, else an error (the column shows nothing).
  if (kind(left) !== kind(right) || kind(left) === 'other') throw new Error('incompatible types for comparison');
  if (kind(left) === 'boolean' && op !== '==' && op !== '!=') throw new Error('invalid type for comparison');
  const l = left as string | number;
  const r = right as string | number;
  switch (op) {
    case '==':
      return l === r;
    case '!=':
      return l !== r;
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
    default:
      throw new Error(`unrecognized filter operator ${op}`);
  }
}

function filter(step: Extract<JSONPathStep, { kind: 'filter' }>, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${JSON.stringify(value)} is not array or slice and cannot be filtered`);
  const out: unknown[] = [];
  for (const item of value) {
    const lefts = evaluateJSONPath(step.left, item);
    if (step.op === 'exists') {
      if (lefts.length > 0) out.push(item);
      continue;
    }
    if (lefts.length === 0) continue;
    if (lefts.length > 1) throw new Error('can only compare one element at a time');
    let right: unknown;
    if (Array.isArray(step.right)) {
      const rights = evaluateJSONPath(step.right, item);
      if (rights.length === 0) continue;
      if (rights.length > 1) throw new Error('can only compare one element at a time');
      right = rights[0];
    } else {
      right = step.right?.literal;
    }
    if (compare(step.op, lefts[0], right)) out.push(item);
  }
  return out;
}
