/**
 * VIP failover without root: the loopback announcer on its own, then three participants — real
 * UDP heartbeats on 127.0.0.1, a real in-memory store, loopback VIPs — electing, failing over,
 * following nodeSelector and reporting status.
 */
import { expect } from 'chai';
import { connect as netConnect, createServer } from 'node:net';
import { Node } from '../../lib/api/kinds.js';
import type { Client } from '../../lib/client/client.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { installCrds, memoryClient } from '../../lib/testing/index.js';
import { HEARTBEAT_ANNOTATION, LoopbackAnnouncer, serviceRefKey, VipParticipant, VirtualIP } from '../../controllers/vip-failover/index.js';
import { waitFor } from '../harness/wait.js';

const logger = createLogger({ level: 'silent' });

/** A TCP port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Who answers on `address:port`: the holder's node name, or undefined (refused or timed out). */
function whoAnswers(address: string, port: number, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: address, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, timeoutMs);
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(data.trim() || undefined);
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

describe('VIP failover: loopback announcer', () => {
  let port: number;
  const announcers: LoopbackAnnouncer[] = [];
  beforeEach(async () => {
    port = await freePort();
  });
  afterEach(async () => {
    await Promise.all(announcers.splice(0).map((a) => a.close()));
  });

  it('holding means owning a listener on the address that answers the node name; releasing closes it', async () => {
    const a = new LoopbackAnnouncer({ address: '127.77.0.1', nodeName: 'node-a', port });
    announcers.push(a);
    expect(await whoAnswers('127.77.0.1', port)).to.equal(undefined);
    await a.hold(1, 10_000);
    expect(a.holding).to.equal(true);
    expect(await whoAnswers('127.77.0.1', port)).to.equal('node-a');
    await a.release();
    expect(a.holding).to.equal(false);
    expect(await whoAnswers('127.77.0.1', port)).to.equal(undefined);
  });

  it('a second holder on the same machine cannot serve while the first does (the kernel fences it)', async () => {
    const a = new LoopbackAnnouncer({ address: '127.77.0.2', nodeName: 'node-a', port });
    const b = new LoopbackAnnouncer({ address: '127.77.0.2', nodeName: 'node-b', port, bindAttempts: 2 });
    announcers.push(a, b);
    await a.hold(1, 10_000);
    let refused: unknown;
    await b.hold(2, 10_000).catch((err: unknown) => (refused = err));
    expect((refused as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
    expect(await whoAnswers('127.77.0.2', port)).to.equal('node-a');
    await a.release();
    await b.hold(2, 10_000);
    expect(await whoAnswers('127.77.0.2', port)).to.equal('node-b');
  });

  it('stops serving by itself when its hold is not extended in time', async () => {
    const a = new LoopbackAnnouncer({ address: '127.77.0.3', nodeName: 'node-a', port });
    announcers.push(a);
    await a.hold(1, 150);
    a.extend(1, 150);
    expect(await whoAnswers('127.77.0.3', port)).to.equal('node-a');
    await waitFor(() => !a.holding, { timeoutMs: 2000, what: 'the hold to run out' });
    expect(await whoAnswers('127.77.0.3', port)).to.equal(undefined);
  });

  it('ignores a stale token and refuses addresses outside 127/8', async () => {
    const a = new LoopbackAnnouncer({ address: '127.77.0.4', nodeName: 'node-a', port });
    announcers.push(a);
    await a.hold(5, 10_000);
    await a.release();
    await a.hold(4, 10_000);
    expect(a.holding).to.equal(false);
    expect(() => new LoopbackAnnouncer({ address: '198.51.100.1', nodeName: 'x' })).to.throw(/127\/8/);
  });
});

describe('VIP failover: participants on loopback', () => {
  let client: Client;
  let port: number;
  const participants = new Map<string, VipParticipant>();

  /** What each participant's onHolding was told: `node vip→service on|off`. */
  let holdings: string[] = [];

  async function startParticipant(name: string): Promise<VipParticipant> {
    const p = new VipParticipant({
      client,
      nodeName: name,
      heartbeatAddress: '127.0.0.1',
      loopbackPort: port,
      logger,
      onHolding: (vip, holding) => {
        // Never two at once: a holder's stop is reported before the next holder's start.
        if (!holding) expect(whoHoldsNow.get(vip.spec.address)).to.equal(name);
        if (holding) whoHoldsNow.set(vip.spec.address, name);
        else whoHoldsNow.delete(vip.spec.address);
        holdings.push(`${name} ${vip.spec.address}→${serviceRefKey(vip) ?? '-'} ${holding ? 'on' : 'off'}`);
      },
    });
    participants.set(name, p);
    await p.start();
    return p;
  }

  async function createNode(name: string, labels: Record<string, string> = {}): Promise<void> {
    await client.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  }

  async function createVip(name: string, address: string, spec: Partial<VirtualIP['spec']> = {}): Promise<void> {
    await client.create<VirtualIP>({ apiVersion: 'keelson.dev/v1alpha1', kind: 'VirtualIP', metadata: { name }, spec: { address, announcer: 'loopback', ...spec } });
  }

  /** Who onHolding says serves each address (never two: asserted as it is told). */
  const whoHoldsNow = new Map<string, string>();

  beforeEach(async () => {
    client = await memoryClient();
    await installCrds(client, [VirtualIP]);
    port = await freePort();
    holdings = [];
    whoHoldsNow.clear();
  });

  afterEach(async () => {
    await Promise.all([...participants.values()].map((p) => p.stop()));
    participants.clear();
    await client.close();
  });

  it('publishes its heartbeat endpoint, elects one holder and reports it in the status', async () => {
    for (const n of ['node-a', 'node-b', 'node-c']) await createNode(n);
    for (const n of ['node-a', 'node-b', 'node-c']) await startParticipant(n);
    const node = await client.get(Node, 'node-a');
    expect(node.metadata?.annotations?.[HEARTBEAT_ANNOTATION]).to.match(/^127\.0\.0\.1:\d+$/);
    await createVip('web', '127.77.1.1');
    const holder = await waitFor(() => whoAnswers('127.77.1.1', port), { timeoutMs: 5000, what: 'a holder to answer' });
    const vip = await waitFor(async () => {
      const v = await client.get(VirtualIP, 'web');
      return v.status?.holder ? v : undefined;
    }, { timeoutMs: 5000, what: 'status.holder' });
    expect(vip.status?.holder).to.equal(holder);
    expect(vip.status?.transitions).to.equal(1);
    expect(vip.status?.since).to.be.a('string');
    const serving = [...participants.values()].filter((p) => p.elections.get('web')?.serving);
    expect(serving).to.have.length(1);
  });

  it('a stopping holder hands the address over at once, with the next fencing token in the status', async () => {
    for (const n of ['node-a', 'node-b', 'node-c']) await createNode(n);
    for (const n of ['node-a', 'node-b', 'node-c']) await startParticipant(n);
    await createVip('web', '127.77.1.2');
    const first = await waitFor(() => whoAnswers('127.77.1.2', port), { timeoutMs: 5000, what: 'a holder' });
    const stoppedAt = Date.now();
    await participants.get(first)!.stop();
    participants.delete(first);
    const second = await waitFor(async () => {
      const who = await whoAnswers('127.77.1.2', port, 100);
      return who && who !== first ? who : undefined;
    }, { timeoutMs: 5000, what: 'another holder' });
    expect(Date.now() - stoppedAt).to.be.lessThan(1000);
    const vip = await waitFor(async () => {
      const v = await client.get(VirtualIP, 'web');
      return v.status?.holder === second ? v : undefined;
    }, { timeoutMs: 5000, what: 'status of the new holder' });
    expect(vip.status?.transitions).to.equal(2);
  });

  it('only nodes matching the nodeSelector take part; relabelling moves the address', async () => {
    await createNode('node-a');
    await createNode('node-b', { vip: 'yes' });
    await createNode('node-c');
    for (const n of ['node-a', 'node-b', 'node-c']) await startParticipant(n);
    await createVip('web', '127.77.1.3', { nodeSelector: { vip: 'yes' } });
    expect(await waitFor(() => whoAnswers('127.77.1.3', port), { timeoutMs: 5000, what: 'a holder' })).to.equal('node-b');
    expect(participants.get('node-a')!.elections.has('web')).to.equal(false);
    expect(participants.get('node-c')!.elections.has('web')).to.equal(false);
    await client.patch(Node, 'node-c', { metadata: { labels: { vip: 'yes' } } }, { type: 'merge' });
    await client.patch(Node, 'node-b', { metadata: { labels: { vip: null } } }, { type: 'merge' });
    await waitFor(async () => (await whoAnswers('127.77.1.3', port, 100)) === 'node-c', { timeoutMs: 5000, what: 'node-c to take over' });
    expect(participants.get('node-b')!.elections.has('web')).to.equal(false);
  });

  it('of two VirtualIPs with one address only the older is served, never both; the other once it is deleted', async () => {
    for (const n of ['node-a', 'node-b']) await createNode(n);
    for (const n of ['node-a', 'node-b']) await startParticipant(n);
    await createVip('alpha', '127.77.1.9');
    await waitFor(async () => (await client.get(VirtualIP, 'alpha')).status?.holder, { timeoutMs: 5000, what: 'alpha held' });
    await createVip('beta', '127.77.1.9');
    // Syncs run in order: once a VirtualIP created after beta is held, beta's turn has passed.
    await createVip('gamma', '127.77.1.10');
    await waitFor(async () => (await client.get(VirtualIP, 'gamma')).status?.holder, { timeoutMs: 5000, what: 'gamma held' });
    for (const p of participants.values()) expect(p.elections.has('beta'), 'no election for beta').to.equal(false);
    expect((await client.get(VirtualIP, 'beta')).status?.holder).to.equal(undefined);
    await client.delete(VirtualIP, 'alpha');
    await waitFor(async () => (await client.get(VirtualIP, 'beta')).status?.holder, { timeoutMs: 5000, what: 'beta held once alpha is gone' });
    expect(await whoAnswers('127.77.1.9', port)).to.be.oneOf(['node-a', 'node-b']);
  });

  it('priorities decide who holds, and a higher-priority node preempts', async () => {
    for (const n of ['node-a', 'node-b']) await createNode(n);
    await startParticipant('node-a');
    await createVip('web', '127.77.1.4', { priorities: [{ nodeName: 'node-b', priority: 200 }, { nodeName: 'node-a', priority: 50 }] });
    expect(await waitFor(() => whoAnswers('127.77.1.4', port), { timeoutMs: 5000, what: 'node-a holds' })).to.equal('node-a');
    await startParticipant('node-b');
    await waitFor(async () => (await whoAnswers('127.77.1.4', port, 100)) === 'node-b', { timeoutMs: 5000, what: 'node-b preempts' });
  });

  it('onHolding follows the holding (serviceRef to serve): on when up, off then on for a serviceRef change, off before the next holder\'s on, off on delete', async () => {
    for (const n of ['node-a', 'node-b']) await createNode(n);
    for (const n of ['node-a', 'node-b']) await startParticipant(n);
    await createVip('web', '127.77.1.5', { serviceRef: { name: 'hello' } });
    const first = await waitFor(() => whoAnswers('127.77.1.5', port), { timeoutMs: 5000, what: 'a holder' });
    await waitFor(() => holdings.length === 1, { timeoutMs: 2000, what: 'onHolding on' });
    // The namespace defaults to "default".
    expect(holdings).to.deep.equal([`${first} 127.77.1.5→default/hello on`]);

    const vip = await client.get(VirtualIP, 'web');
    await client.update<VirtualIP>({ ...vip, spec: { ...vip.spec, serviceRef: { namespace: 'shop', name: 'api' } } });
    await waitFor(() => holdings.length === 3, { timeoutMs: 2000, what: 'the serviceRef change' });
    expect(holdings.slice(1)).to.deep.equal([`${first} 127.77.1.5→default/hello off`, `${first} 127.77.1.5→shop/api on`]);
    expect(await whoAnswers('127.77.1.5', port)).to.equal(first); // the address itself stayed

    await participants.get(first)!.stop();
    participants.delete(first);
    const second = first === 'node-a' ? 'node-b' : 'node-a';
    await waitFor(() => holdings.length === 5, { timeoutMs: 5000, what: 'the handover' });
    expect(holdings.slice(3)).to.deep.equal([`${first} 127.77.1.5→shop/api off`, `${second} 127.77.1.5→shop/api on`]);

    await client.delete(VirtualIP, 'web');
    await waitFor(() => holdings.length === 6, { timeoutMs: 5000, what: 'the delete' });
    expect(holdings[5]).to.equal(`${second} 127.77.1.5→shop/api off`);
    expect(await whoAnswers('127.77.1.5', port)).to.equal(undefined);
  });

  it('onHolding reports off when the holder fences itself (the hold ran out without renewal)', async () => {
    await createNode('node-a');
    const p = await startParticipant('node-a');
    await createVip('web', '127.77.1.6', { serviceRef: { namespace: 'default', name: 'hello' } });
    await waitFor(() => holdings.length === 1, { timeoutMs: 5000, what: 'onHolding on' });
    // The store stops answering the renewals: the holder must fence itself, and say so first.
    const election = p.elections.get('web')!;
    const original = client.update.bind(client);
    client.update = (async () => {
      throw new Error('store unreachable');
    }) as typeof client.update;
    try {
      await waitFor(() => holdings.length === 2, { timeoutMs: 5000, what: 'onHolding off after fencing' });
      expect(holdings[1]).to.equal('node-a 127.77.1.6→default/hello off');
      expect(election.serving).to.equal(false);
    } finally {
      client.update = original;
    }
  });
});
