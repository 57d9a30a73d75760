/**
 * The manager: probes and metrics, cache sync failures that name the kind, leader failover.
 */
import { expect } from 'chai';
import { ConfigMap, Secret } from '../../lib/api/kinds.js';
import type { Client } from '../../lib/client/client.js';
import { connect } from '../../lib/client/connect.js';
import type { StoreClient } from '../../lib/client/store-client.js';
import { Controller } from '../../lib/runtime/decorators.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Manager } from '../../lib/runtime/manager.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import type { ReconcileRequest } from '../../lib/runtime/types.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';

@Controller({ for: ConfigMap, name: 'noop' })
class NoopController {
  async reconcile(_req: ReconcileRequest): Promise<void> {}
}

@Controller({ for: Secret, name: 'secrets' })
class SecretController {
  async reconcile(_req: ReconcileRequest): Promise<void> {}
}

@Controller({ for: ConfigMap, name: 'runnable' })
class RunnableController {
  static events: string[] = [];
  async reconcile(_req: ReconcileRequest): Promise<void> {}
  start(signal: AbortSignal): void {
    RunnableController.events.push('start');
    signal.addEventListener('abort', () => RunnableController.events.push('aborted'));
  }
  stop(): void {
    RunnableController.events.push('stop');
  }
}

function manager(client: Client, extra: Partial<ConstructorParameters<typeof Manager>[0]> = {}): Manager {
  return new Manager({ client, logger: silentLogger(), metrics: new Metrics(), gracefulShutdownTimeoutMs: 2000, ...extra });
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Manager', function () {
  this.timeout(30_000);
  let client: StoreClient;
  beforeEach(async () => {
    client = (await connect({ store: 'memory:', compactionIntervalMs: 0 })) as StoreClient;
  });
  afterEach(async () => client.close());

  it('serves /healthz, /readyz and /metrics with controller-runtime metric names', async () => {
    const m = manager(client, { metricsPort: 0 }).add(NoopController);
    const running = m.start();
    await waitUntil(() => m.ready, 'ready');
    await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } });
    const base = `http://127.0.0.1:${m.metricsPort}`;
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    const ready = await fetch(`${base}/readyz?verbose`);
    expect(ready.status).to.equal(200);
    expect(await ready.text()).to.contain('[+]informers ok');
    await waitUntil(async () => (await (await fetch(`${base}/metrics`)).text()).includes('controller_runtime_reconcile_total{controller="noop",result="success"}'), 'reconcile metric');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of ['workqueue_depth', 'workqueue_adds_total', 'workqueue_queue_duration_seconds', 'controller_runtime_reconcile_time_seconds', 'controller_runtime_active_workers', 'controller_runtime_max_concurrent_reconciles']) {
      expect(metrics, name).to.contain(name);
    }
    await m.stop();
    await running;
  });

  it('runs a controller\'s own start once controllers run, and stops it before the caches', async () => {
    RunnableController.events = [];
    const m = manager(client).add(RunnableController);
    const running = m.start();
    await waitUntil(() => RunnableController.events.includes('start'), 'start');
    expect(m.leading).to.equal(true);
    await m.stop();
    await running;
    expect(RunnableController.events).to.deep.equal(['start', 'aborted', 'stop']);
  });

  it('fails to start when a cache does not sync, naming the kind', async () => {
    // A source whose Secret list never answers.
    const stuck: Client = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'list') {
          return (kind: { name?: string; kind?: string }, options: unknown) =>
            (kind as { name?: string }).name === 'Secret' ? new Promise(() => undefined) : target.list(kind as never, options as never);
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const m = manager(stuck, { cacheSyncTimeoutMs: 300 }).add(NoopController, SecretController);
    let error: unknown;
    try {
      await m.start();
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/caches did not sync.*Secret/);
  });

  it('fails over to a second manager within leaseDuration + 2×retryPeriod, never two leaders', async () => {
    const clock = new FakeClock();
    const shared = (await connect({ store: 'memory:', clock, compactionIntervalMs: 0 })) as StoreClient;
    const election = { name: 'test-lease', namespace: 'kube-system', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
    const a = manager(shared, { clock, leaderElection: { ...election, identity: 'a', releaseOnCancel: false } }).add(NoopController);
    const b = manager(shared, { clock, leaderElection: { ...election, identity: 'b' } }).add(NoopController);
    const runningA = a.start();
    await waitUntil(() => a.leading, 'a leads');
    const runningB = b.start();
    await waitUntil(() => b.ready, 'b ready (caches synced, waiting to lead)');
    // b stays a candidate while a renews.
    for (let t = 0; t < 30_000; t += 500) {
      await clock.advance(500);
      expect(a.leading && b.leading, 'never two leaders').to.equal(false);
      expect(b.leading).to.equal(false);
    }
    // a dies without releasing its Lease (a crash, as far as b can tell).
    await a.stop();
    await runningA.catch(() => undefined);
    const diedAt = clock.now();
    while (!b.leading) {
      await clock.advance(100);
      if (clock.now() - diedAt > 15_000 + 2 * 2_000) throw new Error('b did not take over within leaseDuration + 2×retryPeriod');
    }
    const lease = await shared.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' }, 'test-lease', { namespace: 'kube-system' });
    expect((lease as { spec?: { holderIdentity?: string } }).spec?.holderIdentity).to.equal('b');
    await b.stop();
    await runningB;
    await shared.close();
  });
});
