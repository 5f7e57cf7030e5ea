// The Overview's cards from the three feeds they mix: /stats and /metrics (refreshed every few
// seconds) and the live stream (every fraction of a second). A watermark ("max") comes from /stats
// only, so on its own it lags the live count: a client that connects between two /stats loads
// showed "1 connection, max 0". A watermark is never below a count seen, so the page keeps the
// highest live value it has seen and shows the larger of the two.
import { num } from './format.ts';

export type Counters = Record<string, number>;
export interface LivePoint {
  live_connections: number;
  sessions: number;
  subscriptions: number;
  shared_subscriptions: number;
  topics: number;
  retained_msg_count: number;
  received_msg_rate: number;
  sent_msg_rate: number;
}
export interface Card {
  id: string;
  label: string;
  value: string;
  sub: string;
}
/** the highest live counts seen since the page opened */
export interface Seen {
  connections: number;
  topics: number;
}

export function noteSeen(seen: Seen, p: LivePoint): Seen {
  return { connections: Math.max(seen.connections, p.live_connections), topics: Math.max(seen.topics, p.topics) };
}

export function overviewCards(stats: Counters | null, metrics: Counters | null, live: LivePoint | null, seen: Seen): Card[] {
  const s = (k: string) => stats?.[k] ?? 0;
  const m = (k: string) => metrics?.[k] ?? 0;
  const conns = live?.live_connections ?? s('connections.count');
  const sessions = live?.sessions ?? s('sessions.count');
  const topics = live?.topics ?? s('topics.count');
  const connMax = Math.max(s('connections.max'), seen.connections, conns);
  const topicMax = Math.max(s('topics.max'), seen.topics, topics);
  return [
    { id: 'connections', label: 'Connections', value: num(conns), sub: `max ${num(connMax)}` },
    { id: 'sessions', label: 'Sessions', value: num(sessions), sub: `${num(conns)} online · ${num(Math.max(0, sessions - conns))} offline` },
    { id: 'subscriptions', label: 'Subscriptions', value: num(live?.subscriptions ?? s('subscriptions.count')), sub: `${num(live?.shared_subscriptions ?? s('subscriptions.shared.count'))} shared` },
    { id: 'topics', label: 'Topics', value: num(topics), sub: `max ${num(topicMax)}` },
    { id: 'retained', label: 'Retained', value: num(live?.retained_msg_count ?? s('retained.count')), sub: 'messages' },
    { id: 'queued', label: 'Queued messages', value: num(s('messages.queued.count')), sub: 'in session queues' },
    { id: 'dropped', label: 'Dropped', value: num(m('messages.dropped')), sub: `${num(m('messages.dropped.queue_full'))} queue full · ${num(m('messages.dropped.no_subscribers'))} no subscriber` },
    { id: 'rates', label: 'Messages / s', value: `${num(live?.received_msg_rate ?? 0)} in`, sub: `${num(live?.sent_msg_rate ?? 0)} out` },
  ];
}
