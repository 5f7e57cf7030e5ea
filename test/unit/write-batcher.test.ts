// The write batcher: writes made to a stream during one event-loop turn leave as one writev, before
// any setImmediate queued after them, and backpressure still reaches the writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createWriteBatcher } from '../../server/broker/transport/write-batcher.ts';

/** A Writable that records each call the stream machinery makes to write data out. */
function recorder(highWaterMark = 16 * 1024) {
  const calls: string[][] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      calls.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      cb();
    },
  });
  return { stream, calls };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('writes in one turn go out as one writev; the next turn starts a new batch', async () => {
  const batcher = createWriteBatcher();
  const { stream, calls } = recorder();
  batcher.attach(stream);
  stream.write('a');
  stream.write('b');
  stream.write('c');
  assert.deepEqual(calls, [], 'nothing written before the turn ends');
  assert.equal(batcher.pending(), 1);
  await turn();
  assert.deepEqual(calls, [['a', 'b', 'c']]);
  assert.equal(batcher.pending(), 0);
  stream.write('d');
  await turn();
  assert.deepEqual(calls, [['a', 'b', 'c'], ['d']]);
});

test('an unbatched stream writes each chunk at once', async () => {
  const { stream, calls } = recorder();
  stream.write('a');
  stream.write('b');
  await turn();
  assert.equal(calls.length, 2);
});

test('the batch is flushed before a setImmediate queued after the write (aedes closes a refused client that way)', async () => {
  const batcher = createWriteBatcher();
  const { stream, calls } = recorder();
  batcher.attach(stream);
  const seen = await new Promise<string[][]>((resolve) => {
    stream.write('connack');
    setImmediate(() => resolve(calls.map((c) => [...c])));
  });
  assert.deepEqual(seen, [['connack']]);
});

test('several streams are flushed by one scheduled turn, each as its own batch', async () => {
  const batcher = createWriteBatcher();
  const a = recorder();
  const b = recorder();
  batcher.attach(a.stream);
  batcher.attach(b.stream);
  a.stream.write('a1');
  b.stream.write('b1');
  a.stream.write('a2');
  assert.equal(batcher.pending(), 2);
  await turn();
  assert.deepEqual(a.calls, [['a1', 'a2']]);
  assert.deepEqual(b.calls, [['b1']]);
});

test('backpressure: write() returns false past highWaterMark and drain follows the flush', async () => {
  const batcher = createWriteBatcher();
  const { stream, calls } = recorder(4);
  batcher.attach(stream);
  assert.equal(stream.write('12'), true);
  assert.equal(stream.write('345'), false);
  const drained = new Promise((resolve) => stream.once('drain', resolve));
  await drained;
  assert.deepEqual(calls, [['12', '345']]);
});

test('a destroyed stream is not corked again', async () => {
  const batcher = createWriteBatcher();
  const { stream } = recorder();
  batcher.attach(stream);
  stream.on('error', () => {});
  stream.destroy();
  stream.write('late');
  assert.equal(batcher.pending(), 0);
});
