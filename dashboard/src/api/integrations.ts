// Webhooks, subscriptions made by the broker and shared groups (tags hooks, subscriptions).
import { http, enc, type Page, type Query } from './http.ts';
import { pick, servedSpec, type Schemas } from './spec.ts';

export type Hook = Schemas['Hook'];
export type HookCreate = Schemas['HookCreate'];
export type HookUpdate = Schemas['HookUpdate'];
export type HookStats = Schemas['HookStats'];
export type HookEvent = HookCreate['events'][number];
export type Delivery = Schemas['HookDelivery'];
export type HookTestResult = Schemas['HookTestResult'];

/**
 * The events a hook can name: the enum of HookCreate.events in the node's own spec, so the form
 * offers exactly what this node accepts (no copy of the list to keep in step).
 */
export async function hookEvents(): Promise<HookEvent[]> {
  const list = pick(await servedSpec(), ['components', 'schemas', 'HookCreate', 'properties', 'events', 'items', 'enum']);
  if (!Array.isArray(list)) throw new Error('the API description has no list of hook events');
  return list as HookEvent[];
}

export const listHooks = () => http.get<Hook[]>('/hooks');
export const getHook = (id: number) => http.get<Hook>(`/hooks/${id}`);
export const createHook = (h: HookCreate) => http.post<Hook>('/hooks', h);
export const updateHook = (id: number, h: HookUpdate) => http.put<Hook>(`/hooks/${id}`, h);
export const deleteHook = (id: number) => http.del(`/hooks/${id}`);
export const testHook = (id: number) => http.post<HookTestResult>(`/hooks/${id}/test`);
export const deliveries = (id: number, q: Query) => http.get<Page<Delivery>>(`/hooks/${id}/deliveries`, q);
export const retryDeliveries = (id: number) => http.post<{ retried: number }>(`/hooks/${id}/deliveries/retry`);

export type AutoSubscribe = Schemas['SubscriptionTemplate'];
/** what a request may leave out: the fields with a default in the spec */
type WithDefaults<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;
export type AutoSubscribeInput = WithDefaults<AutoSubscribe, 'qos' | 'rh' | 'rap' | 'nl'>;
export const getAutoSubscribe = () => http.get<AutoSubscribe[]>('/mqtt/auto_subscribe');
export const setAutoSubscribe = (t: AutoSubscribeInput[]) => http.put<AutoSubscribe[]>('/mqtt/auto_subscribe', t);

export type BrokerSubscription = Schemas['BrokerSubscription'];
export type BrokerSubscriptionRequest = WithDefaults<Schemas['BrokerSubscriptionRequest'], 'qos' | 'rh' | 'rap' | 'nl'>;
export const listBrokerSubs = (q: Query) => http.get<Page<BrokerSubscription>>('/mqtt/broker_subscriptions', q);
export const addBrokerSub = (s: BrokerSubscriptionRequest) => http.post<BrokerSubscription>('/mqtt/broker_subscriptions', s);
export const deleteBrokerSub = (clientid: string, topic: string) => http.del(`/mqtt/broker_subscriptions/${enc(clientid)}/${enc(topic)}`);

export type SharedGroup = Schemas['SharedGroup'];
export const listSharedGroups = (q: Query) => http.get<Page<SharedGroup>>('/shared_subscriptions', q);
