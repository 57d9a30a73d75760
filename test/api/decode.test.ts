/**
 * Decoding request bodies as kube-apiserver does: round trips, pruning of unknown fields (with
 * kube's warning paths), field validation modes, Go's type-error messages, null handling,
 * kind/apiVersion checks, and custom-resource pruning.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { decodeObject, findDuplicates, type DecodeOptions } from '../../lib/api/decode.js';
import { ApiError } from '../../lib/api/errors.js';
import type { StructuralSchema } from '../../lib/api/schema.js';

const POD = { apiVersion: 'v1', kind: 'Pod' };
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function fails(body: unknown, expected = POD, options?: DecodeOptions): ApiError {
  try {
    decodeObject(body, expected, options);
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected decodeObject to fail');
}

function badRequest(body: unknown, message: string, expected = POD, options?: DecodeOptions): void {
  const err = fails(body, expected, options);
  expect(err.code).to.equal(400);
  expect(err.reason).to.equal('BadRequest');
  expect(err.message).to.equal(message);
}

const podOf = (spec: unknown, extra: Record<string, unknown> = {}) => ({ ...POD, metadata: { name: 'web' }, spec, ...extra });
const cannotHandle = (what: string) => `Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal ${what}`;

const realisticPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-1',
    namespace: 'default',
    uid: '0d3c1d29-6b3c-4a3e-9a0f-2f1f9e3b2a11',
    resourceVersion: '42',
    generation: 1,
    creationTimestamp: '2024-05-01T10:00:00Z',
    labels: { app: 'web', tier: 'frontend' },
    annotations: { 'example.com/note': 'hello' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: 'a1', controller: true, blockOwnerDeletion: true }],
    finalizers: ['example.com/cleanup'],
    managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2024-05-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
  },
  spec: {
    containers: [
      {
        name: 'nginx',
        image: 'nginx:1.27',
        imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
        env: [{ name: 'MODE', value: 'prod' }, { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }],
        resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 3, periodSeconds: 10 },
        readinessProbe: { tcpSocket: { port: 80 } },
        securityContext: { runAsNonRoot: true, runAsUser: 1000, capabilities: { drop: ['ALL'] } },
      },
      { name: 'sidecar', image: 'busybox', command: ['sh', '-c'], args: ['sleep 3600'] },
    ],
    volumes: [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
  },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2024-05-01T10:00:05Z' }],
    hostIP: '10.0.0.1',
    podIP: '10.244.0.5',
    podIPs: [{ ip: '10.244.0.5' }],
    startTime: '2024-05-01T10:00:01Z',
    containerStatuses: [{ name: 'nginx', ready: true, restartCount: 0, image: 'nginx:1.27', imageID: '', started: true, state: { running: { startedAt: '2024-05-01T10:00:03Z' } } }],
  },
};

const realisticService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: {
    type: 'NodePort',
    selector: { app: 'web' },
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 }, { name: 'metrics', port: 9090, targetPort: 9090 }],
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10'],
    sessionAffinity: 'None',
    ipFamilies: ['IPv4'],
  },
  status: { loadBalancer: {} },
};

const realisticRC = {
  apiVersion: 'v1',
  kind: 'ReplicationController',
  metadata: { name: 'web', namespace: 'default' },
  spec: { replicas: 3, selector: { app: 'web' }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } },
  status: { replicas: 3, readyReplicas: 3, observedGeneration: 2, conditions: [{ type: 'ReplicaFailure', status: 'False' }] },
};

describe('api/decode', () => {
  it('round-trips a realistic Pod, Service and ReplicationController unchanged', () => {
    for (const body of [realisticPod, realisticService, realisticRC]) {
      const { object, warnings } = decodeObject(clone(body), { apiVersion: body.apiVersion, kind: body.kind }, { fieldValidation: 'Strict' });
      expect(object).to.deep.equal(body);
      expect(warnings).to.deep.equal([]);
    }
  });

  it('returns a deep copy', () => {
    const body = clone(realisticPod);
    const { object } = decodeObject(body, POD);
    (object as typeof realisticPod).spec.containers[0]!.name = 'changed';
    (object as typeof realisticPod).metadata.managedFields[0]!.fieldsV1['f:spec'] = { x: 1 };
    expect(body).to.deep.equal(realisticPod);
  });

  it('prunes unknown fields at every depth and reports them with kube paths', () => {
    const body = clone(realisticPod) as Record<string, any>;
    body.extra = 1;
    body.metadata.nickname = 'w';
    body.spec.priorityClass = 'x';
    body.spec.containers[1].imagePolicy = 'Always';
    body.spec.containers[0].ports[0].hostname = 'h';
    body.spec.containers[0].env[1].valueFrom.fieldRef.bogus = true;
    body.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].weight = 1;
    const { object, warnings } = decodeObject(body, POD);
    expect(object).to.deep.equal(realisticPod);
    expect(warnings).to.have.members([
      'unknown field "extra"',
      'unknown field "metadata.nickname"',
      'unknown field "spec.priorityClass"',
      'unknown field "spec.containers[1].imagePolicy"',
      'unknown field "spec.containers[0].ports[0].hostname"',
      'unknown field "spec.containers[0].env[1].valueFrom.fieldRef.bogus"',
      'unknown field "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].weight"',
    ]);
  });

  it('reports unknown fields and duplicates under map values and structs with kube paths', () => {
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } };
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'foos.example.com' },
      spec: { group: 'example.com', names: { plural: 'foos', kind: 'Foo' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true }] },
      status: { acceptedNames: { plural: 'foos', kind: 'Foo', color: 'red' } },
    };
    expect(decodeObject(node, node).warnings).to.deep.equal([]);
    const { object, warnings } = decodeObject(crd, { apiVersion: crd.apiVersion, kind: crd.kind });
    expect(warnings).to.deep.equal(['unknown field "status.acceptedNames.color"']);
    expect((object as any).status.acceptedNames).to.deep.equal({ plural: 'foos', kind: 'Foo' });
    const { warnings: inMap } = decodeObject('{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"1","a":"2"}}}', POD);
    expect(inMap).to.deep.equal(['duplicate field "metadata.labels.a"']);
  });

  it('drops unknown fields silently with fieldValidation=Ignore', () => {
    const { object, warnings } = decodeObject(podOf({ containers: [{ name: 'a', image: 'b', bogus: 1 }], bogus: 2 }), POD, { fieldValidation: 'Ignore' });
    expect(warnings).to.deep.equal([]);
    expect((object as any).spec).to.deep.equal({ containers: [{ name: 'a', image: 'b' }] });
  });

  it('fails with a 400 listing the unknown fields with fieldValidation=Strict', () => {
    badRequest(
      podOf({ containers: [{ name: 'a', image: 'b', bogus: 1 }], bogus: 2 }, { extra: true }),
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus", unknown field "spec.bogus", unknown field "extra"',
      POD,
      { fieldValidation: 'Strict' },
    );
  });

  it('detects duplicate fields in raw JSON (Warn: warnings, Strict: 400)', () => {
    const raw = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"},"spec":{"containers":[{"name":"x","image":"i","image":"j"}]}}';
    const { object, warnings } = decodeObject(raw, POD);
    expect(warnings).to.deep.equal(['duplicate field "metadata.name"', 'duplicate field "spec.containers[0].image"']);
    expect((object as any).metadata.name).to.equal('b');
    badRequest(Buffer.from(raw), 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: duplicate field "metadata.name", duplicate field "spec.containers[0].image"', POD, {
      fieldValidation: 'Strict',
    });
    expect(decodeObject(raw, POD, { fieldValidation: 'Ignore' }).warnings).to.deep.equal([]);
    expect(findDuplicates('{"a":[{"b":1,"b\\u0022":2,"b":3}],"c":"{\\"d\\":1,\\"d\\":2}"}')).to.deep.equal(new Map([['a[0]', ['b']]]));
  });

  it('finds no duplicates in any JSON.stringify output, and finds an injected one', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        expect(findDuplicates(JSON.stringify(a))).to.equal(undefined);
        expect(findDuplicates(`{"x":${JSON.stringify(a)}, "y": [${JSON.stringify(b)}] ,"x" : 1}`)).to.deep.equal(new Map([['', ['x']]]));
      }),
      { numRuns: 300 },
    );
  });

  describe('wrong JSON types are 400s with Go\'s message and field path', () => {
    it('string for int32', () => {
      badRequest(podOf({ containers: [{ name: 'a', ports: [{ containerPort: '80' }] }] }), cannotHandle('string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32'));
      badRequest(
        { ...realisticRC, spec: { replicas: '3' } },
        'ReplicationController in version "v1" cannot be handled as a ReplicationController: json: cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.replicas of type int32',
        { apiVersion: 'v1', kind: 'ReplicationController' },
      );
    });

    it('object for string, number for a string list item', () => {
      badRequest(podOf({ containers: [{ name: { first: 'a' } }] }), cannotHandle('object into Go struct field Container.spec.containers.name of type string'));
      badRequest(podOf({ containers: [{ name: 'a', command: ['sleep', 1200] }] }), cannotHandle('number into Go struct field Container.spec.containers.command of type string'));
    });

    it('array for object, object for array', () => {
      badRequest(podOf([]), cannotHandle('array into Go struct field Pod.spec of type v1.PodSpec'));
      badRequest(podOf({ containers: [{ name: 'a', ports: { containerPort: 80 } }] }), cannotHandle('object into Go struct field Container.spec.containers.ports of type []v1.ContainerPort'));
      badRequest(podOf({}, { metadata: { labels: ['a'] } }), cannotHandle('array into Go struct field ObjectMeta.metadata.labels of type map[string]string'));
    });

    it('number for boolean, bool for number, non-integer for int', () => {
      badRequest(podOf({ hostNetwork: 1 }), cannotHandle('number into Go struct field PodSpec.spec.hostNetwork of type bool'));
      badRequest(podOf({ terminationGracePeriodSeconds: true }), cannotHandle('bool into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64'));
      badRequest(podOf({ containers: [{ name: 'a', ports: [{ containerPort: 80.5 }] }] }), cannotHandle('number 80.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32'));
      badRequest(podOf({ containers: [{ name: 'a', ports: [{ containerPort: 2 ** 31 }] }] }), cannotHandle('number 2147483648 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32'));
    });

    it('non-string label value, wrong map values and maps, named string types', () => {
      badRequest(podOf({}, { metadata: { name: 'a', labels: { app: 1 } } }), cannotHandle('number into Go struct field ObjectMeta.metadata.labels of type string'));
      badRequest(podOf({ nodeSelector: { zone: ['a'] } }), cannotHandle('array into Go struct field PodSpec.spec.nodeSelector of type string'));
      badRequest(podOf({ containers: [{ name: 'a', resources: { limits: '1' } }] }), cannotHandle('string into Go struct field ResourceRequirements.spec.containers.resources.limits of type v1.ResourceList'));
      const secret = { apiVersion: 'v1', kind: 'Secret' };
      badRequest({ ...secret, data: { a: 1 } }, 'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal number into Go struct field Secret.data of type []uint8', secret);
      badRequest(podOf({ restartPolicy: 1 }), cannotHandle('number into Go struct field PodSpec.spec.restartPolicy of type v1.RestartPolicy'));
    });

    it('reports the first error in document order', () => {
      badRequest(podOf({ hostNetwork: 'yes', hostPID: 'no' }), cannotHandle('string into Go struct field PodSpec.spec.hostNetwork of type bool'));
    });

    it('int-or-string, quantity, time and base64 errors', () => {
      const svc = { apiVersion: 'v1', kind: 'Service' };
      badRequest(
        { ...svc, spec: { ports: [{ port: 80, targetPort: 1.5 }] } },
        'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32',
        svc,
      );
      badRequest(podOf({ containers: [{ name: 'a', resources: { limits: { cpu: 'lots' } } }] }), `Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
      badRequest(podOf({}, { metadata: { creationTimestamp: 12 } }), cannotHandle('number into Go struct field ObjectMeta.metadata.creationTimestamp of type string'));
      badRequest(podOf({}, { metadata: { creationTimestamp: 'yesterday' } }), 'Pod in version "v1" cannot be handled as a Pod: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"');
      const secret = { apiVersion: 'v1', kind: 'Secret' };
      badRequest({ ...secret, data: { key: 'not base64!' } }, 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3', secret);
    });
  });

  it('accepts both forms of int-or-string and quantity fields, canonicalizing numeric quantities', () => {
    const svc = { apiVersion: 'v1', kind: 'Service' };
    const body = { ...svc, spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 'http' }] } };
    expect(decodeObject(body, svc).object).to.deep.equal(body);
    const { object } = decodeObject(podOf({ containers: [{ name: 'a', resources: { limits: { cpu: 2, memory: '1Gi' }, requests: { cpu: 0.25, memory: 1000 } } }] }), POD);
    expect((object as any).spec.containers[0].resources).to.deep.equal({ limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '250m', memory: '1k' } });
    const node = { apiVersion: 'v1', kind: 'Node', status: { capacity: { cpu: 4, pods: '110' }, allocatable: { cpu: '3800m' } } };
    expect((decodeObject(node, node).object as any).status).to.deep.equal({ capacity: { cpu: '4', pods: '110' }, allocatable: { cpu: '3800m' } });
  });

  it('drops null optional fields; null list items and map values become zero values', () => {
    const body = podOf({ containers: [{ name: 'a', image: null, command: ['x', null], ports: null }], nodeName: null, affinity: null }, { status: null });
    (body.metadata as Record<string, unknown>).creationTimestamp = null;
    (body.metadata as Record<string, unknown>).labels = { a: null };
    const { object } = decodeObject(body, POD);
    expect(object).to.deep.equal({ ...POD, metadata: { name: 'web', labels: { a: '' } }, spec: { containers: [{ name: 'a', command: ['x', ''] }] } });
    expect(decodeObject(null, POD).object).to.deep.equal(POD);
  });

  it('treats undefined properties of in-process objects as absent, and Dates as their JSON text', () => {
    const body = podOf({ containers: [{ name: 'a', image: undefined, args: ['x', undefined] }], nodeName: undefined }, { status: { startTime: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) } });
    (body.metadata as Record<string, unknown>).labels = { a: undefined, b: 'c' };
    expect(decodeObject(body, POD).object).to.deep.equal({
      ...POD,
      metadata: { name: 'web', labels: { b: 'c' } },
      spec: { containers: [{ name: 'a', args: ['x', ''] }] },
      status: { startTime: '2024-01-02T03:04:05.000Z' },
    });
    badRequest(undefined, "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)");
  });

  describe('apiVersion and kind', () => {
    it('defaults a missing apiVersion/kind from the expected kind, as kube does from the URL', () => {
      expect(decodeObject({ metadata: { name: 'a' } }, POD).object).to.deep.equal({ ...POD, metadata: { name: 'a' } });
      const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' };
      expect(decodeObject({ kind: 'Lease' }, lease).object).to.deep.equal(lease);
    });

    it('rejects another registered kind as kube does (no conversion)', () => {
      badRequest({ apiVersion: 'v1', kind: 'Service', spec: {} }, 'Service in version "v1" cannot be handled as a Pod: converting (v1.Service) to (core.Pod): unknown conversion');
      badRequest({ kind: 'Service', spec: { ports: 'x' } }, 'Service in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort');
    });

    it('rejects kinds that are not registered for the version', () => {
      const scheme = 'in scheme "k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:29"';
      badRequest({ apiVersion: 'apps/v1', kind: 'Deployment' }, `Deployment in version "v1" cannot be handled as a Pod: no kind "Deployment" is registered for version "apps/v1" ${scheme}`);
      badRequest({ apiVersion: 'v2', kind: 'Pod' }, `Pod in version "v2" cannot be handled as a Pod: no kind "Pod" is registered for version "v2" ${scheme}`);
    });

    it('rejects a body that is not an object, bad apiVersion/kind types and malformed JSON', () => {
      badRequest(
        '[1,2]',
        'the object provided is unrecognized (must be of type Pod): couldn\'t get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } (5b312c325d)',
      );
      badRequest({ kind: 5 }, `the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .kind of type string ({"kind":5})`);
      badRequest({ apiVersion: 'a/b/c' }, 'the object provided is unrecognized (must be of type Pod): unexpected GroupVersion string: a/b/c ({"apiVersion":"a/b/c"})');
      const syntax = fails('{"kind":').message;
      expect(syntax.startsWith("the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: ")).to.equal(true);
      expect(syntax.endsWith(' ({"kind":)')).to.equal(true);
    });
  });

  describe('custom resources (a CRD schema passed in)', () => {
    const FOO = { apiVersion: 'example.com/v1', kind: 'Foo' };
    const schema: StructuralSchema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            replicas: { type: 'integer' },
            template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', properties: { image: { type: 'string' } } } } },
            config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { known: { type: 'object', properties: { x: { type: 'string' } } } } },
            tags: { type: 'object', additionalProperties: { type: 'object', properties: { v: { type: 'string' } } } },
            items: { type: 'array', items: { type: 'object', properties: { n: { type: 'string' } } } },
          },
        },
        status: { type: 'object', properties: { ready: { type: 'boolean' } } },
      },
    };

    it('prunes with apiextensions rules and reports the pruned paths', () => {
      const body = {
        ...FOO,
        metadata: { name: 'a', color: 'red' },
        spec: {
          replicas: 'three',
          junk: 1,
          template: { apiVersion: 'v1', kind: 'Thing', metadata: { name: 't', shade: 1 }, spec: { image: 'i', extra: 1 }, other: 1 },
          config: { anything: { deep: [1, { x: 2 }] }, known: { x: 'y', drop: 1 } },
          tags: { t1: { v: 'a', w: 'b' } },
          items: [{ n: 'a', m: 'b' }],
        },
        top: 1,
      };
      const { object, warnings } = decodeObject(body, FOO, { schema });
      expect(object).to.deep.equal({
        ...FOO,
        metadata: { name: 'a' },
        spec: {
          replicas: 'three',
          template: { apiVersion: 'v1', kind: 'Thing', metadata: { name: 't' }, spec: { image: 'i' } },
          config: { anything: { deep: [1, { x: 2 }] }, known: { x: 'y' } },
          tags: { t1: { v: 'a' } },
          items: [{ n: 'a' }],
        },
      });
      expect(warnings).to.have.members([
        'unknown field "metadata.color"',
        'unknown field "spec.junk"',
        'unknown field "spec.template.metadata.shade"',
        'unknown field "spec.template.spec.extra"',
        'unknown field "spec.template.other"',
        'unknown field "spec.config.known.drop"',
        'unknown field "spec.tags.t1.w"',
        'unknown field "spec.items[0].m"',
        'unknown field "top"',
      ]);
      badRequest({ ...FOO, spec: { junk: 1 } }, 'Foo in version "v1" cannot be handled as a Foo: strict decoding error: unknown field "spec.junk"', FOO, { schema, fieldValidation: 'Strict' });
    });

    it('leaves type errors outside metadata to schema validation, but decodes metadata as ObjectMeta', () => {
      expect((decodeObject({ ...FOO, spec: { replicas: 'x', items: 'y' } }, FOO, { schema }).object as any).spec).to.deep.equal({ replicas: 'x', items: 'y' });
      badRequest(
        { ...FOO, metadata: { labels: { a: 1 } } },
        'Foo in version "v1" cannot be handled as a Foo: metadata: Invalid value: {"labels":{"a":1}}: json: cannot unmarshal number into Go struct field ObjectMeta.labels of type string',
        FOO,
        { schema },
      );
    });

    it('requires kind and the expected apiVersion; leaves another kind to the registry', () => {
      badRequest({ apiVersion: 'example.com/v1' }, `the object provided is unrecognized (must be of type Foo): Object 'Kind' is missing in '{"apiVersion":"example.com/v1"}' ({"apiVersion":"example.com/v1" ...)`, FOO, { schema });
      badRequest({ apiVersion: 'example.com/v2', kind: 'Foo' }, 'the API version in the data (example.com/v2) does not match the expected API version (example.com/v1)', FOO, { schema });
      expect(decodeObject({ ...FOO, kind: 'Bar' }, FOO, { schema }).object.kind).to.equal('Bar');
    });

    it('keeps everything under a root x-kubernetes-preserve-unknown-fields', () => {
      const body = { ...FOO, metadata: { name: 'a' }, spec: { anything: [1, { b: 2 }] }, status: { x: 1 } };
      expect(decodeObject(body, FOO, { schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } })).to.deep.equal({ object: body, warnings: [] });
    });
  });

});
