/**
 * Validation of one container (regular or init): name, image, ports, env, volume mounts, probes,
 * lifecycle hooks, resources — kube's `validateContainerCommon` and the probe/handler checks of
 * pkg/apis/core/validation, with kube's field paths and detail messages.
 */
import type { FieldError } from '../errors.js';
import type { Container, ContainerPort, EnvFromSource, EnvVar, LifecycleHandler, Probe, ResourceRequirements, VolumeMount } from '../types/core.js';
import { nameIsDNSSubdomain } from '../validation.js';
import { child, duplicate, forbidden, index, invalid, invalidEach, nonNegative, notFound, notSupported, required } from './field.js';
import {
  isConfigMapKey,
  isHTTPHeaderName,
  isQualifiedName,
  isRelaxedEnvVarName,
  isValidPortName,
  isValidPortNum,
  validateDNS1123Label,
  validatePortNumOrName,
} from './formats.js';
import { parseQuantity, QUANTITY_FORMAT_MESSAGE, quantityText } from './quantity.js';

/** Port protocols, sorted as kube lists them. */
export const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;

const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
/** Paths the v1 downward API converts at all (kube's ConvertDownwardAPIFieldLabel). */
const CONVERTIBLE_FIELD_PATHS = new Set([...ENV_FIELD_PATHS, 'metadata.annotations', 'metadata.labels', 'spec.restartPolicy', 'spec.schedulerName', 'status.phase']);
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const STANDARD_RESOURCES = new Set([
  ...STANDARD_CONTAINER_RESOURCES,
  'storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps', 'persistentvolumeclaims',
  'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage', 'limits.cpu', 'limits.memory', 'limits.ephemeral-storage',
  'services.nodeports', 'services.loadbalancers',
]);

/** The names of a pod's valid volumes, for volume-mount lookups. */
export type VolumeNames = ReadonlySet<string>;

/** Checks shared by every container type (kube's validateContainerCommon). */
export function validateContainerCommon(ctr: Container, volumes: VolumeNames, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!ctr.name) errs.push(required(child(path, 'name')));
  else errs.push(...validateDNS1123Label(ctr.name, child(path, 'name')));
  if (!ctr.image) errs.push(required(child(path, 'image')));
  const policy = ctr.terminationMessagePolicy ?? '';
  if (policy === '') errs.push(required(child(path, 'terminationMessagePolicy')));
  else if (policy !== 'File' && policy !== 'FallbackToLogsOnError') {
    errs.push(notSupported(child(path, 'terminationMessagePolicy'), policy, ['File', 'FallbackToLogsOnError']));
  }
  errs.push(...validateContainerPorts(ctr.ports ?? [], child(path, 'ports')));
  errs.push(...validateEnv(ctr.env ?? [], child(path, 'env')));
  errs.push(...validateEnvFrom(ctr.envFrom ?? [], child(path, 'envFrom')));
  errs.push(...validateVolumeMounts(ctr.volumeMounts ?? [], volumes, child(path, 'volumeMounts')));
  const pull = ctr.imagePullPolicy ?? '';
  if (pull === '') errs.push(required(child(path, 'imagePullPolicy')));
  else if (!['Always', 'IfNotPresent', 'Never'].includes(pull)) {
    errs.push(notSupported(child(path, 'imagePullPolicy'), pull, ['Always', 'IfNotPresent', 'Never']));
  }
  errs.push(...validateResourceRequirements(ctr.resources, child(path, 'resources')));
  const runAsUser = ctr.securityContext?.runAsUser;
  if (runAsUser !== undefined && (runAsUser < 0 || runAsUser > 0xffffffff)) {
    errs.push(invalid(child(path, 'securityContext', 'runAsUser'), runAsUser, 'must be between 0 and 4294967295, inclusive'));
  }
  return errs;
}

