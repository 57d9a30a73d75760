/**
 * Service allocation — what kube's Service storage does with its ClusterIP and NodePort
 * allocators: a Service of type ClusterIP, NodePort or LoadBalancer gets a cluster IP from the
 * service CIDR (default `127.96.0.0/12`; network and broadcast addresses excluded) unless it is
 * headless (`None`) or names a free one; NodePort and LoadBalancer ports get node ports from the
 * node port range (default `30000-32767`), and a LoadBalancer with `externalTrafficPolicy: Local`
 * a health check node port. Dynamic picks prefer the upper part of each range, leaving the lower
 * band to requested values (kube's static subrange). A taken or out-of-range request is a 422
 * with kube's message; updates allocate and release as the type and ports change; deletes release.
 *
 * State lives in the store, so several processes over one SQLite file or one etcd never hand out
 * an item twice: one record per range (`/registry/ranges/serviceips`, `…/servicenodeports`, as
 * kube's RangeAllocation objects) maps each allocated item to the uid of the Service holding it,
 * written with compare-and-swap (retried on conflict; writes of one process are serialized).
 *
 * Allocation runs in the `validate` phase, after every check that can refuse the write, so a
 * refused request reserves nothing (a create of a name already taken is refused before it). A new
 * item is marked reserved (with the time) until its Service is seen stored: by the create's
 * `committed` hook, by a check shortly after an update (the registry signals no commit of an
 * update; the items an update gave up are freed then), or by the repair pass. A write that fails
 * after allocating (a concurrent create of the same name, a storage error) leaves a reservation:
 * the repair pass — at start and every 3 minutes, kube's repair controller — frees any item no
 * stored Service uses once it is older than the in-flight grace (60 s), and records the items of
 * Services the record lacks. `dryRun` reads the records, never writes them.
 */
import { ApiError, alreadyExists, internalError } from '../../api/errors.js';
import type { Service } from '../../api/kinds.js';
import type { KubeObject } from '../../api/meta.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { ServicePort } from '../../api/types/core.js';
import { goStringSlice } from '../../api/validation.js';
import { sleepWith, type TimerHandle } from '../../util/clock.js';
import { decodeKeyValue } from '../codec.js';
import { storageError } from '../errors.js';
import { objectKey } from '../keys.js';
import { storeClosed } from '../namespaces.js';
import { groupResource, type AdmissionAttributes, type AdmissionPlugin, type Registry } from '../registry.js';
import { EVERYTHING } from '../selection.js';
import { StoredRange, ipv4Range, portRange, type Claim } from './ranges.js';

/** Options of {@link ServiceAllocation}. */
export interface ServiceAllocationOptions {
  /** The CIDR cluster IPs come from (default `127.96.0.0/12`; IPv4). */
  serviceClusterIPRange?: string;
  /** The node port range, `first-last` (default `30000-32767`). */
  serviceNodePortRange?: string;
  /** Interval of the repair pass (default 3 min, kube's); 0: only the pass at start. */
  repairIntervalMs?: number;
  /** How long a fresh reservation counts as a write in flight, never as a leak (default 60 s). */
  inFlightGraceMs?: number;
  /** Called with every failure of background work (repair, deferred releases). */
  onError?: (err: unknown) => void;
}

const RELEASE_CHECKS_MS = [50, 500, 5000, 30_000];

function isService(info: ResourceInfo): boolean {
  return info.group === '' && info.kind === 'Service';
}

const specOf = (svc: KubeObject | undefined) => (svc as Service | undefined)?.spec ?? {};
const needsClusterIP = (svc: KubeObject) => specOf(svc).type !== 'ExternalName';
const isHeadless = (svc: KubeObject) => specOf(svc).clusterIP === 'None' || specOf(svc).clusterIPs?.[0] === 'None';
const needsNodePorts = (svc: KubeObject) => specOf(svc).type === 'NodePort' || specOf(svc).type === 'LoadBalancer';
const allocatesNodePorts = (svc: KubeObject) => specOf(svc).type === 'NodePort' || (specOf(svc).type === 'LoadBalancer' && specOf(svc).allocateLoadBalancerNodePorts !== false);
const needsHealthCheck = (svc: KubeObject) => specOf(svc).type === 'LoadBalancer' && specOf(svc).externalTrafficPolicy === 'Local';

