/**
 * The address guard's child process (see `address-guard.ts`): it owns the VIP addresses its
 * agent adds, and removes them when the agent is gone — which it learns from the pipe on its
 * stdin closing, whatever way the agent ended (SIGKILL included) — or when a hold runs out
 * because the agent stopped extending it (a stalled agent).
 *
 * Protocol, one JSON object per line on stdin; each command with an `id` is answered on stdout
 * with `{ id, ok, error? }`:
 * - `{ id, op: 'add', address, prefixlen, dev, token, holdForMs, lifetimeSeconds }`: add (or
 *   refresh) the address with that `valid_lft`, refreshed every third of it while held; it is
 *   removed when `holdForMs` passes without an extension;
 * - `{ op: 'extend', address, token, holdForMs }`: hold longer (a stale token is ignored);
 * - `{ id, op: 'remove', address }`: remove it now.
 * Commands run one at a time, in order. SIGTERM, SIGINT and SIGHUP remove everything too.
 */
import { createInterface } from 'node:readline';
import { IpBatch } from './ip-command.js';

const ip = new IpBatch();

interface Held {
  address: string;
  prefixlen: number;
  dev: string;
  token: number;
  lifetimeSeconds: number;
  expiry?: NodeJS.Timeout;
  refresh?: NodeJS.Timeout;
}

interface Command {
  id?: number;
  op: 'add' | 'extend' | 'remove';
  address: string;
  prefixlen?: number;
  dev?: string;
  token?: number;
  holdForMs?: number;
  lifetimeSeconds?: number;
}

const held = new Map<string, Held>();
let queue: Promise<void> = Promise.resolve();
let exiting = false;

function reply(id: number | undefined, error?: unknown): void {
  if (id === undefined) return;
  const line = JSON.stringify(error === undefined ? { id, ok: true } : { id, ok: false, error: error instanceof Error ? error.message : String(error) });
  process.stdout.write(`${line}\n`, () => undefined);
}

function addArgs(h: Pick<Held, 'address' | 'prefixlen' | 'dev' | 'lifetimeSeconds'>): string[] {
  return ['addr', 'replace', `${h.address}/${h.prefixlen}`, 'dev', h.dev, 'valid_lft', String(h.lifetimeSeconds), 'preferred_lft', String(h.lifetimeSeconds)];
}

async function remove(address: string): Promise<void> {
  const h = held.get(address);
  if (!h) return;
  held.delete(address);
  clearTimeout(h.expiry);
  clearInterval(h.refresh);
  try {
    await ip.run(['addr', 'del', `${h.address}/${h.prefixlen}`, 'dev', h.dev]);
  } catch (err) {
    // Gone already (expired, or the link was deleted): that is what we wanted.
    if (!/Cannot assign requested address|Cannot find device|does not exist/i.test((err as Error).message)) throw err;
  }
}

function arm(h: Held, holdForMs: number): void {
  clearTimeout(h.expiry);
  h.expiry = setTimeout(() => enqueue(() => remove(h.address)), Math.max(0, holdForMs));
}

async function apply(command: Command): Promise<void> {
  switch (command.op) {
    case 'add': {
      const existing = held.get(command.address);
      if (existing && (command.token ?? 0) < existing.token) return;
      if (existing && (existing.dev !== command.dev || existing.prefixlen !== command.prefixlen)) await remove(command.address);
      const h: Held = existing ?? {
        address: command.address,
        prefixlen: command.prefixlen!,
        dev: command.dev!,
        token: command.token ?? 0,
        lifetimeSeconds: command.lifetimeSeconds ?? 2,
      };
      h.token = command.token ?? h.token;
      h.lifetimeSeconds = command.lifetimeSeconds ?? h.lifetimeSeconds;
      held.set(h.address, h);
      arm(h, command.holdForMs ?? 0);
      clearInterval(h.refresh);
      h.refresh = setInterval(() => enqueue(() => (held.get(h.address) === h ? ip.run(addArgs(h)) : Promise.resolve())), Math.max(100, (h.lifetimeSeconds * 1000) / 3));
      await ip.run(addArgs(h));
      return;
    }
    case 'extend': {
      const h = held.get(command.address);
      if (h && (command.token ?? 0) >= h.token) arm(h, command.holdForMs ?? 0);
      return;
    }
    case 'remove':
      return remove(command.address);
  }
}

function enqueue(work: () => Promise<void>, id?: number): void {
  queue = queue.then(work).then(
    () => reply(id),
    (err: unknown) => {
      reply(id, err);
      if (id === undefined) process.stderr.write(`keelson vip guard: ${err instanceof Error ? err.message : String(err)}\n`);
    },
  );
}

/** Removes every address, then exits. */
function shutdown(): void {
  if (exiting) return;
  exiting = true;
  for (const address of [...held.keys()]) enqueue(() => remove(address));
  void queue.finally(() => {
    ip.close();
    process.exit(0);
  });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (exiting || !line.trim()) return;
  let command: Command;
  try {
    command = JSON.parse(line) as Command;
  } catch {
    return;
  }
  // An extension must not wait behind a slow add or remove: its timer matters now.
  if (command.op === 'extend') {
    void apply(command);
    return;
  }
  enqueue(() => apply(command), command.id);
});
lines.on('close', shutdown);
process.stdout.on('error', () => undefined); // the agent is gone: the pipe closing tells us too
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, shutdown);
