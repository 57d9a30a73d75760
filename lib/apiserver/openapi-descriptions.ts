/**
 * Field documentation of the built-in kinds for the OpenAPI documents (what `kubectl explain`
 * prints), read from the doc comments @kubernetes/client-node's generated model declarations
 * carry — kube's own descriptions — together with which fields are required and which model
 * each field's type is. Read lazily, once per model; a model without declarations simply has
 * no descriptions.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One field of a model. */
export interface FieldDoc {
  description?: string;
  required: boolean;
  /** The client-node model of the field's value (or of its items/values), if a model. */
  model?: string;
}

/** A model's documentation. */
export interface ModelDoc {
  description?: string;
  fields: Map<string, FieldDoc>;
}

let modelsDir: string | null | undefined;
const docs = new Map<string, ModelDoc | undefined>();

function dir(): string | null {
  if (modelsDir === undefined) {
    try {
      modelsDir = dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node/dist/gen/models/V1Pod.js'));
    } catch {
      modelsDir = null;
    }
  }
  return modelsDir;
}

/** Whether client-node declares a model of this name. */
export function hasModel(model: string): boolean {
  return modelDoc(model) !== undefined;
}

/** The text of a `/** … *\/` comment's lines, unescaped (`\'` → `'`). */
function commentText(lines: string[]): string {
  return lines
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .filter((l) => l !== '')
    .join('\n')
    .replace(/\\(.)/g, '$1');
}

/** The documentation of a client-node model (e.g. `V1PodSpec`), or undefined if it has none. */
export function modelDoc(model: string): ModelDoc | undefined {
  if (docs.has(model)) return docs.get(model);
  let doc: ModelDoc | undefined;
  const base = dir();
  if (base && /^[A-Za-z0-9]+$/.test(model)) {
    try {
      doc = parse(readFileSync(join(base, `${model}.d.ts`), 'utf8'));
    } catch {
      doc = undefined;
    }
  }
  docs.set(model, doc);
  return doc;
}

function parse(source: string): ModelDoc {
  const imports = new Set([...source.matchAll(/^import \{ (\w+) \} from '\.\.\/models\/\w+\.js';$/gm)].map((m) => m[1]!));
  const lines = source.split('\n');
  const doc: ModelDoc = { fields: new Map() };
  let comment: string[] | undefined;
  let pending: string | undefined;
  let inClass = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*\/\*\*/.test(line)) {
      comment = [];
      continue;
    }
    if (comment && /^\s*\*\//.test(line)) {
      pending = commentText(comment);
      comment = undefined;
      continue;
    }
    if (comment) {
      comment.push(line);
      continue;
    }
    if (/^export declare class /.test(line)) {
      if (pending) doc.description = pending;
      pending = undefined;
      inClass = true;
      continue;
    }
    const field = inClass ? /^\s{4}'([^']+)'(\?)?:\s*(.*)$/.exec(line) : null;
    if (field) {
      let type = field[3]!;
      // A map type spans lines: `{`, `[key: string]: V;`, `};`.
      while (type.trim().endsWith('{') && i + 1 < lines.length) type += lines[++i]!;
      const model = [...type.matchAll(/\b[A-Z]\w*\b/g)].map((m) => m[0]).find((name) => imports.has(name));
      doc.fields.set(field[1]!, { ...(pending ? { description: pending } : {}), required: field[2] !== '?', ...(model ? { model } : {}) });
    }
    if (line.trim() !== '') pending = undefined;
  }
  return doc;
}
