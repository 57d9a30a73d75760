/**
 * Defaulting of the built-in kinds, one row per default kube applies: each row builds an object,
 * runs applyDefaults, and reads one field back.
 */
import { expect } from 'chai';
import { applyDefaults, computeQOSClass, imageTag } from '../../lib/api/defaults.js';
import type { CustomResourceDefinition, Endpoints, EndpointSlice, Event, Lease, Namespace, Node, Pod, ReplicationController, Secret, Service } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Container, PodSpec } from '../../lib/api/types/core.js';

function pod(spec: Partial<PodSpec> = {}, container: Partial<Container> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'nginx:1.25', ...container }], ...spec },
  };
}

function rc(selector?: Record<string, string>, labels?: Record<string, string>): ReplicationController {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web', namespace: 'default', ...(labels ? { labels } : {}) },
    spec: { ...(selector ? { selector } : {}), template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  };
}

function svc(spec: Service['spec'] = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec } };
}

function crd(): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      names: { plural: 'widgets', kind: 'Widget' },
      scope: 'Namespaced',
      versions: [
        { name: 'v1alpha1', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object' } } },
        { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } },
      ],
    },
  };
}

function defaulted<T extends KubeObject>(obj: T): T {
  applyDefaults(obj);
  return obj;
}

interface Row {
  rule: string;
  build: () => KubeObject;
  read: (obj: never) => unknown;
  expected: unknown;
}

const c0 = (p: Pod) => p.spec!.containers[0]!;

