/**
 * The objects of `metrics.k8s.io/v1beta1` — NodeMetrics and PodMetrics — made from kubelet
 * Summary API documents, with metrics-server's rules and formats:
 *
 * - CPU is the sample's `usageNanoCores` (a node, or a pod with any container, that has no rate
 *   yet — one sample only — has no metrics: it is left out); memory is `workingSetBytes`;
 * - quantities are written in their canonical form, as metrics-server's JSON carries them: CPU
 *   in nanocores (`123456789n`, `250u`, `1500m`), memory in bytes with binary suffixes
 *   (`20480Ki`, `3Mi`);
 * - `timestamp` is the sample's time, `window` the sampling window (Go's duration text, `10s`),
 *   `metadata.creationTimestamp` the time of the request, the labels those of the Node or Pod.
 *
 * Pure functions; the metrics API (metrics-api.ts) reads the summaries and serves the objects.
 */
import type { Node, Pod } from '../api/kinds.js';
import { formatTimestamp } from '../api/meta.js';

/** The group version served. */
export const METRICS_API_VERSION = 'metrics.k8s.io/v1beta1';

/** CPU figures of the kubelet Summary API (the part read here). */
export interface SummaryCPUStats {
  time?: string;
  /** Average over the last sampling window, billionths of a core. */
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}

/** Memory figures of the kubelet Summary API (the part read here), bytes. */
export interface SummaryMemoryStats {
  time?: string;
  workingSetBytes?: number;
  usageBytes?: number;
}

/** One container of a Summary pod. */
export interface SummaryContainerStats {
  name: string;
  cpu?: SummaryCPUStats;
  memory?: SummaryMemoryStats;
}

/** One pod of a Summary. */
export interface SummaryPodStats {
  podRef: { name: string; namespace: string; uid?: string };
  containers?: SummaryContainerStats[];
  cpu?: SummaryCPUStats;
  memory?: SummaryMemoryStats;
}

/** A kubelet Summary API document (`GET /stats/summary`), as far as metrics need it. */
export interface KubeletSummary {
  node: { nodeName: string; cpu?: SummaryCPUStats; memory?: SummaryMemoryStats };
  pods?: SummaryPodStats[];
}

/** CPU and memory, as quantities. */
export interface MetricsUsage {
  cpu: string;
  memory: string;
}

/** `metrics.k8s.io/v1beta1` NodeMetrics. */
export interface NodeMetrics {
  kind?: 'NodeMetrics';
  apiVersion?: typeof METRICS_API_VERSION;
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  usage: MetricsUsage;
}