/** The cluster IPs a Service holds. */
function clusterIPsOf(svc: KubeObject): string[] {
  if (!needsClusterIP(svc)) return [];
  const spec = specOf(svc);
  return (spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP ?? '']).filter((ip) => ip && ip !== 'None');
}

/** The node ports a Service holds (its ports' and its health check's). */
function nodePortsOf(svc: KubeObject): string[] {
  const spec = specOf(svc);
  const ports = (spec.ports ?? []).map((p) => p.nodePort ?? 0);
  return [...ports, spec.healthCheckNodePort ?? 0].filter((p) => p > 0).map(String);
}

/** A 422 for one field, its value rendered as kube prints it (`[]string{"…"}`, `30080`). */
function invalidField(name: string, field: string, renderedValue: string, detail: string): ApiError {
  const body = `Invalid value: ${renderedValue}: ${detail}`;
  return new ApiError({
    code: 422,
    reason: 'Invalid',
    message: `Service "${name}" is invalid: ${field}: ${body}`,
    details: { name, kind: 'Service', causes: [{ reason: 'FieldValueInvalid', message: body, field }] },
  });
}

/** The Service allocators as an admission plugin (install it last: it allocates in `validate`). */
export class ServiceAllocation implements AdmissionPlugin {
  readonly name = 'ServiceAllocation';
  /** The last background failure, for diagnosis. */
  lastError: unknown;
  /** The cluster IPs (record `/registry/ranges/serviceips`). */
  readonly clusterIPs: StoredRange;
  /** The node ports (record `/registry/ranges/servicenodeports`). */
  readonly nodePorts: StoredRange;
  private readonly repairIntervalMs: number;
  private readonly graceMs: number;
  private readonly timers = new Set<TimerHandle>();
  private abort: AbortController | undefined;
  private repairing: Promise<void> | undefined;
  private firstPass: Promise<void> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: ServiceAllocationOptions = {},
  ) {
    this.clusterIPs = new StoredRange(ipv4Range('serviceips', options.serviceClusterIPRange ?? '127.96.0.0/12'), registry.kv, registry.clock);
    this.nodePorts = new StoredRange(portRange('servicenodeports', options.serviceNodePortRange ?? '30000-32767'), registry.kv, registry.clock);
    this.repairIntervalMs = options.repairIntervalMs ?? 180_000;
    this.graceMs = options.inFlightGraceMs ?? 60_000;
  }

  /**
   * Starts repairing (idempotent): a pass now, then one per interval, until {@link stop} or the
   * store closes. Resolves after the first pass (its failure is reported, not thrown).
   */
  start(): Promise<void> {
    if (this.abort) return this.firstPass!;
    const abort = (this.abort = new AbortController());
    let passed!: () => void;
    this.firstPass = new Promise((resolve) => (passed = resolve));
    this.repairing = (async () => {
      while (!abort.signal.aborted) {
        await this.repair().catch((err: unknown) => this.report(err));
        passed();
        if (this.repairIntervalMs <= 0 || (await storeClosed(this.registry))) return;
        await sleepWith(this.registry.clock, this.repairIntervalMs, abort.signal).catch(() => undefined);
      }
      passed();
    })();
    return this.firstPass;
  }

  /** Stops the repair loop and the pending release checks. */
  async stop(): Promise<void> {
    this.abort?.abort();
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
    await this.repairing;
  }

  /** Updates: keeps what was allocated when the client left it out (kube's patchAllocatedValues). */
  mutate(attributes: AdmissionAttributes): void {
    const { operation, info, subresource, object, oldObject } = attributes;
    if (operation !== 'UPDATE' || subresource || !isService(info) || !oldObject) return;
    const spec = ((object as Service).spec ??= {});
    const old = specOf(oldObject);
    if (needsClusterIP(object) && needsClusterIP(oldObject)) {
      spec.clusterIP ||= old.clusterIP;
      if (!spec.clusterIPs?.length && old.clusterIPs?.length) spec.clusterIPs = [...old.clusterIPs];
      if (!spec.clusterIP) delete spec.clusterIP;
    }
    if (needsNodePorts(object) && needsNodePorts(oldObject)) {
      const inBoth = new Set((old.ports ?? []).map((p) => p.nodePort).filter((n) => n && spec.ports?.some((q) => q.nodePort === n)));
      const byName = new Map((old.ports ?? []).map((p) => [p.name ?? '', p.nodePort]));
      for (const port of spec.ports ?? []) {
        const previous = byName.get(port.name ?? '');
        if (!port.nodePort && previous && !inBoth.has(previous)) port.nodePort = previous;
      }
    }
    if (needsHealthCheck(object) && needsHealthCheck(oldObject) && !spec.healthCheckNodePort && old.healthCheckNodePort) {
      spec.healthCheckNodePort = old.healthCheckNodePort;
    }
  }

  /** Creates and updates of the main resource: allocates what the Service needs. */
  async validate(attributes: AdmissionAttributes): Promise<void> {
    const { operation, info, subresource, object, oldObject, dryRun } = attributes;
    if (operation === 'DELETE' || subresource || !isService(info)) return;
    const svc = object as Service;
    const old = operation === 'UPDATE' ? (oldObject as Service | undefined) : undefined;
    const uid = svc.metadata?.uid ?? old?.metadata?.uid ?? '';
    const since = this.registry.clock.now();
    if (!old && !dryRun) await this.refuseExisting(info, svc);
    this.initIPFamilies(svc);
    const ipClaims = this.clusterIPClaims(svc, old);
    const portClaims = this.nodePortClaims(svc, old);
    const granted: [StoredRange, string[]][] = [];
    try {
      granted.push([this.clusterIPs, await this.clusterIPs.allocate(uid, ipClaims, dryRun)]);
      granted.push([this.nodePorts, await this.nodePorts.allocate(uid, portClaims, dryRun)]);
    } catch (err) {
      if (!dryRun) for (const [range, items] of granted) await range.release(uid, items).catch((e: unknown) => this.report(e));
      throw err;
    }
    const usedAfter = new Set([...clusterIPsOf(svc), ...nodePortsOf(svc)]);
    const givenUp = old ? [...clusterIPsOf(old), ...nodePortsOf(old)].filter((item) => !usedAfter.has(item)) : [];
    if (old && !dryRun && (givenUp.length > 0 || granted.some(([, items]) => items.length > 0))) this.settleWhenStored(svc, { items: givenUp, since }, 0);
  }

  /** Creates: the reservations are confirmed. Deletes: the Service's items go back to their ranges. */
  async committed(attributes: AdmissionAttributes): Promise<void> {
    if (attributes.dryRun || !isService(attributes.info)) return;
    const uid = attributes.object.metadata?.uid ?? '';
    if (attributes.operation === 'CREATE') {
      const used = new Set([...clusterIPsOf(attributes.object), ...nodePortsOf(attributes.object)]);
      if (clusterIPsOf(attributes.object).length > 0) await this.clusterIPs.settle(uid, used, this.graceMs);
      if (nodePortsOf(attributes.object).length > 0) await this.nodePorts.settle(uid, used, this.graceMs);
    } else if (attributes.operation === 'DELETE') {
      await this.clusterIPs.release(uid);
      await this.nodePorts.release(uid);
    }
  }

  /**
   * kube's repair controllers, one pass: records the items of stored Services the records lack
   * (and confirms their reservations), and frees what no stored Service uses — unless it was
   * reserved less than the in-flight grace ago.
   */
  async repair(): Promise<void> {
    const serviceInfo = this.registry.types.forKind('v1', 'Service');
    if (!serviceInfo) return;
    for (const [range, itemsOf] of [[this.clusterIPs, clusterIPsOf], [this.nodePorts, nodePortsOf]] as const) {
      const listUsers = async () => {
        const users = new Map<string, string[]>();
        for (const svc of (await this.registry.list(serviceInfo, { predicate: EVERYTHING })).items) {
          for (const item of itemsOf(svc)) users.set(item, [...(users.get(item) ?? []), svc.metadata?.uid ?? '']);
        }
        return users;
      };
      const conflict = (item: string, holders: string[]) => this.report(new Error(`${range.range.what} ${item} is allocated to ${holders.length} Services`));
      await range.repair(listUsers, this.graceMs, conflict);
    }
  }

  /**
   * A create of a name already taken fails after admission; refuse it first, so that it does not
   * reserve anything (a generated name is retried by the registry, so it is let through).
   */
  private async refuseExisting(info: ResourceInfo, svc: Service): Promise<void> {
    const meta = svc.metadata ?? {};
    if (meta.generateName || !meta.name) return;
    const current = await this.registry.kv.get(objectKey(info, meta.namespace, meta.name ?? '')).catch((err: unknown) => Promise.reject(storageError(err)));
    if (!current) return;
    const error = alreadyExists(groupResource(info), meta.name);
    if (decodeKeyValue(current).metadata?.deletionTimestamp) error.status.message = `object is being deleted: ${error.status.message}`;
    throw error;
  }

  // ---------------------------------------------------------------- claims

  /** kube's initIPFamilyFields on a single-stack IPv4 cluster. */
  private initIPFamilies(svc: Service): void {
    if (!needsClusterIP(svc)) return;
    const spec = (svc.spec ??= {});
    const name = svc.metadata?.name ?? '';
    (spec.clusterIPs ?? []).forEach((ip, i) => {
      if (ip.includes(':')) throw invalidField(name, `spec.clusterIPs[${i}]`, goStringSlice(spec.clusterIPs), 'IPv6 is not configured on this cluster');
    });
    if (isHeadless(svc) && Object.keys(spec.selector ?? {}).length === 0) {
      spec.ipFamilies = spec.ipFamilies?.length ? spec.ipFamilies : ['IPv4'];
      if (spec.ipFamilies.length < 2 && spec.ipFamilyPolicy !== 'SingleStack') spec.ipFamilies = [...spec.ipFamilies, spec.ipFamilies[0] === 'IPv4' ? 'IPv6' : 'IPv4'];
      return;
    }
    if (spec.ipFamilyPolicy === 'RequireDualStack') {
      throw invalidField(name, 'spec.ipFamilyPolicy', JSON.stringify(spec.ipFamilyPolicy), 'this cluster is not configured for dual-stack services');
    }
    (spec.ipFamilies ?? []).forEach((family, i) => {
      if (family !== 'IPv4') throw invalidField(name, `spec.ipFamilies[${i}]`, JSON.stringify(family), 'not configured on this cluster');
    });
    if (!spec.ipFamilies?.length) spec.ipFamilies = ['IPv4'];
  }

  private clusterIPClaims(svc: Service, old: Service | undefined): Claim[] {
    const spec = svc.spec!;
    const name = svc.metadata?.name ?? '';
    const fresh = old ? !needsClusterIP(old) : true;
    if (!fresh || !needsClusterIP(svc) || isHeadless(svc)) return [];
    const requested = spec.clusterIPs?.[0] || spec.clusterIP || undefined;
    return [
      {
        ...(requested ? { requested } : {}),
        refuse: (reason) => invalidField(name, 'spec.clusterIPs', goStringSlice(spec.clusterIPs ?? [requested ?? '']), `failed to allocate IP ${requested}: ${reason}`),
        full: () => internalError(new Error('failed to allocate a serviceIP: range is full')),
        assign: (ip) => {
          spec.clusterIP = ip;
          spec.clusterIPs = [ip];
        },
      },
    ];
  }

  private nodePortClaims(svc: Service, old: Service | undefined): Claim[] {
    const spec = svc.spec!;
    const name = svc.metadata?.name ?? '';
    const held = new Set(old ? nodePortsOf(old) : []);
    const claims: Claim[] = [];
    const portClaim = (i: number, requested: number | undefined, assign: (n: number) => void): Claim => ({
      ...(requested ? { requested: String(requested) } : {}),
      refuse: (reason) => invalidField(name, `spec.ports[${i}].nodePort`, String(requested), reason),
      full: () => internalError(new Error('failed to allocate a nodePort: range is full')),
      assign: (item) => assign(Number(item)),
    });
    const ports = spec.ports ?? [];
    if (needsNodePorts(svc) && !old) {
      // kube's initNodePorts: ports with the same port number share one node port.
      const groups = new Map<number, { index: number; members: ServicePort[] }>();
      ports.forEach((port, i) => {
        if (!port.nodePort && !allocatesNodePorts(svc)) return;
        const group = groups.get(port.port) ?? groups.set(port.port, { index: i, members: [] }).get(port.port)!;
        group.members.push(port);
      });
      for (const { index, members } of groups.values()) {
        const requested = members.find((p) => p.nodePort)?.nodePort;
        claims.push(portClaim(index, requested, (n) => members.forEach((p) => (p.nodePort ||= n))));
        for (const port of members) if (port.nodePort && port.nodePort !== requested) claims.push(portClaim(ports.indexOf(port), port.nodePort, () => undefined));
      }
    } else if (needsNodePorts(svc)) {
      // kube's updateNodePorts: each new or unset port on its own.
      ports.forEach((port, i) => {
        if (port.nodePort ? held.has(String(port.nodePort)) : !allocatesNodePorts(svc)) return;
        claims.push(portClaim(i, port.nodePort, (n) => (port.nodePort = n)));
      });
    }
    if (needsHealthCheck(svc) && !(old && needsHealthCheck(old))) {
      const requested = spec.healthCheckNodePort;
      claims.push({
        ...(requested ? { requested: String(requested) } : {}),
        refuse: (reason) => internalError(new Error(`failed to allocate requested HealthCheck NodePort ${requested}: ${reason}`)),
        full: () => internalError(new Error('failed to allocate a HealthCheck NodePort 0: range is full')),
        assign: (item) => (spec.healthCheckNodePort = Number(item)),
      });
    }
    return claims;
  }

  // ---------------------------------------------------------------- after updates

  /**
   * After an update allocated or gave items up (the registry signals no commit of an update):
   * once the stored Service is the updated one, confirms what it uses and frees what it holds but
   * no longer uses. Checked a few times; the repair pass catches what these checks miss.
   */
  private settleWhenStored(svc: Service, givenUp: { items: string[]; since: number }, attempt: number): void {
    if (attempt >= RELEASE_CHECKS_MS.length || this.abort?.signal.aborted === true) return;
    const timer = this.registry.clock.setTimeout(() => {
      this.timers.delete(timer);
      void this.settle(svc, givenUp)
        .then((settled) => settled || this.settleWhenStored(svc, givenUp, attempt + 1))
        .catch((err: unknown) => this.report(err));
    }, RELEASE_CHECKS_MS[attempt]!);
    this.timers.add(timer);
  }

  /** Settles the items of `svc` against its stored version; false while the update seems not stored. */
  private async settle(svc: Service, givenUp: { items: string[]; since: number }): Promise<boolean> {
    const info = this.registry.types.forKind('v1', 'Service')!;
    const uid = svc.metadata?.uid ?? '';
    const stored = await this.registry.get<Service>(info, svc.metadata?.namespace, svc.metadata?.name ?? '').catch(() => undefined);
    if (!stored || stored.metadata?.uid !== uid) return true;
    const used = new Set([...clusterIPsOf(stored), ...nodePortsOf(stored)]);
    if (![...clusterIPsOf(svc), ...nodePortsOf(svc)].every((item) => used.has(item))) return false;
    await this.clusterIPs.settle(uid, used, this.graceMs, givenUp);
    await this.nodePorts.settle(uid, used, this.graceMs, givenUp);
    return true;
  }

  private report(err: unknown): void {
    this.lastError = err;
    this.options.onError?.(err);
  }
}
