/**
 * Server-side Tables (what `kubectl get` prints) against kube's printers: pod STATUS/READY/
 * RESTARTS in many states, ages as duration.HumanDuration, service ports and external IPs, node
 * status and roles, endpoints, events, the other built-in kinds, CRD printer columns (JSONPath,
 * typed cells, the default Age column), kube's default table, includeObject and watch events.
 */
import { expect } from 'chai';
import { ApiError } from '../../lib/api/errors.js';
import { BUILTIN_RESOURCES, type Event } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { ResourceInfo } from '../../lib/api/resources.js';
import type { CustomResourceColumnDefinition } from '../../lib/api/types/apiextensions.js';
import { customResourceOf, servedVersions } from '../../lib/registry/custom-resource.js';
import { humanDuration, tableOfEvent, toTable, type Table } from '../../lib/apiserver/table.js';

const NOW = Date.parse('2024-06-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString().replace('.000Z', 'Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

function info(plural: string): ResourceInfo {
  const found = BUILTIN_RESOURCES.find((r) => r.plural === plural);
  if (!found) throw new Error(plural);
  return found;
}

/** The cells of each row, keyed by column name (all columns, wide ones included). */
function cellsOf(table: Table): Record<string, unknown>[] {
  return table.rows.map((row) => Object.fromEntries(table.columnDefinitions.map((c, i) => [c.name, row.cells[i]])));
}

function one(plural: string, object: KubeObject): Record<string, unknown> {
  const table = toTable(info(plural), [object], { now: NOW });
  expect(table.rows[0]!.cells).to.have.length(table.columnDefinitions.length);
  return cellsOf(table)[0]!;
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'default', creationTimestamp: ago(3 * H + 2 * M), resourceVersion: '7', ...extra });
const running = (ready = true, extra: Record<string, unknown> = {}) => ({ name: 'c', image: 'i', imageID: '', ready, restartCount: 0, state: { running: { startedAt: ago(H) } }, ...extra });
const waiting = (reason: string, extra: Record<string, unknown> = {}) => ({ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason } }, ...extra });
const terminated = (t: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: t }, ...extra });
const pod = (spec: Record<string, unknown>, status: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: meta('p', metadata), spec: { containers: [{ name: 'c', image: 'i' }], ...spec }, status }) as KubeObject;
const two = { containers: [{ name: 'a', image: 'i' }, { name: 'b', image: 'i' }] };
const sidecar = { initContainers: [{ name: 'log', image: 'i', restartPolicy: 'Always' }] };
const oneInit = { initContainers: [{ name: 'init', image: 'i' }] };

