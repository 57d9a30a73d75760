/**
 * The service proxy's byte relay (controllers/service-proxy/relay.ts) on real loopback sockets:
 * an accepted socket adopted into one that reads with `onread` (and the server no longer
 * counting the old one), bytes read before the relay starts held in order, back-pressure that
 * pauses the source while the target is full (memory stays bounded, nothing is lost), and the
 * `data`-event fallback carrying the same bytes.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { adoptWithOnread, Forwarding } from '../../controllers/service-proxy/relay.js';
import { waitFor } from '../harness/wait.js';

/** A server on a free loopback port; `accepted` is its first connection, paused (`pauseOnConnect`). */
interface Listening {
  server: Server;
  port: number;
  accepted: Promise<Socket>;
}

/** Listens on a free loopback port (closed after the test through `cleanups`). */
async function listen(cleanups: Array<() => void>): Promise<Listening> {
  let resolveAccepted!: (socket: Socket) => void;
  const accepted = new Promise<Socket>((resolve) => (resolveAccepted = resolve));
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    cleanups.push(() => socket.destroy());
    resolveAccepted(socket);
  });
  cleanups.push(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, accepted };
}

/** Connects to a loopback port (destroyed after the test), with `onread` if given. */
async function dial(cleanups: Array<() => void>, port: number, onread?: Forwarding['onread']): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, ...(onread ? { onread } : {}) });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The bytes `socket` receives until its end. */
function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

/** Whether a socket's handle is reading now (false: paused by its onread callback). */
function reading(socket: Socket): boolean | undefined {
  return (socket as unknown as { _handle?: { reading?: boolean } })._handle?.reading;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('service proxy: the byte relay', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('adopts an accepted socket into one reading with onread; the server stops counting the old one', async () => {
    const { server, port, accepted } = await listen(cleanups);
    const client = await dial(cleanups, port);
    client.end('hello relay');
    const original = await accepted;
    const reads: string[] = [];
    const buffer = Buffer.alloc(4); // small, so the message takes several reads into it
    const adopted = adoptWithOnread(original, { buffer, callback: (n, b) => (reads.push(Buffer.from(b.subarray(0, n)).toString()), true) }, true);
    expect(adopted, 'adopted').to.not.equal(undefined);
    cleanups.push(() => adopted!.destroy());
    expect(original.destroyed, 'the accepted socket is closed').to.equal(true);
    await new Promise<void>((resolve) => adopted!.once('end', resolve));
    expect(reads.join('')).to.equal('hello relay');
    expect(reads.length, 'reads of at most 4 bytes').to.be.greaterThan(2);
    expect(adopted!.remoteAddress).to.equal('127.0.0.1');
    adopted!.end();
    const count = () => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n)));
    await waitFor(async () => (await count()) === 0, { timeoutMs: 5000, what: 'the server to count no connection' });
  });

  it('holds what the source read before start, then writes it in order', async () => {
    const origin = await listen(cleanups);
    const forwarding = new Forwarding();
    const source = await dial(cleanups, origin.port, forwarding.onread);
    (await origin.accepted).end('early bytes, then more');
    // The source pauses itself on bytes it cannot pass on yet.
    await waitFor(() => reading(source) === false, { timeoutMs: 5000, what: 'the source to pause' });

    const sink = await listen(cleanups);
    const target = await dial(cleanups, sink.port);
    const received = readAll(await sink.accepted);
    source.once('end', () => target.end());
    forwarding.start(source, target);
    expect((await received).toString()).to.equal('early bytes, then more');
  });

  for (const mode of ['onread', 'data events'] as const) {
    it(`pauses the source while the target is full, and loses nothing (${mode})`, async () => {
      const payload = randomBytes(8 * 1024 * 1024);
      const origin = await listen(cleanups);
      const sink = await listen(cleanups);
      const forwarding = new Forwarding();
      const source = await dial(cleanups, origin.port, mode === 'onread' ? forwarding.onread : undefined);
      const target = await dial(cleanups, sink.port);
      const receiver = await sink.accepted; // paused: it reads nothing until the test says so
      source.once('end', () => target.end());
      if (mode === 'onread') forwarding.start(source, target);
      else forwarding.listen(source, target);
      (await origin.accepted).end(payload);

      // Nothing is read at the far end: once the target is full the relay stops reading the
      // source instead of buffering all 8 MiB.
      const paused = () => (mode === 'onread' ? reading(source) === false : source.isPaused());
      await waitFor(() => target.writableNeedDrain && paused(), { timeoutMs: 5000, what: 'the target full and the source paused' });
      expect(target.writableLength, 'bounded by the high-water mark and one read').to.be.lessThan(target.writableHighWaterMark + 64 * 1024);

      const got = await readAll(receiver);
      expect(got.length).to.equal(payload.length);
      expect(sha(got)).to.equal(sha(payload));
    });
  }
});
