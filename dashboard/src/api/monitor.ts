// Overview numbers: stats, metrics, nodes, the metrics history (tag metrics of the spec).
import { http } from './http.ts';
import type { Schemas } from './spec.ts';

export type Counters = Record<string, number>;
export type NodeInfo = Schemas['Node'];
/** a /monitor history sample or a /monitor/stream event: the fields both carry */
export type MonitorPoint = Schemas['MonitorLive'];
export type MonitorSample = Schemas['MonitorSample'];
export type Listener = Schemas['Listener'];

export const stats = () => http.get<Counters>('/stats', { aggregate: true });
export const metrics = () => http.get<Counters>('/metrics', { aggregate: true });
export const nodes = () => http.get<NodeInfo[]>('/nodes');
export const history = (latestSeconds: number) => http.get<MonitorSample[]>('/monitor', { latest: latestSeconds });
export const listeners = () => http.get<Listener[]>('/listeners');

/** the Overview's chart window, seconds of history */
export const OVERVIEW_WINDOW_S = 3600;

interface Prefetched {
  at: number;
  nodes: Promise<NodeInfo[]>;
  stats: Promise<Counters>;
  metrics: Promise<Counters>;
  history: Promise<MonitorSample[]>;
}
let prefetched: Prefetched | null = null;

/**
 * main.ts calls this when the app opens on Overview: the numbers load while the page's code
 * (chart.js) downloads and runs, instead of after it.
 */
export function prefetchOverview(): void {
  prefetched = { at: Date.now(), nodes: nodes(), stats: stats(), metrics: metrics(), history: history(OVERVIEW_WINDOW_S) };
  // a failed prefetch is no error of its own: the page gets the same rejection and shows it
  for (const p of [prefetched.nodes, prefetched.stats, prefetched.metrics, prefetched.history]) p.catch(() => {});
}

/** the prefetched requests, once, if recent */
export function takePrefetched(): Prefetched | null {
  const p = prefetched;
  prefetched = null;
  return p && Date.now() - p.at < 10_000 ? p : null;
}
