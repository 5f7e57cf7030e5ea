// RoutingClock (server/broker/core/routing-clock.ts): one clock read per routing, shared by the
// routings of one turn of the event loop up to SHARED_READS of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoutingClock, SHARED_READS } from '../../server/broker/core/routing-clock.ts';

/** a clock that moves at every read, and a turn that ends when the test says so */
function fakeLoop() {
  let t = 1000;
  let reads = 0;
  let pending: (() => void)[] = [];
  return {
    now: () => (reads++, t++),
    defer: (fn: () => void) => void pending.push(fn),
    endTurn() {
      const fns = pending;
      pending = [];
      for (const fn of fns) fn();
    },
    reads: () => reads,
    deferred: () => pending.length,
  };
}

test('a routing reads the clock once: every event with its key gets that time', () => {
  const loop = fakeLoop();
  const clock = new RoutingClock(loop.now, loop.defer);
  const payload = Buffer.from('m');
  const t = clock.of(payload);
  assert.equal(clock.of(payload), t);
  assert.equal(clock.of(payload), t);
  assert.equal(loop.reads(), 1);
});

test('the routings of one turn share a read; the next turn reads the clock again', () => {
  const loop = fakeLoop();
  const clock = new RoutingClock(loop.now, loop.defer);
  const a = clock.of(Buffer.from('a'));
  const b = clock.of(Buffer.from('b'));
  assert.equal(b, a, 'same turn, same read');
  assert.equal(loop.reads(), 1);
  assert.equal(loop.deferred(), 1, 'one end-of-turn callback for the turn');
  loop.endTurn();
  const c = clock.of(Buffer.from('c'));
  assert.ok(c > a, 'a later turn has its own time');
  assert.equal(loop.reads(), 2);
});

test(`at most ${SHARED_READS} routings share a read within one turn`, () => {
  const loop = fakeLoop();
  const clock = new RoutingClock(loop.now, loop.defer);
  const times = Array.from({ length: 2 * SHARED_READS + 1 }, (_, i) => clock.of(Buffer.from(String(i))));
  assert.equal(new Set(times.slice(0, SHARED_READS)).size, 1);
  assert.ok(times[SHARED_READS]! > times[0]!, 'the next routing reads the clock again');
  assert.equal(new Set(times.slice(SHARED_READS, 2 * SHARED_READS)).size, 1);
  assert.equal(loop.reads(), 3);
  assert.equal(loop.deferred(), 1, 'still one end-of-turn callback');
});

test('reset: the same key routed again (a stored message) gets a time of its own', () => {
  const loop = fakeLoop();
  const clock = new RoutingClock(loop.now, loop.defer);
  const stored = Buffer.from('retained');
  const first = clock.of(stored);
  clock.reset();
  loop.endTurn();
  assert.ok(clock.of(stored) > first);
});

test('with the real loop: a routing after setImmediate reads the clock again', async () => {
  let reads = 0;
  const clock = new RoutingClock(() => ++reads);
  clock.of(Buffer.from('a'));
  clock.of(Buffer.from('b'));
  assert.equal(reads, 1);
  await new Promise((resolve) => setImmediate(resolve));
  clock.of(Buffer.from('c'));
  assert.equal(reads, 2);
});
