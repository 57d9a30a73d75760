/**
 * `kubectl apply|create -f` with a `kind: List` document — the real kubectl against `keelson up
 * --nodes 0`. kubectl's client-side validation finds no OpenAPI v3 operation for v1/List, falls
 * back to OpenAPI v2 and fetches `/openapi/v2` as gnostic protobuf; it then validates each item
 * against the v2 definitions. This proves that the protobuf document is served and parsed by
 * kubectl: both items are created (re-apply: unchanged), an item of the wrong type or with an
 * unknown field gets kubectl's own ValidationError as against a real cluster (and nothing is
 * created), custom resources in a List are validated against their CRD's schema, and `kubectl
 * explain` (OpenAPI v3) still works.
 */
import { expect } from 'chai';
import { requireKubectl, TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const LIST = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-a}
  data: {a: "1"}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-b}
  data: {b: "2"}
`;

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, format: int32, default: 1, minimum: 0}
              port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              nickname: {type: string, nullable: true}
              tags: {type: array, items: {type: string}}
              labels: {type: object, additionalProperties: {type: string}}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
`;

describe('kubectl with a List document', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
  const ok = (args: string[], input?: string) => cluster.ok(args, input);
  const configMaps = async (): Promise<string[]> => (await ok(['get', 'configmaps', '-o', 'name'])).split('\n').filter(Boolean).sort();

  before(async () => {
    requireKubectl();
    cluster = await TestCluster.start({ nodes: 0 });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('applies both items, fetching /openapi/v2 as protobuf; re-apply is unchanged', async () => {
    const run = await kubectl(['apply', '-f', '-', '-v=6'], LIST);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/GET https:\/\/\S+\/openapi\/v2\S* 200 OK/);
    expect(run.stdout).to.contain('configmap/list-a created').and.contain('configmap/list-b created');
    expect(await configMaps()).to.include.members(['configmap/list-a', 'configmap/list-b']);
    const again = await ok(['apply', '-f', '-'], LIST);
    expect(again).to.contain('configmap/list-a unchanged').and.contain('configmap/list-b unchanged');
  });

  it('rejects an item of the wrong type with kubectl’s client-side ValidationError, creating nothing', async () => {
    const bad = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-ok}
  data: {a: "1"}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-bad}
  data: 5
`;
    for (const verb of ['apply', 'create']) {
      const run = await kubectl([verb, '-f', '-'], bad);
      expect(run.code, `${verb}: ${run.stdout}`).to.not.equal(0);
      expect(run.stderr).to.contain('error validating data: ValidationError(ConfigMap.data): invalid type for io.k8s.api.core.v1.ConfigMap.data: got "integer", expected "map"');
    }
    expect(await configMaps()).to.not.include.members(['configmap/list-ok']);
  });

  it('rejects an unknown field with --validate=strict', async () => {
    const unknown = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-unknown}
  bogus: 1
  data: {a: "1"}
`;
    const run = await kubectl(['apply', '--validate=strict', '-f', '-'], unknown);
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.contain('ValidationError(ConfigMap): unknown field "bogus" in io.k8s.api.core.v1.ConfigMap');
    expect(await configMaps()).to.not.include('configmap/list-unknown');
  });

  it('creates a List with kubectl create (a second create: AlreadyExists)', async () => {
    await ok(['delete', 'configmap', 'list-a', 'list-b']);
    const out = await ok(['create', '-f', '-'], LIST);
    expect(out).to.contain('configmap/list-a created').and.contain('configmap/list-b created');
    const again = await kubectl(['create', '-f', '-'], LIST);
    expect(again.code).to.not.equal(0);
    expect(again.stderr).to.contain('configmaps "list-a" already exists').and.contain('configmaps "list-b" already exists');
  });

  it('validates custom resources in a List against their CRD schema', async () => {
    await ok(['apply', '-f', '-'], CRD);
    await waitFor(async () => (await kubectl(['get', 'gadgets'])).code === 0, { timeoutMs: 20_000, intervalMs: 200, what: 'gadgets to be served' });
    const good = `apiVersion: v1
kind: List
items:
- apiVersion: example.com/v1
  kind: Gadget
  metadata: {name: g1}
  spec: {size: small, replicas: 2, port: 80, nickname: null, tags: [a], labels: {x: z}, extra: {anything: [1]}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-c}
  data: {c: "3"}
`;
    const out = await ok(['apply', '-f', '-'], good);
    expect(out).to.contain('gadget.example.com/g1 created').and.contain('configmap/list-c created');
    expect(await ok(['apply', '-f', '-'], good)).to.contain('gadget.example.com/g1 unchanged');
    const bad = `apiVersion: v1
kind: List
items:
- apiVersion: example.com/v1
  kind: Gadget
  metadata: {name: g2}
  spec: {size: small, replicas: "two", tags: 5}
`;
    const run = await kubectl(['apply', '-f', '-'], bad);
    expect(run.code).to.not.equal(0);
    expect(run.stderr)
      .to.contain('ValidationError(Gadget.spec.replicas): invalid type for com.example.v1.Gadget.spec.replicas: got "string", expected "integer"')
      .and.contain('ValidationError(Gadget.spec.tags): invalid type for com.example.v1.Gadget.spec.tags: got "integer", expected "array"');
    expect((await kubectl(['get', 'gadget', 'g2'])).code).to.not.equal(0);
  });

  it('still explains fields (OpenAPI v3)', async () => {
    const out = await ok(['explain', 'configmap.data']);
    expect(out).to.match(/KIND:\s+ConfigMap/).and.match(/FIELD:\s+data\s+<map\[string\]string>/);
    expect(await ok(['explain', 'gadget.spec.replicas'])).to.match(/KIND:\s+Gadget/);
  });
});
