/**
 * The string-format checks kind validation needs beyond the name checks of `../validation.ts`
 * (which owns DNS names, qualified names and label values): config keys, port names and numbers,
 * environment variable names, HTTP header names, IPs and CIDRs — k8s.io/apimachinery's
 * `util/validation`, returning detail strings (empty = valid), plus the field-level helpers
 * shared by several kinds.
 */
import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import type { LabelSelector } from '../meta.js';
import { byteLength, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, maxLenError, regexError, validateLabelName, validateLabels } from '../validation.js';
import { child, forbidden, inclusiveRangeError, index, invalid, invalidEach, required } from './field.js';

/** The name checks of `../validation.ts`, re-exported so kind validators import formats from one place. */
export { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, validateLabelName, validateLabels };

function hasChDirPrefix(value: string): string[] {
  if (value === '.') return [`must not be '.'`];
  if (value === '..') return [`must not be '..'`];
  if (value.startsWith('..')) return [`must not start with '..'`];
  return [];
}

const CONFIG_MAP_KEY_FMT = '[-._a-zA-Z0-9]+';
const CONFIG_MAP_KEY_RE = new RegExp(`^${CONFIG_MAP_KEY_FMT}$`);

/** A key of a ConfigMap or Secret: ≤253 chars of `[-._a-zA-Z0-9]`, not `.`/`..`/`..x`. */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!CONFIG_MAP_KEY_RE.test(value)) {
    errs.push(regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", CONFIG_MAP_KEY_FMT, 'key.name', 'KEY_NAME', 'key-name'));
  }
  errs.push(...hasChDirPrefix(value));
  return errs;
}

/** A port number: 1–65535. */
export function isValidPortNum(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

/** An IANA service name: ≤15 chars of `[-a-z0-9]`, at least one letter, no `--`, no edge hyphen. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (byteLength(port) > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

/**
 * An environment variable name, with the relaxed rule that is kube's default since 1.32
 * (RelaxedEnvironmentVariableValidation): printable ASCII other than '='.
 */
export function isRelaxedEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (value.length === 0) errs.push('environment variable name must be non-empty');
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x7e || code < 0x20 || ch === '=') {
      errs.push("a valid environment variable name must consist only of printable ASCII characters other than '='");
      break;
    }
  }
  return errs;
}

/** An HTTP header name: `[-A-Za-z0-9]+`. */
export function isHTTPHeaderName(value: string): string[] {
  return /^[-A-Za-z0-9]+$/.test(value)
    ? []
    : [regexError("a valid HTTP header must consist of alphanumeric characters or '-'", '[-A-Za-z0-9]+', 'X-Header-Name')];
}

/** kube's strict IP parse: no leading zeros in IPv4 octets, no zone. */
export function parseIP(value: string): 4 | 6 | 0 {
  const family = isIP(value);
  if (family === 4 && value.split('.').some((octet) => octet.length > 1 && octet.startsWith('0'))) return 0;
  if (family === 6 && value.includes('%')) return 0;
  return family as 4 | 6 | 0;
}

/** `field: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`. */
export function validateIP(value: string, field: string): FieldError[] {
  return parseIP(value) ? [] : [invalid(field, value, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')];
}

/** The IP family of a CIDR (`10.0.0.0/24` → 4), or 0 when it is not one. */
export function parseCIDR(value: string): 4 | 6 | 0 {
  const slash = value.indexOf('/');
  if (slash < 0) return 0;
  const family = parseIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  if (!family || !/^[0-9]+$/.test(bits)) return 0;
  return Number(bits) <= (family === 4 ? 32 : 128) ? family : 0;
}

/** `field: Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`. */
export function validateCIDR(value: string, field: string): FieldError[] {
  return parseCIDR(value) ? [] : [invalid(field, value, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')];
}

/**
 * kube's ValidateNonSpecialIP: no unspecified, loopback or link-local addresses (endpoints,
 * external IPs). One keelson difference: its cluster networks live on loopback (nodes on
 * 127.1.0.0/16, pods in 127.64.0.0/11, Services in 127.96.0.0/12 — Linux routes all of 127/8
 * to `lo`), so only 127.0.0.0/16, where the host's own loopback address lives, counts as loopback.
 */
export function validateNonSpecialIP(value: string, field: string): FieldError[] {
  const family = parseIP(value);
  if (!family) return [invalid(field, value, 'must be a valid IP address')];
  const lower = value.toLowerCase();
  const errs: FieldError[] = [];
  const octets = family === 4 ? value.split('.').map(Number) : [];
  if (family === 4 ? value === '0.0.0.0' : /^[0:]+$/.test(lower)) errs.push(invalid(field, value, `may not be unspecified (${value})`));
  if (family === 4 ? octets[0] === 127 && octets[1] === 0 : /^(0*:)*:?0*1$/.test(lower) && lower !== '1') {
    errs.push(invalid(field, value, 'may not be in the loopback range (127.0.0.0/16, ::1/128)'));
  }
  if (family === 4 ? octets[0] === 169 && octets[1] === 254 : /^fe[89ab]/.test(lower)) {
    errs.push(invalid(field, value, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  }
  if (family === 4 ? octets[0] === 224 && octets[1] === 0 && octets[2] === 0 : /^ff02:/.test(lower)) {
    errs.push(invalid(field, value, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  }
  return errs;
}

/** `field: Invalid value: "x": <DNS-1123 label message>` for each problem. */
export function validateDNS1123Label(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isDNS1123Label(value));
}

/** `field: Invalid value: "x": <DNS-1123 subdomain message>` for each problem. */
export function validateDNS1123Subdomain(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isDNS1123Subdomain(value));
}

/** `field: Invalid value: "x": <qualified name message>` for each problem. */
export function validateQualifiedName(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isQualifiedName(value));
}

/** An IntOrString port: a number must be 1–65535, a string an IANA service name. */
export function validatePortNumOrName(port: number | string | undefined, field: string): FieldError[] {
  if (typeof port === 'string') return invalidEach(field, port, isValidPortName(port));
  return invalidEach(field, port ?? 0, isValidPortNum(port ?? 0));
}

/** kube's ValidateLabelSelector (object form), label values included. */
export function validateLabelSelector(selector: LabelSelector | undefined, field: string): FieldError[] {
  if (!selector) return [];
  const errs = validateLabels(selector.matchLabels, child(field, 'matchLabels'));
  (selector.matchExpressions ?? []).forEach((expr, i) => {
    const path = index(child(field, 'matchExpressions'), i);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(invalid(child(path, 'operator'), expr.operator, 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(expr.key, child(path, 'key')));
    values.forEach((value, j) => errs.push(...invalidEach(index(child(path, 'values'), j), value, isValidLabelValue(value))));
  });
  return errs;
}
