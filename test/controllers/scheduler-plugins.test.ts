/**
 * The default scheduler plugins, one table per plugin, reproducing kube-scheduler v1.32's
 * semantics: which nodes fit (with kube's exact reason strings) and how nodes score. Each case
 * builds plain nodes and pods, a snapshot with buildSnapshot, and calls the plugin's extension
 * points directly, as the scheduler would: preFilter → filter per node; preScore → score per
 * node → normalize.
 */
import { expect } from 'chai';
import { Container } from 'inversify';
import type { Container as ContainerSpec, Node, Pod, PodAffinityTerm, PodSpec, Taint, Toleration, TopologySpreadConstraint } from '../../lib/index.js';
import { schedulerPluginOptions, type CycleState, type NodeInfo, type SchedulerPluginImpl, type Snapshot } from '../../controllers/scheduler/framework.js';
import { buildSnapshot, MutableNodeInfo } from '../../controllers/scheduler/snapshot.js';
import {
  BalancedAllocation,
  defaultPlugins,
  InterPodAffinity,
  NamespaceLabels,
  NodeAffinity,
  NodeName,
  NodePorts,
  NodeResourcesFit,
  NodeUnschedulable,
  PodTopologySpread,
  TaintToleration,
} from '../../controllers/scheduler/plugins/index.js';

// ---- Builders: plain objects, as they come from the API ----

interface NodeOptions {
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
  allocatable?: Record<string, string | number>;
}

/** A node with the kubelet's hostname label, 4 cpu / 8Gi / 110 pods unless told otherwise. */
function node(name: string, options: NodeOptions = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...options.labels } },
    spec: { ...(options.taints ? { taints: options.taints } : {}), ...(options.unschedulable ? { unschedulable: true } : {}) },
    status: { allocatable: options.allocatable ?? { cpu: '4', memory: '8Gi', pods: '110' } },
  };
}

interface PodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  nodeName?: string;
  requests?: Record<string, string>;
  containers?: ContainerSpec[];
  deleting?: boolean;
  spec?: Partial<PodSpec>;
}

function pod(name: string, options: PodOptions = {}): Pod {
  const containers = options.containers ?? [{ name: 'c', ...(options.requests ? { resources: { requests: options.requests } } : {}) }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
    },
    spec: { containers, ...(options.nodeName ? { nodeName: options.nodeName } : {}), ...options.spec },
  };
}

const taint = (key: string, value: string | undefined, effect: string): Taint => ({ key, ...(value !== undefined ? { value } : {}), effect });
const nameOf = (info: NodeInfo) => info.node.metadata!.name!;

// ---- Running a plugin as the scheduler does ----

const FITS = 'fits';

/** Each node's verdict: `fits`, or the failing reason (a preFilter failure applies to every node). */
function filter(plugin: SchedulerPluginImpl, incoming: Pod, snapshot: Snapshot, state: CycleState = new Map()): Record<string, string> {
  const pre = plugin.preFilter?.(incoming, snapshot, state);
  const verdicts: Record<string, string> = {};
  for (const info of snapshot.nodes) {
    if (pre && 'reason' in pre) verdicts[nameOf(info)] = pre.reason;
    else if (pre?.nodeNames && !pre.nodeNames.has(nameOf(info))) verdicts[nameOf(info)] = 'not in preFilter result';
    else verdicts[nameOf(info)] = plugin.filter?.(incoming, info, snapshot, state)?.reason ?? FITS;
  }
  return verdicts;
}

/** Normalized scores of the feasible nodes (all nodes unless given). */
function score(plugin: SchedulerPluginImpl, incoming: Pod, snapshot: Snapshot, feasible: readonly NodeInfo[] = snapshot.nodes): Record<string, number> {
  const state: CycleState = new Map();
  plugin.preFilter?.(incoming, snapshot, state);
  plugin.preScore?.(incoming, feasible, snapshot, state);
  const scores = new Map(feasible.map((info) => [nameOf(info), plugin.score!(incoming, info, snapshot, state)]));
  plugin.normalize?.(scores, incoming, state);
  return Object.fromEntries(scores);
}

