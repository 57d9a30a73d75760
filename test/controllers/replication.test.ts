/**
 * The replication controller: unit tests of its reconcile with the ReconcileHarness (an uncached
 * client over an in-memory store, a fake clock), of its pieces (expectations, slow start, victim
 * ranking), and integration tests with a real manager (informers, queues) in a TestEnv.
 */
import { expect } from 'chai';
import type { Container } from 'inversify';
import {
  ApiError,
  ApiReader,
  Client,
  formatTimestamp,
  getControllerOf,
  Pod,
  ReplicationController,
  setControllerReference,
  type KubeObject,
  type PodStatus,
} from '../../lib/index.js';
import { FakeClock, ReconcileHarness, TestEnv } from '../../lib/testing/index.js';
import {
  EXPECTATIONS_TIMEOUT_MS,
  POD_DELETION_COST_ANNOTATION,
  ReplicaExpectations,
  ReplicationReconciler,
  podsToDelete,
  slowStartBatch,
} from '../../controllers/replication/index.js';

const NS = 'default';
const START = Date.UTC(2026, 0, 1);
const CONTAINERS = [{ name: 'web', image: 'nginx' }];

function replicationController(name: string, replicas: number, extra: { minReadySeconds?: number } = {}): ReplicationController {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name, namespace: NS },
    spec: { replicas, ...extra, selector: { app: name }, template: { metadata: { labels: { app: name, tier: 'web' } }, spec: { containers: CONTAINERS } } },
  };
}

interface PodShape {
  owner?: ReplicationController;
  labels?: Record<string, string>;
  node?: string;
  phase?: PodStatus['phase'];
  /** Ready since this time (ms); absent = not ready. */
  readySinceMs?: number;
  restarts?: number;
  createdMs?: number;
  annotations?: Record<string, string>;
}

/** A pod object (not stored) with the given shape. */
function pod(name: string, shape: PodShape = {}): Pod {
  const result: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      labels: shape.labels ?? { app: 'web', tier: 'web' },
      ...(shape.annotations ? { annotations: shape.annotations } : {}),
      creationTimestamp: formatTimestamp(shape.createdMs ?? START),
    },
    spec: { containers: CONTAINERS, ...(shape.node ? { nodeName: shape.node } : {}) },
    status: {
      phase: shape.phase ?? 'Running',
      conditions: [
        shape.readySinceMs === undefined
          ? { type: 'Ready', status: 'False' }
          : { type: 'Ready', status: 'True', lastTransitionTime: formatTimestamp(shape.readySinceMs) },
      ],
      containerStatuses: [{ name: 'web', image: 'nginx', imageID: '', ready: shape.readySinceMs !== undefined, restartCount: shape.restarts ?? 0 }],
    },
  };
  if (shape.owner) setControllerReference(shape.owner, result);
  return result;
}

/** Stores a pod and then its status (a create resets the status, as kube's). */
async function storePod(client: Client, shape: Pod): Promise<Pod> {
  const { status, ...rest } = structuredClone(shape);
  delete rest.metadata!.uid;
  delete rest.metadata!.creationTimestamp;
  const created = await client.create(rest);
  return status ? client.updateStatus({ ...created, status }) : created;
}

const activeOwned = (pods: Pod[], rc: ReplicationController) =>
  pods.filter((p) => !p.metadata?.deletionTimestamp && getControllerOf(p)?.uid === rc.metadata?.uid);

/** A Client whose `create` goes through `intercept` (to count, delay or fail creates). */
function interceptCreates(inner: Client, intercept: (obj: KubeObject, create: () => Promise<KubeObject>) => Promise<KubeObject>): Client {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'create') return (obj: KubeObject, options?: object) => intercept(obj, () => target.create(obj, options));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Rebinds the harness's Client through `wrap` (the harness binds its store client first). */
function wrapClient(wrap: (inner: Client) => Client): (container: Container) => void {
  return (container) => {
    const inner = container.get<Client>(Client);
    container.rebind(Client).toConstantValue(wrap(inner));
  };
}

