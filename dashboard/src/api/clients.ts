// Clients and sessions, subscriptions, retained messages, publish.
import { http, enc, type Page, type Query } from './http.ts';
import type { Schemas } from './spec.ts';

export type Client = Schemas['Client'];
export type Subscription = Schemas['Subscription'];
export type QueuedMessage = Schemas['QueuedMessage'];
export type RetainedMessage = Schemas['RetainedMessage'];

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

export type PublishRequest = Schemas['PublishRequest'];
export const publish = (p: PublishRequest) => http.post<Schemas['PublishResult'] | Schemas['PublishNoMatch']>('/publish', p);