describe('Default scheduler plugins', () => {
  it('are declared in kube’s default-profile order with kube’s names and score weights', () => {
    const declared = defaultPlugins.map((cls) => {
      const options = schedulerPluginOptions(cls)!;
      return [options.name, options.weight];
    });
    expect(declared).to.deep.equal([
      ['NodeUnschedulable', 1], ['NodeName', 1], ['TaintToleration', 3], ['NodeAffinity', 2], ['NodePorts', 1],
      ['NodeResourcesFit', 1], ['PodTopologySpread', 2], ['InterPodAffinity', 2], ['NodeResourcesBalancedAllocation', 1],
    ]);
  });

  it('are instantiable through the container (InterPodAffinity’s NamespaceLabels is optional)', () => {
    const container = new Container();
    for (const cls of defaultPlugins) container.bind(cls).toSelf();
    for (const cls of defaultPlugins) expect(container.get(cls)).to.be.instanceOf(cls);
  });

  it('count one reason per infeasible node, from the first filter that fails it (the input of the unschedulable message)', () => {
    const infra = [taint('dedicated', 'infra', 'NoSchedule')];
    const small = { cpu: '1', memory: '8Gi', pods: '110' };
    const nodes = [
      node('n1', { taints: infra, allocatable: small }), node('n2', { taints: infra, allocatable: small }),
      node('n3', { allocatable: small }), node('n4', { allocatable: small }), node('n5', { allocatable: small }),
    ];
    const snapshot = buildSnapshot(nodes, []);
    const incoming = pod('big', { requests: { cpu: '2' } });
    const plugins = defaultPlugins.map((cls) => new cls());
    const state: CycleState = new Map();
    for (const plugin of plugins) expect(plugin.preFilter?.(incoming, snapshot, state)).to.equal(undefined);
    const counts: Record<string, number> = {};
    for (const info of snapshot.nodes) {
      for (const plugin of plugins) {
        const failure = plugin.filter?.(incoming, info, snapshot, state);
        if (failure) {
          counts[failure.reason] = (counts[failure.reason] ?? 0) + 1;
          break;
        }
      }
    }
    expect(counts).to.deep.equal({ 'node(s) had untolerated taint {dedicated: infra}': 2, 'Insufficient cpu': 3 });
  });

  describe('NodeUnschedulable', () => {
    const cases: { name: string; unschedulable: boolean; tolerations?: Toleration[]; want: string }[] = [
      { name: 'a schedulable node fits', unschedulable: false, want: FITS },
      { name: 'a cordoned node refuses a pod without tolerations', unschedulable: true, want: 'node(s) were unschedulable' },
      { name: 'tolerating the unschedulable taint lets the pod in', unschedulable: true, tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }], want: FITS },
      { name: 'an empty-key Exists toleration tolerates it too', unschedulable: true, tolerations: [{ operator: 'Exists' }], want: FITS },
      { name: 'a toleration for another effect does not', unschedulable: true, tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoExecute' }], want: 'node(s) were unschedulable' },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const snapshot = buildSnapshot([node('n1', { unschedulable: c.unschedulable })], []);
        const incoming = pod('p', { spec: c.tolerations ? { tolerations: c.tolerations } : {} });
        expect(filter(new NodeUnschedulable(), incoming, snapshot)).to.deep.equal({ n1: c.want });
      });
    }

    it('marks the failure unresolvable', () => {
      const snapshot = buildSnapshot([node('n1', { unschedulable: true })], []);
      expect(new NodeUnschedulable().filter(pod('p'), snapshot.nodes[0]!)).to.deep.include({ unresolvable: true });
    });
  });

  describe('NodeName', () => {
    const snapshot = buildSnapshot([node('n1'), node('n2')], []);
    it('lets a pod without spec.nodeName onto any node', () => {
      expect(filter(new NodeName(), pod('p'), snapshot)).to.deep.equal({ n1: FITS, n2: FITS });
    });
    it('refuses every node but the named one', () => {
      expect(filter(new NodeName(), pod('p', { nodeName: 'n2' }), snapshot)).to.deep.equal({ n1: "node(s) didn't match the requested node name", n2: FITS });
    });
  });

  describe('TaintToleration', () => {
    describe('filter', () => {
      const cases: { name: string; taints: Taint[]; tolerations?: Toleration[]; want: string }[] = [
        { name: 'a pod without tolerations stays off a tainted node', taints: [taint('dedicated', 'user1', 'NoSchedule')], want: 'node(s) had untolerated taint {dedicated: user1}' },
        { name: 'an Equal toleration with key, value and effect tolerates', taints: [taint('dedicated', 'user1', 'NoSchedule')], tolerations: [{ key: 'dedicated', value: 'user1', effect: 'NoSchedule' }], want: FITS },
        { name: 'a toleration with another value does not', taints: [taint('dedicated', 'user1', 'NoSchedule')], tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'user2', effect: 'NoSchedule' }], want: 'node(s) had untolerated taint {dedicated: user1}' },
        { name: 'Exists ignores the value', taints: [taint('foo', 'bar', 'NoSchedule')], tolerations: [{ key: 'foo', operator: 'Exists', effect: 'NoSchedule' }], want: FITS },
        { name: 'every taint tolerated by some toleration', taints: [taint('dedicated', 'user2', 'NoSchedule'), taint('foo', 'bar', 'NoSchedule')], tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'user2', effect: 'NoSchedule' }, { key: 'foo', operator: 'Exists', effect: 'NoSchedule' }], want: FITS },
        { name: 'a matching key and value with another non-empty effect does not tolerate', taints: [taint('foo', 'bar', 'NoSchedule')], tolerations: [{ key: 'foo', operator: 'Equal', value: 'bar', effect: 'PreferNoSchedule' }], want: 'node(s) had untolerated taint {foo: bar}' },
        { name: 'an empty effect matches every effect', taints: [taint('foo', 'bar', 'NoSchedule')], tolerations: [{ key: 'foo', operator: 'Equal', value: 'bar' }], want: FITS },
        { name: 'PreferNoSchedule taints never filter', taints: [taint('foo', 'bar', 'PreferNoSchedule')], tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'user2' }], want: FITS },
        { name: 'an untolerated NoExecute taint filters', taints: [taint('evict', 'now', 'NoExecute')], want: 'node(s) had untolerated taint {evict: now}' },
        { name: 'tolerationSeconds does not matter for scheduling', taints: [taint('evict', 'now', 'NoExecute')], tolerations: [{ key: 'evict', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }], want: FITS },
        { name: 'an empty key with Exists tolerates every taint', taints: [taint('a', '1', 'NoSchedule'), taint('b', '2', 'NoExecute')], tolerations: [{ operator: 'Exists' }], want: FITS },
        { name: 'a taint without value prints an empty value', taints: [taint('gpu', undefined, 'NoSchedule')], want: 'node(s) had untolerated taint {gpu: }' },
        { name: 'the reason names the first untolerated taint in node order', taints: [taint('a', '1', 'NoSchedule'), taint('b', '2', 'NoExecute'), taint('c', '3', 'NoSchedule')], tolerations: [{ key: 'a', operator: 'Exists' }], want: 'node(s) had untolerated taint {b: 2}' },
      ];
      for (const c of cases) {
        it(c.name, () => {
          const snapshot = buildSnapshot([node('n1', { taints: c.taints })], []);
          const incoming = pod('p', { spec: c.tolerations ? { tolerations: c.tolerations } : {} });
          expect(filter(new TaintToleration(), incoming, snapshot)).to.deep.equal({ n1: c.want });
        });
      }
    });

    describe('score (fewer untolerated PreferNoSchedule taints is better)', () => {
      const cases: { name: string; tolerations: Toleration[]; taints: Record<string, Taint[]>; want: Record<string, number> }[] = [
        {
          name: 'a node whose taints are tolerated beats one whose taints are not',
          tolerations: [{ key: 'foo', operator: 'Equal', value: 'bar', effect: 'PreferNoSchedule' }],
          taints: { a: [taint('foo', 'bar', 'PreferNoSchedule')], b: [taint('foo', 'blah', 'PreferNoSchedule')] },
          want: { a: 100, b: 0 },
        },
        {
          name: 'fully tolerated nodes score alike however many taints they have',
          tolerations: [{ key: 'cpu-type', operator: 'Equal', value: 'arm64', effect: 'PreferNoSchedule' }, { key: 'disk-type', operator: 'Equal', value: 'ssd', effect: 'PreferNoSchedule' }],
          taints: { a: [], b: [taint('cpu-type', 'arm64', 'PreferNoSchedule')], c: [taint('cpu-type', 'arm64', 'PreferNoSchedule'), taint('disk-type', 'ssd', 'PreferNoSchedule')] },
          want: { a: 100, b: 100, c: 100 },
        },
        {
          name: 'the more untolerated taints, the lower the score',
          tolerations: [{ key: 'foo', operator: 'Equal', value: 'bar', effect: 'PreferNoSchedule' }],
          taints: { a: [], b: [taint('cpu-type', 'arm64', 'PreferNoSchedule')], c: [taint('cpu-type', 'arm64', 'PreferNoSchedule'), taint('disk-type', 'ssd', 'PreferNoSchedule')] },
          want: { a: 100, b: 50, c: 0 },
        },
        {
          name: 'only PreferNoSchedule taints and tolerations with that (or no) effect count',
          tolerations: [{ key: 'cpu-type', operator: 'Equal', value: 'arm64', effect: 'NoSchedule' }, { key: 'disk-type', operator: 'Equal', value: 'ssd' }],
          taints: { a: [], b: [taint('cpu-type', 'arm64', 'NoSchedule')], c: [taint('cpu-type', 'arm64', 'PreferNoSchedule')], d: [taint('disk-type', 'ssd', 'PreferNoSchedule')] },
          want: { a: 100, b: 100, c: 0, d: 100 },
        },
        { name: 'no taints anywhere: every node 100', tolerations: [], taints: { a: [], b: [] }, want: { a: 100, b: 100 } },
      ];
      for (const c of cases) {
        it(c.name, () => {
          const snapshot = buildSnapshot(Object.entries(c.taints).map(([name, taints]) => node(name, { taints })), []);
          expect(score(new TaintToleration(), pod('p', { spec: { tolerations: c.tolerations } }), snapshot)).to.deep.equal(c.want);
        });
      }
    });
  });

  describe('NodeAffinity', () => {
    const nodes = [
      node('n1', { labels: { foo: 'bar', 'kernel-version': '0206' } }),
      node('n2', { labels: { foo: 'baz', 'kernel-version': '0200', gpu: 'true' } }),
      node('n3'),
    ];
    const snapshot = buildSnapshot(nodes, []);
    const MISMATCH = "node(s) didn't match Pod's node affinity/selector";
    const required = (...nodeSelectorTerms: object[]): Partial<PodSpec> => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } } });
    const expr = (key: string, operator: string, values?: string[]) => ({ key, operator, ...(values ? { values } : {}) });

    const cases: { name: string; spec: Partial<PodSpec>; want: [string, string, string] }[] = [
      { name: 'no constraints: every node', spec: {}, want: [FITS, FITS, FITS] },
      { name: 'nodeSelector: every label equal', spec: { nodeSelector: { foo: 'bar' } }, want: [FITS, MISMATCH, MISMATCH] },
      { name: 'In', spec: required({ matchExpressions: [expr('foo', 'In', ['bar', 'value2'])] }), want: [FITS, MISMATCH, MISMATCH] },
      { name: 'NotIn (an absent label is not in)', spec: required({ matchExpressions: [expr('foo', 'NotIn', ['bar'])] }), want: [MISMATCH, FITS, FITS] },
      { name: 'Exists', spec: required({ matchExpressions: [expr('gpu', 'Exists')] }), want: [MISMATCH, FITS, MISMATCH] },
      { name: 'DoesNotExist', spec: required({ matchExpressions: [expr('foo', 'DoesNotExist')] }), want: [MISMATCH, MISMATCH, FITS] },
      { name: 'Gt compares integers', spec: required({ matchExpressions: [expr('kernel-version', 'Gt', ['0204'])] }), want: [FITS, MISMATCH, MISMATCH] },
      { name: 'Lt compares integers', spec: required({ matchExpressions: [expr('kernel-version', 'Lt', ['0204'])] }), want: [MISMATCH, FITS, MISMATCH] },
      { name: 'requirements of one term are ANDed', spec: required({ matchExpressions: [expr('foo', 'Exists'), expr('gpu', 'Exists')] }), want: [MISMATCH, FITS, MISMATCH] },
      { name: 'terms are ORed', spec: required({ matchExpressions: [expr('foo', 'In', ['bar'])] }, { matchExpressions: [expr('gpu', 'Exists')] }), want: [FITS, FITS, MISMATCH] },
      { name: 'an empty term selects nothing', spec: required({}), want: [MISMATCH, MISMATCH, MISMATCH] },
      { name: 'no terms select nothing', spec: required(), want: [MISMATCH, MISMATCH, MISMATCH] },
      { name: 'a term that does not parse never matches; the others still do', spec: required({ matchExpressions: [expr('kernel-version', 'Gt', ['x'])] }, { matchExpressions: [expr('gpu', 'Exists')] }), want: [MISMATCH, FITS, MISMATCH] },
      { name: 'nodeSelector AND required affinity', spec: { nodeSelector: { foo: 'baz' }, ...required({ matchExpressions: [expr('foo', 'Exists')] }) }, want: [MISMATCH, FITS, MISMATCH] },
      { name: 'matchFields on metadata.name', spec: required({ matchFields: [expr('metadata.name', 'NotIn', ['n1'])] }), want: [MISMATCH, FITS, FITS] },
    ];
    for (const c of cases) {
      it(`filter: ${c.name}`, () => {
        const verdicts = filter(new NodeAffinity(), pod('p', { spec: c.spec }), snapshot);
        expect([verdicts.n1, verdicts.n2, verdicts.n3]).to.deep.equal(c.want);
      });
    }

    it('preFilter narrows to the node names every term pins with metadata.name In', () => {
      const spec = required({ matchFields: [expr('metadata.name', 'In', ['n1'])] }, { matchFields: [expr('metadata.name', 'In', ['n3'])], matchExpressions: [expr('foo', 'Exists')] });
      expect(new NodeAffinity().preFilter(pod('p', { spec }), snapshot, new Map())).to.deep.equal({ nodeNames: new Set(['n1', 'n3']) });
      expect(filter(new NodeAffinity(), pod('p', { spec }), snapshot)).to.deep.equal({ n1: FITS, n2: 'not in preFilter result', n3: MISMATCH });
    });

    it('preFilter fails `pod affinity terms conflict` when the pinned names exclude each other', () => {
      const spec = required({ matchFields: [expr('metadata.name', 'In', ['n1']), expr('metadata.name', 'In', ['n2'])] });
      expect(new NodeAffinity().preFilter(pod('p', { spec }), snapshot, new Map())).to.deep.equal({ reason: 'pod affinity terms conflict', unresolvable: true });
    });

    it('score: sums the weights of matching preferred terms, scaled to the best node', () => {
      const preferred = [
        { weight: 2, preference: { matchExpressions: [expr('foo', 'In', ['bar'])] } },
        { weight: 4, preference: { matchExpressions: [expr('key', 'In', ['value'])] } },
        { weight: 5, preference: { matchExpressions: [expr('az', 'In', ['az1'])] } },
      ];
      const scored = buildSnapshot([node('a', { labels: { foo: 'bar' } }), node('b', { labels: { key: 'value' } }), node('c', { labels: { foo: 'bar', key: 'value', az: 'az1' } }), node('d')], []);
      const incoming = pod('p', { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred } } } });
      expect(score(new NodeAffinity(), incoming, scored)).to.deep.equal({ a: 18, b: 36, c: 100, d: 0 });
      expect(score(new NodeAffinity(), pod('p'), scored)).to.deep.equal({ a: 0, b: 0, c: 0, d: 0 });
    });
  });

  describe('NodeResourcesFit', () => {
    describe('filter', () => {
      const allocatable = { cpu: '2', memory: '4Gi', pods: '3', 'example.com/gpu': '2', 'ephemeral-storage': '10Gi' };
      const existing = pod('existing', { nodeName: 'n1', requests: { cpu: '1500m', memory: '1Gi' } });
      const cases: { name: string; incoming: Pod; want: string; reasons?: string[]; unresolvable?: boolean }[] = [
        { name: 'a request that exactly fills the free cpu fits', incoming: pod('p', { requests: { cpu: '500m' } }), want: FITS },
        { name: 'more cpu than is free', incoming: pod('p', { requests: { cpu: '600m' } }), want: 'Insufficient cpu', unresolvable: false },
        { name: 'more cpu than the node has at all is unresolvable', incoming: pod('p', { requests: { cpu: '3' } }), want: 'Insufficient cpu', unresolvable: true },
        { name: 'memory', incoming: pod('p', { requests: { memory: '3.5Gi' } }), want: 'Insufficient memory' },
        { name: 'every insufficient resource is reported, in kube’s order', incoming: pod('p', { requests: { memory: '4Gi', cpu: '600m' } }), want: 'Insufficient cpu', reasons: ['Insufficient cpu', 'Insufficient memory'] },
        { name: 'extended resources', incoming: pod('p', { requests: { 'example.com/gpu': '3' } }), want: 'Insufficient example.com/gpu', unresolvable: true },
        { name: 'an extended resource the node does not have', incoming: pod('p', { requests: { 'example.com/fpga': '1' } }), want: 'Insufficient example.com/fpga' },
        { name: 'ephemeral storage is checked before extended resources', incoming: pod('p', { requests: { 'example.com/gpu': '3', 'ephemeral-storage': '11Gi' } }), want: 'Insufficient ephemeral-storage', reasons: ['Insufficient ephemeral-storage', 'Insufficient example.com/gpu'] },
        { name: 'a pod without requests fits on a node with no cpu left', incoming: pod('p'), want: FITS },
        { name: 'an init container larger than the containers decides the request', incoming: pod('p', { spec: { initContainers: [{ name: 'init', resources: { requests: { cpu: '1900m' } } }] }, requests: { cpu: '100m' } }), want: 'Insufficient cpu' },
        { name: 'pod overhead counts', incoming: pod('p', { requests: { cpu: '400m' }, spec: { overhead: { cpu: '200m' } } }), want: 'Insufficient cpu' },
      ];
      for (const c of cases) {
        it(c.name, () => {
          const snapshot = buildSnapshot([node('n1', { allocatable })], [existing]);
          expect(filter(new NodeResourcesFit(), c.incoming, snapshot)).to.deep.equal({ n1: c.want });
          const failure = new NodeResourcesFit().filter(c.incoming, snapshot.nodes[0]!, snapshot, new Map());
          if (c.reasons) expect(failure?.reasons).to.deep.equal(c.reasons);
          if (c.unresolvable !== undefined) expect(failure?.unresolvable ?? false).to.equal(c.unresolvable);
        });
      }

      it('Too many pods when the node has no pod slot left, whatever the requests', () => {
        const snapshot = buildSnapshot([node('n1', { allocatable: { cpu: '2', memory: '4Gi', pods: '1' } })], [pod('existing', { nodeName: 'n1' })]);
        expect(filter(new NodeResourcesFit(), pod('p'), snapshot)).to.deep.equal({ n1: 'Too many pods' });
      });
    });

    describe('score (LeastAllocated, cpu and memory weight 1)', () => {
      it('prefers the node with more room left after placing the pod', () => {
        const snapshot = buildSnapshot([node('n1', { allocatable: { cpu: '4000m', memory: 10000, pods: 110 } }), node('n2', { allocatable: { cpu: '6000m', memory: 10000, pods: 110 } })], []);
        const incoming = pod('p', { containers: [{ name: 'a', resources: { requests: { cpu: '1000m', memory: '2000' } } }, { name: 'b', resources: { requests: { cpu: '2000m', memory: '3000' } } }] });
        // n1: cpu (4000-3000)*100/4000 = 25, memory 50 → 37; n2: cpu 50, memory 50 → 50.
        expect(score(new NodeResourcesFit(), incoming, snapshot)).to.deep.equal({ n1: 37, n2: 50 });
      });

      it('counts containers without requests as 100m / 200Mi, so request-less pods spread', () => {
        const existing = [pod('e1', { nodeName: 'n1' }), pod('e2', { nodeName: 'n1' })];
        const snapshot = buildSnapshot([node('n1'), node('n2')], existing);
        // n1: cpu 300m of 4000 → 92, memory 600Mi of 8Gi → 92; n2: cpu 100m → 97, memory 200Mi → 97.
        expect(score(new NodeResourcesFit(), pod('p'), snapshot)).to.deep.equal({ n1: 92, n2: 97 });
      });

      it('keeps an explicit zero request at zero', () => {
        const snapshot = buildSnapshot([node('n1')], [pod('e1', { nodeName: 'n1', requests: { cpu: '0' } })]);
        // cpu 0 + 100m → 97; memory 200Mi (missing) + 200Mi → 95.
        expect(score(new NodeResourcesFit(), pod('p'), snapshot)).to.deep.equal({ n1: 96 });
      });

      it('scores a resource whose request exceeds allocatable 0, and skips a resource the node lacks', () => {
        const snapshot = buildSnapshot([node('n1', { allocatable: { cpu: '1', memory: '1Gi', pods: 110 } }), node('n2', { allocatable: { cpu: '4', pods: 110 } })], []);
        const incoming = pod('p', { requests: { cpu: '2', memory: '512Mi' } });
        // n1: cpu 0, memory 50 → 25; n2: only cpu, 50.
        expect(score(new NodeResourcesFit(), incoming, snapshot)).to.deep.equal({ n1: 25, n2: 50 });
      });
    });
  });

  describe('NodeResourcesBalancedAllocation', () => {
    const cases: { name: string; nodes: Node[]; existing?: Pod[]; incoming: Pod; want: Record<string, number> }[] = [
      {
        name: 'prefers equal cpu and memory fractions: (1 - |fcpu - fmem| / 2) * 100',
        nodes: [node('n1', { allocatable: { cpu: '4000m', memory: 10000, pods: 110 } }), node('n2', { allocatable: { cpu: '6000m', memory: 10000, pods: 110 } })],
        incoming: pod('p', { containers: [{ name: 'a', resources: { requests: { cpu: '1000m', memory: '2000' } } }, { name: 'b', resources: { requests: { cpu: '2000m', memory: '3000' } } }] }),
        want: { n1: 87, n2: 100 },
      },
      {
        name: 'counts the pods already on the node',
        nodes: [node('n1', { allocatable: { cpu: '10000m', memory: 20000, pods: 110 } })],
        existing: [pod('e', { nodeName: 'n1', requests: { cpu: '3000m' } })],
        incoming: pod('p', { requests: { cpu: '3000m', memory: '5000' } }),
        want: { n1: 82 },
      },
      {
        name: 'caps a fraction at 1',
        nodes: [node('n1', { allocatable: { cpu: '1', memory: 1000, pods: 110 } })],
        incoming: pod('p', { requests: { cpu: '2', memory: '500' } }),
        want: { n1: 75 },
      },
      {
        name: 'uses actual requests: a request-less pod on an empty node is perfectly balanced',
        nodes: [node('n1')],
        incoming: pod('p'),
        want: { n1: 100 },
      },
      {
        name: 'a node with only one resource is balanced',
        nodes: [node('n1', { allocatable: { cpu: '4', pods: 110 } })],
        incoming: pod('p', { requests: { cpu: '3' } }),
        want: { n1: 100 },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        expect(score(new BalancedAllocation(), c.incoming, buildSnapshot(c.nodes, c.existing ?? []))).to.deep.equal(c.want);
      });
    }
  });

  describe('NodePorts', () => {
    const CONFLICT = "node(s) didn't have free ports for the requested pod ports";
    const withPort = (name: string, hostPort: number, options: { protocol?: string; hostIP?: string; nodeName?: string } = {}) =>
      pod(name, {
        ...(options.nodeName ? { nodeName: options.nodeName } : {}),
        containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort, ...(options.protocol ? { protocol: options.protocol } : {}), ...(options.hostIP ? { hostIP: options.hostIP } : {}) }] }],
      });
    const cases: { name: string; existing: Pod; incoming: Pod; want: string }[] = [
      { name: 'the same TCP port conflicts', existing: withPort('e', 8080, { nodeName: 'n1' }), incoming: withPort('p', 8080), want: CONFLICT },
      { name: 'another protocol does not', existing: withPort('e', 8080, { nodeName: 'n1' }), incoming: withPort('p', 8080, { protocol: 'UDP' }), want: FITS },
      { name: 'another port does not', existing: withPort('e', 8080, { nodeName: 'n1' }), incoming: withPort('p', 8081), want: FITS },
      { name: 'different specific IPs do not', existing: withPort('e', 8080, { nodeName: 'n1', hostIP: '127.0.0.1' }), incoming: withPort('p', 8080, { hostIP: '127.0.0.2' }), want: FITS },
      { name: 'the same specific IP does', existing: withPort('e', 8080, { nodeName: 'n1', hostIP: '127.0.0.1' }), incoming: withPort('p', 8080, { hostIP: '127.0.0.1' }), want: CONFLICT },
      { name: '0.0.0.0 wanted conflicts with any IP in use', existing: withPort('e', 8080, { nodeName: 'n1', hostIP: '127.0.0.1' }), incoming: withPort('p', 8080, { hostIP: '0.0.0.0' }), want: CONFLICT },
      { name: 'a specific IP wanted conflicts with 0.0.0.0 in use', existing: withPort('e', 8001, { nodeName: 'n1' }), incoming: withPort('p', 8001, { hostIP: '127.0.0.1' }), want: CONFLICT },
      { name: 'a pod without host ports always fits', existing: withPort('e', 8080, { nodeName: 'n1' }), incoming: pod('p'), want: FITS },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const snapshot = buildSnapshot([node('n1'), node('n2')], [c.existing]);
        expect(filter(new NodePorts(), c.incoming, snapshot)).to.deep.equal({ n1: c.want, n2: FITS });
      });
    }
  });
});

