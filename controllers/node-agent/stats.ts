/**
 * Resource usage (the kubelet's cAdvisor role): every `intervalMs` (10 s, cAdvisor's housekeeping
 * interval) the collector asks the runtime for each pod's usage (CPU seconds and RSS of its
 * processes, read from /proc) and keeps the last two samples, so rates are computed between
 * samples — never from a single reading.
 *
 * The node's figures are those of its pods (plus the agent's own process when it runs alone as
 * `keelson node`): several nodes share one machine, so the machine's totals would say nothing
 * about one of them. The node's CPU counter only ever grows (a pod that goes away keeps what it
 * used), as a cgroup's does. Memory is RSS: working set and RSS are the same number here.
 *
 * It serves two views: the kubelet Summary API (`/stats/summary`, what metrics-server reads)
 * and kubelet's `/metrics/resource` Prometheus families.
 */
import type { Clock } from '../../lib/index.js';
import type { PodRuntime, PodUsage } from './runtime/types.js';

/** CPU figures of the Summary API. */
export interface CPUStats {
  time: string;
  /** Average over the last sampling window, in billionths of a core. */
  usageNanoCores?: number;
  /** Cumulative CPU time, nanoseconds. */
  usageCoreNanoSeconds: number;
}

/** Memory figures of the Summary API (bytes). */
export interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
}

/** One container of the Summary API. */
export interface ContainerStats {
  name: string;
  startTime: string;
  cpu: CPUStats;
  memory: MemoryStats;
}

/** One pod of the Summary API. */
export interface PodStats {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerStats[];
  cpu: CPUStats;
  memory: MemoryStats;
}

/** The kubelet Summary API document (`/stats/summary`). */
export interface Summary {
  node: { nodeName: string; startTime: string; cpu: CPUStats; memory: MemoryStats };
  pods: PodStats[];
}

/** Where a pod is known in the API (for names and start times). */
export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  startTime?: string;
}

/** Options of a {@link StatsCollector}. */
export interface StatsCollectorOptions {
  runtime: PodRuntime;
  clock: Clock;
  nodeName: string;
  /** The node's memory capacity (bytes), for `availableBytes`. */
  memoryCapacityBytes: number;
  /** The API identity of a pod the runtime runs (undefined: not reported). */
  podRef: (uid: string) => PodRef | undefined;
  /** Count the agent's own process in the node's figures (for a `keelson node` process). */
  includeAgentProcess?: boolean;
}

interface Window {
  previous?: PodUsage;
  latest: PodUsage;
}

const NANOS = 1e9;

function rate(latestSeconds: number, previousSeconds: number | undefined, latestMs: number, previousMs: number | undefined): number | undefined {
  if (previousSeconds === undefined || previousMs === undefined || latestMs <= previousMs) return undefined;
  return Math.max(0, Math.round(((latestSeconds - previousSeconds) / ((latestMs - previousMs) / 1000)) * NANOS));
}

function memory(time: string, bytes: number, availableBytes?: number): MemoryStats {
  return { time, ...(availableBytes !== undefined ? { availableBytes } : {}), usageBytes: bytes, workingSetBytes: bytes, rssBytes: bytes, pageFaults: 0, majorPageFaults: 0 };
}

/** Escapes a Prometheus label value. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Samples pod usage and serves it (see the file header). */
export class StatsCollector {
  private readonly windows = new Map<string, Window>();
  private readonly startMs: number;
  /** The node's cumulative CPU seconds, and the agent's own CPU seconds at the last sample. */
  private nodeCpuSeconds = 0;
  private nodeWindow: { previous?: { cpuSeconds: number; ms: number }; latest: { cpuSeconds: number; memoryBytes: number; ms: number } } | undefined;
  private agentCpuSeconds = 0;

  constructor(private readonly options: StatsCollectorOptions) {
    this.startMs = options.clock.now();
  }

  /** Samples every pod now. */
  sample(): void {
    const { runtime, clock } = this.options;
    const now = clock.now();
    const live = new Set(runtime.pods());
    let memoryBytes = 0;
    for (const uid of live) {
      const usage = runtime.usage(uid);
      if (!usage) continue;
      const window = this.windows.get(uid);
      // A pod's counter only grows while its processes live; a restart starts it over.
      const grown = window ? Math.max(0, usage.cpuSeconds - window.latest.cpuSeconds) : usage.cpuSeconds;
      this.nodeCpuSeconds += grown;
      memoryBytes += usage.memoryBytes;
      this.windows.set(uid, { ...(window ? { previous: window.latest } : {}), latest: usage });
    }
    for (const uid of [...this.windows.keys()]) if (!live.has(uid)) this.windows.delete(uid);
    if (this.options.includeAgentProcess) {
      const usage = process.cpuUsage();
      const agentSeconds = (usage.user + usage.system) / 1e6;
      this.nodeCpuSeconds += Math.max(0, agentSeconds - this.agentCpuSeconds);
      this.agentCpuSeconds = agentSeconds;
      memoryBytes += process.memoryUsage().rss;
    }
    const previous = this.nodeWindow?.latest;
    this.nodeWindow = { ...(previous ? { previous: { cpuSeconds: previous.cpuSeconds, ms: previous.ms } } : {}), latest: { cpuSeconds: this.nodeCpuSeconds, memoryBytes, ms: now } };
  }

