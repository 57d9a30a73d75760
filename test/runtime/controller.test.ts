/**
 * Controllers under a real manager over an in-memory store: what reaches reconcile and when.
 */
import { expect } from 'chai';
import { inject, injectable } from 'inversify';
import { ConfigMap, Pod, Secret } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { Controller, Watches, controllerMetadata, DecoratorError, Resource } from '../../lib/runtime/decorators.js';
import { generationChanged } from '../../lib/runtime/predicates.js';
import { TerminalError, type ReconcileRequest, type Result } from '../../lib/runtime/types.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';
import { TestEnv } from '../../lib/testing/env.js';
import { setControllerReference } from '../../lib/runtime/helpers.js';

const NS = 'default';

/** What the test controllers report to the test. */
@injectable()
class Probe {
  calls: string[] = [];
  inFlight = new Map<string, number>();
  maxConcurrentPerKey = 0;
  maxConcurrent = 0;
  running = 0;
  failUntil = new Map<string, number>();
  terminal = new Set<string>();
  requeueAfter = new Map<string, number>();
  gate: Promise<void> | undefined;
  finished: string[] = [];
}

function cm(name: string, data: Record<string, string> = {}, extra: Partial<ConfigMap> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data, ...extra };
}

@Controller({ for: ConfigMap, concurrency: 4, name: 'configmaps' })
class ConfigMapController {
  constructor(@inject(Probe) private readonly probe: Probe) {}

  async reconcile(req: ReconcileRequest): Promise<Result | void> {
    const key = `${req.namespace}/${req.name}`;
    const p = this.probe;
    p.calls.push(key);
    p.running++;
    p.maxConcurrent = Math.max(p.maxConcurrent, p.running);
    const here = (p.inFlight.get(key) ?? 0) + 1;
    p.inFlight.set(key, here);
    p.maxConcurrentPerKey = Math.max(p.maxConcurrentPerKey, here);
    try {
      await new Promise((r) => setImmediate(r));
      if (p.gate) await p.gate;
      if (p.terminal.has(req.name)) throw new TerminalError(`cannot ever reconcile ${req.name}`);
      const failures = p.failUntil.get(req.name) ?? 0;
      if (failures > 0) {
        p.failUntil.set(req.name, failures - 1);
        throw new Error(`transient failure of ${req.name}`);
      }
      const after = p.requeueAfter.get(req.name);
      if (after) {
        p.requeueAfter.delete(req.name);
        return { requeueAfterMs: after };
      }
      p.finished.push(key);
    } finally {
      p.running--;
      p.inFlight.set(key, here - 1);
    }
  }
}

@Controller({ for: ConfigMap, owns: [Secret], predicates: [generationChanged], name: 'owner' })
class OwnerController {
  constructor(@inject(Probe) private readonly probe: Probe) {}

  @Watches(Pod)
  podToConfigMap(pod: Pod): ReconcileRequest[] {
    const target = pod.metadata?.annotations?.['example.com/config'];
    return target ? [{ namespace: pod.metadata!.namespace!, name: target }] : [];
  }

  async reconcile(req: ReconcileRequest): Promise<void> {
    this.probe.calls.push(`${req.namespace}/${req.name}`);
  }
}

