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
