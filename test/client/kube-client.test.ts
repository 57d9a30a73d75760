/**
 * KubeClient against a faked API server (nock 15, which intercepts undici's sockets): discovery
 * and URL building, the shape of every request, error mapping, and a watch that survives 5xx,
 * resets, silent streams and 429s while handing 410s to its caller.
 *
 * nock is activated in `before` and restored in `after` (it breaks etcd3 in the same process).
 * Streamed replies carry `Transfer-Encoding: chunked`, as a real watch does: without it undici
 * reads to the end of the connection, and aborting such a mocked stream trips an undici assertion.
 * Every test ends its setup with `catchAll()`: a persisted interceptor (nock matches in order)
 * that records any request nothing else expected, and `afterEach` fails on them.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import nock from 'nock';
import { ApiError, isAlreadyExists, isConflict, isExpired, isInvalid, isNotFound, type Status } from '../../lib/api/errors.js';
import { ConfigMap, Pod } from '../../lib/api/kinds.js';
import type { KubeObject, WatchEvent } from '../../lib/api/meta.js';
import { connect } from '../../lib/client/connect.js';
import { KubeClient, type KubeClientOptions } from '../../lib/client/kube-client.js';
import { Informer } from '../../lib/runtime/informer.js';
import { sleepWith, systemClock, type Clock, type TimerHandle } from '../../lib/util/clock.js';
import { writePlainKubeconfig } from '../harness/kubeconfig.js';
import { collectUntil, nextWithin, waitFor } from '../harness/wait.js';

const BASE = 'https://127.0.0.1:7443';
const PLAIN = 'http://127.0.0.1:7444';
const TOKEN = 'secret-token';
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const CORE = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: VERBS, shortNames: ['po'], categories: ['all'] },
    { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: VERBS },
    { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: VERBS },
  ],
};
const APPS = {
  kind: 'APIResourceList',
  groupVersion: 'apps/v1',
  resources: [
    { name: 'deployments/scale', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get'] },
    { name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: VERBS },
  ],
};
const widgets = (plural: string) => ({
  kind: 'APIResourceList',
  groupVersion: 'example.com/v1',
  resources: [{ name: plural, singularName: 'widget', namespaced: true, kind: 'Widget', verbs: VERBS }],
});
const WIDGET = { apiVersion: 'example.com/v1', kind: 'Widget' };
const CM = { apiVersion: 'v1', kind: 'ConfigMap' };
const STREAM_HEADERS = { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' };

let dir: string;
let kubeconfig: string;
let unexpected: string[];
let clients: KubeClient[];
let warnings: string[];

/** A Status body as kube sends it. */
function status(code: number, reason: string, message: string, details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) };
}

function cm(name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { ...CM, metadata: { name, namespace: 'default', resourceVersion: rv, creationTimestamp: '2026-01-02T03:04:05Z' }, ...extra };
}

function line(type: string, object: unknown): string {
  return `${JSON.stringify({ type, object })}\n`;
}

/** Records every request nothing else answered; registered last, as nock matches in order. */
function catchAll(base = BASE): void {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    nock(base)
      .persist()
      .intercept(() => true, method)
      .query(true)
      .reply((req: Request) => {
        unexpected.push(`${method} ${req.url}`);
        return [400, status(400, 'BadRequest', `unexpected request ${method} ${req.url}`)];
      });
  }
}

/** Serves the core and apps/v1 discovery documents. */
function discovery(base = BASE): void {
  nock(base).persist().get('/api/v1').reply(200, CORE);
  nock(base).persist().get('/apis/apps/v1').reply(200, APPS);
}

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/** Answers an interceptor with `reply` (status, body, headers), recording the requests. */
function answer(interceptor: nock.Interceptor, reply: (seen: Seen) => [number, unknown?, Record<string, string>?]): Seen[] {
  const seen: Seen[] = [];
  interceptor.reply(async (req: Request) => {
    const url = new URL(req.url);
    const s: Seen = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(req.headers),
      body: await req.text(),
      at: Date.now(),
    };
    seen.push(s);
    return reply(s) as [number, nock.Body, Record<string, string>];
  });
  return seen;
}

/** A watch stream the test writes to; `answer` it with `[200, stream, STREAM_HEADERS]`. */
function stream(...lines: string[]): PassThrough {
  const s = new PassThrough();
  for (const l of lines) s.write(l);
  return s;
}

function client(options: KubeClientOptions = {}, context = 'secure'): KubeClient {
  const c = KubeClient.fromKubeconfig(
    { kubeconfig, context },
    { onWarning: (w) => warnings.push(w), watchBackoff: { initialMs: 20, maxMs: 100 }, watchSilenceTimeoutMs: 10_000, ...options },
  );
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a rejection');
}

/** Reads events until the iterator ends. */
async function drain(it: AsyncIterator<WatchEvent>, timeoutMs = 5000): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for (;;) {
    const r = await nextWithin(it, timeoutMs, 'watch event or end');
    if (r.done) return events;
    events.push(r.value);
  }
}

/** The system clock, counting the timers that are pending. */
class TrackingClock implements Clock {
  readonly live = new Set<object>();
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const token = {};
    this.live.add(token);
    const handle = systemClock.setTimeout(() => {
      this.live.delete(token);
      fn();
    }, ms);
    return {
      cancel: () => {
        this.live.delete(token);
        handle.cancel();
      },
    };
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }
}

