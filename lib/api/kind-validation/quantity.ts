/**
 * Resource quantities (k8s.io/apimachinery's `resource.Quantity`), parsed exactly into integer
 * nano-units so they can be compared and summed without floating-point error: `"100m"`,
 * `"0.1"` and `0.1` are the same quantity; `"1Gi"` is 1073741824 units. Used by validation
 * (requests ≤ limits, non-negative values) and by defaulting (the pod's QoS class).
 */
import type { Quantity } from '../types/core.js';

/** kube's ErrFormatWrong detail for an unparsable quantity. */
export const QUANTITY_FORMAT_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const NANO = 1_000_000_000n;
const BINARY_SUFFIXES: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL_EXPONENTS: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Parses a quantity into nano-units (value × 10⁹), rounding up sub-nano precision as kube does; undefined when malformed. */
export function parseQuantity(quantity: Quantity | undefined | null): bigint | undefined {
  if (quantity === undefined || quantity === null) return undefined;
  const text = typeof quantity === 'number' ? numberText(quantity) : quantity.trim();
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(text);
  if (!match || (!match[2] && !match[3])) return undefined;
  const negative = match[1] === '-';
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  const suffix = match[4] ?? '';
  let numerator = BigInt(`${whole}${fraction}` || '0');
  let denominator = 10n ** BigInt(fraction.length);
  const binary = BINARY_SUFFIXES[suffix];
  if (binary !== undefined) {
    numerator *= binary;
  } else {
    let exponent: number | undefined = DECIMAL_EXPONENTS[suffix];
    if (exponent === undefined) {
      const exp = /^[eE]([+-]?[0-9]+)$/.exec(suffix);
      if (!exp) return undefined;
      exponent = Number(exp[1]);
    }
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  numerator *= NANO;
  const nanos = (numerator + denominator - 1n) / denominator;
  return negative ? -nanos : nanos;
}

function numberText(n: number): string {
  // JSON numbers: use the plain decimal form when it is exact, else JS's exponent form (`1e+21`).
  return Number.isFinite(n) ? String(n) : 'NaN';
}

/** True when the quantity parses. */
export function isQuantity(quantity: Quantity | undefined | null): boolean {
  return parseQuantity(quantity) !== undefined;
}

/** The quantity as kube prints it in a message: its original text (numbers as decimals). */
export function quantityText(quantity: Quantity): string {
  return typeof quantity === 'number' ? numberText(quantity) : quantity;
}
