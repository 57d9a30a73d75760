/**
 * The endpointslice controller: every Service's EndpointSlices (`discovery.k8s.io/v1`), mirrored
 * from its Endpoints (`slices.ts` has the shape) — what kube's endpointslice controller does for
 * Services with a selector, and its endpointslicemirroring controller for Services whose
 * Endpoints a user manages. `kubectl describe service` reads these.
 *
 * - Reconciled per Service; an Endpoints change maps to its Service, and so does a change to a
 *   slice of the Service (edited or deleted by someone else: put back), and a change to a
 *   terminating pod (listed, as kube lists it, with `terminating: true` until it is gone).
 * - Slices are labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`
 *   (`endpointslice-controller.k8s.io` for a selector Service, `endpointslicemirroring-
 *   controller.k8s.io` otherwise), carry the Service's labels (and `service.kubernetes.io/headless`
 *   for a Service without a cluster IP), are owned by the Service (the garbage collector deletes
 *   them with it; so does this controller when it sees the Service gone) and are named by the API
 *   server from `<service>-`.
 * - It writes only what changed: existing slices are matched to the desired ones by address type
 *   and ports, updated in place when their endpoints differ, created or deleted for the rest.
 * - Slices managed by anything else (another controller, a user) are left alone.
 */
import { inject } from 'inversify';
import {
  Client,
  Controller,
  EndpointSlice,
  Endpoints,
  ignoreNotFound,
  isNotFound,
  Logger,
  Pod,
  selectorFromSet,
  Service,
  setControllerReference,
  Watches,
  type ReconcileRequest,
  type Reconciler,
} from '../../lib/index.js';
import { HEADLESS_SERVICE_LABEL, LAST_CHANGE_TRIGGER_TIME_ANNOTATION } from '../endpoints/index.js';
import { desiredSlices, sliceKey, type SliceContent } from './slices.js';

/** The label naming the Service a slice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The label naming the controller that manages a slice. */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
/** `managed-by` of the slices of a Service with a selector (kube's endpointslice controller). */
export const MANAGED_BY_CONTROLLER = 'endpointslice-controller.k8s.io';
/** `managed-by` of the slices mirrored from a user's Endpoints (kube's endpointslicemirroring controller). */
export const MANAGED_BY_MIRRORING = 'endpointslicemirroring-controller.k8s.io';

/** Whether a Service's endpoints are computed from its selector (else a user's Endpoints, if any, are mirrored). */
function hasSelector(service: Service): boolean {
  return Object.keys(service.spec?.selector ?? {}).length > 0;
}

/** The labels a slice of `service` carries. */
function sliceLabels(service: Service, managedBy: string): Record<string, string> {
  const labels: Record<string, string> = { ...(service.metadata?.labels ?? {}) };
  const clusterIP = service.spec?.clusterIP;
  if (!clusterIP || clusterIP === 'None') labels[HEADLESS_SERVICE_LABEL] = '';
  else delete labels[HEADLESS_SERVICE_LABEL];
  labels[SERVICE_NAME_LABEL] = service.metadata!.name!;
  labels[MANAGED_BY_LABEL] = managedBy;
  return labels;
}

/** A slice as written: its content, labels, owner and trigger-time annotation. */
function sliceObject(base: EndpointSlice | undefined, service: Service, content: SliceContent, labels: Record<string, string>, triggerTime: string | undefined): EndpointSlice {
  const annotations = { ...(base?.metadata?.annotations ?? {}) };
  if (triggerTime) annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION] = triggerTime;
  else delete annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION];
  const metadata = { ...(base?.metadata ?? { generateName: `${service.metadata!.name}-`, namespace: service.metadata!.namespace }), labels, annotations };
  if (Object.keys(annotations).length === 0) delete (metadata as { annotations?: unknown }).annotations;
  const slice: EndpointSlice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType: content.addressType, endpoints: content.endpoints, ports: content.ports };
  if (!base) setControllerReference(service, slice);
  return slice;
}

/** Whether an existing slice already is `wanted` (content, labels, annotation). */
function sameSlice(current: EndpointSlice, wanted: EndpointSlice): boolean {
  const comparable = (s: EndpointSlice) =>
    JSON.stringify([s.addressType, s.endpoints ?? [], s.ports ?? [], Object.entries(s.metadata?.labels ?? {}).sort(), s.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME_ANNOTATION] ?? '']);
  return comparable(current) === comparable(wanted);
}

