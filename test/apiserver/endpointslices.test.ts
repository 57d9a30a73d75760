/**
 * discovery.k8s.io/v1 EndpointSlice over real HTTP, as kube-apiserver serves it: create, get,
 * list (by the `kubernetes.io/service-name` label, as `kubectl describe service` lists slices),
 * watch and delete through client-node's DiscoveryV1Api and raw requests; kube's defaults
 * (port name '' and protocol TCP, conditions left unset, deprecatedTopology dropped) and generation; 422s with field causes;
 * the Table `kubectl get endpointslices` prints; discovery; and the real kubectl.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryV1Api, type V1EndpointSlice } from '@kubernetes/client-node';
import type { EndpointSlice } from '../../lib/index.js';
import { startTestApiServer, type TestApiServer } from '../harness/apiserver.js';
import { kvBackends } from '../harness/backends.js';
import { KUBECTL } from '../harness/cluster.js';
import { writePlainKubeconfig } from '../harness/kubeconfig.js';
import { runProcess } from '../harness/process.js';

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

/** A slice of `service`'s endpoints, labelled as the EndpointSlice controller labels them. */
function slice(name: string, service: string, extra: Partial<EndpointSlice> = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'test' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }, { addresses: ['10.0.0.2'] }],
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    ...extra,
  };
}

interface Cause {
  reason: string;
  field: string;
  message: string;
}

