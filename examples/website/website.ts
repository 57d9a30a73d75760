/**
 * A complete operator: a `Website` custom resource that owns a ReplicationController (the pods
 * serving the site) and a Service (its address), and reports status.
 *
 *   npx keelson crds --module dist/examples/website/website.js          # writes crds/websites.example.com.yaml
 *   npx keelson run  --module dist/examples/website/website.js --store sqlite:./data.db
 *
 * The reconciler is level-triggered: whatever happened, it reads the Website and makes the
 * ReplicationController and Service match it, then writes what it observed into the status.
 * Owned objects carry a controller reference, so their changes wake the Website's reconcile
 * (`owns`). A finalizer makes deleting a Website delete its ReplicationController and Service
 * first (the garbage collector would do it too, where one runs).
 */
import { inject } from 'inversify';
import {
  addFinalizer,
  ApiError,
  Client,
  Clock,
  Controller,
  EventRecorder,
  Field,
  formatTimestamp,
  hasFinalizer,
  isControlledBy,
  isNotFound,
  removeFinalizer,
  ReplicationController,
  Resource,
  Service,
  setControllerReference,
  type Condition,
  type KubeObject,
  type ReconcileContext,
  type ReconcileRequest,
  type Reconciler,
  type Result,
} from '../../lib/index.js';

/** The finalizer that makes deleting a Website delete what it owns first. */
export const CLEANUP_FINALIZER = 'example.com/cleanup';

/** What a Website asks for. */
export class WebsiteSpec {
  @Field({ description: 'Container image that serves the site', required: true, minLength: 1 })
  image!: string;

  @Field({ type: 'integer', description: 'How many pods serve the site', minimum: 0, maximum: 100, default: 1 })
  replicas?: number;

  @Field({ type: 'integer', description: 'Port the pods listen on', minimum: 1, maximum: 65535, default: 8080 })
  port?: number;

  @Field({ description: 'Command the container runs (default: the image entrypoint)', items: 'string' })
  command?: string[];
}

/** What the operator observed. */
export class WebsiteStatus {
  @Field({ type: 'integer', description: 'Pods ready to serve' })
  readyReplicas?: number;

  @Field({ description: 'Where the site is served inside the cluster' })
  url?: string;

  @Field({ type: 'integer', description: 'The generation the status describes' })
  observedGeneration?: number;

  @Field({ type: 'array', items: 'object', description: 'Ready condition' })
  conditions?: Condition[];
}

