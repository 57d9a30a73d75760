/**
 * Taints and tolerations as kube's scheduling helpers compare them (component-helpers
 * FindMatchingUntoleratedTaint), each pair by keelson's `toleratesTaint` (core/v1's
 * ToleratesTaint). Scheduling ignores `tolerationSeconds`: it only bounds how long a pod stays
 * after a NoExecute taint.
 */
import { toleratesTaint, type Taint, type Toleration } from '../../../lib/index.js';

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
