// The hooks API: bad definitions answer 400/409 naming the field; hooks survive a restart; the
// emqx.conf seed is applied once (an API delete stays deleted); the test route reports what the
// endpoint said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, startTernApi } from '../helpers/api-helpers.ts';
import { afterAttempts } from '../helpers/events.ts';
import { connect, endAll, testConfig } from '../helpers/tern.ts';
import { withHookTern } from '../helpers/hooks.ts';
import { startReceiver } from '../helpers/receiver.ts';
import request from 'supertest';
import { startTestTern } from '../helpers/tern.ts';
import type { Config } from '../../server/config/types.ts';

test('bad definitions: 400 naming the field, a duplicate name 409, an unknown id 404', async () => {
  const t = await startTernApi();
  try {
    const ok = { name: 'h', url: 'http://127.0.0.1:9/x', events: ['client.connected'] };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...ok, url: 'ftp://example.com/x' }, /url must be an http:\/\/ or https:\/\/ URL/],
      [{ ...ok, url: 'not a url' }, /url must be an http/],
      [{ ...ok, events: ['client.connected', 'client.exploded'] }, /body\.events\[1\] must be one of: client\.connect/],
      [{ ...ok, events: [] }, /body\.events/],
      [{ ...ok, topic_filters: ['a/#/b'] }, /topic_filters\[0\]: "a\/#\/b" is not a valid topic filter: it may use # only as the whole last level/],
      [{ ...ok, topic_filters: ['a+'] }, /topic_filters\[0\].*\+ only as a whole level/],
      [{ ...ok, timeout: 0 }, /body\.timeout must be >= 1/],
      [{ ...ok, headers: { 'content-length': '1' } }, /headers\.content-length is set by Tern/],
      [{ ...ok, retry_interval: 5000, max_retry_interval: 1000 }, /max_retry_interval must be at least retry_interval/],
      [{ ...ok, colour: 'blue' }, /body\.colour is not allowed/],
      [{ url: ok.url, events: ok.events }, /body\.name is required/],
    ];
    for (const [body, message] of cases) {
      const res = await t.http.post('/api/v5/hooks').set(t.auth).send(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      assert.equal(res.body.code, 'BAD_REQUEST');
      assert.match(res.body.message, message);
    }
    const created = await t.http.post('/api/v5/hooks').set(t.auth).send(ok);
    assert.equal(created.status, 201);
    const dup = await t.http.post('/api/v5/hooks').set(t.auth).send(ok);
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'ALREADY_EXISTS');
    assert.match(dup.body.message, /^name: a hook named "h" already exists/);
    const other = await t.http.post('/api/v5/hooks').set(t.auth).send({ ...ok, name: 'other' });
    const rename = await t.http.put(`/api/v5/hooks/${other.body.id}`).set(t.auth).send({ name: 'h' });
    assert.equal(rename.status, 409);
    const badPut = await t.http.put(`/api/v5/hooks/${created.body.id}`).set(t.auth).send({ topic_filters: ['#/a'] });
    assert.equal(badPut.status, 400);
    assert.match(badPut.body.message, /topic_filters\[0\]/);
    for (const [method, path] of [['get', '/api/v5/hooks/999'], ['put', '/api/v5/hooks/999'], ['delete', '/api/v5/hooks/999'], ['post', '/api/v5/hooks/999/test'], ['get', '/api/v5/hooks/999/deliveries'], ['post', '/api/v5/hooks/999/deliveries/retry']] as const) {
      const req = t.http[method](path).set(t.auth);
      const res = await (method === 'put' ? req.send({ enabled: false }) : req);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.code, 'NOT_FOUND');
    }
    const badStatus = await t.http.get(`/api/v5/hooks/${created.body.id}/deliveries?status=lost`).set(t.auth);
    assert.equal(badStatus.status, 400);
    assert.match(badStatus.body.message, /query\.status must be one of: pending, failed, delivered/);
  } finally {
    await t.close();
  }
});

