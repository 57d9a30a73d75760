/**
 * The userspace proxy's native relay (native/keelson-relay.c, controllers/service-proxy/
 * native-relay.ts) with real loopback sockets and the real program, built by the test command:
 * when a connection is handed over (and when it is not), bytes in order with a stalled reader
 * and bounded memory, half-close in either direction, resets, draining, the proxy's stop, the
 * relay process dying, many connections handed over at once, and the relay modes.
 *
 * The userspace proxier's behaviour tests also run with the relay (service-proxy.test.ts).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../lib/runtime/logger.js';
import { Metrics } from '../../lib/runtime/metrics.js';
import { FakeClock } from '../../lib/testing/fake-clock.js';
import { systemClock } from '../../lib/util/clock.js';
import {
  HAND_OVER_AFTER_READS,
  MAX_RELAY_FAILURES,
  NATIVE_RELAY_PATH,
  nativeRelayFor,
  type RelayMode,
  UserspaceProxier,
  type ServiceEndpoint,
} from '../../controllers/service-proxy/index.js';
import { processAlive } from '../harness/cluster.js';
import { isRoot } from '../harness/netns.js';
import { cleanups, closeAfterEach, exchange, openConnection, portState, proxier, randomAddress, tcpBackend } from '../harness/proxy-fixtures.js';
import { waitFor } from '../harness/wait.js';

/** Connections handed to the native relay so far (`keelson_proxy_native_relay_connections_total`). */
async function relayed(metrics: Metrics): Promise<number> {
  const metric = metrics.registry.getSingleMetric('keelson_proxy_native_relay_connections_total');
  const values = (await metric?.get())?.values ?? [];
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** A backend echoing every byte back (ending its side when the client ended its); `received()` counts the bytes it read. */
async function echoBackend(host: string): Promise<{ endpoint: ServiceEndpoint; server: Server; connections: Set<Socket>; received(): number }> {
  const connections = new Set<Socket>();
  let received = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => {
    for (const socket of connections) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { endpoint: { ip: host, port: (server.address() as { port: number }).port }, server, connections, received: () => received };
}

/** The relay mode the suite running now requires (`native`: the relay copies; `sockmap`: the kernel forwards). */
let relayMode: RelayMode = 'native';

/** A proxier with the native relay required (in {@link relayMode}), serving `endpoints` on a random cluster IP at 8080. */
async function relayingProxy(endpoints: ServiceEndpoint[], options: Parameters<typeof proxier>[0] = {}) {
  const metrics = new Metrics();
  const proxy = proxier({ relay: relayMode, metrics, ...options });
  const vip = randomAddress();
  await proxy.syncService('default/svc', [portState(vip, 8080, endpoints)]);
  return { proxy, metrics, vip };
}

/** Opens a connection and asks until it is handed over (HAND_OVER_AFTER_READS chunks). */
async function handedOver(vip: string, metrics: Metrics, before = 0) {
  const open = await openConnection(vip, 8080);
  for (let i = 0; i < HAND_OVER_AFTER_READS / 2; i++) await open.ask(`warm-${i}`);
  await waitFor(async () => (await relayed(metrics)) === before + 1, { timeoutMs: 2000, what: 'the connection to be handed to the relay' });
  return open;
}

/** A TCP server on `host` (random port) handing each connection to `onConnection`; closed after the test. */
async function listening(host: string, onConnection: (socket: Socket) => void): Promise<ServiceEndpoint> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    cleanups.push(() => socket.destroy());
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { ip: host, port: (server.address() as { port: number }).port };
}

/** A number of process `pid`'s /proc status (`VmRSS` in KiB, `voluntary_ctxt_switches`, …). */
function statusNumber(pid: number, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Resident memory of process `pid`, KiB (`VmRSS`). */
function residentKiB(pid: number): number {
  return statusNumber(pid, 'VmRSS');
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Times process `pid` gave up the CPU to wait (`voluntary_ctxt_switches`): each wake-up after a sleep counts one. */
function sleeps(pid: number): number {
  return statusNumber(pid, 'voluntary_ctxt_switches');
}

for (const mode of ['native', 'sockmap'] as const) describe(`service proxy: the native relay (${mode === 'native' ? 'copying' : 'the kernel forwarding: sockmap'})`, function () {
  this.timeout(30_000);
  closeAfterEach();
  before(() => {
    if (mode === 'sockmap' && !isRoot()) throw new Error('the sockmap relay tests need root (BPF); run the suite as root');
    relayMode = mode;
  });
  after(() => (relayMode = 'native'));

  if (mode === 'native') it('is built by the test command, and refuses to run outside a Node.js IPC channel', () => {
    expect(nativeRelayFor('native')).to.deep.equal({ path: NATIVE_RELAY_PATH, sockmap: false });
    const run = spawnSync(NATIVE_RELAY_PATH, [], { encoding: 'utf8', env: {} });
    expect(run.status).to.equal(2);
    expect(run.stderr).to.match(/run by keelson's service proxy only/);
  });

  it(`takes a connection after ${HAND_OVER_AFTER_READS} chunks and carries it on; a connection per request stays in JavaScript`, async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);

    // A request and its reply, then the end: fewer chunks than a hand-over takes.
    expect(await exchange(vip, 8080, ['x'])).to.deep.equal(['a:x', 'a:end']);
    expect(await relayed(metrics)).to.equal(0);
    expect(proxy.relayPid, 'no relay process before a connection lasts').to.equal(undefined);

    const open = await handedOver(vip, metrics);
    expect(proxy.relayPid).to.be.a('number');
    for (let i = 0; i < 50; i++) expect(await open.ask(`line-${i}`)).to.equal(`a:line-${i}`);
    expect(proxy.forwarder('default/svc:http')!.flowsByEndpoint().get(`${a.endpoint.ip}:${a.endpoint.port}`)).to.equal(1);

    // The client ends its side: the backend's last line and end come back, and the flow is over.
    let rest = '';
    open.socket.on('data', (chunk: Buffer) => (rest += chunk.toString()));
    const ended = new Promise<void>((resolve) => open.socket.once('end', () => resolve()));
    open.socket.end();
    await ended;
    expect(rest).to.equal('a:end\n');
    await waitFor(() => proxy.forwarder('default/svc:http')!.flowsByEndpoint().size === 0, { timeoutMs: 2000, what: 'the relayed flow to end' });
  });

  it('carries 64 MiB each way in order through a reader that stalls, buffering at most a read per direction', async () => {
    const echo = await echoBackend(randomAddress());
    const { proxy, metrics, vip } = await relayingProxy([echo.endpoint]);
    const socket = connect({ host: vip, port: 8080, allowHalfOpen: true });
    cleanups.push(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // Warm-up exchanges (echoed) until the relay has it.
    const received: Buffer[] = [];
    let receivedBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      receivedBytes += chunk.length;
    });
    const sent: Buffer[] = [];
    for (let i = 0; i < HAND_OVER_AFTER_READS; i++) {
      const ping = Buffer.from(`ping-${i};`);
      sent.push(ping);
      const target = receivedBytes + ping.length;
      socket.write(ping);
      await waitFor(() => receivedBytes >= target, { timeoutMs: 2000, what: 'the echo of a ping' });
    }
    await waitFor(async () => (await relayed(metrics)) === 1, { timeoutMs: 2000, what: 'the hand-over' });
    const relayPid = proxy.relayPid!;
    const baseline = residentKiB(relayPid);

    // Stop reading, write 64 MiB (more than the kernel's buffers on the way, ~30 MiB at most, can
    // take): the relay must stop reading too, not take it all in.
    socket.pause();
    const payload = randomBytes(64 * 1024 * 1024);
    sent.push(payload);
    socket.write(payload);
    let last = -1;
    await waitFor(
      () => {
        const now = echo.received();
        const stalled = now === last;
        last = now;
        return stalled;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: 'the backend to stop receiving (back-pressure from the stalled reader)' },
    );
    const held = residentKiB(relayPid);
    console.log(`      (the backend got ${(echo.received() / 2 ** 20).toFixed(1)} of 64 MiB; relay resident memory ${baseline} KiB before, ${held} KiB while stalled)`);
    expect(echo.received(), 'the payload is held up on the way').to.be.lessThan(payload.length);
    expect(held - baseline, 'the relay did not buffer the payload').to.be.lessThan(2 * 1024);

    // Read again: everything comes back, in order, then the end.
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.resume();
    socket.end();
    await ended;
    expect(sha(Buffer.concat(received))).to.equal(sha(Buffer.concat(sent)));
  });

  it('passes on an end from the endpoint first: the client still sends, and the endpoint still reads', async () => {
    let fromClient = '';
    let resolveClientEnd!: (text: string) => void;
    const clientEnded = new Promise<string>((resolve) => (resolveClientEnd = resolve));
    const backend = await listening(randomAddress(), (socket) => {
      socket.on('data', (chunk: Buffer) => {
        fromClient += chunk.toString();
        // Answer each line until "bye", then end this side and keep reading.
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          if (line === 'bye') socket.end('ok:bye\n');
          else if (!socket.writableEnded) socket.write(`ok:${line}\n`);
        }
      });
      socket.on('end', () => resolveClientEnd(fromClient));
    });
    const { metrics, vip } = await relayingProxy([backend]);
    const open = await handedOver(vip, metrics);
    expect(await open.ask('bye')).to.equal('ok:bye');
    await new Promise<void>((resolve) => (open.socket.readableEnded ? resolve() : open.socket.once('end', () => resolve())));
    open.socket.end('after-the-end\n');
    expect(await clientEnded).to.match(/bye\nafter-the-end\n$/);
  });

  it('resets the other side when one side resets, after the hand-over', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);
    const open = await handedOver(vip, metrics);
    const clientError = new Promise<string>((resolve) => open.socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err))));
    [...a.connections][0]!.resetAndDestroy();
    expect(await clientError).to.equal('ECONNRESET');

    // And the other way round: the client resets, the endpoint's side is reset.
    const second = await handedOver(vip, metrics, 1);
    await waitFor(() => a.connections.size === 1, { timeoutMs: 2000, what: 'the second connection at the backend' });
    const backendSide = [...a.connections][0]!;
    const backendError = new Promise<string>((resolve) => backendSide.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err))));
    second.socket.resetAndDestroy();
    expect(await backendError).to.equal('ECONNRESET');
    await waitFor(() => proxy.forwarder('default/svc:http')!.flowsByEndpoint().size === 0, { timeoutMs: 2000, what: 'both flows to end' });
  });

  it('closes a handed-over connection to a removed endpoint when its drain grace period ends', async () => {
    const clock = new FakeClock();
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint], { clock, drainGracePeriodMs: 30_000 });
    const open = await handedOver(vip, metrics);
    await proxy.syncService('default/svc', [portState(vip, 8080, [b.endpoint])]);
    await clock.advance(29_000);
    expect(await open.ask('still-there')).to.equal('a:still-there');
    await clock.advance(2_000);
    await open.closed;
    await waitFor(() => a.connections.size === 0, { timeoutMs: 2000, what: "the drained connection's backend side to close" });
    expect(proxy.forwarder('default/svc:http')!.flowsByEndpoint().size).to.equal(0);
  });

  it("closes handed-over connections when the proxy stops, and the relay process exits", async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);
    const open = await handedOver(vip, metrics);
    const pid = proxy.relayPid!;
    await proxy.stop();
    await open.closed;
    expect(processAlive(pid), 'relay process gone').to.equal(false);
    await waitFor(() => a.connections.size === 0, { timeoutMs: 2000, what: 'the backend side to close' });
  });

  it(`ends the connections of a relay process that died, starts a new one for the next; after ${MAX_RELAY_FAILURES} deaths, copies in JavaScript`, async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);
    const pids: number[] = [];
    for (let death = 0; death < MAX_RELAY_FAILURES; death++) {
      const open = await handedOver(vip, metrics, death);
      const pid = proxy.relayPid!;
      expect(pids, 'a new relay process').to.not.include(pid);
      pids.push(pid);
      // The kernel closes a dead process's sockets: the client reads an end (or a reset).
      const over = new Promise<void>((resolve) => {
        open.socket.once('end', () => resolve());
        open.socket.once('close', () => resolve());
      });
      process.kill(pid, 'SIGKILL');
      await over;
      await waitFor(() => proxy.forwarder('default/svc:http')!.flowsByEndpoint().size === 0, { timeoutMs: 2000, what: "the dead relay's flow to leave the accounting" });
    }
    // No more hand-overs: a lasting connection stays in JavaScript and works.
    const open = await openConnection(vip, 8080);
    for (let i = 0; i < 10; i++) expect(await open.ask(`js-${i}`)).to.equal(`a:js-${i}`);
    expect(await relayed(metrics)).to.equal(MAX_RELAY_FAILURES);
    expect(proxy.relayPid).to.equal(undefined);
  });

  it('ends every connection of a relay that dies while some are still on their way to it', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);
    const opens = await Promise.all(Array.from({ length: 20 }, () => openConnection(vip, 8080)));
    const over = opens.map(
      (open) =>
        new Promise<void>((resolve) => {
          open.socket.once('end', () => resolve());
          open.socket.once('close', () => resolve());
        }),
    );
    // Two exchanges each hand them all over; the relay is killed as soon as the last one is
    // handed over, while Node.js still sends their sockets one by one.
    const asking = opens.map(async (open, i) => {
      await open.ask(`c${i}-a`).catch(() => undefined);
      await open.ask(`c${i}-b`).catch(() => undefined);
    });
    await waitFor(async () => (await relayed(metrics)) === 20, { timeoutMs: 5000, what: 'all 20 connections to be handed over' });
    process.kill(proxy.relayPid!, 'SIGKILL');
    let ended = 0;
    for (const promise of over) void promise.then(() => ended++);
    await waitFor(() => ended === 20, { timeoutMs: 5000, what: 'every client to see its connection end' });
    await waitFor(() => proxy.forwarder('default/svc:http')!.flowsByEndpoint().size === 0, { timeoutMs: 2000, what: 'no flow left' });
    await waitFor(() => a.connections.size === 0, { timeoutMs: 5000, what: "every backend side to close" });
    await Promise.all(asking);
  });

  it('takes 40 connections handed over at once, each keeping its own bytes', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const b = await tcpBackend(randomAddress(), 'b');
    const { metrics, vip } = await relayingProxy([a.endpoint, b.endpoint]);
    const opens = await Promise.all(Array.from({ length: 40 }, () => openConnection(vip, 8080)));
    const firsts = await Promise.all(opens.map((open, i) => open.ask(`c${i}-0`)));
    const names = firsts.map((reply) => reply.split(':')[0]!);
    for (let round = 1; round < 6; round++) {
      const replies = await Promise.all(opens.map((open, i) => open.ask(`c${i}-${round}`)));
      expect(replies).to.deep.equal(opens.map((_, i) => `${names[i]}:c${i}-${round}`));
    }
    expect(await relayed(metrics)).to.equal(40);
  });

  if (mode === 'sockmap') it('has the kernel forward: the relay process is not woken per exchange once it set a connection up', async () => {
    expect(nativeRelayFor('sockmap')).to.deep.equal({ path: NATIVE_RELAY_PATH, sockmap: true });
    expect(nativeRelayFor('auto')).to.deep.equal({ path: NATIVE_RELAY_PATH, sockmap: true });
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint]);
    const open = await handedOver(vip, metrics);
    expect(await open.ask('first')).to.equal('a:first');
    const before = sleeps(proxy.relayPid!);
    const exchanges = 300;
    for (let i = 0; i < exchanges; i++) expect(await open.ask(`k-${i}`)).to.equal(`a:k-${i}`);
    const woken = sleeps(proxy.relayPid!) - before;
    console.log(`      (the relay woke ${woken} times in ${exchanges} exchanges)`);
    // Copying takes two wake-ups per exchange at least; forwarding, only the sweep's ticks.
    expect(woken).to.be.lessThan(exchanges / 2);
  });

  if (mode === 'native') it('javascript mode never starts the relay; native mode without the program is an error; auto falls back', async () => {
    const a = await tcpBackend(randomAddress(), 'a');
    const { proxy, metrics, vip } = await relayingProxy([a.endpoint], { relay: 'javascript' });
    const open = await openConnection(vip, 8080);
    for (let i = 0; i < 10; i++) expect(await open.ask(`js-${i}`)).to.equal(`a:js-${i}`);
    expect(await relayed(metrics)).to.equal(0);
    expect(proxy.relayPid).to.equal(undefined);

    const missing = '/nonexistent/keelson-relay';
    expect(() => new UserspaceProxier({ nodeAddresses: [], clock: systemClock, logger: silentLogger(), relay: 'native', relayPath: missing })).to.throw(/native relay .* is not built/);
    expect(nativeRelayFor('auto', missing)).to.equal(undefined);
    // A program that is there but is not a relay that runs here (built for another system, say).
    expect(nativeRelayFor('auto', '/bin/true')).to.equal(undefined);
  });
});
