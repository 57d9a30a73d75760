/**
 * Taints and tolerations compared as Kubernetes does (k8s.io/api core/v1
 * `Toleration.ToleratesTaint`): the one rule both the scheduler and taint-based eviction apply.
 */
import type { Taint, Toleration } from './types/core.js';

/**
 * True if `toleration` tolerates `taint`: an empty effect matches every effect, an empty key
 * (only valid with `Exists`) every key; `Exists` ignores the value, `Equal` (the default)
 * compares it. `tolerationSeconds` plays no part here: it only bounds how long a pod stays once
 * a NoExecute taint is tolerated.
 */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}
