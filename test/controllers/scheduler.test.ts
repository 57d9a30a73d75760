/**
 * The scheduler: its pieces (binding through `client.create`, the queue's ordering, backoff and
 * event-driven moves, the cache's assumptions, kube's unschedulable message, node sampling) as
 * unit tests, and the controller under a real manager over an in-memory store (TestEnv), with a
 * fake clock where timing matters. The plugins here are small stand-ins written for the tests
 * (the default plugins have their own suite), plus a user plugin added by binding it.
 */
import { expect } from 'chai';
import type { Container } from 'inversify';
import { inject } from 'inversify';
import { ApiError, Client, createLogger, Event, Manager, Metrics, Node, Pod, type Binding, type Status } from '../../lib/index.js';
import { FakeClock, FakeEventRecorder, memoryClient, TestEnv } from '../../lib/testing/index.js';
import { kvBackends } from '../harness/backends.js';
import { openTestStore } from '../harness/store.js';
import {
  ClientBinder,
  fitErrorMessage,
  numFeasibleNodesToFind,
  podRequests,
  Scheduler,
  SchedulerBinder,
  SchedulerCache,
  SchedulerConfiguration,
  SchedulerPlugin,
  SchedulerPlugins,
  SchedulingQueue,
  UnschedulableReporter,
  withUnschedulableCondition,
  type Binder,
  type FilterFailure,
  type NodeInfo,
  type SchedulerOptions,
  type SchedulerPluginImpl,
} from '../../controllers/scheduler/index.js';

const NS = 'default';

interface NodeShape {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
}

function node(name: string, shape: NodeShape = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(shape.labels ? { labels: shape.labels } : {}) },
    spec: shape.taints ? { taints: shape.taints } : {},
    status: { allocatable: { cpu: shape.cpu ?? '4', memory: shape.memory ?? '8Gi', pods: shape.pods ?? '110' } },
  } as Node;
}

interface PodShape {
  cpu?: string;
  priority?: number;
  schedulerName?: string;
  labels?: Record<string, string>;
}

function pod(name: string, shape: PodShape = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, ...(shape.labels ? { labels: shape.labels } : {}) },
    spec: {
      ...(shape.priority !== undefined ? { priority: shape.priority } : {}),
      ...(shape.schedulerName ? { schedulerName: shape.schedulerName } : {}),
      containers: [{ name: 'c', image: 'busybox', ...(shape.cpu ? { resources: { requests: { cpu: shape.cpu } } } : {}) }],
    },
  } as Pod;
}

/** A stand-in for NodeResourcesFit: cpu, memory and pod count against allocatable; LeastAllocated scoring. */
@SchedulerPlugin({ name: 'NodeResourcesFit' })
class FitPlugin implements SchedulerPluginImpl {
  filter(p: Pod, info: NodeInfo): FilterFailure | undefined {
    const wanted = podRequests(p);
    const reasons: string[] = [];
    if (info.requested.pods + 1 > info.allocatable.pods) reasons.push('Too many pods');
    if (wanted.milliCPU > info.allocatable.milliCPU - info.requested.milliCPU) reasons.push('Insufficient cpu');
    if (wanted.memory > info.allocatable.memory - info.requested.memory) reasons.push('Insufficient memory');
    return reasons.length ? ({ reason: reasons[0]!, reasons } as FilterFailure) : undefined;
  }

  score(p: Pod, info: NodeInfo): number {
    const free = info.allocatable.milliCPU - info.requested.milliCPU - podRequests(p).milliCPU;
    return info.allocatable.milliCPU > 0 ? Math.max(0, Math.floor((free * 100) / info.allocatable.milliCPU)) : 0;
  }
}

