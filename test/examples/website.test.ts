/**
 * Unit tests of the example operator, written with keelson/testing's ReconcileHarness: each
 * reconcile runs in milliseconds against an in-memory store with the full API semantics.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, isInvalid } from '../../lib/api/errors.js';
import { ReplicationController, Service } from '../../lib/api/kinds.js';
import { crdYaml } from '../../lib/runtime/crd-gen.js';
import { gvkOf, type KindRef } from '../../lib/api/resources.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { ReconcileHarness } from '../../lib/testing/env.js';
import { CLEANUP_FINALIZER, Website, WebsiteReconciler } from '../../examples/website/website.js';

const NS = 'default';
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

function site(name: string, spec: Partial<Website['spec']> = {}): Website {
  return { apiVersion: 'example.com/v1', kind: 'Website', metadata: { name, namespace: NS }, spec: { image: 'nginx:1.27', ...spec } } as Website;
}

describe('Example operator: Website', () => {
  let h: ReconcileHarness<WebsiteReconciler>;
  afterEach(async () => h?.close());

  it('creates an owned ReplicationController and Service, a finalizer, status and events', async () => {
    const started = Date.now();
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site('blog', { replicas: 2, port: 9000 })] });
    await h.reconcile('default/blog');
    const owner = await h.client.get(Website, 'blog', { namespace: NS });
    const rc = await h.client.get(ReplicationController, 'blog', { namespace: NS });
    const svc = await h.client.get(Service, 'blog', { namespace: NS });
    expect((rc.spec as { replicas: number }).replicas).to.equal(2);
    for (const owned of [rc, svc]) {
      expect(owned.metadata?.ownerReferences).to.deep.equal([
        { apiVersion: 'example.com/v1', kind: 'Website', name: 'blog', uid: owner.metadata!.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    expect((svc.spec as { ports: { port: number }[] }).ports[0]!.port).to.equal(9000);
    expect(owner.metadata?.finalizers).to.deep.equal([CLEANUP_FINALIZER]);
    expect(owner.status).to.deep.include({ readyReplicas: 0, url: 'http://blog.default.svc:9000', observedGeneration: 1 });
    expect(owner.status?.conditions?.[0]).to.include({ type: 'Ready', status: 'False', message: '0/2 replicas ready' });
    expect(h.recorder.strings()).to.deep.equal(['Normal Created Created ReplicationController blog', 'Normal Created Created Service blog']);
    console.log(`      (harness setup and one reconcile: ${Date.now() - started} ms)`);
  });

  it('applies schema defaults and changes nothing on a second reconcile', async () => {
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site('defaults')] });
    await h.reconcile('default/defaults');
    const stored = await h.client.get(Website, 'defaults', { namespace: NS });
    expect(stored.spec).to.deep.equal({ image: 'nginx:1.27', replicas: 1, port: 8080 });
    const rcBefore = await h.client.get(ReplicationController, 'defaults', { namespace: NS });
    await h.reconcile('default/defaults');
    const rcAfter = await h.client.get(ReplicationController, 'defaults', { namespace: NS });
    const after = await h.client.get(Website, 'defaults', { namespace: NS });
    expect(rcAfter.metadata?.resourceVersion).to.equal(rcBefore.metadata?.resourceVersion);
    expect(after.metadata?.resourceVersion).to.equal(stored.metadata?.resourceVersion);
  });

  it('follows spec edits and reports ready replicas', async () => {
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site('shop')] });
    await h.reconcile('default/shop');
    await h.client.patch(Website, 'shop', { spec: { replicas: 3, image: 'nginx:1.28' } }, { namespace: NS });
    await h.reconcile('default/shop');
    const rc = await h.client.get(ReplicationController, 'shop', { namespace: NS });
    const spec = rc.spec as { replicas: number; template: { spec: { containers: { image: string }[] } } };
    expect(spec.replicas).to.equal(3);
    expect(spec.template.spec.containers[0]!.image).to.equal('nginx:1.28');
    await h.client.updateStatus({ ...rc, status: { replicas: 3, readyReplicas: 3 } });
    await h.reconcile('default/shop');
    const shop = await h.client.get(Website, 'shop', { namespace: NS });
    expect(shop.status?.readyReplicas).to.equal(3);
    expect(shop.status?.observedGeneration).to.equal(2);
    expect(shop.status?.conditions?.[0]).to.include({ status: 'True', reason: 'AllReplicasReady' });
  });

  it('deletes what it owns before letting a deleted Website go', async () => {
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site('old')] });
    await h.reconcile('default/old');
    await h.client.delete(Website, 'old', { namespace: NS });
    expect((await h.client.get(Website, 'old', { namespace: NS })).metadata?.deletionTimestamp).to.be.a('string');
    await h.reconcile('default/old');
    for (const kind of [Website, ReplicationController, Service] as KindRef<KubeObject>[]) {
      const err = await h.client.get(kind, 'old', { namespace: NS }).catch((e: unknown) => e);
      expect((err as ApiError).code, gvkOf(kind).kind).to.equal(404);
    }
    expect(h.recorder.strings()).to.include('Normal CleanedUp Deleted the ReplicationController and Service');
  });

  it('refuses to take over a Service someone else controls, and says so', async () => {
    const foreign: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'taken', namespace: NS, ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'x', uid: 'other', controller: true }] },
      spec: { ports: [{ port: 80 }] },
    } as Service;
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website], objects: [site('taken'), foreign] });
    const err = await h.reconcile('default/taken').catch((e: unknown) => e);
    expect((err as ApiError).code).to.equal(409);
    expect(h.recorder.strings()).to.include('Warning NotOwned Service taken exists and is controlled by ReplicationController x');
  });

  it('is validated by its generated schema', async () => {
    h = await ReconcileHarness.create(WebsiteReconciler, { resources: [Website] });
    const err = await h.client.create(site('huge', { replicas: 500 })).catch((e: unknown) => e);
    expect(isInvalid(err)).to.equal(true);
    expect((err as ApiError).message).to.contain('spec.replicas: Invalid value: 500: spec.replicas in body should be less than or equal to 100');
    const missing = await h.client.create({ ...site('noimage'), spec: {} } as Website).catch((e: unknown) => e);
    expect((missing as ApiError).message).to.contain('spec.image: Required value');
  });

  it('has its generated CRD committed in crds/', () => {
    const committed = readFileSync(join(root, 'crds/websites.example.com.yaml'), 'utf8');
    expect(committed, 'run: npx keelson crds --module dist/examples/website/website.js').to.equal(crdYaml(Website));
  });
});
