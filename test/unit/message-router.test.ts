// The message router aedes runs on (core/internals/mqemitter.ts): mqemitter with its drain
// recursion bounded and its queue in ring buffers (Fifo). What mqemitter itself does with them is
// pinned in internals.test.ts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Fifo, createMessageRouter } from '../../server/broker/core/internals/mqemitter.ts';

describe('Fifo', () => {
  test('push and shift in order across growth and wrap-around, length counting, undefined when empty', () => {
    const q = new Fifo<number>();
    assert.equal(q.shift(), undefined);
    let next = 0;
    let expect = 0;
    // interleaved so the ring's head wanders, and grows it from 16 well past 16,000 slots
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 3000; i++) assert.equal(q.push(next++), next - expect);
      for (let i = 0; i < 1000; i++) assert.equal(q.shift(), expect++);
      assert.equal(q.length, next - expect);
    }
    while (q.length > 0) assert.equal(q.shift(), expect++);
    assert.equal(expect, next);
    assert.equal(q.shift(), undefined);
    assert.equal(q.length, 0);
  });
});

describe('createMessageRouter', () => {
  test('queues beyond its concurrency in Fifos and delivers 20,000 queued messages in order, each once, with their callbacks', async () => {
    const mq = createMessageRouter(1);
    const internals = mq as unknown as { _messageQueue: unknown; _messageCallbacks: unknown; length: number };
    assert.ok(internals._messageQueue instanceof Fifo);
    assert.ok(internals._messageCallbacks instanceof Fifo);
    let hold: (() => void) | undefined;
    const got: number[] = [];
    mq.on('q', (m, cb) => {
      got.push((m as unknown as { n: number }).n);
      if (hold === undefined) hold = cb;
      else cb();
    });
    const N = 20_000;
    let done = 0;
    const all = new Promise<void>((resolve) => {
      for (let n = 0; n < N; n++)
        mq.emit({ topic: 'q', n } as never, () => {
          if (++done === N) resolve();
        });
    });
    assert.equal(internals.length, N - 1, 'all but the first wait in the queue');
    hold!();
    await all;
    assert.equal(got.length, N);
    assert.ok(got.every((n, i) => n === i), 'in emit order');
    assert.equal(internals.length, 0);
  });
});