/** `metrics.k8s.io/v1beta1` PodMetrics. */
export interface PodMetrics {
  kind?: 'PodMetrics';
  apiVersion?: typeof METRICS_API_VERSION;
  metadata: { name: string; namespace: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  containers: { name: string; usage: MetricsUsage }[];
}

const DECIMAL_SUFFIXES: Record<number, string> = { [-9]: 'n', [-6]: 'u', [-3]: 'm', 0: '', 3: 'k', 6: 'M', 9: 'G', 12: 'T', 15: 'P', 18: 'E' };
const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** The canonical DecimalSI text of `mantissa × 10^exponent` (apimachinery's Quantity.String). */
function decimalQuantity(mantissa: bigint, exponent: number): string {
  if (mantissa === 0n) return '0';
  while (mantissa % 10n === 0n && exponent < 18) {
    mantissa /= 10n;
    exponent++;
  }
  // The exponent goes down to a multiple of 3 (a suffix), the mantissa up.
  const down = ((exponent % 3) + 3) % 3;
  mantissa *= 10n ** BigInt(down);
  exponent -= down;
  while (exponent > 18) {
    mantissa *= 1000n;
    exponent -= 3;
  }
  return `${mantissa}${DECIMAL_SUFFIXES[exponent] ?? ''}`;
}

/** CPU in nanocores as a canonical quantity: `123456789n`, `250u`, `5m`, `2`; never negative. */
export function formatNanoCores(nanoCores: number): string {
  return decimalQuantity(BigInt(Math.max(0, Math.round(nanoCores))), -9);
}

/** Bytes as a canonical BinarySI quantity: `20480Ki`, `3Mi`, `1234567`; below 1024 decimal (`512`, `1k`). */
export function formatBytes(bytes: number): string {
  let value = BigInt(Math.max(0, Math.round(bytes)));
  if (value < 1024n) return decimalQuantity(value, 0);
  let exponent = 0;
  while (value % 1024n === 0n && exponent < BINARY_SUFFIXES.length - 1) {
    value /= 1024n;
    exponent++;
  }
  return `${value}${BINARY_SUFFIXES[exponent]}`;
}

/** The sum of CPU quantities this module wrote (nanocores), canonical. */
export function sumNanoCores(quantities: readonly string[]): string {
  return formatNanoCores(quantities.reduce((sum, q) => sum + parseCanonical(q, DECIMAL_VALUES) * 1e9, 0));
}

/** The sum of memory quantities this module wrote (bytes), canonical. */
export function sumBytes(quantities: readonly string[]): string {
  return formatBytes(quantities.reduce((sum, q) => sum + parseCanonical(q, BINARY_VALUES), 0));
}

const DECIMAL_VALUES: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY_VALUES: Record<string, number> = { ...DECIMAL_VALUES, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

function parseCanonical(quantity: string, units: Record<string, number>): number {
  const match = /^(\d+)([A-Za-z]*)$/.exec(quantity);
  return match ? Number(match[1]) * (units[match[2]!] ?? 1) : 0;
}

/** Go's `time.Duration.String()` of milliseconds: `10s`, `300ms`, `1.5s`, `1m30s`, `1h0m0s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (Math.abs(ms) < 1000) return `${trimNumber(ms)}ms`;
  let rest = ms / 1000;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest -= minutes * 60;
  const seconds = `${trimNumber(rest)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

function trimNumber(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}

function usageOf(cpu: SummaryCPUStats | undefined, memory: SummaryMemoryStats | undefined): MetricsUsage | undefined {
  if (typeof cpu?.usageNanoCores !== 'number') return undefined;
  return { cpu: formatNanoCores(cpu.usageNanoCores), memory: formatBytes(memory?.workingSetBytes ?? 0) };
}

function sampleTime(time: string | undefined, fallbackMs: number): string {
  const ms = time ? Date.parse(time) : NaN;
  return formatTimestamp(Number.isNaN(ms) ? fallbackMs : ms);
}

/** What every metrics object of one request shares. */
export interface MetricsContext {
  /** The request's time, ms since the epoch (`creationTimestamp`). */
  now: number;
  /** The sampling window, ms. */
  windowMs: number;
}

/** The NodeMetrics of a node from its agent's summary, or undefined while it has no CPU rate. */
export function nodeMetricsOf(node: Node, summary: KubeletSummary, context: MetricsContext): NodeMetrics | undefined {
  const usage = usageOf(summary.node.cpu, summary.node.memory);
  if (!usage) return undefined;
  const labels = node.metadata?.labels;
  return {
    metadata: { name: node.metadata?.name ?? summary.node.nodeName, creationTimestamp: formatTimestamp(context.now), ...(labels && Object.keys(labels).length ? { labels: { ...labels } } : {}) },
    timestamp: sampleTime(summary.node.cpu?.time, context.now),
    window: formatGoDuration(context.windowMs),
    usage,
  };
}

/**
 * The PodMetrics of a pod from its summary entry, or undefined when it has no container figures
 * or some container has no CPU rate yet (metrics-server reports a pod whole or not at all).
 */
export function podMetricsOf(pod: Pod, stats: SummaryPodStats, context: MetricsContext): PodMetrics | undefined {
  const containers: PodMetrics['containers'] = [];
  let earliest: string | undefined;
  for (const container of stats.containers ?? []) {
    const usage = usageOf(container.cpu, container.memory);
    if (!usage) return undefined;
    containers.push({ name: container.name, usage });
    const time = container.cpu?.time;
    if (time && (!earliest || Date.parse(time) < Date.parse(earliest))) earliest = time;
  }
  if (containers.length === 0) return undefined;
  const labels = pod.metadata?.labels;
  return {
    metadata: {
      name: pod.metadata?.name ?? stats.podRef.name,
      namespace: pod.metadata?.namespace ?? stats.podRef.namespace,
      creationTimestamp: formatTimestamp(context.now),
      ...(labels && Object.keys(labels).length ? { labels: { ...labels } } : {}),
    },
    timestamp: sampleTime(earliest ?? stats.cpu?.time, context.now),
    window: formatGoDuration(context.windowMs),
    containers,
  };
}
