/**
 * Node IPAM: each Node gets a distinct /24 of the cluster CIDR, never one another node holds —
 * also after a restart — and gets a CIDRNotAvailable Event when the range is full; the subnet
 * arithmetic on its own.
 */
import { expect } from 'chai';
import type { Container } from 'inversify';
import { Node } from '../../lib/api/kinds.js';
import { ApiError } from '../../lib/api/errors.js';
import type { Client } from '../../lib/client/client.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Client as ClientToken } from '../../lib/runtime/tokens.js';
import { FakeEventRecorder, ReconcileHarness, TestEnv } from '../../lib/testing/index.js';
import { CidrSet, formatIpv4Cidr, NodeIpamConfiguration, NodeIpamController, parseIpv4Cidr, type NodeIpamOptions } from '../../controllers/node-ipam/index.js';

function node(name: string, podCIDR?: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, ...(podCIDR ? { spec: { podCIDR, podCIDRs: [podCIDR] } } : {}) };
}

const withOptions = (options: NodeIpamOptions) => (container: Container) => container.bind(NodeIpamConfiguration).toConstantValue(options);

/** Rebinds the harness's Client so that `before` runs once, just before the first patch. */
function beforeFirstPatch(before: (inner: Client) => Promise<void>): (container: Container) => void {
  return (container) => {
    const inner = container.get<Client>(ClientToken);
    let done = false;
    const wrapped = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'patch') {
          return async (...args: Parameters<Client['patch']>) => {
            if (!done) {
              done = true;
              await before(inner);
            }
            return inner.patch(...args);
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    container.rebind(ClientToken).toConstantValue(wrapped);
  };
}

describe('NodeIpamController', () => {
  let harness: ReconcileHarness<NodeIpamController>;
  afterEach(async () => harness?.close());

  const cidrOf = async (name: string) => (await harness.client.get(Node, name)).spec;

  it('gives each node its own /24 of 127.64.0.0/11, in spec.podCIDR and spec.podCIDRs', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, { objects: [node('n1'), node('n2'), node('n3')] });
    for (const name of ['n1', 'n2', 'n3']) await harness.reconcile(name);
    expect(await cidrOf('n1')).to.deep.include({ podCIDR: '127.64.0.0/24', podCIDRs: ['127.64.0.0/24'] });
    expect(await cidrOf('n2')).to.deep.include({ podCIDR: '127.64.1.0/24', podCIDRs: ['127.64.1.0/24'] });
    expect(await cidrOf('n3')).to.deep.include({ podCIDR: '127.64.2.0/24', podCIDRs: ['127.64.2.0/24'] });
    // Reconciling again changes nothing.
    await harness.reconcile('n1');
    expect(await cidrOf('n1')).to.deep.include({ podCIDR: '127.64.0.0/24' });
    expect(harness.reconciler.usage).to.deep.equal({ used: 3, size: 8192 });
  });

  it('never hands out a subnet an existing node holds (the used set is rebuilt first)', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, { objects: [node('old', '127.64.0.0/24'), node('other', '127.64.1.0/24'), node('new')] });
    await harness.reconcile('new');
    expect((await cidrOf('new'))?.podCIDR).to.equal('127.64.2.0/24');
  });

  it('keeps subnets distinct across a controller restart', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, { objects: [node('n1'), node('n2')] });
    await harness.reconcile('n1');
    await harness.reconcile('n2');
    // A new controller over the same store: what it knows comes from the Nodes alone.
    const restarted = new NodeIpamController(harness.client, harness.client, new FakeEventRecorder(), silentLogger());
    await harness.client.create(node('n3'));
    await restarted.reconcile({ namespace: '', name: 'n3' });
    const cidrs = await Promise.all(['n1', 'n2', 'n3'].map(async (n) => (await cidrOf(n))?.podCIDR));
    expect(new Set(cidrs).size).to.equal(3);
    expect(cidrs[2]).to.equal('127.64.2.0/24');
  });

  it('reports CIDRNotAvailable when the range is full, and assigns a subnet freed by a deleted node', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, {
      objects: [node('n1'), node('n2'), node('n3')],
      configure: withOptions({ clusterCIDR: '10.10.0.0/23', retryWhenFullMs: 7000 }),
    });
    await harness.reconcile('n1');
    await harness.reconcile('n2');
    expect(await harness.reconcile('n3')).to.deep.equal({ requeueAfterMs: 7000 });
    expect((await cidrOf('n3'))?.podCIDR).to.equal(undefined);
    expect(harness.recorder.strings()).to.deep.equal(['Normal CIDRNotAvailable Node n3 status is now: CIDRNotAvailable']);
    expect(harness.recorder.events[0]?.involvedObject).to.include({ kind: 'Node', name: 'n3' });

    const freed = (await cidrOf('n1'))?.podCIDR;
    await harness.client.delete(Node, 'n1');
    await harness.reconcile('n1');
    expect(await harness.reconcile('n3')).to.equal(undefined);
    expect((await cidrOf('n3'))?.podCIDR).to.equal(freed);
  });

  it('assigns with compare-and-swap: a node changed meanwhile is read again, then assigned once', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, {
      objects: [node('n1')],
      configure: beforeFirstPatch(async (inner) => {
        await inner.patch(Node, 'n1', { metadata: { labels: { touched: 'yes' } } }, { type: 'merge' });
      }),
    });
    await harness.reconcile('n1');
    const stored = await harness.client.get(Node, 'n1');
    expect(stored.metadata?.labels).to.deep.equal({ touched: 'yes' });
    expect(stored.spec?.podCIDR).to.equal('127.64.0.0/24');
    expect(harness.reconciler.usage.used).to.equal(1);
  });

  it('accepts a subnet someone else set meanwhile and frees the one it had picked', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, {
      objects: [node('n1'), node('n2')],
      configure: beforeFirstPatch(async (inner) => {
        await inner.patch(Node, 'n1', { spec: { podCIDR: '127.64.9.0/24', podCIDRs: ['127.64.9.0/24'] } }, { type: 'merge' });
      }),
    });
    await harness.reconcile('n1');
    expect((await cidrOf('n1'))?.podCIDR).to.equal('127.64.9.0/24');
    expect(harness.reconciler.usage.used).to.equal(1);
    await harness.reconcile('n2');
    expect((await cidrOf('n2'))?.podCIDR).to.equal('127.64.1.0/24');
  });

  it('a patch that fails otherwise frees the subnet and fails the reconcile (retried with backoff)', async () => {
    harness = await ReconcileHarness.create(NodeIpamController, {
      objects: [node('n1')],
      configure: beforeFirstPatch(async () => {
        throw new ApiError({ code: 500, reason: 'InternalError', message: 'etcd is down' });
      }),
    });
    let thrown: unknown;
    await harness.reconcile('n1').catch((err: unknown) => (thrown = err));
    expect(thrown).to.be.instanceOf(ApiError);
    expect(harness.reconciler.usage.used).to.equal(0);
    expect(harness.recorder.strings()).to.deep.equal(['Normal CIDRAssignmentFailed Node n1 status is now: CIDRAssignmentFailed']);
    await harness.reconcile('n1');
    expect((await cidrOf('n1'))?.podCIDR).to.match(/^127\.64\.\d+\.0\/24$/);
  });

  it('assigns distinct subnets to many nodes under a manager', async () => {
    const env = await TestEnv.start({ controllers: [NodeIpamController], objects: [node('a'), node('b'), node('c'), node('d'), node('e')] });
    try {
      await env.client.create(node('f'));
      const cidrs = await env.eventually(async () => {
        const { items } = await env.client.list(Node);
        const assigned = items.map((n) => n.spec?.podCIDR);
        return assigned.length === 6 && assigned.every(Boolean) ? assigned : undefined;
      });
      expect(new Set(cidrs).size).to.equal(6);
    } finally {
      await env.stop();
    }
  });
});

