// Webhook delivery against a real receiver that fails in the ways endpoints do: down, hanging,
// answering 5xx, a huge body, a redirect loop. The broker never waits for it; events are kept in
// the outbox and delivered in order once it answers, or become dead letters that can be retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startTernApi, type TernApi } from '../helpers/api-helpers.ts';
import { afterAttempts } from '../helpers/events.ts';
import { connect, endAll, testConfig } from '../helpers/tern.ts';
import { createHook, withHookTern } from '../helpers/hooks.ts';
import { OUTBOX_EVENTS_SQL } from '../helpers/receiver.ts';

const distinctIds = (events: Record<string, unknown>[]) => {
  const seen = new Set<unknown>();
  const out: Record<string, unknown>[] = [];
  for (const e of events) if (!seen.has(e.id)) (seen.add(e.id), out.push(e));
  return out;
};


test('receiver down for a while, then up: every event is delivered, in order', () =>
  withHookTern(async (t, rx) => {
    const hook = await createHook(t, { name: 'down-up', url: rx.url, events: ['message.publish'], retry_interval: 20, max_retry_interval: 100, max_attempts: 1000 });
    await rx.down();
    const pub = await connect(t.mqttUrl(), { clientId: 'down-pub' });
    for (let i = 0; i < 30; i++) await pub.publishAsync('down/t', String(i), { qos: 1 });
    await endAll(pub);
    // the delivery thread tries on its own schedule: wait for a recorded failure
    const pending = await afterAttempts(t.tern.webhooks, async () => {
      const r = await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth);
      return r.body.stats.last_error && r.body.stats;
    }, 'a failed attempt');
    assert.ok(pending.pending >= 1, `events wait in the outbox (${JSON.stringify(pending)})`);
    assert.match(String(pending.last_error), /fetch failed|ECONNREFUSED/);
    await rx.up();
    const got = await rx.until(() => {
      const d = distinctIds(rx.delivered());
      return d.length >= 30 && d;
    }, '30 events');
    assert.deepEqual(got.map((e) => e.payload), Array.from({ length: 30 }, (_, i) => String(i)));
    const after = await afterAttempts(t.tern.webhooks, async () => {
      const r = await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth);
      return r.body.stats.pending === 0 && r.body.stats;
    }, 'pending 0');
    assert.equal(after.delivered, 30);
    assert.ok(after.retried >= 1);
  }));

test('receiver hanging: every connect and publish still succeeds, and every event arrives once it answers', () =>
  withHookTern(async (t, rx) => {
    rx.mode = { kind: 'hang' };
    await createHook(t, { name: 'hang', url: rx.url, events: ['client.connected', 'message.publish'], timeout: 120_000 });
    const clients = [];
    for (let i = 0; i < 10; i++) {
      const c = await connect(t.mqttUrl(), { clientId: `hang-${i}` });
      // QoS 0 first: the QoS 1 PUBACK then says the broker has both
      await c.publishAsync(`hang/${i}`, 'x', { qos: 0 });
      await c.publishAsync(`hang/${i}`, 'y', { qos: 1 });
      clients.push(c);
    }
    await endAll(...clients);
    await rx.until(() => rx.requests.length >= 1, 'the first request');
    assert.equal(rx.requests.length, 1, 'one request in flight per hook, still unanswered');
    rx.release();
    const got = await rx.until(() => {
      const d = distinctIds(rx.delivered());
      return d.length >= 30 && d;
    }, '10 connects and 20 publishes');
    assert.deepEqual(
      got.map((e) => (e.action === 'client_connected' ? `c:${e.clientid}` : `p:${e.topic}:${e.payload}`)),
      Array.from({ length: 10 }, (_, i) => [`c:hang-${i}`, `p:hang/${i}:x`, `p:hang/${i}:y`]).flat(),
    );
  }));

