/**
 * Tables of kinds without a built-in printer: custom resources get their CRD version's
 * `additionalPrinterColumns` (apiextensions-apiserver's tableconvertor: Name first, then each
 * column's JSONPath rendered by type; a lone `Age` date column when the CRD declares none), and
 * every other kind gets kube's default table convertor (Name, Created At).
 */
import type { KubeObject } from '../../api/meta.js';
import type { CustomResourceColumnDefinition } from '../../api/types/apiextensions.js';
import { CREATION_TIMESTAMP_DESCRIPTION, NAME_COLUMN, column, humanDuration, nameOf, parseTime, type Printer, type TableColumnDefinition } from './common.js';
import { compileJSONPath, evaluateJSONPath, type JSONPathStep } from './jsonpath.js';

/** kube's default table convertor (apiserver `rest.NewDefaultTableConvertor`): Name, Created At. */
export const DEFAULT_PRINTER: Printer = {
  columns: [NAME_COLUMN, column('Created At', 'date', CREATION_TIMESTAMP_DESCRIPTION)],
  row: (o) => ({ cells: [nameOf(o), rfc3339(o.metadata?.creationTimestamp)] }),
};

/** A timestamp as Go's `Time.UTC().Format(time.RFC3339)` (Go's zero time when unset). */
function rfc3339(ts: unknown): string {
  const ms = parseTime(ts);
  return ms === undefined ? '0001-01-01T00:00:00Z' : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The columns apiextensions-apiserver serves for a CRD version without printer columns. */
export const DEFAULT_CUSTOM_COLUMNS: readonly CustomResourceColumnDefinition[] = [
  { name: 'Age', type: 'date', description: CREATION_TIMESTAMP_DESCRIPTION, jsonPath: '.metadata.creationTimestamp' },
];

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** kube's cellForJSONValue: a non-string column's cell from the first JSONPath match. */
function typedCell(type: string, value: unknown, now: number): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date': {
      if (typeof value !== 'string') return null;
      if (value === '' || value === 'null') return '<unknown>';
      const ms = RFC3339.test(value) ? Date.parse(value) : Number.NaN;
      return Number.isNaN(ms) ? '<invalid>' : humanDuration(now - ms);
    }
    default:
      return null;
  }
}

/** Go's `%v` of a float64 (strconv 'g', shortest): `1.5`, `1.2345675e+06`, `1e-05`. */
function goFloat(n: number): string {
  // Integral JSON numbers are int64s in kube's unstructured objects: plain decimals.
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return String(n);
  const [mantissa = '', exp = '0'] = n.toExponential().split('e');
  const e = Number(exp);
  if (e < -4 || e >= 6) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return String(n);
}

/** Go's encoding/json of an unstructured value: sorted keys, `<`, `>`, `&` escaped. */
function goJSON(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(sorted(value))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A `string` column's cell: the first match printed as kube's JSONPath PrintResults does. */
function stringCell(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return goFloat(value);
  if (typeof value === 'boolean') return String(value);
  return goJSON(value);
}

/**
 * The printer of a custom kind from its printer columns (the defaults when there are none). A
 * column whose JSONPath does not parse ends the list, as kube keeps the columns before it.
 */
export function customResourcePrinter(printerColumns: readonly CustomResourceColumnDefinition[] | undefined): Printer {
  const declared = printerColumns?.length ? printerColumns : DEFAULT_CUSTOM_COLUMNS;
  const columns: TableColumnDefinition[] = [NAME_COLUMN];
  const paths: JSONPathStep[][] = [];
  for (const col of declared) {
    let path: JSONPathStep[];
    try {
      path = compileJSONPath(col.jsonPath);
    } catch {
      break;
    }
    paths.push(path);
    columns.push({
      name: col.name,
      type: col.type,
      format: col.format ?? '',
      description: col.description || `Custom resource definition column (in JSONPath format): ${col.jsonPath}`,
      priority: col.priority ?? 0,
    });
  }
  return {
    columns,
    row(o: KubeObject, now: number) {
      const cells: unknown[] = [nameOf(o)];
      paths.forEach((path, i) => {
        let results: unknown[];
        try {
          results = evaluateJSONPath(path, o);
        } catch {
          results = [];
        }
        const type = columns[i + 1]!.type;
        cells.push(results.length === 0 ? null : type === 'string' ? stringCell(results[0]) : typedCell(type, results[0], now));
      });
      return { cells };
    },
  };
}
