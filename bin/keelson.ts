#!/usr/bin/env node
/**
 * The keelson binary. `keelson run` runs controllers from user modules against a source;
 * `keelson node` joins a node agent to a cluster; `keelson crds` writes the CRDs of a module's
 * custom kinds. Every flag is in `--help`; a bad flag is one clear line and exit code 2.
 */
import 'reflect-metadata';
import { Command, CommanderError, Option } from 'commander';
import { crdsCommand } from './crds.js';
import { bool, cidr, collect, count, duration, ipv4Address, loopbackAddress, port, portRangeFlag, quantity, serviceRange } from './flags.js';
import { addNodeLifecycleFlags } from './lifecycle-flags.js';
import { CliError } from './modules.js';
import { nodeCommand } from './node.js';
import { runCommand } from './run.js';
import { upCommand } from './up.js';
import { RELAY_MODES } from '../controllers/service-proxy/index.js';

/** `--proxy-relay`, the same on `up` and `node`. */
const PROXY_RELAY_HELP =
  'userspace proxy: what moves the bytes of lasting TCP connections — auto: the native relay when it was built (dist/native/keelson-relay, needs a C compiler at build), having the kernel forward them (sockmap) when run as root, else JavaScript; sockmap: the relay with the kernel forwarding, or fail; native: the relay copying (no BPF), or fail; javascript: Node.js only';