/** A static website served by pods behind a Service. */
@Resource({
  group: 'example.com',
  version: 'v1',
  kind: 'Website',
  shortNames: ['ws'],
  description: 'A website served by pods behind a Service',
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.readyReplicas' },
  printerColumns: [
    { name: 'Image', type: 'string', jsonPath: '.spec.image' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'URL', type: 'string', jsonPath: '.status.url' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
})
export class Website implements KubeObject {
  declare apiVersion?: string;
  declare kind?: string;
  declare metadata?: KubeObject['metadata'];

  @Field({ required: true })
  spec!: WebsiteSpec;

  @Field()
  status?: WebsiteStatus;
}

/** Keeps each Website's ReplicationController and Service in line with it. */
@Controller({ for: Website, owns: [ReplicationController, Service], concurrency: 2 })
export class WebsiteReconciler implements Reconciler<Website> {
  constructor(
    @inject(Client) private readonly client: Client,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(Clock) private readonly clock: Clock,
  ) {}

  async reconcile({ namespace, name }: ReconcileRequest, context?: ReconcileContext): Promise<Result | void> {
    let site: Website;
    try {
      site = await this.client.get(Website, name, { namespace });
    } catch (err) {
      if (isNotFound(err)) return; // gone: our finalizer already cleaned up
      throw err;
    }
    if (site.metadata?.deletionTimestamp) {
      // Being deleted: remove what we made, then let the Website go.
      if (!hasFinalizer(site, CLEANUP_FINALIZER)) return;
      await this.deleteOwned(site);
      await removeFinalizer(this.client, Website, site, CLEANUP_FINALIZER);
      this.events.event(site, 'Normal', 'CleanedUp', 'Deleted the ReplicationController and Service');
      return;
    }
    if (!hasFinalizer(site, CLEANUP_FINALIZER)) site = await addFinalizer(this.client, Website, site, CLEANUP_FINALIZER);
    const rc = await this.ensure(site, this.desiredReplicationController(site));
    await this.ensure(site, this.desiredService(site));

    const ready = (rc.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0;
    const desired = site.spec.replicas ?? 1;
    const port = site.spec.port ?? 8080;
    const status: WebsiteStatus = {
      readyReplicas: ready,
      url: `http://${name}.${namespace}.svc:${port}`,
      observedGeneration: site.metadata?.generation ?? 0,
      conditions: [readyCondition(ready, desired, site.status?.conditions, formatTimestamp(this.clock.now()))],
    };
    if (JSON.stringify(status) !== JSON.stringify(site.status ?? {})) {
      await this.client.updateStatus({ ...site, status });
      context?.logger.info({ ready, desired }, 'status updated');
    }
  }

  private desiredReplicationController(site: Website): ReplicationController {
    const name = site.metadata!.name!;
    const labels = { 'app.kubernetes.io/name': 'website', 'app.kubernetes.io/instance': name };
    const rc: ReplicationController = {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name, namespace: site.metadata!.namespace!, labels },
      spec: {
        replicas: site.spec.replicas ?? 1,
        selector: labels,
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'web',
                image: site.spec.image,
                ...(site.spec.command ? { command: site.spec.command } : {}),
                ports: [{ name: 'http', containerPort: site.spec.port ?? 8080 }],
                env: [{ name: 'PORT', value: String(site.spec.port ?? 8080) }],
              },
            ],
          },
        },
      },
    };
    setControllerReference(site, rc);
    return rc;
  }

  private desiredService(site: Website): Service {
    const name = site.metadata!.name!;
    const service: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: site.metadata!.namespace! },
      spec: {
        selector: { 'app.kubernetes.io/name': 'website', 'app.kubernetes.io/instance': name },
        ports: [{ name: 'http', port: site.spec.port ?? 8080, targetPort: 'http' }],
      },
    };
    setControllerReference(site, service);
    return service;
  }

  /** Deletes the ReplicationController and Service this Website controls (not ones someone else owns). */
  private async deleteOwned(site: Website): Promise<void> {
    const { name, namespace } = site.metadata as { name: string; namespace: string };
    for (const kind of [ReplicationController, Service]) {
      try {
        const owned = await this.client.get<KubeObject>(kind, name, { namespace });
        if (!isControlledBy(owned, site)) continue;
        await this.client.delete(kind, name, { namespace, preconditions: { uid: owned.metadata!.uid! } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** Creates `desired` or brings the existing object's spec in line with it; returns what is stored. */
  private async ensure<T extends ReplicationController | Service>(site: Website, desired: T): Promise<T> {
    const kind = desired.kind === 'Service' ? Service : ReplicationController;
    const { name, namespace } = desired.metadata as { name: string; namespace: string };
    let current: T;
    try {
      current = (await this.client.get(kind, name, { namespace })) as T;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const created = await this.client.create(desired);
      this.events.event(site, 'Normal', 'Created', `Created ${desired.kind} ${name}`);
      return created;
    }
    const owner = current.metadata?.ownerReferences?.find((r) => r.controller);
    if (owner && owner.uid !== site.metadata?.uid) {
      this.events.event(site, 'Warning', 'NotOwned', `${desired.kind} ${name} exists and is controlled by ${owner.kind} ${owner.name}`);
      throw new ApiError({ code: 409, reason: 'Conflict', message: `${desired.kind} ${name} is owned by someone else` });
    }
    const wanted = { ...(current.spec as object), ...(desired.spec as object) };
    if (JSON.stringify(wanted) === JSON.stringify(current.spec) && owner) return current;
    return this.client.update({ ...current, spec: wanted, metadata: { ...current.metadata, ownerReferences: desired.metadata!.ownerReferences! } } as T);
  }
}

/** The Ready condition, keeping its transition time while the status does not change. */
function readyCondition(ready: number, desired: number, previous: Condition[] | undefined, now: string): Condition {
  const status = ready >= desired ? 'True' : 'False';
  const before = previous?.find((c) => c.type === 'Ready');
  return {
    type: 'Ready',
    status,
    reason: status === 'True' ? 'AllReplicasReady' : 'WaitingForReplicas',
    message: `${ready}/${desired} replicas ready`,
    lastTransitionTime: before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
  };
}
