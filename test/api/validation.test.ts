/**
 * Name and metadata validation with kube-apiserver's exact messages: the string checks, object
 * metadata on create and update, and the full 422 text a client would see.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { fieldErrorBody, invalid, type FieldError } from '../../lib/api/errors.js';
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  validateAnnotations,
  validateFinalizers,
  validateLabels,
  validateObjectMeta,
  validateObjectMetaUpdate,
  validateOwnerReferences,
  validatePathSegmentName,
} from '../../lib/api/validation.js';

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

const texts = (errs: FieldError[]) => errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);

describe('name checks', () => {
  const cases: Array<[check: (v: string) => string[], input: string, expected: string[]]> = [
    [isDNS1123Subdomain, 'example.com', []],
    [isDNS1123Subdomain, 'a', []],
    [isDNS1123Subdomain, 'Example', [SUBDOMAIN_MSG]],
    [isDNS1123Subdomain, 'a..b', [SUBDOMAIN_MSG]],
    [isDNS1123Subdomain, '-a', [SUBDOMAIN_MSG]],
    [isDNS1123Subdomain, '', [SUBDOMAIN_MSG]],
    [isDNS1123Subdomain, 'a'.repeat(253), []],
    [isDNS1123Subdomain, 'a'.repeat(254), ['must be no more than 253 characters']],
    [isDNS1123Label, 'my-name', []],
    [isDNS1123Label, '123', []],
    [isDNS1123Label, 'a.b', ['must not contain dots']],
    [isDNS1123Label, 'a_b', [LABEL_MSG]],
    [isDNS1123Label, 'a'.repeat(64), ['must be no more than 63 characters']],
    [isDNS1123Label, `A${'a'.repeat(63)}`, ['must be no more than 63 characters', LABEL_MSG]],
    [isDNS1035Label, 'web', []],
    [isDNS1035Label, '1web', [DNS1035_MSG]],
    [isQualifiedName, 'app', []],
    [isQualifiedName, 'My_Name.1', []],
    [isQualifiedName, 'example.com/MyName', []],
    [isQualifiedName, '', ['name part must be non-empty', NAME_PART_MSG]],
    [isQualifiedName, 'example.com/', ['name part must be non-empty', NAME_PART_MSG]],
    [isQualifiedName, '/a', ['prefix part must be non-empty']],
    [isQualifiedName, 'Example.com/a', [`prefix part ${SUBDOMAIN_MSG}`]],
    [isQualifiedName, 'a'.repeat(64), ['name part must be no more than 63 characters']],
    [isQualifiedName, '-a', [NAME_PART_MSG]],
    [
      isQualifiedName,
      'a/b/c',
      [
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ],
    ],
    [isValidLabelValue, '', []],
    [isValidLabelValue, 'My_value-1.2', []],
    [isValidLabelValue, 'a b', [LABEL_VALUE_MSG]],
    [isValidLabelValue, 'é', [LABEL_VALUE_MSG]],
    [isValidLabelValue, 'a'.repeat(64), ['must be no more than 63 characters']],
  ];
  for (const [check, input, expected] of cases) {
    it(`${check.name}(${JSON.stringify(input.length > 20 ? `${input.slice(0, 8)}…(${input.length})` : input)}) → ${expected.length ? 'invalid' : 'valid'}`, () => {
      expect(check(input)).to.deep.equal(expected);
    });
  }

  it('counts length in UTF-8 bytes, as Go does', () => {
    expect(isValidLabelValue('é'.repeat(32))).to.include('must be no more than 63 characters');
  });

  it('accepts a generateName ending in a dash, and rejects it as a name', () => {
    expect(nameIsDNSSubdomain('web-', true)).to.deep.equal([]);
    expect(nameIsDNSSubdomain('web-', false)).to.deep.equal([SUBDOMAIN_MSG]);
    expect(nameIsDNSLabel('a.b-', true)).to.deep.equal(['must not contain dots']);
  });

  it('checks path segment names', () => {
    expect(validatePathSegmentName('ok:name', false)).to.deep.equal([]);
    expect(validatePathSegmentName('.', false)).to.deep.equal(["may not be '.'"]);
    expect(validatePathSegmentName('..', true)).to.deep.equal([]);
    expect(validatePathSegmentName('a/b%c', false)).to.deep.equal(["may not contain '/'", "may not contain '%'"]);
  });

  it('agrees with the DNS-1123 subdomain grammar on generated names', () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), (labels) => {
        expect(isDNS1123Subdomain(labels.join('.'))).to.deep.equal([]);
        expect(isDNS1123Subdomain(`${labels.join('.')}.`)).to.deep.equal([SUBDOMAIN_MSG]);
        expect(isQualifiedName(`${labels.join('.')}/Name`)).to.deep.equal([]);
      }),
    );
  });
});

describe('metadata maps and lists', () => {
  it('validates labels, with causes on the map itself', () => {
    expect(validateLabels({ app: 'web', 'example.com/tier': '' }, 'metadata.labels')).to.deep.equal([]);
    expect(texts(validateLabels({ 'a b': 'x y' }, 'metadata.labels'))).to.deep.equal([
      `metadata.labels: Invalid value: "a b": ${NAME_PART_MSG}`,
      `metadata.labels: Invalid value: "x y": ${LABEL_VALUE_MSG}`,
    ]);
  });

  it('validates annotation keys case-insensitively and their total size', () => {
    expect(validateAnnotations({ 'Example.COM/Key': 'anything at all: {}' }, 'metadata.annotations')).to.deep.equal([]);
    expect(texts(validateAnnotations({ 'a b': '' }, 'metadata.annotations'))).to.deep.equal([`metadata.annotations: Invalid value: "a b": ${NAME_PART_MSG}`]);
    expect(texts(validateAnnotations({ k: 'x'.repeat(262143) }, 'metadata.annotations'))).to.deep.equal([]);
    expect(texts(validateAnnotations({ k: 'x'.repeat(262144) }, 'metadata.annotations'))).to.deep.equal([
      'metadata.annotations: Too long: may not be more than 262144 bytes',
    ]);
  });

  it('validates owner references like kube', () => {
    const ok = { apiVersion: 'v1', kind: 'ReplicationController', name: 'rc', uid: 'u1', controller: true };
    expect(validateOwnerReferences([ok], 'metadata.ownerReferences')).to.deep.equal([]);
    expect(texts(validateOwnerReferences([{ apiVersion: 'apps/', kind: '', name: '', uid: '' }], 'metadata.ownerReferences'))).to.deep.equal([
      'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
      'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
      'metadata.ownerReferences.name: Invalid value: "": must not be empty',
      'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ]);
    const two = validateOwnerReferences([ok, { ...ok, kind: 'Node', name: 'n1' }], 'metadata.ownerReferences');
    expect(two).to.have.length(1);
    expect(two[0]!.detail).to.equal('Only one reference can have Controller set to true. Found "true" in references for ReplicationController/rc and Node/n1');
    expect(validateOwnerReferences([{ ...ok, kind: 'Event', controller: false }], 'm')[0]!.detail).to.equal('/v1, Kind=Event is disallowed from being an owner');
  });

  it('validates finalizers', () => {
    expect(validateFinalizers(['kubernetes', 'example.com/cleanup'], 'metadata.finalizers')).to.deep.equal([]);
    expect(texts(validateFinalizers(['orphan', 'foregroundDeletion'], 'metadata.finalizers'))).to.deep.equal([
      'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set',
    ]);
    expect(validateFinalizers(['bad finalizer'], 'metadata.finalizers')[0]!.field).to.equal('metadata.finalizers');
  });
});

describe('validateObjectMeta', () => {
  it('accepts valid metadata', () => {
    expect(validateObjectMeta({ name: 'web-1', namespace: 'default', labels: { app: 'web' } }, { namespaced: true })).to.deep.equal([]);
    expect(validateObjectMeta({ generateName: 'web-', namespace: 'default' }, { namespaced: true })).to.deep.equal([]);
    expect(validateObjectMeta({ name: 'node-1', namespace: 'ignored' }, { namespaced: false })).to.deep.equal([]);
  });

  it('requires a name or generateName, and a namespace for namespaced kinds', () => {
    expect(texts(validateObjectMeta({}, { namespaced: true }))).to.deep.equal([
      'metadata.name: Required value: name or generateName is required',
      'metadata.namespace: Required value',
    ]);
  });

  it('checks names with the kind\'s validator and namespaces as DNS labels', () => {
    expect(texts(validateObjectMeta({ name: 'a.b', namespace: 'Bad' }, { namespaced: true, nameValidator: nameIsDNSLabel }))).to.deep.equal([
      'metadata.name: Invalid value: "a.b": must not contain dots',
      `metadata.namespace: Invalid value: "Bad": ${LABEL_MSG}`,
    ]);
    expect(texts(validateObjectMeta({ generateName: 'Web-', name: 'Web-x1' }, { namespaced: false }))).to.deep.equal([
      `metadata.generateName: Invalid value: "Web-": ${SUBDOMAIN_MSG}`,
      `metadata.name: Invalid value: "Web-x1": ${SUBDOMAIN_MSG}`,
    ]);
    expect(texts(validateObjectMeta({ name: 'n', generation: -1 }, { namespaced: false }))).to.deep.equal([
      'metadata.generation: Invalid value: -1: must be greater than or equal to 0',
    ]);
  });

  it('renders as kube-apiserver\'s 422 message', () => {
    const err = invalid('Pod', '', 'Web', validateObjectMeta({ name: 'Web', namespace: 'default' }, { namespaced: true }));
    expect(err.code).to.equal(422);
    expect(err.message).to.equal(`Pod "Web" is invalid: metadata.name: Invalid value: "Web": ${SUBDOMAIN_MSG}`);
    expect(err.details?.causes).to.deep.equal([{ reason: 'FieldValueInvalid', message: `Invalid value: "Web": ${SUBDOMAIN_MSG}`, field: 'metadata.name' }]);
  });
});

describe('validateObjectMetaUpdate', () => {
  const old = { name: 'a', namespace: 'n', uid: 'u1', resourceVersion: '5', generation: 2, creationTimestamp: '2024-01-01T00:00:00Z' };

  it('accepts an update that keeps the identity fields', () => {
    expect(validateObjectMetaUpdate({ ...old, labels: { x: 'y' }, generation: 3 }, old)).to.deep.equal([]);
    expect(validateObjectMetaUpdate({ ...old, creationTimestamp: '2024-01-01T00:00:00.000Z' }, old)).to.deep.equal([]);
  });

  it('rejects changes to immutable fields, a lower generation and a missing resourceVersion', () => {
    const next = { name: 'b', namespace: 'm', uid: 'u2', generation: 1, creationTimestamp: '2024-02-01T00:00:00Z', deletionGracePeriodSeconds: 30 };
    expect(texts(validateObjectMetaUpdate(next, old))).to.deep.equal([
      'metadata.resourceVersion: Invalid value: "": must be specified for an update',
      'metadata.generation: Invalid value: 1: must not be decremented',
      'metadata.name: Invalid value: "b": field is immutable',
      'metadata.namespace: Invalid value: "m": field is immutable',
      'metadata.uid: Invalid value: "u2": field is immutable',
      'metadata.creationTimestamp: Invalid value: "2024-02-01T00:00:00Z": field is immutable',
      'metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable',
    ]);
  });

  it('forbids new finalizers once the object is being deleted', () => {
    const deleting = { ...old, deletionTimestamp: '2024-03-01T00:00:00Z', finalizers: ['a'] };
    expect(validateObjectMetaUpdate({ ...deleting, finalizers: [] }, deleting)).to.deep.equal([]);
    expect(texts(validateObjectMetaUpdate({ ...deleting, finalizers: ['a', 'z', 'b'] }, deleting))).to.deep.equal([
      'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b", "z"}',
    ]);
    expect(texts(validateObjectMetaUpdate({ ...deleting, deletionTimestamp: undefined }, deleting))).to.deep.equal([
      'metadata.deletionTimestamp: Invalid value: null: field is immutable',
    ]);
  });
});
