/**
 * The API server over real HTTP: bad requests answered with the Status code and reason
 * kube-apiserver gives, and nothing written; plus the conventions clients rely on (Warning
 * headers, Tables, watch streams, scale and binding, authentication).
 */
import { expect } from 'chai';
import { createAuthenticator } from '../../lib/apiserver/auth.js';
import { kvBackends } from '../harness/backends.js';
import { startTestApiServer, type TestApiServer } from '../harness/apiserver.js';

const CM = '/api/v1/namespaces/default/configmaps';

function configMap(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' }, ...extra });
}

interface BadCase {
  name: string;
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  code: number;
  reason?: string;
  message?: string;
}

const cases: BadCase[] = [
  { name: 'malformed JSON', method: 'POST', path: CM, body: '{"apiVersion": "v1", "kind":', code: 400, reason: 'BadRequest' },
  { name: 'a body that is not an object', method: 'POST', path: CM, body: '[1,2,3]', code: 400, reason: 'BadRequest' },
  { name: 'an unsupported content type', method: 'POST', path: CM, body: configMap('ct'), headers: { 'Content-Type': 'text/plain' }, code: 415, reason: 'UnsupportedMediaType' },
  { name: 'an unknown resource', method: 'GET', path: '/api/v1/namespaces/default/frobnicators', code: 404, reason: 'NotFound' },
  { name: 'an unknown group', method: 'GET', path: '/apis/nope.example.com/v1/things', code: 404, reason: 'NotFound' },
  { name: 'a namespaced resource without a namespace', method: 'GET', path: '/api/v1/configmaps/x', code: 404, reason: 'NotFound' },
  { name: 'a cluster-scoped resource under a namespace', method: 'GET', path: '/api/v1/namespaces/default/nodes', code: 404, reason: 'NotFound' },
  {
    name: 'a body of another kind',
    method: 'POST',
    path: '/api/v1/namespaces/default/pods',
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }),
    code: 400,
    reason: 'BadRequest',
  },
  {
    name: 'a body in another namespace',
    method: 'POST',
    path: CM,
    body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'kube-system' } }),
    code: 400,
    reason: 'BadRequest',
    message: 'does not match the namespace',
  },
  { name: 'a PUT whose name differs from the URL', method: 'PUT', path: `${CM}/existing`, body: configMap('other'), code: 400, reason: 'BadRequest', message: 'does not match the name' },
  { name: 'a body over 3 MiB', method: 'POST', path: CM, body: configMap('big', { data: { k: 'x'.repeat(3 * 1024 * 1024) } }), code: 413, reason: 'RequestEntityTooLarge' },
  {
    name: 'an object over 1.5 MiB',
    method: 'POST',
    path: '/api/v1/namespaces/default/pods',
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'big' }, spec: { containers: [{ name: 'c', image: 'i', args: ['x'.repeat(1.6 * 1024 * 1024)] }] } }),
    code: 413,
    reason: 'RequestEntityTooLarge',
  },
  { name: 'an invalid object', method: 'POST', path: CM, body: configMap('Bad_Name'), code: 422, reason: 'Invalid', message: 'metadata.name: Invalid value' },
  { name: 'an existing name', method: 'POST', path: CM, body: configMap('existing'), code: 409, reason: 'AlreadyExists' },
  { name: 'a bad label selector', method: 'GET', path: `${CM}?labelSelector=${encodeURIComponent('a in (b')}`, code: 400, reason: 'BadRequest' },
  { name: 'an unsupported field selector', method: 'GET', path: `${CM}?fieldSelector=${encodeURIComponent('data.k=v')}`, code: 400, reason: 'BadRequest' },
  { name: 'a bad limit', method: 'GET', path: `${CM}?limit=abc`, code: 400, reason: 'BadRequest' },
  { name: 'a bad dryRun value', method: 'POST', path: `${CM}?dryRun=Yes`, body: configMap('dry'), code: 400, reason: 'BadRequest' },
  { name: 'a strict create with an unknown field', method: 'POST', path: `${CM}?fieldValidation=Strict`, body: configMap('strict', { bogus: 1 }), code: 400, reason: 'BadRequest', message: 'unknown field "bogus"' },
  {
    name: 'a JSON patch with an unknown op',
    method: 'PATCH',
    path: `${CM}/existing`,
    body: '[{"op":"frob","path":"/data"}]',
    headers: { 'Content-Type': 'application/json-patch+json' },
    code: 400,
    reason: 'BadRequest',
  },
  {
    name: 'a JSON patch that does not apply',
    method: 'PATCH',
    path: `${CM}/existing`,
    body: '[{"op":"replace","path":"/data/nope","value":"x"}]',
    headers: { 'Content-Type': 'application/json-patch+json' },
    code: 422,
    reason: 'Invalid',
  },
  { name: 'a merge patch that is not JSON', method: 'PATCH', path: `${CM}/existing`, body: '{"data":', headers: { 'Content-Type': 'application/merge-patch+json' }, code: 400, reason: 'BadRequest' },
  { name: 'a patch of an unknown type', method: 'PATCH', path: `${CM}/existing`, body: '{}', headers: { 'Content-Type': 'application/json' }, code: 415, reason: 'UnsupportedMediaType' },
  { name: 'a stale update', method: 'PUT', path: `${CM}/existing`, body: configMap('existing', { metadata: { name: 'existing', resourceVersion: '1' } }), code: 409, reason: 'Conflict' },
  { name: 'an update of a missing object', method: 'PUT', path: `${CM}/missing`, body: configMap('missing'), code: 404, reason: 'NotFound' },
  { name: 'a delete with a malformed body', method: 'DELETE', path: `${CM}/existing`, body: '{"propagationPolicy":', code: 400, reason: 'BadRequest' },
  { name: 'a delete with an unknown propagation policy', method: 'DELETE', path: `${CM}/existing?propagationPolicy=Sideways`, code: 400, reason: 'BadRequest' },
  { name: 'a PUT on a collection', method: 'PUT', path: CM, body: configMap('x'), code: 405, reason: 'MethodNotAllowed' },
  { name: 'a protobuf-only Accept header', method: 'GET', path: `${CM}/existing`, headers: { Accept: 'application/vnd.kubernetes.protobuf' }, code: 406, reason: 'NotAcceptable' },
];

