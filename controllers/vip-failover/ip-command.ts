/**
 * The `ip` command (iproute2), the way the arp announcer and its guard drive Linux addresses:
 * found on PATH or in the sbin folders, run with a deadline, its JSON output parsed.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseIPv4 } from '../node-agent/ip-allocator.js';

/** The first executable `name` on PATH or in /usr/sbin, /sbin; undefined if none. */
export function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Runs `ip args…`; resolves with its stdout, rejects with its stderr (or after `timeoutMs`, default 5 s). */
export function runIp(args: readonly string[], timeoutMs = 5000): Promise<string> {
  const ip = findExecutable('ip');
  if (!ip) return Promise.reject(new Error('the ip command (Debian package iproute2) is not installed'));
  return new Promise((resolve, reject) => {
    execFile(ip, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** One IPv4 address configured on an interface. */
export interface InterfaceAddress {
  /** The interface's name. */
  ifname: string;
  /** The address. */
  local: string;
  /** Its prefix length. */
  prefixlen: number;
  /** Whether the link is up (`UP` flag and operstate not DOWN). */
  up: boolean;
}

/** The IPv4 addresses of every interface (`ip -j -4 addr show`). */
export async function interfaceAddresses(): Promise<InterfaceAddress[]> {
  const links = JSON.parse((await runIp(['-j', '-4', 'addr', 'show'])) || '[]') as Array<{
    ifname: string;
    flags?: string[];
    operstate?: string;
    addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
  }>;
  return links.flatMap((link) =>
    (link.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.local && a.prefixlen !== undefined)
      .map((a) => ({ ifname: link.ifname, local: a.local!, prefixlen: a.prefixlen!, up: !!link.flags?.includes('UP') && link.operstate !== 'DOWN' })),
  );
}

/** True if `address` is inside `network/prefixlen`. */
export function inSubnet(address: string, network: string, prefixlen: number): boolean {
  const a = parseIPv4(address);
  const n = parseIPv4(network);
  if (a === undefined || n === undefined || prefixlen < 0 || prefixlen > 32) return false;
  const size = 2 ** (32 - prefixlen);
  return Math.floor(a / size) === Math.floor(n / size);
}

/**
 * Where a VIP goes: the interface named (or, absent, the one with an address whose subnet holds
 * the VIP — the VIP itself excepted) and the prefix of that subnet (32 when the named interface
 * has none). Undefined if no interface fits.
 */
export function placeVip(vip: string, addresses: readonly InterfaceAddress[], wanted?: string): { dev: string; prefixlen: number } | undefined {
  const others = addresses.filter((a) => a.local !== vip);
  const fits = others.filter((a) => inSubnet(vip, a.local, a.prefixlen) && (!wanted || a.ifname === wanted));
  const best = fits.sort((a, b) => b.prefixlen - a.prefixlen)[0];
  if (best) return { dev: best.ifname, prefixlen: best.prefixlen };
  if (wanted && addresses.some((a) => a.ifname === wanted)) return { dev: wanted, prefixlen: 32 };
  return undefined;
}

/**
 * One long-running `ip -o -force -batch -` that takes commands on its stdin: a command costs
 * about a millisecond instead of a process start (tens of milliseconds here) — what lets the
 * guard drop an address well inside the fencing margin. After each command a barrier
 * (`link show dev lo`, always interface 1) marks where its output ends; anything else it printed
 * (stderr is merged in, in order) is its error. Commands run one at a time, in order; the
 * process is restarted if it dies.
 */
export class IpBatch {
  private child: import('node:child_process').ChildProcess | undefined;
  private buffer = '';
  private collected: string[] = [];
  private waiting: ((output: string[]) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** Runs one `ip` command line (without the leading `ip`); rejects with what it printed if it failed. */
  run(args: readonly string[]): Promise<void> {
    const result = this.queue.then(() => this.exec(args));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Ends the process. */
  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private async exec(args: readonly string[]): Promise<void> {
    const child = this.ensureStarted();
    const done = new Promise<string[]>((resolve) => (this.waiting = resolve));
    child.stdin!.write(`${args.join(' ')}\nlink show dev lo\n`);
    const output = await done;
    const problems = output.filter((line) => line.trim() && !/^\d+: \S+/.test(line));
    if (problems.length) throw new Error(`ip ${args.join(' ')}: ${problems.join(' ').trim()}`);
  }

  private ensureStarted(): import('node:child_process').ChildProcess {
    if (this.child) return this.child;
    const ip = findExecutable('ip');
    if (!ip) throw new Error('the ip command (Debian package iproute2) is not installed');
    // stderr merged into stdout, so that errors come in order with the barrier.
    const child = spawn('/bin/sh', ['-c', `exec "$0" -o -force -batch - 2>&1`, ip], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdin!.on('error', () => undefined);
    child.stdout!.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop()!;
      for (const line of lines) {
        if (/^1: lo[:@]/.test(line)) {
          const output = this.collected;
          this.collected = [];
          const waiting = this.waiting;
          this.waiting = undefined;
          waiting?.(output);
        } else {
          this.collected.push(line);
        }
      }
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.([...this.collected, 'the ip batch process exited']);
      this.collected = [];
    });
    this.child = child;
    return child;
  }
}