/** Keeps each Service's EndpointSlices in line with its Endpoints. */
@Controller({ for: Service, name: 'endpointslice', concurrency: 5 })
export class EndpointSliceController implements Reconciler<Service> {
  constructor(
    @inject(Client) private readonly client: Client,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** Endpoints belong to the Service of their name. */
  @Watches(Endpoints)
  endpointsToService(endpoints: Endpoints): ReconcileRequest[] {
    return [{ namespace: endpoints.metadata?.namespace ?? '', name: endpoints.metadata?.name ?? '' }];
  }

  /** A terminating pod (deleted, not yet gone) concerns the Services that select it: their slices list it. */
  @Watches(Pod)
  async terminatingPodToServices(pod: Pod): Promise<ReconcileRequest[]> {
    if (!pod.metadata?.deletionTimestamp) return [];
    const namespace = pod.metadata.namespace ?? '';
    const labels = pod.metadata.labels ?? {};
    return (await this.client.list(Service, { namespace })).items
      .filter((service) => hasSelector(service) && selectorFromSet(service.spec!.selector).matches(labels))
      .map((service) => ({ namespace, name: service.metadata!.name! }));
  }

  /** A slice changed or deleted by someone else is put back (ours only: others are left alone). */
  @Watches(EndpointSlice)
  sliceToService(slice: EndpointSlice): ReconcileRequest[] {
    const labels = slice.metadata?.labels ?? {};
    const service = labels[SERVICE_NAME_LABEL];
    const ours = labels[MANAGED_BY_LABEL] === MANAGED_BY_CONTROLLER || labels[MANAGED_BY_LABEL] === MANAGED_BY_MIRRORING;
    return service && ours ? [{ namespace: slice.metadata?.namespace ?? '', name: service }] : [];
  }

  /** Brings the Service's slices in line with its Endpoints (or deletes them with it). */
  async reconcile({ namespace, name }: ReconcileRequest): Promise<void> {
    const service = await this.client.get(Service, name, { namespace }).catch(ignoreNotFound);
    const existing = (await this.client.list(EndpointSlice, { namespace, labelSelector: { matchLabels: { [SERVICE_NAME_LABEL]: name } } })).items.filter((slice) => {
      const managedBy = slice.metadata?.labels?.[MANAGED_BY_LABEL];
      return managedBy === MANAGED_BY_CONTROLLER || managedBy === MANAGED_BY_MIRRORING;
    });
    let wanted: SliceContent[] = [];
    let managedBy = MANAGED_BY_CONTROLLER;
    let triggerTime: string | undefined;
    if (service && service.spec?.type !== 'ExternalName') {
      const endpoints = await this.client.get(Endpoints, name, { namespace }).catch(ignoreNotFound);
      const selector = hasSelector(service);
      managedBy = selector ? MANAGED_BY_CONTROLLER : MANAGED_BY_MIRRORING;
      const pods = selector ? (await this.client.list(Pod, { namespace, labelSelector: { matchLabels: service.spec!.selector! } })).items : [];
      wanted = desiredSlices(service, endpoints, selector, pods);
      triggerTime = endpoints?.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME_ANNOTATION];
    }

    // Pair each wanted slice with an existing one of the same address type and ports, then with
    // any left over; what is left of the existing ones goes.
    const unused = [...existing];
    const take = (match: (slice: EndpointSlice) => boolean): EndpointSlice | undefined => {
      const index = unused.findIndex(match);
      return index < 0 ? undefined : unused.splice(index, 1)[0];
    };
    const pairs: Array<[SliceContent, EndpointSlice | undefined]> = wanted.map((content) => [content, take((s) => sliceKey({ addressType: s.addressType as SliceContent['addressType'], ports: (s.ports ?? []) as SliceContent['ports'] }) === sliceKey(content))]);
    for (const pair of pairs) if (!pair[1]) pair[1] = take(() => true);

    const labels = service ? sliceLabels(service, managedBy) : {};
    for (const [content, current] of pairs) {
      const slice = sliceObject(current, service!, content, labels, triggerTime);
      if (!current) {
        await this.client.create(slice);
        this.logger.debug({ service: `${namespace}/${name}`, endpoints: content.endpoints.length }, 'created endpointslice');
      } else if (!sameSlice(current, slice)) {
        await this.client.update(slice);
        this.logger.debug({ service: `${namespace}/${name}`, slice: current.metadata?.name, endpoints: content.endpoints.length }, 'updated endpointslice');
      }
    }
    for (const slice of unused) {
      try {
        await this.client.delete(EndpointSlice, slice.metadata!.name!, { namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}
