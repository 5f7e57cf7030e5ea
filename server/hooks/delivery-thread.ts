// The delivery thread: every enabled hook's loop (worker.ts) runs here, off the broker's event
// loop, so reading outbox rows, formatting webhook bodies and the HTTP client cost the broker's
// thread nothing. It only reads the store (its own read-only connection, outbox-reader.ts);
// every outcome goes back to the broker's thread, which writes it through the group commit
// (one writer for the file, as for everything else).
import { parentPort, workerData } from 'node:worker_threads';
import { send } from './delivery.ts';
import { BodyWriter } from './body.ts';
import { OutboxReader } from './outbox-reader.ts';
import type { FromThread, ThreadInit, ToThread } from './thread-protocol.ts';
import { HookWorker } from './worker.ts';
import { CommitGate } from './commit-gate.ts';
import { runInBackground } from '../thread-priority.ts';

// deliveries wait for CPU the broker's thread leaves (thread-priority.ts)
runInBackground();

const port = parentPort!;
const init = workerData as ThreadInit;
const reader = new OutboxReader(init.file);
const bodies = new BodyWriter();
const workers = new Map<number, HookWorker>();
/** where each loop got to, kept across a hook's disable/enable */
const cursors = new Map<number, number>();
let node = '';
const post = (m: FromThread) => port.postMessage(m);

// commits arrive through shared memory, not messages (commit-gate.ts)
const gate = new CommitGate(init.commits);

const deps = {
  next: (hookId: number, afterId: number, limit: number) => reader.next(hookId, afterId, limit),
  body: (rows: Parameters<BodyWriter['body']>[0], hook: Parameters<BodyWriter['body']>[1]) => bodies.body(rows, hook, node),
  send: (hook: Parameters<typeof send>[0], body: Buffer | string, stop: AbortSignal) => send(hook, body, init.userAgent, stop),
  sending: (hookId: number, last: number) => post({ t: 'sending', hookId, last }),
  outcome: (o: Parameters<ConstructorParameters<typeof HookWorker>[2]['outcome']>[0]) => post({ t: 'outcome', ...o }),
  commits: () => gate.now(),
  waitCommits: (hookId: number, from: number, need: number, timeoutMs: number) => gate.wait(hookId, from, need, timeoutMs),
  wake: (hookId: number) => gate.wake(hookId),
};

function stopLoop(id: number): void {
  const w = workers.get(id);
  if (!w) return;
  w.stop();
  cursors.set(id, w.cursor);
  workers.delete(id);
}

port.on('message', (m: ToThread) => {
  try {
    if (m.t === 'hooks') {
      node = m.node;
      const wanted = new Set(m.hooks.map((h) => h.hook.id));
      for (const id of [...workers.keys()]) if (!wanted.has(id)) stopLoop(id);
      for (const { hook, cursor } of m.hooks) {
        const w = workers.get(hook.id);
        if (w) {
          w.update(hook);
          continue;
        }
        const nw = new HookWorker(hook, Math.max(cursor, cursors.get(hook.id) ?? 0), deps);
        workers.set(hook.id, nw);
        nw.start();
      }
    } else if (m.t === 'kick') {
      for (const id of m.ids) workers.get(id)?.kick();
    } else if (m.t === 'stop') {
      for (const id of [...workers.keys()]) stopLoop(id);
      reader.close();
      post({ t: 'stopped' });
      port.close();
    }
  } catch (err) {
    post({ t: 'error', message: (err as Error).stack ?? String(err) });
  }
});
