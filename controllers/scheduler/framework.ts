/**
 * The scheduling framework: what a scheduler plugin is. The scheduler takes one unbound pod at a
 * time, runs every plugin's `preFilter` once, then `filter` on each candidate node (a node must
 * pass every filter), `score` on the feasible ones (0–100 each, normalized per plugin, weighted),
 * and binds the pod to the best node. Plugins are injectable classes declared with
 * `@SchedulerPlugin`; users add their own the same way (see README, "Scheduler plugins").
 *
 * Plugins see the cluster through a {@link Snapshot}: nodes with the pods on them (bound or
 * "assumed" — chosen but not yet observed as bound), consistent for one scheduling cycle.
 */
import { injectable } from 'inversify';
import type { Node, Pod } from '../../lib/index.js';

/** Resource amounts in canonical units: cpu in millicores, memory in bytes, pods as a count. */
export interface Resources {
  milliCPU: number;
  memory: number;
  pods: number;
  /** Any other resource by name (extended resources), in its canonical integer units. */
  scalar: Record<string, number>;
}

/** A node and what is scheduled on it, as of the snapshot. */
export interface NodeInfo {
  readonly node: Node;
  /** Pods bound or assumed on the node (not terminated). */
  readonly pods: readonly Pod[];
  /** Allocatable resources (status.allocatable, falling back to capacity). */
  readonly allocatable: Resources;
  /** Sum of the requests of `pods` (kube's "non-zero" defaults are applied by scoring plugins). */
  readonly requested: Resources;
  /**
   * Sum of the pods' cpu/memory with kube's non-zero defaults (100m / 200Mi for a container
   * requesting none), kept up to date by the node info (kube's NonZeroRequested); when absent,
   * scoring plugins sum `pods` themselves.
   */
  readonly nonZeroRequested?: { readonly milliCPU: number; readonly memory: number };
  /** Host ports in use: `protocol/hostIP/port` entries. */
  readonly usedPorts: ReadonlySet<string>;
}

/** The cluster as one scheduling cycle sees it. */
export interface Snapshot {
  /** Every node, in a stable order. */
  readonly nodes: readonly NodeInfo[];
  /** A node by name. */
  get(name: string): NodeInfo | undefined;
  /** Every pod bound or assumed anywhere (for inter-pod affinity and topology spread). */
  readonly pods: readonly Pod[];
}

/** Scratch space for one pod's scheduling cycle (a plugin's preFilter results, keyed by plugin). */
export type CycleState = Map<string, unknown>;

/** Why a node does not fit; `reason` strings are aggregated into the unschedulable message. */
export interface FilterFailure {
  /** A short reason, counted across nodes: "Insufficient cpu", "node(s) didn't match Pod's node affinity/selector". */
  reason: string;
  /**
   * True when nothing about this node can change to make it fit without the pod changing
   * (kube's UnschedulableAndUnresolvable): preemption and retries on node events skip it.
   */
  unresolvable?: boolean;
}

/** A plugin's answer to preFilter: a failure makes the pod unschedulable on every node. */
export type PreFilterResult = FilterFailure | { nodeNames?: ReadonlySet<string> } | void;

/**
 * A plugin's answer to preScore: `{ skip: true }` (kube's Skip status) says every node would
 * score 0 after normalizing this cycle, so the scheduler calls neither score nor normalize.
 */
export type PreScoreResult = { skip: true } | void;

/** What a plugin may implement. Every method is optional; a plugin does at least one thing. */
export interface SchedulerPluginImpl {
  /** Once per cycle, before filtering: compute what filter/score need; may narrow the nodes. */
  preFilter?(pod: Pod, snapshot: Snapshot, state: CycleState): PreFilterResult;
  /** Does the pod fit this node? `undefined` = yes. */
  filter?(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): FilterFailure | undefined;
  /** Once per cycle, before scoring the feasible nodes; may skip this plugin's scoring (see {@link PreScoreResult}). */
  preScore?(pod: Pod, nodes: readonly NodeInfo[], snapshot: Snapshot, state: CycleState): PreScoreResult;
  /** How good is this node, 0–100 (after normalize). */
  score?(pod: Pod, node: NodeInfo, snapshot: Snapshot, state: CycleState): number;
  /** Rescales this plugin's raw scores to 0–100 in place (e.g. kube's DefaultNormalizeScore). */
  normalize?(scores: Map<string, number>, pod: Pod, state: CycleState): void;
  /**
   * The same as `normalize`, over the scores of `nodes` by position — what the scheduler calls
   * when a plugin has it (no map of node names to build per cycle). A plugin with `normalize`
   * should give both the same meaning.
   */
  normalizeScores?(scores: Float64Array, nodes: readonly NodeInfo[], pod: Pod, state: CycleState): void;
}

/** What `@SchedulerPlugin` declares. */
export interface SchedulerPluginOptions {
  /** Unique name, e.g. `NodeResourcesFit`. */
  name: string;
  /** Weight of its score (default 1). */
  weight?: number;
}

const PLUGIN: unique symbol = Symbol.for('keelson.scheduler.plugin') as never;

/** Declares a scheduler plugin class (injectable; instantiate it through the container). */
export function SchedulerPlugin(options: SchedulerPluginOptions): ClassDecorator {
  return (target) => {
    Object.defineProperty(target, PLUGIN, { value: { weight: 1, ...options }, enumerable: false });
    injectable()(target as never);
  };
}

/** The options a plugin class was declared with, or undefined if it is not a plugin. */
export function schedulerPluginOptions(cls: unknown): Required<SchedulerPluginOptions> | undefined {
  return typeof cls === 'function' ? (cls as { [PLUGIN]?: Required<SchedulerPluginOptions> })[PLUGIN] : undefined;
}

/**
 * The DI token under which the scheduler finds its plugins (multi-binding): bind your plugin
 * class to it — `container.bind(SchedulerPlugins).to(MyPlugin)` — next to the default ones.
 */
export const SchedulerPlugins: unique symbol = Symbol.for('keelson.scheduler.plugins') as never;

/** The scheduler's name: pods with `spec.schedulerName` equal to it (or unset) are ours. */
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
