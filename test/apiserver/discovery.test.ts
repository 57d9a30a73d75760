/**
 * Discovery documents as kube-apiserver serves them: `/version`, `/api`, `/apis`, group and
 * group-version resource lists (built-in verbs, subresources, storage version hashes), the
 * aggregated `apidiscovery.k8s.io/v2` form kubectl asks for first, Accept negotiation, kube's
 * version order — for the built-in kinds and for kinds served from a CRD.
 */
import { expect } from 'chai';
import { BUILTIN_RESOURCES, CustomResourceDefinition } from '../../lib/api/kinds.js';
import { defineResource, ResourceTypes } from '../../lib/api/resources.js';
import {
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  compareKubeAwareVersions,
  DISCOVERY_CONTENT_TYPES,
  negotiateDiscovery,
  storageVersionHash,
  versionInfo,
  type APIResource,
} from '../../lib/apiserver/discovery.js';
import { createRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import { servedVersions } from '../../lib/registry/custom-resource.js';
import { MemoryKV } from '../../lib/storage/memory.js';

const ALL = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CRD_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];
const KUBECTL_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

/** A CRD of `widgets.example.com` serving several versions (v1 stored, with status and scale). */
function widgetCRD(versions = ['v1', 'v1beta1', 'v2alpha1', 'v1beta2']): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wd'], categories: ['all'] },
      versions: versions.map((name) => ({
        name,
        served: true,
        storage: name === 'v1',
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'string' }, replicas: { type: 'integer' } } }, status: { type: 'object', properties: { replicas: { type: 'integer' } } } } } },
        ...(name === 'v1' ? { subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } } } : {}),
      })),
    },
  };
}

function resource(list: { resources: APIResource[] } | undefined, name: string): APIResource {
  const found = list?.resources.find((r) => r.name === name);
  expect(found, `resource ${name}`).to.not.equal(undefined);
  return found!;
}