function withProbe(probe: Probe) {
  return (container: import('inversify').Container) => container.bind(Probe).toConstantValue(probe);
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Controller', function () {
  this.timeout(20_000);
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.stop();
    env = undefined;
  });

  it('reconciles every existing object on start and each change after', async () => {
    const probe = new Probe();
    env = await TestEnv.start({ controllers: [ConfigMapController], objects: [cm('a'), cm('b')], configure: withProbe(probe) });
    await waitUntil(() => probe.finished.includes('default/a') && probe.finished.includes('default/b'), 'initial reconciles');
    probe.finished.length = 0;
    await env.client.patch(ConfigMap, 'a', { data: { k: 'v' } }, { namespace: NS });
    await env.client.delete(ConfigMap, 'b', { namespace: NS });
    await waitUntil(() => probe.finished.includes('default/a') && probe.finished.includes('default/b'), 'reconciles after update and delete');
  });

  it('never reconciles one key twice at once, but different keys in parallel', async () => {
    const probe = new Probe();
    env = await TestEnv.start({ controllers: [ConfigMapController], configure: withProbe(probe) });
    for (let i = 0; i < 8; i++) await env.client.create(cm(`c${i}`));
    await Promise.all(Array.from({ length: 40 }, (_, i) => env!.client.patch(ConfigMap, `c${i % 8}`, { data: { n: String(i) } }, { namespace: NS })));
    await waitUntil(() => new Set(probe.finished).size === 8 && probe.running === 0, 'all keys reconciled');
    expect(probe.maxConcurrentPerKey).to.equal(1);
    expect(probe.maxConcurrent).to.be.within(2, 4);
  });

  it('retries a failing reconcile with growing delays, and forget resets the backoff', async () => {
    const clock = new FakeClock();
    const probe = new Probe();
    probe.failUntil.set('flaky', 3);
    env = await TestEnv.start({ controllers: [ConfigMapController], objects: [cm('flaky')], configure: withProbe(probe), clock });
    await waitUntil(() => probe.calls.length === 1, 'first attempt');
    const queue = env.manager.runners[0]!;
    // Retries come after 5 ms, 10 ms and 20 ms of (fake) time: the exponential rate limiter.
    for (const delay of [5, 10, 20]) {
      const before = probe.calls.length;
      await clock.advance(delay - 1);
      expect(probe.calls.length, `no retry before ${delay} ms`).to.equal(before);
      await clock.advance(1);
      await waitUntil(() => probe.calls.length === before + 1, `retry after ${delay} ms`);
    }
    await waitUntil(() => probe.finished.includes('default/flaky'), 'success');
    // Success forgot the failures: a new failure waits 5 ms again, not 40.
    probe.failUntil.set('flaky', 1);
    await env.client.patch(ConfigMap, 'flaky', { data: { again: '1' } }, { namespace: NS });
    await waitUntil(() => probe.calls.length === 5, 'failing again');
    await clock.advance(5);
    await waitUntil(() => probe.calls.length === 6, 'retried after 5 ms');
    expect(queue.queueLength).to.equal(0);
  });

  it('does not retry a TerminalError', async () => {
    const clock = new FakeClock();
    const probe = new Probe();
    probe.terminal.add('doomed');
    env = await TestEnv.start({ controllers: [ConfigMapController], objects: [cm('doomed')], configure: withProbe(probe), clock });
    await waitUntil(() => probe.calls.length === 1, 'first attempt');
    await clock.advance(60_000);
    expect(probe.calls).to.deep.equal(['default/doomed']);
    expect(env.manager.runners[0]!.queueLength).to.equal(0);
    const metrics = await env.manager.metrics.registry.getSingleMetricAsString('controller_runtime_terminal_reconcile_errors_total');
    expect(metrics).to.contain('controller_runtime_terminal_reconcile_errors_total{controller="configmaps"} 1');
  });

  it('honours requeueAfterMs', async () => {
    const clock = new FakeClock();
    const probe = new Probe();
    probe.requeueAfter.set('later', 30_000);
    env = await TestEnv.start({ controllers: [ConfigMapController], objects: [cm('later')], configure: withProbe(probe), clock });
    await waitUntil(() => probe.calls.length === 1, 'first reconcile');
    await clock.advance(29_999);
    expect(probe.calls.length).to.equal(1);
    await clock.advance(1);
    await waitUntil(() => probe.finished.includes('default/later'), 'requeued reconcile');
  });

  it('maps owned objects to their controller owner and @Watches objects through the map function', async () => {
    const probe = new Probe();
    env = await TestEnv.start({ controllers: [OwnerController], objects: [cm('owner'), cm('target')], configure: withProbe(probe) });
    await waitUntil(() => probe.calls.includes('default/owner') && probe.calls.includes('default/target'), 'initial');
    probe.calls.length = 0;
    const owner = await env.client.get(ConfigMap, 'owner', { namespace: NS });
    const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'owned', namespace: NS }, data: {} };
    setControllerReference(owner, secret);
    await env.client.create(secret);
    await waitUntil(() => probe.calls.includes('default/owner'), 'owner enqueued by its Secret');
    await env.client.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: NS, annotations: { 'example.com/config': 'target' } },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    } as Pod);
    await waitUntil(() => probe.calls.includes('default/target'), 'target enqueued by the Pod');
  });

  it('filters updates with predicates (generationChanged ignores metadata-only changes)', async () => {
    const probe = new Probe();
    env = await TestEnv.start({ controllers: [OwnerController], objects: [cm('quiet')], configure: withProbe(probe) });
    await waitUntil(() => probe.calls.includes('default/quiet'), 'initial');
    probe.calls.length = 0;
    // ConfigMaps have no generation: a label change leaves it unchanged, so it is filtered.
    await env.client.patch(ConfigMap, 'quiet', { metadata: { labels: { a: 'b' } } }, { namespace: NS });
    await env.client.create(cm('fresh'));
    await waitUntil(() => probe.calls.includes('default/fresh'), 'create passes');
    expect(probe.calls).to.not.include('default/quiet');
  });

  it('waits for an in-flight reconcile on graceful stop', async () => {
    const probe = new Probe();
    let release!: () => void;
    probe.gate = new Promise((r) => (release = r));
    env = await TestEnv.start({ controllers: [ConfigMapController], objects: [cm('slow')], configure: withProbe(probe) });
    await waitUntil(() => probe.running === 1, 'reconcile in flight');
    let stopped = false;
    const stopping = env.manager.stop().then(() => (stopped = true));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(stopped, 'stop must wait for the reconcile').to.equal(false);
    release();
    await stopping;
    expect(probe.finished).to.include('default/slow');
  });
});

