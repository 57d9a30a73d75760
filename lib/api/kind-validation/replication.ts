/**
 * ReplicationController validation: a non-empty selector matching the template's labels, a valid
 * pod template that restarts `Always`, non-negative counts; and the status counters' invariants —
 * kube's ValidateReplicationController(Spec|Status).
 */
import type { FieldError } from '../errors.js';
import type { ReplicationController } from '../kinds.js';
import type { PodTemplateSpec, ReplicationControllerStatus } from '../types/core.js';
import { validateAnnotations } from '../validation.js';
import { child, forbidden, invalid, nonNegative, notSupported, required } from './field.js';
import { validateLabels } from './formats.js';
import { validatePodSpec } from './pod-spec.js';

/** True when every selector pair is among the labels (an equality-based selector). */
function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** A pod template of a controller (kube's ValidatePodTemplateSpec): labels and annotations at `<path>.labels`, as kube reports them. */
export function validatePodTemplateSpec(template: PodTemplateSpec, path: string): FieldError[] {
  return [
    ...validateLabels(template.metadata?.labels, child(path, 'labels')),
    ...validateAnnotations(template.metadata?.annotations, child(path, 'annotations')),
    ...validatePodSpec(template.spec, child(path, 'spec'), { isPod: false }),
  ];
}

/** A ReplicationController's spec (create and update validate the same). */
export function validateReplicationController(rc: ReplicationController): FieldError[] {
  const spec = rc.spec ?? {};
  const errs: FieldError[] = [...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds')];
  const selector = spec.selector ?? {};
  if (Object.keys(selector).length === 0) errs.push(required('spec.selector'));
  errs.push(...nonNegative(spec.replicas, 'spec.replicas'));
  const template = spec.template;
  if (!template) return [...errs, required('spec.template')];
  if (Object.keys(selector).length > 0 && !selectorMatches(selector, template.metadata?.labels)) {
    errs.push(invalid('spec.template.metadata.labels', template.metadata?.labels ?? null, '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec(template, 'spec.template'));
  const restartPolicy = template.spec?.restartPolicy ?? '';
  if (restartPolicy !== 'Always') errs.push(notSupported('spec.template.spec.restartPolicy', restartPolicy, ['Always']));
  if (template.spec?.activeDeadlineSeconds !== undefined) {
    errs.push(forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicationController is not Supported'));
  }
  return errs;
}

/** A `/status` update of a ReplicationController (kube's ValidateReplicationControllerStatus). */
export function validateReplicationControllerStatus(rc: ReplicationController): FieldError[] {
  const status: Partial<ReplicationControllerStatus> = rc.status ?? {};
  const replicas = status.replicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const errs: FieldError[] = [];
  for (const name of ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const) {
    errs.push(...nonNegative(status[name], child('status', name)));
  }
  const msg = 'cannot be greater than status.replicas';
  if ((status.fullyLabeledReplicas ?? 0) > replicas) errs.push(invalid('status.fullyLabeledReplicas', status.fullyLabeledReplicas, msg));
  if (ready > replicas) errs.push(invalid('status.readyReplicas', ready, msg));
  if (available > replicas) errs.push(invalid('status.availableReplicas', available, msg));
  if (available > ready) errs.push(invalid('status.availableReplicas', available, 'cannot be greater than readyReplicas'));
  return errs;
}
