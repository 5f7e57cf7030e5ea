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
