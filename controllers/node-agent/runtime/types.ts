/**
 * The contract between the node agent (the kubelet role: which pods should run here, their
 * status in the API) and the pod runtime (how a pod's containers run here: processes under a
 * supervisor, restarts with backoff, probes, logs, graceful termination). The agent tells the
 * runtime what each pod should be; the runtime does it and reports what it sees.
 */
import type { Pod } from '../../../lib/index.js';

/** Values for a container's environment that need the API (ConfigMaps, Secrets, Services). */
export interface EnvResolver {
  /**
   * The full environment of `container` in `pod`, as kubelet computes it: `envFrom`, `env`
   * (values, `$(VAR)` expansion, `valueFrom` fieldRef/resourceFieldRef/configMapKeyRef/secretKeyRef),
   * the Service variables (`<SVC>_SERVICE_HOST`, `_PORT`, …) when `enableServiceLinks`, and
   * `POD_IP`. Throws (with a message fit for a container's waiting reason) when a referenced
   * key is missing and not optional — the runtime then reports `CreateContainerConfigError`.
   */
  resolve(pod: Pod, containerName: string, podIP: string): Promise<Record<string, string>>;
}

/** The state of one container, in the shape of a core/v1 ContainerStatus. */
export interface ContainerStatusView {
  name: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerStateView;
  lastState: ContainerStateView;
}

/** core/v1 ContainerState: exactly one key set (or none: `{}`). */
export interface ContainerStateView {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: { exitCode: number; signal?: number; reason: string; message?: string; startedAt?: string; finishedAt: string; containerID?: string };
}

/** What the runtime reports about one pod. */
export interface PodRuntimeStatus {
  uid: string;
  /** Pending, Running, Succeeded or Failed (kubelet's getPhase). */
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  containerStatuses: ContainerStatusView[];
  initContainerStatuses: ContainerStatusView[];
  /** Every container ready (readiness probes passing). */
  ready: boolean;
  /** When the pod's sandbox (its IP) was set up. */
  startTime?: string;
  /** Why the pod failed as a whole, if it did (e.g. DeadlineExceeded). */
  reason?: string;
  message?: string;
}

/** CPU and memory of a pod's processes, read from /proc. */
export interface PodUsage {
  uid: string;
  /** Cumulative CPU time of the pod's processes (user + system), seconds. */
  cpuSeconds: number;
  /** Resident set size of the pod's processes, bytes. */
  memoryBytes: number;
  containers: { name: string; cpuSeconds: number; memoryBytes: number }[];
  /** When sampled (ms since epoch). */
  timestamp: number;
}

/** Which log of a container to read. */
export interface LogOptions {
  /** The log of the previous (terminated) instance. */
  previous?: boolean;
  /** Keep streaming new lines until the signal aborts or the container instance ends. */
  follow?: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  /** Prefix each line with its RFC 3339 timestamp. */
  timestamps?: boolean;
  /** Only lines newer than this many seconds. */
  sinceSeconds?: number;
  signal?: AbortSignal;
}

/**
 * Something that happened to a pod's container and deserves an Event, as kubelet records them:
 * `Started`, `Failed`, `Unhealthy` (every failed probe), `Killing` (a failed liveness or startup
 * probe), `BackOff` (a restart held by the crash-loop back-off).
 */
export interface RuntimeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** The container concerned. */
  container: string;
}

/** What the node agent needs of a pod runtime. */
export interface PodRuntime {
  /**
   * Makes the pod's containers run as its spec says (idempotent: call on every change).
   * `podIP` is the pod's address (bound by the processes via `$POD_IP`).
   */
  sync(pod: Pod, podIP: string): void;
  /**
   * Stops every container of the pod: SIGTERM, then SIGKILL after `gracePeriodSeconds`;
   * resolves when every process is gone. The pod is then forgotten.
   */
  kill(uid: string, gracePeriodSeconds: number): Promise<void>;
  /** The runtime's view of a pod it runs, or undefined. */
  status(uid: string): PodRuntimeStatus | undefined;
  /** The uids of the pods the runtime currently manages. */
  pods(): string[];
  /** Subscribes to status changes (a container started, exited, became ready…). Returns an unsubscribe. */
  onChange(listener: (uid: string) => void): () => void;
  /** Subscribes to the runtime's events about containers (see {@link RuntimeEvent}). Returns an unsubscribe. */
  onEvent?(listener: (pod: Pod, event: RuntimeEvent) => void): () => void;
  /** A container's log, as text chunks. Throws a 404-ish error when there is no such log. */
  logs(uid: string, container: string, options?: LogOptions): AsyncIterable<string>;
  /** Resource usage of a pod's processes. */
  usage(uid: string): PodUsage | undefined;
  /** Stops everything (agent shutdown): every process ends, nothing is left running. */
  shutdown(gracePeriodSeconds?: number): Promise<void>;
  /**
   * Optional housekeeping (kubelet's orphaned pod dirs): removes the files (logs, records) of every
   * pod that is neither in `keepUids` nor managed by the runtime. Logs of killed pods stay readable
   * until then; call it with the uids of the pods still bound to the node.
   */
  cleanup?(keepUids: Iterable<string>): Promise<void>;
}