function validateContainerPorts(ports: readonly ContainerPort[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = index(path, i);
    if (port.name) {
      const msgs = isValidPortName(port.name);
      if (msgs.length > 0) errs.push(...invalidEach(child(p, 'name'), port.name, msgs));
      else if (names.has(port.name)) errs.push(duplicate(child(p, 'name'), port.name));
      else names.add(port.name);
    }
    if (!port.containerPort) errs.push(required(child(p, 'containerPort')));
    else errs.push(...invalidEach(child(p, 'containerPort'), port.containerPort, isValidPortNum(port.containerPort)));
    if (port.hostPort) errs.push(...invalidEach(child(p, 'hostPort'), port.hostPort, isValidPortNum(port.hostPort)));
    if (!port.protocol) errs.push(required(child(p, 'protocol')));
    else if (!(PORT_PROTOCOLS as readonly string[]).includes(port.protocol)) errs.push(notSupported(child(p, 'protocol'), port.protocol, PORT_PROTOCOLS));
  });
  return errs;
}

function validateEnv(vars: readonly EnvVar[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  vars.forEach((ev, i) => {
    const p = index(path, i);
    if (!ev.name) errs.push(required(child(p, 'name')));
    else errs.push(...invalidEach(child(p, 'name'), ev.name, isRelaxedEnvVarName(ev.name)));
    errs.push(...validateEnvVarValueFrom(ev, child(p, 'valueFrom')));
  });
  return errs;
}

function validateEnvVarValueFrom(ev: EnvVar, path: string): FieldError[] {
  const from = ev.valueFrom;
  if (!from) return [];
  const errs: FieldError[] = [];
  let sources = 0;
  if (from.fieldRef) {
    sources++;
    errs.push(...validateObjectFieldSelector(from.fieldRef, ENV_FIELD_PATHS, child(path, 'fieldRef')));
  }
  if (from.resourceFieldRef) {
    sources++;
    const resource = from.resourceFieldRef.resource;
    const p = child(path, 'resourceFieldRef');
    if (!resource) errs.push(required(child(p, 'resource')));
    else if (!RESOURCE_FIELD_PATHS.includes(resource) && !/^(requests|limits)\.hugepages-/.test(resource)) {
      errs.push(notSupported(child(p, 'resource'), resource, RESOURCE_FIELD_PATHS));
    }
  }
  for (const [name, ref] of [['configMapKeyRef', from.configMapKeyRef], ['secretKeyRef', from.secretKeyRef]] as const) {
    if (!ref) continue;
    sources++;
    const p = child(path, name);
    errs.push(...invalidEach(child(p, 'name'), ref.name ?? '', nameIsDNSSubdomain(ref.name ?? '', false)));
    if (!ref.key) errs.push(required(child(p, 'key')));
    else errs.push(...invalidEach(child(p, 'key'), ref.key, isConfigMapKey(ref.key)));
  }
  if (sources === 0) errs.push(invalid(path, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
  else if (ev.value) errs.push(invalid(path, '', 'may not be specified when `value` is not empty'));
  else if (sources > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  return errs;
}

/** A downward API field selector (env `fieldRef` or a downwardAPI volume file's `fieldRef`). */
export function validateObjectFieldSelector(fs: { apiVersion?: string; fieldPath?: string }, allowed: readonly string[], path: string): FieldError[] {
  if (!fs.apiVersion) return [required(child(path, 'apiVersion'))];
  if (!fs.fieldPath) return [required(child(path, 'fieldPath'))];
  const subscripted = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fs.fieldPath);
  const base = subscripted ? subscripted[1]! : fs.fieldPath;
  if (fs.apiVersion !== 'v1' || !CONVERTIBLE_FIELD_PATHS.has(base)) {
    const why = fs.apiVersion !== 'v1' ? `unsupported version: ${fs.apiVersion}` : `field label not supported: ${fs.fieldPath}`;
    return [invalid(child(path, 'fieldPath'), fs.fieldPath, `error converting fieldPath: ${why}`)];
  }
  if (subscripted) {
    const sub = subscripted[2]!;
    return invalidEach(path, base === 'metadata.annotations' ? sub.toLowerCase() : sub, isQualifiedName(base === 'metadata.annotations' ? sub.toLowerCase() : sub));
  }
  return allowed.includes(base) ? [] : [notSupported(child(path, 'fieldPath'), base, [...allowed].sort())];
}

function validateEnvFrom(sources: readonly EnvFromSource[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  sources.forEach((ev, i) => {
    const p = index(path, i);
    if (ev.prefix) errs.push(...invalidEach(child(p, 'prefix'), ev.prefix, isRelaxedEnvVarName(ev.prefix)));
    let count = 0;
    for (const [name, ref] of [['configMapRef', ev.configMapRef], ['secretRef', ev.secretRef]] as const) {
      if (!ref) continue;
      count++;
      if (!ref.name) errs.push(required(child(p, name, 'name')));
      else errs.push(...invalidEach(child(p, name, 'name'), ref.name, nameIsDNSSubdomain(ref.name, true)));
    }
    if (count === 0) errs.push(invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (count > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

function validateVolumeMounts(mounts: readonly VolumeMount[], volumes: VolumeNames, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const mountPoints = new Set<string>();
  mounts.forEach((mnt, i) => {
    const p = index(path, i);
    if (!mnt.name) errs.push(required(child(p, 'name')));
    if (!volumes.has(mnt.name ?? '')) errs.push(notFound(child(p, 'name'), mnt.name ?? ''));
    if (!mnt.mountPath) errs.push(required(child(p, 'mountPath')));
    if (mountPoints.has(mnt.mountPath ?? '')) errs.push(invalid(child(p, 'mountPath'), mnt.mountPath, 'must be unique'));
    mountPoints.add(mnt.mountPath ?? '');
    if (mnt.subPath && mnt.subPathExpr) errs.push(invalid(child(p, 'subPathExpr'), mnt.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
  });
  return errs;
}

/** Resource names a container may request: standard names or fully qualified extended resources. */
function validateContainerResourceName(name: string, path: string): FieldError[] {
  const errs = invalidEach(path, name, isQualifiedName(name));
  if (errs.length > 0) return errs;
  if (!name.includes('/')) {
    if (!STANDARD_RESOURCES.has(name) && !name.startsWith('hugepages-')) errs.push(invalid(path, name, 'must be a standard resource type or fully qualified'));
    if (!STANDARD_CONTAINER_RESOURCES.has(name) && !name.startsWith('hugepages-')) errs.push(invalid(path, name, 'must be a standard resource for containers'));
  }
  return errs;
}

/** Extended resources (`vendor.io/gpu`) and hugepages cannot be overcommitted: requests must equal limits. */
function isOvercommitAllowed(name: string): boolean {
  const native = !name.includes('/') || name.includes('kubernetes.io/');
  return native && !name.startsWith('hugepages-');
}

/** kube's validateResourceRequirements for a container. */
export function validateResourceRequirements(resources: ResourceRequirements | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const limits = resources?.limits ?? {};
  const requests = resources?.requests ?? {};
  const limPath = child(path, 'limits');
  const reqPath = child(path, 'requests');
  const checkQuantity = (name: string, value: string | number, p: string): bigint | undefined => {
    errs.push(...validateContainerResourceName(name, p));
    const parsed = parseQuantity(value);
    if (parsed === undefined) errs.push(invalid(p, quantityText(value), QUANTITY_FORMAT_MESSAGE));
    else if (parsed < 0n) errs.push(invalid(p, quantityText(value), 'must be greater than or equal to 0'));
    else if (name.includes('/') && !isOvercommitAllowed(name) && parsed % 1_000_000_000n !== 0n) errs.push(invalid(p, quantityText(value), 'must be an integer'));
    return parsed;
  };
  for (const [name, value] of Object.entries(limits)) checkQuantity(name, value, `${limPath}[${name}]`);
  for (const [name, value] of Object.entries(requests)) {
    const request = checkQuantity(name, value, `${reqPath}[${name}]`);
    const limitValue = limits[name];
    if (limitValue !== undefined) {
      const limit = parseQuantity(limitValue);
      if (request === undefined || limit === undefined) continue;
      if (request !== limit && !isOvercommitAllowed(name)) {
        errs.push(invalid(reqPath, quantityText(value), `must be equal to ${name} limit of ${quantityText(limitValue)}`));
      } else if (request > limit) {
        errs.push(invalid(reqPath, quantityText(value), `must be less than or equal to ${name} limit of ${quantityText(limitValue)}`));
      }
    } else if (!isOvercommitAllowed(name)) {
      errs.push(required(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  return errs;
}

/** One probe or lifecycle handler: exactly one action. */
function validateHandler(handler: Probe | LifecycleHandler, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  const take = (name: string): boolean => {
    if (count > 0) {
      errs.push(forbidden(child(path, name), 'may not specify more than 1 handler type'));
      return false;
    }
    count++;
    return true;
  };
  if (handler.exec && take('exec') && !handler.exec.command?.length) errs.push(required(child(path, 'exec', 'command')));
  if (handler.httpGet && take('httpGet')) {
    const http = handler.httpGet;
    const p = child(path, 'httpGet');
    if (!http.path) errs.push(required(child(p, 'path')));
    errs.push(...validatePortNumOrName(http.port, child(p, 'port')));
    if (http.scheme !== 'HTTP' && http.scheme !== 'HTTPS') errs.push(notSupported(child(p, 'scheme'), http.scheme ?? '', ['HTTP', 'HTTPS']));
    for (const header of http.httpHeaders ?? []) errs.push(...invalidEach(child(p, 'httpHeaders'), header.name, isHTTPHeaderName(header.name)));
  }
  if (handler.tcpSocket && take('tcpSocket')) errs.push(...validatePortNumOrName(handler.tcpSocket.port, child(path, 'tcpSocket', 'port')));
  if ('grpc' in handler && handler.grpc && take('grpc')) errs.push(...validatePortNumOrName(handler.grpc.port ?? 0, child(path, 'grpc', 'port')));
  if ('sleep' in handler && handler.sleep && take('sleep')) {
    const seconds = handler.sleep.seconds ?? 0;
    if (gracePeriod !== undefined && (seconds < 0 || seconds > gracePeriod)) {
      errs.push(invalid(child(path, 'sleep'), seconds, `must be non-negative and less than terminationGracePeriodSeconds (${gracePeriod})`));
    }
  }
  if (count === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

/** A liveness, readiness or startup probe. */
export function validateProbe(probe: Probe | undefined, kind: 'liveness' | 'readiness' | 'startup', gracePeriod: number | undefined, path: string): FieldError[] {
  if (!probe) return [];
  const errs = validateHandler(probe, gracePeriod, path);
  for (const name of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    errs.push(...nonNegative(probe[name], child(path, name)));
  }
  if (probe.terminationGracePeriodSeconds !== undefined && probe.terminationGracePeriodSeconds <= 0) {
    errs.push(invalid(child(path, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must be greater than 0'));
  }
  if (kind !== 'readiness' && (probe.successThreshold ?? 0) !== 1) {
    errs.push(invalid(child(path, 'successThreshold'), probe.successThreshold ?? 0, 'must be 1'));
  }
  if (kind === 'readiness' && probe.terminationGracePeriodSeconds !== undefined) {
    errs.push(invalid(child(path, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
  }
  return errs;
}

/** Lifecycle hooks and probes, allowed on regular containers and on sidecar init containers. */
export function validateLifecycleAndProbes(ctr: Container, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (ctr.lifecycle?.postStart) errs.push(...validateHandler(ctr.lifecycle.postStart, gracePeriod, child(path, 'lifecycle', 'postStart')));
  if (ctr.lifecycle?.preStop) errs.push(...validateHandler(ctr.lifecycle.preStop, gracePeriod, child(path, 'lifecycle', 'preStop')));
  errs.push(...validateProbe(ctr.livenessProbe, 'liveness', gracePeriod, child(path, 'livenessProbe')));
  errs.push(...validateProbe(ctr.readinessProbe, 'readiness', gracePeriod, child(path, 'readinessProbe')));
  errs.push(...validateProbe(ctr.startupProbe, 'startup', gracePeriod, child(path, 'startupProbe')));
  return errs;
}
