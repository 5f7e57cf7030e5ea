// The delivery thread: every enabled hook's loop (worker.ts) runs here, off the broker's event
// loop, so reading outbox rows, formatting webhook bodies and the HTTP client cost the broker's
// thread nothing. It only reads the store (its own read-only connection, outbox-reader.ts);
// every outcome goes back to the broker's thread, which writes it through the group commit
// (one writer for the file, as for everything else).
import { parentPort, workerData } from 'node:worker_threads';
import { send } from './delivery.ts';
import { formatRow } from './format.ts';
import { OutboxReader } from './outbox-reader.ts';
import type { FromThread, ThreadInit, ToThread } from './thread-protocol.ts';
import { HookWorker } from './worker.ts';

const port = parentPort!;
const init = workerData as ThreadInit;
const reader = new OutboxReader(init.file);
const workers = new Map<number, HookWorker>();
/** where each loop got to, kept across a hook's disable/enable */
const cursors = new Map<number, number>();
let node = '';
const post = (m: FromThread) => port.postMessage(m);

// Commits arrive as an atomic counter (thread-protocol.ts): while some loop waits for rows, one
// waiter here turns each change into kicks; while none waits, nothing wakes this thread.
const commits = init.commits;
// Node 20 has it; TypeScript's lib for this project's target does not declare it yet
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> | string } }).waitAsync;
let seen = Atomics.load(commits, 0);
let waiting = false;
async function waitForCommits(): Promise<void> {
  if (waiting) return;
  waiting = true;
  try {
    while (hungry.size > 0) {
      const r = waitAsync(commits, 0, seen);
      if (r.async) await r.value;
      const now = Atomics.load(commits, 0);
      const n = (now - seen) | 0;
      seen = now;
      if (n !== 0) for (const w of [...hungry]) w.kick(n);
    }
  } finally {
    waiting = false;
  }
}
/** loops waiting for rows (idle, or filling a partial batch) */
const hungry = new Set<HookWorker>();

const deps = {
  next: (hookId: number, afterId: number, limit: number) => reader.next(hookId, afterId, limit),
  format: (row: Parameters<typeof formatRow>[0], hook: { payload_encoding: 'plain' | 'base64' }) => formatRow(row, node, hook.payload_encoding),
  send: (hook: Parameters<typeof send>[0], body: string, stop: AbortSignal) => send(hook, body, init.userAgent, stop),
  sending: (hookId: number, last: number) => post({ t: 'sending', hookId, last }),
  outcome: (o: Parameters<ConstructorParameters<typeof HookWorker>[2]['outcome']>[0]) => post({ t: 'outcome', ...o }),
  hungry: (w: HookWorker, yes: boolean) => {
    if (!yes) return void hungry.delete(w);
    hungry.add(w);
    void waitForCommits();
  },
};

function stopLoop(id: number): void {
  const w = workers.get(id);
  if (!w) return;
  w.stop();
  hungry.delete(w);
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
        nw.kick();
      }
    } else if (m.t === 'kick') {
      for (const id of m.ids) workers.get(id)?.kick(0);
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
