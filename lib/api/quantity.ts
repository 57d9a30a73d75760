/**
 * Resource quantities for controllers: kube's `Quantity.MilliValue()` (cpu in millicores) and
 * `Quantity.Value()` (memory in bytes), rounded up as kube rounds them. Parsing is exact (see
 * kind-validation/quantity.ts); a malformed quantity reads as undefined.
 */
import { parseQuantity } from './kind-validation/quantity.js';
import type { Quantity } from './types/core.js';

export { parseQuantity };

const NANO = 1_000_000_000n;

function ceilDiv(a: bigint, b: bigint): bigint {
  return a >= 0n ? (a + b - 1n) / b : a / b;
}

/** The quantity in thousandths (`"100m"` → 100, `"1"` → 1000), as kube's MilliValue. */
export function milliValue(quantity: Quantity | undefined | null): number | undefined {
  const nanos = parseQuantity(quantity);
  return nanos === undefined ? undefined : Number(ceilDiv(nanos, 1_000_000n));
}

/** The quantity in base units (`"1Gi"` → 1073741824, `"100m"` → 1), as kube's Value. */
export function quantityValue(quantity: Quantity | undefined | null): number | undefined {
  const nanos = parseQuantity(quantity);
  return nanos === undefined ? undefined : Number(ceilDiv(nanos, NANO));
}
