// /clients and /subscriptions against a real broker with real mqtt.js clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTernApi, openClients, type TernApi } from '../helpers/api-helpers.ts';
import { acksOf, busEvents, disconnectOf } from '../helpers/events.ts';
import { connect, nextMessages, endAll } from '../helpers/tern.ts';
import { loadSpec } from '../../server/api/spec.ts';

const spec = loadSpec();

function conforms(method: string, path: string, res: { status: number; body: unknown; text: string }) {
  const validate = spec.responseValidator(method, path, res.status);
  assert.ok(validate, `status ${res.status} of ${method.toUpperCase()} ${path} is not in the spec: ${res.text}`);
  assert.equal(validate(res.body), undefined, `${method.toUpperCase()} ${path} → ${res.status} does not match the spec`);
}

type Row = { clientid: string; connected: boolean; mqueue_len: number; mqueue_max: number; mqueue_dropped: number; inflight_cnt: number; clean_start: boolean; username: string };

test('250 clients: list, paginate, filter; offline persistent sessions are rows with their queue', async () => {
  const t = await startTernApi();
  let clients: MqttClient[] = [];
  try {
    const name = (i: number) => `dev-${String(i).padStart(3, '0')}`;
    // every 10th client keeps its session (clean_session=false) and listens on fleet/#
    clients = await openClients(t.mqttUrl(), 250, (i) => ({ clientId: name(i), username: i < 100 ? 'group-a' : 'group-b', clean: i % 10 !== 0 }));
    await Promise.all(clients.filter((_, i) => i % 10 === 0).map((c) => c.subscribeAsync('fleet/#', { qos: 1 })));

    const list = async (query: string) => {
      const res = await t.http.get(`/api/v5/clients?${query}`).set(t.auth);
      assert.equal(res.status, 200, res.text);
      conforms('get', '/clients', res);
      return res.body as { data: Row[]; meta: { page: number; limit: number; count: number; hasnext: boolean } };
    };

    const first = await list('');
    assert.deepEqual(first.meta, { page: 1, limit: 100, count: 250, hasnext: true });
    assert.equal(first.data.length, 100);
    const seen = new Set<string>();
    for (let page = 1; page <= 3; page++) {
      const p = await list(`page=${page}&limit=100`);
      assert.equal(p.meta.hasnext, page < 3);
      for (const r of p.data) seen.add(r.clientid);
    }
    assert.equal(seen.size, 250, 'pages neither repeat nor skip rows');
    assert.equal((await list('page=4&limit=100')).data.length, 0);

    const count = async (query: string) => (await list(`${query}&limit=1`)).meta.count;
    assert.equal(await count('clientid=dev-007'), 1);
    assert.equal(await count('username=group-a'), 100);
    assert.equal(await count('like_clientid=dev-00'), 10);
    assert.equal(await count('like_username=group'), 250);
    assert.equal(await count('conn_state=connected'), 250);
    assert.equal(await count('clean_start=false'), 25);
    assert.equal(await count('ip_address=127.0.0.1'), 250);
    assert.equal(await count('ip_address=10.0.0.1'), 0);
    assert.equal(await count('username=group-a&clean_start=false'), 10);
    assert.equal(await count('gte_mqueue_len=1'), 0);

    // the persistent ones go offline; messages for them queue up
    const leaving = new Set(clients.filter((_, i) => i % 10 === 0).map((_, j) => name(j * 10)));
    const left = busEvents(t.tern.events, 'client.disconnected', (e) => leaving.has(e.clientid));
    await endAll(...clients.filter((_, i) => i % 10 === 0));
    await left.wait(25, '25 disconnects');
    assert.equal(await count('conn_state=disconnected'), 25);
    // the publish answers once aedes has queued the copies for offline sessions
    const pub = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'fleet/update', payload: 'v2', qos: 1 });
    assert.equal(pub.status, 200, pub.text);
    assert.equal(await count('gte_mqueue_len=1'), 25, 'a queued message per offline session');
    assert.equal(await count('lte_mqueue_len=0'), 225);

    const offline = (await list('conn_state=disconnected&limit=100')).data;
    assert.equal(offline.length, 25);
    for (const r of offline) {
      assert.equal(r.connected, false);
      assert.equal(r.clean_start, false);
      assert.equal(r.mqueue_len, 1);
      assert.equal(r.mqueue_dropped, 0);
      assert.equal(r.inflight_cnt, 0);
      assert.equal(r.mqueue_max, 1000, 'zone external default');
    }

    const queued = await t.http.get('/api/v5/clients/dev-010/mqueue_messages').set(t.auth);
    assert.equal(queued.status, 200, queued.text);
    conforms('get', '/clients/{clientid}/mqueue_messages', queued);
    assert.equal(queued.body.meta.count, 1);
    assert.equal(queued.body.data[0].topic, 'fleet/update');
    assert.equal(queued.body.data[0].qos, 1);
    assert.equal(Buffer.from(queued.body.data[0].payload, 'base64').toString(), 'v2');
    const plain = await t.http.get('/api/v5/clients/dev-010/mqueue_messages?payload=plain').set(t.auth);
    assert.equal(plain.body.data[0].payload, 'v2');
    const online = await t.http.get('/api/v5/clients/dev-011/mqueue_messages').set(t.auth);
    assert.equal(online.body.meta.count, 0);

    // the queue is delivered when the client comes back
    const acked = acksOf(t.tern, 'dev-010');
    const back = await connect(t.mqttUrl(), { clientId: 'dev-010', username: 'group-a', clean: false });
    const got = await nextMessages(back, 1);
    assert.equal(got[0]!.payload, 'v2');
    await acked.wait(1, 'the PUBACK of dev-010');
    const drained = await t.http.get('/api/v5/clients/dev-010').set(t.auth);
    assert.deepEqual([drained.body.mqueue_len, drained.body.inflight_cnt], [0, 0], 'queue drained');
    clients.push(back);
  } finally {
    await endAll(...clients);
    await t.close();
  }
});