/** A stand-in for TaintToleration's filter (these tests' pods tolerate nothing). */
@SchedulerPlugin({ name: 'TaintToleration' })
class TaintPlugin implements SchedulerPluginImpl {
  filter(_p: Pod, info: NodeInfo): FilterFailure | undefined {
    const taints = ((info.node.spec ?? {}) as { taints?: { key: string; value?: string; effect: string }[] }).taints ?? [];
    const taint = taints.find((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    return taint ? { reason: `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`, unresolvable: true } : undefined;
  }
}

/** A user's plugin: refuses nodes labelled `example.com/avoid`. */
@SchedulerPlugin({ name: 'AvoidLabelled' })
class AvoidLabelledPlugin implements SchedulerPluginImpl {
  filter(_p: Pod, info: NodeInfo): FilterFailure | undefined {
    return info.node.metadata?.labels?.['example.com/avoid'] ? { reason: "node(s) had the label 'example.com/avoid'" } : undefined;
  }
}

/** Records which nodes each pod was filtered against. */
class FilterLog {
  readonly byPod = new Map<string, string[]>();
}
const FILTER_LOG = Symbol.for('keelson.test.FilterLog');

@SchedulerPlugin({ name: 'CountingFilter' })
class CountingFilterPlugin implements SchedulerPluginImpl {
  constructor(@inject(FILTER_LOG) private readonly log: FilterLog) {}

  filter(p: Pod, info: NodeInfo): FilterFailure | undefined {
    const name = p.metadata!.name!;
    if (!this.log.byPod.has(name)) this.log.byPod.set(name, []);
    this.log.byPod.get(name)!.push(info.node.metadata!.name!);
    return undefined;
  }
}

/** A binder whose bindings wait until the test releases them. */
class GatedBinder implements Binder {
  private readonly waiting: Array<() => void> = [];
  readonly calls: Array<{ pod: Pod; nodeName: string }> = [];
  constructor(
    private readonly inner: Binder,
    /** Called with each binding before it waits (e.g. to change the world meanwhile). */
    private readonly before?: (pod: Pod, nodeName: string) => Promise<void>,
  ) {}

  get pending(): number {
    return this.waiting.length;
  }

  async bind(p: Pod, nodeName: string): Promise<void> {
    this.calls.push({ pod: p, nodeName });
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    await this.before?.(p, nodeName);
    await this.inner.bind(p, nodeName);
  }

  release(): void {
    for (const go of this.waiting.splice(0)) go();
  }
}

function configure(options: { plugins?: unknown[]; config?: SchedulerOptions; binder?: (container: Container) => Binder; extra?: (c: Container) => void } = {}) {
  return (container: Container) => {
    for (const plugin of options.plugins ?? [FitPlugin]) container.bind(SchedulerPlugins).to(plugin as never);
    container.bind(SchedulerConfiguration).toConstantValue({ disabledPlugins: ['*'], ...options.config });
    if (options.binder) container.bind(SchedulerBinder).toDynamicValue(() => options.binder!(container));
    options.extra?.(container);
  };
}

async function getPod(env: TestEnv, name: string): Promise<Pod> {
  return env.client.get(Pod, name, { namespace: NS });
}

function nodeNameOf(p: Pod): string | undefined {
  return (p.spec as { nodeName?: string }).nodeName;
}

function scheduledCondition(p: Pod): { status: string; reason?: string; message?: string } | undefined {
  return ((p.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] }).conditions ?? []).find((c) => c.type === 'PodScheduled');
}