test('failures become dead letters after max_attempts; retry sends them again', () =>
  withHookTern(async (t, rx) => {
    rx.mode = { kind: 'status', status: 500, body: 'boom' };
    const hook = await createHook(t, { name: 'dead', url: rx.url, events: ['message.publish'], max_attempts: 2, retry_interval: 10, max_retry_interval: 20 });
    const pub = await connect(t.mqttUrl(), { clientId: 'dead-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync('dead/t', `m${i}`, { qos: 1 });
    await endAll(pub);
    const failed = await afterAttempts(t.tern.webhooks, async () => {
      const r = await t.http.get(`/api/v5/hooks/${hook.id}/deliveries?status=failed`).set(t.auth);
      return r.body.meta.count === 3 && r.body;
    }, '3 dead letters');
    assert.deepEqual(failed.data.map((d: { body: { payload: string } }) => d.body.payload), ['m0', 'm1', 'm2']);
    for (const d of failed.data) {
      assert.equal(d.attempts, 2);
      assert.equal(d.status, 'failed');
      assert.match(d.last_error, /HTTP 500: boom/);
    }
    assert.equal(rx.requests.length, 6, 'each tried twice');
    const stats = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
    assert.equal(stats.failed, 3);
    assert.equal(stats.dead_letters, 3);
    assert.equal(stats.delivered, 0);

    rx.mode = { kind: 'ok' };
    const retry = await t.http.post(`/api/v5/hooks/${hook.id}/deliveries/retry`).set(t.auth).send({ ids: [failed.data[1].id] });
    assert.equal(retry.status, 200, retry.text);
    assert.deepEqual(retry.body, { retried: 1 });
    await rx.until(() => rx.delivered().length === 1 || undefined, 'the one retried');
    assert.equal(rx.delivered()[0]!.payload, 'm1');
    const all = await t.http.post(`/api/v5/hooks/${hook.id}/deliveries/retry`).set(t.auth);
    assert.deepEqual(all.body, { retried: 2 });
    await rx.until(() => rx.delivered().length === 3 || undefined, 'all retried');
    assert.deepEqual(rx.delivered().map((e) => e.payload), ['m1', 'm0', 'm2']);
    const after = await afterAttempts(t.tern.webhooks, async () => {
      const r = await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth);
      return r.body.stats.delivered === 3 && r.body.stats;
    }, 'delivered 3');
    assert.equal(after.dead_letters, 0);
    const delivered = await t.http.get(`/api/v5/hooks/${hook.id}/deliveries?status=delivered`).set(t.auth);
    assert.equal(delivered.body.meta.count, 3);
    const metrics = await t.http.get('/api/v5/metrics?aggregate=true').set(t.auth);
    assert.equal(metrics.body['webhooks.delivered'], 3);
    assert.equal(metrics.body['webhooks.failed'], 3);
    // one hook: the node's latency percentiles are its own
    assert.equal(typeof after.latency_p99_ms, 'number');
    assert.equal(metrics.body['webhooks.latency_p50_ms'], after.latency_p50_ms);
    assert.equal(metrics.body['webhooks.latency_p99_ms'], after.latency_p99_ms);
  }));

test('a 10 MB answer, a redirect loop and a hanging answer are failed deliveries with a clear error', () =>
  withHookTern(async (t, rx) => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    rx.mode = {
      kind: 'custom',
      handle: (req, res) => {
        if (req.url?.startsWith('/hook/big')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          // streamed, no content-length: the reader must stop on its own
          res.write(big.subarray(0, 1024 * 1024));
          res.end(big.subarray(1024 * 1024));
        } else if (req.url?.startsWith('/hook/loop')) {
          res.writeHead(302, { location: req.url });
          res.end();
        } else {
          // /hook/slow: never answers
        }
      },
    };
    const heapBefore = process.memoryUsage().heapUsed;
    const ids: Record<string, number> = {};
    for (const [name, timeout] of [['big', 5000], ['loop', 5000], ['slow', 200]] as const) {
      ids[name] = (await createHook(t, { name, url: `${rx.url}/${name}`, events: ['client.connected'], max_attempts: 1, timeout })).id;
    }
    const c = await connect(t.mqttUrl(), { clientId: 'bad-endpoints' });
    await endAll(c);
    const errors: Record<string, string> = {};
    for (const [name, id] of Object.entries(ids)) {
      const d = await afterAttempts(t.tern.webhooks, async () => {
        const r = await t.http.get(`/api/v5/hooks/${id}/deliveries?status=failed`).set(t.auth);
        return r.body.meta.count === 1 && r.body.data[0];
      }, `${name} dead letter`);
      errors[name] = d.last_error;
    }
    assert.match(errors.big!, /larger than 65536 bytes/);
    assert.match(errors.loop!, /HTTP 302 redirect to \/hook\/loop not followed/);
    assert.match(errors.slow!, /within the timeout \(200 ms\)/);
    // the loop was not followed: one request to it
    assert.equal(rx.requests.filter((r) => r.path.startsWith('/hook/loop')).length, 1);
    // not a timed assertion: the 10 MB were not buffered (heap grows far less than the body)
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 8 * 1024 * 1024, 'the big answer was not kept');
  }));

