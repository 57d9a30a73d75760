/**
 * Node lifecycle: under a manager on a FakeClock, nodes heartbeat through Leases; a node that
 * stops goes Unknown after the 6 s grace, its pods NotReady, its NoExecute taint added at the
 * zone's rate (halted in disruption) and its pods evicted by the taint manager per their
 * tolerations; a node that comes back is untainted. The pure pieces are tested on their own.
 */
import { expect } from 'chai';
import { Event, Lease, Node, Pod } from '../../lib/api/kinds.js';
import { formatMicroTime, formatTimestamp } from '../../lib/api/meta.js';
import { toleratesTaint } from '../../lib/api/tolerations.js';
import type { Taint, Toleration } from '../../lib/api/types/core.js';
import { FakeClock, ReconcileHarness, TestEnv } from '../../lib/testing/index.js';
import {
  computeZoneState,
  evictionTime,
  NodeLifecycleConfiguration,
  NodeLifecycleController,
  RateLimitedTimedQueue,
  TaintEvictionController,
  zoneKeyOf,
  type NodeLifecycleOptions,
} from '../../controllers/node-lifecycle/index.js';

const NS = 'default';
const START = Date.UTC(2026, 0, 1);
const UNREACHABLE = 'node.kubernetes.io/unreachable';
const NOT_READY = 'node.kubernetes.io/not-ready';

/** A cluster of node "agents" the test drives by hand, under the two controllers on a FakeClock. */
class Cluster {
  private readonly lastRenew = new Map<string, number>();
  private constructor(
    readonly env: TestEnv,
    readonly clock: FakeClock,
  ) {}

  static async start(options: NodeLifecycleOptions = {}): Promise<Cluster> {
    const clock = new FakeClock(START);
    const env = await TestEnv.start({
      clock,
      controllers: [NodeLifecycleController, TaintEvictionController],
      configure: (container) => container.bind(NodeLifecycleConfiguration).toConstantValue(options),
    });
    return new Cluster(env, clock);
  }

  get client() {
    return this.env.client;
  }

