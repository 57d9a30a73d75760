/**
 * The status apiextensions-apiserver's controllers keep on a CustomResourceDefinition, computed
 * from the CRD and its neighbours in the same API group:
 *
 * - the naming controller accepts each requested name (plural, singular, short names, kind,
 *   list kind) unless another CRD of the group — or, in keelson, a built-in kind — already uses
 *   it: `NamesAccepted` is then False with reason `PluralConflict`, `SingularConflict`,
 *   `ShortNamesConflict`, `KindConflict` or `ListKindConflict` and message `"x" is already in use`;
 * - the establishing controller marks a CRD whose names were accepted `Established`;
 * - `storedVersions` always holds the storage version;
 * - the finalizer controller reports deletion progress in the `Terminating` condition.
 *
 * A condition keeps its `lastTransitionTime` until its status changes, as kube's SetCRDCondition.
 */
import type { CustomResourceDefinition } from '../api/kinds.js';
import type { ResourceInfo } from '../api/resources.js';
import type {
  CustomResourceDefinitionCondition,
  CustomResourceDefinitionNames,
  CustomResourceDefinitionStatus,
} from '../api/types/apiextensions.js';

/** The finalizer that makes a CRD wait until its custom resources are gone. */
export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** Names already taken in one API group: resource names (plural, singular, short) and kinds. */
export interface NamesInUse {
  resources: Set<string>;
  kinds: Set<string>;
}

/** The names in use in `group`: every CRD's accepted names, and the built-in kinds'. */
export function namesInUse(group: string, crds: Iterable<CustomResourceDefinition>, builtins: readonly ResourceInfo[]): NamesInUse {
  const used: NamesInUse = { resources: new Set(), kinds: new Set() };
  const add = (resources: (string | undefined)[], kinds: (string | undefined)[]) => {
    for (const r of resources) if (r) used.resources.add(r);
    for (const k of kinds) if (k) used.kinds.add(k);
  };
  for (const crd of crds) {
    if (crd.spec?.group !== group) continue;
    const n = crd.status?.acceptedNames;
    if (n) add([n.plural, n.singular, ...(n.shortNames ?? [])], [n.kind, n.listKind]);
  }
  for (const info of builtins) if (info.group === group) add([info.plural, info.singular, ...info.shortNames], [info.kind, info.listKind]);
  return used;
}

/** True if the condition of this type is True. */
export function isConditionTrue(crd: CustomResourceDefinition, type: string): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** Whether the kinds of a CRD are served: its names were accepted, or it was established before. */
export function isServed(crd: CustomResourceDefinition): boolean {
  return isConditionTrue(crd, 'NamesAccepted') || isConditionTrue(crd, 'Established');
}

/** Sets a condition in place (kube's SetCRDCondition). */
export function setCondition(status: CustomResourceDefinitionStatus, condition: Omit<CustomResourceDefinitionCondition, 'lastTransitionTime'>, now: string): void {
  const conditions = (status.conditions ??= []);
  const existing = conditions.find((c) => c.type === condition.type);
  if (!existing) {
    conditions.push({ type: condition.type, status: condition.status, lastTransitionTime: now, reason: condition.reason ?? '', message: condition.message ?? '' });
    return;
  }
  if (existing.status !== condition.status || !existing.lastTransitionTime) existing.lastTransitionTime = now;
  existing.status = condition.status;
  existing.reason = condition.reason ?? '';
  existing.message = condition.message ?? '';
}

/** kube's equalToAcceptedOrFresh: the name is ours already, or nobody's. */
function conflict(requested: string | undefined, accepted: string | undefined, used: Set<string>): string | undefined {
  if (requested === accepted || !requested || !used.has(requested)) return undefined;
  return `"${requested}" is already in use`;
}

/**
 * The status the naming and establishing controllers give a CRD that is not being deleted: the
 * accepted names, `NamesAccepted`, `Established` and `storedVersions`. Returns a new status; the
 * CRD is not changed.
 */
export function namedStatus(crd: CustomResourceDefinition, used: NamesInUse, now: string): CustomResourceDefinitionStatus {
  const status = structuredClone(crd.status ?? {});
  const requested: Partial<CustomResourceDefinitionNames> = crd.spec?.names ?? {};
  const accepted: Partial<CustomResourceDefinitionNames> = status.acceptedNames ?? {};
  const names = { ...accepted };
  let refusal: { reason: string; message: string } | undefined;
  const check = (field: 'plural' | 'singular' | 'kind' | 'listKind', reason: string, pool: Set<string>) => {
    const message = conflict(requested[field], accepted[field], pool);
    if (message) refusal = { reason, message };
    else names[field] = requested[field] as string;
  };
  check('plural', 'PluralConflict', used.resources);
  check('singular', 'SingularConflict', used.resources);
  const requestedShort = requested.shortNames ?? [];
  if (JSON.stringify(requestedShort) !== JSON.stringify(accepted.shortNames ?? [])) {
    const own = new Set(accepted.shortNames ?? []);
    const messages = requestedShort.filter((s) => !own.has(s)).map((s) => conflict(s, '', used.resources)).filter((m): m is string => !!m);
    if (messages.length > 0) refusal = { reason: 'ShortNamesConflict', message: messages.length === 1 ? messages[0]! : `[${messages.join(', ')}]` };
    else names.shortNames = requestedShort;
  }
  check('kind', 'KindConflict', used.kinds);
  check('listKind', 'ListKindConflict', used.kinds);
  names.categories = requested.categories ?? [];

  status.acceptedNames = {
    plural: names.plural ?? '',
    ...(names.singular ? { singular: names.singular } : {}),
    ...(names.shortNames?.length ? { shortNames: names.shortNames } : {}),
    kind: names.kind ?? '',
    ...(names.listKind ? { listKind: names.listKind } : {}),
    ...(names.categories?.length ? { categories: names.categories } : {}),
  };
  if (refusal) {
    setCondition(status, { type: 'NamesAccepted', status: 'False', ...refusal }, now);
    if (!(status.conditions ?? []).some((c) => c.type === 'Established')) {
      setCondition(status, { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' }, now);
    }
  } else {
    setCondition(status, { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' }, now);
    if (!(status.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True')) {
      setCondition(status, { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' }, now);
    }
  }
  const storage = (crd.spec?.versions ?? []).find((v) => v.storage)?.name;
  const stored = [...(status.storedVersions ?? [])];
  if (storage && !stored.includes(storage)) stored.push(storage);
  status.storedVersions = stored;
  return status;
}

/** Status without timestamps, for deciding whether a write would change anything. */
export function sameStatus(a: CustomResourceDefinitionStatus | undefined, b: CustomResourceDefinitionStatus | undefined): boolean {
  const strip = (s: CustomResourceDefinitionStatus | undefined) =>
    JSON.stringify({ ...(s ?? {}), conditions: (s?.conditions ?? []).map(({ lastTransitionTime: _t, ...rest }) => rest) });
  return strip(a) === strip(b);
}
