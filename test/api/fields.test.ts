/**
 * Field selectors as kube-apiserver understands them: parsing and escaping, matching, which
 * fields each kind supports (with kube's 400 for the others) and what they hold for an object.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ApiError } from '../../lib/api/errors.js';
import {
  FieldSelector,
  escapeFieldValue,
  fieldSelectorFromSet,
  fieldsOf,
  parseFieldSelector,
  supportedFieldLabels,
  unescapeFieldValue,
  validateFieldSelector,
} from '../../lib/api/fields.js';

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected an ApiError');
}

describe('parseFieldSelector', () => {
  const valid: Array<[input: string, canonical: string, requirements: Array<[string, '=' | '!=', string]>]> = [
    ['', '', []],
    [',,', '', []],
    ['a=b', 'a=b', [['a', '=', 'b']]],
    ['a==b', 'a=b', [['a', '=', 'b']]],
    ['a!=b', 'a!=b', [['a', '!=', 'b']]],
    ['a=', 'a=', [['a', '=', '']]],
    ['b=1,a=2', 'a=2,b=1', [['a', '=', '2'], ['b', '=', '1']]],
    ['spec.nodeName=n1,status.phase!=Failed', 'spec.nodeName=n1,status.phase!=Failed', [['spec.nodeName', '=', 'n1'], ['status.phase', '!=', 'Failed']]],
    ['a=x\\,y\\=z\\\\', 'a=x\\,y\\=z\\\\', [['a', '=', 'x,y=z\\']]],
    ['a!b=c', 'a!b=c', [['a!b', '=', 'c']]],
    [' a = b ', ' a = b ', [[' a ', '=', ' b ']]],
  ];
  for (const [input, canonical, requirements] of valid) {
    it(`parses ${JSON.stringify(input)}`, () => {
      const selector = parseFieldSelector(input);
      expect(selector.requirements.map((r) => [r.field, r.operator, r.value])).to.deep.equal(requirements);
      expect(selector.toString()).to.equal(canonical);
    });
  }

  const invalid: Array<[input: string, message: string]> = [
    ['a', "invalid selector: 'a'; can't understand 'a'"],
    ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'"],
    ['a=b=c', 'invalid field selector: unescaped character in value: 61'],
    ['a=!=b', 'invalid field selector: unescaped character in value: 61'],
    ['a=x\\y', 'invalid field selector: invalid escape sequence: \\y'],
    ['a=x\\', 'invalid field selector: invalid escape sequence: \\'],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input)} with a 400`, () => {
      const err = errorOf(() => parseFieldSelector(input));
      expect(err.code).to.equal(400);
      expect(err.message).to.equal(message);
    });
  }

  it('round-trips any value through escaping', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (value, other) => {
        expect(unescapeFieldValue(escapeFieldValue(value))).to.equal(value);
        const selector = parseFieldSelector(`f=${escapeFieldValue(value)},g!=${escapeFieldValue(other)}`);
        expect(selector.matches({ f: value, g: `${other}x` })).to.equal(true);
        expect(parseFieldSelector(selector.toString()).toString()).to.equal(selector.toString());
      }),
      { numRuns: 300 },
    );
  });
});

describe('FieldSelector', () => {
  it('treats a missing field as the empty string', () => {
    expect(parseFieldSelector('a=').matches({})).to.equal(true);
    expect(parseFieldSelector('a!=x').matches({})).to.equal(true);
    expect(parseFieldSelector('a=x').matches(undefined)).to.equal(false);
    expect(parseFieldSelector('constructor=').matches({})).to.equal(true);
  });

  it('ANDs its terms and reports exact matches for indexes', () => {
    const s = parseFieldSelector('spec.nodeName=n1,status.phase!=Failed');
    expect(s.matches({ 'spec.nodeName': 'n1', 'status.phase': 'Running' })).to.equal(true);
    expect(s.matches({ 'spec.nodeName': 'n1', 'status.phase': 'Failed' })).to.equal(false);
    expect(s.requiresExactMatch('spec.nodeName')).to.equal('n1');
    expect(s.requiresExactMatch('status.phase')).to.equal(undefined);
    expect(FieldSelector.everything().isEmpty()).to.equal(true);
    expect(fieldSelectorFromSet({ 'metadata.name': 'a,b' }).toString()).to.equal('metadata.name=a\\,b');
  });
});

describe('field selectors per kind', () => {
  const pod = {
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { nodeName: 'n1', restartPolicy: 'Always', schedulerName: 'default-scheduler', serviceAccountName: 'default', containers: [] },
    status: { phase: 'Running', podIP: '10.0.0.9', podIPs: [{ ip: '10.0.0.9' }, { ip: 'fd00::9' }] },
  };

  it('extracts the fields kube-apiserver selects pods by', () => {
    expect(fieldsOf('Pod', pod)).to.deep.equal({
      'metadata.name': 'web-1',
      'metadata.namespace': 'default',
      'spec.nodeName': 'n1',
      'spec.restartPolicy': 'Always',
      'spec.schedulerName': 'default-scheduler',
      'spec.serviceAccountName': 'default',
      'spec.hostNetwork': 'false',
      'status.phase': 'Running',
      'status.podIP': '10.0.0.9',
      'status.nominatedNodeName': '',
    });
    expect(fieldsOf('Pod', { spec: { hostNetwork: true } })['spec.hostNetwork']).to.equal('true');
  });

  it('extracts the fields of other built-in kinds', () => {
    expect(fieldsOf('Node', { metadata: { name: 'n1' }, spec: { unschedulable: true } })).to.deep.equal({ 'metadata.name': 'n1', 'spec.unschedulable': 'true' });
    expect(fieldsOf('Namespace', { metadata: { name: 'ns' }, status: { phase: 'Active' } })).to.deep.equal({ 'metadata.name': 'ns', 'status.phase': 'Active' });
    expect(fieldsOf('ReplicationController', { metadata: { name: 'rc', namespace: 'd' }, status: { replicas: 3 } })['status.replicas']).to.equal('3');
    expect(fieldsOf('ReplicationController', { metadata: { name: 'rc', namespace: 'd' } })['status.replicas']).to.equal('0');
    expect(fieldsOf('Secret', { metadata: { name: 's', namespace: 'd' }, type: 'Opaque' })['type']).to.equal('Opaque');
    expect(fieldsOf('Service', { metadata: { name: 's', namespace: 'd' }, spec: { clusterIP: '10.96.0.1', type: 'ClusterIP' } })).to.deep.equal({
      'metadata.name': 's',
      'metadata.namespace': 'd',
      'spec.clusterIP': '10.96.0.1',
      'spec.type': 'ClusterIP',
    });
    const event = fieldsOf('Event', {
      metadata: { name: 'e', namespace: 'd' },
      involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'd', uid: 'u1', apiVersion: 'v1', resourceVersion: '7', fieldPath: 'spec.containers{c}' },
      reason: 'Started',
      type: 'Normal',
      reportingComponent: 'kubelet',
    });
    expect(event['involvedObject.fieldPath']).to.equal('spec.containers{c}');
    expect(event['source']).to.equal('kubelet');
    expect(fieldsOf('ConfigMap', { metadata: { name: 'c', namespace: 'd' }, data: { a: 'b' } })).to.deep.equal({ 'metadata.name': 'c', 'metadata.namespace': 'd' });
  });

  it('accepts the supported labels and converts the legacy spec.host', () => {
    expect(validateFieldSelector('Pod', 'spec.nodeName=n1,status.phase=Running').toString()).to.equal('spec.nodeName=n1,status.phase=Running');
    expect(validateFieldSelector('Pod', 'spec.host=n1').toString()).to.equal('spec.nodeName=n1');
    expect(validateFieldSelector('Pod', 'status.podIPs=10.0.0.9').matches(fieldsOf('Pod', pod))).to.equal(false);
    expect(validateFieldSelector('Event', parseFieldSelector('involvedObject.uid=u1')).isEmpty()).to.equal(false);
    expect(supportedFieldLabels('Node')).to.deep.equal(['metadata.name', 'spec.unschedulable']);
  });

  const rejected: Array<[kind: Parameters<typeof validateFieldSelector>[0], selector: string, message: string]> = [
    ['Pod', 'spec.foo=x', 'field label not supported: spec.foo'],
    ['Node', 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
    ['Namespace', 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
    ['Secret', 'data=x', 'field label not supported: data'],
    ['ConfigMap', 'data.a=b', '"data.a" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    [{ group: 'coordination.k8s.io', kind: 'Lease', namespaced: true }, 'spec.holderIdentity=x', '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    [{ group: 'keelson.dev', kind: 'VirtualIP', namespaced: false }, 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
    [{ group: 'keelson.dev', kind: 'Widget', namespaced: true }, 'spec.size=1', 'field label not supported: spec.size'],
    ['Widget', 'spec.size=1', 'field label not supported: spec.size'],
  ];
  for (const [kind, selector, message] of rejected) {
    it(`rejects ${JSON.stringify(selector)} for ${typeof kind === 'string' ? kind : kind.kind} with kube's 400`, () => {
      const err = errorOf(() => validateFieldSelector(kind, selector));
      expect(err.code).to.equal(400);
      expect(err.reason).to.equal('BadRequest');
      expect(err.message).to.equal(message);
    });
  }

  it('lets kinds without their own table select by namespace, as kube does', () => {
    expect(validateFieldSelector({ group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', namespaced: false }, 'metadata.namespace=').toString()).to.equal('metadata.namespace=');
    expect(validateFieldSelector({ group: 'keelson.dev', kind: 'Widget', namespaced: true }, 'metadata.namespace=d,metadata.name=w').isEmpty()).to.equal(false);
    expect(fieldsOf({ group: 'keelson.dev', kind: 'VirtualIP', namespaced: false }, { metadata: { name: 'vip' } })).to.deep.equal({ 'metadata.name': 'vip' });
  });
});
