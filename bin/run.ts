/**
 * `keelson run`: load user modules, connect to the source, install the modules' CRDs (with
 * `--store`, so custom kinds are served without an API server), and run the controllers under
 * a manager — with leader election, probes and metrics — until SIGTERM or SIGINT.
 */
import { basename, extname } from 'node:path';
import type { Newable } from 'inversify';
import { destination, type LevelWithSilent } from 'pino';
import { builtinControllers, selectControllers } from '../controllers/index.js';
import { connect } from '../lib/client/connect.js';
import { existsSync } from 'node:fs';
import { gvkOf } from '../lib/api/resources.js';
import type { Client } from '../lib/client/client.js';
import type { KubeClient } from '../lib/client/kube-client.js';
import { StoreClient } from '../lib/client/store-client.js';
import { controllerMetadata } from '../lib/runtime/decorators.js';
import { installCrds } from '../lib/runtime/crd-gen.js';
import { createLogger } from '../lib/runtime/logger.js';
import { Manager, type ManagerOptions } from '../lib/runtime/manager.js';
import { NodeIpamConfiguration } from '../controllers/node-ipam/index.js';
import { SchedulerPlugins } from '../controllers/scheduler/index.js';
import { NodeLifecycleConfiguration } from '../controllers/node-lifecycle/index.js';
import { nodeLifecycleOptions, type NodeLifecycleFlags } from './lifecycle-flags.js';
import { CliError, loadModules } from './modules.js';

/** Options of `keelson run`, as parsed. */
export interface RunOptions extends NodeLifecycleFlags {
  /** node-ipam's cluster CIDR. */
  clusterCidr?: string;
  module: string[];
  store?: string;
  kubeconfig?: string;
  context?: string;
  controllers: string;
  leaderElect: boolean;
  leaderElectionId?: string;
  leaderElectionNamespace: string;
  metricsPort: number;
  metricsBindAddress: string;
  shutdownTimeout: number;
  logLevel: string;
}

/**
 * How the manager learns kinds' scope and whether they are served: from the registry in-process,
 * or from the API server's discovery (looked up now for every kind the controllers name).
 */
async function kindFacts(client: Client, controllers: Newable[]): Promise<Pick<ManagerOptions, 'resourceInfoFor' | 'isServed'>> {
  if (client instanceof StoreClient) {
    return {
      resourceInfoFor: (gvk) => client.registry.types.forKind(gvk.apiVersion, gvk.kind),
      isServed: (kind) => client.registry.types.resolve(kind) !== undefined,
    };
  }
  const kube = client as KubeClient;
  const served = new Set<string>();
  for (const cls of controllers) {
    const meta = controllerMetadata(cls);
    for (const kind of [meta.options.for, ...(meta.options.owns ?? []), ...meta.watches.map((w) => w.kind)]) {
      const gvk = gvkOf(kind);
      if (await kube.resourceInfo(kind).then(() => true, () => false)) served.add(`${gvk.apiVersion}/${gvk.kind}`);
    }
  }
  return {
    resourceInfoFor: (gvk) => kube.cachedResourceInfo(gvk),
    isServed: (kind) => {
      const gvk = gvkOf(kind);
      return served.has(`${gvk.apiVersion}/${gvk.kind}`);
    },
  };
}

/** Runs until stopped; rejects on a fatal error (the process then exits non-zero). */
export async function runCommand(options: RunOptions): Promise<void> {
  if (options.store && options.kubeconfig) throw new CliError('--store and --kubeconfig are exclusive: choose one source', 2);
  if (options.context && !options.kubeconfig && options.store) throw new CliError('--context applies to --kubeconfig, not --store', 2);
  // With neither source flag: $KUBECONFIG, then .keelson/kubeconfig (what `keelson up` writes).
  const kubeconfig = options.store ? undefined : (options.kubeconfig ?? (process.env.KUBECONFIG || (existsSync('.keelson/kubeconfig') ? '.keelson/kubeconfig' : undefined)));
  if (!options.store && !kubeconfig) {
    throw new CliError('no source: pass --store sqlite:PATH | memory: | etcd://host:port, or --kubeconfig FILE (or run `keelson up` first, which writes .keelson/kubeconfig)', 2);
  }
  let builtins: string[];
  try {
    builtins = selectControllers(options.controllers, 'none');
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  const loaded = await loadModules(options.module);
  const controllers: Newable[] = [...loaded.controllers, ...builtins.flatMap((name) => [...builtinControllers[name]!])];
  if (controllers.length === 0) throw new CliError(`no @Controller classes exported by ${options.module.join(', ')} and no built-ins selected`);
  if (loaded.schedulerPlugins.length > 0 && !builtins.includes('scheduler')) {
    const names = loaded.schedulerPlugins.map((p) => p.name).join(', ');
    throw new CliError(`${names}: scheduler plugins need the built-in scheduler — add --controllers scheduler`, 2);
  }

  const logger = createLogger({ name: 'keelson', level: options.logLevel as LevelWithSilent, destination: destination(2) });
  const source = options.store ? `store ${options.store}` : `kubeconfig ${kubeconfig}${options.context ? ` (context ${options.context})` : ''}`;
  const client = await connect(
    options.store
      ? { store: options.store, garbageCollection: builtins.includes('gc') }
      : { kubeconfig: kubeconfig!, ...(options.context ? { context: options.context } : {}) },
  ).catch((err: unknown) => {
    throw new CliError(`cannot connect to ${source}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down gracefully');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await installCrds(client, loaded.resources);
    if (loaded.resources.length) logger.info({ crds: loaded.resources.map((r) => (r as { name: string }).name) }, 'custom resource definitions installed');
    const firstModule = basename(options.module[0]!, extname(options.module[0]!));
    const manager = new Manager({
      client,
      name: 'keelson',
      logger,
      metricsPort: options.metricsPort,
      metricsHost: options.metricsBindAddress,
      gracefulShutdownTimeoutMs: options.shutdownTimeout * 1000,
      leaderElection: options.leaderElect
        ? { name: options.leaderElectionId ?? `keelson-${firstModule.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`, namespace: options.leaderElectionNamespace }
        : false,
      ...(await kindFacts(client, controllers)),
    });
    manager.container.bind(NodeLifecycleConfiguration).toConstantValue(nodeLifecycleOptions(options));
    if (options.clusterCidr !== undefined) manager.container.bind(NodeIpamConfiguration).toConstantValue({ clusterCIDR: options.clusterCidr });
    // The modules' scheduler plugins run next to the default ones.
    for (const plugin of loaded.schedulerPlugins) manager.container.bind(SchedulerPlugins).to(plugin);
    manager.add(...controllers);
    await manager.start(stop.signal);
    logger.info('stopped');
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await client.close();
  }
}
