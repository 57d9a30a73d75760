/**
 * Service allocation, as kube's Service storage allocates: cluster IPs from the service CIDR and
 * node ports from the node port range, requested values honoured or refused with kube's 422s,
 * releases on delete, nothing reserved by dry runs or refused writes, no item handed out twice —
 * not to 50 concurrent creates, not to two registries over one SQLite file — and a repair pass
 * that frees what a crashed process left behind. Runs against every backend.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { Service } from '../../lib/api/kinds.js';
import type { ServiceSpec } from '../../lib/api/types/core.js';
import { createRegistry, type SystemOptions, type SystemRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { KV } from '../../lib/storage/kv.js';
import { SqliteKV } from '../../lib/storage/sqlite.js';
import { kvBackends } from '../harness/backends.js';
import { waitFor } from '../harness/wait.js';

const NS = 'default';

interface Opened {
  kv: KV;
  registry: SystemRegistry;
  client: StoreClient;
}

function openOn(kv: KV, options: SystemOptions = {}): Opened {
  const registry = createRegistry(kv, options);
  const client = new StoreClient(registry, async () => {
    await registry.system.stop();
    await kv.close();
  });
  return { kv, registry, client };
}

function service(name: string, spec: ServiceSpec = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ port: 80 }], ...spec } } as Service;
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the request to be refused');
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inServiceCIDR(ip: string): boolean {
  return ipNumber(ip) > ipNumber('127.96.0.0') && ipNumber(ip) < ipNumber('127.111.255.255');
}

for (const backend of kvBackends) {
  describe(`Service allocation [${backend.name}]`, function () {
    this.timeout(60_000);
    let store: Opened;
    const owners = async (range: 'clusterIPs' | 'nodePorts') => (await store.registry.system.serviceAllocation![range].read()).owners;

    before(() => backend.setup());
    after(() => backend.teardown());
    beforeEach(async () => {
      store = openOn(await backend.open());
      await store.registry.system.ready;
    });
    afterEach(() => store.client.close());

    it('gives a ClusterIP Service an IP of 127.96.0.0/12, mirrored in clusterIPs, single-stack IPv4', async () => {
      const svc = await store.client.create(service('web'));
      const ip = svc.spec!.clusterIP!;
      expect(inServiceCIDR(ip), ip).to.equal(true);
      expect(svc.spec).to.include({ ipFamilyPolicy: 'SingleStack' });
      expect(svc.spec!.clusterIPs).to.deep.equal([ip]);
      expect(svc.spec!.ipFamilies).to.deep.equal(['IPv4']);
      expect(await owners('clusterIPs')).to.deep.equal({ [ip]: svc.metadata!.uid });
    });

    it('gives NodePort and LoadBalancer ports node ports of 30000-32767; ports of one number share one', async () => {
      const np = await store.client.create(service('np', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 443 }] }));
      const [a, b] = np.spec!.ports!.map((p) => p.nodePort!);
      for (const port of [a!, b!]) expect(port).to.be.within(30000, 32767);
      expect(a).to.not.equal(b);
      const dns = await store.client.create(
        service('dns', { type: 'LoadBalancer', ports: [{ name: 'udp', port: 53, protocol: 'UDP' }, { name: 'tcp', port: 53, protocol: 'TCP' }] }),
      );
      expect(dns.spec!.ports![0]!.nodePort).to.be.within(30000, 32767);
      expect(dns.spec!.ports![1]!.nodePort).to.equal(dns.spec!.ports![0]!.nodePort);
      const local = await store.client.create(service('local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }));
      expect(local.spec!.healthCheckNodePort).to.be.within(30000, 32767);
      expect(Object.keys(await owners('nodePorts'))).to.have.length(5);
    });

    it('allocates nothing to a headless Service or an ExternalName one', async () => {
      const headless = await store.client.create(service('headless', { clusterIP: 'None', selector: { app: 'x' } }));
      expect(headless.spec).to.deep.include({ clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4'] });
      const external = await store.client.create(service('ext', { type: 'ExternalName', externalName: 'example.com' }));
      expect(external.spec!.clusterIP).to.equal(undefined);
      expect(await owners('clusterIPs')).to.deep.equal({});
    });

    it('honours a requested free IP and refuses a taken or out-of-range one with kube’s 422', async () => {
      const first = await store.client.create(service('first', { clusterIP: '127.96.0.10' }));
      expect(first.spec).to.deep.include({ clusterIP: '127.96.0.10', clusterIPs: ['127.96.0.10'] });
      const taken = await refusal(store.client.create(service('second', { clusterIP: '127.96.0.10' })));
      expect(taken.code).to.equal(422);
      expect(taken.reason).to.equal('Invalid');
      expect(taken.message).to.equal(
        'Service "second" is invalid: spec.clusterIPs: Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated',
      );
      expect(taken.details?.causes).to.deep.equal([
        { reason: 'FieldValueInvalid', message: 'Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated', field: 'spec.clusterIPs' },
      ]);
      const outside = await refusal(store.client.create(service('third', { clusterIP: '10.0.0.1' })));
      expect(outside.message).to.equal(
        'Service "third" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is 127.96.0.0/12',
      );
      const broadcast = await refusal(store.client.create(service('fourth', { clusterIP: '127.111.255.255' })));
      expect(broadcast.code).to.equal(422);
      expect(Object.keys(await owners('clusterIPs'))).to.deep.equal(['127.96.0.10']);
    });

    it('honours a requested free node port and refuses a taken or out-of-range one', async () => {
      const first = await store.client.create(service('first', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
      expect(first.spec!.ports![0]!.nodePort).to.equal(30080);
      const taken = await refusal(store.client.create(service('second', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })));
      expect(taken.message).to.equal('Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated');
      const outside = await refusal(store.client.create(service('third', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] })));
      expect(outside.message).to.equal(
        'Service "third" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
      );
      // The refused creates hold nothing: neither a node port nor the IP allocated before the refusal.
      expect(Object.keys(await owners('nodePorts'))).to.deep.equal(['30080']);
      expect(Object.keys(await owners('clusterIPs'))).to.deep.equal([first.spec!.clusterIP]);
    });

    it('releases on delete, and the released IP and port can be requested again', async () => {
      const svc = await store.client.create(service('web', { type: 'NodePort', clusterIP: '127.96.0.20', ports: [{ port: 80, nodePort: 30020 }] }));
      await store.client.delete(Service, 'web', { namespace: NS });
      expect(await owners('clusterIPs')).to.deep.equal({});
      expect(await owners('nodePorts')).to.deep.equal({});
      const again = await store.client.create(service('web2', { type: 'NodePort', clusterIP: '127.96.0.20', ports: [{ port: 80, nodePort: 30020 }] }));
      expect(again.spec!.clusterIP).to.equal(svc.spec!.clusterIP);
      expect(again.spec!.ports![0]!.nodePort).to.equal(30020);
    });

    it('never hands out one IP or node port twice to 50 concurrent creates', async () => {
      const created = await Promise.all(Array.from({ length: 50 }, (_, i) => store.client.create(service(`s${i}`, { type: 'NodePort' }))));
      const ips = created.map((s) => s.spec!.clusterIP!);
      const ports = created.map((s) => s.spec!.ports![0]!.nodePort!);
      expect(new Set(ips).size).to.equal(50);
      expect(new Set(ports).size).to.equal(50);
      expect(Object.keys(await owners('clusterIPs')).sort()).to.deep.equal([...ips].sort());
    });

    it('allocates nothing on a dry run, yet answers with the values it would give', async () => {
      const dry = await store.registry.create(store.registry.resolve(Service), service('dry', { type: 'NodePort' }), { dryRun: true });
      expect(inServiceCIDR((dry.object as Service).spec!.clusterIP!)).to.equal(true);
      expect((dry.object as Service).spec!.ports![0]!.nodePort).to.be.within(30000, 32767);
      expect(await store.kv.get('/registry/ranges/serviceips')).to.equal(undefined);
      expect(await store.kv.get('/registry/ranges/servicenodeports')).to.equal(undefined);
    });

    it('reserves nothing for a create refused later: invalid, or a name already taken', async () => {
      await store.client.create(service('web'));
      const before = await owners('clusterIPs');
      const invalid = await refusal(store.client.create(service('bad', { ports: [{ port: 70000 }] })));
      expect(invalid.code).to.equal(422);
      const exists = await refusal(store.client.create(service('web')));
      expect(exists.reason).to.equal('AlreadyExists');
      expect(await owners('clusterIPs')).to.deep.equal(before);
    });

    it('keeps allocated values a client leaves out of an update, and follows type changes', async () => {
      const svc = await store.client.create(service('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }));
      const nodePort = svc.spec!.ports![0]!.nodePort;
      const replaced = await store.client.update({ ...service('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }) });
      expect(replaced.spec!.clusterIP).to.equal(svc.spec!.clusterIP);
      expect(replaced.spec!.ports![0]!.nodePort).to.equal(nodePort);
      // NodePort → ClusterIP gives the node port back (once the update is stored).
      await store.client.update(service('web', { type: 'ClusterIP', ports: [{ name: 'http', port: 80 }] }));
      await waitFor(async () => Object.keys(await owners('nodePorts')).length === 0, { what: 'the node port released' });
      // ClusterIP → NodePort allocates again; ExternalName gives the IP back.
      const again = await store.client.update(service('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }));
      expect(again.spec!.ports![0]!.nodePort).to.be.within(30000, 32767);
      await store.client.update(service('web', { type: 'ExternalName', externalName: 'example.com', ports: [{ name: 'http', port: 80 }] }));
      await waitFor(async () => Object.keys(await owners('clusterIPs')).length === 0 && Object.keys(await owners('nodePorts')).length === 0, {
        what: 'the IP and node port released',
      });
    });

    it('drops what a type change no longer uses when the update carries it along (kubectl edit), as kube, and frees it', async () => {
      // NodePort → ClusterIP with the node port still in the object.
      const np = await store.client.create(service('np', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }));
      const toClusterIP = await store.client.update<Service>({ ...np, spec: { ...np.spec, type: 'ClusterIP' } });
      expect(toClusterIP.spec!.ports![0]).to.not.have.property('nodePort');
      expect(toClusterIP.spec).to.not.have.property('externalTrafficPolicy');
      // LoadBalancer Local → Cluster with the health check node port still in the object.
      const lb = await store.client.create(service('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] }));
      const healthCheck = lb.spec!.healthCheckNodePort!;
      expect(healthCheck).to.be.within(30000, 32767);
      const toCluster = await store.client.update<Service>({ ...lb, spec: { ...lb.spec, externalTrafficPolicy: 'Cluster' } });
      expect(toCluster.spec).to.not.have.property('healthCheckNodePort');
      expect(toCluster.spec!.ports![0]!.nodePort).to.equal(lb.spec!.ports![0]!.nodePort);
      // ClusterIP → ExternalName with the cluster IPs and families still in the object.
      const web = await store.client.create(service('web'));
      const toExternal = await store.client.update<Service>({ ...web, spec: { ...web.spec, type: 'ExternalName', externalName: 'example.com' } });
      expect(toExternal.spec).to.not.have.any.keys('clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'internalTrafficPolicy');
      await waitFor(async () => {
        const ports = Object.keys(await owners('nodePorts')).length;
        const ips = Object.keys(await owners('clusterIPs')).length;
        return ports === 1 && ips === 2; // lb's node port; np's and lb's cluster IPs (web's is free)
      }, { what: 'the dropped node ports, health check port and cluster IP released' });
      // A changed field is the client's intent: kept, and refused as kube refuses it.
      const refused = await refusal(store.client.update<Service>({ ...toClusterIP, spec: { ...toClusterIP.spec, ports: [{ name: 'http', port: 80, nodePort: 30999 }] } }));
      expect(refused.code).to.equal(422);
    });

    it('refuses a cluster IP on an ExternalName Service, and a changed clusterIP as a change of clusterIPs[0], as kube', async () => {
      const external = await refusal(store.client.create(service('ext', { type: 'ExternalName', externalName: 'example.com', clusterIP: '127.96.5.5' })));
      expect(external.code).to.equal(422);
      expect(external.details?.causes).to.deep.include({ reason: 'FieldValueForbidden', message: 'Forbidden: may not be set for ExternalName services', field: 'spec.clusterIPs' });
      // Nothing was reserved: another Service may have the address.
      const taker = await store.client.create(service('taker', { clusterIP: '127.96.5.5' }));
      expect(taker.spec!.clusterIP).to.equal('127.96.5.5');
      // Only the singular field changed (kubectl patch -p '{"spec":{"clusterIP":…}}'): kube's
      // normalizeClusterIPs makes clusterIPs[0] follow, which may not change.
      const moved = await refusal(store.client.update<Service>({ ...taker, spec: { ...taker.spec, clusterIP: '127.96.5.6' } }));
      expect(moved.code).to.equal(422);
      expect(moved.details?.causes).to.deep.equal([
        { reason: 'FieldValueInvalid', message: 'Invalid value: []string{"127.96.5.6"}: may not change once set', field: 'spec.clusterIPs[0]' },
      ]);
    });

    it('lists the causes of a 422 metadata first, then spec, as kube validates', async () => {
      const bad = { ...service('x'.repeat(64), { selector: { app: 'y'.repeat(64) } }) };
      const refused = await refusal(store.client.create(bad));
      expect(refused.code).to.equal(422);
      expect(refused.details?.causes?.map((c) => c.field)).to.deep.equal(['metadata.name', 'spec.selector']);
    });

    it('starts every Service with an empty status (status.loadBalancer: {}), as kube', async () => {
      const svc = await store.client.create(service('web'));
      expect(svc.status).to.deep.equal({ loadBalancer: {} });
      expect((await store.client.get(Service, 'web', { namespace: NS })).status).to.deep.equal({ loadBalancer: {} });
    });

    it('repairs after a crash: an allocation whose Service never got stored is freed on restart', async () => {
      const svc = await store.client.create(service('kept'));
      // A process reserved 127.96.0.99 and died before storing its Service.
      const record = JSON.parse((await store.kv.get('/registry/ranges/serviceips'))!.value) as { owners: Record<string, string>; reserved: Record<string, number> };
      record.owners['127.96.0.99'] = 'uid-of-a-service-never-stored';
      record.reserved['127.96.0.99'] = Date.now() - 120_000;
      const current = (await store.kv.get('/registry/ranges/serviceips'))!;
      await store.kv.update('/registry/ranges/serviceips', JSON.stringify(record), current.modRevision);
      await store.registry.system.stop();
      const restarted = openOn(store.kv);
      await restarted.registry.system.serviceAllocation!.start();
      expect((await restarted.registry.system.serviceAllocation!.clusterIPs.read()).owners).to.deep.equal({ [svc.spec!.clusterIP!]: svc.metadata!.uid });
      await restarted.registry.system.stop();
    });

    it('rebuilds a lost record from the stored Services, and keeps a fresh reservation (a write in flight)', async () => {
      const svc = await store.client.create(service('web', { type: 'NodePort' }));
      await store.kv.delete('/registry/ranges/serviceips');
      const allocation = store.registry.system.serviceAllocation!;
      await allocation.repair();
      expect((await allocation.clusterIPs.read()).owners).to.deep.equal({ [svc.spec!.clusterIP!]: svc.metadata!.uid });
      const dry = await store.registry.create(store.registry.resolve(Service), service('other', { clusterIP: svc.spec!.clusterIP! }), { dryRun: true }).catch((e: unknown) => e);
      expect((dry as ApiError).code).to.equal(422);
    });
  });
}

describe('Service allocation with configured ranges [memory]', () => {
  it('allocates from the ranges it is given, and answers 500 when one is full', async () => {
    const kv = kvBackends.find((b) => b.name === 'memory')!;
    const store = openOn(await kv.open(), { serviceAllocation: { serviceClusterIPRange: '10.0.0.0/30', serviceNodePortRange: '31000-31001' } });
    try {
      await store.registry.system.ready;
      const a = await store.client.create(service('a', { type: 'NodePort' }));
      const b = await store.client.create(service('b', { type: 'NodePort' }));
      expect([a.spec!.clusterIP, b.spec!.clusterIP].sort()).to.deep.equal(['10.0.0.1', '10.0.0.2']);
      expect([a.spec!.ports![0]!.nodePort, b.spec!.ports![0]!.nodePort].sort()).to.deep.equal([31000, 31001]);
      const full = await refusal(store.client.create(service('c')));
      expect(full.code).to.equal(500);
      expect(full.message).to.equal('Internal error occurred: failed to allocate a serviceIP: range is full');
      // Freed by a delete, the IP goes to a LoadBalancer that asks for no node ports.
      await store.client.delete(Service, 'a', { namespace: NS });
      const lb = await store.client.create(service('lb', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }));
      expect(lb.spec!.clusterIP).to.equal(a.spec!.clusterIP);
      expect(lb.spec!.ports![0]!.nodePort).to.equal(undefined);
    } finally {
      await store.client.close();
    }
  });
});

const sqlite = kvBackends.find((b) => b.name === 'sqlite');
describe('Service allocation across processes [sqlite]', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keelson-alloc-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('never gives one IP or node port to two registries creating over one SQLite file at once', async () => {
    expect(sqlite, 'the sqlite backend').to.not.equal(undefined);
    const path = join(dir, 'shared.db');
    const a = openOn(SqliteKV.open(path));
    const b = openOn(SqliteKV.open(path));
    try {
      await Promise.all([a.registry.system.ready, b.registry.system.ready]);
      const creates = Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).client.create(service(`s${i}`, { type: 'NodePort' })));
      const created = await Promise.all(creates);
      expect(new Set(created.map((s) => s.spec!.clusterIP)).size).to.equal(40);
      expect(new Set(created.map((s) => s.spec!.ports![0]!.nodePort)).size).to.equal(40);
      expect(Object.keys((await a.registry.system.serviceAllocation!.clusterIPs.read()).owners)).to.have.length(40);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});
