/**
 * `keelson node`: join this machine to a cluster as one more node — a node agent (the kubelet
 * role) against an API server (`--kubeconfig`) or a store (`--store`), running the pods bound
 * to it as processes. Also what `keelson up --nodes K` uses to start its in-process agents.
 *
 * SIGTERM or SIGINT stops the agent: its pods' processes are stopped (each pod's grace period),
 * the pods stay in the API. A second signal exits at once; the pods' processes end with the
 * agent anyway (their supervisors see it go).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { destination, type LevelWithSilent, type Logger } from 'pino';
import { NodeAgent, type NodeAgentOptions } from '../controllers/node-agent/index.js';
import { electionTiming, type ElectionTiming } from '../controllers/vip-failover/index.js';
import type { RelayMode } from '../controllers/service-proxy/index.js';
import { ClientEnvResolver, ProcessRuntime } from '../controllers/node-agent/runtime/index.js';
import { createAuthenticator } from '../lib/apiserver/auth.js';
import { Node } from '../lib/api/kinds.js';
import type { Client } from '../lib/client/client.js';
import { connect } from '../lib/client/connect.js';
import { createLogger } from '../lib/runtime/logger.js';
import { CliError } from './modules.js';

/** Options of `keelson node`, as parsed. */
export interface NodeOptions {
  name: string;
  kubeconfig?: string;
  context?: string;
  store?: string;
  address?: string;
  port: number;
  cpu?: string;
  memory?: string;
  pods: number;
  dataDir?: string;
  /** Milliseconds. */
  leaseRenewInterval: number;
  nodeLeaseDurationSeconds: number;
  /** Milliseconds. */
  statsInterval: number;
  proxyMode: 'userspace' | 'nftables';
  proxyRelay?: RelayMode;
  /** VIP failover heartbeats: the node-network address (default: the node's address) and port. */
  vipHeartbeatAddress?: string;
  vipHeartbeatPort?: number;
  /** Milliseconds. */
  vipHeartbeatInterval?: number;
  /** Milliseconds (default: 3 heartbeat intervals). */
  vipLeaseDuration?: number;
  tokenFile?: string;
  logLevel: string;
}

/** What {@link createNodeAgent} needs: an agent's settings and its source. */
export interface NodeAgentSetup {
  client: Client;
  name: string;
  address: string;
  port: number;
  dataDir: string;
  logger: Logger;
  cpu?: string;
  memory?: string;
  pods?: number;
  leaseRenewIntervalMs?: number;
  leaseDurationSeconds?: number;
  proxyMode?: 'userspace' | 'nftables';
  /** How a userspace proxy copies lasting TCP connections (default `auto`). */
  proxyRelay?: RelayMode;
  /** The apiserver's bearer token: the agent's endpoints then require it. */
  token?: string;
  /** True for an agent alone in its process (its own CPU and memory count as the node's). */
  includeAgentProcess?: boolean;
  /** How often pod usage is sampled, ms (the agent's default: 10 s). */
  statsIntervalMs?: number;
  /** VIP failover settings (absent: none). */
  vip?: NodeAgentOptions['vip'];
}

/** A node agent with keelson's process runtime over `<dataDir>`, ready to start. */
export function createNodeAgent(setup: NodeAgentSetup): NodeAgent {
  let agent: NodeAgent | undefined = undefined;
  const env = new ClientEnvResolver(setup.client, { nodeAllocatable: () => agent?.node?.status?.allocatable ?? {}, hostIP: setup.address });
  const runtime = new ProcessRuntime({ dataDir: setup.dataDir, env });
  const authenticate = setup.token ? createAuthenticator({ tokens: [setup.token] }) : undefined;
  agent = new NodeAgent({
    client: setup.client,
    name: setup.name,
    address: setup.address,
    port: setup.port,
    runtime,
    logger: setup.logger,
    ...(setup.cpu !== undefined ? { cpu: setup.cpu } : {}),
    ...(setup.memory !== undefined ? { memory: setup.memory } : {}),
    ...(setup.pods !== undefined ? { pods: setup.pods } : {}),
    ...(setup.leaseRenewIntervalMs !== undefined ? { leaseRenewIntervalMs: setup.leaseRenewIntervalMs } : {}),
    ...(setup.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: setup.leaseDurationSeconds } : {}),
    ...(setup.proxyMode ? { proxyMode: setup.proxyMode } : {}),
    ...(setup.proxyRelay ? { proxyRelay: setup.proxyRelay } : {}),
    ...(authenticate ? { authenticate: (header: string | undefined) => authenticate(header) !== undefined } : {}),
    includeAgentProcess: !!setup.includeAgentProcess,
    ...(setup.statsIntervalMs !== undefined ? { statsIntervalMs: setup.statsIntervalMs } : {}),
    ...(setup.vip ? { vip: setup.vip } : {}),
  });
  return agent;
}

