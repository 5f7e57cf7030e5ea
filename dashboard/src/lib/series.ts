// Chart series: the stored history (10 s samples) is followed by live points (1 s) from the
// stream. Merged by time, deduplicated, trimmed to a window, so the chart is full on open and
// moves without reload.

export interface Point {
  x: number;
  y: number;
}

/**
 * Appends points in time order to a series: points not newer than the last one are dropped
 * (a history reload overlapping the live tail, a duplicate event), and everything older than
 * `windowMs` before the newest point is cut. Returns a new array.
 */
export function mergeSeries(base: readonly Point[], incoming: readonly Point[], windowMs: number): Point[] {
  const out = base.slice();
  const sorted = incoming.slice().sort((a, b) => a.x - b.x);
  for (const p of sorted) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    const last = out[out.length - 1];
    if (last && p.x <= last.x) continue;
    out.push({ x: p.x, y: p.y });
  }
  const newest = out.length ? out[out.length - 1]!.x : 0;
  let cut = 0;
  while (cut < out.length && out[cut]!.x < newest - windowMs) cut++;
  return cut ? out.slice(cut) : out;
}

/**
 * Live points come every second while history has one per 10 s; keep live resolution only for
 * the last `fineMs` and thin the older live points to one per `coarseMs`, so a long open tab
 * keeps a bounded series.
 */
export function thin(points: readonly Point[], fineMs: number, coarseMs: number): Point[] {
  if (points.length === 0) return [];
  const newest = points[points.length - 1]!.x;
  const out: Point[] = [];
  let lastKept = -Infinity;
  for (const p of points) {
    if (p.x >= newest - fineMs || p.x - lastKept >= coarseMs) {
      out.push(p);
      lastKept = p.x;
    }
  }
  return out;
}

/** one series per field of a list of samples */
export function seriesOf<T extends { time_stamp: number }>(samples: readonly T[], field: keyof T): Point[] {
  return samples.map((s) => ({ x: s.time_stamp, y: Number(s[field]) }));
}
