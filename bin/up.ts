/**
 * `keelson up`: the control plane in one command, as kubeadm would set it up — the store
 * (SQLite in the data dir unless `--store`), the API server on 127.0.0.1 over HTTPS with a
 * generated CA and a bearer token, the built-in controllers under a manager, the CRDs of the
 * built-in custom kinds (VirtualIP), `--nodes K` node agents (each taking part in VIP failover),
 * and a kubeconfig (`<data-dir>/kubeconfig`, context `keelson`) written once the server
 * is ready. Ctrl-C stops everything cleanly; starting again keeps every object.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Newable } from 'inversify';
import { destination, type LevelWithSilent } from 'pino';
import { builtinControllers, selectControllers } from '../controllers/index.js';
import { checkBindSafety, createAuthenticator, ensureToken } from '../lib/apiserver/auth.js';
import { writeKubeconfig } from '../lib/apiserver/kubeconfig.js';
import { ensurePki } from '../lib/apiserver/pki.js';
import { ApiServer } from '../lib/apiserver/server.js';
import { connect } from '../lib/client/connect.js';
import type { StoreClient } from '../lib/client/store-client.js';
import type { CustomResourceRegistry } from '../lib/registry/crd-registry.js';
import { createLogger } from '../lib/runtime/logger.js';
import { Manager } from '../lib/runtime/manager.js';
import { serveVipService, type NodeAgent } from '../controllers/node-agent/index.js';
import { NodeIpamConfiguration } from '../controllers/node-ipam/index.js';
import { NodeLifecycleConfiguration } from '../controllers/node-lifecycle/index.js';
import { ServiceProxy, type ProxyMode, type RelayMode } from '../controllers/service-proxy/index.js';
import { nodeLifecycleOptions, type NodeLifecycleFlags } from './lifecycle-flags.js';
import { CliError } from './modules.js';
import { VirtualIP } from '../controllers/vip-failover/index.js';
import { installCrds } from '../lib/runtime/crd-gen.js';
import { createNodeAgent, vipTiming } from './node.js';

/** Options of `keelson up`, as parsed. */
export interface UpOptions extends NodeLifecycleFlags {
  dataDir: string;
  store?: string;
  bindAddress: string;
  port: number;
  controllers: string;
  metricsPort: number;
  /** In-process node agents (`node-1`…`node-K` on 127.1.0.1…K). */
  nodes: number;
  /** Port of each agent's endpoints (on its own address). */
  kubeletPort: number;
  /** How often each in-process agent samples its pods' usage (ms): the metrics API's window. */
  statsInterval?: number;
  /** How often each in-process agent renews its node Lease (ms). */
  leaseRenewInterval?: number;
  /** The node Leases' leaseDurationSeconds. */
  nodeLeaseDurationSeconds?: number;
  /** node-ipam's cluster CIDR (pod CIDRs are cut from it). */
  clusterCidr?: string;
  /** Where Service clusterIPs come from. */
  serviceClusterIpRange?: string;
  /** Where NodePorts come from (`first-last`). */
  serviceNodePortRange?: string;
  /** DefaultTolerationSeconds admission: the not-ready toleration's seconds. */
  defaultNotReadyTolerationSeconds?: number;
  /** DefaultTolerationSeconds admission: the unreachable toleration's seconds. */
  defaultUnreachableTolerationSeconds?: number;
  /** Mode of the host's service proxy (one for all in-process agents; none without agents). */
  proxyMode?: ProxyMode;
  /** How the userspace proxy copies lasting TCP connections (default `auto`). */
  proxyRelay?: RelayMode;
  /** VIP failover heartbeat interval of the in-process agents (ms). */
  vipHeartbeatInterval?: number;
  /** VIP lease duration of the in-process agents (ms; default 3 heartbeat intervals). */
  vipLeaseDuration?: number;
  logLevel: string;
}