for (const backend of kvBackends) {
  describe(`EndpointSlice over HTTP [${backend.name}]`, function () {
    this.timeout(30_000);
    let api: TestApiServer;
    let discovery: DiscoveryV1Api;

    before(async () => {
      await backend.setup();
      api = await startTestApiServer(backend);
      discovery = api.kubeConfig().makeApiClient(DiscoveryV1Api);
    });
    after(async () => {
      await api.close();
      await backend.teardown();
    });

    const post = (body: unknown) => api.request('POST', SLICES, { body: JSON.stringify(body) });

    it(`creates, gets, lists by service label and deletes with client-node's DiscoveryV1Api [${backend.name}]`, async () => {
      const created = await discovery.createNamespacedEndpointSlice({ namespace: 'default', body: slice('web-abc', 'web') as V1EndpointSlice });
      expect(created.metadata?.uid).to.be.a('string');
      expect(created.metadata?.generation).to.equal(1);
      expect(created.addressType).to.equal('IPv4');
      await discovery.createNamespacedEndpointSlice({ namespace: 'default', body: slice('web-def', 'web', { endpoints: [{ addresses: ['10.0.0.3'] }] }) as V1EndpointSlice });
      await discovery.createNamespacedEndpointSlice({ namespace: 'default', body: slice('db-abc', 'db') as V1EndpointSlice });

      const got = await discovery.readNamespacedEndpointSlice({ name: 'web-abc', namespace: 'default' });
      expect(got.endpoints?.map((e) => e.addresses)).to.deep.equal([['10.0.0.1'], ['10.0.0.2']]);
      expect(got.ports).to.deep.equal([{ name: 'http', port: 80, protocol: 'TCP' }]);

      const web = await discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' });
      expect(web.items.map((s) => s.metadata?.name)).to.deep.equal(['web-abc', 'web-def']);
      const all = await discovery.listEndpointSliceForAllNamespaces({});
      expect(all.items.map((s) => s.metadata?.name)).to.deep.equal(['db-abc', 'web-abc', 'web-def']);
      const byName = await discovery.listNamespacedEndpointSlice({ namespace: 'default', fieldSelector: 'metadata.name=db-abc' });
      expect(byName.items.map((s) => s.metadata?.name)).to.deep.equal(['db-abc']);

      await discovery.deleteNamespacedEndpointSlice({ name: 'db-abc', namespace: 'default' });
      await discovery.deleteNamespacedEndpointSlice({ name: 'web-def', namespace: 'default' });
      const missing = await api.request('GET', `${SLICES}/db-abc`);
      expect(missing.status).to.equal(404);
      expect(missing.json()).to.deep.include({ reason: 'NotFound', message: 'endpointslices.discovery.k8s.io "db-abc" not found' });
      expect((await api.kv.range('/registry/discovery.k8s.io/endpointslices/default/web-abc')).kvs).to.have.length(1);
      await discovery.deleteNamespacedEndpointSlice({ name: 'web-abc', namespace: 'default' });
    });

    it(`defaults port names and protocols as kube does, leaves conditions unset, and counts generations [${backend.name}]`, async () => {
      // v1 writes drop deprecatedTopology silently, as kube does.
      const topology = { addresses: ['10.1.0.1'], deprecatedTopology: { 'kubernetes.io/hostname': 'n1' } };
      const response = await post(slice('defaults', 'svc', { endpoints: [topology], ports: [{ port: 8080 }] }));
      expect(response.status, response.text).to.equal(201);
      const created = response.json() as EndpointSlice;
      expect(created.ports).to.deep.equal([{ name: '', port: 8080, protocol: 'TCP' }]);
      expect(created.endpoints).to.deep.equal([{ addresses: ['10.1.0.1'] }]);
      expect(created.metadata?.generation).to.equal(1);

      const relabelled = await api.request('PATCH', `${SLICES}/defaults`, { body: '{"metadata":{"labels":{"extra":"x"}}}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      expect((relabelled.json() as EndpointSlice).metadata?.generation).to.equal(2);
      const annotated = await api.request('PATCH', `${SLICES}/defaults`, { body: '{"metadata":{"annotations":{"a":"b"}}}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      expect((annotated.json() as EndpointSlice).metadata?.generation).to.equal(2);
      const moved = await api.request('PATCH', `${SLICES}/defaults`, { body: '{"endpoints":[{"addresses":["10.1.0.2"]}]}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      expect((moved.json() as EndpointSlice).metadata?.generation).to.equal(3);

      const retyped = await api.request('PATCH', `${SLICES}/defaults`, { body: '{"addressType":"FQDN","endpoints":[{"addresses":["a.example.com"]}]}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      expect(retyped.status).to.equal(422);
      expect((retyped.json() as { details: { causes: Cause[] } }).details.causes).to.deep.equal([
        { reason: 'FieldValueInvalid', field: 'addressType', message: 'Invalid value: "FQDN": field is immutable' },
      ]);
      expect((await api.request('DELETE', `${SLICES}/defaults`)).status).to.equal(200);
    });

    it(`answers invalid slices with 422 and kube's field causes, writing nothing [${backend.name}]`, async () => {
      const noType = await post({ ...slice('no-type', 'web'), addressType: undefined });
      expect(noType.status).to.equal(422);
      const status = noType.json() as { reason: string; message: string; details: { group: string; kind: string; name: string; causes: Cause[] } };
      expect(status.reason).to.equal('Invalid');
      expect(status.message).to.equal('EndpointSlice.discovery.k8s.io "no-type" is invalid: addressType: Required value');
      expect(status.details).to.deep.include({ group: 'discovery.k8s.io', kind: 'EndpointSlice', name: 'no-type' });
      expect(status.details.causes).to.deep.equal([{ reason: 'FieldValueRequired', field: 'addressType', message: 'Required value' }]);

      const badType = await post(slice('bad-type', 'web', { addressType: 'IP' as EndpointSlice['addressType'] }));
      expect((badType.json() as { details: { causes: Cause[] } }).details.causes).to.deep.equal([
        { reason: 'FieldValueNotSupported', field: 'addressType', message: 'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"' },
      ]);

      const badIP = await post(slice('bad-ip', 'web', { endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.300'] }] }));
      expect(badIP.status).to.equal(422);
      expect((badIP.json() as { details: { causes: Cause[] } }).details.causes).to.deep.equal([
        { reason: 'FieldValueInvalid', field: 'endpoints[1].addresses[0]', message: 'Invalid value: "10.0.0.300": must be a valid IPv4 address' },
        { reason: 'FieldValueInvalid', field: 'endpoints[1].addresses[0]', message: 'Invalid value: "10.0.0.300": must be a valid IP address' },
      ]);

      const several = await post(
        slice('several', 'web', {
          endpoints: [{ addresses: [] }, { addresses: ['10.0.0.4'], nodeName: 'Bad_Node', hostname: 'a.b' }],
          ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81, protocol: 'ICMP' }, { name: 'Bad', port: 82 }],
        }),
      );
      expect(several.status).to.equal(422);
      const fields = (several.json() as { details: { causes: Cause[] } }).details.causes.map((c) => `${c.field} ${c.reason}`);
      expect(fields).to.deep.equal([
        'endpoints[0].addresses FieldValueRequired',
        'endpoints[1].nodeName FieldValueInvalid',
        'endpoints[1].hostname FieldValueInvalid',
        'ports[1].name FieldValueDuplicate',
        'ports[1].protocol FieldValueNotSupported',
        'ports[2].name FieldValueInvalid',
      ]);
      expect((await api.kv.range('/registry/discovery.k8s.io/endpointslices/')).kvs).to.have.length(0);
    });

    it(`streams watch events of slices [${backend.name}]`, async () => {
      const created = (await post(slice('watched', 'web'))).json() as EndpointSlice;
      await api.request('PATCH', `${SLICES}/watched`, { body: '{"endpoints":[{"addresses":["10.0.0.9"]}]}', headers: { 'Content-Type': 'application/merge-patch+json' } });
      await api.request('DELETE', `${SLICES}/watched`);
      const watch = await api.request('GET', `${SLICES}?watch=true&labelSelector=${encodeURIComponent('kubernetes.io/service-name=web')}&resourceVersion=${created.metadata!.resourceVersion}&timeoutSeconds=1`);
      expect(watch.status).to.equal(200);
      const events = watch.text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: EndpointSlice });
      expect(events.map((e) => `${e.type}:${e.object.endpoints?.[0]?.addresses[0]}`)).to.deep.equal(['MODIFIED:10.0.0.9', 'DELETED:10.0.0.9']);
      expect(events[0]!.object).to.deep.include({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' });
    });

    it(`prints the Table kubectl get endpointslices shows [${backend.name}]`, async () => {
      const many = Array.from({ length: 5 }, (_, i) => ({ addresses: [`10.2.0.${i + 1}`] }));
      expect((await post(slice('tbl-many', 'tbl', { endpoints: many, ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }, { name: 'metrics' }, { name: 'prom', port: 9090 }] }))).status).to.equal(201);
      expect((await post(slice('tbl-two', 'tbl', { addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'] }, { addresses: ['fd00::2'] }], ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }))).status).to.equal(201);
      expect((await post(slice('tbl-empty', 'tbl', { endpoints: [], ports: [] }))).status).to.equal(201);

      const response = await api.request('GET', `${SLICES}?labelSelector=${encodeURIComponent('kubernetes.io/service-name=tbl')}`, { headers: { Accept: TABLE_ACCEPT } });
      expect(response.status).to.equal(200);
      const table = response.json() as { kind: string; apiVersion: string; columnDefinitions: { name: string; type: string; format: string; priority: number }[]; rows: { cells: unknown[]; object: { kind: string } }[] };
      expect(table).to.include({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
      expect(table.columnDefinitions.map((c) => [c.name, c.type, c.format, c.priority])).to.deep.equal([
        ['Name', 'string', 'name', 0],
        ['AddressType', 'string', '', 0],
        ['Ports', 'string', '', 0],
        ['Endpoints', 'string', '', 0],
        ['Age', 'string', '', 0],
      ]);
      const cells = table.rows.map((r) => r.cells.slice(0, 4));
      expect(cells).to.deep.equal([
        ['tbl-empty', 'IPv4', '<unset>', '<unset>'],
        ['tbl-many', 'IPv4', '80,443,metrics + 1 more...', '10.2.0.1,10.2.0.2,10.2.0.3 + 2 more...'],
        ['tbl-two', 'IPv6', '80,53', 'fd00::1,fd00::2'],
      ]);
      for (const row of table.rows) expect(row.cells[4]).to.match(/^\d+s$/);
      expect(table.rows[0]!.object.kind).to.equal('PartialObjectMetadata');

      const one = (await api.request('GET', `${SLICES}/tbl-two`, { headers: { Accept: TABLE_ACCEPT } })).json() as { rows: { cells: unknown[] }[] };
      expect(one.rows.map((r) => r.cells[0])).to.deep.equal(['tbl-two']);
    });

    it(`lists discovery.k8s.io/v1 endpointslices in discovery [${backend.name}]`, async () => {
      const groups = (await api.request('GET', '/apis')).json() as { groups: { name: string; preferredVersion: { groupVersion: string } }[] };
      expect(groups.groups.find((g) => g.name === 'discovery.k8s.io')?.preferredVersion).to.deep.equal({ groupVersion: 'discovery.k8s.io/v1', version: 'v1' });
      const group = await api.request('GET', '/apis/discovery.k8s.io');
      expect(group.status).to.equal(200);
      const resources = (await api.request('GET', '/apis/discovery.k8s.io/v1')).json() as { groupVersion: string; resources: unknown[] };
      expect(resources.groupVersion).to.equal('discovery.k8s.io/v1');
      expect(resources.resources).to.deep.equal([
        {
          name: 'endpointslices',
          singularName: 'endpointslice',
          namespaced: true,
          kind: 'EndpointSlice',
          verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
          storageVersionHash: 'qgS0xkrxYAI=',
        },
      ]);
      const aggregated = (await api.request('GET', '/apis', { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' } })).json() as {
        items: { metadata: { name: string }; versions: { version: string; resources: { resource: string; scope: string }[] }[] }[];
      };
      const discoveryGroup = aggregated.items.find((i) => i.metadata.name === 'discovery.k8s.io')!;
      expect(discoveryGroup.versions.map((v) => [v.version, v.resources.map((r) => `${r.resource}:${r.scope}`)])).to.deep.equal([['v1', ['endpointslices:Namespaced']]]);
    });
  });
}

describe('kubectl get endpointslices', function () {
  this.timeout(60_000);
  let api: TestApiServer;
  let dir: string;

  before(async () => {
    await kvBackends[0]!.setup();
    api = await startTestApiServer(kvBackends[0]!);
    dir = mkdtempSync(join(tmpdir(), 'keelson-eps-'));
    writePlainKubeconfig(join(dir, 'kubeconfig'), api.url);
  });
  after(async () => {
    await api.close();
    await kvBackends[0]!.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  const kubectl = (...args: string[]) =>
    runProcess(KUBECTL, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), '--request-timeout', '20s', ...args], { env: { ...process.env, HOME: dir, KUBECONFIG: '' }, timeoutMs: 30_000 });

  it('prints the slice row kube prints, finds the kind by its name, and explains it', async () => {
    const created = await api.request('POST', SLICES, { body: JSON.stringify(slice('web-abc', 'web')) });
    expect(created.status).to.equal(201);
    const run = await kubectl('get', 'endpointslices', '-n', 'default');
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(lines[0]).to.deep.equal(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    expect(lines[1]!.slice(0, 4)).to.deep.equal(['web-abc', 'IPv4', '80', '10.0.0.1,10.0.0.2']);
    const byLabel = await kubectl('get', 'endpointslice.discovery.k8s.io', '-l', 'kubernetes.io/service-name=web', '-o', 'name');
    expect(byLabel.code, byLabel.stderr).to.equal(0);
    expect(byLabel.stdout.trim()).to.equal('endpointslice.discovery.k8s.io/web-abc');
    const explain = await kubectl('explain', 'endpointslices.endpoints.targetRef');
    expect(explain.code, explain.stderr).to.equal(0);
    expect(explain.stdout).to.contain('GROUP:      discovery.k8s.io').and.contain('KIND:       EndpointSlice').and.contain('ObjectReference');
  });
});