// ---- The plugins that count pods across topology domains ----

const zones = (spec: Record<string, string | undefined>, extra: Record<string, NodeOptions> = {}): Node[] =>
  Object.entries(spec).map(([name, zone]) => node(name, { ...extra[name], labels: { ...(zone ? { zone } : {}), ...extra[name]?.labels } }));

describe('PodTopologySpread', () => {
  const NOT_MATCH = "node(s) didn't match pod topology spread constraints";
  const MISSING = "node(s) didn't match pod topology spread constraints (missing required label)";
  const fooExists = { matchExpressions: [{ key: 'foo', operator: 'Exists' as const }] };
  const constraint = (overrides: Partial<TopologySpreadConstraint> = {}): TopologySpreadConstraint => ({
    maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: fooExists, ...overrides,
  });
  const spreading = (constraints: TopologySpreadConstraint[], options: PodOptions = {}) =>
    pod('incoming', { labels: { foo: '' }, ...options, spec: { topologySpreadConstraints: constraints, ...options.spec } });
  const fourNodes = zones({ 'node-a': 'zone1', 'node-b': 'zone1', 'node-x': 'zone2', 'node-y': 'zone2' });
  const matching = (name: string, nodeName: string, options: PodOptions = {}) => pod(name, { labels: { foo: '' }, nodeName, ...options });

  describe('filter (DoNotSchedule)', () => {
    const cases: { name: string; nodes?: Node[]; existing: Pod[]; incoming: Pod; want: Record<string, string> }[] = [
      { name: 'no existing pods: every node fits', existing: [], incoming: spreading([constraint()]), want: { 'node-a': FITS, 'node-b': FITS, 'node-x': FITS, 'node-y': FITS } },
      {
        name: 'skew = matching in domain + self - global minimum must stay ≤ maxSkew',
        existing: [matching('a1', 'node-a'), matching('b1', 'node-b'), matching('x1', 'node-x')],
        incoming: spreading([constraint()]),
        want: { 'node-a': NOT_MATCH, 'node-b': NOT_MATCH, 'node-x': FITS, 'node-y': FITS },
      },
      {
        name: 'pods of other namespaces and terminating pods do not count',
        existing: [matching('a1', 'node-a', { namespace: 'other' }), matching('b1', 'node-b', { deleting: true }), matching('x1', 'node-x')],
        incoming: spreading([constraint()]),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': NOT_MATCH, 'node-y': NOT_MATCH },
      },
      {
        name: 'a pod its own selector does not match adds nothing to the skew',
        existing: [matching('a1', 'node-a'), matching('b1', 'node-b'), matching('x1', 'node-x')],
        incoming: spreading([constraint()], { labels: { other: 'x' } }),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': FITS, 'node-y': FITS },
      },
      {
        name: 'a node without the topology label never fits (and its pods count nowhere)',
        nodes: zones({ 'node-a': 'zone1', 'node-b': undefined, 'node-x': 'zone2' }),
        existing: [matching('b1', 'node-b'), matching('b2', 'node-b')],
        incoming: spreading([constraint()]),
        want: { 'node-a': FITS, 'node-b': MISSING, 'node-x': FITS },
      },
      {
        name: 'fewer domains than minDomains: the global minimum is 0',
        existing: [matching('a1', 'node-a'), matching('x1', 'node-x')],
        incoming: spreading([constraint({ minDomains: 3 })]),
        want: { 'node-a': NOT_MATCH, 'node-b': NOT_MATCH, 'node-x': NOT_MATCH, 'node-y': NOT_MATCH },
      },
      {
        name: 'enough domains for minDomains: the real minimum',
        existing: [matching('a1', 'node-a'), matching('x1', 'node-x')],
        incoming: spreading([constraint({ minDomains: 2 })]),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': FITS, 'node-y': FITS },
      },
      {
        name: 'two constraints must both hold (zone and hostname)',
        existing: [matching('a1', 'node-a'), matching('a2', 'node-a'), matching('x1', 'node-x')],
        incoming: spreading([constraint(), constraint({ topologyKey: 'kubernetes.io/hostname' })]),
        want: { 'node-a': NOT_MATCH, 'node-b': NOT_MATCH, 'node-x': NOT_MATCH, 'node-y': FITS },
      },
      {
        name: 'matchLabelKeys adds the pod’s own values to the selector',
        existing: [matching('a1', 'node-a', { labels: { foo: '', rev: '1' } }), matching('b1', 'node-b', { labels: { foo: '', rev: '1' } }), matching('x1', 'node-x', { labels: { foo: '', rev: '2' } })],
        incoming: spreading([constraint({ matchLabelKeys: ['rev'] })], { labels: { foo: '', rev: '2' } }),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': NOT_MATCH, 'node-y': NOT_MATCH },
      },
      {
        name: 'an absent label selector matches no pod',
        existing: [matching('a1', 'node-a'), matching('a2', 'node-a')],
        incoming: spreading([{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': FITS, 'node-y': FITS },
      },
      {
        name: 'ScheduleAnyway constraints never filter',
        existing: [matching('a1', 'node-a'), matching('a2', 'node-a')],
        incoming: spreading([constraint({ whenUnsatisfiable: 'ScheduleAnyway' })]),
        want: { 'node-a': FITS, 'node-b': FITS, 'node-x': FITS, 'node-y': FITS },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        expect(filter(new PodTopologySpread(), c.incoming, buildSnapshot(c.nodes ?? fourNodes, c.existing))).to.deep.equal(c.want);
      });
    }

    describe('node inclusion policies (a spare zone3 node, empty)', () => {
      const nodes = zones({ 'node-a': 'zone1', 'node-x': 'zone2', 'node-z': 'zone3' }, { 'node-z': { labels: { pool: 'spare' }, taints: [taint('spare', 'true', 'NoSchedule')] } });
      const existing = [matching('a1', 'node-a'), matching('x1', 'node-x')];
      const avoidSpare = { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'DoesNotExist' }] }] } } } };
      const cases: { name: string; constraint: Partial<TopologySpreadConstraint>; spec?: Partial<PodSpec>; want: string }[] = [
        { name: 'nodeAffinityPolicy Honor (default): nodes the pod cannot use are not domains', constraint: {}, spec: avoidSpare, want: FITS },
        { name: 'nodeAffinityPolicy Ignore: they are', constraint: { nodeAffinityPolicy: 'Ignore' }, spec: avoidSpare, want: NOT_MATCH },
        { name: 'nodeTaintsPolicy Ignore (default): tainted nodes are domains', constraint: {}, want: NOT_MATCH },
        { name: 'nodeTaintsPolicy Honor: nodes with untolerated taints are not', constraint: { nodeTaintsPolicy: 'Honor' }, want: FITS },
      ];
      for (const c of cases) {
        it(c.name, () => {
          const incoming = spreading([constraint(c.constraint)], { spec: c.spec ?? {} });
          expect(filter(new PodTopologySpread(), incoming, buildSnapshot(nodes, existing))['node-a']).to.equal(c.want);
        });
      }
    });

    it('fails preFilter on a label selector that does not parse', () => {
      const incoming = spreading([constraint({ labelSelector: { matchExpressions: [{ key: 'foo', operator: 'Foo' as never }] } })]);
      expect(new PodTopologySpread().preFilter(incoming, buildSnapshot(fourNodes, []), new Map())).to.deep.equal({
        reason: `obtaining pod's hard topology spread constraints: "Foo" is not a valid pod selector operator`,
        unresolvable: true,
      });
    });
  });

  describe('score (ScheduleAnyway)', () => {
    const soft = (overrides: Partial<TopologySpreadConstraint> = {}) => constraint({ whenUnsatisfiable: 'ScheduleAnyway', ...overrides });
    const hosts = zones({ a: 'zone1', b: 'zone1', c: 'zone1', d: 'zone1' });
    const cases: { name: string; nodes: Node[]; existing: Pod[]; incoming: Pod; feasible?: string[]; want: Record<string, number> }[] = [
      { name: 'no matching pods: every node 100', nodes: hosts, existing: [], incoming: spreading([soft({ topologyKey: 'kubernetes.io/hostname' })]), want: { a: 100, b: 100, c: 100, d: 100 } },
      {
        // weight ln(4 + 2); raw a = round(2 × 1.79) = 4, b = 2 → 100 × (max + min - raw) / max.
        name: 'hostname: fewer matching pods on the node is better',
        nodes: hosts,
        existing: [matching('a1', 'a'), matching('a2', 'a'), matching('b1', 'b')],
        incoming: spreading([soft({ topologyKey: 'kubernetes.io/hostname' })]),
        want: { a: 0, b: 50, c: 100, d: 100 },
      },
      {
        // weight ln(2 domains + 2): zone1 round(2 × 1.39) = 3, zone2 round(1.39) = 1.
        name: 'zone: counts per domain',
        nodes: fourNodes,
        existing: [matching('a1', 'node-a'), matching('b1', 'node-b'), matching('x1', 'node-x')],
        incoming: spreading([soft()]),
        want: { 'node-a': 33, 'node-b': 33, 'node-x': 100, 'node-y': 100 },
      },
      {
        name: 'a node without the topology label scores 0 and is left out of min/max',
        nodes: zones({ a: 'zone1', x: 'zone2', c: undefined }),
        existing: [matching('a1', 'a')],
        incoming: spreading([soft()]),
        want: { a: 0, x: 100, c: 0 },
      },
      {
        name: 'only the domains of feasible nodes count',
        nodes: fourNodes,
        existing: [matching('a1', 'node-a'), matching('a2', 'node-a'), matching('x1', 'node-x')],
        incoming: spreading([soft()]),
        feasible: ['node-x', 'node-y'],
        want: { 'node-x': 100, 'node-y': 100 },
      },
      {
        // weight ln(2 + 2): a = round(2 × 1.39 + 2) = 5, b = 2 → a 100 × 2 / 5 = 40.
        name: 'maxSkew - 1 is added to every node, softening the differences',
        nodes: zones({ a: 'zone1', b: 'zone1' }),
        existing: [matching('a1', 'a'), matching('a2', 'a')],
        incoming: spreading([soft({ topologyKey: 'kubernetes.io/hostname', maxSkew: 3 })]),
        want: { a: 40, b: 100 },
      },
      { name: 'a pod without soft constraints scores 0 everywhere', nodes: fourNodes, existing: [matching('a1', 'node-a')], incoming: spreading([constraint()]), want: { 'node-a': 0, 'node-b': 0, 'node-x': 0, 'node-y': 0 } },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const snapshot = buildSnapshot(c.nodes, c.existing);
        const feasible = c.feasible ? snapshot.nodes.filter((n) => c.feasible!.includes(nameOf(n))) : snapshot.nodes;
        expect(score(new PodTopologySpread(), c.incoming, snapshot, feasible)).to.deep.equal(c.want);
      });
    }
  });
});

