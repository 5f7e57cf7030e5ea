import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEventBus } from '../../server/broker/events.ts';

test("has() is true while a listener without `when` is on, and otherwise follows the listeners' `when`; emit calls every listener either way", () => {
  const bus = createEventBus();
  const seen: string[] = [];
  let active = false;
  assert.equal(bus.has('client.connected'), false);
  const offGuarded = bus.on('session.resumed', (e) => void seen.push(`guarded ${e.clientid}`), { when: () => active });
  assert.equal(bus.has('session.resumed'), false);
  active = true;
  assert.equal(bus.has('session.resumed'), true);
  active = false;
  const offPlain = bus.on('session.resumed', (e) => void seen.push(`plain ${e.clientid}`));
  assert.equal(bus.has('session.resumed'), true, 'a plain listener is always interested');
  bus.emit('session.resumed', { clientid: 'c1', username: null });
  assert.deepEqual(seen, ['guarded c1', 'plain c1']);
  offPlain();
  assert.equal(bus.has('session.resumed'), false);
  offGuarded();
  active = true;
  assert.equal(bus.has('session.resumed'), false);
  bus.emit('session.resumed', { clientid: 'c2', username: null });
  assert.deepEqual(seen, ['guarded c1', 'plain c1']);
});

test('event ids are unique past the counter digits written from a table (1,296 a round)', () => {
  const bus = createEventBus();
  const ids: string[] = [];
  bus.on('session.resumed', (e) => void ids.push(e.id));
  for (let i = 0; i < 3 * 1296 + 5; i++) bus.emit('session.resumed', { clientid: 'c', username: null });
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, /^[0-9a-z]+-[0-9a-z]+$/);
  // the counter part is the event's number in base 36 (zero-padded to two digits)
  assert.deepEqual(ids.slice(1295, 1297).map((id) => parseInt(id.split('-')[1]!, 36)), [1295, 1296]);
  assert.equal(parseInt(ids.at(-1)!.split('-')[1]!, 36), ids.length - 1);
});

test("a channel is the event's emitting side: made before or after its listeners, it follows them, and shares the bus's ids", () => {
  const bus = createEventBus();
  const early = bus.channel('message.dropped');
  assert.equal(bus.channel('message.dropped'), early, 'one channel per event');
  assert.equal(early.has(), false);
  const seen: string[] = [];
  const off = bus.on('message.dropped', (e) => void seen.push(`${e.reason} ${e.id}`));
  const late = bus.channel('message.dropped');
  assert.equal(early.has(), true);
  assert.equal(late.has(), true);
  const msg = { topic: 't', qos: 0 as const, retain: false, payload: Buffer.from('x'), from_clientid: null, from_username: null, ts: 1, clientid: null };
  early.emit({ ...msg, reason: 'queue_full' });
  bus.emit('message.dropped', { ...msg, reason: 'expired' });
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0]!.split(' ')[1], seen[1]!.split(' ')[1], 'the channel and the bus draw ids from one counter');
  off();
  assert.equal(early.has(), false);
  early.emit({ ...msg, reason: 'queue_full' });
  assert.equal(seen.length, 2);
});