  /** Registers a Ready node and renews its Lease, as an agent starting up. */
  async addNode(name: string, zone?: string): Promise<void> {
    const now = formatTimestamp(this.clock.now());
    await this.client.create<Node>({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, ...(zone !== undefined ? { labels: { 'topology.kubernetes.io/zone': zone } } : {}) },
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] },
    });
    await this.renew(name);
  }

  /** Renews the node's Lease (creating it the first time). */
  async renew(name: string): Promise<void> {
    this.lastRenew.set(name, this.clock.now());
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: formatMicroTime(this.clock.now()) };
    try {
      const lease = await this.client.get(Lease, name, { namespace: 'kube-node-lease' });
      await this.client.update({ ...lease, spec: { ...lease.spec, ...spec } });
    } catch {
      await this.client.create<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec });
    }
  }

  /** The agent posts its Ready condition (with a fresh heartbeat). */
  async postReady(name: string, status: 'True' | 'False'): Promise<void> {
    const node = await this.node(name);
    const now = formatTimestamp(this.clock.now());
    const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    const ready = { type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'KubeletNotReady', lastHeartbeatTime: now, lastTransitionTime: now };
    await this.client.updateStatus({ ...node, status: { ...node.status, conditions: [...others, ready] } });
  }

  /** A running, Ready pod bound to the node (with the admission's default tolerations unless given). */
  async addPod(name: string, nodeName: string, tolerations?: Toleration[]): Promise<Pod> {
    const created = await this.client.create<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS },
      spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], ...(tolerations ? { tolerations } : {}) },
    });
    const now = formatTimestamp(this.clock.now());
    return this.client.updateStatus({ ...created, status: { ...created.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } });
  }

  /**
   * Moves time forward in 100 ms steps, letting the controllers work after each; the `renewing`
   * nodes renew their Leases every 2 s on the way.
   */
  async tick(ms: number, renewing: readonly string[] = []): Promise<void> {
    for (let passed = 0; passed < ms; passed += 100) {
      await this.clock.advance(Math.min(100, ms - passed));
      for (const name of renewing) {
        if (this.clock.now() - (this.lastRenew.get(name) ?? 0) >= 2000) await this.renew(name);
      }
      await new Promise((resolve) => setTimeout(resolve, 4));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  node(name: string): Promise<Node> {
    return this.client.get(Node, name);
  }

  pod(name: string): Promise<Pod> {
    return this.client.get(Pod, name, { namespace: NS });
  }

  async ready(name: string): Promise<string | undefined> {
    return (await this.node(name)).status?.conditions?.find((c) => c.type === 'Ready')?.status;
  }

  /** The node's taints as `key:effect`, sorted. */
  async taints(name: string): Promise<string[]> {
    return ((await this.node(name)).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();
  }

  async noExecuteTainted(names: readonly string[]): Promise<string[]> {
    const tainted: string[] = [];
    for (const name of names) if ((await this.taints(name)).some((t) => t.endsWith(':NoExecute'))) tainted.push(name);
    return tainted;
  }

  async podReady(name: string): Promise<string | undefined> {
    return (await this.pod(name)).status?.conditions?.find((c) => c.type === 'Ready')?.status;
  }

  async evicted(name: string): Promise<boolean> {
    try {
      return Boolean((await this.pod(name)).metadata?.deletionTimestamp);
    } catch {
      return true;
    }
  }

  async events(reason: string): Promise<string[]> {
    const { items } = await this.client.list(Event);
    return items.filter((e) => e.reason === reason).map((e) => `${e.involvedObject?.name}: ${e.message}`);
  }

  stop(): Promise<void> {
    return this.env.stop();
  }
}

describe('NodeLifecycleController', () => {
  let cluster: Cluster;
  afterEach(async () => cluster?.stop());

  it('keeps a node Ready and untainted while its Lease is renewed', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.tick(20_000, ['n1', 'n2']);
    for (const name of ['n1', 'n2']) {
      expect(await cluster.ready(name)).to.equal('True');
      expect(await cluster.taints(name)).to.deep.equal([]);
    }
  });

  it('after 6 s without a renewal: Ready Unknown (kube’s reason and message), pods NotReady, unreachable taints', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.addPod('p1', 'n1');
    await cluster.addPod('p2', 'n2');
    await cluster.tick(5_800, ['n2']);
    expect(await cluster.ready('n1')).to.equal('True');
    expect(await cluster.podReady('p1')).to.equal('True');

    await cluster.tick(400, ['n2']);
    const ready = (await cluster.node('n1')).status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).to.include({ status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: formatTimestamp(START) });
    expect(await cluster.podReady('p1')).to.equal('False');
    expect(await cluster.podReady('p2')).to.equal('True');
    expect(await cluster.taints('n1')).to.deep.equal([`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
    const noExecute = (await cluster.node('n1')).spec?.taints?.find((t) => t.effect === 'NoExecute');
    expect(noExecute?.timeAdded).to.match(/^2026-01-01T00:00:0[67]Z$/);
    expect(await cluster.taints('n2')).to.deep.equal([]);
    expect(await cluster.events('NodeNotReady')).to.include.members(['n1: Node n1 status is now: NodeNotReady', 'p1: Node is not ready']);
  });

  it('removes the taints when the node comes back (Lease renewed, Ready posted), before its pods are evicted', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.addPod('p1', 'n1');
    await cluster.tick(6_300, ['n2']);
    expect(await cluster.taints('n1')).to.have.length(2);
    await cluster.renew('n1');
    await cluster.postReady('n1', 'True');
    await cluster.tick(300, ['n1', 'n2']);
    expect(await cluster.ready('n1')).to.equal('True');
    expect(await cluster.taints('n1')).to.deep.equal([]);
    await cluster.tick(10_000, ['n1', 'n2']);
    expect(await cluster.evicted('p1')).to.equal(false);
    expect(await cluster.events('TaintManagerEviction')).to.deep.equal(['p1: Cancelling deletion of Pod default/p1']);
  });

  it('evicts the pods of an unreachable node after their default 5 s toleration (DisruptionTarget, Event)', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.addPod('p1', 'n1');
    await cluster.tick(6_300, ['n2']);
    expect(await cluster.taints('n1')).to.include(`${UNREACHABLE}:NoExecute`);
    await cluster.tick(4_000, ['n2']);
    expect(await cluster.evicted('p1')).to.equal(false);
    await cluster.tick(2_000, ['n2']);
    expect(await cluster.evicted('p1')).to.equal(true);
    const pod = await cluster.pod('p1');
    expect(pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).to.include({
      status: 'True',
      reason: 'DeletionByTaintManager',
      message: 'Taint manager: deleting due to NoExecute taint',
    });
    expect(await cluster.events('TaintManagerEviction')).to.deep.equal(['p1: Marking for deletion Pod default/p1']);
  });

  it('marks a pod bound later to a node that is not Ready NotReady too', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.tick(6_300, ['n2']);
    await cluster.addPod('late', 'n1', [{ operator: 'Exists' }]);
    await cluster.tick(200, ['n2']);
    expect(await cluster.podReady('late')).to.equal('False');
  });

  it('taints not-ready for a node whose agent posts Ready=False, and untaints when it posts True', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    await cluster.addPod('p1', 'n1', [{ operator: 'Exists' }]);
    await cluster.postReady('n1', 'False');
    await cluster.tick(300, ['n1', 'n2']);
    expect(await cluster.taints('n1')).to.deep.equal([`${NOT_READY}:NoExecute`, `${NOT_READY}:NoSchedule`]);
    expect(await cluster.podReady('p1')).to.equal('False');
    await cluster.postReady('n1', 'True');
    await cluster.tick(300, ['n1', 'n2']);
    expect(await cluster.taints('n1')).to.deep.equal([]);
  });

  it('gives a node whose agent never started (no Ready, no Lease) the same grace from its creation', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n2');
    await cluster.client.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'silent' } });
    await cluster.tick(5_800, ['n2']);
    expect(await cluster.ready('silent')).to.equal(undefined);
    await cluster.tick(400, ['n2']);
    const ready = (await cluster.node('silent')).status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).to.include({ status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.' });
    expect(await cluster.taints('silent')).to.include(`${UNREACHABLE}:NoExecute`);
  });

  it('after a restart judges the zones with every node known: a dead node reconciled first is no full disruption', async () => {
    const now = formatTimestamp(START);
    const lease = (name: string): Lease => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'kube-node-lease' },
      spec: { holderIdentity: name, renewTime: formatMicroTime(START) },
    });
    const withReady = (name: string, status: 'True' | 'Unknown', taints?: Taint[]): Node => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      ...(taints ? { spec: { taints } } : {}),
      status: { conditions: [{ type: 'Ready', status, lastHeartbeatTime: now, lastTransitionTime: now }] },
    });
    const noExecute: Taint = { key: UNREACHABLE, effect: 'NoExecute', timeAdded: now };
    const dead = withReady('dead', 'Unknown', [noExecute, { key: UNREACHABLE, effect: 'NoSchedule' }]);
    const harness = await ReconcileHarness.create(NodeLifecycleController, {
      clock: new FakeClock(START),
      objects: [dead, withReady('alive-1', 'True'), withReady('alive-2', 'True'), lease('alive-1'), lease('alive-2')],
    });
    try {
      await harness.reconcile('dead'); // alone, it would look like every node is down
      expect((await harness.client.get(Node, 'dead')).spec?.taints).to.deep.include(noExecute);
      expect(harness.reconciler.tainter.stateOf('')).to.equal('Normal');
    } finally {
      harness.reconciler.stop();
      await harness.close();
    }
  });

  it('rate limits NoExecute tainting per zone: 0.1 nodes/s, zones independent', async () => {
    cluster = await Cluster.start({ taintingDelayMs: 1000 });
    const zoneA = Array.from({ length: 10 }, (_, i) => `a${i}`);
    for (const name of zoneA) await cluster.addNode(name, 'a');
    await cluster.addNode('b0', 'b');
    await cluster.addNode('b1', 'b');
    const healthy = [...zoneA.slice(2), 'b1'];
    await cluster.tick(7_500, healthy);
    for (const name of ['a0', 'a1', 'b0']) expect(await cluster.ready(name)).to.equal('Unknown');
    const first = await cluster.noExecuteTainted(['a0', 'a1']);
    expect(first).to.have.length(1);
    expect(await cluster.noExecuteTainted(['b0'])).to.deep.equal(['b0']);
    expect(await cluster.taints(['a0', 'a1'].find((n) => !first.includes(n))!)).to.deep.equal([`${UNREACHABLE}:NoSchedule`]);
    await cluster.tick(8_000, healthy);
    expect(await cluster.noExecuteTainted(['a0', 'a1'])).to.have.length(1);
    await cluster.tick(2_500, healthy);
    expect(await cluster.noExecuteTainted(['a0', 'a1'])).to.have.length(2);
  });

  it('halts evictions in a small cluster when more than 55 % of a zone is not Ready', async () => {
    cluster = await Cluster.start({ taintingDelayMs: 1000 });
    for (const name of ['n1', 'n2', 'n3', 'n4']) await cluster.addNode(name, 'z');
    await cluster.addPod('p1', 'n1');
    await cluster.tick(30_000, ['n4']);
    for (const name of ['n1', 'n2', 'n3']) {
      expect(await cluster.ready(name)).to.equal('Unknown');
      expect(await cluster.taints(name)).to.deep.equal([`${UNREACHABLE}:NoSchedule`]);
    }
    expect(await cluster.podReady('p1')).to.equal('False');
    expect(await cluster.evicted('p1')).to.equal(false);
    const controller = cluster.env.manager.container.get(NodeLifecycleController);
    expect(controller.tainter.stateOf('z')).to.equal('PartialDisruption');
  });

  it('in full disruption evicts nothing and removes NoExecute taints; recovery resumes at the zone’s rate', async () => {
    cluster = await Cluster.start({ taintingDelayMs: 1000 });
    for (const name of ['n1', 'n2', 'n3']) await cluster.addNode(name);
    await cluster.addPod('p1', 'n1');
    await cluster.addPod('p3', 'n3');
    // n1 goes first and is tainted (one of three: normal); the others follow 4 s later.
    await cluster.tick(4_000, ['n2', 'n3']);
    await cluster.tick(3_200);
    expect(await cluster.noExecuteTainted(['n1'])).to.deep.equal(['n1']);
    await cluster.tick(3_500);
    expect(await cluster.noExecuteTainted(['n1', 'n2', 'n3'])).to.deep.equal([]);
    await cluster.tick(30_000);
    expect(await cluster.evicted('p1')).to.equal(false);
    expect(await cluster.evicted('p3')).to.equal(false);
    const controller = cluster.env.manager.container.get(NodeLifecycleController);
    expect(controller.tainter.stateOf('')).to.equal('FullDisruption');

    // n2 is back: the two still silent are tainted again at the zone's rate — starting one
    // period after the halt, as kube's limiter swap does.
    await cluster.renew('n2');
    await cluster.postReady('n2', 'True');
    await cluster.tick(1_500, ['n2']);
    expect(controller.tainter.stateOf('')).to.equal('Normal');
    expect(await cluster.noExecuteTainted(['n1', 'n3'])).to.deep.equal([]);
    await cluster.tick(10_000, ['n2']);
    expect(await cluster.noExecuteTainted(['n1', 'n3'])).to.have.length(1);
    await cluster.tick(10_000, ['n2']);
    expect(await cluster.noExecuteTainted(['n1', 'n3'])).to.have.length(2);
  });
});

describe('TaintEvictionController', () => {
  let cluster: Cluster;
  afterEach(async () => cluster?.stop());

  const dedicated: Taint = { key: 'dedicated', value: 'db', effect: 'NoExecute' };
  const taintNode = async (name: string, taints: Taint[]) => {
    const node = await cluster.node(name);
    await cluster.client.update({ ...node, spec: { ...node.spec, taints } });
  };

  it('evicts at once a pod that does not tolerate a NoExecute taint; keeps one tolerating it forever', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addPod('intolerant', 'n1');
    await cluster.addPod('forever', 'n1', [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoExecute' }]);
    await taintNode('n1', [{ ...dedicated, timeAdded: formatTimestamp(cluster.clock.now()) }]);
    await cluster.tick(200, ['n1']);
    expect(await cluster.evicted('intolerant')).to.equal(true);
    await cluster.tick(60_000, ['n1']);
    expect(await cluster.evicted('forever')).to.equal(false);
  });

  it('evicts a pod tolerating the taint for tolerationSeconds that long after timeAdded — not if the taint goes first', async () => {
    cluster = await Cluster.start();
    await cluster.addNode('n1');
    await cluster.addNode('n2');
    const tolerate30: Toleration[] = [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }];
    await cluster.addPod('stays', 'n1', tolerate30);
    await cluster.addPod('goes', 'n2', tolerate30);
    const timeAdded = formatTimestamp(cluster.clock.now());
    await taintNode('n1', [{ ...dedicated, timeAdded }]);
    await taintNode('n2', [{ ...dedicated, timeAdded }]);
    await cluster.tick(29_500, ['n1', 'n2']);
    expect(await cluster.evicted('goes')).to.equal(false);
    await taintNode('n1', []);
    await cluster.tick(1_000, ['n1', 'n2']);
    expect(await cluster.evicted('goes')).to.equal(true);
    await cluster.tick(30_000, ['n1', 'n2']);
    expect(await cluster.evicted('stays')).to.equal(false);
  });
});

describe('node lifecycle pieces', () => {
  it('evictionTime: now for an untolerated taint, timeAdded + seconds for the earliest, undefined for forever', () => {
    const now = START + 10_000;
    const taint: Taint = { key: UNREACHABLE, effect: 'NoExecute', timeAdded: formatTimestamp(START) };
    expect(evictionTime([taint], [], now)).to.equal(now);
    expect(evictionTime([taint], [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], now)).to.equal(START + 300_000);
    expect(evictionTime([taint], [{ operator: 'Exists' }], now)).to.equal(undefined);
    expect(evictionTime([taint], [{ key: UNREACHABLE, operator: 'Exists', tolerationSeconds: 0 }], now)).to.equal(now);
    const other: Taint = { key: 'x', effect: 'NoExecute' };
    expect(evictionTime([taint, other], [{ operator: 'Exists', tolerationSeconds: 60 }, { key: UNREACHABLE, operator: 'Exists', tolerationSeconds: 5 }], now, START + 1000)).to.equal(START + 60_000);
  });

  it('toleratesTaint follows kube: effect, key, then Equal compares values and Exists does not', () => {
    const taint: Taint = { key: 'k', value: 'v', effect: 'NoExecute' };
    expect(toleratesTaint({ key: 'k', value: 'v' }, taint)).to.equal(true);
    expect(toleratesTaint({ key: 'k', operator: 'Equal', value: 'w' }, taint)).to.equal(false);
    expect(toleratesTaint({ key: 'k', operator: 'Exists', effect: 'NoSchedule' }, taint)).to.equal(false);
    expect(toleratesTaint({ operator: 'Exists' }, taint)).to.equal(true);
  });

  it('computeZoneState: full with no Ready node, partial from 3 and the threshold, normal otherwise', () => {
    expect(computeZoneState(['Unknown'], 0.55).state).to.equal('FullDisruption');
    expect(computeZoneState(['True', 'Unknown', 'Unknown'], 0.55).state).to.equal('Normal');
    expect(computeZoneState(['True', 'Unknown', 'False', undefined], 0.55)).to.deep.equal({ unhealthy: 3, state: 'PartialDisruption' });
    expect(computeZoneState(['True', 'True', 'Unknown', 'Unknown', 'Unknown', 'True', 'True'], 0.55).state).to.equal('Normal');
    expect(zoneKeyOf({ metadata: { labels: { 'topology.kubernetes.io/zone': 'z1' } } })).to.equal('z1');
    expect(zoneKeyOf({ metadata: {} })).to.equal('');
  });

  it('RateLimitedTimedQueue hands out one value per token, retries on request, stops at rate 0', async () => {
    const clock = new FakeClock(START);
    const queue = new RateLimitedTimedQueue(clock, 0.5);
    const done: string[] = [];
    let failOnce = true;
    const action = async (value: string): Promise<true | number> => {
      if (value === 'b' && failOnce) {
        failOnce = false;
        return 100;
      }
      done.push(value);
      return true;
    };
    for (const value of ['a', 'b', 'c']) queue.add(value);
    expect(queue.add('a')).to.equal(false);
    expect(await queue.try(action)).to.equal(2000);
    expect(done).to.deep.equal(['a']);
    await clock.advance(2000);
    expect(await queue.try(action)).to.equal(2000); // b asked to wait 100 ms, behind c; no token for c
    await clock.advance(2000);
    await queue.try(action);
    expect(done).to.deep.equal(['a', 'c']);
    queue.swapLimiter(0);
    await clock.advance(60_000);
    expect(await queue.try(action)).to.equal(undefined);
    expect(queue.values()).to.deep.equal(['b']);
  });
});
