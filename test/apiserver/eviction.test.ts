/**
 * The `pods/eviction` subresource over real HTTP, as kube-apiserver answers it when no
 * PodDisruptionBudget stands in the way: client-node's createNamespacedPodEviction deletes the
 * pod with the Eviction's deleteOptions (201 Success); a missing pod is 404, a name that does
 * not match the URL 400, a dry run deletes nothing; discovery lists `pods/eviction` as kind
 * `policy/v1 Eviction`, which is what `kubectl drain` looks for before it evicts.
 */
import { expect } from 'chai';
import { CoreV1Api, type V1Eviction, type V1Pod } from '@kubernetes/client-node';
import { startTestApiServer, type TestApiServer } from '../harness/apiserver.js';
import { kvBackends } from '../harness/backends.js';

const backend = kvBackends[0]!;

function pod(name: string): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
}

function eviction(name: string, deleteOptions?: V1Eviction['deleteOptions']): V1Eviction {
  return { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' }, ...(deleteOptions ? { deleteOptions } : {}) };
}

describe(`pods/eviction over HTTP [${backend.name}]`, function () {
  this.timeout(30_000);
  let api: TestApiServer;
  let core: CoreV1Api;

  before(async () => {
    await backend.setup();
    api = await startTestApiServer(backend);
    core = api.kubeConfig().makeApiClient(CoreV1Api);
  });
  after(async () => {
    await api.close();
    await backend.teardown();
  });

  const evict = (name: string, body: unknown, query = '') =>
    api.request('POST', `/api/v1/namespaces/default/pods/${name}/eviction${query}`, { body: JSON.stringify(body) });

  it('deletes the pod with the deleteOptions of the Eviction (client-node), answering 201 Success', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('evicted') });
    // (client-node reads the Status answer into its V1Eviction model: resolving is the success.)
    await core.createNamespacedPodEviction({ name: 'evicted', namespace: 'default', body: eviction('evicted', { gracePeriodSeconds: 0 }) });
    const gone = await api.request('GET', '/api/v1/namespaces/default/pods/evicted');
    expect(gone.status).to.equal(404);
  });

  it('answers 201 with a Success Status on the wire', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('wire') });
    const res = await evict('wire', eviction('wire', { gracePeriodSeconds: 0 }));
    expect(res.status).to.equal(201);
    expect(res.json()).to.deep.include({ kind: 'Status', apiVersion: 'v1', status: 'Success', code: 201 });
  });

  it('is 404 for a missing pod, 400 for a name that does not match the URL; a dry run deletes nothing', async () => {
    const missing = await evict('nobody', eviction('nobody'));
    expect(missing.status).to.equal(404);
    expect(missing.json()).to.deep.include({ reason: 'NotFound', message: 'pods "nobody" not found' });

    await core.createNamespacedPod({ namespace: 'default', body: pod('kept') });
    const mismatch = await evict('kept', eviction('other'));
    expect(mismatch.status).to.equal(400);
    expect(mismatch.json()).to.deep.include({ reason: 'BadRequest', message: 'name in URL does not match name in Eviction object' });

    const dry = await evict('kept', eviction('kept', { gracePeriodSeconds: 0 }), '?dryRun=All');
    expect(dry.status).to.equal(201);
    expect((await api.request('GET', '/api/v1/namespaces/default/pods/kept')).status).to.equal(200);
    // Preconditions are honoured: a wrong uid is a conflict, and the pod stays.
    const stale = await evict('kept', eviction('kept', { preconditions: { uid: 'not-the-uid' } }));
    expect(stale.status).to.equal(409);
    expect((await api.request('GET', '/api/v1/namespaces/default/pods/kept')).status).to.equal(200);
  });

  it('is listed in discovery as pods/eviction, kind policy/v1 Eviction, verb create (what kubectl drain checks)', async () => {
    const res = await api.request('GET', '/api/v1');
    const entry = (res.json() as { resources: Array<Record<string, unknown>> }).resources.find((r) => r.name === 'pods/eviction');
    expect(entry).to.deep.include({ name: 'pods/eviction', kind: 'Eviction', group: 'policy', version: 'v1', namespaced: true, verbs: ['create'] });
  });
});
