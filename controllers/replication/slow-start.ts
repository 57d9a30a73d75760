/**
 * Slow start (kube's `slowStartBatch`): issue many similar calls in batches that double — 1, 2,
 * 4, 8, … — and stop after the first batch with a failure. When every call would fail the same
 * way (a quota exceeded, an invalid template, a namespace being deleted), this costs a handful
 * of calls instead of hundreds; when calls succeed, it is about as fast as issuing them all.
 */

/** The first batch's size (kube's SlowStartInitialBatchSize). */
export const SLOW_START_INITIAL_BATCH_SIZE = 1;

/** What {@link slowStartBatch} did. */
export interface SlowStartOutcome {
  /** Calls that succeeded. */
  successes: number;
  /** Calls that failed (all in the last batch issued). */
  failures: number;
  /** The first failure of the last batch, if any. */
  error?: unknown;
}

/**
 * Calls `fn` `count` times: batches of `initialBatchSize`, then twice the previous size (capped
 * by what remains); the calls of one batch run concurrently, and the next batch starts only once
 * the whole batch has settled. After a batch with a failure, no further batch is issued: calls
 * never issued are neither successes nor failures.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: () => Promise<void>): Promise<SlowStartOutcome> {
  let remaining = count;
  let successes = 0;
  for (let batchSize = Math.min(remaining, initialBatchSize); batchSize > 0; batchSize = Math.min(2 * batchSize, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batchSize }, async () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batchSize - failed.length;
    if (failed.length > 0) return { successes, failures: failed.length, error: failed[0]!.reason };
    remaining -= batchSize;
  }
  return { successes, failures: 0 };
}
