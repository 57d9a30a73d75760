/**
 * What every printer shares: the meta.k8s.io Table shapes, kube's human-readable durations
 * (`duration.HumanDuration`), timestamps as ages, label formatting, and the column descriptions
 * kube takes from the API's swagger docs.
 */
import type { KubeObject, ListMeta } from '../../api/meta.js';

/** One column of a Table (meta/v1 TableColumnDefinition). */
export interface TableColumnDefinition {
  name: string;
  /** An OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`. */
  type: string;
  /** An OpenAPI format (`name` for the object's name column), else empty. */
  format: string;
  description: string;
  /** 0 for the default columns; higher ones are shown by `kubectl get -o wide`. */
  priority: number;
}

/** A condition of a row (meta/v1 TableRowCondition): kube marks finished pods `Completed`. */
export interface TableRowCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

/** One row of a Table (meta/v1 TableRow). */
export interface TableRow {
  /** One value per column definition: strings, integers, numbers, booleans or null. */
  cells: unknown[];
  conditions?: TableRowCondition[];
  /** The object (PartialObjectMetadata, the full object, or absent), per `includeObject`. */
  object?: KubeObject;
}

/** meta.k8s.io/v1 Table: what `kubectl get` asks the server for and prints. */
export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: ListMeta;
  /** Empty on watch events after the first (kube sends headers once per watch). */
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** The cells (and row conditions) one printer makes of one object. */
export interface PrintedRow {
  cells: unknown[];
  conditions?: TableRowCondition[];
}

/** How one kind is printed: every column (kube's server always prints wide) and a row per object. */
export interface Printer {
  columns: TableColumnDefinition[];
  row(obj: KubeObject, now: number): PrintedRow;
}

/** A column definition with kube's defaults (empty format, priority 0). */
export function column(name: string, type: string, description: string, extra: { format?: string; priority?: number } = {}): TableColumnDefinition {
  return { name, type, format: extra.format ?? '', description, priority: extra.priority ?? 0 };
}

/** ObjectMeta's swagger doc of `name`. */
export const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';

/** ObjectMeta's swagger doc of `creationTimestamp`. */
export const CREATION_TIMESTAMP_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

/** The `Name` column every printer starts with. */
export const NAME_COLUMN: TableColumnDefinition = column('Name', 'string', NAME_DESCRIPTION, { format: 'name' });

/** The `Age` column (a string cell: the human-readable age). */
export const AGE_COLUMN: TableColumnDefinition = column('Age', 'string', CREATION_TIMESTAMP_DESCRIPTION);

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;

/**
 * A duration the way kube prints ages (apimachinery `duration.HumanDuration`): `45s`, `5m30s`,
 * `42m`, `3h2m`, `20h`, `3d4h`, `40d`, `2y100d`, `9y`; within 2 s in the future is `0s`, further is
 * `<invalid>`. Go truncates every unit toward zero, so does this.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / MS_PER_SECOND);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / MS_PER_MINUTE);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / MS_PER_HOUR);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const dy = days % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${years}y`;
}

/** Go's zero time, which metav1.Time treats as unset. */
const GO_ZERO_TIME = Date.parse('0001-01-01T00:00:00Z');

/** The milliseconds of a metav1.Time/MicroTime string, or undefined when unset (or Go's zero time). */
export function parseTime(ts: unknown): number | undefined {
  if (typeof ts !== 'string' || ts === '' || ts === 'null') return undefined;
  const ms = Date.parse(ts);
  return Number.isNaN(ms) || ms === GO_ZERO_TIME ? undefined : ms;
}

/** kube's translateTimestampSince: the age of a timestamp, `<unknown>` when unset. */
export function age(ts: unknown, now: number): string {
  const ms = parseTime(ts);
  return ms === undefined ? '<unknown>' : humanDuration(now - ms);
}

/** kube's labels.FormatLabels: `a=1,b=2` sorted by key, `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length === 0 ? '<none>' : keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/** Go's net.JoinHostPort: IPv6 hosts in brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The object's name ("" when unset). */
export function nameOf(o: KubeObject): string {
  return o.metadata?.name ?? '';
}
