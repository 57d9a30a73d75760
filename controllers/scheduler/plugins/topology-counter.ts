/**
 * Weighted sums of per-domain pod counts, as kube's topology score maps (topologyKey → value →
 * count) — without building them: a counter holds references to the live per-domain counts of
 * the pod index's classes (see pod-index.ts) that a cycle's terms selected, with each term's
 * weight, and sums them when asked for a domain. A cycle that selects a few classes thus costs
 * a few map lookups per node instead of a pass over every node of the cluster. When many parts
 * share a topology key, they are merged into one map on first read.
 */

/** Parts per key beyond which reads go through one merged map. */
const MERGE_ABOVE = 8;

interface KeyParts {
  parts: { counts: ReadonlyMap<string, number>; weight: number }[];
  /** The weighted sum of `parts`, built on first read when there are many. */
  merged: Map<string, number> | undefined;
}

/** topologyKey → value → Σ weight × count (see the file header). */
export class TopologyCounter {
  private readonly byKey = new Map<string, KeyParts>();

  /** Adds `weight` × each count of `counts` (value → pods) under `key`; empty counts or a zero weight add nothing. */
  add(key: string, counts: ReadonlyMap<string, number>, weight: number): void {
    if (counts.size === 0 || weight === 0) return;
    let entry = this.byKey.get(key);
    if (!entry) this.byKey.set(key, (entry = { parts: [], merged: undefined }));
    entry.parts.push({ counts, weight });
    entry.merged = undefined;
  }

  /** True when nothing was added (kube's empty topology map: no pod matched on a node with the key). */
  get isEmpty(): boolean {
    return this.byKey.size === 0;
  }

  /** The topology keys with something added. */
  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** The sum at one domain. */
  at(key: string, value: string): number {
    const entry = this.byKey.get(key);
    return entry ? sumAt(entry, value) : 0;
  }

  /** The sum over the node's domains: Σ over keys the node carries of the sum at its value. */
  sumFor(labels: Readonly<Record<string, string>>): number {
    let total = 0;
    for (const [key, entry] of this.byKey) {
      const value = labels[key];
      if (value !== undefined) total += sumAt(entry, value);
    }
    return total;
  }

  /** True if some domain of the node (a key it carries) has a non-zero sum. */
  anyFor(labels: Readonly<Record<string, string>>): boolean {
    for (const [key, entry] of this.byKey) {
      const value = labels[key];
      if (value !== undefined && sumAt(entry, value) !== 0) return true;
    }
    return false;
  }
}

function sumAt(entry: KeyParts, value: string): number {
  const parts = entry.parts;
  if (parts.length > MERGE_ABOVE) {
    if (!entry.merged) {
      const merged = new Map<string, number>();
      for (const { counts, weight } of parts) for (const [v, n] of counts) merged.set(v, (merged.get(v) ?? 0) + weight * n);
      entry.merged = merged;
    }
    return entry.merged.get(value) ?? 0;
  }
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const n = part.counts.get(value);
    if (n !== undefined) total += part.weight * n;
  }
  return total;
}
