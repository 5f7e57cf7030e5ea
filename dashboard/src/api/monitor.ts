// Overview numbers: stats, metrics, nodes, the metrics history (tag metrics of the spec).
import { http } from './http.ts';

export type Counters = Record<string, number>;
export interface NodeInfo {
  node: string;
  version: string;
  uptime: number;
  node_status: string;
  connections: number;
  sysdescr: string;
  memory_used: number;
  process_available: number;
}
export interface MonitorPoint {
  time_stamp: number;
  connections: number;
  live_connections: number;
  sessions: number;
  subscriptions: number;
  shared_subscriptions: number;
  topics: number;
  retained_msg_count: number;
  received_msg_rate: number;
  sent_msg_rate: number;
  dropped_msg_rate: number;
}
export interface Listener {
  id: string;
  type: string;
  name: string;
  bind: string;
  zone: string;
  running: boolean;
  current_connections: number;
  max_connections: number;
  max_conn_rate: number;
  mqtt_path?: string;
}

export const stats = () => http.get<Counters>('/stats', { aggregate: true });
export const metrics = () => http.get<Counters>('/metrics', { aggregate: true });
export const nodes = () => http.get<NodeInfo[]>('/nodes');
export const history = (latestSeconds: number) => http.get<MonitorPoint[]>('/monitor', { latest: latestSeconds });
export const listeners = () => http.get<Listener[]>('/listeners');
