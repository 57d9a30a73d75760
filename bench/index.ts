/**
 * `npm run bench [-- FILTER…]`: runs every benchmark module of `bench/` (those whose name
 * contains one of the filters, when given) and prints one line per result. A filter may name a
 * part of a module after a slash: `storage/etcd` runs only the storage benchmark's etcd group.
 * Goals that are missed are reported, not fatal; the exit code is non-zero only when a
 * measurement failed or the filter matched nothing.
 */
import { apiserverBenchmark } from './apiserver.js';
import { Cleanup, machineHeader, Reporter, type Benchmark } from './harness.js';
import { nodeFailureBenchmark } from './node-failure.js';
import { proxyBenchmark } from './proxy.js';
import { reconcileBenchmark } from './reconcile.js';
import { schedulerBenchmark } from './scheduler.js';
import { storageBenchmark } from './storage.js';
import { vipBenchmark } from './vip.js';

/** Every benchmark module, in the order they run. */
export const benchmarks: readonly Benchmark[] = [storageBenchmark, reconcileBenchmark, apiserverBenchmark, schedulerBenchmark, nodeFailureBenchmark, proxyBenchmark, vipBenchmark];

/** Runs the benchmarks matching `filters` (all when empty); resolves with the process exit code. */
export async function main(filters: readonly string[]): Promise<number> {
  const parsed = filters.map((f) => {
    const slash = f.indexOf('/');
    return slash < 0 ? { name: f, part: undefined } : { name: f.slice(0, slash), part: f.slice(slash + 1) };
  });
  const matching = (b: Benchmark) => parsed.filter((f) => b.name.includes(f.name));
  const selected = benchmarks.filter((b) => filters.length === 0 || matching(b).length > 0);
  if (selected.length === 0) {
    process.stderr.write(`no benchmark matches ${filters.join(', ')}; available: ${benchmarks.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const report = new Reporter();
  const cleanup = new Cleanup();
  cleanup.onSignals(() => report.mute());
  for (const line of machineHeader()) report.note(line);
  for (const benchmark of selected) {
    report.note(`== ${benchmark.name}: ${benchmark.description}`);
    try {
      const filtersOfIt = matching(benchmark);
      // A bare name (or no filter) selects every part.
      const parts = filtersOfIt.some((f) => f.part === undefined) ? [] : filtersOfIt.map((f) => f.part!);
      await benchmark.run(report, cleanup, parts);
    } catch (err) {
      report.error(benchmark.name, err);
    } finally {
      try {
        await cleanup.runAll();
      } catch (err) {
        report.error(`${benchmark.name} cleanup`, err);
      }
    }
  }
  if (report.errors.length > 0) report.note(`${report.errors.length} measurement(s) failed`);
  return report.errors.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
