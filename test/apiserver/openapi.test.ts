/**
 * OpenAPI documents as kube-apiserver publishes them and kubectl reads them: the `/openapi/v3`
 * index with hashed URLs, per-group-version documents whose kind schemas carry
 * `x-kubernetes-group-version-kind` and whose PATCH operations declare `fieldValidation` and the
 * patch types (what kubectl checks before server-side validation and strategic merge), kube's
 * component names, references that resolve, the swagger 2.0 document, and hashes that stay put
 * until a CRD changes.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { BUILTIN_RESOURCES, CustomResourceDefinition } from '../../lib/api/kinds.js';
import { ResourceTypes } from '../../lib/api/resources.js';
import type { JSONSchemaProps } from '../../lib/api/types/apiextensions.js';
import {
  groupVersionPath,
  openapiV2,
  openapiV2Served,
  openapiV3Document,
  openapiV3Index,
  openapiV3Paths,
  openapiV3Served,
  parseGroupVersionPath,
  type OpenAPIV3Document,
} from '../../lib/apiserver/openapi.js';
import { createRegistry } from '../../lib/client/connect.js';
import { StoreClient } from '../../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../../lib/registry/crd-registry.js';
import { MemoryKV } from '../../lib/storage/memory.js';
import { waitFor } from '../harness/wait.js';

type Json = Record<string, any>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const GADGET_SCHEMA: JSONSchemaProps = {
  type: 'object',
  description: 'A gadget.',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'string', description: 'How big.' },
        replicas: { type: 'integer', format: 'int32', default: 1 },
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        nickname: { type: 'string', nullable: true },
      },
    },
    status: { type: 'object', properties: { replicas: { type: 'integer' } } },
  },
};

function gadgetCRD(schema: JSONSchemaProps = GADGET_SCHEMA): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        },
      ],
    },
  };
}

/** Every `$ref` in a document, with where it is. */
function refs(node: unknown, at = '#', out: [string, string][] = []): [string, string][] {
  if (Array.isArray(node)) node.forEach((child, i) => refs(child, `${at}/${i}`, out));
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push([at, value]);
      else refs(value, `${at}/${key}`, out);
    }
  }
  return out;
}

/** Asserts that every reference of a v3 document points at one of its components. */
function expectRefsResolve(doc: OpenAPIV3Document): void {
  const prefix = '#/components/schemas/';
  for (const [at, ref] of refs(doc)) {
    expect(ref.startsWith(prefix), `${at}: ${ref}`).to.equal(true);
    expect(doc.components.schemas, `${at}: ${ref}`).to.have.property(ref.slice(prefix.length));
  }
}

/** The operation of a path of a document (failing when absent). */
function operation(doc: { paths: Record<string, Json> }, path: string, method: string): Json {
  const op = doc.paths[path]?.[method] as Json | undefined;
  expect(op, `${method} ${path}`).to.not.equal(undefined);
  return op!;
}