const names = (events: WatchEvent[]) => events.map((e) => `${e.type} ${(e.object as KubeObject).metadata?.name ?? ''}@${(e.object as KubeObject).metadata?.resourceVersion ?? (e.object as unknown as Status).code}`);

describe('KubeClient (nock)', function () {
  this.timeout(15_000);

  before(() => {
    nock.activate();
    dir = mkdtempSync(join(tmpdir(), 'keelson-kube-'));
    kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
current-context: secure
clusters:
- name: secure
  cluster: { server: "${BASE}", insecure-skip-tls-verify: true }
- name: plain
  cluster: { server: "${PLAIN}" }
users:
- name: admin
  user: { token: ${TOKEN} }
contexts:
- name: secure
  context: { cluster: secure, user: admin, namespace: team-a }
- name: plain
  context: { cluster: plain, user: admin }
`,
    );
  });

  after(() => {
    nock.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    unexpected = [];
    clients = [];
    warnings = [];
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    nock.cleanAll();
    expect(unexpected, 'requests nothing expected').to.deep.equal([]);
  });

  describe('configuration', () => {
    it('reads the server, context namespace and credentials from the kubeconfig', async () => {
      discovery();
      const seen = answer(nock(BASE).get('/api/v1/namespaces/default/configmaps/a'), () => [200, cm('a', '5')]);
      catchAll();
      const c = client();
      expect(c.server).to.equal(BASE);
      expect(c.contextNamespace).to.equal('team-a');
      await c.get(CM, 'a', { namespace: 'default' });
      expect(seen[0]!.headers['authorization']).to.equal(`Bearer ${TOKEN}`);
      expect(seen[0]!.headers['accept']).to.equal('application/json');
      expect(seen[0]!.headers['user-agent']).to.equal('keelson');
    });

    it('sends no credentials to an http:// server, as client-go', async () => {
      discovery(PLAIN);
      const seen = answer(nock(PLAIN).get('/api/v1/namespaces/default/configmaps/a'), () => [200, cm('a', '5')]);
      catchAll(PLAIN);
      await client({}, 'plain').get(CM, 'a', { namespace: 'default' });
      expect(seen[0]!.headers).to.not.have.property('authorization');
    });

    it('connect({ kubeconfig, context }) gives a KubeClient; an unknown context is a 400', async () => {
      const c = await connect({ kubeconfig, context: 'plain' });
      expect(c).to.be.instanceOf(KubeClient);
      expect((c as KubeClient).server).to.equal(PLAIN);
      await c.close();
      const err = await rejection(connect({ kubeconfig, context: 'nope' }));
      expect(err.code).to.equal(400);
      expect(err.message).to.include('context "nope" not found');
      expect((await rejection(connect({ store: 'memory:', kubeconfig }))).code).to.equal(400);
    });
    it('connect() without arguments reads $KUBECONFIG, then ~/.kube/config; ~ is expanded', async () => {
      const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME, KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST };
      const home = join(dir, 'home');
      mkdirSync(join(home, '.kube'), { recursive: true });
      writeFileSync(join(home, '.kube', 'config'), readFileSync(kubeconfig, 'utf8').replace('current-context: secure', 'current-context: plain'));
      try {
        process.env.KUBECONFIG = kubeconfig;
        process.env.HOME = home;
        delete process.env.KUBERNETES_SERVICE_HOST;
        const fromEnv = (await connect()) as KubeClient;
        expect(fromEnv.server).to.equal(BASE);
        delete process.env.KUBECONFIG;
        const fromHome = (await connect()) as KubeClient;
        expect(fromHome.server).to.equal(PLAIN);
        const tilde = (await connect({ kubeconfig: '~/.kube/config', context: 'secure' })) as KubeClient;
        expect(tilde.server).to.equal(BASE);
        await Promise.all([fromEnv.close(), fromHome.close(), tilde.close()]);
        process.env.HOME = join(dir, 'nowhere');
        expect((await rejection(connect())).message).to.include('no kubeconfig found');
      } finally {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
    });
  });

  describe('discovery', () => {
    it('maps core, group, namespaced and cluster-scoped kinds (and classes) to their paths', async () => {
      discovery();
      const pod = answer(nock(BASE).get('/api/v1/namespaces/ns1/pods/p'), () => [200, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', creationTimestamp: '2026-01-02T03:04:05Z' } }]);
      const ns = answer(nock(BASE).get('/api/v1/namespaces/ns1'), () => [200, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } }]);
      const deps = answer(nock(BASE).get('/apis/apps/v1/namespaces/ns1/deployments').query(true), () => [200, { kind: 'DeploymentList', metadata: { resourceVersion: '9' }, items: [{ metadata: { name: 'd' } }] }]);
      const all = answer(nock(BASE).get('/apis/apps/v1/deployments').query(true), () => [200, { kind: 'DeploymentList', metadata: {}, items: [] }]);
      catchAll();
      const c = client();
      const got = await c.get(Pod, 'p', { namespace: 'ns1' });
      // Plain JSON: timestamps stay strings (client-node's models would make Dates).
      expect(got.metadata?.creationTimestamp).to.equal('2026-01-02T03:04:05Z');
      await c.get({ apiVersion: 'v1', kind: 'Namespace' }, 'ns1', { namespace: 'ignored' });
      const list = await c.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { namespace: 'ns1' });
      expect(list.items[0]).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } });
      await c.list({ apiVersion: 'apps/v1', kind: 'Deployment' });
      expect([pod, ns, deps, all].map((s) => s.length)).to.deep.equal([1, 1, 1, 1]);
    });

    it('answers resourceInfo, skipping subresources', async () => {
      discovery();
      catchAll();
      const c = client();
      expect(c.cachedResourceInfo({ apiVersion: 'v1', kind: 'Pod' })).to.equal(undefined);
      const info = await c.resourceInfo(Pod);
      expect(info).to.deep.include({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod', namespaced: true, listKind: 'PodList', verbs: VERBS });
      expect(info.shortNames).to.deep.equal(['po']);
      expect(info.subresources).to.deep.equal({ status: true });
      expect((await c.resourceInfo({ apiVersion: 'apps/v1', kind: 'Deployment' })).plural).to.equal('deployments');
      expect(c.cachedResourceInfo({ apiVersion: 'v1', kind: 'Namespace' })?.namespaced).to.equal(false);
    });

    it('looks again when a kind is missing (a CRD added later); a kind never served is a 404', async () => {
      answer(nock(BASE).get('/apis/example.com/v1'), () => [200, { kind: 'APIResourceList', groupVersion: 'example.com/v1', resources: [] }]);
      answer(nock(BASE).get('/apis/example.com/v1'), () => [200, widgets('widgets')]);
      answer(nock(BASE).get('/apis/nope.io/v1'), () => [404, status(404, 'NotFound', 'the server could not find the requested resource')]);
      const get = answer(nock(BASE).get('/apis/example.com/v1/namespaces/d/widgets/w'), () => [200, { ...WIDGET, metadata: { name: 'w' } }]);
      catchAll();
      const c = client();
      const err = await rejection(c.get(WIDGET, 'w', { namespace: 'd' }));
      expect(isNotFound(err)).to.equal(true);
      expect(err.message).to.equal('the server could not find the requested resource (no kind "Widget" is registered for version "example.com/v1")');
      expect((await c.get(WIDGET, 'w', { namespace: 'd' })).metadata?.name).to.equal('w');
      expect(get).to.have.length(1);
      expect((await rejection(c.list({ apiVersion: 'nope.io/v1', kind: 'Thing' }))).code).to.equal(404);
    });

    it('refreshes discovery when a resource path answers 404, and retries where the kind moved', async () => {
      answer(nock(BASE).get('/apis/example.com/v1'), () => [200, widgets('widgets')]);
      answer(nock(BASE).get('/apis/example.com/v1/namespaces/d/widgets/w'), () => [404, status(404, 'NotFound', 'the server could not find the requested resource')]);
      answer(nock(BASE).get('/apis/example.com/v1'), () => [200, widgets('widgetz')]);
      answer(nock(BASE).get('/apis/example.com/v1/namespaces/d/widgetz/w'), () => [200, { ...WIDGET, metadata: { name: 'w' } }]);
      answer(nock(BASE).get('/apis/example.com/v1/namespaces/d/widgetz/gone'), () => [404, status(404, 'NotFound', 'widgetz.example.com "gone" not found', { name: 'gone', group: 'example.com', kind: 'widgetz' })]);
      catchAll();
      const c = client();
      expect((await c.get(WIDGET, 'w', { namespace: 'd' })).metadata?.name).to.equal('w');
      // An object's 404 (details.name) is just that: no new discovery.
      expect(isNotFound(await rejection(c.get(WIDGET, 'gone', { namespace: 'd' })))).to.equal(true);
    });
  });

  describe('requests', () => {
    it('list: selectors (both forms), paging and resourceVersion as query parameters', async () => {
      discovery();
      const seen = answer(nock(BASE).get('/api/v1/namespaces/default/configmaps').query(true).times(2), () => [200, { kind: 'ConfigMapList', metadata: { resourceVersion: '7', continue: 'next' }, items: [cm('a', '6')] }]);
      catchAll();
      const c = client();
      const list = await c.list(CM, {
        namespace: 'default',
        labelSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
        fieldSelector: 'metadata.name!=x',
        limit: 10,
        continue: 'tok',
        resourceVersion: '5',
        resourceVersionMatch: 'NotOlderThan',
      });
      expect(list.metadata).to.deep.equal({ resourceVersion: '7', continue: 'next' });
      await c.list(CM, { namespace: 'default', labelSelector: 'app=web' });
      expect(seen.map((s) => s.query)).to.deep.equal([
        { labelSelector: 'app=web,tier in (a,b)', fieldSelector: 'metadata.name!=x', limit: '10', continue: 'tok', resourceVersion: '5', resourceVersionMatch: 'NotOlderThan' },
        { labelSelector: 'app=web' },
      ]);
    });

    it('create, update, updateStatus: method, path, write options, body', async () => {
      discovery();
      const created = answer(nock(BASE).post('/api/v1/namespaces/default/configmaps').query(true), (s) => [201, { ...JSON.parse(s.body), metadata: { ...JSON.parse(s.body).metadata, resourceVersion: '1' } }]);
      const updated = answer(nock(BASE).put('/api/v1/namespaces/default/configmaps/a').query(true), (s) => [200, JSON.parse(s.body)]);
      const statusPut = answer(nock(BASE).put('/api/v1/namespaces/default/pods/p/status').query(true), (s) => [200, JSON.parse(s.body)]);
      catchAll();
      const c = client();
      const obj: KubeObject = { ...CM, metadata: { name: 'a' }, data: { k: 'v' }, skipped: undefined } as KubeObject;
      const out = await c.create(obj, { namespace: 'default', dryRun: true, fieldValidation: 'Strict', fieldManager: 'me' });
      expect(out.metadata?.resourceVersion).to.equal('1');
      expect(created[0]!.query).to.deep.equal({ dryRun: 'All', fieldValidation: 'Strict', fieldManager: 'me' });
      expect(created[0]!.headers['content-type']).to.equal('application/json');
      expect(JSON.parse(created[0]!.body)).to.deep.equal({ ...CM, metadata: { name: 'a' }, data: { k: 'v' } });
      await c.update({ ...CM, metadata: { name: 'a', namespace: 'default', resourceVersion: '1' } }, { fieldManager: 'me' });
      expect(updated[0]!.query).to.deep.equal({ fieldManager: 'me' });
      await c.updateStatus({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, status: { phase: 'Running' } } as KubeObject);
      expect(JSON.parse(statusPut[0]!.body).status).to.deep.equal({ phase: 'Running' });
    });

    it('patch: the content type of each patch type, apply with force, the status subresource', async () => {
      discovery();
      const seen = answer(nock(BASE).patch(/\/api\/v1\/namespaces\/default\/configmaps\/a(\/status)?$/).query(true).times(5), () => [200, cm('a', '2')]);
      catchAll();
      const c = client();
      await c.patch(CM, 'a', { data: { k: 'v' } }, { namespace: 'default' });
      await c.patch(CM, 'a', [{ op: 'add', path: '/data/k', value: 'v' }], { namespace: 'default', type: 'json' });
      await c.patch(CM, 'a', { data: { k: 'v' } }, { namespace: 'default', type: 'strategic' });
      await c.patch(CM, 'a', { ...CM, metadata: { name: 'a' } }, { namespace: 'default', type: 'apply', force: true, fieldManager: 'me' });
      await c.patch(CM, 'a', { status: {} }, { namespace: 'default', subresource: 'status', dryRun: true });
      expect(seen.map((s) => [s.path.endsWith('/status'), s.headers['content-type'], s.query])).to.deep.equal([
        [false, 'application/merge-patch+json', {}],
        [false, 'application/json-patch+json', {}],
        [false, 'application/strategic-merge-patch+json', {}],
        [false, 'application/apply-patch+yaml', { fieldManager: 'me', force: 'true' }],
        [true, 'application/merge-patch+json', { dryRun: 'All' }],
      ]);
      expect(JSON.parse(seen[1]!.body)).to.deep.equal([{ op: 'add', path: '/data/k', value: 'v' }]);
    });

    it('delete: a DeleteOptions body; answers the object or a Status as sent', async () => {
      discovery();
      const ok = status(200, '', '');
      const seen = answer(nock(BASE).delete('/api/v1/namespaces/default/configmaps/a'), () => [200, { ...ok, status: 'Success', details: { name: 'a', kind: 'configmaps' } }]);
      catchAll();
      const res = await client().delete(CM, 'a', { namespace: 'default', propagationPolicy: 'Foreground', preconditions: { uid: 'u1', resourceVersion: '3' }, gracePeriodSeconds: 0, dryRun: true });
      expect((res as Status).status).to.equal('Success');
      expect(seen[0]!.headers['content-type']).to.equal('application/json');
      expect(JSON.parse(seen[0]!.body)).to.deep.equal({
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        propagationPolicy: 'Foreground',
        preconditions: { uid: 'u1', resourceVersion: '3' },
        gracePeriodSeconds: 0,
        dryRun: ['All'],
      });
    });

    it('checks namespace and name before sending, as StoreClient', async () => {
      discovery();
      catchAll();
      const c = client();
      expect((await rejection(c.get(CM, 'a'))).message).to.equal('a namespace is required to address configmaps');
      expect((await rejection(c.create({ ...CM, metadata: { name: 'a' } }))).code).to.equal(400);
      expect((await rejection(c.get(CM, '', { namespace: 'd' }))).message).to.equal('resource name may not be empty');
      expect((await rejection(c.get(CM, '..', { namespace: 'd' }))).code).to.equal(404);
      expect((await rejection(c.create({ metadata: { name: 'x' } } as KubeObject))).code).to.equal(400);
    });

    it('hands Warning headers to onWarning', async () => {
      discovery();
      nock(BASE).get('/api/v1/namespaces/default/configmaps/a').reply(200, cm('a', '1'), { Warning: '299 - "unknown field \\"spec.x\\"", 299 - "second"' });
      catchAll();
      await client().get(CM, 'a', { namespace: 'default' });
      expect(warnings).to.deep.equal(['unknown field "spec.x"', 'second']);
    });
  });

  describe('errors', () => {
    it('rebuilds the ApiError of a Status body (404, 409, 422)', async () => {
      discovery();
      nock(BASE).get('/api/v1/namespaces/d/configmaps/a').reply(404, status(404, 'NotFound', 'configmaps "a" not found', { name: 'a', kind: 'configmaps' }));
      nock(BASE).put('/api/v1/namespaces/d/configmaps/a').reply(409, status(409, 'Conflict', 'Operation cannot be fulfilled on configmaps "a": stale', { name: 'a', kind: 'configmaps' }));
      nock(BASE).post('/api/v1/namespaces/d/configmaps').reply(409, status(409, 'AlreadyExists', 'configmaps "a" already exists', { name: 'a', kind: 'configmaps' }));
      const causes = [{ reason: 'FieldValueInvalid', message: 'Invalid value: "A"', field: 'metadata.name' }];
      nock(BASE).post('/api/v1/namespaces/d/configmaps').reply(422, status(422, 'Invalid', 'ConfigMap "A" is invalid', { name: 'A', kind: 'ConfigMap', causes }));
      catchAll();
      const c = client();
      const obj = { ...CM, metadata: { name: 'a', namespace: 'd' } };
      const nf = await rejection(c.get(CM, 'a', { namespace: 'd' }));
      expect([isNotFound(nf), nf.message, nf.details?.name]).to.deep.equal([true, 'configmaps "a" not found', 'a']);
      expect(isConflict(await rejection(c.update(obj)))).to.equal(true);
      expect(isAlreadyExists(await rejection(c.create(obj)))).to.equal(true);
      const inv = await rejection(c.create(obj));
      expect([isInvalid(inv), inv.code, inv.details?.causes]).to.deep.equal([true, 422, causes]);
    });

    it('maps a body that is not a Status (a proxy HTML page) to an ApiError with its code', async () => {
      discovery();
      nock(BASE).get('/api/v1/namespaces/d/configmaps/a').reply(502, '<html><body>Bad Gateway</body></html>', { 'Content-Type': 'text/html' });
      catchAll();
      const err = await rejection(client().get(CM, 'a', { namespace: 'd' }));
      expect(err.code).to.equal(502);
      expect(err.reason).to.equal('InternalError');
      expect(err.message).to.include('Bad Gateway').and.to.include('(get /api/v1/namespaces/d/configmaps/a)');
    });

    it('maps refused and reset connections to 503 ServiceUnavailable with the cause', async () => {
      discovery();
      nock(BASE).get('/api/v1/namespaces/d/configmaps/a').replyWithError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7443'), { code: 'ECONNREFUSED' }));
      nock(BASE).get('/api/v1/namespaces/d/configmaps/b').replyWithError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      catchAll();
      const c = client();
      const refused = await rejection(c.get(CM, 'a', { namespace: 'd' }));
      expect([refused.code, refused.reason, refused.details?.causes?.[0]?.reason]).to.deep.equal([503, 'ServiceUnavailable', 'ECONNREFUSED']);
      expect(refused.message).to.include('ECONNREFUSED');
      expect((refused as Error & { cause?: { code?: string } }).cause?.code).to.equal('ECONNREFUSED');
      expect((await rejection(c.get(CM, 'b', { namespace: 'd' }))).details?.causes?.[0]?.reason).to.equal('ECONNRESET');
    });

    it('maps a real refused connection (no interceptor for that port) to 503', async () => {
      const port = await new Promise<number>((resolve) => {
        const srv = createServer().listen(0, '127.0.0.1', () => {
          const p = (srv.address() as { port: number }).port;
          srv.close(() => resolve(p));
        });
      });
      const file = join(dir, 'closed');
      writePlainKubeconfig(file, `http://127.0.0.1:${port}`);
      const c = KubeClient.fromKubeconfig({ kubeconfig: file });
      clients.push(c);
      const err = await rejection(c.get(CM, 'a', { namespace: 'd' }));
      expect([err.code, err.details?.causes?.[0]?.reason]).to.deep.equal([503, 'ECONNREFUSED']);
    });

    it('times a request out as 504 Timeout', async () => {
      discovery();
      // A body that never ends (chunked: aborting a mocked length-less body trips an undici assertion).
      nock(BASE).get('/api/v1/namespaces/d/configmaps/a').reply(200, () => stream('{"kind":'), STREAM_HEADERS);
      catchAll();
      const err = await rejection(client({ requestTimeoutMs: 100 }).get(CM, 'a', { namespace: 'd' }));
      expect([err.code, err.reason]).to.deep.equal([504, 'Timeout']);
    });

    it('refuses calls after close() with 503', async () => {
      const c = client();
      await c.close();
      expect((await rejection(c.get(CM, 'a', { namespace: 'd' }))).code).to.equal(503);
    });
  });

  describe('watch', () => {
    const PATH = '/api/v1/namespaces/default/configmaps';
    const q = (extra: Record<string, string> = {}) => ({ watch: 'true', allowWatchBookmarks: 'true', ...extra });
    /** Answers one watch request whose query is exactly `query` with `reply`. */
    const watchReq = (query: Record<string, string>, reply: (seen: Seen) => [number, unknown?, Record<string, string>?], path = PATH) => answer(nock(BASE).get(path).query(query), reply);
    const streamed = (s: PassThrough): [number, unknown, Record<string, string>] => [200, s, STREAM_HEADERS];

    it('decodes events split across chunks, several per chunk, multi-byte characters cut in two', async () => {
      discovery();
      const s = new PassThrough();
      const seen = watchReq(q({ resourceVersion: '5' }), () => streamed(s));
      catchAll();
      const it = client().watch(CM, { namespace: 'default', resourceVersion: '5' });
      const bytes = Buffer.from(line('ADDED', cm('a', '6')) + line('MODIFIED', cm('a', '7', { data: { 'ü': 'é' } })) + line('DELETED', cm('a', '8')));
      const cut = bytes.indexOf(Buffer.from('ü')) + 1;
      for (const [from, to] of [[0, 10], [10, cut], [cut, bytes.length]] as const) s.write(bytes.subarray(from, to));
      const events = await collectUntil(it, (e) => e.length === 3);
      expect(names(events)).to.deep.equal(['ADDED a@6', 'MODIFIED a@7', 'DELETED a@8']);
      expect((events[1]!.object as KubeObject & { data: unknown }).data).to.deep.equal({ 'ü': 'é' });
      expect((events[0]!.object as KubeObject).metadata?.creationTimestamp).to.equal('2026-01-02T03:04:05Z');
      expect(seen[0]!.query).to.deep.equal(q({ resourceVersion: '5' }));
      await it.return!();
    });

    it('delivers a 410 answer as an ERROR event, then ends', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => [410, status(410, 'Expired', 'too old resource version: 5 (10)')]);
      catchAll();
      const events = await drain(client().watch(CM, { namespace: 'default', resourceVersion: '5' }));
      expect(names(events)).to.deep.equal(['ERROR @410']);
      expect(isExpired(ApiError.fromStatus(events[0]!.object as unknown as Status))).to.equal(true);
    });

    it('delivers a 410 ERROR event, then ends (no re-watch)', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')), line('ERROR', status(410, 'Expired', 'too old resource version: 6 (10)')))));
      catchAll();
      const events = await drain(client().watch(CM, { namespace: 'default', resourceVersion: '5' }));
      expect(names(events)).to.deep.equal(['ADDED a@6', 'ERROR @410']);
    });

    it('re-watches from the last resourceVersion after the stream ends and after a 500', async () => {
      discovery();
      const first = watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')), line('MODIFIED', cm('a', '7'))).end()));
      const failed = watchReq(q({ resourceVersion: '7' }), () => [500, status(500, 'InternalError', 'etcd is down')]);
      const third = watchReq(q({ resourceVersion: '7' }), () => streamed(stream(line('MODIFIED', cm('a', '8')))));
      catchAll();
      const retries: string[] = [];
      const it = client({ onWatchRetry: (err) => retries.push(`${err.code} ${err.message}`) }).watch(CM, { namespace: 'default', resourceVersion: '5' });
      expect(names(await collectUntil(it, (e) => e.length === 3))).to.deep.equal(['ADDED a@6', 'MODIFIED a@7', 'MODIFIED a@8']);
      expect(retries).to.deep.equal(['500 etcd is down']);
      expect([first, failed, third].map((x) => x.length)).to.deep.equal([1, 1, 1]);
      expect(third[0]!.query.resourceVersion).to.equal('7');
      await it.return!();
    });

    it('re-watches after a 5xx ERROR event', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')), line('ERROR', status(500, 'InternalError', 'boom')))));
      watchReq(q({ resourceVersion: '6' }), () => streamed(stream(line('MODIFIED', cm('a', '7')))));
      catchAll();
      const it = client().watch(CM, { namespace: 'default', resourceVersion: '5' });
      expect(names(await collectUntil(it, (e) => e.length === 2))).to.deep.equal(['ADDED a@6', 'MODIFIED a@7']);
      await it.return!();
    });

    it('re-watches from the last resourceVersion after a reset mid-stream and a refused connection', async () => {
      discovery();
      const s = stream(line('ADDED', cm('a', '6')));
      watchReq(q({ resourceVersion: '5' }), () => streamed(s));
      nock(BASE).get(PATH).query(q({ resourceVersion: '6' })).replyWithError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7443'), { code: 'ECONNREFUSED' }));
      const resumed = watchReq(q({ resourceVersion: '6' }), () => streamed(stream(line('MODIFIED', cm('a', '7')))));
      catchAll();
      const it = client().watch(CM, { namespace: 'default', resourceVersion: '5' });
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['ADDED a@6']);
      s.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['MODIFIED a@7']);
      expect(resumed).to.have.length(1);
      await it.return!();
    });

    it('re-establishes a silent stream after silenceTimeoutMs, from the last resourceVersion', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')))));
      const resumed = watchReq(q({ resourceVersion: '6' }), () => streamed(stream(line('MODIFIED', cm('a', '7')))));
      catchAll();
      const it = client({ watchSilenceTimeoutMs: 200 }).watch(CM, { namespace: 'default', resourceVersion: '5' });
      await collectUntil(it, (e) => e.length === 1);
      const lastEventAt = Date.now();
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['MODIFIED a@7']);
      expect(resumed[0]!.at - lastEventAt).to.be.at.least(180);
      await it.return!();
    });

    it('waits out a 429 Retry-After before watching again', async () => {
      discovery();
      const limited = watchReq(q({ resourceVersion: '5' }), () => [429, status(429, 'TooManyRequests', 'slow down'), { 'Retry-After': '1' }]);
      const resumed = watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')))));
      catchAll();
      const it = client().watch(CM, { namespace: 'default', resourceVersion: '5' });
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['ADDED a@6']);
      expect(resumed[0]!.at - limited[0]!.at).to.be.at.least(1000);
      await it.return!();
    });

    it('moves the resume point with bookmarks, which reach only callers that asked for them', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')), line('BOOKMARK', { ...CM, metadata: { resourceVersion: '9' } })).end()));
      watchReq(q({ resourceVersion: '9' }), () => streamed(stream(line('MODIFIED', cm('a', '10')), line('BOOKMARK', { ...CM, metadata: { resourceVersion: '12' } }))));
      catchAll();
      const c = client();
      const hidden = c.watch(CM, { namespace: 'default', resourceVersion: '5' });
      expect(names(await collectUntil(hidden, (e) => e.length === 2))).to.deep.equal(['ADDED a@6', 'MODIFIED a@10']);
      await hidden.return!();
      nock.cleanAll();
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('BOOKMARK', { ...CM, metadata: { resourceVersion: '9' } }))));
      catchAll();
      const shown = c.watch(CM, { namespace: 'default', resourceVersion: '5', allowWatchBookmarks: true });
      expect(names(await collectUntil(shown, (e) => e.length === 1))).to.deep.equal(['BOOKMARK @9']);
      await shown.return!();
    });

    it('without a resourceVersion: resumes from a bookmark after the synthetic ADDED events, never relists silently', async () => {
      discovery();
      const a = stream(line('ADDED', cm('a', '6')), line('ADDED', cm('b', '3')), line('BOOKMARK', { ...CM, metadata: { resourceVersion: '10' } }));
      watchReq(q(), () => streamed(a), '/api/v1/namespaces/ns-a/configmaps');
      const resumed = watchReq(q({ resourceVersion: '10' }), () => streamed(stream(line('MODIFIED', cm('b', '11')))), '/api/v1/namespaces/ns-a/configmaps');
      const b = stream(line('ADDED', cm('a', '6')));
      watchReq(q(), () => streamed(b), '/api/v1/namespaces/ns-b/configmaps');
      catchAll();
      const c = client();
      const it = c.watch(CM, { namespace: 'ns-a' });
      expect(names(await collectUntil(it, (e) => e.length === 2))).to.deep.equal(['ADDED a@6', 'ADDED b@3']);
      await waitFor(() => a.writableLength === 0 && a.readableLength === 0, { what: 'the bookmark to be sent' });
      a.destroy(new Error('reset'));
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['MODIFIED b@11']);
      expect(resumed).to.have.length(1);
      await it.return!();
      // Broken before any resume point: the caller must relist (410), not get a silent replay.
      const it2 = c.watch(CM, { namespace: 'ns-b' });
      expect(names(await collectUntil(it2, (e) => e.length === 1))).to.deep.equal(['ADDED a@6']);
      b.destroy(new Error('reset'));
      const rest = await drain(it2);
      expect(names(rest)).to.deep.equal(['ERROR @410']);
      expect((rest[0]!.object as unknown as Status).reason).to.equal('Expired');
    });

    it('sendInitialEvents: asks with resourceVersionMatch, resumes after the initial-events-end bookmark without it', async () => {
      discovery();
      const end = { ...CM, metadata: { resourceVersion: '10', annotations: { 'k8s.io/initial-events-end': 'true' } } };
      const first = stream(line('ADDED', cm('a', '3')), line('BOOKMARK', end));
      const asked = watchReq(q({ sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' }), () => streamed(first));
      watchReq(q({ resourceVersion: '10' }), () => streamed(stream(line('MODIFIED', cm('a', '11')))));
      catchAll();
      const it = client().watch(CM, { namespace: 'default', sendInitialEvents: true, allowWatchBookmarks: true });
      expect(names(await collectUntil(it, (e) => e.length === 2))).to.deep.equal(['ADDED a@3', 'BOOKMARK @10']);
      first.destroy(new Error('reset'));
      expect(names(await collectUntil(it, (e) => e.length === 1))).to.deep.equal(['MODIFIED a@11']);
      expect(asked).to.have.length(1);
      await it.return!();
    });

    it('passes timeoutSeconds through; the server ending the stream then ends the iterator', async () => {
      discovery();
      const seen = watchReq(q({ resourceVersion: '5', timeoutSeconds: '30' }), () => streamed(stream(line('ADDED', cm('a', '6'))).end()));
      catchAll();
      const events = await drain(client().watch(CM, { namespace: 'default', resourceVersion: '5', timeoutSeconds: 30 }));
      expect(names(events)).to.deep.equal(['ADDED a@6']);
      expect(seen).to.have.length(1);
    });

    it('delivers other errors as an ERROR event and ends: 403, a kind not served', async () => {
      discovery();
      watchReq(q(), () => [403, status(403, 'Forbidden', 'configmaps is forbidden: User "x" cannot watch resource "configmaps"')]);
      answer(nock(BASE).get('/apis/example.com/v1'), () => [404, status(404, 'NotFound', 'the server could not find the requested resource')]);
      catchAll();
      const c = client();
      expect(names(await drain(c.watch(CM, { namespace: 'default' })))).to.deep.equal(['ERROR @403']);
      expect(names(await drain(c.watch(WIDGET)))).to.deep.equal(['ERROR @404']);
    });

    it('stops on abort and on close(), leaving no timer behind', async () => {
      discovery();
      watchReq(q({ resourceVersion: '5' }), () => streamed(stream(line('ADDED', cm('a', '6')))));
      watchReq(q({ resourceVersion: '6' }), () => streamed(stream(line('ADDED', cm('b', '7')))));
      catchAll();
      const clock = new TrackingClock();
      const c = client({ clock });
      const ac = new AbortController();
      const it = c.watch(CM, { namespace: 'default', resourceVersion: '5', signal: ac.signal });
      await collectUntil(it, (e) => e.length === 1);
      expect(clock.live.size, 'the silence watchdog').to.equal(1);
      const pending = it.next();
      ac.abort();
      expect((await nextWithin({ next: () => pending }, 2000, 'the end after abort')).done).to.equal(true);
      await waitFor(() => clock.live.size === 0, { timeoutMs: 2000, what: 'the watchdog to be cancelled' });
      const it2 = c.watch(CM, { namespace: 'default', resourceVersion: '6' });
      await collectUntil(it2, (e) => e.length === 1);
      const pending2 = it2.next();
      await c.close();
      expect(clock.live.size).to.equal(0);
      expect((await nextWithin({ next: () => pending2 }, 2000, 'the end after close')).done).to.equal(true);
    });

    it('carries the runtime Informer: list, watch, a 500 survived inside the client, a 410 relist', async () => {
      discovery();
      const list = (items: KubeObject[], rv: string) => [200, { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: rv }, items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) }] as [number, unknown];
      answer(nock(BASE).get(PATH).query((x) => !x.watch), () => list([cm('a', '6')], '10'));
      const watchFrom = (rv: string) => (x: Record<string, unknown>) => x.watch === 'true' && x.resourceVersion === rv && x.allowWatchBookmarks === 'true' && Number(x.timeoutSeconds) >= 300;
      answer(nock(BASE).get(PATH).query(watchFrom('10')), () => streamed(stream(line('ADDED', cm('b', '11'))).end()));
      answer(nock(BASE).get(PATH).query(watchFrom('11')), () => [500, status(500, 'InternalError', 'etcd leader changed')]);
      answer(nock(BASE).get(PATH).query(watchFrom('11')), () => streamed(stream(line('ERROR', status(410, 'Expired', 'too old resource version: 11 (15)')))));
      answer(nock(BASE).get(PATH).query((x) => !x.watch), () => list([cm('a', '6'), cm('b', '11'), cm('c', '16')], '20'));
      answer(nock(BASE).get(PATH).query(watchFrom('20')), () => streamed(stream()));
      catchAll();
      const seen: string[] = [];
      const informer = new Informer(client(), ConfigMap, { namespace: 'default', logger: { warn: () => undefined, info: () => undefined, debug: () => undefined } });
      informer.addEventHandler({ onAdd: (o) => seen.push(`add ${o.metadata?.name}`), onUpdate: (_, o) => seen.push(`update ${o.metadata?.name}`) });
      informer.start();
      await waitFor(() => informer.lastSyncResourceVersion === '20', { what: 'the relist at 20' });
      expect(seen).to.deep.equal(['add a', 'add b', 'add c']);
      await informer.stop();
    });

    it('(harness) the catch-all records requests nothing expected', async () => {
      discovery();
      catchAll();
      const err = await rejection(client().get(CM, 'zzz', { namespace: 'default' }));
      expect(err.message).to.include('unexpected request GET');
      expect(unexpected).to.have.length(1);
      unexpected.length = 0;
    });
  });

  describe('against a real HTTP server (no interception)', () => {
    it('streams a watch, resumes after a real reset, and releases its connections on abort and close', async () => {
      const requests: string[] = [];
      const open = new Set<import('node:net').Socket>();
      const server = createHttpServer((req, res) => {
        const url = new URL(req.url!, 'http://x');
        requests.push(`${url.pathname}${url.search}`);
        if (url.pathname === '/api/v1') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(CORE));
        res.writeHead(200, { 'content-type': 'application/json' });
        if (!url.searchParams.has('watch')) return void res.end(JSON.stringify({ kind: 'ConfigMapList', metadata: {}, items: [] }));
        if (url.searchParams.get('resourceVersion') === '5') {
          res.write(line('ADDED', cm('a', '6')));
          setImmediate(() => res.socket?.resetAndDestroy());
        } else {
          res.write(line('MODIFIED', cm('a', '7')));
        }
      });
      server.on('connection', (socket) => {
        open.add(socket);
        socket.on('close', () => open.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const file = join(dir, 'real');
        const port = (server.address() as { port: number }).port;
        writePlainKubeconfig(file, `http://127.0.0.1:${port}`);
        const c = KubeClient.fromKubeconfig({ kubeconfig: file }, { watchBackoff: { initialMs: 20, maxMs: 100 } });
        clients.push(c);
        const ac = new AbortController();
        const it = c.watch(CM, { namespace: 'default', resourceVersion: '5', signal: ac.signal });
        expect(names(await collectUntil(it, (e) => e.length === 2))).to.deep.equal(['ADDED a@6', 'MODIFIED a@7']);
        expect(requests.slice(1)).to.deep.equal([
          '/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=5',
          '/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=6',
        ]);
        ac.abort();
        expect((await nextWithin(it, 2000, 'the end after abort')).done).to.equal(true);
        // The aborted stream's connection goes; a list leaves one idle keep-alive connection, which close() ends.
        await c.list(CM, { namespace: 'default' });
        await waitFor(() => open.size === 1, { timeoutMs: 2000, what: 'only the idle connection to stay' });
        await c.close();
        await waitFor(() => open.size === 0, { timeoutMs: 2000, what: 'every connection to be closed' });
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
});
