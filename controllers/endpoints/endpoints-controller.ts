/**
 * The endpoints controller: for each Service with a selector, an Endpoints object of the same
 * name listing the addresses of the pods the selector matches (see `subsets.ts` for the rules),
 * as kube's endpoints controller does.
 *
 * - Reconciled per Service. Pod events map to the Services that select the pod *and* to those
 *   whose Endpoints still list it — so a pod whose labels changed leaves the Services it no
 *   longer matches (the map function sees only the new pod; the Endpoints remember the old).
 * - An Endpoints edited or deleted by someone else is reconciled back, while its Service exists.
 * - Services without a selector (and ExternalName Services) are left alone: their Endpoints
 *   belong to the user. Deleting a Service deletes its Endpoints (kube sets no ownerReference on
 *   Endpoints; the controller deletes them itself).
 * - It writes only when the result changed: subsets compared semantically, and labels.
 */
import { inject } from 'inversify';
import {
  ApiError,
  Client,
  Controller,
  Endpoints,
  EventRecorder,
  formatTimestamp,
  Index,
  ignoreNotFound,
  isNotFound,
  Logger,
  Pod,
  selectorFromSet,
  Service,
  Watches,
  type Predicate,
  type ReconcileRequest,
  type Reconciler,
} from '../../lib/index.js';
import { countAddresses, endpointSubsetsFor, isPodReady, sameSubsets, truncateSubsets } from './subsets.js';
import { LAST_CHANGE_TRIGGER_TIME_ANNOTATION, TriggerTimeTracker } from './trigger-time.js';

/** Label on the Endpoints of a Service without a cluster IP (headless). */
export const HEADLESS_SERVICE_LABEL = 'service.kubernetes.io/headless';
/** Annotation set to `truncated` when a Service has more addresses than one Endpoints holds (1000). */
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
/** The cache index of Endpoints by the uids of the pods they list (also a cached field selector). */
export const ENDPOINTS_POD_UID_INDEX = 'subsets.targetRef.uid';

/** The uids of the pods an Endpoints object lists, ready or not. */
function podUidsOf(endpoints: Endpoints): string[] {
  const uids = new Set<string>();
  for (const subset of endpoints.subsets ?? []) {
    for (const address of [...(subset.addresses ?? []), ...(subset.notReadyAddresses ?? [])]) {
      if (address.targetRef?.kind === 'Pod' && address.targetRef.uid) uids.add(address.targetRef.uid);
    }
  }
  return [...uids];
}

/** What of a pod its addresses depend on (kube's podEndpointsChanged, plus the phase). */
function endpointFacts(pod: Pod): string {
  return JSON.stringify([
    pod.metadata?.labels ?? {},
    pod.metadata?.deletionTimestamp ?? '',
    pod.spec?.hostname ?? '',
    pod.spec?.subdomain ?? '',
    pod.spec?.nodeName ?? '',
    pod.status?.phase ?? '',
    pod.status?.podIP ?? '',
    (pod.status?.podIPs ?? []).map((ip) => ip.ip),
    isPodReady(pod),
  ]);
}

/** Pod updates that cannot change any Endpoints (annotations, container statuses, …) are dropped. */
const podEndpointsChanged: Predicate = {
  update: (oldPod, newPod) => endpointFacts(oldPod as Pod) !== endpointFacts(newPod as Pod),
};

/** True for a Service whose Endpoints this controller manages. */
function managesEndpoints(service: Service): boolean {
  return service.spec?.type !== 'ExternalName' && Object.keys(service.spec?.selector ?? {}).length > 0;
}

/** The labels its Endpoints carry: the Service's, plus the headless label when it has no cluster IP. */
function endpointsLabels(service: Service): Record<string, string> {
  const labels = { ...(service.metadata?.labels ?? {}) };
  const clusterIP = service.spec?.clusterIP;
  if (!clusterIP || clusterIP === 'None') labels[HEADLESS_SERVICE_LABEL] = '';
  else delete labels[HEADLESS_SERVICE_LABEL];
  return labels;
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {}).sort();
  const bk = Object.keys(b ?? {}).sort();
  return ak.length === bk.length && ak.every((k, i) => k === bk[i] && a![k] === b![k]);
}

/** Keeps each selector Service's Endpoints in line with the pods it selects. */
@Controller({ for: Service, name: 'endpoints', concurrency: 5 })
@Index(Endpoints, ENDPOINTS_POD_UID_INDEX, podUidsOf)
export class EndpointsController implements Reconciler<Service> {
  private readonly triggerTimes = new TriggerTimeTracker();

