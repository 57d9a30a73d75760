/**
 * Node validation: taints, resource quantities in capacity and allocatable, pod CIDRs; on update,
 * addresses unique and podCIDRs/providerID fixed once set — kube's ValidateNode and
 * ValidateNodeUpdate. Two kube quirks are kept so messages match: taint errors are reported under
 * `metadata.taints`, and capacity keys as `status.capacity.<name>` (dotted, not bracketed).
 */
import type { FieldError } from '../errors.js';
import type { Node } from '../kinds.js';
import type { NodeSpec, ResourceList, Taint } from '../types/core.js';
import { child, duplicate, forbidden, index, invalid } from './field.js';
import { isValidLabelValue, parseCIDR, validateCIDR, validateLabelName } from './formats.js';
import { validateTaintEffect } from './pod-spec.js';
import { parseQuantity, QUANTITY_FORMAT_MESSAGE, quantityText } from './quantity.js';

/** kube's validateNodeTaints: key, value, effect, and unique by key and effect. */
export function validateTaints(taints: readonly Taint[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  taints.forEach((taint, i) => {
    const p = index(path, i);
    errs.push(...validateLabelName(taint.key ?? '', child(p, 'key')));
    const msgs = isValidLabelValue(taint.value ?? '');
    if (msgs.length > 0) errs.push(invalid(child(p, 'value'), taint.value ?? '', msgs.join(';')));
    errs.push(...validateTaintEffect(taint.effect, false, child(p, 'effect')));
    const id = `${taint.effect}\u0000${taint.key}`;
    if (seen.has(id)) errs.push(duplicate(p, taint, 'taints must be unique by key and effect pair'));
    else seen.add(id);
  });
  return errs;
}

function validateResources(list: ResourceList | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [name, value] of Object.entries(list ?? {})) {
    const p = child(path, name);
    const parsed = parseQuantity(value);
    if (parsed === undefined) errs.push(invalid(p, quantityText(value), QUANTITY_FORMAT_MESSAGE));
    else if (parsed < 0n) errs.push(invalid(p, quantityText(value), 'must be greater than or equal to 0'));
  }
  return errs;
}

/** The pod CIDRs of a node spec, whichever of `podCIDR`/`podCIDRs` the client sent. */
export function podCIDRsOf(spec: NodeSpec | undefined): string[] {
  if (spec?.podCIDRs?.length) return spec.podCIDRs;
  return spec?.podCIDR ? [spec.podCIDR] : [];
}

/** A new Node (kube's ValidateNode, metadata excluded). */
export function validateNode(node: Node): FieldError[] {
  const errs = validateTaints(node.spec?.taints ?? [], 'metadata.taints');
  errs.push(...validateResources(node.status?.capacity, 'status.capacity'));
  errs.push(...validateResources(node.status?.allocatable, 'status.allocatable'));
  const cidrs = podCIDRsOf(node.spec);
  cidrs.forEach((cidr, i) => errs.push(...validateCIDR(cidr, index('spec.podCIDRs', i))));
  if (cidrs.length > 1) {
    const families = cidrs.map(parseCIDR);
    if (families.every((f) => f !== 0) && (cidrs.length > 2 || families[0] === families[1])) {
      errs.push(invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
    }
    const seen = new Set<string>();
    cidrs.forEach((cidr, i) => {
      if (seen.has(cidr)) errs.push(duplicate(index('spec.podCIDRs', i), cidr));
      seen.add(cidr);
    });
  }
  return errs;
}

/**
 * A Node update (main resource or `/status`): the new node must be valid (kube's strategy runs
 * ValidateNode too), addresses unique, podCIDRs and providerID fixed once set.
 */
export function validateNodeUpdate(node: Node, old: Node): FieldError[] {
  const errs = validateNode(node);
  const seen = new Set<string>();
  (node.status?.addresses ?? []).forEach((address, i) => {
    const id = `${address.type}\u0000${address.address}`;
    if (seen.has(id)) errs.push(duplicate(index('status.addresses', i), address));
    seen.add(id);
  });
  const oldCIDRs = podCIDRsOf(old.spec);
  const cidrs = podCIDRsOf(node.spec);
  const cidrMessage = 'node updates may not change podCIDR except from "" to valid';
  if (oldCIDRs.length > 0) {
    if (oldCIDRs.length !== cidrs.length) errs.push(forbidden('spec.podCIDRs', cidrMessage));
    else oldCIDRs.forEach((cidr, i) => cidr !== cidrs[i] && errs.push(forbidden('spec.podCIDRs', cidrMessage)));
  }
  if (old.spec?.providerID && old.spec.providerID !== node.spec?.providerID) {
    errs.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  if ((node.spec?.externalID ?? '') !== (old.spec?.externalID ?? '')) errs.push(forbidden('spec.externalID', 'may not be updated'));
  return errs;
}