describe('ReplicationReconciler', () => {
  let clock: FakeClock;
  let harness: ReconcileHarness<ReplicationReconciler>;
  let rc: ReplicationController;

  async function setup(replicas: number, configure?: (container: Container) => void, extra: { minReadySeconds?: number } = {}): Promise<void> {
    clock = new FakeClock(START);
    harness = await ReconcileHarness.create(ReplicationReconciler, { clock, ...(configure ? { configure } : {}) });
    rc = await harness.client.create(replicationController('web', replicas, extra));
  }
  const listPods = async () => (await harness.client.list(Pod, { namespace: NS })).items;
  const readRc = () => harness.client.get(ReplicationController, 'web', { namespace: NS });

  afterEach(async () => harness?.close());

  describe('creating pods', () => {
    it('creates spec.replicas pods from the template, named <rc>-<5 chars> and controlled by the RC', async () => {
      await setup(3);
      await harness.reconcile(`${NS}/web`);
      const pods = await listPods();
      expect(pods).to.have.length(3);
      for (const p of pods) {
        expect(p.metadata?.name).to.match(/^web-[a-z0-9]{5}$/);
        expect(p.metadata?.labels).to.deep.equal({ app: 'web', tier: 'web' });
        expect(p.metadata?.namespace).to.equal(NS);
        expect(p.metadata?.ownerReferences).to.deep.equal([
          { apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: rc.metadata!.uid, controller: true, blockOwnerDeletion: true },
        ]);
        expect(p.spec?.containers[0]?.image).to.equal('nginx');
      }
      expect(harness.recorder.strings().sort()).to.deep.equal(pods.map((p) => `Normal SuccessfulCreate Created pod: ${p.metadata?.name}`).sort());
    });

    it('creates in slow-start batches of 1, 2, 4, 8 and stops after the first batch with a failure', async () => {
      const batches: number[] = [];
      let inFlight = 0;
      let calls = 0;
      await setup(
        20,
        wrapClient((inner) =>
          interceptCreates(inner, async (obj, create) => {
            if (inFlight++ === 0) batches.push(0);
            batches[batches.length - 1]!++;
            const call = ++calls;
            try {
              await new Promise((resolve) => setImmediate(resolve));
              if (call === 10) throw new ApiError({ code: 403, reason: 'Forbidden', message: 'pods "web-x" is forbidden: exceeded quota: pods' });
              return await create();
            } finally {
              inFlight--;
            }
          }),
        ),
      );
      let thrown: unknown;
      await harness.reconcile(`${NS}/web`).catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(ApiError);
      expect(batches).to.deep.equal([1, 2, 4, 8]); // the 10th create failed: no batch of 5 follows
      expect(await listPods()).to.have.length(14);
      expect(harness.recorder.strings()).to.include('Warning FailedCreate Error creating: pods "web-x" is forbidden: exceeded quota: pods');
      const condition = (await readRc()).status?.conditions?.find((c) => c.type === 'ReplicaFailure');
      expect(condition).to.include({ status: 'True', reason: 'FailedCreate', message: 'pods "web-x" is forbidden: exceeded quota: pods' });
      // Once creates succeed again the rest are made and the condition goes.
      calls = -1000;
      await harness.reconcile(`${NS}/web`);
      await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(20);
      expect((await readRc()).status?.conditions ?? []).to.deep.equal([]);
    });

    it('creates at most 500 pods per reconcile (burstReplicas)', async () => {
      await setup(503);
      await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(500);
      await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(503);
    });

    it('does not create again while earlier creates are not in the (lagging) cache', async () => {
      let frozen: Pod[] | undefined = [];
      await setup(
        3,
        wrapClient((inner) => {
          const lagging = new Proxy(inner, {
            get(target, prop) {
              if (prop === 'list') {
                return async (kind: unknown, options: object) => {
                  const result = await target.list(kind as typeof Pod, options);
                  return kind === Pod && frozen ? { ...result, items: structuredClone(frozen) } : result;
                };
              }
              const value = Reflect.get(target, prop, target) as unknown;
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
            },
          });
          return lagging;
        }),
      );
      await harness.reconcile(`${NS}/web`);
      const second = await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(3);
      expect(harness.reconciler.expectations.pending(`${NS}/web`).creations).to.have.length(3);
      expect(second).to.have.property('requeueAfterMs').that.is.at.most(EXPECTATIONS_TIMEOUT_MS);
      frozen = undefined; // the cache catches up
      await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(3);
      expect((await readRc()).status?.replicas).to.equal(3);
    });

    it('counts neither terminated pods nor pods of another controller, and replaces the terminated', async () => {
      await setup(2);
      await storePod(harness.client, pod('done', { owner: rc, labels: { app: 'web', tier: 'web' }, phase: 'Succeeded' }));
      await storePod(harness.client, pod('alive', { owner: rc, labels: { app: 'web', tier: 'web' } }));
      const other = await harness.client.create(replicationController('other', 0));
      await storePod(harness.client, pod('foreign', { owner: other, labels: { app: 'web', tier: 'web' } }));
      await harness.reconcile(`${NS}/web`);
      await harness.reconcile(`${NS}/web`);
      expect(activeOwned(await listPods(), rc)).to.have.length(3); // alive, the new one, and the terminated
      expect((await readRc()).status).to.include({ replicas: 2 });
      const foreign = await harness.client.get(Pod, 'foreign', { namespace: NS });
      expect(getControllerOf(foreign)?.name).to.equal('other');
    });

    it('neither creates nor deletes for an RC being deleted', async () => {
      await setup(2);
      await harness.client.patch(ReplicationController, 'web', { metadata: { finalizers: ['example.com/hold'] } }, { namespace: NS, type: 'merge' });
      await harness.client.delete(ReplicationController, 'web', { namespace: NS });
      await harness.reconcile(`${NS}/web`);
      expect(await listPods()).to.have.length(0);
    });
  });

  describe('adoption and release', () => {
    it('adopts a matching orphan instead of creating a pod, and maps orphans to matching RCs', async () => {
      await setup(1);
      const orphan = await storePod(harness.client, pod('orphan', { labels: { app: 'web', tier: 'web' } }));
      expect(await harness.reconciler.podToReplicationControllers(orphan)).to.deep.equal([{ namespace: NS, name: 'web' }]);
      expect(await harness.reconciler.podToReplicationControllers(pod('stranger', { labels: { app: 'db' } }))).to.deep.equal([]);
      await harness.reconcile(`${NS}/web`);
      const pods = await listPods();
      expect(pods.map((p) => p.metadata?.name)).to.deep.equal(['orphan']);
      expect(getControllerOf(pods[0]!)).to.include({ kind: 'ReplicationController', name: 'web', uid: rc.metadata!.uid, controller: true });
      expect(await harness.reconciler.podToReplicationControllers(pods[0]!)).to.deep.equal([]); // owned: `owns` maps it
    });

    it('does not adopt when the RC read uncached is another object (recreated under the same name)', async () => {
      await setup(
        1,
        (container) => {
          const inner = container.get<Client>(ApiReader);
          container.rebind(ApiReader).toConstantValue(
            new Proxy(inner, {
              get: (target, prop) => {
                if (prop === 'get') {
                  return async (...args: Parameters<Client['get']>) => {
                    const obj = await target.get(...args);
                    return { ...obj, metadata: { ...obj.metadata, uid: 'a-new-uid' } };
                  };
                }
                const value = Reflect.get(target, prop, target) as unknown;
                return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
              },
            }),
          );
        },
      );
      await storePod(harness.client, pod('orphan', { labels: { app: 'web', tier: 'web' } }));
      let thrown: unknown;
      await harness.reconcile(`${NS}/web`).catch((err: unknown) => (thrown = err));
      expect(String(thrown)).to.contain('original ReplicationController default/web is gone');
      expect((await harness.client.get(Pod, 'orphan', { namespace: NS })).metadata?.ownerReferences).to.equal(undefined);
    });

    it('releases an owned pod whose labels stopped matching, keeping its other owners, and replaces it', async () => {
      await setup(1);
      const moved = pod('moved', { owner: rc, labels: { app: 'debug' } });
      moved.metadata!.ownerReferences!.push({ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', uid: 'cfg-uid' });
      await storePod(harness.client, moved);
      await harness.reconcile(`${NS}/web`);
      const released = await harness.client.get(Pod, 'moved', { namespace: NS });
      expect(released.metadata?.ownerReferences).to.deep.equal([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', uid: 'cfg-uid' }]);
      expect(activeOwned(await listPods(), rc)).to.have.length(1);
    });
  });

  describe('status', () => {
    it('reports replicas, fullyLabeled, ready, available after minReadySeconds, and observedGeneration', async () => {
      await setup(3, undefined, { minReadySeconds: 10 });
      await storePod(harness.client, pod('a', { owner: rc, labels: { app: 'web', tier: 'web' }, readySinceMs: START }));
      await storePod(harness.client, pod('b', { owner: rc, labels: { app: 'web' }, readySinceMs: START - 4000 }));
      await storePod(harness.client, pod('c', { owner: rc, labels: { app: 'web', tier: 'web' } }));
      const first = await harness.reconcile(`${NS}/web`);
      expect((await readRc()).status).to.deep.equal({ replicas: 3, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 0, observedGeneration: 1 });
      expect(first).to.deep.equal({ requeueAfterMs: 6000 }); // b becomes available first
      await clock.advance(6000);
      expect(await harness.reconcile(`${NS}/web`)).to.deep.equal({ requeueAfterMs: 4000 });
      expect((await readRc()).status?.availableReplicas).to.equal(1);
      await clock.advance(4000);
      expect(await harness.reconcile(`${NS}/web`)).to.equal(undefined);
      expect((await readRc()).status?.availableReplicas).to.equal(2);
    });

    it('writes the status only when it changed', async () => {
      await setup(0);
      await harness.reconcile(`${NS}/web`);
      const written = await readRc();
      await harness.reconcile(`${NS}/web`);
      expect((await readRc()).metadata?.resourceVersion).to.equal(written.metadata?.resourceVersion);
    });
  });

  describe('scale-down', () => {
    const nodesOf = (pods: Pod[]) => pods.map((p) => p.spec?.nodeName).sort();

    it('deletes the surplus, highest-ranked first, with kube events', async () => {
      await setup(1);
      await storePod(harness.client, pod('ready', { owner: rc, node: 'n1', readySinceMs: START - 60_000 }));
      await storePod(harness.client, pod('pending', { owner: rc, node: 'n1', phase: 'Pending' }));
      await storePod(harness.client, pod('unassigned', { owner: rc, phase: 'Pending' }));
      await harness.reconcile(`${NS}/web`);
      const alive = activeOwned(await listPods(), rc).map((p) => p.metadata?.name);
      expect(alive).to.deep.equal(['ready']);
      expect(harness.recorder.strings().sort()).to.deep.equal(['Normal SuccessfulDelete Deleted pod: pending', 'Normal SuccessfulDelete Deleted pod: unassigned']);
    });

    const spreads = [
      { layout: ['a', 'a', 'b', 'b', 'c'], replicas: 2, distinctNodes: 2 },
      { layout: ['a', 'a', 'a', 'b', 'b', 'c'], replicas: 3, distinctNodes: 3 },
    ];
    for (const { layout, replicas, distinctNodes } of spreads) {
      it(`keeps the spread even: ${layout.length} pods on nodes ${layout.join('')} scaled to ${replicas} stay on ${distinctNodes} nodes`, async () => {
        await setup(replicas);
        for (const [i, node] of layout.entries()) await storePod(harness.client, pod(`p${i}`, { owner: rc, node, readySinceMs: START - 3_600_000 }));
        await harness.reconcile(`${NS}/web`);
        const nodes = nodesOf(activeOwned(await listPods(), rc));
        expect(nodes).to.have.length(replicas);
        expect(new Set(nodes).size).to.equal(distinctNodes);
      });
    }

    const cases: { name: string; pods: Pod[]; remove: number; expected: string[] }[] = [
      { name: 'unassigned before assigned', pods: [pod('assigned', { node: 'n', phase: 'Pending' }), pod('unassigned', { phase: 'Running' })], remove: 1, expected: ['unassigned'] },
      {
        name: 'Pending < Unknown < Running',
        pods: [pod('running', { node: 'n', phase: 'Running' }), pod('unknown', { node: 'n', phase: 'Unknown' }), pod('pending', { node: 'n', phase: 'Pending' })],
        remove: 3,
        expected: ['pending', 'unknown', 'running'],
      },
      { name: 'not ready before ready', pods: [pod('ready', { node: 'n', readySinceMs: START }), pod('not-ready', { node: 'n' })], remove: 1, expected: ['not-ready'] },
      {
        name: 'lower deletion cost first',
        pods: [pod('cheap', { node: 'n', annotations: { [POD_DELETION_COST_ANNOTATION]: '-5' } }), pod('dear', { node: 'n', annotations: { [POD_DELETION_COST_ANNOTATION]: '100' } })],
        remove: 1,
        expected: ['cheap'],
      },
      {
        name: 'ready for less time first (log2 buckets)',
        pods: [pod('old', { node: 'n', readySinceMs: START - 3_600_000 }), pod('fresh', { node: 'n', readySinceMs: START - 10_000 })],
        remove: 1,
        expected: ['fresh'],
      },
      { name: 'more restarts first', pods: [pod('steady', { node: 'n', restarts: 0 }), pod('flaky', { node: 'n', restarts: 7 })], remove: 1, expected: ['flaky'] },
      {
        name: 'newer first',
        pods: [pod('elder', { node: 'n', createdMs: START - 86_400_000 }), pod('newborn', { node: 'n', createdMs: START - 5_000 })],
        remove: 1,
        expected: ['newborn'],
      },
      {
        name: 'health before spread: a not-ready pod alone on its node goes before a ready doubled-up one',
        pods: [pod('x1', { node: 'x', readySinceMs: START }), pod('x2', { node: 'x', readySinceMs: START }), pod('y1', { node: 'y' })],
        remove: 1,
        expected: ['y1'],
      },
      {
        name: 'spread before age: 2/2/1 to 2 leaves pods on two different nodes even when the lone pod is the newest',
        pods: [
          pod('a1', { node: 'a', createdMs: START - 9_000_000 }),
          pod('a2', { node: 'a', createdMs: START - 9_000_000 }),
          pod('b1', { node: 'b', createdMs: START - 9_000_000 }),
          pod('b2', { node: 'b', createdMs: START - 9_000_000 }),
          pod('c1', { node: 'c', createdMs: START - 1_000 }),
        ],
        remove: 3,
        expected: ['a1', 'b1', 'c1'], // then a2 and b2 remain: two nodes
      },
    ];
    for (const { name, pods, remove, expected } of cases) {
      it(`ranks victims: ${name}`, () => {
        expect(podsToDelete(pods, remove, START).map((p) => p.metadata?.name)).to.deep.equal(expected);
      });
    }

    it('spreads 3/2/1 to 1/1/1 where kube would empty the crowded node', () => {
      const pods = ['a', 'a', 'a', 'b', 'b', 'c'].map((node, i) => pod(`p${i}`, { node, createdMs: START - 60_000 * (i + 1) }));
      const victims = new Set(podsToDelete(pods, 3, START));
      expect(nodesOf(pods.filter((p) => !victims.has(p)))).to.deep.equal(['a', 'b', 'c']);
    });
  });
});

describe('ReplicaExpectations', () => {
  const key = `${NS}/web`;
  const owner = replicationController('web', 1);
  owner.metadata!.uid = 'rc-uid';
  let clock: FakeClock;
  let expectations: ReplicaExpectations;
  beforeEach(() => {
    clock = new FakeClock(START);
    expectations = new ReplicaExpectations(clock);
  });

  it('is satisfied with no expectations', () => {
    expect(expectations.satisfied(key, [])).to.equal(true);
  });

  it('waits until the cache shows every created pod', () => {
    const created = [pod('a', { owner }), pod('b', { owner })];
    for (const p of created) {
      expectations.creationIssued(key);
      expectations.creationSucceeded(key, p);
    }
    expect(expectations.satisfied(key, [])).to.equal(false);
    expect(expectations.satisfied(key, [created[0]!])).to.equal(false);
    expect(expectations.satisfied(key, created)).to.equal(true);
  });

  it('counts a creation observed through an event, even one that beat the create answer', () => {
    const fast = pod('fast', { owner });
    expectations.creationIssued(key);
    expectations.observe(fast); // the add event arrives before create() returns
    expectations.creationSucceeded(key, fast);
    expect(expectations.satisfied(key, [])).to.equal(true); // it was deleted again meanwhile
  });

  it('forgets failed creates', () => {
    expectations.creationIssued(key);
    expectations.creationFailed(key);
    expect(expectations.satisfied(key, [])).to.equal(true);
  });

  it('waits until deleted pods are gone from the cache or terminating', () => {
    const victims = [pod('a', { owner }), pod('b', { owner })];
    expectations.deletionsIssued(key, victims);
    expect(expectations.satisfied(key, victims)).to.equal(false);
    const terminating = { ...victims[1]!, metadata: { ...victims[1]!.metadata, deletionTimestamp: formatTimestamp(START) } };
    expect(expectations.satisfied(key, [terminating])).to.equal(true);
  });

  it('expires after 5 minutes', async () => {
    expectations.creationIssued(key);
    expectations.creationSucceeded(key, pod('lost', { owner }));
    expect(expectations.expiresInMs(key)).to.equal(EXPECTATIONS_TIMEOUT_MS);
    await clock.advance(EXPECTATIONS_TIMEOUT_MS);
    expect(expectations.satisfied(key, [])).to.equal(false);
    await clock.advance(1);
    expect(expectations.satisfied(key, [])).to.equal(true);
  });
});

describe('slowStartBatch', () => {
  it('runs batches of 1, 2, 4, … capped by what remains', async () => {
    let calls = 0;
    const outcome = await slowStartBatch(10, 1, async () => void calls++);
    expect(outcome).to.deep.equal({ successes: 10, failures: 0 });
    expect(calls).to.equal(10);
  });

  it('stops after the batch with the first failure', async () => {
    let calls = 0;
    const outcome = await slowStartBatch(100, 1, async () => {
      if (++calls === 5) throw new Error('quota');
    });
    expect(calls).to.equal(7); // batches 1, 2, 4
    expect(outcome).to.deep.include({ successes: 6, failures: 1 });
    expect(String(outcome.error)).to.contain('quota');
  });
});

describe('ReplicationReconciler in a manager', function () {
  this.timeout(30_000);
  let env: TestEnv;
  let rc: ReplicationController;
  const owned = async () => activeOwned((await env.client.list(Pod, { namespace: NS })).items, rc);

  beforeEach(async () => {
    env = await TestEnv.start({ controllers: [ReplicationReconciler] });
    rc = await env.client.create(replicationController('web', 5));
  });
  afterEach(async () => env.stop());

  it('converges to 5 pods and reports them', async () => {
    await env.eventually(async () => (await owned()).length === 5);
    await env.eventually(async () => (await env.client.get(ReplicationController, 'web', { namespace: NS })).status?.replicas === 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await owned()).to.have.length(5); // and no more
  });

  it('replaces a deleted pod', async () => {
    const pods = await env.eventually(async () => ((await owned()).length === 5 ? owned() : undefined));
    const victim = pods[0]!.metadata!.name!;
    await env.client.delete(Pod, victim, { namespace: NS });
    await env.eventually(async () => {
      const now = await owned();
      return now.length === 5 && !now.some((p) => p.metadata?.name === victim);
    });
  });

  it('scales 5 → 2 by deleting 3', async () => {
    await env.eventually(async () => (await owned()).length === 5);
    await env.client.patch(ReplicationController, 'web', { spec: { replicas: 2 } }, { namespace: NS, type: 'merge' });
    await env.eventually(async () => (await owned()).length === 2);
    await env.eventually(async () => (await env.client.get(ReplicationController, 'web', { namespace: NS })).status?.replicas === 2);
    expect((await env.client.list(Pod, { namespace: NS })).items).to.have.length(2);
  });

  it('releases a pod whose labels change and replaces it', async () => {
    const pods = await env.eventually(async () => ((await owned()).length === 5 ? owned() : undefined));
    const moved = pods[0]!.metadata!.name!;
    await env.client.patch(Pod, moved, { metadata: { labels: { app: 'debug' } } }, { namespace: NS, type: 'merge' });
    await env.eventually(async () => ((await env.client.get(Pod, moved, { namespace: NS })).metadata?.ownerReferences ?? []).length === 0);
    await env.eventually(async () => (await owned()).length === 5);
  });

  it('adopts a matching orphan and trims back to spec.replicas', async () => {
    await env.eventually(async () => (await owned()).length === 5);
    await env.client.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: NS, labels: { app: 'web' } }, spec: { containers: CONTAINERS } });
    await env.eventually(async () => {
      const pods = (await env.client.list(Pod, { namespace: NS })).items;
      return pods.length === 5 && activeOwned(pods, rc).length === 5;
    });
  });
});