test('one client: get, 404, subscriptions, subscribe on its behalf and receive, unsubscribe, kick', async () => {
  const t = await startTernApi();
  let alpha: MqttClient | undefined;
  let slash: MqttClient | undefined;
  try {
    alpha = await connect(t.mqttUrl(), { clientId: 'alpha', username: 'ops', keepalive: 30 });
    const got = await t.http.get('/api/v5/clients/alpha').set(t.auth);
    assert.equal(got.status, 200, got.text);
    conforms('get', '/clients/{clientid}', got);
    assert.equal(got.body.clientid, 'alpha');
    assert.equal(got.body.username, 'ops');
    assert.equal(got.body.connected, true);
    assert.equal(got.body.keepalive, 30);
    assert.equal(got.body.ip_address, '127.0.0.1');
    assert.equal(got.body.proto_ver, 4);
    assert.equal(got.body.listener, 'tcp:external');

    for (const [method, path] of [
      ['get', '/api/v5/clients/nobody'],
      ['delete', '/api/v5/clients/nobody'],
      ['get', '/api/v5/clients/nobody/subscriptions'],
      ['get', '/api/v5/clients/nobody/mqueue_messages'],
    ] as const) {
      const res = await t.http[method](path).set(t.auth);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(res.body, { code: 'CLIENTID_NOT_FOUND', message: 'client nobody not found' });
    }
    const subNobody = await t.http.post('/api/v5/clients/nobody/subscribe').set(t.auth).send({ topic: 'x' });
    assert.equal(subNobody.body.code, 'CLIENTID_NOT_FOUND');

    // client ids that need URL encoding
    slash = await connect(t.mqttUrl(), { clientId: 'site/7 α' });
    const enc = await t.http.get(`/api/v5/clients/${encodeURIComponent('site/7 α')}`).set(t.auth);
    assert.equal(enc.status, 200, enc.text);
    assert.equal(enc.body.clientid, 'site/7 α');

    for (const [topic, why] of [
      ['a/#/b', 'may use # only as the whole last level'],
      ['a+', 'may use + only as a whole level'],
      ['$share/g', 'needs a filter after the share group'],
      ['$share//x', 'needs a share group name'],
      ['a\u0000b', 'must not contain U+0000'],
    ]) {
      const bad = await t.http.post('/api/v5/clients/alpha/subscribe').set(t.auth).send({ topic, qos: 1 });
      assert.equal(bad.status, 400, `${topic}: ${bad.text}`);
      assert.ok(String(bad.body.message).startsWith(`body.topic ${why}`), bad.text);
    }
    assert.deepEqual((await t.http.get('/api/v5/clients/alpha/subscriptions').set(t.auth)).body, [], 'nothing invalid was stored');

    const sub = await t.http.post('/api/v5/clients/alpha/subscribe').set(t.auth).send({ topic: 'cmd/alpha/#', qos: 1 });
    assert.equal(sub.status, 200, sub.text);
    conforms('post', '/clients/{clientid}/subscribe', sub);
    assert.deepEqual(sub.body, { clientid: 'alpha', topic: 'cmd/alpha/#', qos: 1, node: t.tern.config.node.name });
    const subs = await t.http.get('/api/v5/clients/alpha/subscriptions').set(t.auth);
    conforms('get', '/clients/{clientid}/subscriptions', subs);
    assert.deepEqual(subs.body.map((s: { topic: string }) => s.topic), ['cmd/alpha/#']);

    const arriving = nextMessages(alpha, 1);
    const pub = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'cmd/alpha/reboot', payload: 'now', qos: 1 });
    assert.equal(pub.status, 200, pub.text);
    const [m] = await arriving;
    assert.deepEqual({ topic: m!.topic, payload: m!.payload, qos: m!.qos }, { topic: 'cmd/alpha/reboot', payload: 'now', qos: 1 });

    const unsub = await t.http.post('/api/v5/clients/alpha/unsubscribe').set(t.auth).send({ topic: 'cmd/alpha/#' });
    assert.equal(unsub.status, 204, unsub.text);
    assert.deepEqual((await t.http.get('/api/v5/clients/alpha/subscriptions').set(t.auth)).body, []);
    const none = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'cmd/alpha/reboot', payload: 'again' });
    assert.equal(none.status, 202);
    assert.deepEqual(none.body, { reason_code: 16, message: 'no_matching_subscribers' });

    const closed = new Promise<void>((resolve) => alpha!.once('close', () => resolve()));
    const kick = await t.http.delete('/api/v5/clients/alpha').set(t.auth);
    assert.equal(kick.status, 204, kick.text);
    assert.equal(kick.text, '');
    await closed;
    assert.equal((await t.http.get('/api/v5/clients/alpha').set(t.auth)).status, 404);
    assert.equal((await t.http.delete('/api/v5/clients/alpha').set(t.auth)).status, 404);
  } finally {
    await endAll(alpha, slash);
    await t.close();
  }
});