  /** Samples every `intervalMs` until `signal` aborts. */
  async run(signal: AbortSignal, intervalMs = 10_000): Promise<void> {
    while (!signal.aborted) {
      this.sample();
      await this.options.clock.sleep(intervalMs, signal).catch(() => undefined);
    }
  }

  /** The Summary API document from the last samples (sampling first if there are none). */
  summary(): Summary {
    if (!this.nodeWindow) this.sample();
    const node = this.nodeWindow!;
    const nodeTime = new Date(node.latest.ms).toISOString();
    const pods: PodStats[] = [];
    for (const [uid, window] of this.windows) {
      const ref = this.options.podRef(uid);
      if (!ref) continue;
      const { latest, previous } = window;
      const time = new Date(latest.timestamp).toISOString();
      const startTime = ref.startTime ?? new Date(this.startMs).toISOString();
      const containers: ContainerStats[] = latest.containers.map((c) => {
        const before = previous?.containers.find((p) => p.name === c.name);
        const nanoCores = rate(c.cpuSeconds, before?.cpuSeconds, latest.timestamp, previous?.timestamp);
        return {
          name: c.name,
          startTime: this.containerStart(uid, c.name) ?? startTime,
          cpu: { time, ...(nanoCores !== undefined ? { usageNanoCores: nanoCores } : {}), usageCoreNanoSeconds: Math.round(c.cpuSeconds * NANOS) },
          memory: memory(time, c.memoryBytes),
        };
      });
      const nanoCores = rate(latest.cpuSeconds, previous?.cpuSeconds, latest.timestamp, previous?.timestamp);
      pods.push({
        podRef: { name: ref.name, namespace: ref.namespace, uid },
        startTime,
        containers,
        cpu: { time, ...(nanoCores !== undefined ? { usageNanoCores: nanoCores } : {}), usageCoreNanoSeconds: Math.round(latest.cpuSeconds * NANOS) },
        memory: memory(time, latest.memoryBytes),
      });
    }
    pods.sort((a, b) => `${a.podRef.namespace}/${a.podRef.name}`.localeCompare(`${b.podRef.namespace}/${b.podRef.name}`));
    const nodeNanoCores = rate(node.latest.cpuSeconds, node.previous?.cpuSeconds, node.latest.ms, node.previous?.ms);
    return {
      node: {
        nodeName: this.options.nodeName,
        startTime: new Date(this.startMs).toISOString(),
        cpu: { time: nodeTime, ...(nodeNanoCores !== undefined ? { usageNanoCores: nodeNanoCores } : {}), usageCoreNanoSeconds: Math.round(node.latest.cpuSeconds * NANOS) },
        memory: memory(nodeTime, node.latest.memoryBytes, Math.max(0, this.options.memoryCapacityBytes - node.latest.memoryBytes)),
      },
      pods,
    };
  }

  /** kubelet's `/metrics/resource` families, in the Prometheus text format (with sample timestamps). */
  resourceMetrics(): string {
    const summary = this.summary();
    const ms = (time: string) => Date.parse(time);
    const lines: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: string[]) => {
      lines.push(`# HELP ${name} [STABLE] ${help}`, `# TYPE ${name} ${type}`, ...samples);
    };
    const podLabels = (p: PodStats) => `namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"`;
    const containerLabels = (p: PodStats, c: ContainerStats) => `container="${label(c.name)}",${podLabels(p)}`;
    const { node, pods } = summary;
    family('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the container in core-seconds', pods.flatMap((p) => p.containers.map((c) => `container_cpu_usage_seconds_total{${containerLabels(p, c)}} ${c.cpu.usageCoreNanoSeconds / NANOS} ${ms(c.cpu.time)}`)));
    family('container_memory_working_set_bytes', 'gauge', 'Current working set of the container in bytes', pods.flatMap((p) => p.containers.map((c) => `container_memory_working_set_bytes{${containerLabels(p, c)}} ${c.memory.workingSetBytes} ${ms(c.memory.time)}`)));
    family('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds', pods.flatMap((p) => p.containers.map((c) => `container_start_time_seconds{${containerLabels(p, c)}} ${ms(c.startTime) / 1000}`)));
    family('node_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the node in core-seconds', [`node_cpu_usage_seconds_total ${node.cpu.usageCoreNanoSeconds / NANOS} ${ms(node.cpu.time)}`]);
    family('node_memory_working_set_bytes', 'gauge', 'Current working set of the node in bytes', [`node_memory_working_set_bytes ${node.memory.workingSetBytes} ${ms(node.memory.time)}`]);
    family('pod_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the pod in core-seconds', pods.map((p) => `pod_cpu_usage_seconds_total{${podLabels(p)}} ${p.cpu.usageCoreNanoSeconds / NANOS} ${ms(p.cpu.time)}`));
    family('pod_memory_working_set_bytes', 'gauge', 'Current working set of the pod in bytes', pods.map((p) => `pod_memory_working_set_bytes{${podLabels(p)}} ${p.memory.workingSetBytes} ${ms(p.memory.time)}`));
    family('resource_scrape_error', 'gauge', '1 if there was an error while getting container metrics, 0 otherwise', ['resource_scrape_error 0']);
    return lines.join('\n') + '\n';
  }

  private containerStart(uid: string, container: string): string | undefined {
    const status = this.options.runtime.status(uid);
    const running = status?.containerStatuses.find((c) => c.name === container)?.state.running;
    return running?.startedAt || undefined;
  }
}
