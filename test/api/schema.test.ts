/**
 * The structural schemas of the built-in kinds (derived from @kubernetes/client-node's model
 * metadata): every kind builds, the corrections of client-node's types are applied, and the
 * strategic-merge-patch metadata of k8s.io/api is on the list nodes.
 */
import { expect } from 'chai';
import { BUILTIN_RESOURCES } from '../../lib/api/kinds.js';
import { apiVersionOf } from '../../lib/api/resources.js';
import {
  base64Error,
  builtinSchemaKinds,
  canonicalNumberQuantity,
  objectMetaSchema,
  quantityError,
  QUANTITY_FORMAT_ERROR,
  schemaForKind,
  schemaForModel,
  timeError,
  type StructuralSchema,
} from '../../lib/api/schema.js';

/** Follows `a.b[].c{}` style steps: a name is a property, `[]` the items, `{}` the map values. */
function at(schema: StructuralSchema | undefined, path: string): StructuralSchema {
  let node = schema;
  for (const step of path.split('.')) {
    const name = step.replace(/(\[\]|\{\})+$/, '');
    if (name) node = node?.properties?.[name];
    for (const suffix of step.slice(name.length).match(/\[\]|\{\}/g) ?? []) {
      node = suffix === '[]' ? node?.items : (node?.additionalProperties as StructuralSchema | undefined);
    }
  }
  if (!node) throw new Error(`no schema node at ${path}`);
  return node;
}