test('kick discards an offline persistent session with its queue', async () => {
  const t = await startTernApi();
  try {
    const c = await connect(t.mqttUrl(), { clientId: 'sleepy', clean: false });
    await c.subscribeAsync('news', { qos: 1 });
    const gone = disconnectOf(t.tern, 'sleepy');
    await endAll(c);
    await gone;
    assert.equal((await t.http.get('/api/v5/clients/sleepy').set(t.auth)).body.connected, false);
    await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'news', payload: 'x', qos: 1 });
    assert.equal((await t.http.delete('/api/v5/clients/sleepy').set(t.auth)).status, 204);
    assert.equal((await t.http.get('/api/v5/clients/sleepy').set(t.auth)).status, 404);
    const again = await connect(t.mqttUrl(), { clientId: 'sleepy', clean: false });
    assert.equal(again.connected, true);
    const subs = await t.http.get('/api/v5/clients/sleepy/subscriptions').set(t.auth);
    assert.deepEqual(subs.body, [], 'the old subscriptions went with the session');
    await endAll(again);
  } finally {
    await t.close();
  }
});

test('GET /subscriptions: filters and pagination', async () => {
  const t: TernApi = await startTernApi();
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await connect(t.mqttUrl(), { clientId: `s${i}` }));
    await clients[0]!.subscribeAsync({ 'a/b': { qos: 0 }, 'a/#': { qos: 1 } });
    await clients[1]!.subscribeAsync('$share/g1/jobs/#', { qos: 1 });
    await clients[2]!.subscribeAsync('$share/g1/jobs/#', { qos: 1 });
    await clients[3]!.subscribeAsync('x/+/z', { qos: 2 });

    const get = async (query: string) => {
      const res = await t.http.get(`/api/v5/subscriptions?${query}`).set(t.auth);
      assert.equal(res.status, 200, res.text);
      conforms('get', '/subscriptions', res);
      return res.body as { data: { clientid: string; topic: string; qos: number }[]; meta: { count: number; hasnext: boolean } };
    };
    const all = await get('');
    assert.equal(all.meta.count, 5);
    const topics = (b: { data: { clientid: string; topic: string }[] }) => b.data.map((s) => `${s.clientid} ${s.topic}`).sort();
    assert.deepEqual(topics(await get('clientid=s0')), ['s0 a/#', 's0 a/b']);
    assert.deepEqual(topics(await get('topic=a/b')), ['s0 a/b']);
    assert.deepEqual(topics(await get('qos=2')), ['s3 x/+/z']);
    assert.deepEqual(topics(await get('share_group=g1')), ['s1 $share/g1/jobs/#', 's2 $share/g1/jobs/#']);
    assert.deepEqual(topics(await get(`match_topic=${encodeURIComponent('a/#')}`)), ['s0 a/#', 's0 a/b']);
    assert.deepEqual(topics(await get(`match_topic=${encodeURIComponent('x/#')}`)), ['s3 x/+/z']);
    assert.deepEqual(topics(await get('match_topic=a/b')), ['s0 a/b']);
    const p = await get('limit=2&page=3');
    assert.equal(p.data.length, 1);
    assert.equal(p.meta.hasnext, false);
  } finally {
    await endAll(...clients);
    await t.close();
  }
});
