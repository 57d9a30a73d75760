/**
 * Taints and tolerations as kube's scheduling helpers compare them (k8s.io/api core/v1
 * Toleration.ToleratesTaint and component-helpers FindMatchingUntoleratedTaint). Scheduling
 * ignores `tolerationSeconds`: it only bounds how long a pod stays after a NoExecute taint.
 */
import type { Taint, Toleration } from '../../../lib/index.js';

/**
 * True if `toleration` tolerates `taint`: an empty effect matches every effect, an empty key
 * (only valid with `Exists`) every key; `Exists` ignores the value, `Equal` (the default)
 * compares it.
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

/** True if any of `tolerations` tolerates `taint`. */
export function tolerationsTolerateTaint(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  if (!tolerations) return false;
  for (const toleration of tolerations) if (toleratesTaint(toleration, taint)) return true;
  return false;
}

/** A taint that keeps pods off the node (NoSchedule) or evicts them (NoExecute). */
export function isDoNotScheduleTaint(taint: Taint): boolean {
  return taint.effect === 'NoSchedule' || taint.effect === 'NoExecute';
}

/**
 * The first NoSchedule or NoExecute taint, in the node's order, that no toleration tolerates
 * (kube's FindMatchingUntoleratedTaint with DoNotScheduleTaintsFilterFunc); undefined if none.
 */
export function findUntoleratedTaint(taints: readonly Taint[] | undefined, tolerations: readonly Toleration[] | undefined): Taint | undefined {
  if (!taints) return undefined;
  for (const taint of taints) {
    if (isDoNotScheduleTaint(taint) && !tolerationsTolerateTaint(tolerations, taint)) return taint;
  }
  return undefined;
}
