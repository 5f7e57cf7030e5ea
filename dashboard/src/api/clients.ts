// Clients and sessions, subscriptions, retained messages, publish.
import { http, enc, type Page, type Query } from './http.ts';

export interface Client {
  clientid: string;
  username: string | null;
  connected: boolean;
  node: string;
  zone: string;
  listener: string;
  ip_address: string | null;
  port: number | null;
  keepalive: number;
  clean_start: boolean;
  expiry_interval: number;
  proto_name: string;
  proto_ver: number;
  created_at: string;
  connected_at: string | null;
  disconnected_at: string | null;
  subscriptions_cnt: number;
  inflight_cnt: number;
  inflight_max: number;
  mqueue_len: number;
  mqueue_max: number;
  mqueue_dropped: number;
  recv_msg: number;
  send_msg: number;
}
export interface Subscription {
  clientid: string;
  topic: string;
  qos: number;
  node: string;
  share_group?: string;
  source?: string;
}
export interface QueuedMessage {
  topic: string;
  qos: number;
  payload: string | null;
  retain: boolean;
  publish_at: number;
  inflight: boolean;
  from_clientid: string | null;
}
export interface RetainedMessage {
  topic: string;
  qos: number;
  from_clientid: string | null;
  payload_size: number;
  payload?: string;
}

export const listClients = (q: Query) => http.get<Page<Client>>('/clients', q);
export const getClient = (id: string) => http.get<Client>(`/clients/${enc(id)}`);
export const kickClient = (id: string) => http.del(`/clients/${enc(id)}`);
export const clientSubscriptions = (id: string) => http.get<Subscription[]>(`/clients/${enc(id)}/subscriptions`);
export const subscribe = (id: string, topic: string, qos: number) => http.post<Subscription>(`/clients/${enc(id)}/subscribe`, { topic, qos });
export const unsubscribe = (id: string, topic: string) => http.post<void>(`/clients/${enc(id)}/unsubscribe`, { topic });
export const mqueue = (id: string, page: number, limit: number) =>
  http.get<Page<QueuedMessage>>(`/clients/${enc(id)}/mqueue_messages`, { page, limit, payload: 'base64' });

export const listSubscriptions = (q: Query) => http.get<Page<Subscription>>('/subscriptions', q);

export const listRetained = (q: Query) => http.get<Page<RetainedMessage>>('/mqtt/retainer/messages', q);
export const getRetained = (topic: string) => http.get<RetainedMessage>(`/mqtt/retainer/message/${enc(topic)}`);
export const deleteRetained = (topic: string) => http.del(`/mqtt/retainer/message/${enc(topic)}`);

export interface PublishRequest {
  topic: string;
  payload: string;
  payload_encoding?: 'plain' | 'base64';
  qos: number;
  retain: boolean;
}
export const publish = (p: PublishRequest) => http.post<{ id: string; reason_code?: number; message?: string }>('/publish', p);
