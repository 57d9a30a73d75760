/**
 * Pod validation: create (the whole spec), update (kube allows changing only images, a shorter
 * activeDeadlineSeconds, added tolerations and removed scheduling gates), `/status` updates, and
 * the Binding subresource — kube's ValidatePodCreate, ValidatePodUpdate, ValidatePodStatusUpdate
 * and ValidatePodBinding.
 */
import type { FieldError } from '../errors.js';
import type { Binding, Pod } from '../kinds.js';
import type { Container, ContainerStatus, PodIP, PodSpec, Toleration } from '../types/core.js';
import { nameIsDNSSubdomain, validateImmutableField } from '../validation.js';
import { child, duplicate, forbidden, inclusiveRangeError, index, invalid, invalidEach, notSupported, required, semanticEqual } from './field.js';
import { parseIP, validateIP, validateQualifiedName } from './formats.js';
import { validatePodSpec, validateTolerations } from './pod-spec.js';
import { parseQuantity } from './quantity.js';

const MAX_INT32 = 2147483647;

/** The fields a pod update may change, as kube lists them in its Forbidden message. */
export const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/** The detail of the Forbidden error of a pod update that changes a fixed field (before the diff). */
export const POD_UPDATE_FORBIDDEN_MESSAGE = `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}`;

function validateContainersOnlyForPod(containers: readonly Container[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (containers ?? []).forEach((ctr, i) => {
    if (ctr.image !== undefined && ctr.image !== ctr.image.trim()) {
      errs.push(invalid(child(index(path, i), 'image'), ctr.image, 'must not have leading or trailing whitespace'));
    }
  });
  return errs;
}

/** A new Pod's spec (kube's validatePodMetadataAndSpec, metadata excluded). */
export function validatePod(pod: Pod): FieldError[] {
  return [
    ...validatePodSpec(pod.spec, 'spec', { isPod: true }),
    ...validateContainersOnlyForPod(pod.spec?.containers, 'spec.containers'),
    ...validateContainersOnlyForPod(pod.spec?.initContainers, 'spec.initContainers'),
  ];
}

function validateContainerUpdates(next: readonly Container[], prev: readonly Container[], path: string): { errors: FieldError[]; stop: boolean } {
  if (next.length !== prev.length) return { errors: [forbidden(path, 'pod updates may not add or remove containers')], stop: true };
  const errors: FieldError[] = [];
  next.forEach((ctr, i) => {
    if (!ctr.image) errors.push(required(child(index(path, i), 'image')));
    else if (ctr.image !== ctr.image.trim()) errors.push(invalid(child(index(path, i), 'image'), ctr.image, 'must not have leading or trailing whitespace'));
  });
  return { errors, stop: false };
}

function validateOnlyAddedTolerations(next: readonly Toleration[], prev: readonly Toleration[], path: string): FieldError[] {
  for (const old of prev) {
    const kept = next.some((t) => semanticEqual({ ...old, tolerationSeconds: t.tolerationSeconds }, t));
    if (!kept) return [forbidden(path, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(next, path);
}

/** A pod update: the new pod must be valid, and only kube's updatable fields may change. */
export function validatePodUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validatePod(pod);
  const spec: PodSpec = pod.spec ?? { containers: [] };
  const oldSpec: PodSpec = old.spec ?? { containers: [] };
  for (const field of ['containers', 'initContainers'] as const) {
    const result = validateContainerUpdates(spec[field] ?? [], oldSpec[field] ?? [], child('spec', field));
    errs.push(...result.errors);
    if (result.stop) return errs;
  }
  const deadline = spec.activeDeadlineSeconds;
  if (deadline !== undefined) {
    if (deadline < 0 || deadline > MAX_INT32) return [...errs, invalid('spec.activeDeadlineSeconds', deadline, inclusiveRangeError(0, MAX_INT32))];
    if (oldSpec.activeDeadlineSeconds !== undefined && oldSpec.activeDeadlineSeconds < deadline) {
      return [...errs, invalid('spec.activeDeadlineSeconds', deadline, 'must be less than or equal to previous value')];
    }
  } else if (oldSpec.activeDeadlineSeconds !== undefined) {
    errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  errs.push(...validateOnlyAddedTolerations(spec.tolerations ?? [], oldSpec.tolerations ?? [], 'spec.tolerations'));
  const oldGates = new Set((oldSpec.schedulingGates ?? []).map((g) => g.name));
  (spec.schedulingGates ?? []).forEach((gate, i) => {
    if (!oldGates.has(gate.name)) {
      errs.push(forbidden(child(index('spec.schedulingGates', i), 'name'), `only deletion is allowed, but found new scheduling gate '${gate.name}'`));
    }
  });
  const munged = mungedSpec(spec, oldSpec);
  if (!semanticEqual(normalizeQuantities(munged), normalizeQuantities(oldSpec))) {
    errs.push(forbidden('spec', `${POD_UPDATE_FORBIDDEN_MESSAGE}\n${describeDiff(oldSpec, munged, 'spec')}`));
  }
  return errs;
}

/** The new spec with every updatable field reset to its old value, as kube "munges" it. */
function mungedSpec(spec: PodSpec, oldSpec: PodSpec): PodSpec {
  const munged = structuredClone(spec);
  munged.containers = munged.containers.map((c, i) => ({ ...c, image: oldSpec.containers[i]?.image }));
  if (munged.initContainers) munged.initContainers = munged.initContainers.map((c, i) => ({ ...c, image: oldSpec.initContainers?.[i]?.image }));
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.schedulingGates = oldSpec.schedulingGates;
  munged.tolerations = oldSpec.tolerations;
  const oldGrace = oldSpec.terminationGracePeriodSeconds;
  if (oldGrace !== undefined && oldGrace < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = oldGrace;
  return munged;
}

/** Resource quantities compared by value, as kube's semantic equality does (`1000m` = `1`). */
function normalizeQuantities(spec: PodSpec): PodSpec {
  const norm = (list: Record<string, string | number> | undefined) =>
    list && Object.fromEntries(Object.entries(list).map(([k, v]) => [k, parseQuantity(v)?.toString() ?? v]));
  const fix = (c: Container): Container =>
    c.resources ? { ...c, resources: { ...c.resources, limits: norm(c.resources.limits), requests: norm(c.resources.requests) } } : c;
  return { ...spec, containers: spec.containers.map(fix), initContainers: spec.initContainers?.map(fix), overhead: norm(spec.overhead) };
}

/** A short `-old`/`+new` listing of the changed fields (kube prints a Go cmp.Diff here). */
function describeDiff(before: unknown, after: unknown, path: string, lines: string[] = []): string {
  if (lines.length >= 20 || semanticEqual(before, after)) return lines.join('\n');
  const isObject = (v: unknown) => typeof v === 'object' && v !== null;
  if (isObject(before) && isObject(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before as object), ...Object.keys(after as object)]);
    for (const k of keys) {
      const p = Array.isArray(before) ? index(path, Number(k)) : child(path, k);
      describeDiff((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], p, lines);
    }
  } else {
    if (before !== undefined) lines.push(`- ${path}: ${JSON.stringify(before)}`);
    if (after !== undefined) lines.push(`+ ${path}: ${JSON.stringify(after)}`);
  }
  return lines.join('\n');
}

/** Containers that may not restart must not leave the terminated state; `restartable` names sidecars. */
function validateContainerStateTransitions(
  next: readonly ContainerStatus[],
  prev: readonly ContainerStatus[],
  restartPolicy: string | undefined,
  path: string,
  restartable: (name: string) => boolean,
): FieldError[] {
  if (restartPolicy === 'Always') return [];
  const errs: FieldError[] = [];
  prev.forEach((old, i) => {
    const terminated = old.state?.terminated;
    if (!terminated || (terminated.exitCode !== 0 && restartPolicy === 'OnFailure') || restartable(old.name)) return;
    for (const now of next) {
      if (now.name === old.name && !now.state?.terminated) errs.push(forbidden(child(index(path, i), 'state'), 'may not be transitioned to non-terminated state'));
    }
  });
  return errs;
}

function validateIPList(ips: readonly PodIP[], path: string, primary?: string): FieldError[] {
  const errs: FieldError[] = [];
  if (primary !== undefined && ips.length > 0 && primary !== ips[0]?.ip) {
    errs.push(invalid(child(index(path, 0), 'ip'), ips[0]?.ip ?? '', 'must be equal to `hostIP`'));
  }
  ips.forEach((entry, i) => errs.push(...validateIP(entry.ip ?? '', index(path, i))));
  if (ips.length > 1) {
    const families = ips.map((entry) => parseIP(entry.ip ?? ''));
    if (families.every((f) => f !== 0) && (ips.length > 2 || families[0] === families[1])) {
      errs.push(invalid(path, ips, 'may specify no more than one IP for each IP family'));
    }
    const seen = new Set<string>();
    ips.forEach((entry, i) => {
      if (seen.has(entry.ip)) errs.push(duplicate(index(path, i), entry));
      seen.add(entry.ip);
    });
  }
  return errs;
}

/** A `/status` update of a Pod (kube's ValidatePodStatusUpdate, metadata excluded). */
export function validatePodStatusUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs: FieldError[] = [];
  const status = pod.status ?? {};
  const oldStatus = old.status ?? {};
  const system = new Set(['PodScheduled', 'Ready', 'Initialized']);
  (status.conditions ?? []).forEach((c, i) => {
    if (!system.has(c.type)) errs.push(...validateQualifiedName(c.type ?? '', child(index('metadata.conditions', i), 'Type')));
  });
  if ((pod.spec?.nodeName ?? '') !== (old.spec?.nodeName ?? '')) errs.push(forbidden('status.nodeName', 'may not be changed directly'));
  const nominated = status.nominatedNodeName ?? '';
  if (nominated && nominated !== (oldStatus.nominatedNodeName ?? '')) {
    errs.push(...invalidEach('status.nominatedNodeName', nominated, nameIsDNSSubdomain(nominated, false)));
  }
  errs.push(...validateImmutableField((status.qosClass ?? '') === (oldStatus.qosClass ?? ''), status.qosClass ?? '', 'status.qosClass'));
  const sidecars = new Set((old.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  const policy = old.spec?.restartPolicy;
  const transitions = (field: 'containerStatuses' | 'initContainerStatuses', restartable: (name: string) => boolean) =>
    validateContainerStateTransitions(status[field] ?? [], oldStatus[field] ?? [], policy, child('status', field), restartable);
  errs.push(...transitions('containerStatuses', () => false), ...transitions('initContainerStatuses', (name) => sidecars.has(name)));
  errs.push(...validateIPList(status.podIPs ?? [], 'status.podIPs'));
  if (status.hostIPs?.length) errs.push(...validateIPList(status.hostIPs, 'status.hostIPs', status.hostIP ?? ''));
  return errs;
}

/** A Binding of a pod to a node (kube's ValidatePodBinding). */
export function validateBinding(binding: Binding): FieldError[] {
  const errs: FieldError[] = [];
  const target = binding.target ?? {};
  if (target.kind && target.kind !== 'Node') errs.push(notSupported('target.kind', target.kind, ['Node', '<empty>']));
  if (!target.name) errs.push(required('target.name'));
  return errs;
}