describe('api/schema', () => {
  const pod = () => schemaForKind('v1', 'Pod');

  it('builds the schema of every built-in kind, its list, and the meta kinds', () => {
    for (const info of BUILTIN_RESOURCES) {
      const schema = schemaForKind(apiVersionOf(info), info.kind);
      expect(schema, `${info.kind}`).to.not.equal(undefined);
      expect(schema?.type).to.equal('object');
      expect(Object.keys(schema?.properties ?? {})).to.include.members(['apiVersion', 'kind', 'metadata']);
      if (info.kind !== 'Binding') expect(schemaForKind(apiVersionOf(info), info.listKind)?.properties?.items?.type).to.equal('array');
    }
    const all = builtinSchemaKinds();
    expect(all).to.deep.include({ apiVersion: 'v1', kind: 'Status' });
    expect(all).to.deep.include({ apiVersion: 'autoscaling/v1', kind: 'Scale' });
    for (const { apiVersion, kind } of all) expect(schemaForKind(apiVersion, kind), kind).to.not.equal(undefined);
  });

  it('answers undefined for kinds it does not build in', () => {
    expect(schemaForKind('v1', 'Deployment')).to.equal(undefined);
    expect(schemaForKind('apps/v1', 'Pod')).to.equal(undefined);
    expect(schemaForKind('example.com/v1', 'Widget')).to.equal(undefined);
    expect(() => schemaForModel('../../etc/passwd')).to.throw(/not a client-node model name/);
  });

  it('caches, shares and freezes nodes', () => {
    expect(pod()).to.equal(schemaForKind('v1', 'Pod'));
    expect(at(pod(), 'spec')).to.equal(at(schemaForKind('v1', 'ReplicationController'), 'spec.template.spec'));
    expect(at(pod(), 'metadata')).to.equal(objectMetaSchema());
    expect(Object.isFrozen(at(pod(), 'spec.containers'))).to.equal(true);
  });

  it('maps client-node types to OpenAPI types and formats', () => {
    expect(at(pod(), 'spec.containers[].ports[].containerPort')).to.deep.equal({ type: 'integer', format: 'int32' });
    expect(at(pod(), 'metadata.generation')).to.deep.equal({ type: 'integer', format: 'int64' });
    expect(at(pod(), 'spec.hostNetwork')).to.deep.equal({ type: 'boolean' });
    expect(at(pod(), 'metadata.labels')).to.deep.equal({ type: 'object', additionalProperties: { type: 'string' } });
    expect(at(pod(), 'spec.containers[].command')).to.deep.equal({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'atomic' });
    expect(at(pod(), 'metadata.managedFields[].fieldsV1')).to.deep.equal({ 'x-kubernetes-preserve-unknown-fields': true });
  });

  it('makes timestamps nullable date-time strings (Time and MicroTime)', () => {
    const time = { type: 'string', format: 'date-time', nullable: true };
    expect(at(pod(), 'metadata.creationTimestamp')).to.deep.equal(time);
    expect(at(pod(), 'metadata.deletionTimestamp')).to.deep.equal(time);
    expect(at(schemaForKind('coordination.k8s.io/v1', 'Lease'), 'spec.renewTime')).to.deep.equal(time);
    expect(at(schemaForKind('v1', 'Event'), 'eventTime')).to.deep.equal(time);
  });

  it('makes resource quantities int-or-string "quantity" nodes', () => {
    const quantity = { 'x-kubernetes-int-or-string': true, format: 'quantity' };
    expect(at(pod(), 'spec.containers[].resources.limits{}')).to.deep.equal(quantity);
    expect(at(pod(), 'spec.initContainers[].resources.requests{}')).to.deep.equal(quantity);
    expect(at(pod(), 'spec.overhead{}')).to.deep.equal(quantity);
    expect(at(pod(), 'spec.volumes[].emptyDir.sizeLimit')).to.deep.equal(quantity);
    expect(at(schemaForKind('v1', 'Node'), 'status.capacity{}')).to.deep.equal(quantity);
    expect(at(schemaForKind('v1', 'Node'), 'status.allocatable{}')).to.deep.equal(quantity);
  });

  it('marks int-or-string fields, byte strings, and the CRD schema as kept as is', () => {
    expect(at(schemaForKind('v1', 'Service'), 'spec.ports[].targetPort')).to.deep.equal({ 'x-kubernetes-int-or-string': true });
    expect(at(pod(), 'spec.containers[].livenessProbe.httpGet.port')).to.deep.equal({ 'x-kubernetes-int-or-string': true });
    expect(at(schemaForKind('v1', 'Secret'), 'data{}')).to.deep.equal({ type: 'string', format: 'byte' });
    expect(at(schemaForKind('v1', 'ConfigMap'), 'binaryData{}')).to.deep.equal({ type: 'string', format: 'byte' });
    expect(at(schemaForKind('v1', 'ConfigMap'), 'data{}')).to.deep.equal({ type: 'string' });
    const crd = schemaForKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
    expect(at(crd, 'spec.versions[].schema.openAPIV3Schema')).to.deep.equal({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    expect(JSON.stringify(crd).length).to.be.lessThan(100_000);
  });

  it('carries the strategic merge patch keys and strategies of k8s.io/api', () => {
    const merge = (node: StructuralSchema) => [node['x-kubernetes-patch-merge-key'], node['x-kubernetes-patch-strategy']];
    expect(merge(at(pod(), 'spec.containers'))).to.deep.equal(['name', 'merge']);
    expect(merge(at(pod(), 'spec.initContainers'))).to.deep.equal(['name', 'merge']);
    expect(merge(at(pod(), 'spec.containers[].ports'))).to.deep.equal(['containerPort', 'merge']);
    expect(merge(at(pod(), 'spec.containers[].env'))).to.deep.equal(['name', 'merge']);
    expect(merge(at(pod(), 'spec.containers[].volumeMounts'))).to.deep.equal(['mountPath', 'merge']);
    expect(merge(at(pod(), 'spec.volumes'))).to.deep.equal(['name', 'merge,retainKeys']);
    expect(merge(at(pod(), 'spec.imagePullSecrets'))).to.deep.equal(['name', 'merge']);
    expect(merge(at(pod(), 'status.conditions'))).to.deep.equal(['type', 'merge']);
    expect(merge(at(pod(), 'metadata.ownerReferences'))).to.deep.equal(['uid', 'merge']);
    expect(merge(at(pod(), 'metadata.finalizers'))).to.deep.equal([undefined, 'merge']);
    expect(merge(at(pod(), 'spec.tolerations'))).to.deep.equal([undefined, undefined]);
    expect(merge(at(schemaForKind('v1', 'Service'), 'spec.ports'))).to.deep.equal(['port', 'merge']);
    expect(merge(at(schemaForKind('v1', 'Node'), 'status.addresses'))).to.deep.equal(['type', 'merge']);
    expect(merge(at(schemaForKind('v1', 'Node'), 'status.conditions'))).to.deep.equal(['type', 'merge']);
    expect(merge(at(schemaForKind('v1', 'Node'), 'spec.taints'))).to.deep.equal([undefined, undefined]);
    expect(merge(at(schemaForKind('v1', 'ReplicationController'), 'status.conditions'))).to.deep.equal(['type', 'merge']);
    expect(merge(at(schemaForKind('v1', 'ReplicationController'), 'spec.template.spec.containers'))).to.deep.equal(['name', 'merge']);
  });

  it('carries list types and list-map keys', () => {
    const list = (node: StructuralSchema) => [node['x-kubernetes-list-type'], node['x-kubernetes-list-map-keys']];
    expect(list(at(pod(), 'spec.containers'))).to.deep.equal(['map', ['name']]);
    expect(list(at(pod(), 'spec.containers[].ports'))).to.deep.equal(['map', ['containerPort', 'protocol']]);
    expect(list(at(schemaForKind('v1', 'Service'), 'spec.ports'))).to.deep.equal(['map', ['port', 'protocol']]);
    expect(list(at(pod(), 'metadata.finalizers'))).to.deep.equal(['set', undefined]);
    expect(list(at(pod(), 'spec.tolerations'))).to.deep.equal(['atomic', undefined]);
  });

  describe('value formats', () => {
    it('parses quantities as resource.ParseQuantity does', () => {
      for (const ok of ['1', '0', '100m', '1.5', '1Gi', '512Mi', '1e3', '1E-3', '+2k', '-1', '.5', ' 2 ', '1.']) expect(quantityError(ok), ok).to.equal(undefined);
      for (const bad of ['', 'abc', '1Mb', '1.5.5', 'true', '{}', '1 Gi']) expect(quantityError(bad), bad).to.equal(QUANTITY_FORMAT_ERROR);
      for (const bad of ['1Ki1', '1mi', '1e']) expect(quantityError(bad), bad).to.equal("unable to parse quantity's suffix");
    });

    it('renders numeric quantities canonically', () => {
      const cases: [number, string][] = [[0.5, '500m'], [1, '1'], [1000, '1k'], [1500, '1500'], [0.1, '100m'], [2e-10, '1e-9'], [1.0000000001, '1000000001n'], [1e21, '1e21'], [0, '0'], [-2, '-2'], [1200000, '1200k']];
      for (const [n, text] of cases) expect(canonicalNumberQuantity(n), String(n)).to.equal(text);
    });

    it("checks times with Go's time.Parse semantics and messages", () => {
      for (const ok of ['2024-01-01T00:00:00Z', '2024-02-29T23:59:59.123+02:00', '2024-01-01T1:00:00Z']) expect(timeError(ok), ok).to.equal(undefined);
      expect(timeError('abc')).to.equal('parsing time "abc" as "2006-01-02T15:04:05Z07:00": cannot parse "abc" as "2006"');
      expect(timeError('2024-01-01')).to.equal('parsing time "2024-01-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"');
      expect(timeError('2024-13-01T00:00:00Z')).to.equal('parsing time "2024-13-01T00:00:00Z": month out of range');
      expect(timeError('2023-02-29T00:00:00Z')).to.equal('parsing time "2023-02-29T00:00:00Z": day out of range');
      expect(timeError('2024-01-01T00:00:00Zjunk')).to.equal('parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk"');
      expect(timeError('2024-01-01T00:00:00.123456Z', true)).to.equal(undefined);
      expect(timeError('2024-01-01T00:00:00Z', true)).to.equal(
        'parsing time "2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"',
      );
    });

    it("checks base64 with Go's StdEncoding errors", () => {
      for (const ok of ['', 'aGVsbG8=', 'aGk=', 'YWJj', 'aGVs\nbG8=']) expect(base64Error(ok), ok).to.equal(undefined);
      expect(base64Error('abc')).to.equal('illegal base64 data at input byte 0');
      expect(base64Error('ab!d')).to.equal('illegal base64 data at input byte 2');
      expect(base64Error('aGk=x')).to.equal('illegal base64 data at input byte 4');
      expect(base64Error('a===')).to.equal('illegal base64 data at input byte 1');
    });
  });
});
