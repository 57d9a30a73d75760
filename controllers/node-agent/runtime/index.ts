/**
 * The pod runtime of keelson's node agent: how a pod's containers run on this machine — as
 * processes, each under a supervisor that takes it down when the agent dies. The agent (the
 * kubelet role) talks to it through the {@link PodRuntime} contract in `types.ts`:
 *
 * - `process-runtime.ts`: {@link ProcessRuntime}, the implementation (one `PodWorker` per pod);
 * - `env.ts`: {@link ClientEnvResolver}, containers' environments through the public Client;
 * - `supervisor.ts`: the supervisor program; `supervised-process.ts`: the runtime's handle on it;
 * - `container.ts`, `pod-worker.ts`: kubelet's container and pod lifecycle;
 * - `probes.ts`, `handlers.ts`: probes and hooks; `backoff.ts`: crash-loop back-off;
 * - `status.ts`: kubelet's phase; `logs.ts`, `layout.ts`: log files; `usage.ts`: /proc sampling;
 * - `recovery.ts`: what a runtime finds of its predecessor over the same data dir.
 */
export type * from './types.js';
export { ProcessRuntime, type ProcessRuntimeOptions } from './process-runtime.js';
export { ClientEnvResolver, expandVariables, fieldRefValue, resourceFieldRefValue, serviceEnvironment, type ClientEnvResolverOptions } from './env.js';
export { CrashLoopBackOff, DEFAULT_BACKOFF, formatGoDuration, type BackOffOptions } from './backoff.js';
export { computePhase, formatPod, isSidecar, restartPolicyOf, shouldRestart } from './status.js';
export { listProcesses, sampleGroups, type GroupUsage, type ProcStat } from './usage.js';
export { SUPERVISOR_PATH } from './supervised-process.js';