describe('InterPodAffinity', () => {
  const nodes = [
    node('n1', { labels: { region: 'r1', zone: 'z11' } }),
    node('n2', { labels: { region: 'r1', zone: 'z12' } }),
    node('n3', { labels: { region: 'r2', zone: 'z21' } }),
    node('n4'),
  ];
  const AFFINITY = "node(s) didn't match pod affinity rules";
  const ANTI = "node(s) didn't match pod anti-affinity rules";
  const EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules";
  const term = (key: string, value: string, topologyKey: string, extra: Partial<PodAffinityTerm> = {}): PodAffinityTerm => ({
    labelSelector: { matchExpressions: [{ key, operator: 'In', values: [value] }] }, topologyKey, ...extra,
  });
  const affinity = (required: PodAffinityTerm[]): Partial<PodSpec> => ({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } });
  const antiAffinity = (required: PodAffinityTerm[]): Partial<PodSpec> => ({ affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } });
  const s1 = (name: string, nodeName: string, options: PodOptions = {}) => pod(name, { labels: { security: 'S1' }, nodeName, ...options });

  describe('filter', () => {
    const cases: { name: string; existing: Pod[]; incoming: Pod; want: [string, string, string, string] }[] = [
      { name: 'affinity: nodes in the domain of a matching pod', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region')]) }), want: [FITS, FITS, AFFINITY, AFFINITY] },
      { name: 'affinity by hostname: only that node', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: affinity([term('security', 'S1', 'kubernetes.io/hostname')]) }), want: [FITS, AFFINITY, AFFINITY, AFFINITY] },
      { name: 'affinity to pods that do not exist', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: affinity([term('security', 'S2', 'region')]) }), want: [AFFINITY, AFFINITY, AFFINITY, AFFINITY] },
      { name: 'the first pod of a group matching its own affinity may go anywhere with the topology key', existing: [], incoming: pod('p', { labels: { security: 'S1' }, spec: affinity([term('security', 'S1', 'region')]) }), want: [FITS, FITS, FITS, AFFINITY] },
      { name: '…but once a group member exists, it joins it', existing: [s1('p1', 'n3')], incoming: pod('p', { labels: { security: 'S1' }, spec: affinity([term('security', 'S1', 'region')]) }), want: [AFFINITY, AFFINITY, FITS, AFFINITY] },
      { name: 'one pod must match all the affinity terms', existing: [s1('p1', 'n1'), pod('p2', { labels: { app: 'web' }, nodeName: 'n2' })], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region'), term('app', 'web', 'region')]) }), want: [AFFINITY, AFFINITY, AFFINITY, AFFINITY] },
      { name: 'terms match the pod’s own namespace by default', existing: [s1('p1', 'n1', { namespace: 'other' })], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region')]) }), want: [AFFINITY, AFFINITY, AFFINITY, AFFINITY] },
      { name: 'listed namespaces', existing: [s1('p1', 'n1', { namespace: 'other' })], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region', { namespaces: ['other'] })]) }), want: [FITS, FITS, AFFINITY, AFFINITY] },
      { name: 'an empty namespaceSelector selects every namespace', existing: [s1('p1', 'n1', { namespace: 'other' })], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region', { namespaceSelector: {} })]) }), want: [FITS, FITS, AFFINITY, AFFINITY] },
      { name: 'a namespaceSelector on kubernetes.io/metadata.name', existing: [s1('p1', 'n1', { namespace: 'other' })], incoming: pod('p', { spec: affinity([term('security', 'S1', 'region', { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } })]) }), want: [FITS, FITS, AFFINITY, AFFINITY] },
      { name: 'matchLabelKeys: only pods with the pod’s own value', existing: [s1('p1', 'n1', { labels: { security: 'S1', rev: '1' } }), s1('p2', 'n3', { labels: { security: 'S1', rev: '2' } })], incoming: pod('p', { labels: { rev: '2' }, spec: affinity([term('security', 'S1', 'region', { matchLabelKeys: ['rev'] })]) }), want: [AFFINITY, AFFINITY, FITS, AFFINITY] },
      { name: 'mismatchLabelKeys: only pods with another value', existing: [s1('p1', 'n1', { labels: { security: 'S1', rev: '1' } }), s1('p2', 'n3', { labels: { security: 'S1', rev: '2' } })], incoming: pod('p', { labels: { rev: '2' }, spec: affinity([term('security', 'S1', 'region', { mismatchLabelKeys: ['rev'] })]) }), want: [FITS, FITS, AFFINITY, AFFINITY] },
      { name: 'anti-affinity: not in the domain of a matching pod', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: antiAffinity([term('security', 'S1', 'zone')]) }), want: [ANTI, FITS, FITS, FITS] },
      { name: 'anti-affinity by region', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: antiAffinity([term('security', 'S1', 'region')]) }), want: [ANTI, ANTI, FITS, FITS] },
      { name: 'an existing pod’s anti-affinity keeps a matching pod out of its domain', existing: [pod('p1', { nodeName: 'n1', spec: antiAffinity([term('app', 'web', 'region')]) })], incoming: pod('p', { labels: { app: 'web' } }), want: [EXISTING_ANTI, EXISTING_ANTI, FITS, FITS] },
      { name: '…and not a pod it does not match', existing: [pod('p1', { nodeName: 'n1', spec: antiAffinity([term('app', 'web', 'region')]) })], incoming: pod('p', { labels: { app: 'db' } }), want: [FITS, FITS, FITS, FITS] },
      {
        name: 'an existing pod’s matchLabelKeys use its own labels',
        existing: [
          pod('p1', { nodeName: 'n1', labels: { rev: '1' }, spec: antiAffinity([term('security', 'S1', 'region', { matchLabelKeys: ['rev'] })]) }),
          pod('p2', { nodeName: 'n3', labels: { rev: '2' }, spec: antiAffinity([term('security', 'S1', 'region', { matchLabelKeys: ['rev'] })]) }),
        ],
        incoming: pod('p', { labels: { security: 'S1', rev: '2' } }),
        want: [FITS, FITS, EXISTING_ANTI, FITS],
      },
      { name: '…nor a pod of another namespace', existing: [pod('p1', { nodeName: 'n1', namespace: 'other', spec: antiAffinity([term('app', 'web', 'region')]) })], incoming: pod('p', { labels: { app: 'web' } }), want: [FITS, FITS, FITS, FITS] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const verdicts = filter(new InterPodAffinity(), c.incoming, buildSnapshot(nodes, c.existing));
        expect([verdicts.n1, verdicts.n2, verdicts.n3, verdicts.n4]).to.deep.equal(c.want);
      });
    }

    it('marks affinity failures unresolvable and anti-affinity failures resolvable', () => {
      const snapshot = buildSnapshot(nodes, [s1('p1', 'n1')]);
      const plugin = new InterPodAffinity();
      const check = (incoming: Pod) => {
        const state: CycleState = new Map();
        plugin.preFilter(incoming, snapshot, state);
        return plugin.filter(incoming, snapshot.nodes[2]!, snapshot, state)?.unresolvable ?? false;
      };
      expect(check(pod('p', { spec: affinity([term('security', 'S1', 'region')]) }))).to.equal(true);
      const anti = pod('p', { spec: antiAffinity([term('security', 'S1', 'region')]) });
      const state: CycleState = new Map();
      plugin.preFilter(anti, snapshot, state);
      expect(plugin.filter(anti, snapshot.nodes[0]!, snapshot, state)).to.deep.equal({ reason: ANTI });
    });

    it('resolves namespaceSelector with the bound NamespaceLabels lookup', () => {
      const container = new Container();
      container.bind(NamespaceLabels).toConstantValue((ns: string) => (ns === 'other' ? { team: 'a' } : {}));
      container.bind(InterPodAffinity).toSelf();
      const incoming = pod('p', { spec: affinity([term('security', 'S1', 'region', { namespaceSelector: { matchLabels: { team: 'a' } } })]) });
      const verdicts = filter(container.get(InterPodAffinity), incoming, buildSnapshot(nodes, [s1('p1', 'n1', { namespace: 'other' })]));
      expect(verdicts).to.deep.equal({ n1: FITS, n2: FITS, n3: AFFINITY, n4: AFFINITY });
    });

    it('fails preFilter on a term that does not parse', () => {
      const incoming = pod('p', { spec: affinity([{ labelSelector: { matchExpressions: [{ key: 'a', operator: 'Foo' as never }] }, topologyKey: 'region' }]) });
      expect(new InterPodAffinity().preFilter(incoming, buildSnapshot(nodes, []), new Map())).to.deep.equal({
        reason: 'parsing pod: "Foo" is not a valid pod selector operator',
        unresolvable: true,
      });
    });
  });

  describe('score', () => {
    const preferred = (kind: 'podAffinity' | 'podAntiAffinity', terms: [number, PodAffinityTerm][]): Partial<PodSpec> => ({
      affinity: { [kind]: { preferredDuringSchedulingIgnoredDuringExecution: terms.map(([weight, podAffinityTerm]) => ({ weight, podAffinityTerm })) } },
    });
    const cases: { name: string; existing: Pod[]; incoming: Pod; want: [number, number, number, number] }[] = [
      { name: 'no terms anywhere: all 0', existing: [s1('p1', 'n1')], incoming: pod('p'), want: [0, 0, 0, 0] },
      { name: 'preferred affinity: the matching pod’s domain scores highest', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: preferred('podAffinity', [[5, term('security', 'S1', 'region')]]) }), want: [100, 100, 0, 0] },
      { name: 'preferred anti-affinity: the matching pod’s domain scores lowest', existing: [s1('p1', 'n1')], incoming: pod('p', { spec: preferred('podAntiAffinity', [[5, term('security', 'S1', 'region')]]) }), want: [0, 0, 100, 100] },
      {
        // r1 +8, r2 -5, n4 0 → min -5, max 8: n4 = 100 × 5 / 13 = 38.
        name: 'affinity and anti-affinity together, normalized min–max',
        existing: [s1('p1', 'n1'), pod('p2', { labels: { app: 'web' }, nodeName: 'n3' })],
        incoming: pod('p', { spec: { affinity: { ...preferred('podAffinity', [[8, term('security', 'S1', 'region')]]).affinity, ...preferred('podAntiAffinity', [[5, term('app', 'web', 'region')]]).affinity } } }),
        want: [100, 100, 0, 38],
      },
      { name: 'an existing pod’s required affinity toward the pod counts with weight 1', existing: [pod('p1', { nodeName: 'n1', spec: affinity([term('app', 'web', 'region')]) })], incoming: pod('p', { labels: { app: 'web' } }), want: [100, 100, 0, 0] },
      { name: 'an existing pod’s preferred affinity toward the pod', existing: [pod('p1', { nodeName: 'n3', spec: preferred('podAffinity', [[3, term('app', 'web', 'zone')]]) })], incoming: pod('p', { labels: { app: 'web' } }), want: [0, 0, 100, 0] },
      { name: 'an existing pod’s preferred anti-affinity against the pod', existing: [pod('p1', { nodeName: 'n3', spec: preferred('podAntiAffinity', [[10, term('app', 'web', 'region')]]) })], incoming: pod('p', { labels: { app: 'web' } }), want: [100, 100, 0, 100] },
      { name: 'pods of other namespaces do not match by default', existing: [s1('p1', 'n1', { namespace: 'other' })], incoming: pod('p', { spec: preferred('podAffinity', [[5, term('security', 'S1', 'region')]]) }), want: [0, 0, 0, 0] },
      {
        // raw n1 29, n2 29 + 71 = 100: kube computes 100 × (29 / 100) = 28.999… → 28.
        name: 'scales the fraction as kube does (float, truncated)',
        existing: [s1('p1', 'n2')],
        incoming: pod('p', { spec: preferred('podAffinity', [[29, term('security', 'S1', 'region')], [71, term('security', 'S1', 'zone')]]) }),
        want: [28, 100, 0, 0],
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const scores = score(new InterPodAffinity(), c.incoming, buildSnapshot(nodes, c.existing));
        expect([scores.n1, scores.n2, scores.n3, scores.n4]).to.deep.equal(c.want);
      });
    }
  });
});

