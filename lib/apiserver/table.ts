/**
 * Server-side printing: the `meta.k8s.io/v1 Table` kube-apiserver answers to
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` — what `kubectl get` prints. Built-in
 * kinds use kube's printers (pods, nodes, services, endpoints, replication controllers,
 * namespaces, config maps, secrets, events, leases; see ./printers/), custom resources their
 * CRD version's `additionalPrinterColumns`, everything else kube's default table (Name, Created At).
 *
 * As kube's server does, every column is always printed (the "wide" ones carry priority 1 and
 * `kubectl get` hides them unless `-o wide`), and ages are computed against `options.now`.
 */
import { badRequest } from '../api/errors.js';
import type { KubeObject, ListMeta } from '../api/meta.js';
import type { ResourceInfo } from '../api/resources.js';
import type { CustomResourceColumnDefinition } from '../api/types/apiextensions.js';
import { customResourceOf, type CustomResourceVersion } from '../registry/custom-resource.js';
import type { Printer, Table, TableRow } from './printers/common.js';
import { CORE_PRINTERS } from './printers/core.js';
import { DEFAULT_PRINTER, customResourcePrinter } from './printers/custom.js';
import { POD_PRINTER } from './printers/pods.js';

/** The meta.k8s.io/v1 Table shapes. */
export type { Table, TableColumnDefinition, TableRow, TableRowCondition } from './printers/common.js';
/** kube's duration.HumanDuration (ages as `kubectl get` prints them). */
export { humanDuration } from './printers/common.js';

/** What each row carries besides its cells (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Options of {@link toTable}. */
export interface TableOptions {
  /** The current time (ms since the epoch): ages are relative to it. */
  now: number;
  /** `Metadata` (default): a PartialObjectMetadata per row; `Object`: the whole object; `None`: nothing. */
  includeObject?: IncludeObject | string;
  /** The list's metadata (resourceVersion, continue, remainingItemCount) for the table's. */
  listMeta?: ListMeta;
  /**
   * The printer columns of a custom kind, overriding the ones its ResourceInfo carries (the
   * CRD version's `additionalPrinterColumns`).
   */
  printerColumns?: readonly CustomResourceColumnDefinition[];
  /** The Table's group version: `meta.k8s.io/v1` (default) or `meta.k8s.io/v1beta1`. */
  apiVersion?: string;
}

/** Options of {@link tableOfEvent}: those of {@link toTable} plus whether to send the columns. */
export interface EventTableOptions extends Omit<TableOptions, 'listMeta'> {
  /** Column definitions are sent with the first event of a watch only (kube's behaviour); default true. */
  withColumns?: boolean;
}

const customPrinters = new WeakMap<CustomResourceVersion, Printer>();

/** The printer columns a served CRD version declares, if its ResourceInfo carries them. */
function declaredColumns(version: CustomResourceVersion): readonly CustomResourceColumnDefinition[] | undefined {
  return (version as { additionalPrinterColumns?: readonly CustomResourceColumnDefinition[] }).additionalPrinterColumns;
}

/** The printer kube uses for a kind. */
export function printerFor(info: ResourceInfo, printerColumns?: readonly CustomResourceColumnDefinition[]): Printer {
  const custom = customResourceOf(info);
  if (printerColumns) return customResourcePrinter(printerColumns);
  if (custom) {
    let printer = customPrinters.get(custom.version);
    if (!printer) {
      printer = customResourcePrinter(declaredColumns(custom.version));
      customPrinters.set(custom.version, printer);
    }
    return printer;
  }
  if (info.group === '' && info.plural === 'pods') return POD_PRINTER;
  return CORE_PRINTERS.get(`${info.group}/${info.plural}`) ?? DEFAULT_PRINTER;
}

function rowObject(obj: KubeObject, includeObject: string, apiVersion: string): KubeObject | undefined {
  switch (includeObject) {
    case 'Object':
      return obj;
    case 'None':
      return undefined;
    default:
      return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata ?? {} } as KubeObject;
  }
}

function checkIncludeObject(includeObject: string | undefined): string {
  const value = includeObject || 'Metadata';
  if (value !== 'None' && value !== 'Metadata' && value !== 'Object') throw badRequest(`unrecognized includeObject value: "${value}"`);
  return value;
}

function rows(printer: Printer, objects: readonly KubeObject[], options: Omit<TableOptions, 'listMeta'>): TableRow[] {
  const includeObject = checkIncludeObject(options.includeObject);
  const apiVersion = options.apiVersion ?? 'meta.k8s.io/v1';
  return objects.map((obj) => {
    const printed = printer.row(obj, options.now);
    const object = rowObject(obj, includeObject, apiVersion);
    return { cells: printed.cells, ...(printed.conditions ? { conditions: printed.conditions } : {}), ...(object ? { object } : {}) };
  });
}

/**
 * The Table of a list of objects of one kind, as kube-apiserver answers a list (or, with one
 * object, a get) asked for `as=Table`. Throws a 400 for an unknown `includeObject`.
 */
export function toTable(info: ResourceInfo, objects: readonly KubeObject[], options: TableOptions): Table {
  const printer = printerFor(info, options.printerColumns);
  const listMeta = options.listMeta ?? {};
  return {
    kind: 'Table',
    apiVersion: options.apiVersion ?? 'meta.k8s.io/v1',
    metadata: {
      ...(listMeta.resourceVersion ? { resourceVersion: listMeta.resourceVersion } : {}),
      ...(listMeta.continue ? { continue: listMeta.continue } : {}),
      ...(listMeta.remainingItemCount !== undefined ? { remainingItemCount: listMeta.remainingItemCount } : {}),
    },
    columnDefinitions: printer.columns.map((c) => ({ ...c })),
    rows: rows(printer, objects, options),
  };
}

/**
 * The single-row Table of one object, as kube sends it for a get and in each event of a watch
 * asked for `as=Table` (`{ type, object: Table }`): `metadata.resourceVersion` is the object's,
 * and the column definitions come only with the first event of a watch (`withColumns: false`
 * after it) — kubectl keeps the first ones and prints the header once.
 */
export function tableOfEvent(info: ResourceInfo, object: KubeObject, options: EventTableOptions): Table {
  const printer = printerFor(info, options.printerColumns);
  const resourceVersion = object.metadata?.resourceVersion;
  return {
    kind: 'Table',
    apiVersion: options.apiVersion ?? 'meta.k8s.io/v1',
    metadata: resourceVersion ? { resourceVersion } : {},
    columnDefinitions: options.withColumns === false ? [] : printer.columns.map((c) => ({ ...c })),
    rows: rows(printer, [object], options),
  };
}
