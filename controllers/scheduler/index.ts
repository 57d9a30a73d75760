/**
 * The scheduler: places pending pods on nodes with kube-scheduler's semantics — a plugin
 * framework (filter and score plugins declared with `@SchedulerPlugin`, users add their own by
 * binding them to `SchedulerPlugins`), a scheduling queue with backoff and event-driven retries,
 * assumed pods so consecutive decisions see each other, and bindings that carry the pod's uid.
 *
 * ```ts
 * const manager = new Manager({ client });
 * manager.container.bind(SchedulerPlugins).to(MyPlugin);        // optional: your own plugins
 * manager.add(Scheduler);
 * await manager.start();
 * ```
 */
export { Scheduler, ClientBinder, SchedulerBinder, SchedulerConfiguration, numFeasibleNodesToFind, resolvePlugins } from './scheduler.js';
export type { Binder, ResolvedPlugin, SchedulerOptions } from './scheduler.js';
export { SchedulerCache, type CachedPod } from './cache.js';
export { SchedulingQueue, mayHelp, nodeChanges, podKey, podPriority, podSpecChanged } from './queue.js';
export type { ClusterEvent, NodeChange, QueuedPodInfo, SchedulingQueueOptions } from './queue.js';
export { fitErrorMessage, withUnschedulableCondition, NO_NODES_AVAILABLE, UnschedulableReporter } from './unschedulable.js';
export type { Diagnosis, UnschedulableReason } from './unschedulable.js';
export { DEFAULT_SCHEDULER_NAME, SchedulerPlugin, SchedulerPlugins, schedulerPluginOptions } from './framework.js';
export type { CycleState, FilterFailure, NodeInfo, PreFilterResult, PreScoreResult, Resources, SchedulerPluginImpl, SchedulerPluginOptions, Snapshot } from './framework.js';
export { buildSnapshot, emptyResources, isTerminated, MutableNodeInfo, podHostPorts, podRequests } from './snapshot.js';