describe('Decorator misuse', () => {
  it('names the class and the fix', () => {
    class NoDecorator {
      async reconcile() {}
    }
    expect(() => controllerMetadata(NoDecorator)).to.throw(DecoratorError, 'NoDecorator is not a controller: decorate it with @Controller');

    @Controller({ for: undefined as never })
    class NoFor {
      async reconcile() {}
    }
    expect(() => controllerMetadata(NoFor)).to.throw(DecoratorError, 'NoFor: @Controller needs a `for` kind');

    class Plain {}
    @Controller({ for: Plain as never })
    class PlainKind {
      async reconcile() {}
    }
    expect(() => controllerMetadata(PlainKind)).to.throw(DecoratorError, 'Plain is not a resource: decorate it with @Resource');

    @Controller({ for: ConfigMap })
    class BadArity {
      @Watches(Pod)
      map(a: KubeObject, b: KubeObject): ReconcileRequest[] {
        return [a, b].map(() => ({ namespace: '', name: '' }));
      }
      async reconcile() {}
    }
    expect(() => controllerMetadata(BadArity)).to.throw(DecoratorError, 'BadArity.map: a @Watches map function takes exactly one argument');

    @Controller({ for: ConfigMap })
    class NoReconcile {}
    expect(() => controllerMetadata(NoReconcile)).to.throw(DecoratorError, 'NoReconcile has no reconcile method');

    @Resource({ group: 'example.com', version: 'v1', kind: 'Gadget' })
    class Gadget {}
    @Controller({ for: Gadget })
    class Unserved {
      async reconcile() {}
    }
    expect(() => controllerMetadata(Unserved, () => false)).to.throw(DecoratorError, 'Gadget is not served by the source');
  });
});
