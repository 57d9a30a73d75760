/**
 * Validation of a PodSpec, shared by Pods and pod templates (ReplicationController): volumes,
 * containers and init containers, restart and DNS policy, scheduling constraints (node selector,
 * affinity, tolerations, topology spread), and the scalar fields — kube's ValidatePodSpec.
 */
import type { FieldError } from '../errors.js';
import type { Affinity, NodeSelectorTerm, PodAffinity, PodAffinityTerm, PodAntiAffinity, PodSpec, Toleration, TopologySpreadConstraint, Volume } from '../types/core.js';
import { nameIsDNSLabel, nameIsDNSSubdomain } from '../validation.js';
import { validateContainerCommon, validateLifecycleAndProbes, validateObjectFieldSelector, validateResourceRequirements, type VolumeNames } from './container.js';
import { child, duplicate, forbidden, inclusiveRangeError, index, invalid, invalidEach, notSupported, required } from './field.js';
import { isValidLabelValue, validateDNS1123Label, validateLabelName, validateLabelSelector, validateLabels, validateQualifiedName } from './formats.js';

/** Options that differ between a Pod and a PodSpec embedded in a template. */
export interface PodSpecOptions {
  /** True when validating a Pod itself (kube's `ResourceIsPod`). */
  isPod: boolean;
}

/** Volume sources in the order kube checks them (the second one set is the one reported). */
const VOLUME_SOURCES = [
  'emptyDir', 'hostPath', 'gitRepo', 'gcePersistentDisk', 'awsElasticBlockStore', 'secret', 'nfs', 'iscsi', 'glusterfs', 'flocker',
  'persistentVolumeClaim', 'rbd', 'cinder', 'cephfs', 'quobyte', 'downwardAPI', 'fc', 'flexVolume', 'configMap', 'azureFile',
  'vsphereVolume', 'photonPersistentDisk', 'portworxVolume', 'azureDisk', 'storageos', 'projected', 'scaleIO', 'csi', 'ephemeral', 'image',
] as const;
/** kube reports a few sources under a different name than the JSON field (`downwarAPI` is kube's typo). */
const FORBIDDEN_PATH_NAME: Record<string, string> = { downwardAPI: 'downwarAPI', cephfs: 'cephFS' };
const FILE_MODE_MESSAGE = 'must be a number between 0 and 0777 (octal), both inclusive';
const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
const MAX_INT32 = 2147483647;

function fileMode(mode: number | undefined, path: string): FieldError[] {
  return mode !== undefined && (mode < 0 || mode > 0o777) ? [invalid(path, mode, FILE_MODE_MESSAGE)] : [];
}