const rows: Row[] = [
  // Pod spec (SetDefaults_PodSpec)
  { rule: 'Pod restartPolicy defaults to Always', build: () => pod(), read: (p: Pod) => p.spec?.restartPolicy, expected: 'Always' },
  { rule: 'Pod dnsPolicy defaults to ClusterFirst', build: () => pod(), read: (p: Pod) => p.spec?.dnsPolicy, expected: 'ClusterFirst' },
  { rule: 'Pod terminationGracePeriodSeconds defaults to 30', build: () => pod(), read: (p: Pod) => p.spec?.terminationGracePeriodSeconds, expected: 30 },
  { rule: 'Pod schedulerName defaults to default-scheduler', build: () => pod(), read: (p: Pod) => p.spec?.schedulerName, expected: 'default-scheduler' },
  { rule: 'Pod securityContext defaults to {}', build: () => pod(), read: (p: Pod) => p.spec?.securityContext, expected: {} },
  { rule: 'Pod enableServiceLinks defaults to true', build: () => pod(), read: (p: Pod) => p.spec?.enableServiceLinks, expected: true },
  { rule: 'Pod priority defaults to 0 without a class', build: () => pod(), read: (p: Pod) => p.spec?.priority, expected: 0 },
  { rule: 'Pod priority of a system class', build: () => pod({ priorityClassName: 'system-node-critical' }), read: (p: Pod) => p.spec?.priority, expected: 2000001000 },
  { rule: 'Pod preemptionPolicy defaults to PreemptLowerPriority', build: () => pod(), read: (p: Pod) => p.spec?.preemptionPolicy, expected: 'PreemptLowerPriority' },
  { rule: 'Pod serviceAccountName stays absent', build: () => pod(), read: (p: Pod) => 'serviceAccountName' in p.spec!, expected: false },
  { rule: 'Pod tolerations stay absent', build: () => pod(), read: (p: Pod) => p.spec?.tolerations, expected: undefined },
  { rule: 'a set restartPolicy is kept', build: () => pod({ restartPolicy: 'Never' }), read: (p: Pod) => p.spec?.restartPolicy, expected: 'Never' },
  // Containers
  { rule: 'terminationMessagePath defaults to /dev/termination-log', build: () => pod(), read: (p: Pod) => c0(p).terminationMessagePath, expected: '/dev/termination-log' },
  { rule: 'terminationMessagePolicy defaults to File', build: () => pod(), read: (p: Pod) => c0(p).terminationMessagePolicy, expected: 'File' },
  { rule: 'imagePullPolicy is IfNotPresent for a tagged image', build: () => pod(), read: (p: Pod) => c0(p).imagePullPolicy, expected: 'IfNotPresent' },
  { rule: 'imagePullPolicy is Always for an untagged image', build: () => pod({}, { image: 'nginx' }), read: (p: Pod) => c0(p).imagePullPolicy, expected: 'Always' },
  { rule: 'imagePullPolicy is Always for :latest', build: () => pod({}, { image: 'nginx:latest' }), read: (p: Pod) => c0(p).imagePullPolicy, expected: 'Always' },
  { rule: 'a registry port is not a tag', build: () => pod({}, { image: 'localhost:5000/nginx' }), read: (p: Pod) => c0(p).imagePullPolicy, expected: 'Always' },
  { rule: 'a digest without tag is IfNotPresent', build: () => pod({}, { image: 'nginx@sha256:abc' }), read: (p: Pod) => c0(p).imagePullPolicy, expected: 'IfNotPresent' },
  { rule: 'container port protocol defaults to TCP', build: () => pod({}, { ports: [{ containerPort: 80 }] }), read: (p: Pod) => c0(p).ports?.[0]?.protocol, expected: 'TCP' },
  {
    rule: 'probe defaults: timeout 1, period 10, success 1, failure 3, HTTP scheme, path /',
    build: () => pod({}, { livenessProbe: { httpGet: { port: 80 } } }),
    read: (p: Pod) => c0(p).livenessProbe,
    expected: { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
  },
  {
    rule: 'env fieldRef apiVersion defaults to v1',
    build: () => pod({}, { env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }),
    read: (p: Pod) => c0(p).env?.[0]?.valueFrom?.fieldRef?.apiVersion,
    expected: 'v1',
  },
  {
    rule: 'requests default to limits when only limits are given',
    build: () => pod({}, { resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m' } } }),
    read: (p: Pod) => c0(p).resources?.requests,
    expected: { cpu: '100m', memory: '128Mi' },
  },
  {
    rule: 'templates do not get requests from limits',
    build: () => {
      const r = rc();
      r.spec!.template!.spec!.containers[0]!.resources = { limits: { cpu: '1' } };
      return r;
    },
    read: (r: ReplicationController) => r.spec?.template?.spec?.containers[0]?.resources?.requests,
    expected: undefined,
  },
  { rule: 'a volume without source becomes an emptyDir', build: () => pod({ volumes: [{ name: 'scratch' }] }), read: (p: Pod) => p.spec?.volumes?.[0]?.emptyDir, expected: {} },
  {
    rule: 'secret volume defaultMode defaults to 0644',
    build: () => pod({ volumes: [{ name: 's', secret: { secretName: 's' } }] }),
    read: (p: Pod) => p.spec?.volumes?.[0]?.secret?.defaultMode,
    expected: 420,
  },
  {
    rule: 'hostNetwork pods get hostPort = containerPort',
    build: () => pod({ hostNetwork: true }, { ports: [{ containerPort: 8080 }] }),
    read: (p: Pod) => c0(p).ports?.[0]?.hostPort,
    expected: 8080,
  },
  { rule: 'Pod status.phase defaults to Pending', build: () => pod(), read: (p: Pod) => p.status?.phase, expected: 'Pending' },
  { rule: 'qosClass BestEffort without resources', build: () => pod(), read: (p: Pod) => p.status?.qosClass, expected: 'BestEffort' },
  {
    rule: 'qosClass Guaranteed when limits cover cpu and memory',
    build: () => pod({}, { resources: { limits: { cpu: '1', memory: '1Gi' } } }),
    read: (p: Pod) => p.status?.qosClass,
    expected: 'Guaranteed',
  },
  {
    rule: 'qosClass Burstable when requests are below limits',
    build: () => pod({}, { resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } } }),
    read: (p: Pod) => p.status?.qosClass,
    expected: 'Burstable',
  },
  // ReplicationController
  { rule: 'RC replicas defaults to 1', build: () => rc(), read: (r: ReplicationController) => r.spec?.replicas, expected: 1 },
  { rule: 'RC selector defaults to the template labels', build: () => rc(), read: (r: ReplicationController) => r.spec?.selector, expected: { app: 'web' } },
  { rule: 'RC labels default to the template labels', build: () => rc(), read: (r: ReplicationController) => r.metadata?.labels, expected: { app: 'web' } },
  { rule: 'a set RC selector is kept', build: () => rc({ tier: 'a' }, { own: 'x' }), read: (r: ReplicationController) => [r.spec?.selector, r.metadata?.labels], expected: [{ tier: 'a' }, { own: 'x' }] },
  { rule: 'RC template spec is defaulted', build: () => rc(), read: (r: ReplicationController) => r.spec?.template?.spec?.restartPolicy, expected: 'Always' },
  { rule: 'RC template gets no enableServiceLinks', build: () => rc(), read: (r: ReplicationController) => r.spec?.template?.spec?.enableServiceLinks, expected: undefined },
  // Service
  { rule: 'Service type defaults to ClusterIP', build: () => svc(), read: (s: Service) => s.spec?.type, expected: 'ClusterIP' },
  { rule: 'Service sessionAffinity defaults to None', build: () => svc(), read: (s: Service) => s.spec?.sessionAffinity, expected: 'None' },
  { rule: 'Service port protocol defaults to TCP', build: () => svc(), read: (s: Service) => s.spec?.ports?.[0]?.protocol, expected: 'TCP' },
  { rule: 'Service targetPort defaults to port', build: () => svc(), read: (s: Service) => s.spec?.ports?.[0]?.targetPort, expected: 80 },
  { rule: 'Service internalTrafficPolicy defaults to Cluster', build: () => svc(), read: (s: Service) => s.spec?.internalTrafficPolicy, expected: 'Cluster' },
  { rule: 'ClusterIP Service has no externalTrafficPolicy', build: () => svc(), read: (s: Service) => s.spec?.externalTrafficPolicy, expected: undefined },
  { rule: 'NodePort Service externalTrafficPolicy defaults to Cluster', build: () => svc({ type: 'NodePort' }), read: (s: Service) => s.spec?.externalTrafficPolicy, expected: 'Cluster' },
  { rule: 'LoadBalancer allocateLoadBalancerNodePorts defaults to true', build: () => svc({ type: 'LoadBalancer' }), read: (s: Service) => s.spec?.allocateLoadBalancerNodePorts, expected: true },
  { rule: 'ClientIP affinity timeout defaults to 10800', build: () => svc({ sessionAffinity: 'ClientIP' }), read: (s: Service) => s.spec?.sessionAffinityConfig, expected: { clientIP: { timeoutSeconds: 10800 } } },
  { rule: 'Service ipFamilyPolicy defaults to SingleStack', build: () => svc(), read: (s: Service) => s.spec?.ipFamilyPolicy, expected: 'SingleStack' },
  { rule: 'clusterIPs follows clusterIP', build: () => svc({ clusterIP: 'None' }), read: (s: Service) => s.spec?.clusterIPs, expected: ['None'] },
  { rule: 'ExternalName Service gets no ipFamilyPolicy', build: () => svc({ type: 'ExternalName', externalName: 'x.example.com' }), read: (s: Service) => s.spec?.ipFamilyPolicy, expected: undefined },
  // Namespace, Node, Secret, Endpoints
  { rule: 'Namespace spec.finalizers defaults to [kubernetes]', build: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }), read: (n: Namespace) => n.spec?.finalizers, expected: ['kubernetes'] },
  { rule: 'Namespace status.phase defaults to Active', build: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }), read: (n: Namespace) => n.status?.phase, expected: 'Active' },
  {
    rule: 'Namespace gets the kubernetes.io/metadata.name label',
    build: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }),
    read: (n: Namespace) => n.metadata?.labels,
    expected: { 'kubernetes.io/metadata.name': 'team' },
  },
  {
    rule: 'Node allocatable defaults to capacity',
    build: () => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { capacity: { cpu: '4', memory: '8Gi' } } }),
    read: (n: Node) => n.status?.allocatable,
    expected: { cpu: '4', memory: '8Gi' },
  },
  { rule: 'Node podCIDRs follows podCIDR', build: () => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.244.0.0/24' } }), read: (n: Node) => n.spec?.podCIDRs, expected: ['10.244.0.0/24'] },
  { rule: 'Secret type defaults to Opaque', build: () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }), read: (s: Secret) => s.type, expected: 'Opaque' },
  {
    rule: 'Secret stringData is merged into data',
    build: () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'eA==' }, stringData: { b: 'hi' } }),
    read: (s: Secret) => [s.data, s.stringData],
    expected: [{ a: 'eA==', b: 'aGk=' }, undefined],
  },
  {
    rule: 'Endpoints port protocol defaults to TCP',
    build: () => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '10.1.0.1' }], ports: [{ port: 80 }] }] }),
    read: (e: Endpoints) => e.subsets?.[0]?.ports?.[0]?.protocol,
    expected: 'TCP',
  },
  // CRD
  { rule: 'CRD names.singular defaults to lower-case kind', build: crd, read: (c: CustomResourceDefinition) => c.spec?.names.singular, expected: 'widget' },
  { rule: 'CRD names.listKind defaults to <kind>List', build: crd, read: (c: CustomResourceDefinition) => c.spec?.names.listKind, expected: 'WidgetList' },
  { rule: 'CRD conversion defaults to strategy None', build: crd, read: (c: CustomResourceDefinition) => c.spec?.conversion, expected: { strategy: 'None' } },
  { rule: 'CRD status.storedVersions defaults to the storage version', build: crd, read: (c: CustomResourceDefinition) => c.status?.storedVersions, expected: ['v1'] },
];

