// The webhook delivery thread yields to the broker's thread (server/thread-priority.ts): it runs
// at BACKGROUND_NICE; the broker's thread and the WAL checkpoint thread keep the process's
// priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { openStore } from '../../server/store/open.ts';
import { BACKGROUND_NICE } from '../../server/thread-priority.ts';
import { connect, endAll, tempDir } from '../helpers/tern.ts';
import { createHook, withHookTern } from '../helpers/hooks.ts';
import { niceOf, threadNices } from '../helpers/threads.ts';

const background = () => [...threadNices()].filter(([, nice]) => nice === BACKGROUND_NICE).map(([tid]) => tid);

test('the store\'s checkpoint thread keeps the process\'s priority', async () => {
  const mine = niceOf(process.pid);
  const before = threadNices();
  const store = await openStore({ dataDir: tempDir(), logger: pino({ level: 'silent' }) });
  try {
    await store.checkpoints.ready;
    // the checkpoint thread is one of the threads the store started (SQLite and libuv may add others)
    const started = [...threadNices()].filter(([tid]) => !before.has(tid));
    assert.ok(started.length >= 1, 'the store started its checkpoint thread');
    for (const [tid, nice] of started) assert.equal(nice, mine, `thread ${tid}`);
    assert.equal(niceOf(process.pid), mine);
  } finally {
    await store.close();
  }
});

test('the webhook delivery thread runs at the background priority once a hook delivers', () =>
  withHookTern(async (t, rx) => {
    const mine = niceOf(process.pid);
    const before = background();
    await createHook(t, { name: 'prio', url: rx.url, events: ['message.publish'] });
    const pub = await connect(t.mqttUrl(), { clientId: 'prio-pub' });
    await pub.publishAsync('prio/t', 'x', { qos: 1 });
    await endAll(pub);
    await rx.until(() => rx.delivered().length >= 1, 'the event');
    const added = background().filter((tid) => !before.includes(tid));
    assert.equal(added.length, 1, `one thread more at the background priority: the delivery thread (before: ${before.length})`);
    assert.equal(niceOf(process.pid), mine, 'the broker\'s thread keeps its priority');
  }));
