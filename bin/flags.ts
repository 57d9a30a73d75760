/**
 * Parsers of the keelson binary's flag values: each throws commander's InvalidArgumentError
 * with what a good value looks like, so a bad flag is one clear line and exit code 2.
 */
import { InvalidArgumentError } from 'commander';
import { parseQuantity } from '../lib/api/quantity.js';
import { ipv4Range, portRange } from '../lib/registry/admission/ranges.js';
import { parseIpv4Cidr } from '../controllers/node-ipam/cidr-set.js';

/** Collects a repeated flag into a list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A port number (0-65535). */
export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

/** A non-negative integer. */
export function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

/** `2s`, `500ms`, `1m`, `1.5s` (a bare number is seconds) → milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be a duration such as 2s, 500ms or 1m');
  const ms = Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 } as const)[(match[2] ?? 's') as 'ms' | 's' | 'm'];
  if (ms <= 0) throw new InvalidArgumentError('must be longer than 0');
  return ms;
}

/** A Kubernetes quantity (`2`, `500m`, `4Gi`), kept as written. */
export function quantity(value: string): string {
  if (parseQuantity(value) === undefined) throw new InvalidArgumentError('must be a quantity such as 2, 500m or 4Gi');
  return value;
}

/** Whether `value` is dotted IPv4: four decimal octets up to 255. */
function isDottedIPv4(value: string): boolean {
  const octets = value.split('.');
  return octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

/** A loopback IPv4 address (127.x.y.z). */
export function loopbackAddress(value: string): string {
  if (!isDottedIPv4(value) || !value.startsWith('127.')) throw new InvalidArgumentError('must be a loopback IPv4 address such as 127.1.0.2');
  return value;
}

/** An IPv4 address (the VIP heartbeat address). */
export function ipv4Address(value: string): string {
  if (!isDottedIPv4(value)) throw new InvalidArgumentError('must be an IPv4 address such as 198.51.100.11');
  return value;
}

/** `true`/`false`, or the bare flag (true). */
export function bool(value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
}

/** A non-negative number (a rate). */
export function rate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number');
  return n;
}

/** A number in (0, 1]. */
export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 1)) throw new InvalidArgumentError('must be a number in (0, 1]');
  return n;
}

/** An IPv4 CIDR (`127.64.0.0/11`), normalised (host bits cleared). */
export function cidr(value: string): string {
  const parsed = parseIpv4Cidr(value);
  if (!parsed) throw new InvalidArgumentError('must be an IPv4 CIDR such as 127.64.0.0/11');
  return value;
}

/** A Service cluster IP range: an IPv4 CIDR from /1 to /30. */
export function serviceRange(value: string): string {
  try {
    ipv4Range('flag', value);
  } catch {
    throw new InvalidArgumentError('must be an IPv4 CIDR from /1 to /30 such as 127.96.0.0/12');
  }
  return value;
}

/** A port range `first-last` within 1-65535. */
export function portRangeFlag(value: string): string {
  try {
    portRange('flag', value);
  } catch {
    throw new InvalidArgumentError('must be a port range first-last within 1-65535, such as 30000-32767');
  }
  return value;
}
