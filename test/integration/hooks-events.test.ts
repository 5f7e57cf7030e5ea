// Webhooks end to end: a real HTTP receiver on port 0, hooks registered through the API, mqtt.js
// clients. Each hook point arrives with EMQX 4's body (plus node and id), topic filters and
// $SYS are honoured, and signed requests verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startTernApi } from '../helpers/api-helpers.ts';
import { connect, endAll, nextMessages } from '../helpers/tern.ts';
import { withHookTern } from '../helpers/hooks.ts';

type Body = Record<string, unknown>;
const byAction = (events: Body[], action: string) => events.filter((e) => e.action === action);

test('each hook point arrives with its EMQX 4 body, node and a unique id', () =>
  withHookTern(async (t, rx) => {
    const create = await t.http
      .post('/api/v5/hooks')
      .set(t.auth)
      .send({
        name: 'all',
        url: rx.url,
        events: [
          'client.connect', 'client.connack', 'client.connected', 'client.authenticate', 'client.subscribe', 'client.unsubscribe',
          'session.created', 'session.subscribed', 'session.unsubscribed', 'session.terminated', 'client.disconnected',
          'message.publish', 'message.delivered', 'message.acked', 'message.dropped',
        ],
        batch_size: 50,
      });
    assert.equal(create.status, 201, create.text);

    // a persistent session: aedes reports the PUBACK of a delivery (message.acked) from its store
    const sub = await connect(t.mqttUrl(), { clientId: 'ev-sub', username: 'alice', clean: false });
    await sub.subscribeAsync('ev/t', { qos: 1 });
    const pub = await connect(t.mqttUrl(), { clientId: 'ev-pub' });
    await pub.publishAsync('ev/t', 'hello', { qos: 1 });
    await nextMessages(sub, 1);
    await pub.publishAsync('nobody/here', 'x', { qos: 0 });
    await sub.unsubscribeAsync('ev/t');
    await endAll(sub, pub);

    const node = t.tern.config.node.name;
    const events = await rx.until(() => {
      const d = rx.delivered();
      return byAction(d, 'client_disconnected').length === 2 && byAction(d, 'session_terminated').length === 1 && byAction(d, 'message_dropped').length >= 1 && d;
    }, 'both disconnects');

    for (const e of events) {
      assert.equal(e.node, node);
      assert.equal(typeof e.id, 'string');
    }
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');

    const connect0 = byAction(events, 'client_connect').find((e) => e.clientid === 'ev-sub')!;
    assert.deepEqual(Object.keys(connect0).sort(), ['action', 'clientid', 'id', 'ipaddress', 'keepalive', 'node', 'proto_ver', 'username']);
    assert.equal(connect0.username, 'alice');
    assert.equal(connect0.ipaddress, '127.0.0.1');
    assert.equal(connect0.proto_ver, 4);

    const connack = byAction(events, 'client_connack').find((e) => e.clientid === 'ev-sub')!;
    assert.equal(connack.conn_ack, 'success');

    const connected = byAction(events, 'client_connected').find((e) => e.clientid === 'ev-pub')!;
    assert.equal(connected.username, null, 'a missing username is null');
    assert.equal(typeof connected.connected_at, 'number');
    assert.equal(connected.keepalive, 60);

    const auth = byAction(events, 'client_authenticate').find((e) => e.clientid === 'ev-sub')!;
    assert.equal(auth.result, 'success');

    const subscribe = byAction(events, 'client_subscribe')[0]!;
    assert.deepEqual({ ...subscribe, id: 0 }, { action: 'client_subscribe', node, id: 0, clientid: 'ev-sub', username: 'alice', topic: 'ev/t', opts: { qos: 1 } });
    const subscribed = byAction(events, 'session_subscribed')[0]!;
    assert.deepEqual({ ...subscribed, id: 0 }, { action: 'session_subscribed', node, id: 0, clientid: 'ev-sub', username: 'alice', topic: 'ev/t', opts: { qos: 1 } });
    const unsubscribed = byAction(events, 'session_unsubscribed')[0]!;
    assert.deepEqual({ ...unsubscribed, id: 0 }, { action: 'session_unsubscribed', node, id: 0, clientid: 'ev-sub', username: 'alice', topic: 'ev/t' });

    const published = byAction(events, 'message_publish').find((e) => e.topic === 'ev/t')!;
    assert.deepEqual(
      { ...published, id: 0, ts: 0 },
      { action: 'message_publish', node, id: 0, ts: 0, from_client_id: 'ev-pub', from_username: null, topic: 'ev/t', qos: 1, retain: false, payload: 'hello' },
    );
    const delivered = byAction(events, 'message_delivered')[0]!;
    assert.equal(delivered.clientid, 'ev-sub');
    assert.equal(delivered.username, 'alice');
    assert.equal(delivered.from_client_id, 'ev-pub');
    assert.equal(delivered.payload, 'hello');
    const acked = byAction(events, 'message_acked')[0]!;
    assert.equal(acked.clientid, 'ev-sub');
    assert.equal(acked.topic, 'ev/t');

    const dropped = byAction(events, 'message_dropped').find((e) => e.topic === 'nobody/here')!;
    assert.equal(dropped.reason, 'no_subscribers');

    const disconnected = byAction(events, 'client_disconnected').find((e) => e.clientid === 'ev-sub')!;
    assert.deepEqual(Object.keys(disconnected).sort(), ['action', 'clientid', 'connected_at', 'disconnected_at', 'id', 'node', 'reason', 'username']);
    assert.equal(typeof disconnected.disconnected_at, 'number');
    const terminated = byAction(events, 'session_terminated').find((e) => e.clientid === 'ev-pub')!;
    assert.equal(typeof terminated.reason, 'string');
    assert.equal(byAction(events, 'session_terminated').filter((e) => e.clientid === 'ev-sub').length, 0, 'a persistent session outlives its connection');
  }));

