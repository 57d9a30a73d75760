/**
 * The `arp` announcer (Linux, root): holding the address means it is configured on the
 * interface of the VIP's subnet, on a link that is up — so this host answers ARP for it — and
 * the neighbours have been told with gratuitous ARPs (at 0, 0.5, 1 and 2 s after taking it, as
 * `arping -U`), so their caches move to this host at once instead of when their entries go
 * stale. Releasing removes the address.
 *
 * The address is added and removed by the agent's {@link AddressGuard}, never directly: it must
 * not outlive the agent (see `address-guard.ts`), and the guard also drops it when the hold
 * runs out without an extension.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { systemClock, type Clock, type Logger, type TimerHandle } from '../../lib/index.js';
import type { AddressGuard } from './address-guard.js';
import type { Announcer } from './announcer.js';
import { findExecutable } from './ip-command.js';

/** When gratuitous ARPs are sent after taking an address (ms). */
export const GARP_SCHEDULE_MS: readonly number[] = [0, 500, 1000, 2000];

/** Options of an {@link ArpAnnouncer}. */
export interface ArpAnnouncerOptions {
  address: string;
  prefixlen: number;
  /** The interface. */
  dev: string;
  guard: AddressGuard;
  logger: Logger;
  clock?: Clock;
  /** The address's `valid_lft`/`preferred_lft`, seconds (default 2): how long the kernel keeps it if no one refreshes it. */
  lifetimeSeconds?: number;
  /** Default {@link GARP_SCHEDULE_MS}. */
  garpScheduleMs?: readonly number[];
}

/** Serves the address on an interface, announced with gratuitous ARP (see the file header). */
export class ArpAnnouncer implements Announcer {
  readonly description: string;
  private holdingValue = false;
  private token = 0;
  private garpTimers: TimerHandle[] = [];
  private readonly arpings = new Set<ChildProcess>();
  private readonly clock: Clock;
  private arpingMissingLogged = false;

  constructor(private readonly options: ArpAnnouncerOptions) {
    this.clock = options.clock ?? systemClock;
    this.description = `${options.address}/${options.prefixlen} on ${options.dev} (arp)`;
    options.guard.start();
  }

  get holding(): boolean {
    return this.holdingValue;
  }

  async hold(token: number, holdForMs: number): Promise<void> {
    if (token < this.token) return;
    this.token = token;
    const { guard, address, prefixlen, dev } = this.options;
    await guard.add(address, prefixlen, dev, token, holdForMs, this.options.lifetimeSeconds ?? 2);
    this.holdingValue = true;
    this.cancelGarps();
    this.garpTimers = (this.options.garpScheduleMs ?? GARP_SCHEDULE_MS).map((at) => this.clock.setTimeout(() => this.gratuitousArp(), at));
  }

  extend(token: number, holdForMs: number): void {
    if (token < this.token || !this.holdingValue) return;
    this.token = token;
    this.options.guard.extend(this.options.address, token, holdForMs);
  }

  async release(): Promise<void> {
    this.cancelGarps();
    this.holdingValue = false;
    try {
      await this.options.guard.remove(this.options.address);
    } catch (err) {
      this.options.logger.error({ err, address: this.options.address }, 'could not remove the VIP address');
    }
  }

  close(): Promise<void> {
    return this.release();
  }

  private cancelGarps(): void {
    for (const timer of this.garpTimers) timer.cancel();
    this.garpTimers = [];
    for (const child of this.arpings) child.kill('SIGKILL');
    this.arpings.clear();
  }

  /** One `arping -U -c 1`: "this address is at my MAC now", to every neighbour. */
  private gratuitousArp(): void {
    if (!this.holdingValue) return;
    const arping = findExecutable('arping');
    if (!arping) {
      if (!this.arpingMissingLogged) this.options.logger.warn('arping (Debian package iputils-arping) is not installed: no gratuitous ARP');
      this.arpingMissingLogged = true;
      return;
    }
    const child = spawn(arping, ['-U', '-c', '1', '-I', this.options.dev, this.options.address], { stdio: 'ignore' });
    this.arpings.add(child);
    child.on('error', (err) => this.options.logger.warn({ err }, 'arping failed'));
    child.on('exit', () => this.arpings.delete(child));
    child.unref();
  }
}
