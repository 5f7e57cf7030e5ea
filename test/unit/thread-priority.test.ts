// thread-priority.ts: a thread it moves to the background gets BACKGROUND_NICE, alone; the
// thread that asked for nothing keeps its priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE, currentThreadId } from '../../server/thread-priority.ts';
import { niceOf } from '../helpers/threads.ts';

test('the calling thread is known by its kernel id: the main thread by the process id', () => {
  assert.equal(currentThreadId(), process.pid);
});

test('runInBackground lowers the calling thread alone, to BACKGROUND_NICE', async () => {
  const before = niceOf(process.pid);
  // a worker starts with no loader: it registers tsx itself, as the delivery thread's entry does
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import('tsx/esm/api')
       .then((tsx) => (tsx.register(), import(${JSON.stringify(new URL('../../server/thread-priority.ts', import.meta.url).href)})))
       .then((m) => {
       const tid = m.currentThreadId();
       parentPort.postMessage({ tid, ok: m.runInBackground() });
       parentPort.once('message', () => parentPort.close());
     });`,
    { eval: true },
  );
  const [msg] = (await once(w, 'message')) as [{ tid: number; ok: boolean }];
  try {
    assert.equal(msg.ok, true);
    assert.notEqual(msg.tid, process.pid);
    assert.equal(niceOf(msg.tid), BACKGROUND_NICE);
    assert.equal(niceOf(process.pid), before, 'the main thread keeps its priority');
  } finally {
    w.postMessage('done');
    await once(w, 'exit');
  }
});