describe('apiserver tables', () => {
  describe('humanDuration (kube duration.HumanDuration)', () => {
    const cases: [number, string][] = [
      [0, '0s'], [-1500, '0s'], [-2 * S, '<invalid>'], [45 * S, '45s'], [119 * S, '119s'], [2 * M, '2m'], [5 * M + 30 * S, '5m30s'],
      [10 * M + 30 * S, '10m'], [179 * M, '179m'], [3 * H, '3h'], [3 * H + 2 * M, '3h2m'], [7 * H + 59 * M, '7h59m'], [8 * H + 5 * M, '8h'],
      [47 * H, '47h'], [2 * D, '2d'], [3 * D + 4 * H, '3d4h'], [8 * D, '8d'], [729 * D, '729d'], [730 * D, '2y'], [830 * D, '2y100d'],
      [8 * 365 * D, '8y'], [3650 * D, '10y'],
    ];
    for (const [ms, want] of cases) it(`${ms} ms → ${want}`, () => expect(humanDuration(ms)).to.equal(want));
  });

  describe('pods', () => {
    const cases: { name: string; pod: KubeObject; ready: string; status: string; restarts: string; completed?: string }[] = [
      { name: 'Pending, unscheduled', pod: pod({}, { phase: 'Pending' }), ready: '0/1', status: 'Pending', restarts: '0' },
      { name: 'ContainerCreating', pod: pod({}, { phase: 'Pending', containerStatuses: [waiting('ContainerCreating')] }), ready: '0/1', status: 'ContainerCreating', restarts: '0' },
      { name: 'Running 1/2', pod: pod(two, { phase: 'Running', containerStatuses: [running(true, { name: 'a' }), running(false, { name: 'b' })] }), ready: '1/2', status: 'Running', restarts: '0' },
      {
        name: 'CrashLoopBackOff with restarts',
        pod: pod({}, { phase: 'Running', containerStatuses: [waiting('CrashLoopBackOff', { restartCount: 5, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(5 * M) } } })] }),
        ready: '0/1', status: 'CrashLoopBackOff', restarts: '5 (5m ago)',
      },
      { name: 'restarts without a last termination', pod: pod({}, { phase: 'Running', containerStatuses: [running(true, { restartCount: 3 })] }), ready: '1/1', status: 'Running', restarts: '3' },
      { name: 'Completed', pod: pod({}, { phase: 'Succeeded', containerStatuses: [terminated({ exitCode: 0, reason: 'Completed' })] }), ready: '0/1', status: 'Completed', restarts: '0', completed: 'Succeeded' },
      { name: 'Error', pod: pod({}, { phase: 'Failed', containerStatuses: [terminated({ exitCode: 2, reason: 'Error' })] }), ready: '0/1', status: 'Error', restarts: '0', completed: 'Failed' },
      { name: 'ExitCode without reason', pod: pod({}, { phase: 'Running', containerStatuses: [terminated({ exitCode: 3 })] }), ready: '0/1', status: 'ExitCode:3', restarts: '0' },
      { name: 'Signal without reason', pod: pod({}, { phase: 'Running', containerStatuses: [terminated({ exitCode: 137, signal: 9 })] }), ready: '0/1', status: 'Signal:9', restarts: '0' },
      { name: 'Terminating', pod: pod({}, { phase: 'Running', containerStatuses: [running()] }, { deletionTimestamp: ago(S) }), ready: '1/1', status: 'Terminating', restarts: '0' },
      { name: 'a finished pod being deleted', pod: pod({}, { phase: 'Succeeded', containerStatuses: [terminated({ exitCode: 0, reason: 'Completed' })] }, { deletionTimestamp: ago(S) }), ready: '0/1', status: 'Completed', restarts: '0', completed: 'Succeeded' },
      { name: 'NodeLost', pod: pod({}, { phase: 'Running', reason: 'NodeLost', containerStatuses: [running()] }, { deletionTimestamp: ago(S) }), ready: '1/1', status: 'Unknown', restarts: '0' },
      { name: 'Init:0/1', pod: pod(oneInit, { phase: 'Pending', initContainerStatuses: [running(false, { name: 'init' })], containerStatuses: [waiting('PodInitializing')] }), ready: '0/1', status: 'Init:0/1', restarts: '0' },
      {
        name: 'Init:CrashLoopBackOff counts init restarts',
        pod: pod(oneInit, { phase: 'Pending', initContainerStatuses: [waiting('CrashLoopBackOff', { name: 'init', restartCount: 4, lastState: { terminated: { exitCode: 1, finishedAt: ago(90 * S) } } })] }),
        ready: '0/1', status: 'Init:CrashLoopBackOff', restarts: '4 (90s ago)',
      },
      { name: 'Init:Error', pod: pod(oneInit, { phase: 'Failed', initContainerStatuses: [terminated({ exitCode: 1, reason: 'Error' }, { name: 'init' })] }), ready: '0/1', status: 'Init:Error', restarts: '0', completed: 'Failed' },
      { name: 'Init:ExitCode', pod: pod(oneInit, { phase: 'Pending', initContainerStatuses: [terminated({ exitCode: 7 }, { name: 'init' })] }), ready: '0/1', status: 'Init:ExitCode:7', restarts: '0' },
      { name: 'Evicted', pod: pod({}, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }), ready: '0/1', status: 'Evicted', restarts: '0', completed: 'Failed' },
      { name: 'SchedulingGated', pod: pod({}, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }), ready: '0/1', status: 'SchedulingGated', restarts: '0' },
      {
        name: 'a running sidecar counts as a container',
        pod: pod(sidecar, { phase: 'Running', conditions: [{ type: 'Initialized', status: 'True' }], initContainerStatuses: [running(true, { name: 'log', started: true, restartCount: 1, lastState: { terminated: { exitCode: 1, finishedAt: ago(20 * M) } } })], containerStatuses: [running()] }),
        ready: '2/2', status: 'Running', restarts: '1 (20m ago)',
      },
      {
        name: 'Completed next to a running container is NotReady without the Ready condition',
        pod: pod(two, { phase: 'Running', containerStatuses: [running(true, { name: 'a' }), terminated({ exitCode: 0, reason: 'Completed' }, { name: 'b' })] }),
        ready: '1/2', status: 'NotReady', restarts: '0',
      },
      {
        name: 'Completed next to a running container is Running with the Ready condition',
        pod: pod(two, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [running(true, { name: 'a' }), terminated({ exitCode: 0, reason: 'Completed' }, { name: 'b' })] }),
        ready: '1/2', status: 'Running', restarts: '0',
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const table = toTable(info('pods'), [c.pod], { now: NOW });
        const row = cellsOf(table)[0]!;
        expect([row.Ready, row.Status, row.Restarts]).to.deep.equal([c.ready, c.status, c.restarts]);
        expect(table.rows[0]!.conditions?.[0]?.reason).to.equal(c.completed);
      });
    }

    it('has kube 1.32 columns; wide cells, and the age of the pod', () => {
      const table = toTable(info('pods'), [pod({ nodeName: 'n1', readinessGates: [{ conditionType: 'x' }, { conditionType: 'y' }] }, { phase: 'Running', podIP: '127.64.0.5', conditions: [{ type: 'x', status: 'True' }], containerStatuses: [running()] })], { now: NOW });
      expect(table.columnDefinitions.map((c) => [c.name, c.type, c.priority])).to.deep.equal([
        ['Name', 'string', 0], ['Ready', 'string', 0], ['Status', 'string', 0], ['Restarts', 'string', 0], ['Age', 'string', 0],
        ['IP', 'string', 1], ['Node', 'string', 1], ['Nominated Node', 'string', 1], ['Readiness Gates', 'string', 1],
      ]);
      expect(table.columnDefinitions[0]!.format).to.equal('name');
      expect(table.rows[0]!.cells).to.deep.equal(['p', '1/1', 'Running', '0', '3h2m', '127.64.0.5', 'n1', '<none>', '1/2']);
      expect(one('pods', pod({}, {}, { creationTimestamp: undefined })).Age).to.equal('<unknown>');
    });
  });

  describe('services', () => {
    const svc = (spec: Record<string, unknown>, status: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Service', metadata: meta('s'), spec, status }) as KubeObject;
    const cases: [string, KubeObject, string, string, string, string][] = [
      ['ClusterIP', svc({ type: 'ClusterIP', clusterIP: '127.96.0.10', clusterIPs: ['127.96.0.10'], ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { b: '2', a: '1' } }), 'ClusterIP', '127.96.0.10', '<none>', '80/TCP,53/UDP'],
      ['NodePort', svc({ type: 'NodePort', clusterIP: '127.96.0.11', ports: [{ port: 80, nodePort: 30080 }, { port: 443, nodePort: 30443, protocol: 'TCP' }], externalIPs: ['1.2.3.4'] }), 'NodePort', '127.96.0.11', '1.2.3.4', '80:30080/TCP,443:30443/TCP'],
      ['LoadBalancer pending', svc({ type: 'LoadBalancer', clusterIPs: ['127.96.0.12'], ports: [{ port: 80, nodePort: 31000, protocol: 'TCP' }] }), 'LoadBalancer', '127.96.0.12', '<pending>', '80:31000/TCP'],
      ['LoadBalancer with ingress and external IPs', svc({ type: 'LoadBalancer', clusterIPs: ['127.96.0.13'], externalIPs: ['9.9.9.9'], ports: [] }, { loadBalancer: { ingress: [{ ip: '5.5.5.5' }, { hostname: 'lb.example.com' }] } }), 'LoadBalancer', '127.96.0.13', '5.5.5.5,lb.example.com,9.9.9.9', '<none>'],
      ['ExternalName', svc({ type: 'ExternalName', externalName: 'db.example.com' }), 'ExternalName', '<none>', 'db.example.com', '<none>'],
      ['headless', svc({ type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 5432, protocol: 'TCP' }] }), 'ClusterIP', 'None', '<none>', '5432/TCP'],
    ];
    for (const [name, object, type, clusterIP, externalIP, ports] of cases) {
      it(name, () => {
        const row = one('services', object);
        expect([row.Type, row['Cluster-IP'], row['External-IP'], row['Port(s)'], row.Age]).to.deep.equal([type, clusterIP, externalIP, ports, '3h2m']);
      });
    }
    it('prints the selector as labels, <none> without one', () => {
      expect(one('services', cases[0]![1]).Selector).to.equal('a=1,b=2');
      expect(one('services', cases[1]![1]).Selector).to.equal('<none>');
    });
  });

  describe('nodes', () => {
    const node = (labels: Record<string, string>, spec: Record<string, unknown>, conditions: unknown[]) =>
      ({
        apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', labels, creationTimestamp: ago(3 * D) }, spec,
        status: { conditions, addresses: [{ type: 'Hostname', address: 'n' }, { type: 'InternalIP', address: '127.1.0.1' }], nodeInfo: { kubeletVersion: 'v1.32.0-keelson', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'keelson://0.1' } },
      }) as KubeObject;
    const ready = [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }];
    const cases: [string, KubeObject, string, string][] = [
      ['Ready control plane', node({ 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/master': '' }, {}, ready), 'Ready', 'control-plane,master'],
      ['NotReady', node({}, {}, [{ type: 'Ready', status: 'False' }]), 'NotReady', '<none>'],
      ['Unknown (no Ready condition)', node({ 'kubernetes.io/role': 'worker' }, {}, []), 'Unknown', 'worker'],
      ['cordoned', node({}, { unschedulable: true }, ready), 'Ready,SchedulingDisabled', '<none>'],
      ['Ready condition Unknown', node({}, {}, [{ type: 'Ready', status: 'Unknown' }]), 'NotReady', '<none>'],
    ];
    for (const [name, object, status, roles] of cases) {
      it(name, () => {
        const row = one('nodes', object);
        expect([row.Status, row.Roles, row.Age, row.Version]).to.deep.equal([status, roles, '3d', 'v1.32.0-keelson']);
      });
    }
    it('prints addresses and node info in the wide columns', () => {
      const row = one('nodes', cases[0]![1]);
      expect([row['Internal-IP'], row['External-IP'], row['OS-Image'], row['Kernel-Version'], row['Container-Runtime']]).to.deep.equal(['127.1.0.1', '<none>', 'Debian', '6.1', 'keelson://0.1']);
      expect(one('nodes', { kind: 'Node', metadata: { name: 'x' } }).Status).to.equal('Unknown');
    });
  });

  describe('other built-in kinds', () => {
    it('endpoints: three ip:port, then "+ N more..."; <none> without subsets', () => {
      const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip) => ({ ip }));
      expect(one('endpoints', { kind: 'Endpoints', metadata: meta('e'), subsets: [{ addresses, ports: [{ port: 80 }] }] } as KubeObject).Endpoints).to.equal('10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...');
      expect(one('endpoints', { kind: 'Endpoints', metadata: meta('e'), subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }, { port: 443 }] }] } as KubeObject).Endpoints).to.equal('[fd00::1]:80,[fd00::1]:443');
      expect(one('endpoints', { kind: 'Endpoints', metadata: meta('e'), subsets: [{ addresses: [{ ip: '10.0.0.9' }] }] } as KubeObject).Endpoints).to.equal('10.0.0.9');
      expect(one('endpoints', { kind: 'Endpoints', metadata: meta('e') }).Endpoints).to.equal('<none>');
    });

    it('replication controllers: integer cells and wide template columns', () => {
      const rc = { kind: 'ReplicationController', metadata: meta('web'), spec: { replicas: 3, selector: { app: 'web' }, template: { spec: { containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'busybox' }] } } }, status: { replicas: 3, readyReplicas: 2 } } as KubeObject;
      expect(toTable(info('replicationcontrollers'), [rc], { now: NOW }).rows[0]!.cells).to.deep.equal(['web', 3, 3, 2, '3h2m', 'a,b', 'nginx,busybox', 'app=web']);
      expect(one('replicationcontrollers', { kind: 'ReplicationController', metadata: meta('x') }).Desired).to.equal(1);
    });

    it('namespaces, config maps, secrets and leases', () => {
      expect(toTable(info('namespaces'), [{ kind: 'Namespace', metadata: meta('ns'), status: { phase: 'Terminating' } } as KubeObject], { now: NOW }).rows[0]!.cells).to.deep.equal(['ns', 'Terminating', '3h2m']);
      expect(toTable(info('configmaps'), [{ kind: 'ConfigMap', metadata: meta('cm'), data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } } as KubeObject], { now: NOW }).rows[0]!.cells).to.deep.equal(['cm', 3, '3h2m']);
      expect(toTable(info('secrets'), [{ kind: 'Secret', metadata: meta('s'), type: 'Opaque', data: { a: 'MQ==' } } as KubeObject], { now: NOW }).rows[0]!.cells).to.deep.equal(['s', 'Opaque', 1, '3h2m']);
      expect(toTable(info('leases'), [{ kind: 'Lease', metadata: meta('l'), spec: { holderIdentity: 'n1' } } as KubeObject], { now: NOW }).rows[0]!.cells).to.deep.equal(['l', 'n1', '3h2m']);
      expect(toTable(info('leases'), [{ kind: 'Lease', metadata: meta('l'), spec: {} } as KubeObject], { now: NOW }).rows[0]!.cells[1]).to.equal('');
    });

    it('events: kube columns and cells (last/first seen, object, source, count)', () => {
      const table = toTable(info('events'), [
        { kind: 'Event', metadata: meta('p.1'), involvedObject: { kind: 'Pod', name: 'p', fieldPath: 'spec.containers{c}' }, reason: 'Started', message: ' Started container c\n', type: 'Normal', source: { component: 'kubelet', host: 'n1' }, firstTimestamp: ago(10 * M), lastTimestamp: ago(2 * M), count: 4 },
        { kind: 'Event', metadata: meta('x.2'), involvedObject: { kind: 'Node' }, reason: 'R', type: 'Warning', eventTime: ago(30 * S), reportingComponent: 'scheduler', reportingInstance: 'sched-1' },
        { kind: 'Event', metadata: meta('y.3'), involvedObject: { kind: 'Pod', name: 'q' }, reason: 'BackOff', type: 'Warning', firstTimestamp: ago(H), series: { count: 9, lastObservedTime: ago(15 * S) } },
      ] as Event[], { now: NOW });
      expect(table.columnDefinitions.map((c) => `${c.name}/${c.priority}`)).to.deep.equal(['Last Seen/0', 'Type/0', 'Reason/0', 'Object/0', 'Subobject/1', 'Source/1', 'Message/0', 'First Seen/1', 'Count/1', 'Name/1']);
      expect(table.rows.map((r) => r.cells)).to.deep.equal([
        ['2m', 'Normal', 'Started', 'pod/p', 'spec.containers{c}', 'kubelet, n1', 'Started container c', '10m', 4, 'p.1'],
        ['30s', 'Warning', 'R', 'node', '', 'scheduler, sched-1', '', '30s', 1, 'x.2'],
        ['15s', 'Warning', 'BackOff', 'pod/q', '', '', '', '60m', 9, 'y.3'],
      ]);
    });

    it('kinds without a printer get the default table (Name, Created At)', () => {
      for (const plural of ['customresourcedefinitions', 'bindings']) {
        const table = toTable(info(plural), [{ kind: 'X', metadata: { name: 'a', creationTimestamp: '2024-01-02T03:04:05Z' } }, { kind: 'X', metadata: { name: 'b' } }], { now: NOW });
        expect(table.columnDefinitions.map((c) => [c.name, c.type, c.format])).to.deep.equal([['Name', 'string', 'name'], ['Created At', 'date', '']]);
        expect(table.rows.map((r) => r.cells)).to.deep.equal([['a', '2024-01-02T03:04:05Z'], ['b', '0001-01-01T00:00:00Z']]);
      }
    });
  });

  describe('custom resources', () => {
    const crd = (columns?: CustomResourceColumnDefinition[]) =>
      servedVersions({
        metadata: { name: 'widgets.example.com' },
        spec: { group: 'example.com', scope: 'Namespaced', names: { kind: 'Widget', plural: 'widgets' }, versions: [{ name: 'v1', served: true, storage: true, ...(columns ? { additionalPrinterColumns: columns } : {}) }] },
      } as never)[0]!;
    const widget = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: meta('w1', { creationTimestamp: ago(2 * D) }), spec: { replicas: 3, ratio: 1.5, size: 2.9, on: true, tags: { b: 1, a: '<x>' } }, status: { conditions: [{ type: 'Synced', status: 'False' }, { type: 'Ready', status: 'True', lastTransitionTime: ago(5 * M) }] } } as KubeObject;
    const columns: CustomResourceColumnDefinition[] = [
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Is it ready' },
      { name: 'Since', type: 'date', jsonPath: '.status.conditions[?(@.type=="Ready")].lastTransitionTime' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Size', type: 'integer', jsonPath: '.spec.size', priority: 1 },
      { name: 'Ratio', type: 'number', format: 'float', jsonPath: '.spec.ratio', priority: 1 },
      { name: 'On', type: 'boolean', jsonPath: '.spec.on', priority: 1 },
      { name: 'Tags', type: 'string', jsonPath: '.spec.tags', priority: 1 },
      { name: 'RatioText', type: 'string', jsonPath: '.spec.ratio', priority: 1 },
      { name: 'Missing', type: 'string', jsonPath: '.status.nothing[0]', priority: 1 },
      { name: 'FirstType', type: 'string', jsonPath: '.status.conditions[0].type', priority: 1 },
      { name: 'LastType', type: 'string', jsonPath: '.status.conditions[-1].type', priority: 1 },
    ];

    it('prints the printer columns: Name first, JSONPath values rendered by type', () => {
      const table = toTable(crd(columns), [widget], { now: NOW, printerColumns: columns });
      expect(table.columnDefinitions[1]).to.deep.equal({ name: 'Replicas', type: 'integer', format: '', description: 'Custom resource definition column (in JSONPath format): .spec.replicas', priority: 0 });
      expect(table.columnDefinitions[2]!.description).to.equal('Is it ready');
      expect(table.columnDefinitions[6]).to.include({ format: 'float', priority: 1 });
      expect(table.rows[0]!.cells).to.deep.equal(['w1', 3, 'True', '5m', '2d', 2, 1.5, true, '{"a":"\\u003cx\\u003e","b":1}', '1.5', null, 'Synced', 'Ready']);
    });

    it('reads the columns the CRD version carries', () => {
      // Until CustomResourceVersion carries the CRD's additionalPrinterColumns, set them by hand.
      const served = crd(columns);
      Object.defineProperty(customResourceOf(served)!.version, 'additionalPrinterColumns', { value: columns.slice(0, 1) });
      expect(toTable(served, [widget], { now: NOW }).columnDefinitions.map((c) => c.name)).to.deep.equal(['Name', 'Replicas']);
    });

    it('without printer columns: Name and Age (date)', () => {
      const table = toTable(crd(), [widget, { ...widget, metadata: { name: 'w2' } }], { now: NOW });
      expect(table.columnDefinitions.map((c) => [c.name, c.type])).to.deep.equal([['Name', 'string'], ['Age', 'date']]);
      expect(table.rows.map((r) => r.cells)).to.deep.equal([['w1', '2d'], ['w2', null]]);
    });

    it('dates that are not RFC 3339 are <invalid>; escaped dots and bracket fields select labels', () => {
      const cols: CustomResourceColumnDefinition[] = [
        { name: 'When', type: 'date', jsonPath: '.spec.when' },
        { name: 'App', type: 'string', jsonPath: '.metadata.labels.app\\.kubernetes\\.io/name' },
        { name: 'Tier', type: 'string', jsonPath: ".metadata.labels['tier']" },
        { name: 'Big', type: 'string', jsonPath: '.spec.big' },
      ];
      const o = { kind: 'Widget', metadata: { name: 'w', labels: { 'app.kubernetes.io/name': 'shop', tier: 'web' } }, spec: { when: 'yesterday', big: 1234567.5 } } as KubeObject;
      expect(toTable(crd(), [o], { now: NOW, printerColumns: cols }).rows[0]!.cells).to.deep.equal(['w', '<invalid>', 'shop', 'web', '1.2345675e+06']);
    });

    describe('JSONPath (the first match; nothing or an error prints null)', () => {
      const o = { kind: 'Widget', metadata: { name: 'w' }, spec: { items: [{ n: 1, t: 'a' }, { n: 5, t: 'b' }, { n: 9, t: 'c' }], m: { x: { t: 'deep' } } } } as KubeObject;
      const cases: [string, unknown][] = [
        [".spec.items[?(@.t=='b')].n", '5'], ['.spec.items[?(@.n > 4)].t', 'b'], ['.spec.items[?(@.n<=1)].t', 'a'], ['.spec.items[?(@.t!="a")].t', 'b'],
        ['.spec.items[?(@.missing)].t', null], ['.spec.items[?(@.n)].t', 'a'], ['.spec.items[?(@.n=="5")].t', null], ['.spec.items[*].t', 'a'],
        ['.spec.items[1:].t', 'b'], ['.spec.items[-2].t', 'b'], ['.spec.items[2,0].t', 'c'], ['.spec.items[7].t', null], ['.spec..t', 'a'],
        ['$.spec.m.*.t', 'deep'], ['{.spec.items[0].n}', '1'], ['.spec.m.x.t.nope', null], ['.spec.items.n', null], ['.spec.items', '[{"n":1,"t":"a"},{"n":5,"t":"b"},{"n":9,"t":"c"}]'],
      ];
      for (const [jsonPath, want] of cases) {
        it(`${jsonPath} → ${JSON.stringify(want)}`, () => {
          expect(toTable(crd(), [o], { now: NOW, printerColumns: [{ name: 'X', type: 'string', jsonPath }] }).rows[0]!.cells[1]).to.equal(want);
        });
      }
      it('a column whose path does not parse ends the columns', () => {
        const table = toTable(crd(), [o], { now: NOW, printerColumns: [{ name: 'A', type: 'string', jsonPath: '.spec.m' }, { name: 'B', type: 'string', jsonPath: '.spec[' }, { name: 'C', type: 'string', jsonPath: '.spec' }] });
        expect(table.columnDefinitions.map((c) => c.name)).to.deep.equal(['Name', 'A']);
      });
    });
  });

  describe('rows, metadata and watch events', () => {
    const p = pod({}, { phase: 'Running', containerStatuses: [running()] });

    it('includeObject: Metadata (default) a PartialObjectMetadata, Object the object, None nothing', () => {
      expect(toTable(info('pods'), [p], { now: NOW }).rows[0]!.object).to.deep.equal({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: p.metadata });
      expect(toTable(info('pods'), [p], { now: NOW, includeObject: 'Object' }).rows[0]!.object).to.equal(p);
      expect(toTable(info('pods'), [p], { now: NOW, includeObject: 'None' }).rows[0]).to.not.have.property('object');
      expect(() => toTable(info('pods'), [p], { now: NOW, includeObject: 'All' })).to.throw(ApiError).with.property('code', 400);
    });

    it('a list table carries the list metadata; an empty list has no rows', () => {
      const table = toTable(info('pods'), [], { now: NOW, listMeta: { resourceVersion: '42', continue: 'abc', remainingItemCount: 3 } });
      expect(table).to.deep.include({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '42', continue: 'abc', remainingItemCount: 3 }, rows: [] });
      expect(table.columnDefinitions).to.have.length(9);
    });

    it('a watch event is a one-row table with the object resourceVersion; columns on the first only', () => {
      const first = tableOfEvent(info('pods'), p, { now: NOW, withColumns: true });
      const next = tableOfEvent(info('pods'), p, { now: NOW, withColumns: false });
      expect(first.metadata).to.deep.equal({ resourceVersion: '7' });
      expect(first.columnDefinitions).to.deep.equal(toTable(info('pods'), [], { now: NOW }).columnDefinitions);
      expect(next.columnDefinitions).to.deep.equal([]);
      expect(next.rows).to.deep.equal(first.rows);
      expect(next.rows[0]!.cells.slice(0, 3)).to.deep.equal(['p', '1/1', 'Running']);
    });
  });
});