function program(): Command {
  const root = new Command('keelson')
    .description('Kubernetes-style controllers in TypeScript, and a small control plane built with them')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.trimEnd().split('\n')[0] + '\n') });

  const run = root
    .command('run')
    .description('run the controllers of user modules (plus chosen built-ins) against a source, with leader election')
    .exitOverride()
    .requiredOption('--module <file>', 'a compiled ES module exporting @Controller (and @Resource, @SchedulerPlugin) classes; repeat for more', collect, [])
    .option('--store <url>', 'keelson store to run against: sqlite:PATH, memory: or etcd://host:port[,host:port...]')
    .option('--kubeconfig <file>', 'a Kubernetes API server to run against (default: $KUBECONFIG, then .keelson/kubeconfig)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--controllers <list>', "built-in controllers to run, kube-controller-manager syntax ('*', 'name', '-name')", '')
    .addOption(new Option('--leader-elect [bool]', 'elect a leader through a coordination.k8s.io/v1 Lease before running controllers').default(true).argParser(bool))
    .option('--leader-election-id <name>', 'name of the leader election Lease (default: keelson-<first module name>)')
    .option('--leader-election-namespace <ns>', 'namespace of the leader election Lease', 'kube-system')
    .option('--cluster-cidr <cidr>', "node-ipam's range, each node's pod CIDR (a /24) is cut from it (default 127.64.0.0/11)", cidr)
    .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0 picks a free one)', port, 8080)
    .option('--metrics-bind-address <addr>', 'address to serve metrics and probes on', '127.0.0.1')
    .option('--shutdown-timeout <seconds>', 'how long running reconciles may take to finish on SIGTERM', (v) => Number(v), 30)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'));
  addNodeLifecycleFlags(run).action(async (options) => runCommand(options));

  const up = root
    .command('up')
    .description('start the control plane in one process: store, API server (HTTPS, token), built-in controllers; writes <data-dir>/kubeconfig')
    .exitOverride()
    .option('--data-dir <dir>', 'where the store, the PKI and the kubeconfig live', '.keelson')
    .option('--store <url>', 'store URL (default: sqlite:<data-dir>/keelson.db); memory: or etcd://host:port[,host:port...]')
    .option('--bind-address <addr>', 'address the API server listens on (the serving certificate covers it)', '127.0.0.1')
    .option('--port <port>', 'API server port (0 picks a free one)', port, 6443)
    .option('--controllers <list>', "built-in controllers to run, kube-controller-manager syntax ('*', 'name', '-name')", '*')
    .option('--metrics-port <port>', 'port of the controller manager\'s /metrics, /healthz and /readyz (0 picks a free one)', port, 10257)
    .option('--nodes <k>', 'node agents to run in this process: node-1…node-K on 127.1.0.1…K (pods in <data-dir>/nodes/<name>)', count, 1)
    .option('--kubelet-port <port>', "port of each in-process node agent's endpoints, on its own address (0 picks free ones)", port, 10250)
    .addOption(new Option('--proxy-mode <mode>', "the host's service proxy (one for all in-process node agents): userspace forwards through Node.js; nftables programs DNAT rules in the table ip keelson (Linux, root)").choices(['userspace', 'nftables']).default('userspace'))
    .addOption(new Option('--proxy-relay <relay>', PROXY_RELAY_HELP).choices([...RELAY_MODES]).default('auto'))
    .addOption(new Option('--lease-renew-interval <duration>', "how often each in-process node agent renews its Lease in kube-node-lease").default(2000, '2s').argParser(duration))
    .option('--node-lease-duration-seconds <n>', "the node Leases' leaseDurationSeconds", count, 40)
    .addOption(new Option('--stats-interval <duration>', "how often each in-process node agent samples its pods' CPU and memory (what kubectl top shows; the metrics window)").default(10_000, '10s').argParser(duration))
    .option('--cluster-cidr <cidr>', "the range each node's pod CIDR (a /24) is cut from by node-ipam; pod IPs come from it", cidr, '127.64.0.0/11')
    .option('--service-cluster-ip-range <cidr>', 'the range Service clusterIPs are allocated from', serviceRange, '127.96.0.0/12')
    .option('--service-node-port-range <range>', 'the range NodePorts are allocated from', portRangeFlag, '30000-32767')
    .addOption(new Option('--vip-heartbeat-interval <duration>', "VIP failover: how often each in-process node agent sends heartbeats and renews the VIP leases it holds").default(100, '100ms').argParser(duration))
    .addOption(new Option('--vip-lease-duration <duration>', 'VIP failover: how long a VIP lease renewal lasts (a dead holder is replaced after at most this long)').default(undefined, '3 heartbeat intervals').argParser(duration))
    .option('--default-not-ready-toleration-seconds <n>', 'tolerationSeconds of the not-ready:NoExecute toleration added to every pod (DefaultTolerationSeconds admission)', count, 5)
    .option('--default-unreachable-toleration-seconds <n>', 'tolerationSeconds of the unreachable:NoExecute toleration added to every pod (DefaultTolerationSeconds admission)', count, 5)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'));
  addNodeLifecycleFlags(up).action(async (options) => upCommand(options));

  root
    .command('node')
    .description('join this machine as a node: a node agent that registers a Node, renews its Lease and runs the pods bound to it as processes')
    .exitOverride()
    .requiredOption('--name <name>', 'the Node name')
    .option('--kubeconfig <file>', 'the API server to join (default: $KUBECONFIG, then .keelson/kubeconfig)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--store <url>', 'join through a keelson store instead: sqlite:PATH, memory: or etcd://host:port[,host:port...]')
    .option('--address <ip>', "the node's own loopback address, 127.1.0.N (default: the one it had, else the first no Node uses)", loopbackAddress)
    .option('--port <port>', "port of the agent's endpoints (/containerLogs, /stats/summary, /metrics, /healthz) on its address (0 picks a free one)", port, 10250)
    .option('--cpu <quantity>', 'CPU capacity (default: the number of CPUs of this machine)', quantity)
    .option('--memory <quantity>', 'memory capacity, e.g. 4Gi (default: the memory of this machine)', quantity)
    .option('--pods <n>', 'pod capacity', count, 110)
    .option('--data-dir <dir>', "where the pods' logs and records live (default .keelson/nodes/<name>)")
    .addOption(new Option('--lease-renew-interval <duration>', 'how often the node Lease in kube-node-lease is renewed').default(2000, '2s').argParser(duration))
    .option('--node-lease-duration-seconds <n>', "the Lease's leaseDurationSeconds", count, 40)
    .addOption(new Option('--stats-interval <duration>', "how often the pods' CPU and memory are sampled (what kubectl top shows)").default(10_000, '10s').argParser(duration))
    .addOption(new Option('--proxy-mode <mode>', "the node's service proxy (cluster IPs, and node ports on its address; shares them with other proxies on this host through SO_REUSEPORT): userspace forwards through Node.js; nftables programs DNAT rules in a table of its own, ip keelson-node-<name> (Linux, root)").choices(['userspace', 'nftables']).default('userspace'))
    .addOption(new Option('--proxy-relay <relay>', PROXY_RELAY_HELP).choices([...RELAY_MODES]).default('auto'))
    .option('--vip-heartbeat-address <ip>', "VIP failover: the address on the node network to send and receive heartbeats on (default: the node's address)", ipv4Address)
    .option('--vip-heartbeat-port <port>', 'VIP failover: the UDP port of the heartbeats (0 picks a free one; the Node annotation vip.keelson.dev/heartbeat publishes it)', port, 0)
    .addOption(new Option('--vip-heartbeat-interval <duration>', 'VIP failover: how often heartbeats are sent and held VIP leases renewed').default(100, '100ms').argParser(duration))
    .addOption(new Option('--vip-lease-duration <duration>', 'VIP failover: how long a VIP lease renewal lasts (a dead holder is replaced after at most this long)').default(undefined, '3 heartbeat intervals').argParser(duration))
    .option('--token-file <file>', "require this bearer token (the API server's) on the agent's endpoints; without it only loopback clients are served")
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .action(async (options) => nodeCommand(options));

  root
    .command('crds')
    .description('write crds/<plural>.<group>.yaml for every @Resource class of the modules')
    .exitOverride()
    .requiredOption('--module <file>', 'a compiled ES module exporting @Resource classes; repeat for more', collect, [])
    .option('--out <dir>', 'output directory', 'crds')
    .action(async (options) => crdsCommand(options));

  return root;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" with exit code 0; usage errors are 2, with one line already printed.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`keelson: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`keelson: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