describe('apiserver discovery', () => {
  const types = new ResourceTypes(BUILTIN_RESOURCES);

  describe('/version and /api', () => {
    it('reports Kubernetes 1.32 (what kubectl 1.32 expects) with every version.Info field', () => {
      const info = versionInfo();
      expect(info).to.include({ major: '1', minor: '32', gitVersion: 'v1.32.0-keelson', gitTreeState: 'clean' });
      expect(Object.keys(info)).to.have.members(['major', 'minor', 'gitVersion', 'gitCommit', 'gitTreeState', 'buildDate', 'goVersion', 'compiler', 'platform']);
      expect(info.platform).to.match(/^[a-z0-9]+\/[a-z0-9]+$/);
      expect(versionInfo({ buildDate: '2025-01-01T00:00:00Z' }).buildDate).to.equal('2025-01-01T00:00:00Z');
    });

    it('lists the core versions with the server address', () => {
      expect(apiVersions('127.0.0.1:6443')).to.deep.equal({
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
      });
    });
  });

  describe('legacy discovery', () => {
    it('lists the non-core groups in kube order with their preferred version', () => {
      const list = apiGroupList(types);
      expect(list.kind).to.equal('APIGroupList');
      expect(list.apiVersion).to.equal('v1');
      expect(list.groups.map((g) => g.name)).to.deep.equal(['apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io']);
      expect(list.groups[1]).to.deep.equal({
        name: 'coordination.k8s.io',
        versions: [{ groupVersion: 'coordination.k8s.io/v1', version: 'v1' }],
        preferredVersion: { groupVersion: 'coordination.k8s.io/v1', version: 'v1' },
      });
    });

    it('answers /apis/<group> for served groups only', () => {
      expect(apiGroup(types, 'coordination.k8s.io')).to.deep.include({ kind: 'APIGroup', apiVersion: 'v1', name: 'coordination.k8s.io' });
      expect(apiGroup(types, 'apps')).to.equal(undefined);
      expect(apiGroup(types, '')).to.equal(undefined);
    });

    it('serves /api/v1 as kube does: no apiVersion, sorted, subresources as entries', () => {
      const list = apiResourceList(types, '', 'v1')!;
      expect(list.kind).to.equal('APIResourceList');
      expect(list.groupVersion).to.equal('v1');
      expect(list).to.not.have.property('apiVersion');
      const names = list.resources.map((r) => r.name);
      expect(names).to.deep.equal([...names].sort());
      expect(names).to.include.members(['pods', 'pods/status', 'pods/binding', 'pods/log', 'namespaces/finalize', 'namespaces/status', 'nodes/status', 'services/status', 'replicationcontrollers/scale', 'replicationcontrollers/status']);
      expect(resource(list, 'pods')).to.deep.equal({
        name: 'pods',
        singularName: 'pod',
        namespaced: true,
        kind: 'Pod',
        verbs: ALL,
        shortNames: ['po'],
        categories: ['all'],
        storageVersionHash: 'xPOwRZ+Yhw8=',
      });
      expect(resource(list, 'pods/status')).to.deep.equal({ name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
      expect(resource(list, 'pods/binding')).to.deep.include({ kind: 'Binding', verbs: ['create'] });
      expect(resource(list, 'pods/log')).to.deep.include({ kind: 'Pod', verbs: ['get'] });
      expect(resource(list, 'replicationcontrollers/scale')).to.deep.equal({
        name: 'replicationcontrollers/scale',
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    });

    it('lists each built-in with the verbs kube lists', () => {
      const list = apiResourceList(types, '', 'v1')!;
      expect(resource(list, 'namespaces').verbs).to.deep.equal(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
      expect(resource(list, 'namespaces/finalize')).to.deep.include({ namespaced: false, kind: 'Namespace', verbs: ['update'] });
      expect(resource(list, 'nodes').verbs).to.deep.equal(ALL);
      expect(resource(list, 'events')).to.deep.include({ verbs: ALL, shortNames: ['ev'], storageVersionHash: 'r2yiGXH7wu8=' });
      // Bindings are never stored: create only, no storage version hash.
      expect(resource(list, 'bindings')).to.deep.equal({ name: 'bindings', singularName: 'binding', namespaced: true, kind: 'Binding', verbs: ['create'] });
      expect(resource(list, 'endpoints')).to.deep.include({ singularName: 'endpoints', shortNames: ['ep'], storageVersionHash: 'fWeeMqaN/OA=' });
      expect(resource(list, 'configmaps').storageVersionHash).to.equal('qFsyl6wFWjQ=');
    });

    it('serves group versions with apiVersion v1, and nothing for unknown ones', () => {
      const leases = apiResourceList(types, 'coordination.k8s.io', 'v1')!;
      expect(leases).to.deep.equal({
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'coordination.k8s.io/v1',
        resources: [{ name: 'leases', singularName: 'lease', namespaced: true, kind: 'Lease', verbs: ALL, storageVersionHash: 'gqkMMb/YqFM=' }],
      });
      expect(apiResourceList(types, 'discovery.k8s.io', 'v1')!.resources).to.deep.equal([
        { name: 'endpointslices', singularName: 'endpointslice', namespaced: true, kind: 'EndpointSlice', verbs: ALL, storageVersionHash: 'qgS0xkrxYAI=' },
      ]);
      const crds = apiResourceList(types, 'apiextensions.k8s.io', 'v1')!;
      expect(crds.resources.map((r) => r.name)).to.deep.equal(['customresourcedefinitions', 'customresourcedefinitions/status']);
      expect(apiResourceList(types, 'coordination.k8s.io', 'v1beta1')).to.equal(undefined);
      expect(apiResourceList(types, 'apps', 'v1')).to.equal(undefined);
      expect(apiResourceList(types, '', 'v2')).to.equal(undefined);
    });

    it('computes kube storage version hashes', () => {
      expect(storageVersionHash('', 'v1', 'Pod')).to.equal('xPOwRZ+Yhw8=');
      expect(storageVersionHash('', 'v1', 'Namespace')).to.equal('Q3oi5N2YM8M=');
      expect(storageVersionHash('apiextensions.k8s.io', 'v1beta1', 'CustomResourceDefinition')).to.equal('jfWCUB31mvA=');
    });
  });

  describe('version order', () => {
    it('sorts versions as kube does: GA, beta, alpha, then non-kube versions alphabetically', () => {
      const shuffled = ['foo10', 'v1beta1', 'v11alpha2', 'v1', 'v3beta1', 'foo1', 'v10beta3', 'v12alpha1', 'v2', 'v11beta2', 'v10'];
      expect([...shuffled].sort(compareKubeAwareVersions)).to.deep.equal(['v10', 'v2', 'v1', 'v11beta2', 'v10beta3', 'v3beta1', 'v1beta1', 'v12alpha1', 'v11alpha2', 'foo1', 'foo10']);
      expect(['v1alpha1', 'v1beta1', 'v1beta2', 'v1', 'v2'].sort(compareKubeAwareVersions)).to.deep.equal(['v2', 'v1', 'v1beta2', 'v1beta1', 'v1alpha1']);
    });
  });

  describe('content negotiation', () => {
    it('gives kubectl aggregated v2, older clients v2beta1, everyone else the legacy documents', () => {
      expect(negotiateDiscovery(KUBECTL_ACCEPT)).to.equal('aggregated-v2');
      expect(negotiateDiscovery('application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json')).to.equal('aggregated-v2beta1');
      expect(negotiateDiscovery('application/json, */*')).to.equal('legacy');
      expect(negotiateDiscovery(undefined)).to.equal('legacy');
      expect(negotiateDiscovery('')).to.equal('legacy');
      expect(negotiateDiscovery('*/*')).to.equal('legacy');
    });

    it('honours q weights and skips what it cannot serve', () => {
      expect(negotiateDiscovery('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json')).to.equal('legacy');
      expect(negotiateDiscovery('application/json;q=0.1, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList')).to.equal('aggregated-v2');
      expect(negotiateDiscovery('application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json')).to.equal('legacy');
      expect(negotiateDiscovery('application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList')).to.equal('aggregated-v2');
      expect(negotiateDiscovery('application/json;as=Table;v=v1;g=meta.k8s.io')).to.equal('legacy');
    });

    it('answers with a Content-Type client-go recognizes', () => {
      expect(DISCOVERY_CONTENT_TYPES['aggregated-v2']).to.equal('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
      expect(DISCOVERY_CONTENT_TYPES['aggregated-v2beta1']).to.equal('application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList');
      expect(DISCOVERY_CONTENT_TYPES.legacy).to.equal('application/json');
    });
  });

  describe('aggregated discovery', () => {
    it('lists the core group as one item named ""', () => {
      const core = aggregatedDiscovery(types, 'core');
      expect(core).to.include({ kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2' });
      expect(core.metadata).to.deep.equal({});
      expect(core.items).to.have.length(1);
      expect(core.items[0]!.metadata).to.deep.equal({ name: '' });
      const [v1] = core.items[0]!.versions;
      expect(v1).to.include({ version: 'v1', freshness: 'Current' });
      const names = v1!.resources.map((r) => r.resource);
      expect(names).to.deep.equal([...names].sort());
      expect(names).to.not.include('pods/status');
      expect(v1!.resources.find((r) => r.resource === 'pods')).to.deep.equal({
        resource: 'pods',
        responseKind: { group: '', version: '', kind: 'Pod' },
        scope: 'Namespaced',
        singularResource: 'pod',
        verbs: ALL,
        shortNames: ['po'],
        categories: ['all'],
        subresources: [
          { subresource: 'binding', responseKind: { group: '', version: '', kind: 'Binding' }, verbs: ['create'] },
          { subresource: 'eviction', responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] },
          { subresource: 'log', responseKind: { group: '', version: '', kind: 'Pod' }, verbs: ['get'] },
          { subresource: 'status', responseKind: { group: '', version: '', kind: 'Pod' }, verbs: ['get', 'patch', 'update'] },
        ],
      });
      const rc = v1!.resources.find((r) => r.resource === 'replicationcontrollers')!;
      expect(rc.subresources?.map((s) => s.subresource)).to.deep.equal(['scale', 'status']);
      expect(rc.subresources?.[0]?.responseKind).to.deep.equal({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
      const nodes = v1!.resources.find((r) => r.resource === 'nodes')!;
      expect(nodes.scope).to.equal('Cluster');
      const bindings = v1!.resources.find((r) => r.resource === 'bindings')!;
      expect(bindings).to.not.have.property('subresources');
      expect(bindings).to.not.have.property('shortNames');
    });

    it('lists the other groups under /apis, in v2 or v2beta1', () => {
      const apis = aggregatedDiscovery(types, 'apis');
      expect(apis.items.map((i) => i.metadata.name)).to.deep.equal(['apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io']);
      expect(apis.items[1]!.versions[0]!.resources[0]).to.deep.equal({
        resource: 'leases',
        responseKind: { group: '', version: '', kind: 'Lease' },
        scope: 'Namespaced',
        singularResource: 'lease',
        verbs: ALL,
      });
      expect(aggregatedDiscovery(types, 'apis', 'v2beta1').apiVersion).to.equal('apidiscovery.k8s.io/v2beta1');
      expect(aggregatedDiscovery(types, 'core', negotiateDiscovery(KUBECTL_ACCEPT) as 'aggregated-v2').apiVersion).to.equal('apidiscovery.k8s.io/v2');
    });

    it('lists a kind registered by hand like a built-in', () => {
      const own = new ResourceTypes([...BUILTIN_RESOURCES, defineResource({ group: 'example.org', version: 'v1', kind: 'Gadget', namespaced: false })]);
      expect(apiGroupList(own).groups.map((g) => g.name)).to.deep.equal(['apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'example.org']);
      expect(apiResourceList(own, 'example.org', 'v1')!.resources).to.deep.equal([
        { name: 'gadgets', singularName: 'gadget', namespaced: false, kind: 'Gadget', verbs: ALL, storageVersionHash: storageVersionHash('example.org', 'v1', 'Gadget') },
      ]);
    });
  });

  describe('custom kinds', () => {
    let registry: CustomResourceRegistry;
    let kv: MemoryKV;

    before(async () => {
      kv = new MemoryKV();
      registry = createRegistry(kv);
      await new StoreClient(registry).create(widgetCRD());
      for (const v of ['v1', 'v1beta1', 'v2alpha1', 'v1beta2']) await registry.crds.waitForKind(`example.com/${v}`, 'Widget', 5000);
    });

    after(async () => {
      await registry.crds.stop();
      await kv.close();
    });

    it('orders a CRD group\'s versions by kube priority, the first preferred', () => {
      const group = apiGroupList(registry.types).groups.find((g) => g.name === 'example.com')!;
      expect(group.versions.map((v) => v.version)).to.deep.equal(['v1', 'v1beta2', 'v1beta1', 'v2alpha1']);
      expect(group.preferredVersion).to.deep.equal({ groupVersion: 'example.com/v1', version: 'v1' });
      expect(apiGroup(registry.types, 'example.com')!.preferredVersion.version).to.equal('v1');
      expect(apiGroupList(registry.types).groups.map((g) => g.name)).to.deep.equal(['apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'example.com']);
    });

    it('lists the kind as apiextensions-apiserver does, with its subresources', () => {
      const list = apiResourceList(registry.types, 'example.com', 'v1')!;
      expect(list.groupVersion).to.equal('example.com/v1');
      expect(list.resources).to.deep.equal([
        {
          name: 'widgets',
          singularName: 'widget',
          namespaced: true,
          kind: 'Widget',
          verbs: CRD_VERBS,
          shortNames: ['wd'],
          categories: ['all'],
          storageVersionHash: storageVersionHash('example.com', 'v1', 'Widget'),
        },
        { name: 'widgets/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
        { name: 'widgets/status', singularName: '', namespaced: true, kind: 'Widget', verbs: ['get', 'patch', 'update'] },
      ]);
      // Other versions: the storage version's hash, and only their own subresources.
      const beta = apiResourceList(registry.types, 'example.com', 'v1beta1')!;
      expect(beta.resources.map((r) => r.name)).to.deep.equal(['widgets']);
      expect(beta.resources[0]!.storageVersionHash).to.equal(storageVersionHash('example.com', 'v1', 'Widget'));
    });

    it('gives custom kinds their full response kind in aggregated discovery', () => {
      const item = aggregatedDiscovery(registry.types, 'apis').items.find((i) => i.metadata.name === 'example.com')!;
      expect(item.versions.map((v) => v.version)).to.deep.equal(['v1', 'v1beta2', 'v1beta1', 'v2alpha1']);
      expect(item.versions[0]!.resources).to.deep.equal([
        {
          resource: 'widgets',
          responseKind: { group: 'example.com', version: 'v1', kind: 'Widget' },
          scope: 'Namespaced',
          singularResource: 'widget',
          verbs: CRD_VERBS,
          shortNames: ['wd'],
          categories: ['all'],
          subresources: [
            { subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] },
            { subresource: 'status', responseKind: { group: 'example.com', version: 'v1', kind: 'Widget' }, verbs: ['get', 'patch', 'update'] },
          ],
        },
      ]);
      expect(item.versions[1]!.resources[0]).to.not.have.property('subresources');
    });

    it('restricts the verbs of a CRD being deleted', () => {
      const crd = widgetCRD(['v1']);
      crd.metadata!.deletionTimestamp = '2024-01-01T00:00:00Z';
      const own = new ResourceTypes([...BUILTIN_RESOURCES, ...servedVersions(crd)]);
      expect(resource(apiResourceList(own, 'example.com', 'v1'), 'widgets').verbs).to.deep.equal(['delete', 'deletecollection', 'get', 'list', 'watch']);
    });
  });
});
