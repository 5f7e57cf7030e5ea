import { describe, expect, it } from 'vitest';
import { noteSeen, overviewCards, type LivePoint } from './overview-cards.ts';

const point = (p: Partial<LivePoint>): LivePoint => ({
  live_connections: 0, sessions: 0, subscriptions: 0, shared_subscriptions: 0, topics: 0, retained_msg_count: 0, received_msg_rate: 0, sent_msg_rate: 0, ...p,
});
const card = (cards: ReturnType<typeof overviewCards>, id: string) => cards.find((c) => c.id === id)!;

describe('Overview cards', () => {
  it('a connection the live stream reports before /stats is reloaded raises "max" with it (was "1, max 0")', () => {
    const stale = { 'connections.count': 0, 'connections.max': 0, 'topics.count': 0, 'topics.max': 0 };
    const live = point({ live_connections: 1, sessions: 1, topics: 2 });
    const cards = overviewCards(stale, {}, live, noteSeen({ connections: 0, topics: 0 }, live));
    expect(card(cards, 'connections')).toMatchObject({ value: '1', sub: 'max 1' });
    expect(card(cards, 'topics')).toMatchObject({ value: '2', sub: 'max 2' });
  });

  it('keeps the highest count seen after it falls, until /stats says more', () => {
    let seen = { connections: 0, topics: 0 };
    seen = noteSeen(seen, point({ live_connections: 3 }));
    seen = noteSeen(seen, point({ live_connections: 1 }));
    const stale = { 'connections.count': 0, 'connections.max': 0 };
    expect(card(overviewCards(stale, {}, point({ live_connections: 1 }), seen), 'connections')).toMatchObject({ value: '1', sub: 'max 3' });
    expect(card(overviewCards({ 'connections.max': 7 }, {}, point({ live_connections: 1 }), seen), 'connections').sub).toBe('max 7');
  });

  it('before the stream: the numbers of /stats and /metrics', () => {
    const cards = overviewCards({ 'connections.count': 2, 'connections.max': 5, 'sessions.count': 4, 'messages.queued.count': 9 }, { 'messages.dropped': 3, 'messages.dropped.queue_full': 1 }, null, { connections: 0, topics: 0 });
    expect(card(cards, 'connections')).toMatchObject({ value: '2', sub: 'max 5' });
    expect(card(cards, 'sessions').sub).toBe('2 online · 2 offline');
    expect(card(cards, 'queued').value).toBe('9');
    expect(card(cards, 'dropped')).toMatchObject({ value: '3', sub: '1 queue full · 0 no subscriber' });
  });
});
