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