test('hooks survive a restart; an update and a delete are live and kept', async () => {
  const rx = await startReceiver();
  const config = testConfig();
  let tern = await startTestTern(config);
  try {
    let http = request(`http://127.0.0.1:${tern.ports.http}`);
    let auth = bearer(await login(http));
    const a = (await http.post('/api/v5/hooks').set(auth).send({ name: 'keep', url: rx.url + '?keep', events: ['client.connected'], headers: { 'x-a': '1' } }).expect(201)).body;
    const b = (await http.post('/api/v5/hooks').set(auth).send({ name: 'gone', url: rx.url + '?gone', events: ['client.connected'] }).expect(201)).body;
    const upd = await http.put(`/api/v5/hooks/${a.id}`).set(auth).send({ events: ['client.connected', 'client.disconnected'], batch_size: 10 });
    assert.equal(upd.status, 200);
    assert.deepEqual(upd.body.events, ['client.connected', 'client.disconnected']);
    assert.deepEqual(upd.body.headers, { 'x-a': '1' }, 'fields not given keep their values');
    await http.delete(`/api/v5/hooks/${b.id}`).set(auth).expect(204);

    const c = await connect(`mqtt://127.0.0.1:${tern.ports.tcp.external}`, { clientId: 'live-1' });
    await endAll(c);
    await rx.until(() => rx.delivered().some((e) => e.action === 'client_disconnected') || undefined, 'the disconnect, after the update');
    assert.equal(rx.requests.filter((r) => r.path.endsWith('?gone')).length, 0, 'a deleted hook gets nothing');

    await tern.close();
    config.dashboard.listener.port = 0;
    tern = await startTestTern(config);
    http = request(`http://127.0.0.1:${tern.ports.http}`);
    auth = bearer(await login(http));
    const list = (await http.get('/api/v5/hooks').set(auth).expect(200)).body;
    assert.deepEqual(list.map((h: { name: string }) => h.name), ['keep']);
    assert.equal(list[0].batch_size, 10);
    assert.deepEqual(list[0].events, ['client.connected', 'client.disconnected']);
    const before = rx.requests.length;
    const c2 = await connect(`mqtt://127.0.0.1:${tern.ports.tcp.external}`, { clientId: 'live-2' });
    await endAll(c2);
    await rx.until(() => rx.delivered().some((e) => e.clientid === 'live-2' && e.action === 'client_disconnected') || undefined, 'events after the restart');
    assert.ok(rx.requests.length > before);
  } finally {
    await tern.close();
    await rx.close();
  }
});

test('emqx.conf web.hook.* seeds one hook named emqx.conf, once: an API delete stays deleted', async () => {
  const rx = await startReceiver();
  const seed = (c: Config) => {
    c.web_hook.url = rx.url;
    c.web_hook.headers = { authorization: 'Bearer abc' };
    c.web_hook.encoding_of_payload_field = 'base64';
    c.web_hook.rules = [
      { event: 'client.connected', action: 'on_client_connected', topic: undefined },
      { event: 'message.publish', action: 'on_message_publish', topic: 'a/#' },
    ];
  };
  const config = testConfig(seed);
  let tern = await startTestTern(config);
  try {
    let http = request(`http://127.0.0.1:${tern.ports.http}`);
    let auth = bearer(await login(http));
    const [hook] = (await http.get('/api/v5/hooks').set(auth).expect(200)).body;
    assert.equal(hook.name, 'emqx.conf');
    assert.equal(hook.url, rx.url);
    assert.deepEqual(hook.events, ['client.connected', 'message.publish']);
    assert.deepEqual(hook.topic_filters, ['a/#']);
    assert.deepEqual(hook.headers, { authorization: 'Bearer abc' });
    assert.equal(hook.payload_encoding, 'base64');
    const cfg = (await http.get('/api/v5/configs').set(auth).expect(200)).body;
    assert.equal(cfg.web_hook.headers.authorization, '******', 'the header value is masked in /configs');

    const pub = await connect(`mqtt://127.0.0.1:${tern.ports.tcp.external}`, { clientId: 'seed-pub' });
    await pub.publishAsync('a/b', 'hi', { qos: 1 });
    await endAll(pub);
    const ev = await rx.until(() => rx.delivered().find((e) => e.action === 'message_publish'), 'the seeded hook delivers');
    assert.equal(Buffer.from(String(ev.payload), 'base64').toString(), 'hi');
    assert.equal(rx.requests[0]!.headers.authorization, 'Bearer abc');

    await http.delete(`/api/v5/hooks/${hook.id}`).set(auth).expect(204);
    await tern.close();
    tern = await startTestTern(config);
    http = request(`http://127.0.0.1:${tern.ports.http}`);
    auth = bearer(await login(http));
    assert.deepEqual((await http.get('/api/v5/hooks').set(auth).expect(200)).body, [], 'the deleted seed is not recreated');

    // a changed web.hook.* in the file is a new seed, applied once
    config.web_hook.rules.push({ event: 'client.disconnected', action: 'on_client_disconnected', topic: undefined });
    await tern.close();
    tern = await startTestTern(config);
    http = request(`http://127.0.0.1:${tern.ports.http}`);
    auth = bearer(await login(http));
    const again = (await http.get('/api/v5/hooks').set(auth).expect(200)).body;
    assert.deepEqual(again.map((h: { events: string[] }) => h.events), [['client.connected', 'message.publish', 'client.disconnected']]);
  } finally {
    await tern.close();
    await rx.close();
  }
});

