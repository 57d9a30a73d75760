/**
 * A container's environment, computed as kubelet's `makeEnvironmentVariables` does:
 *
 * 1. `envFrom` ConfigMaps and Secrets (with their prefix), in order;
 * 2. `env`, in order, overriding: a `value` with `$(VAR)` references expanded against the
 *    variables so far and the Service variables; or a `valueFrom` — `fieldRef` (the downward API),
 *    `resourceFieldRef` (a limit defaults to the node's allocatable), `configMapKeyRef`,
 *    `secretKeyRef`;
 * 3. the Service variables (`<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`, `<SVC>_PORT_<n>_TCP…`, as
 *    Docker links had them; there is no cluster DNS here) that are not already set: every Service
 *    of the pod's namespace when `enableServiceLinks` (the default), and `kubernetes` from
 *    `default` always.
 *
 * Plus `POD_IP`, which keelson's node agent always hands to a container. ConfigMaps, Secrets and
 * Services are read through the public `Client` (cached reads when it is a manager's).
 */
import { ConfigMap, isNotFound, milliValue, quantityValue, Secret, Service } from '../../../lib/index.js';
import type { Client, Container, Pod, Quantity, ResourceFieldSelector, ResourceList } from '../../../lib/index.js';
import type { EnvResolver } from './types.js';

/** Options of {@link ClientEnvResolver}. */
export interface ClientEnvResolverOptions {
  /** The node's allocatable resources: the default of a `resourceFieldRef` to an unset limit. */
  nodeAllocatable?: ResourceList | (() => ResourceList);
  /** The node's address, for `status.hostIP` when the pod's status has none yet. */
  hostIP?: string;
}

/**
 * Expands `$(VAR)` references in `input` with kubelet's rules: `$$` is a literal `$`; a reference
 * to an unknown variable, or an unclosed one, is left as written.
 */
export function expandVariables(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const char = input[i]!;
    if (char !== '$' || i + 1 >= input.length) {
      out += char;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += '$(';
        i++;
        continue;
      }
      const name = input.slice(i + 2, close);
      out += lookup(name) ?? `$(${name})`;
      i = close;
    } else {
      out += `$${next}`;
      i++;
    }
  }
  return out;
}

function envName(name: string): string {
  return name.replace(/-/g, '_').toUpperCase();
}

/** The Service variables of `services` (those with a cluster IP), as kubelet's `envvars.FromServices`. */
export function serviceEnvironment(services: Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const service of [...services].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
    const ip = service.spec?.clusterIP;
    const ports = service.spec?.ports ?? [];
    if (!ip || ip === 'None' || ports.length === 0) continue;
    const prefix = envName(service.metadata?.name ?? '');
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(ports[0]!.port);
    for (const port of ports) if (port.name) env[`${prefix}_SERVICE_PORT_${envName(port.name)}`] = String(port.port);
    const host = ip.includes(':') ? `[${ip}]` : ip;
    ports.forEach((port, index) => {
      const protocol = (port.protocol ?? 'TCP').toLowerCase();
      const url = `${protocol}://${host}:${port.port}`;
      if (index === 0) env[`${prefix}_PORT`] = url;
      const portPrefix = `${prefix}_PORT_${port.port}_${protocol.toUpperCase()}`;
      env[portPrefix] = url;
      env[`${portPrefix}_PROTO`] = protocol;
      env[`${portPrefix}_PORT`] = String(port.port);
      env[`${portPrefix}_ADDR`] = ip;
    });
  }
  return env;
}

