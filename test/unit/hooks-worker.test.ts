// One hook's delivery loop (server/hooks/worker.ts) over a fake outbox and endpoint: while a
// request is out it reads and formats the next full batch, uses it after a success, and after a
// failure retries the same batch first, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HookWorker, type Outcome, type WorkerDeps } from '../../server/hooks/worker.ts';
import type { OutboxRow } from '../../server/hooks/pack.ts';
import type { SendResult } from '../../server/hooks/delivery.ts';
import { HOOK_DEFAULTS, type Hook } from '../../server/hooks/types.ts';

const hook: Hook = {
  ...HOOK_DEFAULTS,
  id: 1,
  name: 'h',
  url: 'http://127.0.0.1:1/x',
  events: ['message.publish'],
  max_attempts: 5,
  retry_interval: 1,
  max_retry_interval: 1,
  batch_size: 2,
  batch_time: 0,
  created_at: 0,
  updated_at: 0,
};

test('the next full batch is read while a request is out; a failed batch is retried before it', async () => {
  const rows: OutboxRow[] = Array.from({ length: 6 }, (_, i) => ({ id: i + 1, meta: `e${i + 1}`, payload: null, body: null, attempts: 0 }));
  const reads: number[] = [];
  const sent: string[] = [];
  const outcomes: Outcome[] = [];
  /** a read that happens while a request is out is counted there */
  let outstanding = 0;
  const readWhileOut: number[] = [];
  const answers = [true, false, true, true];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const deps: WorkerDeps = {
    next: (_id, after, limit) => {
      reads.push(after);
      if (outstanding > 0) readWhileOut.push(after);
      return rows.filter((r) => r.id > after).slice(0, limit).map((r) => ({ ...r }));
    },
    body: (rs, h) => (h.batch_size > 1 ? `[${rs.map((r) => (r as OutboxRow).meta).join(',')}]` : (rs[0] as OutboxRow).meta),
    send: async (_h, body): Promise<SendResult> => {
      sent.push(String(body));
      outstanding++;
      await new Promise((resolve) => setImmediate(resolve));
      outstanding--;
      const ok = answers.shift() ?? true;
      return { ok, status: ok ? 200 : 500, body: '', error: ok ? null : 'HTTP 500', ms: 1 };
    },
    sending: () => {},
    outcome: (o) => {
      outcomes.push(o);
      if (o.ok && o.last === 6) done();
    },
    commits: () => 0,
    waitCommits: () => new Promise(() => {}),
    wake: () => {},
  };
  const w = new HookWorker(hook, 0, deps);
  w.start();
  await finished;
  w.stop();
  assert.deepEqual(sent, ['[e1,e2]', '[e3,e4]', '[e3,e4]', '[e5,e6]'], 'in order, the failed batch again before the next');
  assert.deepEqual(
    outcomes.map((o) => [o.first, o.last, o.ok, o.attempts, o.retry]),
    [
      [1, 2, true, 1, false],
      [3, 4, false, 1, false],
      [3, 4, true, 2, true],
      [5, 6, true, 1, false],
    ],
  );
  assert.ok(readWhileOut.includes(2), 'batch 3..4 was read while 1..2 was out');
  assert.ok(readWhileOut.includes(4), 'batch 5..6 was read while 3..4 was out');
  // 3..4 was read ahead once, then kept in memory for its retry; 5..6 read ahead during that
  // failed try was dropped, read again during the retry, and used
  assert.equal(reads.filter((a) => a === 2).length, 1);
});

test('a partial batch waits for the rows that fill it even when a commit lands between its read and the commit count it notes', async () => {
  const batching: Hook = { ...hook, batch_size: 10, batch_time: 60_000 };
  const rows: OutboxRow[] = [];
  let counter = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  const commit = () => {
    counter++;
    rows.push({ id: counter, meta: `e${counter}`, payload: null, body: null, attempts: 0 });
    for (const w of waiters.splice(0)) {
      if (counter >= w.at) w.resolve();
      else waiters.push(w);
    }
  };
  commit();
  let firstRead = true;
  const sent: string[] = [];
  let answered!: () => void;
  const first = new Promise<void>((resolve) => (answered = resolve));
  const deps: WorkerDeps = {
    next: (_id, after, limit) => {
      // the race: row 2 is committed after the loop noted the counter and before it read
      if (firstRead) {
        firstRead = false;
        commit();
      }
      return rows.filter((r) => r.id > after).slice(0, limit).map((r) => ({ ...r }));
    },
    body: (rs) => `[${rs.map((r) => (r as OutboxRow).meta).join(',')}]`,
    send: async (_h, body): Promise<SendResult> => {
      sent.push(String(body));
      return { ok: true, status: 200, body: '', error: null, ms: 1 };
    },
    sending: () => {},
    outcome: () => answered(),
    commits: () => counter,
    // batch_time is a minute: only commits end these waits here
    waitCommits: (_id, from, need) => new Promise<void>((resolve) => (counter >= from + need ? resolve() : waiters.push({ at: from + need, resolve }))),
    wake: () => {},
  };
  const w = new HookWorker(batching, 0, deps);
  w.start();
  for (let i = 3; i <= 10; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    commit();
  }
  await first;
  w.stop();
  assert.deepEqual(sent[0], `[${Array.from({ length: 10 }, (_, i) => `e${i + 1}`).join(',')}]`, 'the first request carries the whole batch');
});