describe('apiserver OpenAPI', () => {
  const types = new ResourceTypes(BUILTIN_RESOURCES);

  describe('v3 index', () => {
    it('has one entry per served group version, with its hash in the URL', () => {
      const index = openapiV3Index(types);
      expect(Object.keys(index.paths)).to.deep.equal(['api/v1', 'apis/apiextensions.k8s.io/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1']);
      expect(openapiV3Paths(types)).to.deep.equal(Object.keys(index.paths));
      for (const [path, { serverRelativeURL }] of Object.entries(index.paths)) {
        const served = openapiV3Served(types, path)!;
        expect(served.hash).to.match(/^[0-9A-F]{128}$/);
        expect(served.hash).to.equal(createHash('sha512').update(served.body).digest('hex').toUpperCase());
        expect(serverRelativeURL).to.equal(`/openapi/v3/${path}?hash=${served.hash}`);
      }
    });

    it('maps group versions to paths and back', () => {
      expect(groupVersionPath('', 'v1')).to.equal('api/v1');
      expect(groupVersionPath('example.com', 'v1beta1')).to.equal('apis/example.com/v1beta1');
      expect(parseGroupVersionPath('api/v1')).to.deep.equal({ group: '', version: 'v1' });
      expect(parseGroupVersionPath('/apis/example.com/v1?hash=AB')).to.deep.equal({ group: 'example.com', version: 'v1' });
      expect(parseGroupVersionPath('apis/example.com')).to.equal(undefined);
      expect(parseGroupVersionPath('version')).to.equal(undefined);
      expect(openapiV3Document(types, 'apis/apps/v1')).to.equal(undefined);
      expect(openapiV3Served(types, 'nonsense')).to.equal(undefined);
    });
  });

  describe('v3 documents of built-in kinds', () => {
    const doc = openapiV3Document(types, 'api/v1')!;
    const schemas = doc.components.schemas as Record<string, Json>;

    it('is an OpenAPI 3.0 document whose references all resolve', () => {
      expect(doc.openapi).to.equal('3.0.0');
      expect(doc.info.title).to.equal('Kubernetes');
      expectRefsResolve(doc);
      expect(JSON.parse(openapiV3Served(types, 'api/v1')!.body)).to.deep.equal(doc);
    });

    it('names components as kube does and tags kinds with their GVK', () => {
      expect(schemas['io.k8s.api.core.v1.Pod']!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: '', kind: 'Pod', version: 'v1' }]);
      expect(schemas['io.k8s.api.core.v1.PodList']!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: '', kind: 'PodList', version: 'v1' }]);
      expect(schemas['io.k8s.api.core.v1.Event']!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: '', kind: 'Event', version: 'v1' }]);
      expect(schemas['io.k8s.api.autoscaling.v1.Scale']!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: 'autoscaling', kind: 'Scale', version: 'v1' }]);
      expect(schemas[`${META}.Status`]!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: '', kind: 'Status', version: 'v1' }]);
      expect(schemas).to.include.keys([`${META}.ObjectMeta`, `${META}.ListMeta`, `${META}.Time`, 'io.k8s.api.core.v1.PodSpec', 'io.k8s.api.core.v1.Container', 'io.k8s.apimachinery.pkg.api.resource.Quantity', 'io.k8s.apimachinery.pkg.util.intstr.IntOrString']);
      expect(schemas['io.k8s.api.core.v1.PodSpec']).to.not.have.property('x-kubernetes-group-version-kind');
      expect(schemas['io.k8s.api.core.v1.Pod']!.properties.metadata).to.deep.include({ $ref: `#/components/schemas/${META}.ObjectMeta` });
    });

    it('carries the strategic-merge metadata kubectl computes patches with', () => {
      const containers = schemas['io.k8s.api.core.v1.PodSpec']!.properties.containers;
      expect(containers).to.deep.include({ type: 'array', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' });
      expect(containers.items).to.deep.equal({ $ref: '#/components/schemas/io.k8s.api.core.v1.Container' });
      expect(schemas['io.k8s.api.core.v1.Container']!.properties.ports).to.deep.include({ 'x-kubernetes-patch-merge-key': 'containerPort' });
      expect(schemas['io.k8s.api.core.v1.ResourceRequirements']!.properties.limits.additionalProperties).to.deep.equal({ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' });
    });

    it("carries kube's descriptions and required fields (what kubectl explain prints)", () => {
      expect(schemas['io.k8s.api.core.v1.Pod']!.description).to.match(/^Pod is a collection of containers/);
      expect(schemas['io.k8s.api.core.v1.PodSpec']!.properties.containers.description).to.match(/List of containers belonging to the pod/);
      expect(schemas['io.k8s.api.core.v1.PodSpec']!.required).to.include('containers');
      expect(schemas['io.k8s.api.core.v1.Container']!.required).to.deep.equal(['name']);
    });

    it('declares fieldValidation and the patch types on PATCH operations, tagged with the GVK', () => {
      const patch = operation(doc, '/api/v1/namespaces/{namespace}/pods/{name}', 'patch');
      expect(patch['x-kubernetes-group-version-kind']).to.deep.equal({ group: '', kind: 'Pod', version: 'v1' });
      expect(patch['x-kubernetes-action']).to.equal('patch');
      expect(patch.operationId).to.equal('patchCoreV1NamespacedPod');
      expect(patch.parameters.map((p: Json) => p.name)).to.include.members(['fieldValidation', 'fieldManager', 'dryRun', 'force']);
      expect(Object.keys(patch.requestBody.content)).to.have.members([
        'application/apply-patch+yaml',
        'application/json-patch+json',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
      ]);
      expect(patch.responses['200'].content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/io.k8s.api.core.v1.Pod' });
    });

    it('has the collection, item, all-namespaces and subresource paths kubectl looks up', () => {
      const list = operation(doc, '/api/v1/namespaces/{namespace}/pods', 'get');
      expect(list).to.deep.include({ operationId: 'listCoreV1NamespacedPod', 'x-kubernetes-action': 'list' });
      expect(list['x-kubernetes-group-version-kind']).to.deep.equal({ group: '', kind: 'Pod', version: 'v1' });
      expect(operation(doc, '/api/v1/namespaces/{namespace}/pods', 'post').parameters.map((p: Json) => p.name)).to.include('fieldValidation');
      expect(operation(doc, '/api/v1/namespaces/{namespace}/pods', 'delete')['x-kubernetes-action']).to.equal('deletecollection');
      expect(operation(doc, '/api/v1/pods', 'get').operationId).to.equal('listCoreV1PodForAllNamespaces');
      expect(operation(doc, '/api/v1/nodes/{name}', 'put').operationId).to.equal('replaceCoreV1Node');
      expect(operation(doc, '/api/v1/namespaces/{namespace}/pods/{name}/status', 'patch')['x-kubernetes-group-version-kind']).to.deep.equal({ group: '', kind: 'Pod', version: 'v1' });
      expect(operation(doc, '/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/scale', 'put')['x-kubernetes-group-version-kind']).to.deep.equal({ group: 'autoscaling', kind: 'Scale', version: 'v1' });
      expect(operation(doc, '/api/v1/namespaces/{namespace}/pods/{name}/binding', 'post')['x-kubernetes-group-version-kind']).to.deep.equal({ group: '', kind: 'Binding', version: 'v1' });
      expect(operation(doc, '/api/v1/namespaces/{namespace}/pods/{name}/log', 'get').responses['200'].content).to.have.property('text/plain');
      expect(operation(doc, '/api/v1/namespaces/{name}/finalize', 'put').operationId).to.equal('replaceCoreV1NamespaceFinalize');
      expect(doc.paths['/api/v1/namespaces/{name}']).to.not.have.property('post');
      // Namespaces have no deletecollection; Bindings are create-only.
      expect(doc.paths['/api/v1/namespaces']).to.not.have.property('delete');
      expect(Object.keys(doc.paths['/api/v1/namespaces/{namespace}/bindings']!)).to.have.members(['post', 'parameters']);
      expect((doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'] as Json).parameters.map((p: Json) => p.name)).to.deep.equal(['name', 'namespace', 'pretty']);
    });

    it('documents each built-in group on its own', () => {
      const leases = openapiV3Document(types, 'apis/coordination.k8s.io/v1')!;
      expectRefsResolve(leases);
      expect(leases.components.schemas['io.k8s.api.coordination.v1.Lease']!['x-kubernetes-group-version-kind']).to.deep.equal([{ group: 'coordination.k8s.io', kind: 'Lease', version: 'v1' }]);
      expect(Object.keys(leases.paths)).to.deep.equal(['/apis/coordination.k8s.io/v1/leases', '/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases', '/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}']);
      expect(leases.components.schemas).to.not.have.property('io.k8s.api.core.v1.Pod');
      const crds = openapiV3Document(types, 'apis/apiextensions.k8s.io/v1')!;
      expectRefsResolve(crds);
      const crd = crds.components.schemas['io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition'] as Json;
      expect(crd['x-kubernetes-group-version-kind']).to.deep.equal([{ group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', version: 'v1' }]);
      expect(operation(crds, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}', 'patch').operationId).to.equal('patchApiextensionsV1CustomResourceDefinition');
    });

    it('caches documents per kind set and freezes them', () => {
      expect(openapiV3Document(types, 'api/v1')).to.equal(doc);
      expect(Object.isFrozen(doc)).to.equal(true);
      expect(Object.isFrozen(doc.components.schemas['io.k8s.api.core.v1.Pod'])).to.equal(true);
      // Another set of the same kinds: the same document, the same hash.
      const again = new ResourceTypes(BUILTIN_RESOURCES);
      expect(openapiV3Served(again, 'api/v1')!.hash).to.equal(openapiV3Served(types, 'api/v1')!.hash);
      expect(openapiV3Document(again, 'api/v1')).to.deep.equal(doc);
    });
  });

  describe('v2 document', () => {
    it('is swagger 2.0 with definitions named as kube names them, references resolving', () => {
      const v2 = openapiV2(types);
      expect(v2.swagger).to.equal('2.0');
      expect((v2.definitions['io.k8s.api.core.v1.Pod'] as Json)['x-kubernetes-group-version-kind']).to.deep.equal([{ group: '', kind: 'Pod', version: 'v1' }]);
      for (const [at, ref] of refs(v2)) {
        expect(ref.startsWith('#/definitions/'), `${at}: ${ref}`).to.equal(true);
        expect(v2.definitions, `${at}: ${ref}`).to.have.property(ref.slice('#/definitions/'.length));
      }
      const text = JSON.stringify(v2.definitions);
      expect(text).to.not.match(/"(nullable|oneOf|anyOf)":/);
      expect(v2.definitions['io.k8s.apimachinery.pkg.api.resource.Quantity']).to.deep.include({ type: 'string' });
      expect(v2.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).to.deep.include({ type: 'string', format: 'int-or-string' });
      expect(Object.keys(v2.paths)).to.include.members(['/api/v1/namespaces/{namespace}/pods/{name}', '/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases']);
      const create = operation(v2, '/api/v1/namespaces/{namespace}/pods', 'post');
      expect(create.parameters[0]).to.deep.equal({ name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/io.k8s.api.core.v1.Pod' } });
      expect(create.parameters.map((p: Json) => p.name)).to.include('fieldValidation');
      expect(create['x-kubernetes-group-version-kind']).to.deep.equal({ group: '', kind: 'Pod', version: 'v1' });
      expect(operation(v2, '/api/v1/namespaces/{namespace}/pods/{name}', 'patch').consumes).to.include('application/strategic-merge-patch+json');
      expect(JSON.parse(openapiV2Served(types).body)).to.deep.equal(v2);
    });
  });

  describe('custom kinds', () => {
    let kv: MemoryKV;
    let registry: CustomResourceRegistry;
    let client: StoreClient;

    before(async () => {
      kv = new MemoryKV();
      registry = createRegistry(kv);
      client = new StoreClient(registry);
      await client.create(gadgetCRD());
      await registry.crds.waitForKind('example.com/v1', 'Gadget', 5000);
    });

    after(async () => {
      await registry.crds.stop();
      await kv.close();
    });

    it('indexes the CRD group version', () => {
      expect(Object.keys(openapiV3Index(registry.types).paths)).to.deep.equal(['api/v1', 'apis/apiextensions.k8s.io/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1', 'apis/example.com/v1']);
    });

    it("documents the kind with its CRD schema, named by reversed group, tagged with its GVK", () => {
      const doc = openapiV3Document(registry.types, 'apis/example.com/v1')!;
      expectRefsResolve(doc);
      const gadget = doc.components.schemas['com.example.v1.Gadget'] as Json;
      expect(gadget['x-kubernetes-group-version-kind']).to.deep.equal([{ group: 'example.com', kind: 'Gadget', version: 'v1' }]);
      expect(gadget.description).to.equal('A gadget.');
      expect(Object.keys(gadget.properties)).to.deep.equal(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
      expect(gadget.properties.metadata).to.deep.equal({ $ref: `#/components/schemas/${META}.ObjectMeta` });
      expect(gadget.properties.spec).to.deep.equal(GADGET_SCHEMA.properties!.spec);
      const list = doc.components.schemas['com.example.v1.GadgetList'] as Json;
      expect(list['x-kubernetes-group-version-kind']).to.deep.equal([{ group: 'example.com', kind: 'GadgetList', version: 'v1' }]);
      expect(list.properties.items.items).to.deep.equal({ $ref: '#/components/schemas/com.example.v1.Gadget' });
      expect(doc.components.schemas).to.include.keys([`${META}.ObjectMeta`, 'io.k8s.api.autoscaling.v1.Scale']);
      expect(doc.components.schemas).to.not.have.property('io.k8s.api.core.v1.Pod');
    });

    it('offers no strategic merge patch for custom kinds, but server-side field validation', () => {
      const doc = openapiV3Document(registry.types, 'apis/example.com/v1')!;
      const patch = operation(doc, '/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}', 'patch');
      expect(patch.operationId).to.equal('patchExampleComV1NamespacedGadget');
      expect(patch['x-kubernetes-group-version-kind']).to.deep.equal({ group: 'example.com', kind: 'Gadget', version: 'v1' });
      expect(patch.parameters.map((p: Json) => p.name)).to.include('fieldValidation');
      expect(patch.requestBody.content).to.not.have.property('application/strategic-merge-patch+json');
      expect(patch.requestBody.content).to.have.property('application/merge-patch+json');
      expect(operation(doc, '/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}/scale', 'get')['x-kubernetes-group-version-kind']).to.deep.equal({ group: 'autoscaling', kind: 'Scale', version: 'v1' });
      expect(operation(doc, '/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}/status', 'put').operationId).to.equal('replaceExampleComV1NamespacedGadgetStatus');
      expect(operation(doc, '/apis/example.com/v1/gadgets', 'get').operationId).to.equal('listExampleComV1GadgetForAllNamespaces');
    });

    it('converts the CRD schema for swagger 2.0 as kube does', () => {
      const spec = (openapiV2(registry.types).definitions['com.example.v1.Gadget'] as Json).properties.spec;
      expect(spec.properties.port).to.deep.equal({ 'x-kubernetes-int-or-string': true });
      expect(spec.properties.nickname).to.deep.equal({});
      expect(spec.properties.size).to.deep.equal({ type: 'string', description: 'How big.' });
      expect(spec.required).to.deep.equal(['size']);
    });

    it('changes the hash of the CRD group version, and only that one, when the CRD changes', async () => {
      const before = openapiV3Index(registry.types);
      const coreDoc = openapiV3Document(registry.types, 'api/v1');
      const coreHash = openapiV3Served(registry.types, 'api/v1')!.hash;
      const gadgetHash = openapiV3Served(registry.types, 'apis/example.com/v1')!.hash;
      const v2Hash = openapiV2Served(registry.types).hash;
      expect(openapiV3Served(registry.types, 'apis/example.com/v1')!.hash).to.equal(gadgetHash);

      const schema = structuredClone(GADGET_SCHEMA);
      schema.properties!.spec!.properties!.color = { type: 'string' };
      await client.patch(CustomResourceDefinition, 'gadgets.example.com', { spec: gadgetCRD(schema).spec }, { type: 'merge' });
      await waitFor(() => openapiV3Served(registry.types, 'apis/example.com/v1')!.hash !== gadgetHash, { timeoutMs: 5000, what: 'a new hash' });

      const doc = openapiV3Document(registry.types, 'apis/example.com/v1')!;
      expect((doc.components.schemas['com.example.v1.Gadget'] as Json).properties.spec.properties).to.have.property('color');
      const after = openapiV3Index(registry.types);
      expect(after).to.not.equal(before);
      expect(after.paths['apis/example.com/v1']!.serverRelativeURL).to.not.equal(before.paths['apis/example.com/v1']!.serverRelativeURL);
      expect(after.paths['api/v1']).to.deep.equal(before.paths['api/v1']);
      expect(openapiV3Served(registry.types, 'api/v1')!.hash).to.equal(coreHash);
      expect(openapiV3Document(registry.types, 'api/v1'), 'not rebuilt').to.equal(coreDoc);
      expect(openapiV2Served(registry.types).hash).to.not.equal(v2Hash);
    });

    it('drops the group version once the CRD is gone', async () => {
      await client.delete(CustomResourceDefinition, 'gadgets.example.com');
      await waitFor(() => !('apis/example.com/v1' in openapiV3Index(registry.types).paths), { timeoutMs: 5000, what: 'the CRD to go' });
      expect(openapiV3Document(registry.types, 'apis/example.com/v1')).to.equal(undefined);
      expect(Object.keys(openapiV2(registry.types).definitions).filter((name) => name.startsWith('com.example.'))).to.deep.equal([]);
    });
  });
});