/** Runs the control plane until SIGINT/SIGTERM. */
export async function upCommand(options: UpOptions): Promise<void> {
  let selected: string[];
  try {
    selected = selectControllers(options.controllers, 'all');
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  try {
    checkBindSafety({ bindAddress: options.bindAddress, tls: true, token: true });
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logger = createLogger({ name: 'keelson', level: options.logLevel as LevelWithSilent, destination: destination(2) });
  const storeUrl = options.store ?? `sqlite:${join(dataDir, 'keelson.db')}`;

  const hosts = [...new Set(['127.0.0.1', 'localhost', '::1', options.bindAddress].filter((h) => h !== '0.0.0.0' && h !== '::'))];
  const pki = await ensurePki(join(dataDir, 'pki'), { hosts });
  const token = await ensureToken(join(dataDir, 'pki'));

  // The orphan/foreground finalizers of deletes only make sense when a garbage collector runs.
  const client = (await connect({
    store: storeUrl,
    garbageCollection: selected.includes('gc'),
    serviceAllocation: {
      ...(options.serviceClusterIpRange !== undefined ? { serviceClusterIPRange: options.serviceClusterIpRange } : {}),
      ...(options.serviceNodePortRange !== undefined ? { serviceNodePortRange: options.serviceNodePortRange } : {}),
    },
    defaultTolerationSeconds: {
      ...(options.defaultNotReadyTolerationSeconds !== undefined ? { notReadyTolerationSeconds: options.defaultNotReadyTolerationSeconds } : {}),
      ...(options.defaultUnreachableTolerationSeconds !== undefined ? { unreachableTolerationSeconds: options.defaultUnreachableTolerationSeconds } : {}),
    },
  }).catch((err: unknown) => {
    throw new CliError(`cannot open store ${storeUrl}: ${err instanceof Error ? err.message : String(err)}`);
  })) as StoreClient;
  const registry = client.registry as CustomResourceRegistry;
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    logger.info({ signal }, 'shutting down');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const server = new ApiServer({
    registry,
    host: options.bindAddress,
    port: options.port,
    tls: { cert: pki.serverCert, key: pki.serverKey },
    authenticate: createAuthenticator({ tokens: [token] }),
    logger,
    // pods/log and metrics.k8s.io reach the agents with the API server's token, which they require.
    nodeClient: { token },
    ...(options.statsInterval !== undefined ? { metrics: { windowMs: options.statsInterval } } : {}),
  });
  const controllers: Newable[] = selected.flatMap((name) => [...builtinControllers[name]!]);
  const manager = new Manager({
    client,
    name: 'keelson-controller-manager',
    logger,
    metricsPort: options.metricsPort,
    leaderElection: { name: 'keelson-controller-manager', namespace: 'kube-system' },
    resourceInfoFor: (gvk) => registry.types.forKind(gvk.apiVersion, gvk.kind),
    isServed: (kind) => registry.types.resolve(kind) !== undefined,
  });
  manager.container.bind(NodeLifecycleConfiguration).toConstantValue(nodeLifecycleOptions(options));
  if (options.clusterCidr !== undefined) manager.container.bind(NodeIpamConfiguration).toConstantValue({ clusterCIDR: options.clusterCidr });
  manager.add(...controllers);
  // The node agents share the store client; each serves on its own loopback address, and
  // sends its VIP failover heartbeats from there.
  const timing = vipTiming(options.vipHeartbeatInterval, options.vipLeaseDuration);
  // The host's proxy (created below, before the agents start) serves the Service of each
  // VirtualIP an in-process agent holds (spec.serviceRef) on its address.
  let proxy: ServiceProxy | undefined;
  const onHolding = (vip: VirtualIP, holding: boolean) => {
    if (proxy) serveVipService(proxy, vip, holding);
  };
  const agents: NodeAgent[] = Array.from({ length: options.nodes }, (_, i) =>
    createNodeAgent({
      client,
      name: `node-${i + 1}`,
      address: `127.1.0.${i + 1}`,
      port: options.kubeletPort,
      dataDir: join(dataDir, 'nodes', `node-${i + 1}`),
      logger,
      token,
      ...(options.statsInterval !== undefined ? { statsIntervalMs: options.statsInterval } : {}),
      ...(options.leaseRenewInterval !== undefined ? { leaseRenewIntervalMs: options.leaseRenewInterval } : {}),
      ...(options.nodeLeaseDurationSeconds !== undefined ? { leaseDurationSeconds: options.nodeLeaseDurationSeconds } : {}),
      vip: { timing, onHolding },
    }),
  );
  try {
    await server.start().catch((err: unknown) => {
      throw new CliError(`cannot serve on ${options.bindAddress}:${options.port}: ${err instanceof Error ? err.message : String(err)}`);
    });
    // Built-in custom kinds: served before anything watches them.
    await installCrds(client, [VirtualIP]);
    const managerRun = manager.start(stop.signal);
    if (agents.length) {
      // One service proxy for the host, not one per in-process agent: cluster IPs once, node
      // ports on every agent's address. (A `keelson node` process runs its own; they share the
      // cluster IPs through SO_REUSEPORT.)
      try {
        proxy = new ServiceProxy({
          client,
          mode: options.proxyMode ?? 'userspace',
          userspace: { relay: options.proxyRelay ?? 'auto' },
          nodeAddresses: agents.map((a) => a.address),
          nodeNames: agents.map((a) => a.name),
          logger,
          metrics: manager.metrics,
        });
        await proxy.start();
      } catch (err) {
        throw new CliError(`service proxy cannot start: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const agent of agents) {
      await agent.start().catch((err: unknown) => {
        throw new CliError(`node agent ${agent.name} cannot start on ${agent.address}:${options.kubeletPort}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    const kubeconfig = join(dataDir, 'kubeconfig');
    const serverUrl = server.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//127.0.0.1:');
    await writeKubeconfig(kubeconfig, { server: serverUrl, caCert: pki.caCert, token });
    process.stdout.write(
      [
        `keelson is up: API server ${serverUrl}, store ${storeUrl}`,
        `controllers: ${selected.length ? selected.join(', ') : '(none)'}`,
        ...(agents.length ? [`nodes: ${agents.map((a) => `${a.name} (${a.address}:${a.port})`).join(', ')}`] : []),
        '',
        'Use it with kubectl:',
        `  export KUBECONFIG=${kubeconfig}`,
        '  kubectl get namespaces',
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await managerRun;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Agents first: their pods' processes stop while the API is still there.
    await Promise.all(agents.map((agent) => agent.stop()));
    await proxy?.stop();
    await manager.stop();
    await server.stop();
    await client.close();
    logger.info('stopped');
  }
}