  constructor(
    @inject(Client) private readonly client: Client,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** A pod's events concern the Services that select it now and those whose Endpoints list it. */
  @Watches(Pod, { predicates: [podEndpointsChanged] })
  async podToServices(pod: Pod): Promise<ReconcileRequest[]> {
    const namespace = pod.metadata?.namespace ?? '';
    const names = new Set<string>();
    for (const service of (await this.client.list(Service, { namespace })).items) {
      if (!managesEndpoints(service)) continue;
      if (selectorFromSet(service.spec!.selector).matches(pod.metadata?.labels ?? {})) names.add(service.metadata!.name!);
    }
    const uid = pod.metadata?.uid;
    if (uid) {
      try {
        const listing = await this.client.list(Endpoints, { namespace, fieldSelector: `${ENDPOINTS_POD_UID_INDEX}=${uid}` });
        for (const endpoints of listing.items) names.add(endpoints.metadata!.name!);
      } catch (err) {
        // Only the cache has this index; before it synced, every Service is reconciled anyway.
        this.logger.debug({ err, pod: `${namespace}/${pod.metadata?.name}` }, 'Endpoints index not ready; mapping the pod by labels only');
      }
    }
    return [...names].map((name) => ({ namespace, name }));
  }

  /** An Endpoints changed or deleted by someone else is put back — if its Service exists. */
  @Watches(Endpoints)
  async endpointsToService(endpoints: Endpoints): Promise<ReconcileRequest[]> {
    const namespace = endpoints.metadata?.namespace ?? '';
    const name = endpoints.metadata?.name ?? '';
    const service = await this.client.get(Service, name, { namespace }).catch(ignoreNotFound);
    return service ? [{ namespace, name }] : [];
  }

  /** Brings the Endpoints named as the Service in line with the pods it selects (or deletes them with it). */
  async reconcile({ namespace, name }: ReconcileRequest): Promise<void> {
    const service = await this.client.get(Service, name, { namespace }).catch(ignoreNotFound);
    if (!service) {
      // The Service is gone: so are its Endpoints.
      this.triggerTimes.forget(namespace, name);
      try {
        await this.client.delete(Endpoints, name, { namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    if (!managesEndpoints(service)) return;

    const pods = (await this.client.list(Pod, { namespace, labelSelector: { matchLabels: service.spec!.selector! } })).items;
    // Computed on every sync, written or not, so the tracker's memory stays current (as kube).
    const triggerTime = this.triggerTimes.compute(service, pods);
    const subsets = endpointSubsetsFor(service, pods);
    const overCapacity = truncateSubsets(subsets);
    const labels = endpointsLabels(service);
    const current = await this.client.get(Endpoints, name, { namespace }).catch(ignoreNotFound);
    if (
      current &&
      sameSubsets(current.subsets, subsets) &&
      sameLabels(current.metadata?.labels, labels) &&
      (current.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION] !== undefined) === overCapacity
    ) {
      return;
    }

    const annotations = { ...(current?.metadata?.annotations ?? {}) };
    if (triggerTime !== undefined) annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION] = formatTimestamp(triggerTime);
    else delete annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION];
    if (overCapacity) annotations[OVER_CAPACITY_ANNOTATION] = 'truncated';
    else delete annotations[OVER_CAPACITY_ANNOTATION];
    const metadata = { ...(current?.metadata ?? { name, namespace }), labels, annotations };
    if (Object.keys(annotations).length === 0) delete (metadata as { annotations?: unknown }).annotations;
    const desired: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata, ...(subsets.length ? { subsets } : {}) };
    await this.write(desired, service, current === undefined);
  }

  /** Creates or updates the Endpoints; a failure is an Event on them and a retry. */
  private async write(endpoints: Endpoints, service: Service, create: boolean): Promise<void> {
    try {
      if (create) await this.client.create(endpoints);
      else await this.client.update(endpoints);
    } catch (err) {
      // A namespace being deleted refuses creates for good: nothing left to do (as kube).
      if (create && err instanceof ApiError && err.code === 403 && err.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')) return;
      const { namespace, name } = service.metadata as { namespace: string; name: string };
      const message = err instanceof Error ? err.message : String(err);
      if (create) this.events.event(endpoints, 'Warning', 'FailedToCreateEndpoint', `Failed to create endpoint for service ${namespace}/${name}: ${message}`);
      else this.events.event(endpoints, 'Warning', 'FailedToUpdateEndpoint', `Failed to update endpoint ${namespace}/${name}: ${message}`);
      throw err;
    }
    this.logger.debug(
      { service: `${service.metadata?.namespace}/${service.metadata?.name}`, addresses: countAddresses(endpoints.subsets) },
      create ? 'created endpoints' : 'updated endpoints',
    );
  }
}
