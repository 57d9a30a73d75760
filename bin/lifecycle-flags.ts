/**
 * The node lifecycle flags shared by `keelson up` and `keelson run` (kube-controller-manager's
 * names, keelson's defaults): every number of the node lifecycle controller is a flag.
 */
import { Option, type Command } from 'commander';
import { NODE_LIFECYCLE_DEFAULTS, resolveNodeLifecycleOptions, type NodeLifecycleOptions } from '../controllers/node-lifecycle/index.js';
import { count, duration, fraction, rate } from './flags.js';
import { CliError } from './modules.js';

/** The parsed flags (undefined: the controller's default). */
export interface NodeLifecycleFlags {
  nodeMonitorGracePeriod?: number;
  nodeStartupGracePeriod?: number;
  nodeEvictionRate?: number;
  secondaryNodeEvictionRate?: number;
  largeClusterSizeThreshold?: number;
  unhealthyZoneThreshold?: number;
}

/** Adds the node lifecycle flags to a command. */
export function addNodeLifecycleFlags(command: Command): Command {
  const d = NODE_LIFECYCLE_DEFAULTS;
  return command
    .addOption(new Option('--node-monitor-grace-period <duration>', `a node whose Lease was not renewed for this long becomes Ready=Unknown (node-lifecycle; default ${d.nodeMonitorGracePeriodMs / 1000}s)`).argParser(duration))
    .addOption(new Option('--node-startup-grace-period <duration>', `the grace of a node that never reported, from its creation (node-lifecycle; default the monitor grace period)`).argParser(duration))
    .addOption(new Option('--node-eviction-rate <per-second>', `nodes tainted NoExecute per second in a healthy zone (node-lifecycle; default ${d.nodeEvictionRate})`).argParser(rate))
    .addOption(new Option('--secondary-node-eviction-rate <per-second>', `the rate in a partially disrupted zone of a large cluster (node-lifecycle; default ${d.secondaryNodeEvictionRate})`).argParser(rate))
    .addOption(new Option('--large-cluster-size-threshold <n>', `a zone of at most this many nodes halts evictions when partially disrupted (node-lifecycle; default ${d.largeClusterSizeThreshold})`).argParser(count))
    .addOption(new Option('--unhealthy-zone-threshold <fraction>', `the share of not-Ready nodes that makes a zone partially disrupted (node-lifecycle; default ${d.unhealthyZoneThreshold})`).argParser(fraction));
}

/** The flags as the controller's options; a combination the controller refuses is a usage error (exit 2). */
export function nodeLifecycleOptions(flags: NodeLifecycleFlags): NodeLifecycleOptions {
  const options: NodeLifecycleOptions = {};
  if (flags.nodeMonitorGracePeriod !== undefined) options.nodeMonitorGracePeriodMs = flags.nodeMonitorGracePeriod;
  if (flags.nodeStartupGracePeriod !== undefined) options.nodeStartupGracePeriodMs = flags.nodeStartupGracePeriod;
  if (flags.nodeEvictionRate !== undefined) options.nodeEvictionRate = flags.nodeEvictionRate;
  if (flags.secondaryNodeEvictionRate !== undefined) options.secondaryNodeEvictionRate = flags.secondaryNodeEvictionRate;
  if (flags.largeClusterSizeThreshold !== undefined) options.largeClusterSizeThreshold = flags.largeClusterSizeThreshold;
  if (flags.unhealthyZoneThreshold !== undefined) options.unhealthyZoneThreshold = flags.unhealthyZoneThreshold;
  try {
    resolveNodeLifecycleOptions(options);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  return options;
}