describe('Default plugins across cycles (the per-snapshot caches follow the snapshot)', () => {
  const zoneSpread = (whenUnsatisfiable: string): Partial<PodSpec> => ({
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable, labelSelector: { matchLabels: { app: 'web' } } }],
  });
  const web = (name: string, nodeName?: string) => pod(name, { labels: { app: 'web' }, ...(nodeName ? { nodeName } : {}) });

  /** A snapshot whose node list and pod list the test edits between cycles, as the scheduler's cache does. */
  function mutableSnapshot(nodes: Node[], pods: Pod[]) {
    const infos = nodes.map((n) => new MutableNodeInfo(n));
    const placed: Pod[] = [];
    const snapshot: Snapshot = { nodes: infos, pods: placed, get: (name) => infos.find((i) => nameOf(i) === name) };
    const place = (p: Pod) => {
      infos.find((i) => nameOf(i) === p.spec!.nodeName)!.addPod(p);
      placed.push(p);
    };
    pods.forEach(place);
    return { snapshot, infos, placed, place };
  }

  it('PodTopologySpread sees pods placed, removed and replaced since the last cycle', () => {
    const { snapshot, placed, place } = mutableSnapshot(zones({ a: 'zone1', x: 'zone2' }), [web('w1', 'a')]);
    const plugin = new PodTopologySpread();
    const incoming = pod('p', { labels: { app: 'web' }, spec: zoneSpread('DoNotSchedule') });
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: "node(s) didn't match pod topology spread constraints", x: FITS });
    place(web('w2', 'x'));
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: FITS });
    placed[0] = placed.pop()!; // w1 removed the way the cache removes: the last pod takes its slot
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: "node(s) didn't match pod topology spread constraints" });
    placed[0] = pod('w2', { labels: { app: 'db' }, nodeName: 'x' }); // relabelled: a new object
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: FITS });
  });

  it('PodTopologySpread sees a node joining (a new, empty domain lowers the minimum)', () => {
    const { snapshot, infos } = mutableSnapshot(zones({ a: 'zone1', x: 'zone2' }), [web('w1', 'a'), web('w2', 'x')]);
    const plugin = new PodTopologySpread();
    const incoming = pod('p', { labels: { app: 'web' }, spec: zoneSpread('DoNotSchedule') });
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: FITS });
    infos.push(new MutableNodeInfo(node('z', { labels: { zone: 'zone3' } })));
    const NOT_MATCH = "node(s) didn't match pod topology spread constraints";
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: NOT_MATCH, x: NOT_MATCH, z: FITS });
  });

  it('InterPodAffinity sees an existing pod’s anti-affinity appear and go', () => {
    const { snapshot, placed, place } = mutableSnapshot(zones({ a: 'zone1', x: 'zone2' }), []);
    const plugin = new InterPodAffinity();
    const incoming = pod('p', { labels: { app: 'web' } });
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: FITS });
    const loner = pod('loner', { nodeName: 'a', spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'zone' }] } } } });
    place(loner);
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: "node(s) didn't satisfy existing pods anti-affinity rules", x: FITS });
    placed.pop();
    expect(filter(plugin, incoming, snapshot)).to.deep.equal({ a: FITS, x: FITS });
  });

  it('NodeResourcesFit scores with the pods added to a node since the last cycle', () => {
    const { snapshot, place } = mutableSnapshot([node('n1'), node('n2')], []);
    const plugin = new NodeResourcesFit();
    expect(score(plugin, pod('p', { requests: { cpu: '1', memory: '2Gi' } }), snapshot)).to.deep.equal({ n1: 75, n2: 75 });
    place(pod('e', { nodeName: 'n1', requests: { cpu: '2', memory: '4Gi' } }));
    expect(score(plugin, pod('p', { requests: { cpu: '1', memory: '2Gi' } }), snapshot)).to.deep.equal({ n1: 25, n2: 75 });
  });

  it('filter and score work when preFilter and preScore did not run', () => {
    const snapshot = buildSnapshot(zones({ a: 'zone1', x: 'zone2' }), [web('w1', 'a')]);
    const spreading = pod('p', { labels: { app: 'web' }, spec: zoneSpread('DoNotSchedule') });
    const selecting = pod('p', { spec: { nodeSelector: { zone: 'zone2' } } });
    const [a, x] = snapshot.nodes as [NodeInfo, NodeInfo];
    expect(new PodTopologySpread().filter(spreading, a, snapshot, new Map())?.reason).to.equal("node(s) didn't match pod topology spread constraints");
    expect(new PodTopologySpread().filter(spreading, x, snapshot, new Map())).to.equal(undefined);
    expect(new NodeAffinity().filter(selecting, a, snapshot, new Map())?.reason).to.equal("node(s) didn't match Pod's node affinity/selector");
    expect(new NodeAffinity().filter(selecting, x, snapshot, new Map())).to.equal(undefined);
    expect(new NodeResourcesFit().score(selecting, x, snapshot, new Map())).to.equal(97);
    expect(new PodTopologySpread().score(pod('p', { labels: { app: 'web' }, spec: zoneSpread('ScheduleAnyway') }), x, snapshot, new Map())).to.equal(0);
  });
});