describe('Binding (client.create of a core/v1 Binding)', () => {
  for (const via of ['store', 'http'] as const) {
    it(`binds the pod once, with PodScheduled=True, answering a 201 Status; a second binding or a stale uid is a 409 [${via}]`, async () => {
      const store = await openTestStore(kvBackends[0]!, {}, via);
      const client = store.client;
      try {
        const created = await client.create(pod('web'));
        const binding = (uid: string, target = 'n1'): Binding =>
          ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web', namespace: NS, uid }, target: { apiVersion: 'v1', kind: 'Node', name: target } }) as Binding;
        const stale = await client.create(binding('not-the-uid')).catch((e: ApiError) => e);
        expect(stale).to.be.instanceOf(ApiError);
        expect((stale as ApiError).code).to.equal(409);
        expect((stale as ApiError).message).to.equal(`Operation cannot be fulfilled on pods "web": Precondition failed: UID in precondition: not-the-uid, UID in object meta: ${created.metadata!.uid}`);
        const answer = (await client.create(binding(created.metadata!.uid!))) as unknown as Status;
        expect(answer).to.include({ kind: 'Status', status: 'Success', code: 201 });
        const bound = await client.get(Pod, 'web', { namespace: NS });
        expect(nodeNameOf(bound)).to.equal('n1');
        expect(scheduledCondition(bound)).to.include({ status: 'True' });
        const again = await client.create(binding(created.metadata!.uid!, 'n2')).catch((e: ApiError) => e);
        expect((again as ApiError).code).to.equal(409);
        expect((again as ApiError).message).to.equal('Operation cannot be fulfilled on pods "web": pod web is already assigned to node "n1"');
        const noTarget = await client.create({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web', namespace: NS } } as Binding).catch((e: ApiError) => e);
        expect((noTarget as ApiError).code).to.equal(422);
        const missing = await client.create({ ...binding('x'), metadata: { name: 'nope', namespace: NS } } as Binding).catch((e: ApiError) => e);
        expect((missing as ApiError).code).to.equal(404);
      } finally {
        await store.close();
      }
    });
  }
});

describe('numFeasibleNodesToFind (percentageOfNodesToScore)', () => {
  it('follows kube: all nodes below 100, adaptive 50 − n/125 (min 5 %), at least 100', () => {
    const cases: Array<[percentage: number, nodes: number, expected: number]> = [
      [0, 50, 50],
      [0, 100, 100],
      [0, 500, 230],
      [0, 1000, 420],
      [0, 5000, 500],
      [0, 6000, 300],
      [0, 20_000, 1000],
      [10, 200, 100],
      [30, 1000, 300],
      [100, 5000, 5000],
    ];
    for (const [percentage, nodes, expected] of cases) expect(numFeasibleNodesToFind(percentage, nodes), `${percentage}% of ${nodes}`).to.equal(expected);
  });
});

describe('the unschedulable message (kube FitError)', () => {
  it('counts reasons per node and sorts the "<count> <reason>" strings as kube does', () => {
    const nodeReasons = new Map<string, string[]>([
      ['cp-1', ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }']],
      ['cp-2', ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }']],
      ['w-1', ['Insufficient cpu']],
      ['w-2', ['Insufficient cpu']],
      ['w-3', ['Insufficient cpu']],
    ]);
    expect(fitErrorMessage({ numAllNodes: 5, nodeReasons, unschedulablePlugins: new Set() })).to.equal(
      '0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu.',
    );
    const many = new Map<string, string[]>(Array.from({ length: 12 }, (_, i) => [`n${i}`, i < 10 ? ['Insufficient memory'] : ['Insufficient cpu', 'Insufficient memory']]));
    expect(fitErrorMessage({ numAllNodes: 12, nodeReasons: many, unschedulablePlugins: new Set() })).to.equal('0/12 nodes are available: 12 Insufficient memory, 2 Insufficient cpu.');
  });

  it('shows a preFilter rejection alone, and counts the nodes a preFilter left out', () => {
    expect(fitErrorMessage({ numAllNodes: 3, nodeReasons: new Map(), preFilterMessage: "node(s) didn't match pod topology spread constraints", unschedulablePlugins: new Set() })).to.equal(
      "0/3 nodes are available: node(s) didn't match pod topology spread constraints.",
    );
    expect(
      fitErrorMessage({ numAllNodes: 4, nodeReasons: new Map([['a', ['Insufficient cpu']]]), absentNodes: { count: 3, reason: "node(s) didn't satisfy plugin(s) [NodeAffinity]" }, unschedulablePlugins: new Set() }),
    ).to.equal("0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't satisfy plugin(s) [NodeAffinity].");
  });
});

describe('the PodScheduled=False condition', () => {
  it('is written only when it changes, keeping its transition time while the status stays False', () => {
    const first = withUnschedulableCondition(pod('p'), 'Unschedulable', 'm1', '2026-01-01T00:00:00Z')!;
    expect(first).to.deep.equal([{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'm1', lastProbeTime: null, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    const withIt = { ...pod('p'), status: { conditions: first } } as Pod;
    expect(withUnschedulableCondition(withIt, 'Unschedulable', 'm1', '2026-01-01T00:05:00Z')).to.equal(undefined);
    expect(withUnschedulableCondition(withIt, 'Unschedulable', 'm2', '2026-01-01T00:05:00Z')![0]).to.include({ message: 'm2', lastTransitionTime: '2026-01-01T00:00:00Z' });
  });

  it('survives a conflicting write: the reporter re-reads the pod and writes again, with the Warning event', async () => {
    const client = await memoryClient();
    try {
      const stale = await client.create(pod('p'));
      await client.update({ ...stale, metadata: { ...stale.metadata, labels: { changed: 'yes' } } });
      const recorder = new FakeEventRecorder();
      await new UnschedulableReporter(client, client, recorder, new FakeClock(), createLogger({ level: 'silent' })).report(stale, 'Unschedulable', 'no room');
      const written = await client.get(Pod, 'p', { namespace: NS });
      expect(scheduledCondition(written)).to.include({ status: 'False', reason: 'Unschedulable', message: 'no room' });
      expect(written.metadata?.labels).to.deep.equal({ changed: 'yes' });
      expect(recorder.events.map((e) => [e.type, e.reason, e.message])).to.deep.equal([['Warning', 'FailedScheduling', 'no room']]);
    } finally {
      await client.close();
    }
  });
});

describe('SchedulingQueue', () => {
  const queued = (q: SchedulingQueue, name: string) => q.get(`${NS}/${name}`)!;

  it('pops the highest priority first, then the oldest', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('low-old', { priority: 0 }));
    await clock.advance(1);
    q.addOrUpdate(pod('high', { priority: 100 }));
    await clock.advance(1);
    q.addOrUpdate(pod('low-new', { priority: 0 }));
    expect([q.pop(), q.pop(), q.pop(), q.pop()].map((i) => i?.pod.metadata?.name)).to.deep.equal(['high', 'low-old', 'low-new', undefined]);
  });

  it('backs a failing pod off 1 s → 2 s → 4 s → 8 s → 10 s → 10 s', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('p'));
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      const info = q.pop()!;
      expect(info.attempts).to.equal(attempt);
      const failedAt = clock.now();
      q.addUnschedulable(info, new Set(['NodeResourcesFit']));
      q.onClusterEvent({ resource: 'Node', action: 'Add' }); // an event that may help: on to backoffQ
      expect(q.where(info.key)).to.equal('backoff');
      const expiry = q.nextFlushAt()!;
      await clock.advance(expiry - failedAt - 1);
      q.flush();
      expect(q.pop(), `still backing off after attempt ${attempt}`).to.equal(undefined);
      await clock.advance(1);
      q.flush();
      expect(q.where(info.key)).to.equal('active');
      waits.push(expiry - failedAt);
    }
    expect(waits).to.deep.equal([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('moves an unschedulable pod only on events that may help the plugins that rejected it', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('p'));
    q.addUnschedulable(q.pop()!, new Set(['NodeResourcesFit']));
    await clock.advance(20_000); // well past its backoff
    q.onClusterEvent({ resource: 'Node', action: 'Update', changed: new Set(['labels']) });
    q.onClusterEvent({ resource: 'AssignedPod', action: 'Add' });
    expect(q.where(`${NS}/p`)).to.equal('unschedulable');
    q.onClusterEvent({ resource: 'AssignedPod', action: 'Delete' }); // frees resources
    expect(q.where(`${NS}/p`)).to.equal('active');
    // A user's plugin is assumed to care about every event.
    q.addUnschedulable(q.pop()!, new Set(['AvoidLabelled']));
    q.onClusterEvent({ resource: 'AssignedPod', action: 'UpdateLabels' });
    expect(q.where(`${NS}/p`)).to.equal('backoff');
  });

  it('sends a pod that failed while an event arrived during its cycle to backoffQ, not to wait for another event', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('p'));
    const info = q.pop()!;
    q.onClusterEvent({ resource: 'Node', action: 'Add' }); // during the cycle
    q.addUnschedulable(info, new Set(['NodeResourcesFit']));
    expect(q.where(info.key)).to.equal('backoff');
  });

  it('moves an unschedulable pod whose spec or labels changed, not one whose status changed', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('p'));
    q.addUnschedulable(q.pop()!, new Set(['NodeResourcesFit']));
    await clock.advance(5000);
    q.addOrUpdate({ ...pod('p'), status: { conditions: [{ type: 'PodScheduled', status: 'False' }] } } as Pod);
    expect(q.where(`${NS}/p`)).to.equal('unschedulable');
    q.addOrUpdate(pod('p', { labels: { tier: 'web' } }));
    expect(q.where(`${NS}/p`)).to.equal('active');
    expect(queued(q, 'p').pod.metadata?.labels).to.deep.equal({ tier: 'web' });
  });

  it('retries a pod left unschedulable for 5 minutes even without an event (the safety net)', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.addOrUpdate(pod('p'));
    q.addUnschedulable(q.pop()!, new Set(['NodeResourcesFit']));
    expect(q.nextFlushAt()).to.equal(clock.now() + 5 * 60_000);
    await clock.advance(5 * 60_000 - 1);
    q.flush();
    expect(q.where(`${NS}/p`)).to.equal('unschedulable');
    await clock.advance(1);
    q.flush();
    expect(q.where(`${NS}/p`)).to.equal('active');
  });
});