test('POST /hooks/{id}/test sends one sample event and answers what the endpoint said', () =>
  withHookTern(async (t, rx) => {
    const hook = (await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 't', url: rx.url, events: ['client.connected', 'message.publish'], secret: 'k' }).expect(201)).body;
    const ok = await t.http.post(`/api/v5/hooks/${hook.id}/test`).set(t.auth).send({ event: 'message.publish' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.ok, true);
    assert.equal(ok.body.status, 200);
    assert.equal(ok.body.request.action, 'message_publish');
    assert.equal(rx.requests.length, 1);
    assert.ok(rx.requests[0]!.headers['x-tern-signature']);
    rx.mode = { kind: 'status', status: 503, body: 'maintenance' };
    const bad = await t.http.post(`/api/v5/hooks/${hook.id}/test`).set(t.auth);
    assert.equal(bad.status, 200);
    assert.equal(bad.body.ok, false);
    assert.equal(bad.body.status, 503);
    assert.equal(bad.body.body, 'maintenance');
    assert.equal(bad.body.request.action, 'client_connected', 'the first event by default');
    await rx.down();
    const down = await t.http.post(`/api/v5/hooks/${hook.id}/test`).set(t.auth);
    assert.equal(down.body.ok, false);
    assert.equal(down.body.status, null);
    assert.match(down.body.error, /ECONNREFUSED/);
    const stats = (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats;
    assert.equal(stats.pending, 0, 'a test is not an outbox event');
  }));

test('a disabled hook records nothing; enabled again, it delivers what it kept and what comes next', () =>
  withHookTern(async (t, rx) => {
    await rx.down();
    const hook = (await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 'toggle', url: rx.url, events: ['client.connected'], retry_interval: 10, max_retry_interval: 50, max_attempts: 1000 }).expect(201)).body;
    const a = await connect(t.mqttUrl(), { clientId: 'kept-while-down' });
    await endAll(a);
    await afterAttempts(t.tern.webhooks, async () => (await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats.pending === 1, 'one pending');
    await t.http.put(`/api/v5/hooks/${hook.id}`).set(t.auth).send({ enabled: false }).expect(200);
    const b = await connect(t.mqttUrl(), { clientId: 'while-disabled' });
    await endAll(b);
    assert.equal((await t.http.get(`/api/v5/hooks/${hook.id}`).set(t.auth)).body.stats.pending, 1, 'nothing recorded while disabled');
    await rx.up();
    await t.http.put(`/api/v5/hooks/${hook.id}`).set(t.auth).send({ enabled: true }).expect(200);
    const c = await connect(t.mqttUrl(), { clientId: 'after-enable' });
    await endAll(c);
    const got = await rx.until(() => {
      const ids = rx.delivered().map((e) => e.clientid);
      return ids.includes('after-enable') && ids;
    }, 'the connect after enabling');
    assert.deepEqual([...new Set(got)], ['kept-while-down', 'after-enable']);
  }));
