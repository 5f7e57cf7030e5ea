// The outbox's second layout (migrations/0013): per-hook counters kept across restarts, delivered
// rows pruned in ranges to the newest KEEP_DELIVERED, a large batch committed without waiting
// for the group commit's timer, a partial batch sent once the commits after it fill it, and rows
// of the first layout (0010) and blocks of the WITHOUT ROWID table (0014) delivered after the
// upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startTernApi } from '../helpers/api-helpers.ts';
import { afterAttempts } from '../helpers/events.ts';
import { connect, endAll, tempDir, testConfig } from '../helpers/tern.ts';
import { withHookTern } from '../helpers/hooks.ts';
import { OUTBOX_EVENTS_SQL, startReceiver } from '../helpers/receiver.ts';
import { openStore } from '../../server/store/open.ts';
import { createGroupCommit, type BatchWriter } from '../../server/store/group-commit.ts';
import { COMMIT_MS, FLOOD_COMMIT_MS, FLOOD_ROWS, FLUSH_ROWS, KEEP_DELIVERED, Outbox } from '../../server/hooks/outbox.ts';
import { BlockBuilder, blockRow } from '../../server/hooks/block.ts';
import { isBlockEvent, type QueuedEvent } from '../../server/hooks/pack.ts';
import { packMeta, packPayload } from '../../server/hooks/pack.ts';
import { OutboxReader } from '../../server/hooks/outbox-reader.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child: () => silent } as never;
const zeroCounters = () => ({ delivered: 0, failed: 0, dropped: 0, retried: 0, last_error: null, last_error_at: null, last_success_at: null });

test('per-hook counters and the last error / success survive a restart', async () => {
  const rx = await startReceiver();
  const config = testConfig();
  let t = await startTernApi(config);
  try {
    const hook = (await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 'counted', url: rx.url, events: ['message.publish'], max_attempts: 1 }).expect(201)).body;
    const pub = await connect(t.mqttUrl(), { clientId: 'counted-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync('counted/t', `ok${i}`, { qos: 1 });
    const before = await afterAttempts(t.tern.webhooks, async () => {
      const s = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
      return s.delivered === 3 && s;
    }, '3 delivered');
    rx.mode = { kind: 'status', status: 500, body: 'nope' };
    await pub.publishAsync('counted/t', 'bad', { qos: 1 });
    await endAll(pub);
    const failed = await afterAttempts(t.tern.webhooks, async () => {
      const s = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
      return s.failed === 1 && s;
    }, 'a dead letter');
    assert.match(failed.last_error, /HTTP 500/);

    await t.close();
    config.dashboard.listener.port = 0;
    t = await startTernApi(config);
    const after = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
    assert.equal(after.delivered, 3);
    assert.equal(after.failed, 1);
    assert.equal(after.dead_letters, 1);
    assert.equal(after.pending, 0);
    assert.equal(after.last_success_at, before.last_success_at);
    assert.equal(after.last_error, failed.last_error);
    const metrics = (await t.http.get('/api/v5/metrics?aggregate=true').set(t.auth)).body;
    assert.equal(metrics['webhooks.delivered'], 3);
    // the delivered ones are listed with their bodies, newest first
    const delivered = (await t.http.get(`/api/v5/hooks/${hook.id}/deliveries?status=delivered`).set(t.auth)).body;
    assert.deepEqual(delivered.data.map((d: { body: { payload: string } }) => d.body.payload), ['ok2', 'ok1', 'ok0']);
  } finally {
    await t.close();
    await rx.close();
  }
});

