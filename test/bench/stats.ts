// Small statistics helpers shared by the harness (medians across runs) and the load generator
// (latency percentiles).

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Nearest-rank percentile (p in 0..100) of an already sorted array: the smallest value such that
 * at least p% of the samples are <= it. p=100 gives the maximum.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1]!;
}

export function percentiles(samples: Float64Array, ps: readonly number[]): number[] {
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => percentileSorted(sorted, p));
}