test('the outbox keeps at most web.hook.outbox_max events per hook, dropping the oldest and counting them', () =>
  withHookTern(
    async (t, rx) => {
      rx.mode = { kind: 'hang' };
      const hook = await createHook(t, { name: 'bounded', url: rx.url, events: ['message.publish'], timeout: 120_000 });
      const pub = await connect(t.mqttUrl(), { clientId: 'bounded-pub' });
      await pub.publishAsync('bounded/t', '0', { qos: 1 });
      // the first event is in flight (held by the receiver) before the outbox overflows
      await rx.until(() => rx.requests.length >= 1, 'the first request');
      for (let i = 1; i < 20; i++) await pub.publishAsync('bounded/t', String(i), { qos: 1 });
      await endAll(pub);
      const stats = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
      assert.equal(stats.pending, 5);
      assert.equal(stats.dropped, 15);
      rx.release();
      const got = await rx.until(() => {
        const d = distinctIds(rx.delivered());
        return d.length >= 5 && d;
      }, '5 events');
      // the one in flight when the bound was hit, then the newest four
      assert.deepEqual(got.map((e) => e.payload), ['0', '16', '17', '18', '19']);
    },
    (c) => {
      c.web_hook.outbox_max = 5;
    },
  ));

for (const persistence of ['sqlite', 'memory'] as const) {
  test(`persistence = ${persistence}: a QoS 1 PUBACK follows the commit of its message.publish outbox row`, () =>
    withHookTern(
      async (t, rx) => {
        rx.mode = { kind: 'hang' };
        const hook = await createHook(t, { name: 'durable', url: rx.url, events: ['message.publish'], topic_filters: ['dur/#'], timeout: 120_000 });
        const pub = await connect(t.mqttUrl(), { clientId: 'dur-pub' });
        // a second connection to the file sees only committed transactions (WAL)
        const reader = new Database(path.join(t.tern.config.node.data_dir, 'tern.db'), { readonly: true });
        try {
          const rows = reader.prepare(OUTBOX_EVENTS_SQL);
          for (let i = 1; i <= 5; i++) {
            await pub.publishAsync('dur/t', `m${i}`, { qos: 1 });
            assert.equal((rows.get({ hook: hook.id }) as { n: number }).n, i, `on disk when PUBACK ${i} arrived`);
          }
          // QoS 2: PUBREC (and so PUBCOMP) follow the commit too
          await pub.publishAsync('dur/t', 'm6', { qos: 2 });
          assert.equal((rows.get({ hook: hook.id }) as { n: number }).n, 6, 'on disk when PUBCOMP arrived');
        } finally {
          reader.close();
        }
        await endAll(pub);
      },
      (c) => {
        c.persistence = persistence;
      },
    ));
}
