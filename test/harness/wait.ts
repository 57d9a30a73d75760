/**
 * Waiting on conditions with a deadline, never sleeping blindly.
 */

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns that value. */
export async function waitFor<T>(check: () => T | Promise<T>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the iterator's next value, or rejects after `timeoutMs`. */
export async function nextWithin<T>(it: AsyncIterator<T>, timeoutMs = 5000, what = 'next value'): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Pulls from `it` until `done(collected)` is true; fails after `timeoutMs`. Returns everything
 * collected (the iterator stays open for the caller to close).
 */
export async function collectUntil<T>(it: AsyncIterator<T>, done: (items: T[]) => boolean, timeoutMs = 5000): Promise<T[]> {
  const items: T[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done(items)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms; collected ${items.length}: ${JSON.stringify(items).slice(0, 2000)}`);
    const r = await nextWithin(it, left, 'watch event');
    if (r.done) break;
    items.push(r.value);
  }
  return items;
}