function validateKeyToPaths(items: readonly { key?: string; path?: string; mode?: number }[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (items ?? []).forEach((item, i) => {
    const p = index(path, i);
    if (!item.key) errs.push(required(child(p, 'key')));
    if (!item.path) errs.push(required(child(p, 'path')));
    errs.push(...fileMode(item.mode, child(p, 'mode')));
  });
  return errs;
}

function validateVolumeSource(vol: Volume, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  for (const source of VOLUME_SOURCES) {
    if (vol[source] === undefined || vol[source] === null) continue;
    if (count > 0) {
      errs.push(forbidden(child(path, FORBIDDEN_PATH_NAME[source] ?? source), 'may not specify more than 1 volume type'));
      continue;
    }
    count++;
    const p = child(path, source);
    if (source === 'hostPath' && !vol.hostPath?.path) errs.push(required(child(p, 'path')));
    if (source === 'secret') {
      if (!vol.secret?.secretName) errs.push(required(child(p, 'secretName')));
      errs.push(...fileMode(vol.secret?.defaultMode, child(p, 'defaultMode')), ...validateKeyToPaths(vol.secret?.items, child(p, 'items')));
    }
    if (source === 'configMap') {
      if (!vol.configMap?.name) errs.push(required(child(p, 'name')));
      errs.push(...fileMode(vol.configMap?.defaultMode, child(p, 'defaultMode')), ...validateKeyToPaths(vol.configMap?.items, child(p, 'items')));
    }
    if (source === 'persistentVolumeClaim' && !vol.persistentVolumeClaim?.claimName) errs.push(required(child(p, 'claimName')));
    if (source === 'downwardAPI') {
      errs.push(...fileMode(vol.downwardAPI?.defaultMode, child(p, 'defaultMode')));
      for (const file of vol.downwardAPI?.items ?? []) {
        if (!file.path) errs.push(required(child(p, 'path')));
        if (file.fieldRef) {
          errs.push(...validateObjectFieldSelector(file.fieldRef, VOLUME_FIELD_PATHS, child(p, 'fieldRef')));
          if (file.resourceFieldRef) errs.push(invalid(p, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
        } else if (file.resourceFieldRef) {
          if (!file.resourceFieldRef.containerName) errs.push(required(child(p, 'resourceFieldRef', 'containerName')));
        } else {
          errs.push(required(p, 'one of fieldRef and resourceFieldRef is required'));
        }
        errs.push(...fileMode(file.mode, child(p, 'mode')));
      }
    }
  }
  if (count === 0) errs.push(required(path, 'must specify a volume type'));
  return errs;
}

/** kube's ValidateVolumes: returns the names of the valid volumes (for mount lookups) and the errors. */
export function validateVolumes(volumes: readonly Volume[], path: string): { names: Set<string>; errors: FieldError[] } {
  const names = new Set<string>();
  const errors: FieldError[] = [];
  volumes.forEach((vol, i) => {
    const p = index(path, i);
    const errs = validateVolumeSource(vol, p);
    if (!vol.name) errs.push(required(child(p, 'name')));
    else errs.push(...validateDNS1123Label(vol.name, child(p, 'name')));
    if (names.has(vol.name)) errs.push(duplicate(child(p, 'name'), vol.name));
    if (errs.length === 0) names.add(vol.name);
    else errors.push(...errs);
  });
  return { names, errors };
}

function validateNodeSelectorTerm(term: NodeSelectorTerm, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (term.matchExpressions ?? []).forEach((req, j) => {
    const p = index(child(path, 'matchExpressions'), j);
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      errs.push(required(child(p, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      errs.push(forbidden(child(p, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else if ((req.operator === 'Gt' || req.operator === 'Lt') && values.length !== 1) {
      errs.push(required(child(p, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
    } else if (!['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'].includes(req.operator)) {
      errs.push(invalid(child(p, 'operator'), req.operator, 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(req.key, child(p, 'key')));
    values.forEach((value, k) => errs.push(...invalidEach(index(child(p, 'values'), k), value, isValidLabelValue(value))));
  });
  (term.matchFields ?? []).forEach((req, j) => {
    const p = index(child(path, 'matchFields'), j);
    if (req.operator !== 'In' && req.operator !== 'NotIn') errs.push(invalid(child(p, 'operator'), req.operator, 'not a valid selector operator'));
    else if ((req.values ?? []).length !== 1) {
      errs.push(required(child(p, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    }
    if (req.key !== 'metadata.name') errs.push(invalid(child(p, 'key'), req.key, 'not a valid field selector key'));
    else (req.values ?? []).forEach((v, k) => errs.push(...invalidEach(index(child(p, 'values'), k), v, nameIsDNSSubdomain(v, false))));
  });
  return errs;
}

function validatePodAffinityTerm(term: PodAffinityTerm, path: string): FieldError[] {
  const errs = [
    ...validateLabelSelector(term.labelSelector, child(path, 'labelSelector')),
    ...validateLabelSelector(term.namespaceSelector, child(path, 'namespaceSelector')),
  ];
  for (const ns of term.namespaces ?? []) errs.push(...invalidEach(child(path, 'namespace'), ns, nameIsDNSLabel(ns, false)));
  if (!term.topologyKey) errs.push(required(child(path, 'topologyKey'), 'can not be empty'));
  errs.push(...validateLabelName(term.topologyKey ?? '', child(path, 'topologyKey')));
  return errs;
}

/** Pod affinity or anti-affinity: required terms and weighted preferred terms. */
function validatePodAffinityTerms(affinity: PodAffinity | PodAntiAffinity, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const preferred = affinity.preferredDuringSchedulingIgnoredDuringExecution;
  (affinity.requiredDuringSchedulingIgnoredDuringExecution ?? []).forEach((term, i) => {
    errs.push(...validatePodAffinityTerm(term, index(child(path, 'requiredDuringSchedulingIgnoredDuringExecution'), i)));
  });
  (preferred ?? []).forEach((weighted, i) => {
    const p = index(child(path, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
    if (!(weighted.weight > 0 && weighted.weight <= 100)) errs.push(invalid(child(p, 'weight'), weighted.weight ?? 0, 'must be in the range 1-100'));
    errs.push(...validatePodAffinityTerm(weighted.podAffinityTerm ?? { topologyKey: '' }, child(p, 'podAffinityTerm')));
  });
  return errs;
}

/** kube's validateAffinity. */
export function validateAffinity(affinity: Affinity | undefined, path: string): FieldError[] {
  if (!affinity) return [];
  const errs: FieldError[] = [];
  const na = affinity.nodeAffinity;
  if (na?.requiredDuringSchedulingIgnoredDuringExecution) {
    const p = child(path, 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms');
    const terms = na.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms ?? [];
    if (terms.length === 0) errs.push(required(p, 'must have at least one node selector term'));
    terms.forEach((term, i) => errs.push(...validateNodeSelectorTerm(term, index(p, i))));
  }
  (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((term, i) => {
    const p = index(child(path, 'nodeAffinity', 'preferredDuringSchedulingIgnoredDuringExecution'), i);
    if (!(term.weight > 0 && term.weight <= 100)) errs.push(invalid(child(p, 'weight'), term.weight ?? 0, 'must be in the range 1-100'));
    errs.push(...validateNodeSelectorTerm(term.preference ?? {}, child(p, 'preference')));
  });
  if (affinity.podAffinity) errs.push(...validatePodAffinityTerms(affinity.podAffinity, child(path, 'podAffinity')));
  if (affinity.podAntiAffinity) errs.push(...validatePodAffinityTerms(affinity.podAntiAffinity, child(path, 'podAntiAffinity')));
  return errs;
}

/** A taint effect; empty is allowed for tolerations (matches every effect). */
export function validateTaintEffect(effect: string | undefined, allowEmpty: boolean, path: string): FieldError[] {
  if (!effect) return allowEmpty ? [] : [required(path)];
  return ['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(effect) ? [] : [notSupported(path, effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])];
}

/** kube's ValidateTolerations. */
export function validateTolerations(tolerations: readonly Toleration[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  tolerations.forEach((t, i) => {
    const p = index(path, i);
    if (t.key) errs.push(...validateLabelName(t.key, child(p, 'key')));
    if (!t.key && t.operator !== 'Exists') {
      errs.push(invalid(child(p, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      errs.push(invalid(child(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    if (!t.operator || t.operator === 'Equal') {
      const msgs = isValidLabelValue(t.value ?? '');
      if (msgs.length > 0) errs.push(invalid(child(p, 'operator'), t.value ?? '', msgs.join(';')));
    } else if (t.operator === 'Exists') {
      if (t.value) errs.push(invalid(child(p, 'operator'), t.value, "value must be empty when `operator` is 'Exists'"));
    } else {
      errs.push(notSupported(child(p, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    errs.push(...validateTaintEffect(t.effect, true, child(p, 'effect')));
  });
  return errs;
}

function validateTopologySpreadConstraints(constraints: readonly TopologySpreadConstraint[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  constraints.forEach((c, i) => {
    const p = index(path, i);
    if (!(c.maxSkew > 0)) errs.push(invalid(child(p, 'maxSkew'), c.maxSkew ?? 0, 'must be greater than zero'));
    if (!c.topologyKey) errs.push(required(child(p, 'topologyKey'), 'can not be empty'));
    if (c.whenUnsatisfiable !== 'DoNotSchedule' && c.whenUnsatisfiable !== 'ScheduleAnyway') {
      errs.push(notSupported(child(p, 'whenUnsatisfiable'), c.whenUnsatisfiable ?? '', ['DoNotSchedule', 'ScheduleAnyway']));
    }
    if (constraints.slice(i + 1).some((o) => o.topologyKey === c.topologyKey && o.whenUnsatisfiable === c.whenUnsatisfiable)) {
      errs.push(duplicate(child(p, '{topologyKey, whenUnsatisfiable}'), `{${c.topologyKey}, ${c.whenUnsatisfiable}}`));
    }
    if (c.minDomains !== undefined) {
      if (c.minDomains <= 0) errs.push(invalid(child(p, 'minDomains'), c.minDomains, 'must be greater than zero'));
      if (c.whenUnsatisfiable !== 'DoNotSchedule') {
        errs.push(invalid(child(p, 'minDomains'), c.minDomains, `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${c.whenUnsatisfiable}`));
      }
    }
    for (const policy of ['nodeAffinityPolicy', 'nodeTaintsPolicy'] as const) {
      const value = c[policy];
      if (value !== undefined && value !== 'Honor' && value !== 'Ignore') errs.push(notSupported(child(p, policy), value, ['Honor', 'Ignore']));
    }
    errs.push(...validateLabelSelector(c.labelSelector, child(p, 'labelSelector')));
  });
  return errs;
}

function validateEnum(value: string | undefined, allowed: readonly string[], path: string): FieldError[] {
  if (!value) return [required(path)];
  return allowed.includes(value) ? [] : [notSupported(path, value, allowed)];
}

/**
 * Host ports must not collide across the given containers (protocol/hostIP/port). Init containers
 * are checked one at a time, so, as in kube, their conflicts are reported at index 0.
 */
function checkHostPortConflicts(containers: PodSpec['containers'], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  containers.forEach((ctr, ci) => {
    (ctr.ports ?? []).forEach((port, pi) => {
      if (!port.hostPort) return;
      const id = `${port.protocol ?? ''}/${port.hostIP ?? ''}/${port.hostPort}`;
      if (seen.has(id)) errs.push(duplicate(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), id));
      seen.add(id);
    });
  });
  return errs;
}

/** kube's ValidatePodSpec (Pods and pod templates). */
export function validatePodSpec(spec: PodSpec | undefined, path: string, opts: PodSpecOptions): FieldError[] {
  const s: PodSpec = spec ?? { containers: [] };
  const errs: FieldError[] = [];
  if (s.terminationGracePeriodSeconds === undefined) errs.push(required(child(path, 'terminationGracePeriodSeconds')));
  const grace = s.terminationGracePeriodSeconds;
  const volumes = validateVolumes(s.volumes ?? [], child(path, 'volumes'));
  errs.push(...volumes.errors);
  errs.push(...validateContainers(s, volumes.names, grace, child(path, 'containers')));
  errs.push(...validateInitContainers(s, volumes.names, grace, child(path, 'initContainers')));
  if (s.hostNetwork) {
    s.containers.forEach((ctr, i) =>
      (ctr.ports ?? []).forEach((port, j) => {
        const hp = port.hostPort ?? 0;
        if ((opts.isPod || hp !== 0) && hp !== port.containerPort) {
          const portPath = index(child(index(child(path, 'containers'), i), 'ports'), j);
          errs.push(invalid(child(portPath, 'hostPort'), hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      }),
    );
  }
  errs.push(...validateEnum(s.restartPolicy, ['Always', 'OnFailure', 'Never'], child(path, 'restartPolicy')));
  errs.push(...validateEnum(s.dnsPolicy, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'], child(path, 'dnsPolicy')));
  errs.push(...validateLabels(s.nodeSelector, child(path, 'nodeSelector')));
  errs.push(...validateAffinity(s.affinity, child(path, 'affinity')));
  if (s.dnsPolicy === 'None' && !s.dnsConfig) errs.push(required(child(path, 'dnsConfig'), 'must provide `dnsConfig` when `dnsPolicy` is None'));
  else if (s.dnsPolicy === 'None' && !s.dnsConfig?.nameservers?.length) {
    errs.push(required(child(path, 'dnsConfig', 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None'));
  }
  (s.readinessGates ?? []).forEach((gate, i) => {
    errs.push(...validateQualifiedName(gate.conditionType ?? '', child(index(child(path, 'readinessGates'), i), 'conditionType')));
  });
  errs.push(...validateTopologySpreadConstraints(s.topologySpreadConstraints ?? [], child(path, 'topologySpreadConstraints')));
  if (s.serviceAccountName) errs.push(...invalidEach(child(path, 'serviceAccountName'), s.serviceAccountName, nameIsDNSSubdomain(s.serviceAccountName, false)));
  if (s.nodeName) errs.push(...invalidEach(child(path, 'nodeName'), s.nodeName, nameIsDNSSubdomain(s.nodeName, false)));
  if (s.activeDeadlineSeconds !== undefined && (s.activeDeadlineSeconds < 1 || s.activeDeadlineSeconds > MAX_INT32)) {
    errs.push(invalid(child(path, 'activeDeadlineSeconds'), s.activeDeadlineSeconds, inclusiveRangeError(1, MAX_INT32)));
  }
  if (s.hostname) errs.push(...validateDNS1123Label(s.hostname, child(path, 'hostname')));
  if (s.subdomain) errs.push(...validateDNS1123Label(s.subdomain, child(path, 'subdomain')));
  errs.push(...validateTolerations(s.tolerations ?? [], child(path, 'tolerations')));
  if (s.priorityClassName) errs.push(...invalidEach(child(path, 'priorityClassName'), s.priorityClassName, nameIsDNSSubdomain(s.priorityClassName, false)));
  if (s.preemptionPolicy !== undefined) errs.push(...validateEnum(s.preemptionPolicy, ['PreemptLowerPriority', 'Never'], child(path, 'preemptionPolicy')));
  if (s.overhead) errs.push(...validateResourceRequirements({ limits: s.overhead }, child(path, 'overhead')));
  return errs;
}

function validateContainers(s: PodSpec, volumes: VolumeNames, grace: number | undefined, path: string): FieldError[] {
  if (!s.containers?.length) return [required(path)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  s.containers.forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, volumes, p));
    if (names.has(ctr.name)) errs.push(duplicate(child(p, 'name'), ctr.name));
    else names.add(ctr.name);
    errs.push(...validateLifecycleAndProbes(ctr, grace, p));
    if (ctr.restartPolicy !== undefined) errs.push(forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
  });
  errs.push(...checkHostPortConflicts(s.containers, path));
  return errs;
}

function validateInitContainers(s: PodSpec, volumes: VolumeNames, grace: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set(s.containers?.map((c) => c.name));
  (s.initContainers ?? []).forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, volumes, p));
    if (ctr.restartPolicy !== undefined && ctr.restartPolicy !== 'Always') errs.push(notSupported(child(p, 'restartPolicy'), ctr.restartPolicy, ['Always']));
    if (names.has(ctr.name)) errs.push(duplicate(child(p, 'name'), ctr.name));
    else if (ctr.name) names.add(ctr.name);
    errs.push(...checkHostPortConflicts([ctr], path));
    if (ctr.restartPolicy === 'Always') {
      errs.push(...validateLifecycleAndProbes(ctr, grace, p));
    } else {
      for (const field of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (ctr[field] !== undefined) errs.push(forbidden(child(p, field), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });
  return errs;
}