test(`delivered rows are pruned to the newest ${KEEP_DELIVERED} (and less than a batch more); pending ones are never pruned`, () =>
  withHookTern(async (t, rx) => {
    const hook = (await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 'pruned', url: rx.url, events: ['message.publish'], batch_size: 500, batch_time: 5 }).expect(201)).body;
    const pub = await connect(t.mqttUrl(), { clientId: 'pruned-pub' });
    // several batches' blocks: pruning keeps the block where the count is reached whole
    const total = KEEP_DELIVERED * 2 + FLUSH_ROWS * 3;
    for (let i = 0; i < total; i++) void pub.publish('pruned/t', String(i), { qos: 0 });
    await pub.publishAsync('pruned/t', 'last', { qos: 1 });
    await endAll(pub);
    const stats = await afterAttempts(t.tern.webhooks, async () => {
      const s = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
      return s.delivered === total + 1 && s;
    }, 'every event delivered', 60_000);
    assert.equal(stats.pending, 0);
    const delivered = (await t.http.get(`/api/v5/hooks/${hook.id}/deliveries?status=delivered&limit=1`).set(t.auth)).body;
    assert.ok(delivered.meta.count >= KEEP_DELIVERED, `keeps at least ${KEEP_DELIVERED} (${delivered.meta.count})`);
    assert.ok(delivered.meta.count < KEEP_DELIVERED + FLUSH_ROWS, `older delivered rows were deleted (${delivered.meta.count} of ${total + 1} kept)`);
    assert.equal(delivered.data[0].body.payload, 'last', 'newest first');
  }));

/**
 * An Outbox on a store of its own (no broker), with a second, read-only connection to the file;
 * `handed` counts the batches the outbox has handed to the group commit.
 */
