// Webhooks (issue 10), subscriptions made by the broker and shared groups (issue 11).
import { http, enc, type Page, type Query } from './http.ts';

export interface Hook {
  id?: string;
  name: string;
  url: string;
  events: string[];
  topic_filters?: string[];
  headers?: Record<string, string>;
  enabled?: boolean;
  body_format?: string;
  payload_encoding?: 'plain' | 'base64';
  secret?: string;
  timeout?: number | string;
  max_attempts?: number;
  stats?: HookStats;
}
export interface HookStats {
  delivered?: number;
  failed?: number;
  pending?: number;
  dropped?: number;
  retried?: number;
  last_error?: string | null;
  last_success_at?: string | null;
  latency_p50?: number;
  latency_p99?: number;
  [k: string]: unknown;
}
export interface Delivery {
  id?: string | number;
  event?: string;
  status?: string;
  attempts?: number;
  last_error?: string | null;
  created_at?: string;
  [k: string]: unknown;
}
/** the list may come as an array or as {data, meta}; the page accepts both */
type ListOf<T> = T[] | Page<T>;
export const rows = <T>(l: ListOf<T>): T[] => (Array.isArray(l) ? l : l.data);

export const listHooks = () => http.get<ListOf<Hook>>('/hooks');
export const getHook = (id: string) => http.get<Hook>(`/hooks/${enc(id)}`);
export const createHook = (h: Hook) => http.post<Hook>('/hooks', h);
export const updateHook = (id: string, h: Partial<Hook>) => http.put<Hook>(`/hooks/${enc(id)}`, h);
export const deleteHook = (id: string) => http.del(`/hooks/${enc(id)}`);
export const testHook = (id: string) => http.post<Record<string, unknown>>(`/hooks/${enc(id)}/test`);
export const deliveries = (id: string, q: Query) => http.get<ListOf<Delivery>>(`/hooks/${enc(id)}/deliveries`, q);
export const retryDeliveries = (id: string) => http.post<Record<string, unknown>>(`/hooks/${enc(id)}/deliveries/retry`);

export interface AutoSubscribe {
  topic: string;
  qos: number;
  rh?: number;
  rap?: number;
  nl?: number;
}
export const getAutoSubscribe = () => http.get<AutoSubscribe[]>('/mqtt/auto_subscribe');
export const setAutoSubscribe = (t: AutoSubscribe[]) => http.put<AutoSubscribe[]>('/mqtt/auto_subscribe', t);

export interface BrokerSubscription {
  clientid: string;
  topic: string;
  qos: number;
}
export const listBrokerSubs = (q: Query) => http.get<ListOf<BrokerSubscription>>('/mqtt/broker_subscriptions', q);
export const addBrokerSub = (s: BrokerSubscription) => http.post<BrokerSubscription>('/mqtt/broker_subscriptions', s);
export const deleteBrokerSub = (clientid: string, topic: string) => http.del(`/mqtt/broker_subscriptions/${enc(clientid)}/${enc(topic)}`);

export interface SharedGroup {
  group: string;
  topic?: string;
  members?: Array<{ clientid: string; dispatched?: number; acked?: number; [k: string]: unknown } | string>;
  dispatched?: number;
  acked?: number;
  redispatched?: number;
  dropped?: number;
  [k: string]: unknown;
}
export const listSharedGroups = () => http.get<ListOf<SharedGroup>>('/shared_subscriptions');