describe('SchedulerCache', () => {
  it('counts assumed pods at once, frees them when forgotten, and confirms them when seen bound', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n1', { cpu: '2' }));
    const p = { ...pod('p', { cpu: '1500m' }), metadata: { name: 'p', namespace: NS, uid: 'u1' } } as Pod;
    const assumed = cache.assume(p, 'n1');
    expect(cache.get('n1')!.requested.milliCPU).to.equal(1500);
    expect(cache.pods).to.have.length(1);
    expect(cache.forget(`${NS}/p`, 'other-uid')).to.equal(false);
    expect(cache.forget(`${NS}/p`, 'u1')).to.equal(true);
    expect(cache.get('n1')!.requested.milliCPU).to.equal(0);
    cache.assume(p, 'n1');
    cache.finishBinding(`${NS}/p`, 'u1');
    cache.addBoundPod(assumed);
    expect(cache.pod(`${NS}/p`)).to.include({ assumed: false, nodeName: 'n1' });
    expect(cache.get('n1')!.requested.milliCPU).to.equal(1500);
    // A node replaced (e.g. relabelled) keeps its pods.
    cache.setNode(node('n1', { cpu: '2', labels: { zone: 'a' } }));
    expect(cache.get('n1')!.pods).to.have.length(1);
    expect(cache.nodes.map((n) => n.node.metadata?.labels)).to.deep.equal([{ zone: 'a' }]);
    cache.removePod(`${NS}/p`);
    expect(cache.get('n1')!.requested.milliCPU).to.equal(0);
    expect(cache.pods).to.have.length(0);
  });
});

