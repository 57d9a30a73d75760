#!/usr/bin/env node
/**
 * The keelson binary. `keelson run` runs controllers from user modules against a source;
 * `keelson crds` writes the CRDs of a module's custom kinds. Every flag is in `--help`; a bad
 * flag is one clear line and exit code 2.
 */
import 'reflect-metadata';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { crdsCommand } from './crds.js';
import { CliError } from './modules.js';
import { runCommand } from './run.js';
import { upCommand } from './up.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function bool(value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
}

function program(): Command {
  const root = new Command('keelson')
    .description('Kubernetes-style controllers in TypeScript, and a small control plane built with them')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.trimEnd().split('\n')[0] + '\n') });

  root
    .command('run')
    .description('run the controllers of user modules (plus chosen built-ins) against a source, with leader election')
    .exitOverride()
    .requiredOption('--module <file>', 'a compiled ES module exporting @Controller (and @Resource) classes; repeat for more', collect, [])
    .option('--store <url>', 'keelson store to run against: sqlite:PATH, memory: or etcd://host:port[,host:port...]')
    .option('--kubeconfig <file>', 'a Kubernetes API server to run against (default: $KUBECONFIG, then .keelson/kubeconfig)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--controllers <list>', "built-in controllers to run, kube-controller-manager syntax ('*', 'name', '-name')", '')
    .addOption(new Option('--leader-elect [bool]', 'elect a leader through a coordination.k8s.io/v1 Lease before running controllers').default(true).argParser(bool))
    .option('--leader-election-id <name>', 'name of the leader election Lease (default: keelson-<first module name>)')
    .option('--leader-election-namespace <ns>', 'namespace of the leader election Lease', 'kube-system')
    .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0 picks a free one)', port, 8080)
    .option('--metrics-bind-address <addr>', 'address to serve metrics and probes on', '127.0.0.1')
    .option('--shutdown-timeout <seconds>', 'how long running reconciles may take to finish on SIGTERM', (v) => Number(v), 30)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .action(async (options) => runCommand(options));

  root
    .command('up')
    .description('start the control plane in one process: store, API server (HTTPS, token), built-in controllers; writes <data-dir>/kubeconfig')
    .exitOverride()
    .option('--data-dir <dir>', 'where the store, the PKI and the kubeconfig live', '.keelson')
    .option('--store <url>', 'store URL (default: sqlite:<data-dir>/keelson.db); memory: or etcd://host:port[,host:port...]')
    .option('--bind-address <addr>', 'address the API server listens on (the serving certificate covers it)', '127.0.0.1')
    .option('--port <port>', 'API server port (0 picks a free one)', port, 6443)
    .option('--controllers <list>', "built-in controllers to run, kube-controller-manager syntax ('*', 'name', '-name')", '*')
    .option('--metrics-port <port>', 'port of the controller manager\'s /metrics, /healthz and /readyz (0 picks a free one)', port, 10257)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .action(async (options) => upCommand(options));

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