describe('applyDefaults', () => {
  for (const row of rows) {
    it(row.rule, () => {
      const obj = defaulted(row.build());
      expect((row.read as (o: KubeObject) => unknown)(obj)).to.deep.equal(row.expected);
    });
  }

  it('leaves kinds without defaults untouched (Event, Lease, unknown kinds)', () => {
    const objects: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, reason: 'Started' } as Event,
      { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'a' } } as Lease,
      { apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP', metadata: { name: 'v' } },
    ];
    for (const obj of objects) expect(defaulted(structuredClone(obj))).to.deep.equal(obj);
  });

  it("defaults EndpointSlice port names to '' and protocols to TCP, leaving endpoint conditions unset", () => {
    const slice: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's' },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.1.0.5'] }],
      ports: [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'x', protocol: '' }],
    };
    const out = defaulted(slice) as EndpointSlice;
    expect(out.ports).to.deep.equal([{ name: '', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'x', protocol: '' }]);
    expect(out.endpoints).to.deep.equal([{ addresses: ['10.1.0.5'] }]);
  });

  it('is idempotent: defaulting twice changes nothing', () => {
    for (const build of [() => pod({}, { livenessProbe: { tcpSocket: { port: 80 } } }), () => rc(), () => svc({ type: 'LoadBalancer' }), crd]) {
      const once = defaulted(build());
      expect(defaulted(structuredClone(once))).to.deep.equal(once);
    }
  });

  it('parses image tags as kube does', () => {
    expect(imageTag('registry.io:5000/team/app:v2')).to.equal('v2');
    expect(imageTag('app')).to.equal('latest');
    expect(imageTag('app:v1@sha256:abc')).to.equal('v1');
  });

  it('computes the QoS class over init containers too', () => {
    const spec: PodSpec = {
      containers: [{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1024Mi' } } }],
      initContainers: [{ name: 'i', resources: { requests: { cpu: '100m' } } }],
    };
    expect(computeQOSClass(spec)).to.equal('Burstable');
    spec.initContainers = [];
    expect(computeQOSClass(spec)).to.equal('Guaranteed');
  });
});
