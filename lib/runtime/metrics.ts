/**
 * Prometheus metrics with controller-runtime's names, so dashboards and alerts written for Go
 * operators work unchanged: `workqueue_*`, `controller_runtime_reconcile_*`,
 * `controller_runtime_active_workers`, `leader_election_master_status`. Each manager owns one
 * registry (no process-global state); `/metrics` serves it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets (seconds) of controller-runtime's reconcile_time_seconds. */
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
/** Exponential buckets 1e-8 s … 1e1 s, as client-go's workqueue metrics. */
const QUEUE_BUCKETS = Array.from({ length: 10 }, (_, i) => 10 ** (i - 8));

/** A gauge bound to its labels. */
export interface GaugeChild {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
}
/** A counter bound to its labels. */
export interface CounterChild {
  inc(value?: number): void;
}
/** A histogram bound to its labels. */
export interface HistogramChild {
  observe(value: number): void;
}

/** The work queue metrics of one named queue (seconds for durations). */
export interface WorkQueueMetrics {
  depth: GaugeChild;
  adds: CounterChild;
  queueLatency: HistogramChild;
  workDuration: HistogramChild;
  unfinishedWork: GaugeChild;
  longestRunning: GaugeChild;
  retries: CounterChild;
}

/** Metrics that go nowhere (a queue used outside a manager). */
export const NO_QUEUE_METRICS: WorkQueueMetrics = (() => {
  const gauge: GaugeChild = { set() {}, inc() {}, dec() {} };
  const counter: CounterChild = { inc() {} };
  const histogram: HistogramChild = { observe() {} };
  return { depth: gauge, adds: counter, queueLatency: histogram, workDuration: histogram, unfinishedWork: gauge, longestRunning: gauge, retries: counter };
})();

/** The metric families of a manager, on its own registry. */
export class Metrics {
  /** The prom-client registry `/metrics` serves. */
  readonly registry: Registry;

  readonly workqueueDepth: Gauge;
  readonly workqueueAdds: Counter;
  readonly workqueueQueueDuration: Histogram;
  readonly workqueueWorkDuration: Histogram;
  readonly workqueueUnfinishedWork: Gauge;
  readonly workqueueLongestRunning: Gauge;
  readonly workqueueRetries: Counter;

  readonly reconcileTotal: Counter;
  readonly reconcileErrors: Counter;
  readonly terminalReconcileErrors: Counter;
  readonly reconcilePanics: Counter;
  readonly reconcileTime: Histogram;
  readonly maxConcurrentReconciles: Gauge;
  readonly activeWorkers: Gauge;

  readonly leaderElectionStatus: Gauge;

  /** @param options.processMetrics also collect Node's process metrics (CPU, memory, event loop). */
  constructor(options: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    const queueLabels = ['name', 'controller'];
    this.workqueueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: queueLabels, registers });
    this.workqueueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: queueLabels, registers });
    this.workqueueQueueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: queueLabels,
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workqueueWorkDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: queueLabels,
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workqueueUnfinishedWork = new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.',
      labelNames: queueLabels,
      registers,
    });
    this.workqueueLongestRunning = new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames: queueLabels,
      registers,
    });
    this.workqueueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: queueLabels, registers });

    const controller = ['controller'];
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: controller, registers });
    this.terminalReconcileErrors = new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: controller,
      registers,
    });
    this.reconcilePanics = new Counter({ name: 'controller_runtime_reconcile_panics_total', help: 'Total number of reconciliation panics per controller', labelNames: controller, registers });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: controller,
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.maxConcurrentReconciles = new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: controller,
      registers,
    });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: controller, registers });
    this.leaderElectionStatus = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease. Please make sure to group by name.',
      labelNames: ['name'],
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The work queue metrics of the queue `name` (children of the shared families). */
  forQueue(name: string): WorkQueueMetrics {
    const labels = { name, controller: name };
    return {
      depth: this.workqueueDepth.labels(labels),
      adds: this.workqueueAdds.labels(labels),
      queueLatency: this.workqueueQueueDuration.labels(labels),
      workDuration: this.workqueueWorkDuration.labels(labels),
      unfinishedWork: this.workqueueUnfinishedWork.labels(labels),
      longestRunning: this.workqueueLongestRunning.labels(labels),
      retries: this.workqueueRetries.labels(labels),
    };
  }
}