/** The value of a downward-API `fieldRef` for an environment variable. */
export function fieldRefValue(pod: Pod, fieldPath: string, podIP: string, hostIP?: string): string {
  const metadata = pod.metadata ?? {};
  const subscript = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (subscript) return (subscript[1] === 'labels' ? metadata.labels : metadata.annotations)?.[subscript[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return metadata.name ?? '';
    case 'metadata.namespace':
      return metadata.namespace ?? '';
    case 'metadata.uid':
      return metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.status?.hostIP ?? hostIP ?? '';
    default:
      throw new Error(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** The value of a `resourceFieldRef` (kubelet rounds up: `ceil(value / divisor)`). */
export function resourceFieldRefValue(pod: Pod, container: Container, ref: ResourceFieldSelector, allocatable: ResourceList): string {
  const target = ref.containerName ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === ref.containerName) : container;
  if (!target) throw new Error(`container ${ref.containerName} not found in pod ${pod.metadata?.name}`);
  const dot = ref.resource.indexOf('.');
  const kind = ref.resource.slice(0, dot);
  const name = ref.resource.slice(dot + 1);
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests')) throw new Error(`unsupported container resource: ${ref.resource}`);
  const limits = target.resources?.limits ?? {};
  const requests = target.resources?.requests ?? {};
  const quantity: Quantity = (kind === 'limits' ? (limits[name] ?? allocatable[name]) : (requests[name] ?? limits[name])) ?? 0;
  const divisor: Quantity = ref.divisor ?? 1;
  if (name === 'cpu') {
    const divisorMilli = milliValue(divisor) || 1;
    return String(Math.ceil((milliValue(quantity) ?? 0) / divisorMilli));
  }
  const divisorValue = quantityValue(divisor) || 1;
  return String(Math.ceil((quantityValue(quantity) ?? 0) / divisorValue));
}

/** An {@link EnvResolver} reading ConfigMaps, Secrets and Services through a Client. */
export class ClientEnvResolver implements EnvResolver {
  constructor(
    private readonly client: Client | undefined,
    private readonly options: ClientEnvResolverOptions = {},
  ) {}

  async resolve(pod: Pod, containerName: string, podIP: string): Promise<Record<string, string>> {
    const container = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === containerName);
    if (!container) throw new Error(`container ${containerName} not found in pod ${pod.metadata?.name}`);
    const namespace = pod.metadata?.namespace ?? 'default';
    const configMaps = new Map<string, ConfigMap | undefined>();
    const secrets = new Map<string, Secret | undefined>();
    const readConfigMap = (name: string, optional: boolean) => this.read(ConfigMap, 'configmap', namespace, name, optional, configMaps);
    const readSecret = (name: string, optional: boolean) => this.read(Secret, 'secret', namespace, name, optional, secrets);
    const services = await this.serviceEnv(pod, namespace);
    const env: Record<string, string> = { POD_IP: podIP };
    for (const source of container.envFrom ?? []) {
      const prefix = source.prefix ?? '';
      if (source.configMapRef) {
        const configMap = await readConfigMap(source.configMapRef.name ?? '', source.configMapRef.optional ?? false);
        for (const [key, value] of Object.entries(configMap?.data ?? {})) env[prefix + key] = value;
      } else if (source.secretRef) {
        const secret = await readSecret(source.secretRef.name ?? '', source.secretRef.optional ?? false);
        for (const [key, value] of Object.entries(secretData(secret))) env[prefix + key] = value;
      }
    }
    const lookup = (name: string) => env[name] ?? services[name];
    for (const variable of container.env ?? []) {
      const from = variable.valueFrom;
      if (variable.value) {
        env[variable.name] = expandVariables(variable.value, lookup);
      } else if (from?.fieldRef) {
        env[variable.name] = fieldRefValue(pod, from.fieldRef.fieldPath, podIP, this.options.hostIP);
      } else if (from?.resourceFieldRef) {
        env[variable.name] = resourceFieldRefValue(pod, container, from.resourceFieldRef, this.allocatable());
      } else if (from?.configMapKeyRef) {
        const { name = '', key, optional = false } = from.configMapKeyRef;
        const configMap = await readConfigMap(name, optional);
        const value = configMap?.data?.[key];
        if (value === undefined && !optional) throw new Error(`couldn't find key ${key} in ConfigMap ${namespace}/${name}`);
        if (value !== undefined) env[variable.name] = value;
      } else if (from?.secretKeyRef) {
        const { name = '', key, optional = false } = from.secretKeyRef;
        const value = secretData(await readSecret(name, optional))[key];
        if (value === undefined && !optional) throw new Error(`couldn't find key ${key} in Secret ${namespace}/${name}`);
        if (value !== undefined) env[variable.name] = value;
      } else {
        env[variable.name] = '';
      }
    }
    return { ...services, ...env };
  }

  private allocatable(): ResourceList {
    const option = this.options.nodeAllocatable;
    return (typeof option === 'function' ? option() : option) ?? {};
  }

  private async serviceEnv(pod: Pod, namespace: string): Promise<Record<string, string>> {
    if (!this.client) return {};
    const services: Service[] = [];
    if (pod.spec?.enableServiceLinks !== false) services.push(...(await this.client.list(Service, { namespace })).items);
    if (namespace !== 'default' || pod.spec?.enableServiceLinks === false) {
      try {
        services.push(await this.client.get(Service, 'kubernetes', { namespace: 'default' }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return serviceEnvironment(services);
  }

  private async read<T extends ConfigMap | Secret>(
    kind: typeof ConfigMap | typeof Secret,
    what: string,
    namespace: string,
    name: string,
    optional: boolean,
    cache: Map<string, T | undefined>,
  ): Promise<T | undefined> {
    if (cache.has(name)) return cache.get(name);
    if (!this.client) throw new Error(`${what} "${name}" cannot be read: the runtime has no API client`);
    let object: T | undefined;
    try {
      object = (await this.client.get(kind as never, name, { namespace })) as T;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!optional) throw new Error(`${what} "${name}" not found`);
    }
    cache.set(name, object);
    return object;
  }
}

function secretData(secret: Secret | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret?.data ?? {})) values[key] = Buffer.from(value, 'base64').toString('utf8');
  return { ...values, ...(secret?.stringData ?? {}) };
}