test('topic filters pick message events, $SYS is never sent, base64 payloads', () =>
  withHookTern(async (t, rx) => {
    const res = await t.http
      .post('/api/v5/hooks')
      .set(t.auth)
      .send({ name: 'filtered', url: rx.url, events: ['message.publish'], topic_filters: ['a/+/c', 'b/#'], payload_encoding: 'base64' });
    assert.equal(res.status, 201, res.text);
    const pub = await connect(t.mqttUrl(), { clientId: 'filter-pub' });
    for (const topic of ['a/1/c', 'a/1/d', 'b', 'b/x/y', 'c/1', 'a/2/c']) await pub.publishAsync(topic, `p:${topic}`, { qos: 1 });
    // the broker's own $SYS messages match '#'-style filters only if sent; a hook on everything must not get them either
    await t.http.post('/api/v5/hooks').set(t.auth).send({ name: 'everything', url: rx.url + '?all', events: ['message.publish'] }).expect(201);
    await t.tern.control.publish({ topic: '$SYS/brokers/x/test', payload: Buffer.from('sys'), qos: 0, retain: false });
    await pub.publishAsync('last', 'end', { qos: 1 });
    await endAll(pub);
    const got = await rx.until(() => {
      const all = rx.requests.filter((r) => r.path.endsWith('?all')).flatMap((r) => r.events);
      return all.some((e) => e.topic === 'last') && rx.requests.filter((r) => !r.path.endsWith('?all')).length >= 4 && rx.requests;
    }, 'filtered and unfiltered publishes');
    const filtered = got.filter((r) => !r.path.endsWith('?all')).flatMap((r) => r.events);
    assert.deepEqual(filtered.map((e) => e.topic), ['a/1/c', 'b', 'b/x/y', 'a/2/c']);
    assert.equal(Buffer.from(String(filtered[0]!.payload), 'base64').toString(), 'p:a/1/c');
    const all = got.filter((r) => r.path.endsWith('?all')).flatMap((r) => r.events);
    assert.deepEqual(all.map((e) => e.topic), ['last'], 'no $SYS message');
  }));

test('with a secret, every request carries a timestamp and an HMAC-SHA256 signature of timestamp.body', () =>
  withHookTern(async (t, rx) => {
    const res = await t.http
      .post('/api/v5/hooks')
      .set(t.auth)
      .send({ name: 'signed', url: rx.url, events: ['client.connected'], secret: 's3cret', headers: { 'x-extra': 'yes' } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.has_secret, true);
    assert.equal('secret' in res.body, false, 'the secret is never shown');
    const c = await connect(t.mqttUrl(), { clientId: 'signed-1' });
    await endAll(c);
    const [req] = await rx.until(() => rx.requests.length >= 1 && rx.requests, 'a signed request');
    const ts = String(req!.headers['x-tern-timestamp']);
    assert.match(ts, /^\d+$/);
    assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60);
    const expected = 'sha256=' + createHmac('sha256', 's3cret').update(`${ts}.${req!.body}`).digest('hex');
    assert.equal(req!.headers['x-tern-signature'], expected);
    const wrong = 'sha256=' + createHmac('sha256', 'other').update(`${ts}.${req!.body}`).digest('hex');
    assert.notEqual(req!.headers['x-tern-signature'], wrong);
    assert.equal(req!.headers['x-extra'], 'yes');
    assert.equal(req!.headers['content-type'], 'application/json');
    assert.equal(req!.events[0]!.clientid, 'signed-1');
  }));
