/**
 * DefaultTolerationSeconds — kube-apiserver's admission plugin of that name. Every pod created
 * gets two tolerations, unless it already tolerates those taints:
 *
 * ```yaml
 * - { key: node.kubernetes.io/not-ready,   operator: Exists, effect: NoExecute, tolerationSeconds: 5 }
 * - { key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5 }
 * ```
 *
 * So when its node fails, a pod stays bound for that long (the node may come straight back)
 * and is then evicted by the taint manager — keelson's 5 s instead of kube's 300 s, to match
 * its 6 s node grace period. A pod already tolerates a taint when one of its tolerations has
 * that key, or an empty key (with `Exists`: everything), and the NoExecute or an empty effect.
 * Only creates of pods are touched (not updates, not subresources).
 */
import type { Toleration } from '../../api/types/core.js';
import type { AdmissionAttributes, AdmissionPlugin } from '../registry.js';

/** The taint the node lifecycle controller puts on a node whose agent says it is not ready. */
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
/** The taint the node lifecycle controller puts on a node it stopped hearing from. */
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** keelson's default tolerationSeconds for both (kube's `--default-*-toleration-seconds` is 300). */
export const DEFAULT_TOLERATION_SECONDS = 5;

/** Options of {@link DefaultTolerationSeconds}. */
export interface DefaultTolerationSecondsOptions {
  /** `--default-not-ready-toleration-seconds` (default 5). */
  notReadyTolerationSeconds?: number;
  /** `--default-unreachable-toleration-seconds` (default 5). */
  unreachableTolerationSeconds?: number;
}

/** True if the pod's tolerations already cover `key` with effect NoExecute (the plugin's test). */
function toleratesNoExecute(tolerations: readonly Toleration[], key: string): boolean {
  return tolerations.some((t) => (!t.key || t.key === key) && (!t.effect || t.effect === 'NoExecute'));
}

/** The DefaultTolerationSeconds admission plugin (see the file header). */
export class DefaultTolerationSeconds implements AdmissionPlugin {
  readonly name = 'DefaultTolerationSeconds';
  private readonly notReadySeconds: number;
  private readonly unreachableSeconds: number;

  /** Throws a RangeError for a negative or fractional number of seconds. */
  constructor(options: DefaultTolerationSecondsOptions = {}) {
    this.notReadySeconds = checkedSeconds(options.notReadyTolerationSeconds ?? DEFAULT_TOLERATION_SECONDS, 'notReadyTolerationSeconds');
    this.unreachableSeconds = checkedSeconds(options.unreachableTolerationSeconds ?? DEFAULT_TOLERATION_SECONDS, 'unreachableTolerationSeconds');
  }

  mutate(attributes: AdmissionAttributes): void {
    const { operation, info, subresource, object } = attributes;
    if (operation !== 'CREATE' || subresource || info.group !== '' || info.kind !== 'Pod') return;
    const pod = object as { spec?: { tolerations?: Toleration[] } };
    if (!pod.spec || typeof pod.spec !== 'object') return; // validation reports the missing spec
    const tolerations = Array.isArray(pod.spec.tolerations) ? pod.spec.tolerations : [];
    const added: Toleration[] = [];
    if (!toleratesNoExecute(tolerations, TAINT_NODE_NOT_READY)) {
      added.push({ key: TAINT_NODE_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: this.notReadySeconds });
    }
    if (!toleratesNoExecute(tolerations, TAINT_NODE_UNREACHABLE)) {
      added.push({ key: TAINT_NODE_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: this.unreachableSeconds });
    }
    if (added.length > 0) pod.spec.tolerations = [...tolerations, ...added];
  }
}

function checkedSeconds(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`DefaultTolerationSeconds: ${name} must be a non-negative integer, got ${value}`);
  return value;
}