test('while every listener of a message event borrows, the channel lends one object: refilled per event, its id made when read, unique and shared with the fresh events’ counter', () => {
  const bus = createEventBus();
  const ch = bus.channel('message.delivered');
  assert.equal(ch.lend(), null, 'no listener: nothing to lend');
  const seen: { id: string; again: string; topic: string; clientid: string; object: object }[] = [];
  const off = bus.on('message.delivered', (e) => void seen.push({ id: e.id, again: e.id, topic: e.topic, clientid: e.clientid, object: e }), { borrows: true });
  const lent = ch.lend();
  assert.ok(lent, 'every listener borrows');
  assert.equal(ch.lend(), lent, 'one object per channel');
  const payload = Buffer.from('x');
  for (const topic of ['a', 'b']) {
    ch.emit(ch.lend()!.fill({ topic, qos: 1, payload, clientId: 'p' }, null, `r-${topic}`, null, { of: () => 1 }));
  }
  // a listener that keeps the event: no more lending, a fresh object per event
  const kept: object[] = [];
  const offKeeper = bus.on('message.delivered', (e) => void kept.push(e));
  assert.equal(ch.lend(), null, 'one listener does not borrow');
  ch.emit({ topic: 'c', qos: 0, retain: false, payload, from_clientid: null, from_username: null, clientid: 'r-c', username: null, ts: 2 });
  offKeeper();
  assert.equal(ch.lend(), lent, 'lent again once only borrowers listen');
  off();

  assert.deepEqual(seen.map((s) => [s.topic, s.clientid]), [['a', 'r-a'], ['b', 'r-b'], ['c', 'r-c']]);
  assert.equal(seen[0]!.object, lent);
  assert.equal(seen[1]!.object, lent);
  assert.notEqual(seen[2]!.object, lent);
  assert.equal(kept[0], seen[2]!.object);
  for (const s of seen) assert.equal(s.again, s.id, 'the same id at every read');
  // one counter for lent and fresh events: consecutive, in emit order
  assert.deepEqual(seen.map((s) => parseInt(s.id.split('-')[1]!, 36)), [0, 1, 2]);
  assert.equal(new Set(seen.map((s) => s.id.split('-')[0])).size, 1);
});

test("an event emitted from inside a borrowing listener of the same event gets a fresh object: the lent one is still out", () => {
  const bus = createEventBus();
  const ch = bus.channel('message.publish');
  const seen: { topic: string; id: string; lent: boolean }[] = [];
  let lent: object | null = null;
  bus.on(
    'message.publish',
    (e) => {
      if (e.topic === 'outer') {
        assert.equal(ch.lend(), null, 'out with the outer event');
        ch.emit({ topic: 'inner', qos: 0, retain: false, payload: Buffer.alloc(0), from_clientid: null, from_username: null, ts: 5 });
      }
      // read after the inner emit: the outer event is unchanged by it
      seen.push({ topic: e.topic, id: e.id, lent: e === lent });
    },
    { borrows: true },
  );
  lent = ch.lend();
  ch.emit(ch.lend()!.fill({ topic: 'outer', qos: 0, payload: Buffer.alloc(0) }, null, '', null, { of: () => 4 }));
  assert.deepEqual(
    seen.map((s) => [s.topic, s.lent]),
    [
      ['inner', false],
      ['outer', true],
    ],
  );
  assert.notEqual(seen[0]!.id, seen[1]!.id);
  assert.equal(ch.lend(), lent, 'back once the outer emit returned');
});

test('a lent message event is a view of its message: each field read from it, the clock read only when a listener reads ts (once per event, by the payload)', () => {
  const bus = createEventBus();
  const ch = bus.channel('message.delivered');
  const clockReads: unknown[] = [];
  let now = 100;
  const clock = { of: (key: unknown) => (clockReads.push(key), ++now) };
  const seen: unknown[][] = [];
  let readTs = false;
  bus.on(
    'message.delivered',
    (e) => {
      seen.push([e.topic, e.qos, e.retain, e.payload.toString(), e.from_clientid, e.from_username, e.clientid, e.username]);
      if (readTs) seen.push([e.ts, e.ts]);
    },
    { borrows: true },
  );
  const payload = Buffer.from('p1');
  ch.emit(ch.lend()!.fill({ topic: 't/1', qos: 1, retain: true, payload, clientId: 'pub' }, 'alice', 'sub', 'bob', clock));
  assert.deepEqual(clockReads, [], 'ts not read: no clock read');
  readTs = true;
  ch.emit(ch.lend()!.fill({ topic: 't/2', qos: 0, payload }, null, 'sub2', null, clock));
  // a broker-side publish may carry a string payload
  ch.emit(ch.lend()!.fill({ topic: 't/3', qos: 2, payload: 'text' }, null, 'sub3', null, clock));
  assert.deepEqual(seen, [
    ['t/1', 1, true, 'p1', 'pub', 'alice', 'sub', 'bob'],
    ['t/2', 0, false, 'p1', null, null, 'sub2', null],
    [101, 101],
    ['t/3', 2, false, 'text', null, null, 'sub3', null],
    [102, 102],
  ]);
  assert.deepEqual(clockReads, [payload, 'text'], 'one clock read per event that a listener read ts of, keyed by its payload');
});