/** The VIP election timing from the flags (each absent one: its default). */
export function vipTiming(heartbeatIntervalMs: number | undefined, leaseDurationMs: number | undefined): Partial<ElectionTiming> {
  const timing: Partial<ElectionTiming> = {
    ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
    ...(leaseDurationMs !== undefined ? { leaseDurationMs } : {}),
  };
  try {
    electionTiming(timing);
  } catch (err) {
    throw new CliError(`--vip-heartbeat-interval / --vip-lease-duration: ${(err as Error).message}`, 2);
  }
  return timing;
}

/** The first `127.1.0.N` no Node claims as its InternalIP — or the one this node already has. */
export async function pickNodeAddress(client: Client, name: string): Promise<string> {
  const nodes = (await client.list(Node)).items;
  const internalIP = (node: Node) => node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const mine = nodes.find((n) => n.metadata?.name === name);
  const existing = mine ? internalIP(mine) : undefined;
  if (existing) return existing;
  const taken = new Set(nodes.map(internalIP).filter((a): a is string => !!a));
  for (let n = 1; n <= 254; n++) if (!taken.has(`127.1.0.${n}`)) return `127.1.0.${n}`;
  throw new CliError('every address 127.1.0.1-254 is taken by a Node: pass --address', 2);
}

/** Runs a node agent until SIGTERM/SIGINT. */
export async function nodeCommand(options: NodeOptions): Promise<void> {
  if (options.store && options.kubeconfig) throw new CliError('--store and --kubeconfig are exclusive: choose one source', 2);
  if (options.context && options.store) throw new CliError('--context applies to --kubeconfig, not --store', 2);
  const kubeconfig = options.store ? undefined : (options.kubeconfig ?? (process.env.KUBECONFIG || (existsSync('.keelson/kubeconfig') ? '.keelson/kubeconfig' : undefined)));
  if (!options.store && !kubeconfig) {
    throw new CliError('no source: pass --kubeconfig FILE or --store sqlite:PATH | memory: | etcd://host:port (or run `keelson up` first, which writes .keelson/kubeconfig)', 2);
  }
  const token = options.tokenFile
    ? await readFile(options.tokenFile, 'utf8').then(
        (text) => text.trim(),
        (err: unknown) => {
          throw new CliError(`cannot read --token-file ${options.tokenFile}: ${err instanceof Error ? err.message : String(err)}`, 2);
        },
      )
    : undefined;
  if (options.tokenFile && !token) throw new CliError(`--token-file ${options.tokenFile} is empty`, 2);
  const logger = createLogger({ name: 'keelson-node', level: options.logLevel as LevelWithSilent, destination: destination(2) });
  const source = options.store ? `store ${options.store}` : `kubeconfig ${kubeconfig}${options.context ? ` (context ${options.context})` : ''}`;
  const client = await connect(options.store ? { store: options.store } : { kubeconfig: kubeconfig!, ...(options.context ? { context: options.context } : {}) }).catch((err: unknown) => {
    throw new CliError(`cannot connect to ${source}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    logger.info({ signal }, 'shutting down: stopping the pods');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let agent: NodeAgent | undefined;
  try {
    const address = options.address ?? (await pickNodeAddress(client, options.name));
    agent = createNodeAgent({
      client,
      name: options.name,
      address,
      port: options.port,
      dataDir: resolve(options.dataDir ?? join('.keelson', 'nodes', options.name)),
      logger,
      ...(options.cpu !== undefined ? { cpu: options.cpu } : {}),
      ...(options.memory !== undefined ? { memory: options.memory } : {}),
      pods: options.pods,
      leaseRenewIntervalMs: options.leaseRenewInterval,
      statsIntervalMs: options.statsInterval,
      leaseDurationSeconds: options.nodeLeaseDurationSeconds,
      proxyMode: options.proxyMode,
      ...(options.proxyRelay ? { proxyRelay: options.proxyRelay } : {}),
      ...(token ? { token } : {}),
      includeAgentProcess: true,
      vip: {
        ...(options.vipHeartbeatAddress ? { heartbeatAddress: options.vipHeartbeatAddress } : {}),
        ...(options.vipHeartbeatPort !== undefined ? { heartbeatPort: options.vipHeartbeatPort } : {}),
        timing: vipTiming(options.vipHeartbeatInterval, options.vipLeaseDuration),
      },
    });
    await agent.start().catch((err: unknown) => {
      throw new CliError(`node ${options.name} cannot start on ${address}:${options.port}: ${err instanceof Error ? err.message : String(err)}`);
    });
    process.stdout.write(`node ${options.name} joined ${source}: address ${address}, endpoints http://${address}:${agent.port}\n`);
    if (!stop.signal.aborted) await new Promise<void>((done) => stop.signal.addEventListener('abort', () => done(), { once: true }));
  } finally {
    await agent?.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await client.close();
  }
}
