/**
 * The string formats a CRD schema may use, as apiextensions-apiserver validates them (kube-openapi's
 * strfmt registry, restricted to the formats CRDs support). A format name is normalized by dropping
 * `-` (`date-time` = `datetime`), as go-openapi does. Formats kube does not support are ignored,
 * as are `int32`/`int64`/`float`/`double`: kube checks neither the range of integers nor floats.
 */
import { isIP } from 'node:net';
import { base64Error, quantityError } from '../api/schema.js';
import { isDNS1123Label } from '../api/validation.js';

/** A check of one format: true when the string is valid. */
export type FormatCheck = (value: string) => boolean;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID3 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID4 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const UUID5 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const TIME_OF_DAY = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/;
const FULL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const HOSTNAME_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const MAC = /^(?:[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){7}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){19}|[0-9a-f]{4}(?:\.[0-9a-f]{4}){2,9})$/i;
const GO_DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const SCALA_DURATION = /^\s*\d+\s*(?:ns|us|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*$/;
const HEX_COLOR = /^#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const RGB_COLOR = /^rgb\(\s*(?:0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(?:0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(?:0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$/;
const SSN = /^\d{3}[- ]?\d{2}[- ]?\d{4}$/;
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/;

/** `2006-01-02`, with real month and day ranges (Go's `time.Parse`). */
function isFullDate(value: string): boolean {
  const m = FULL_DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return day <= days;
}

/** strfmt.IsDateTime: a full date, `T` (any case), a time of day with a zone. */
function isDateTime(value: string): boolean {
  if (value.length < 4) return false;
  const parts = value.toLowerCase().split('t');
  if (parts.length < 2 || !isFullDate(parts[0] ?? '')) return false;
  const m = TIME_OF_DAY.exec(parts[1] ?? '');
  return !!m && (m[1] ?? '') <= '23' && (m[2] ?? '') <= '59' && (m[3] ?? '') <= '59';
}

function isHostname(value: string): boolean {
  if (value.length === 0 || value.length > 255) return false;
  return value.split('.').every((label) => HOSTNAME_LABEL.test(label));
}

function isCIDR(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const ip = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function isRequestURI(value: string): boolean {
  if (value.startsWith('/')) return true;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function isISBN10(value: string): boolean {
  const s = value.replace(/[\s-]/g, '');
  if (!/^\d{9}[\dX]$/.test(s)) return false;
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += (i + 1) * (s[i] === 'X' ? 10 : Number(s[i]));
  return sum % 11 === 0;
}

function isISBN13(value: string): boolean {
  const s = value.replace(/[\s-]/g, '');
  if (!/^\d{13}$/.test(s)) return false;
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(s[i]) * (i % 2 === 0 ? 1 : 3);
  return (10 - (sum % 10)) % 10 === Number(s[12]);
}

function isCreditCard(value: string): boolean {
  const digits = value.replace(/\D/g, '');
  if (!/^(?:4\d{12}(?:\d{3})?|5[1-5]\d{14}|6(?:011|5\d\d)\d{12}|3[47]\d{13}|3(?:0[0-5]|[68]\d)\d{11}|(?:2131|1800|35\d{3})\d{11})$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** A DNS-1123 label without upper case (kube's `k8s-short-name`). */
function isShortName(value: string): boolean {
  return isDNS1123Label(value).length === 0;
}

/** Dot-separated short names, at most 253 characters (kube's `k8s-long-name`). */
function isLongName(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value.split('.').every((segment) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(segment));
}

/** The supported formats by normalized name (no `-`). */
const FORMATS: ReadonlyMap<string, FormatCheck> = new Map<string, FormatCheck>([
  ['bsonobjectid', (v) => /^[0-9a-f]{24}$/i.test(v)],
  ['uri', isRequestURI],
  ['email', (v) => EMAIL.test(v)],
  ['hostname', isHostname],
  ['ipv4', (v) => isIP(v) === 4],
  ['ipv6', (v) => isIP(v) === 6],
  ['cidr', isCIDR],
  ['mac', (v) => MAC.test(v)],
  ['uuid', (v) => UUID.test(v)],
  ['uuid3', (v) => UUID3.test(v)],
  ['uuid4', (v) => UUID4.test(v)],
  ['uuid5', (v) => UUID5.test(v)],
  ['isbn', (v) => isISBN10(v) || isISBN13(v)],
  ['isbn10', isISBN10],
  ['isbn13', isISBN13],
  ['creditcard', isCreditCard],
  ['ssn', (v) => SSN.test(v)],
  ['hexcolor', (v) => HEX_COLOR.test(v)],
  ['rgbcolor', (v) => RGB_COLOR.test(v)],
  ['byte', (v) => base64Error(v) === undefined],
  ['password', () => true],
  ['date', isFullDate],
  ['duration', (v) => GO_DURATION.test(v) || SCALA_DURATION.test(v)],
  ['datetime', isDateTime],
  ['quantity', (v) => quantityError(v) === undefined],
  ['k8sshortname', isShortName],
  ['k8slongname', isLongName],
]);

/**
 * The check of a string format as a CRD schema names it (`date-time`, `uuid`, …), or undefined
 * when kube ignores the format (unknown names, and any format on a non-string type).
 */
export function stringFormat(format: string | undefined, type: string | undefined): FormatCheck | undefined {
  if (!format || (type !== undefined && type !== 'string')) return undefined;
  return FORMATS.get(format.replaceAll('-', ''));
}