describe('Scheduler (under a manager)', function () {
  this.timeout(20_000);
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.stop();
    env = undefined;
  });

  it('binds pods to feasible nodes through the binding path, with PodScheduled=True and a Scheduled event', async () => {
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), objects: [node('small', { cpu: '1' }), node('big', { cpu: '8' })] });
    await env.client.create(pod('web', { cpu: '2' }));
    const bound = await env.eventually(async () => {
      const p = await getPod(env!, 'web');
      return nodeNameOf(p) ? p : undefined;
    });
    expect(nodeNameOf(bound)).to.equal('big');
    expect(scheduledCondition(bound)).to.include({ status: 'True' });
    const events = await env.eventually(async () => {
      const list = await env!.client.list(Event, { namespace: NS });
      return list.items.filter((e) => e.reason === 'Scheduled').length ? list.items : undefined;
    });
    expect(events.find((e) => e.reason === 'Scheduled')).to.include({ type: 'Normal', message: 'Successfully assigned default/web to big' });
  });

  it('leaves pods of another scheduler alone', async () => {
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), objects: [node('n1')] });
    await env.client.create(pod('theirs', { schedulerName: 'my-scheduler' }));
    await env.client.create(pod('ours'));
    await env.eventually(async () => nodeNameOf(await getPod(env!, 'ours')));
    expect(nodeNameOf(await getPod(env, 'theirs'))).to.equal(undefined);
  });

  it('sees its own decisions before the bindings land: 10 pods on 2 nodes of room 3 each, no overcommit', async () => {
    let binder: GatedBinder | undefined;
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure({ binder: (c) => (binder = new GatedBinder(new ClientBinder(c.get<Client>(Client)))) }),
      objects: [node('n1', { cpu: '3' }), node('n2', { cpu: '3' })],
    });
    for (let i = 0; i < 10; i++) await env.client.create(pod(`p${i}`, { cpu: '1' }));
    // Every decision is made while no binding has landed: 6 wait to be bound, 4 fit nowhere.
    await env.eventually(async () => {
      const pods = (await env!.client.list(Pod, { namespace: NS })).items;
      return binder?.pending === 6 && pods.filter((p) => scheduledCondition(p)?.reason === 'Unschedulable').length === 4;
    });
    const perNode = new Map<string, number>();
    for (const call of binder!.calls) perNode.set(call.nodeName, (perNode.get(call.nodeName) ?? 0) + 1);
    expect(Object.fromEntries(perNode)).to.deep.equal({ n1: 3, n2: 3 });
    binder!.release();
    const pods = await env.eventually(async () => {
      const list = (await env!.client.list(Pod, { namespace: NS })).items;
      return list.filter((p) => nodeNameOf(p)).length === 6 ? list : undefined;
    });
    const message = scheduledCondition(pods.find((p) => !nodeNameOf(p))!)!.message;
    expect(message).to.equal('0/2 nodes are available: 2 Insufficient cpu.');
  });

  it('refuses a binding whose pod was recreated under the same name, and schedules the new pod', async () => {
    let binder: GatedBinder | undefined;
    let firstUid: string | undefined;
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure({
        binder: (c) =>
          (binder = new GatedBinder(new ClientBinder(c.get<Client>(Client)), async (p) => {
            if (p.metadata!.uid !== firstUid) return;
            // Between the decision and the binding, the pod is deleted and recreated.
            await env!.client.delete(Pod, 'web', { namespace: NS });
            await env!.client.create(pod('web', { labels: { generation: 'second' } }));
          })),
      }),
      objects: [node('n1')],
    });
    firstUid = (await env.client.create(pod('web'))).metadata!.uid;
    await env.eventually(() => binder?.pending === 1);
    binder!.release();
    const second = await env.eventually(async () => {
      binder!.release();
      const p = await getPod(env!, 'web');
      return p.metadata!.uid !== firstUid && nodeNameOf(p) ? p : undefined;
    });
    expect(second.metadata?.labels).to.deep.equal({ generation: 'second' });
    expect(binder!.calls.map((c) => c.pod.metadata!.uid)).to.deep.equal([firstUid, second.metadata!.uid]);
  });

  it("reports an unschedulable pod with kube's message, the PodScheduled=False condition and a FailedScheduling event", async () => {
    const controlPlane = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure({ plugins: [TaintPlugin, FitPlugin] }),
      objects: [node('cp-1', { taints: [controlPlane] }), node('cp-2', { taints: [controlPlane] }), ...['w-1', 'w-2', 'w-3'].map((n) => node(n, { cpu: '1' }))],
    });
    await env.client.create(pod('big', { cpu: '2' }));
    const expected = '0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu.';
    const condition = await env.eventually(async () => scheduledCondition(await getPod(env!, 'big')));
    expect(condition).to.include({ status: 'False', reason: 'Unschedulable', message: expected });
    const event = await env.eventually(async () => (await env!.client.list(Event, { namespace: NS })).items.find((e) => e.reason === 'FailedScheduling'));
    expect(event).to.include({ type: 'Warning', message: expected });
    expect(event.involvedObject).to.include({ kind: 'Pod', name: 'big' });
  });

  it('retries an unschedulable pod when a node is added, without waiting for any periodic flush', async () => {
    const clock = new FakeClock();
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), clock, objects: [node('small', { cpu: '1' })] });
    await env.client.create(pod('web', { cpu: '2' }));
    await env.eventually(async () => scheduledCondition(await getPod(env!, 'web'))?.reason === 'Unschedulable');
    await clock.advance(30_000); // its backoff is long over; nothing periodic brings it back
    await new Promise((r) => setTimeout(r, 50));
    expect(nodeNameOf(await getPod(env, 'web'))).to.equal(undefined);
    await env.client.create(node('big', { cpu: '4' }));
    const bound = await env.eventually(async () => nodeNameOf(await getPod(env!, 'web')));
    expect(bound).to.equal('big');
  });

  it('retries a pod moved by an event only once its backoff is over', async () => {
    const clock = new FakeClock();
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), clock, objects: [node('small', { cpu: '1' })] });
    await env.client.create(pod('web', { cpu: '2' }));
    await env.eventually(async () => scheduledCondition(await getPod(env!, 'web'))?.reason === 'Unschedulable');
    await env.client.create(node('big', { cpu: '4' })); // helps at once, but the pod backs off for 1 s
    const scheduler = env.manager.container.get(Scheduler);
    await env.eventually(() => scheduler.queue.where(`${NS}/web`) === 'backoff');
    await clock.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(nodeNameOf(await getPod(env, 'web'))).to.equal(undefined);
    await clock.advance(1);
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'web')))).to.equal('big');
  });

  it("gives a deleted pod's room to an unschedulable pod, on the deletion event", async () => {
    const clock = new FakeClock();
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), clock, objects: [node('n1', { cpu: '1' })] });
    await env.client.create(pod('first', { cpu: '1' }));
    await env.eventually(async () => nodeNameOf(await getPod(env!, 'first')));
    await env.client.create(pod('second', { cpu: '1' }));
    await env.eventually(async () => scheduledCondition(await getPod(env!, 'second'))?.reason === 'Unschedulable');
    await clock.advance(2000); // past its backoff
    await env.client.delete(Pod, 'first', { namespace: NS, gracePeriodSeconds: 0 });
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'second')))).to.equal('n1');
  });

  it('forgets the assumption of a refused binding and retries the pod after its backoff', async () => {
    const clock = new FakeClock();
    let failures = 1;
    const flaky = (c: Container): Binder => {
      const inner = new ClientBinder(c.get<Client>(Client));
      return {
        async bind(p, nodeName) {
          if (failures-- > 0) throw new ApiError({ code: 500, reason: 'InternalError', message: 'etcd is having a bad day' });
          await inner.bind(p, nodeName);
        },
      };
    };
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure({ binder: flaky }), clock, objects: [node('n1', { cpu: '1' })] });
    await env.client.create(pod('web', { cpu: '1' }));
    const condition = await env.eventually(async () => scheduledCondition(await getPod(env!, 'web')));
    expect(condition).to.include({ status: 'False', reason: 'SchedulerError' });
    expect(condition.message).to.contain('etcd is having a bad day');
    const scheduler = env.manager.container.get(Scheduler);
    expect(scheduler.cache.get('n1')!.requested.milliCPU).to.equal(0);
    expect(scheduler.queue.where(`${NS}/web`)).to.equal('backoff');
    await clock.advance(1000);
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'web')))).to.equal('n1');
  });

  it('schedules the higher priority pod first', async () => {
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure(),
      objects: [node('n1', { cpu: '1' }), pod('low', { cpu: '1', priority: 0 }), pod('high', { cpu: '1', priority: 1000 })],
    });
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'high')))).to.equal('n1');
    await env.eventually(async () => scheduledCondition(await getPod(env!, 'low'))?.reason === 'Unschedulable');
  });

  it('filters only percentageOfNodesToScore of the nodes, starting where the last cycle stopped', async () => {
    const log = new FilterLog();
    const nodes = Array.from({ length: 200 }, (_, i) => node(`n${String(i).padStart(3, '0')}`));
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure({ plugins: [CountingFilterPlugin], config: { percentageOfNodesToScore: 10 }, extra: (c) => c.bind(FILTER_LOG).toConstantValue(log) }),
      objects: nodes,
    });
    await env.client.create(pod('first'));
    await env.eventually(async () => nodeNameOf(await getPod(env!, 'first')));
    await env.client.create(pod('second'));
    await env.eventually(async () => nodeNameOf(await getPod(env!, 'second')));
    // max(100, 10 % of 200) feasible nodes are enough; the second cycle continues at the 101st node.
    expect(log.byPod.get('first')).to.deep.equal(nodes.slice(0, 100).map((n) => n.metadata!.name));
    expect(log.byPod.get('second')).to.deep.equal(nodes.slice(100, 200).map((n) => n.metadata!.name));
  });

  it("runs a user's plugin bound to SchedulerPlugins next to the others", async () => {
    env = await TestEnv.start({
      controllers: [Scheduler],
      configure: configure({ plugins: [FitPlugin, AvoidLabelledPlugin] }),
      objects: [node('plain', { cpu: '1' }), node('marked-1', { cpu: '8', labels: { 'example.com/avoid': 'yes' } }), node('marked-2', { labels: { 'example.com/avoid': 'yes' } })],
    });
    const scheduler = env.manager.container.get(Scheduler);
    expect(scheduler.plugins.map((p) => p.name)).to.deep.equal(['NodeResourcesFit', 'AvoidLabelled']);
    await env.client.create(pod('small', { cpu: '500m' }));
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'small')))).to.equal('plain');
    await env.client.create(pod('large', { cpu: '2' }));
    const condition = await env.eventually(async () => scheduledCondition(await getPod(env!, 'large')));
    expect(condition.message).to.equal("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had the label 'example.com/avoid'.");
  });

  it("runs kube's default plugins when nothing else is configured: the unschedulable message from the real ones", async () => {
    const controlPlane = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };
    env = await TestEnv.start({
      controllers: [Scheduler],
      objects: [
        node('cp-1', { taints: [controlPlane] }),
        node('cp-2', { taints: [controlPlane] }),
        ...['w-1', 'w-2', 'w-3'].map((n, i) => node(n, { cpu: '1', labels: { 'kubernetes.io/hostname': n, disk: i === 2 ? 'ssd' : 'hdd' } })),
      ],
    });
    const scheduler = env.manager.container.get(Scheduler);
    expect(scheduler.plugins.map((p) => p.name)).to.deep.equal([
      'NodeUnschedulable',
      'NodeName',
      'TaintToleration',
      'NodeAffinity',
      'NodePorts',
      'NodeResourcesFit',
      'PodTopologySpread',
      'InterPodAffinity',
      'NodeResourcesBalancedAllocation',
    ]);
    await env.client.create(pod('big', { cpu: '2' }));
    const condition = await env.eventually(async () => scheduledCondition(await getPod(env!, 'big')));
    expect(condition.message).to.equal('0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu.');
    await env.client.create({ ...pod('ssd', { cpu: '500m' }), spec: { ...pod('ssd').spec, nodeSelector: { disk: 'ssd' } } } as Pod);
    expect(await env.eventually(async () => nodeNameOf(await getPod(env!, 'ssd')))).to.equal('w-3');
  });

  it("schedules over HTTP too: a manager on a KubeClient against keelson's API server", async () => {
    const store = await openTestStore(kvBackends[0]!, {}, 'http');
    const manager = new Manager({ client: store.client, logger: createLogger({ level: 'silent' }), metrics: new Metrics(), gracefulShutdownTimeoutMs: 5000 });
    manager.container.bind(SchedulerPlugins).to(FitPlugin);
    manager.container.bind(SchedulerConfiguration).toConstantValue({ disabledPlugins: ['*'] });
    manager.add(Scheduler);
    const running = manager.start();
    try {
      await store.client.create(node('small', { cpu: '1' }));
      await store.client.create(node('big', { cpu: '4' }));
      await store.client.create(pod('web', { cpu: '2' }));
      const deadline = Date.now() + 10_000;
      let bound: Pod;
      do {
        await new Promise((r) => setTimeout(r, 20));
        bound = await store.client.get(Pod, 'web', { namespace: NS });
      } while (!nodeNameOf(bound) && Date.now() < deadline);
      expect(nodeNameOf(bound)).to.equal('big');
      expect(scheduledCondition(bound)).to.include({ status: 'True' });
    } finally {
      await manager.stop();
      await running.catch(() => undefined);
      await store.close();
    }
  });

  it('counts attempts in scheduler_schedule_attempts_total and pending pods in scheduler_pending_pods', async () => {
    env = await TestEnv.start({ controllers: [Scheduler], configure: configure(), objects: [node('n1', { cpu: '1' })] });
    await env.client.create(pod('fits', { cpu: '1' }));
    await env.client.create(pod('too-big', { cpu: '2' }));
    await env.eventually(async () => scheduledCondition(await getPod(env!, 'too-big'))?.reason === 'Unschedulable' && nodeNameOf(await getPod(env!, 'fits')));
    const text = await env.eventually(async () => {
      const metrics = await env!.manager.metrics.registry.metrics();
      return metrics.includes('scheduler_schedule_attempts_total{result="scheduled",profile="default-scheduler"} 1') ? metrics : undefined;
    });
    expect(text).to.contain('scheduler_pending_pods{queue="unschedulable"} 1');
    expect(text).to.match(/scheduler_schedule_attempts_total\{result="unschedulable",profile="default-scheduler"\} [1-9]/);
  });
});
