/**
 * Resource monitors: one informer per served kind, feeding the dependency graph (kube's
 * GraphBuilder monitors). `sync` starts informers for kinds that appeared (a CRD became
 * Established) and stops those of kinds no longer served — whose objects then leave the graph,
 * since a kind that is not served has no objects.
 */
import { apiVersionOf, Informer, type Client, type Clock, type KubeObject, type Logger, type ResourceInfo } from '../../lib/index.js';
import type { DependencyGraph } from './graph.js';

/** One informer per kind, all feeding one graph. */
export class ResourceMonitors {
  private readonly informers = new Map<string, Informer>();
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly graph: DependencyGraph,
    private readonly options: { clock: Clock; logger: Logger; signal: AbortSignal },
  ) {}

  /** The kinds monitored, as `apiVersion/Kind`. */
  get kinds(): string[] {
    return [...this.informers.keys()].sort();
  }

  /** Monitors exactly `kinds`: starts what is new, stops what is gone. */
  async sync(kinds: readonly ResourceInfo[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map(kinds.map((info) => [`${apiVersionOf(info)}/${info.kind}`, info]));
    const gone = [...this.informers.entries()].filter(([key]) => !wanted.has(key));
    for (const [key, info] of wanted) {
      if (this.informers.has(key)) continue;
      const informer = new Informer<KubeObject>(this.client, { apiVersion: apiVersionOf(info), kind: info.kind }, { clock: this.options.clock, logger: this.options.logger });
      informer.addEventHandler({
        onAdd: (obj) => this.graph.observe(obj),
        onUpdate: (_old, obj) => this.graph.observe(obj),
        onDelete: (obj) => this.graph.remove(obj),
      });
      this.informers.set(key, informer);
      informer.start(this.options.signal);
      this.options.logger.debug({ kind: key }, 'garbage collector: monitoring a kind');
    }
    for (const [key, informer] of gone) {
      this.informers.delete(key);
      await informer.stop();
      for (const obj of informer.indexer.list()) this.graph.remove(obj);
      this.options.logger.debug({ kind: key }, 'garbage collector: stopped monitoring a kind no longer served');
    }
  }

  /** True once every monitor has listed its kind. */
  hasSynced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced());
  }

  /**
   * Resolves once every monitor synced (true), or false after `timeoutMs` or when `signal`
   * aborts — kube's collector, too, proceeds without the monitors that cannot sync.
   */
  async waitForSync(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    const giveUp = new AbortController();
    const timer = this.options.clock.setTimeout(() => giveUp.abort(), timeoutMs);
    const both = AbortSignal.any([signal, giveUp.signal]);
    try {
      const results = await Promise.all([...this.informers.values()].map((informer) => informer.waitForSync(both)));
      return results.every(Boolean);
    } finally {
      timer.cancel();
    }
  }

  /** Kinds whose monitor has not synced yet (for the log when giving up waiting). */
  unsynced(): string[] {
    return [...this.informers.entries()].filter(([, informer]) => !informer.hasSynced()).map(([key]) => key);
  }

  /** Stops every monitor; resolves once all have exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.informers.values()];
    this.informers.clear();
    await Promise.all(all.map((informer) => informer.stop()));
  }
}