async function withOutbox(
  max: number,
  body: (o: { outbox: Outbox; store: Awaited<ReturnType<typeof openStore>>; writer: ReturnType<typeof createGroupCommit>; reader: Database.Database; reopen: () => Outbox; handed: () => number }) => Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-outbox-'));
  const store = await openStore({ dataDir: dir, logger: silent });
  const writer = createGroupCommit(store.sqlite);
  let handed = 0;
  const counting: BatchWriter = {
    run: (write) => {
      handed++;
      return writer.run(write);
    },
    flush: () => writer.flush(),
  };
  const make = () => {
    const o = new Outbox({
      sqlite: store.sqlite,
      writer: counting,
      max: () => max,
      inflightMax: () => 0,
      onDropped() {},
      onCommitted() {},
      onRequeued() {},
      counters: zeroCounters,
      logger: silent,
    });
    o.load([1]);
    return o;
  };
  const reader = new Database(store.file, { readonly: true });
  try {
    await body({ outbox: make(), store, writer, reader, reopen: make, handed: () => handed });
  } finally {
    reader.close();
    await writer.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const event = (i: number) => ({ id: `e${i}`, ts: 1, topic: 't', qos: 0, retain: false, payload: Buffer.from(String(i)), from_clientid: 'c', from_username: null });
const addEvent = (outbox: Outbox, i: number) => outbox.add(1, packMeta('message.publish', event(i) as never), packPayload('message.publish', event(i) as never));
/** the payloads of what the delivery thread reads (block events read in place, rows of their own) */
const payloadsOf = (rows: QueuedEvent[]) => rows.map((r) => Buffer.from((isBlockEvent(r) ? blockRow(r) : r).payload!).toString());

test('a batch of 2048 events is committed at once, not at the group commit timer', () =>
  withOutbox(100_000, async ({ outbox, reader }) => {
    const count = reader.prepare(OUTBOX_EVENTS_SQL).bind({ hook: 1 });
    for (let i = 0; i < 2047; i++) void addEvent(outbox, i);
    await Promise.resolve();
    assert.equal((count.get() as { n: number }).n, 0, 'below the size, the batch waits for the timer');
    const committed = addEvent(outbox, 2047);
    // one microtask later (no timer can have run): committed and visible to another connection
    await Promise.resolve();
    assert.equal((count.get() as { n: number }).n, 2048);
    assert.equal((reader.prepare('SELECT count(*) AS n FROM webhook_outbox_block').get() as { n: number }).n, 1, 'one row for the whole batch');
    await committed;
  }));

test(`a batch is handed to the group commit ${COMMIT_MS} ms after its first event, or at ${FLOOD_COMMIT_MS} ms when it holds ${FLOOD_ROWS} events by then (a flood's)`, (t) =>
  withOutbox(100_000, async ({ outbox, handed, writer }) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const trickle = addEvent(outbox, 0);
    t.mock.timers.tick(COMMIT_MS - 1);
    assert.equal(handed(), 0);
    t.mock.timers.tick(1);
    assert.equal(handed(), 1, 'a trickle of events: handed at COMMIT_MS');
    // the group commit's own timer (1 ms), then the batch is written: the next events make a new one
    t.mock.timers.tick(1);
    await trickle;

    let flood: Promise<void> | undefined;
    for (let i = 1; i <= FLOOD_ROWS; i++) flood = addEvent(outbox, i);
    t.mock.timers.tick(COMMIT_MS);
    assert.equal(handed(), 1, "a flood's batch grows on");
    t.mock.timers.tick(FLOOD_COMMIT_MS - COMMIT_MS - 1);
    assert.equal(handed(), 1);
    t.mock.timers.tick(1);
    assert.equal(handed(), 2, 'handed at FLOOD_COMMIT_MS');
    // the group commit's own timer, then both batches are on disk
    t.mock.timers.reset();
    await writer.flush();
    await flood;
  }));

test("an outcome written with a batch of events is undone whole when one of its statements fails; the batch's events and other outcomes commit", () =>
  withOutbox(100, async ({ outbox, store }) => {
    const reader = new OutboxReader(store.file);
    try {
      for (let i = 0; i < 3; i++) void addEvent(outbox, i);
      await outbox.uncommitted();
      const ids = reader.next(1, 0, 10).map((r) => r.id);
      // a row of its own already holds the second event's id: moving the events of a failed try
      // out of their block (delete the block, insert rows) fails at that insert
      store.sqlite.prepare('INSERT INTO webhook_outbox (hook_id, id, meta, payload, status) VALUES (1, ?, ?, NULL, 1)').run(ids[1], '["client.connected","x",1,{}]');
      void addEvent(outbox, 3); // a batch is being collected: the outcomes go into it
      const failing = outbox.attempted(1, ids[0]!, ids[2]!, 1, 'HTTP 500');
      const fine = outbox.delivered(1, ids[0]! - 1, 0);
      await Promise.all([failing, fine, outbox.uncommitted()]);
      // the block is whole again (all three events pending, without attempts) and the fourth committed
      const next = reader.next(1, 0, 10);
      assert.deepEqual(payloadsOf(next), ['0', '1', '2', '3']);
      assert.deepEqual(next.map((r) => r.attempts), [0, 0, 0, 0]);
    } finally {
      reader.close();
    }
  }));

test('events leave their block when they are dropped for space or fail a try, and keep their ids, order and attempts', () =>
  withOutbox(4, async ({ outbox, store, reopen }) => {
    const reader = new OutboxReader(store.file);
    try {
      // batches of 3 (a block each), bound 4: the oldest events go a block at a time, so a hook
      // keeps less than one batch beyond the bound
      for (let batch = 0; batch < 3; batch++) {
        for (let i = 3 * batch; i < 3 * batch + 3; i++) void addEvent(outbox, i);
        await outbox.uncommitted();
      }
      assert.equal(outbox.pending(1), 6);
      let next = reader.next(1, 0, 10);
      assert.deepEqual(payloadsOf(next), ['3', '4', '5', '6', '7', '8']);
      const ids = next.map((r) => r.id);
      // a try of the first two fails: they leave their block (which is cut) for rows of their own
      // with their attempts, still first
      await outbox.attempted(1, ids[0]!, ids[1]!, 2, 'HTTP 500');
      next = reader.next(1, 0, 10);
      assert.deepEqual(next.map((r) => [r.id, r.attempts]), ids.map((id, i) => [id, i < 2 ? 2 : 0]));
      // they become dead letters; the next four are delivered
      await outbox.failed(1, ids[0]!, ids[1]!, 2, 3, 'HTTP 500');
      await outbox.delivered(1, ids[5]!, 4);
      const after = reopen();
      assert.equal(after.pending(1), 0);
      assert.equal(after.deadLetters(1), 2);
      const render = (r: { meta: string }) => r.meta;
      const failed = after.list(1, 'failed', 0, 10, render);
      assert.deepEqual(failed.data.map((d) => [d.id, d.attempts, d.last_error]), [[ids[0], 3, 'HTTP 500'], [ids[1], 3, 'HTTP 500']]);
      const delivered = after.list(1, 'delivered', 0, 10, render);
      assert.deepEqual(delivered.data.map((d) => d.id), [ids[5], ids[4], ids[3], ids[2]], 'newest first, the dead letters not among them');
      assert.equal(delivered.count, 4);
      // one more event, listed as pending after a restart
      void addEvent(after, 6);
      await after.uncommitted();
      assert.deepEqual(reopen().list(1, 'pending', 0, 10, render).data.map((d) => (d.body as unknown[])[1]), ['e6']);
    } finally {
      reader.close();
    }
  }));

/** a store in `dataDir` migrated only up to the migrations whose names sort before `below` */
async function oldStore(dataDir: string, below: string) {
  const oldMigrations = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-migrations-'));
  const root = path.resolve(import.meta.dirname, '../../migrations');
  // symlinks: the migrations resolve their imports (kysely) from the repository
  for (const f of fs.readdirSync(root)) if (f < below) fs.symlinkSync(path.join(root, f), path.join(oldMigrations, f));
  try {
    return await openStore({ dataDir, logger: silent, migrationsDir: oldMigrations });
  } finally {
    fs.rmSync(oldMigrations, { recursive: true, force: true });
  }
}

test('pending events and dead letters of the first outbox layout are delivered after the upgrade', async () => {
  const dataDir = tempDir();
  // a store migrated up to 0012 only (the first layout), with one pending row and one dead letter
  const old = await oldStore(dataDir, '0013');
  const now = Date.now();
  old.sqlite.prepare("INSERT INTO webhook (id, name, definition, created_at, updated_at) VALUES (1, 'old', ?, ?, ?)").run(JSON.stringify({ url: 'http://127.0.0.1:1/x', events: ['client.connected'] }), now, now);
  const insert = old.sqlite.prepare('INSERT INTO webhook_outbox (id, hook_id, event_id, event, body, status, attempts, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)');
  insert.run(1, 'old-1', 'client.connected', '{"action":"client_connected","clientid":"before-upgrade"}', 0, 0, now, now);
  insert.run(2, 'old-2', 'client.connected', '{"action":"client_connected","clientid":"dead-before"}', 1, 3, now, now);
  await old.close();

  const rx = await startReceiver();
  const t = await startTernApi(testConfig((c) => (c.node.data_dir = dataDir)));
  try {
    const registry = (await t.http.get('/api/v5/hooks').set(t.auth)).body;
    const hook = registry.find((h: { name: string }) => h.name === 'old');
    assert.ok(hook, 'the hook of the first layout is kept');
    assert.equal(hook.stats.pending, 1);
    assert.equal(hook.stats.dead_letters, 1);
    await t.http.put(`/api/v5/hooks/${hook.id}`).set(t.auth).send({ url: rx.url }).expect(200);
    const first = await rx.until(() => rx.delivered()[0], 'the pending row of the first layout');
    assert.deepEqual(first, { action: 'client_connected', clientid: 'before-upgrade' }, 'delivered with the body it was stored with');
    const dead = (await t.http.get(`/api/v5/hooks/${hook.id}/deliveries?status=failed`).set(t.auth)).body;
    assert.equal(dead.data[0].event_id, 'old-2');
    assert.equal(dead.data[0].attempts, 3);
    await t.http.post(`/api/v5/hooks/${hook.id}/deliveries/retry`).set(t.auth).send({}).expect(200);
    const second = await rx.until(() => rx.delivered()[1], 'the retried dead letter');
    assert.equal(second.clientid, 'dead-before');
  } finally {
    await t.close();
    await rx.close();
  }
});

test('blocks of the WITHOUT ROWID layout (0014) are pending after the upgrade to the rowid table (0015) and delivered in order', async () => {
  const dataDir = tempDir();
  const old = await oldStore(dataDir, '0015');
  const now = Date.now();
  old.sqlite.prepare("INSERT INTO webhook (id, name, definition, created_at, updated_at) VALUES (1, 'blocks', ?, ?, ?)").run(JSON.stringify({ url: 'http://127.0.0.1:1/x', events: ['message.publish'] }), now, now);
  const block = new BlockBuilder();
  for (const p of ['b1', 'b2', 'b3']) {
    const e = { id: `ev-${p}`, ts: now, topic: 'up/t', qos: 1, retain: false, from_clientid: 'c', from_username: null, payload: Buffer.from(p) };
    block.append(packMeta('message.publish', e as never), packPayload('message.publish', e as never));
  }
  old.sqlite.prepare('INSERT INTO webhook_outbox_block (hook_id, first_id, last_id, data) VALUES (1, 5, 7, ?)').run(block.bytes());
  await old.close();

  const rx = await startReceiver();
  const t = await startTernApi(testConfig((c) => (c.node.data_dir = dataDir)));
  try {
    const table = t.tern.store.sqlite.prepare("SELECT sql FROM sqlite_schema WHERE name = 'webhook_outbox_block'").pluck().get() as string;
    assert.doesNotMatch(table, /WITHOUT ROWID/);
    const hook = (await t.http.get('/api/v5/hooks').set(t.auth)).body.find((h: { name: string }) => h.name === 'blocks');
    assert.equal(hook.stats.pending, 3);
    await t.http.put(`/api/v5/hooks/${hook.id}`).set(t.auth).send({ url: rx.url }).expect(200);
    const got = await rx.until(() => rx.delivered().length >= 3 && rx.delivered(), 'the three events of the block');
    assert.deepEqual(got.map((e) => [e.id, e.payload]), [['ev-b1', 'b1'], ['ev-b2', 'b2'], ['ev-b3', 'b3']]);
  } finally {
    await t.close();
    await rx.close();
  }
});

test('a partial batch is sent as soon as the events committed after it would fill it, not after batch_time', () =>
  withHookTern(async (t, rx) => {
    // a first hook, delivered once: the delivery thread is up, so the second hook's loop reads
    // its first rows while the publishes below are still arriving
    await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 'warm', url: `${rx.url}/warm`, events: ['message.publish'], topic_filters: ['warm/#'] }).expect(201);
    const pub = await connect(t.mqttUrl(), { clientId: 'fill-pub' });
    await pub.publishAsync('warm/t', 'first', { qos: 1 });
    await rx.until(() => rx.delivered().length === 1 || undefined, 'the first event');
    // batch_time of a minute, longer than the receiver waits: only the fill can send these in time
    await t.http
      .post('/api/v5/hooks')
      .set(t.auth)
      .send({ name: 'fill', url: `${rx.url}/fill`, events: ['message.publish'], topic_filters: ['fill/#'], batch_size: 10, batch_time: 60_000 })
      .expect(201);
    for (let i = 0; i < 10; i++) await pub.publishAsync('fill/t', String(i), { qos: 1 });
    await endAll(pub);
    const fill = () => rx.requests.filter((r) => r.path.endsWith('/fill') && r.status === 200);
    const got = await rx.until(() => fill().flatMap((r) => r.events).length >= 10 && fill(), '10 events of the batch hook');
    assert.equal(got.length, 1, 'one request with the whole batch');
    assert.deepEqual(got[0]!.events.map((e) => e.payload), Array.from({ length: 10 }, (_, i) => String(i)));
  }));