for (const backend of kvBackends) {
  describe(`API server over HTTP [${backend.name}]`, function () {
    this.timeout(30_000);
    let api: TestApiServer;

    before(async () => {
      await backend.setup();
      api = await startTestApiServer(backend);
      const created = await api.request('POST', CM, { body: configMap('existing') });
      expect(created.status).to.equal(201);
    });
    after(async () => {
      await api.close();
      await backend.teardown();
    });

    const snapshot = async () => JSON.stringify((await api.kv.range('/registry/')).kvs);

    for (const c of cases) {
      it(`answers ${c.name} with ${c.code}${c.reason ? ` ${c.reason}` : ''} and writes nothing [${backend.name}]`, async () => {
        const before = await snapshot();
        const response = await api.request(c.method, c.path, { ...(c.body !== undefined ? { body: c.body } : {}), ...(c.headers ? { headers: c.headers } : {}) });
        expect(response.status, response.text.slice(0, 500)).to.equal(c.code);
        const status = response.json() as { kind: string; code: number; reason?: string; message?: string };
        expect(status.kind).to.equal('Status');
        expect(status.code).to.equal(c.code);
        if (c.reason) expect(status.reason).to.equal(c.reason);
        if (c.message) expect(status.message).to.contain(c.message);
        expect(await snapshot(), 'the store must be unchanged').to.equal(before);
      });
    }

    it(`warns about unknown fields it drops [${backend.name}]`, async () => {
      const response = await api.request('POST', CM, { body: configMap('warned', { bogus: 1 }) });
      expect(response.status).to.equal(201);
      expect(response.headers.get('warning')).to.equal('299 - "unknown field \\"bogus\\""');
      expect(response.json()).to.not.have.property('bogus');
    });

    it(`streams a watch and answers a compacted resourceVersion with 200 then an ERROR 410 event [${backend.name}]`, async () => {
      const first = (await api.request('POST', CM, { body: configMap('w') })).json() as { metadata: { resourceVersion: string } };
      await api.request('PATCH', `${CM}/w`, { body: '{"data":{"k":"2"}}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      await api.request('PATCH', `${CM}/w`, { body: '{"data":{"k":"3"}}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      const live = await api.request('GET', `${CM}?watch=true&resourceVersion=${first.metadata.resourceVersion}&timeoutSeconds=1`);
      const lines = live.text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { data?: { k: string } } });
      expect(lines.map((l) => `${l.type}:${l.object.data?.k}`)).to.deep.equal(['MODIFIED:2', 'MODIFIED:3']);
      await api.kv.compact(await api.kv.revision());
      const expired = await api.request('GET', `${CM}?watch=true&resourceVersion=${first.metadata.resourceVersion}`);
      expect(expired.status).to.equal(200);
      const event = JSON.parse(expired.text.trim().split('\n')[0]!) as { type: string; object: { code: number; reason: string } };
      expect(event.type).to.equal('ERROR');
      expect(event.object).to.include({ code: 410, reason: 'Expired' });
    });

    it(`serves Tables, scale and binding as kubectl and the scheduler use them [${backend.name}]`, async () => {
      const table = (await api.request('GET', CM, { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } })).json() as {
        kind: string;
        columnDefinitions: { name: string }[];
      };
      expect(table.kind).to.equal('Table');
      expect(table.columnDefinitions.map((c) => c.name)).to.deep.equal(['Name', 'Data', 'Age']);
      const rc = JSON.stringify({
        apiVersion: 'v1',
        kind: 'ReplicationController',
        metadata: { name: 'web' },
        spec: { replicas: 1, selector: { app: 'web' }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
      });
      expect((await api.request('POST', '/api/v1/namespaces/default/replicationcontrollers', { body: rc })).status).to.equal(201);
      const scaled = await api.request('PATCH', '/api/v1/namespaces/default/replicationcontrollers/web/scale', {
        body: '{"spec":{"replicas":3}}',
        headers: { 'Content-Type': 'application/merge-patch+json' },
      });
      expect(scaled.json()).to.deep.include({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 3 }, status: { replicas: 0, selector: 'app=web' } });
      const pod = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
      expect((await api.request('POST', '/api/v1/namespaces/default/pods', { body: pod })).status).to.equal(201);
      const binding = JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } });
      expect((await api.request('POST', '/api/v1/namespaces/default/pods/p/binding', { body: binding })).status).to.equal(201);
      const bound = (await api.request('GET', '/api/v1/namespaces/default/pods/p')).json() as { spec: { nodeName: string }; status: { conditions: { type: string; status: string }[] } };
      expect(bound.spec.nodeName).to.equal('n1');
      expect(bound.status.conditions.find((c) => c.type === 'PodScheduled')).to.include({ status: 'True' });
      const again = await api.request('POST', '/api/v1/namespaces/default/pods/p/binding', { body: binding });
      expect(again.status).to.equal(409);
      expect((again.json() as { message: string }).message).to.contain('is already assigned to node "n1"');
    });
  });
}

describe('API server authentication', function () {
  this.timeout(30_000);
  let api: TestApiServer;
  before(async () => {
    api = await startTestApiServer(kvBackends[0]!, { authenticate: createAuthenticator({ tokens: ['s3cret'] }) });
  });
  after(async () => api.close());

  it('answers 401 without a valid token on every path but the probes', async () => {
    for (const path of ['/version', '/api', '/api/v1/namespaces/default/configmaps', '/openapi/v3']) {
      const response = await api.request('GET', path, { headers: { Authorization: 'Bearer wrong' } });
      expect(response.status, path).to.equal(401);
      expect(response.json()).to.deep.include({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
    for (const path of ['/healthz', '/livez', '/readyz']) expect((await api.request('GET', path)).status, path).to.equal(200);
    const ok = await api.request('GET', '/api/v1/namespaces/default/configmaps', { headers: { Authorization: 'Bearer s3cret' } });
    expect(ok.status).to.equal(200);
  });
});
