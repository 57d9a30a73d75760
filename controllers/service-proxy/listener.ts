/**
 * A listening socket that keeps trying: binding a Service's address can fail for a while (the
 * address is still held by a socket being closed, by another program, a port below 1024
 * without the privilege, or an external IP that is not on this host), and a proxy never
 * crashes or gives up over it — it logs, retries with back-off (0.5 s doubling to 30 s), and
 * serves as soon as the bind succeeds.
 */
import type { Clock, Logger, TimerHandle } from '../../lib/index.js';

/** Opens the socket; resolves with the function that closes it, rejects if it cannot bind. */
export type OpenSocket = () => Promise<() => void>;

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** One address a Service port listens on, bound (and re-bound) in the background. */
export class RetryingListener {
  private closeSocket: (() => void) | undefined;
  private retry: TimerHandle | undefined;
  private failures = 0;
  private closed = false;
  private readonly settled: Promise<void>;
  private settle!: () => void;

  /**
   * @param address `host:port`, for logs.
   * @param open binds the socket.
   */
  constructor(
    readonly address: string,
    private readonly open: OpenSocket,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
    void this.bind();
  }

  /** Whether the socket is bound now. */
  get bound(): boolean {
    return this.closeSocket !== undefined;
  }

  /** Resolves after the first bind attempt (whatever its outcome). */
  firstAttempt(): Promise<void> {
    return this.settled;
  }

  /** Stops listening (new connections are refused at once) and stops retrying. */
  close(): void {
    this.closed = true;
    this.retry?.cancel();
    this.closeSocket?.();
    this.closeSocket = undefined;
    this.settle();
  }

  private async bind(): Promise<void> {
    try {
      const close = await this.open();
      if (this.closed) close();
      else {
        this.closeSocket = close;
        if (this.failures > 0) this.logger.info({ address: this.address }, 'service proxy listening after retries');
        this.failures = 0;
      }
    } catch (err) {
      if (this.closed) return;
      const code = (err as NodeJS.ErrnoException).code;
      const delayMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures);
      if (code === 'EADDRNOTAVAIL') {
        // Not an address of this host (yet): an external IP another node has, or one to come.
        this.logger[this.failures === 0 ? 'info' : 'debug']({ address: this.address, retryInMs: delayMs }, 'service proxy address is not on this host; serving it once it is');
      } else {
        // The first failure and every tenth are warnings; the others would only repeat them.
        const level = this.failures % 10 === 0 ? 'warn' : 'debug';
        this.logger[level]({ address: this.address, code, err: (err as Error).message, retryInMs: delayMs }, 'service proxy cannot listen; retrying');
      }
      this.failures++;
      this.retry = this.clock.setTimeout(() => void this.bind(), delayMs);
    } finally {
      this.settle();
    }
  }
}