describe('CidrSet', () => {
  it('parses and formats IPv4 CIDRs, clearing host bits', () => {
    expect(parseIpv4Cidr('127.64.3.7/11')).to.deep.equal({ base: (127 * 2 ** 24 + 64 * 2 ** 16) >>> 0, prefix: 11 });
    expect(formatIpv4Cidr(parseIpv4Cidr('10.1.2.3/24')!)).to.equal('10.1.2.0/24');
    expect(parseIpv4Cidr('fd00::/64')).to.equal(undefined);
    expect(parseIpv4Cidr('10.0.0.256/24')).to.equal(undefined);
  });

  it('allocates round-robin, occupies what a CIDR overlaps, and refuses CIDRs outside the range', () => {
    const set = new CidrSet('10.0.0.0/22', 24);
    expect(set.size).to.equal(4);
    expect(set.occupy('10.0.1.0/24')).to.equal(true);
    expect(set.allocateNext()).to.equal('10.0.0.0/24');
    expect(set.allocateNext()).to.equal('10.0.2.0/24');
    set.release('10.0.0.0/24');
    expect(set.allocateNext()).to.equal('10.0.3.0/24'); // not the one just released
    expect(set.allocateNext()).to.equal('10.0.0.0/24');
    expect(set.allocateNext()).to.equal(undefined);
    expect(set.occupy('192.168.0.0/24')).to.equal(false);
    const wide = new CidrSet('10.0.0.0/22', 24);
    expect(wide.occupy('10.0.0.0/23')).to.equal(true);
    expect(wide.used).to.equal(2);
  });

  it('refuses a cluster CIDR that is not IPv4 or a mask that does not fit', () => {
    expect(() => new CidrSet('fd00::/64', 80)).to.throw(RangeError, /not an IPv4 CIDR/);
    expect(() => new CidrSet('10.0.0.0/24', 16)).to.throw(RangeError, /mask size/);
  });
});
