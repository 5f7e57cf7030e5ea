// Subscriptions made by the broker through the whole product: the API, real mqtt.js clients,
// SQLite in a temp dir, and restarts on the same data dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTernApi, type TernApi } from '../helpers/api-helpers.ts';
import { busEvents } from '../helpers/events.ts';
import { testConfig, connect, nextMessages, endAll } from '../helpers/tern.ts';
import type { Config } from '../../server/config/types.ts';

const subs = (t: TernApi, clientid: string) =>
  t.http.get(`/api/v5/clients/${encodeURIComponent(clientid)}/subscriptions`).set(t.auth).then((r) => r.body as { topic: string; qos: number; source: string; share_group?: string }[]);

test('auto-subscribe templates with both placeholder styles apply at connect, pass max_qos_allowed, and show as source: broker', async () => {
  const t = await startTernApi(testConfig((c) => (c.mqtt.max_qos_allowed = 1)));
  try {
    const put = await t.http
      .put('/api/v5/mqtt/auto_subscribe')
      .set(t.auth)
      .send([{ topic: 'client/${clientid}/inbox', qos: 1 }, { topic: 'user/%u/#' }, { topic: 'dev/%c/${username}', qos: 2, nl: 1 }]);
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.body, [
      { topic: 'client/${clientid}/inbox', qos: 1, rh: 0, rap: 0, nl: 0 },
      { topic: 'user/%u/#', qos: 0, rh: 0, rap: 0, nl: 0 },
      { topic: 'dev/%c/${username}', qos: 2, rh: 0, rap: 0, nl: 1 },
    ]);
    assert.deepEqual((await t.http.get('/api/v5/mqtt/auto_subscribe').set(t.auth)).body, put.body);

    // applied right after the CONNACK, as one SUBSCRIBE: session.subscribed for each
    const applied = (clientid: string) => busEvents(t.tern.events, 'session.subscribed', (e) => e.clientid === clientid && e.source === 'broker');
    const c1 = applied('c1');
    const alice = await connect(t.mqttUrl(), { clientId: 'c1', username: 'alice' });
    await c1.wait(3, 'three broker subscriptions');
    assert.deepEqual(
      (await subs(t, 'c1')).map((s) => [s.topic, s.qos, s.source]).sort(),
      [
        ['client/c1/inbox', 1, 'broker'],
        // asked for 2, mqtt.max_qos_allowed = 1: the grant is what a SUBSCRIBE would get
        ['dev/c1/alice', 1, 'broker'],
        ['user/alice/#', 0, 'broker'],
      ],
    );
    const pub = await connect(t.mqttUrl(), { clientId: 'pub' });
    const got = nextMessages(alice, 2);
    await pub.publishAsync('client/c1/inbox', 'hello', { qos: 1 });
    await pub.publishAsync('user/alice/news', 'news', { qos: 1 });
    assert.deepEqual((await got).map((m) => [m.topic, m.payload]), [['client/c1/inbox', 'hello'], ['user/alice/news', 'news']]);

    // no user name: the %u templates are skipped for that client
    const c2 = applied('c2');
    const anon = await connect(t.mqttUrl(), { clientId: 'c2' });
    await c2.wait(1, 'one broker subscription');
    assert.deepEqual((await subs(t, 'c2')).map((s) => s.topic), ['client/c2/inbox']);
    // a client's own subscription stays source: client
    await anon.subscribeAsync('mine', { qos: 0 });
    assert.deepEqual((await subs(t, 'c2')).map((s) => [s.topic, s.source]).sort(), [['client/c2/inbox', 'broker'], ['mine', 'client']]);

    // a change applies at once to the clients online: removed templates unsubscribe
    await t.http.put('/api/v5/mqtt/auto_subscribe').set(t.auth).send([{ topic: 'client/%c/inbox', qos: 1 }]).expect(200);
    assert.deepEqual((await subs(t, 'c1')).map((s) => s.topic).sort(), ['client/c1/inbox']);
    await endAll(alice, anon, pub);
  } finally {
    await t.close();
  }
});

test('templates are seeded once from module.subscription.<n>; after a PUT the stored list survives a restart', async () => {
  const config: Config = testConfig((c) => (c.auto_subscriptions = [{ topic: 'seed/%c', qos: 1 }]));
  let t = await startTernApi(config);
  try {
    assert.deepEqual((await t.http.get('/api/v5/mqtt/auto_subscribe').set(t.auth)).body, [{ topic: 'seed/%c', qos: 1, rh: 0, rap: 0, nl: 0 }]);
    const bad = await t.http.put('/api/v5/mqtt/auto_subscribe').set(t.auth).send([{ topic: 'ok/%c' }, { topic: 'a/#/b' }]);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /body\[1\]\.topic/);
    await t.http.put('/api/v5/mqtt/auto_subscribe').set(t.auth).send([{ topic: 'kept/%c', qos: 0 }]).expect(200);
  } finally {
    await t.close();
  }
  t = await startTernApi(config);
  try {
    assert.deepEqual((await t.http.get('/api/v5/mqtt/auto_subscribe').set(t.auth)).body, [{ topic: 'kept/%c', qos: 0, rh: 0, rap: 0, nl: 0 }]);
    const applied = busEvents(t.tern.events, 'session.subscribed', (e) => e.clientid === 'after-restart' && e.topic === 'kept/after-restart');
    const c = await connect(t.mqttUrl(), { clientId: 'after-restart' });
    await applied.wait(1, 'the stored template applied');
    assert.deepEqual((await subs(t, 'after-restart')).map((s) => [s.topic, s.source]), [['kept/after-restart', 'broker']]);
    await endAll(c);
  } finally {
    await t.close();
  }
});

test('a per-client broker subscription added while online delivers at once; removing it unsubscribes; it survives a restart', async () => {
  const config = testConfig((c) => (c.mqtt.max_qos_allowed = 1));
  let t = await startTernApi(config);
  try {
    const dev = await connect(t.mqttUrl(), { clientId: 'dev-1', clean: false });
    const add = await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'dev-1', topic: 'cmd/dev-1', qos: 2 });
    assert.equal(add.status, 200, add.text);
    assert.equal(add.body.qos, 2);
    assert.equal(add.body.granted_qos, 1);
    const pub = await connect(t.mqttUrl(), { clientId: 'cmd-pub' });
    const got = nextMessages(dev, 1);
    await pub.publishAsync('cmd/dev-1', 'reboot', { qos: 1 });
    assert.deepEqual((await got).map((m) => [m.topic, m.payload, m.qos]), [['cmd/dev-1', 'reboot', 1]]);
    assert.deepEqual((await subs(t, 'dev-1')).map((s) => [s.topic, s.source]), [['cmd/dev-1', 'broker']]);

    // a shared topic makes it a member of that group; removing it (topic URL-encoded) leaves
    await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'dev-1', topic: '$share/workers/jobs/#', qos: 1 }).expect(200);
    const groups = (await t.http.get('/api/v5/shared_subscriptions').set(t.auth)).body;
    assert.deepEqual(groups.data.map((g: { group: string; topic: string; members: { clientid: string }[] }) => [g.group, g.topic, g.members.map((m) => m.clientid)]), [['workers', 'jobs/#', ['dev-1']]]);
    await t.http.delete(`/api/v5/mqtt/broker_subscriptions/dev-1/${encodeURIComponent('$share/workers/jobs/#')}`).set(t.auth).expect(204);
    assert.deepEqual((await t.http.get('/api/v5/shared_subscriptions').set(t.auth)).body.data, []);

    // listing, filtered by client id
    await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'dev-2', topic: 'cmd/dev-2', qos: 1 }).expect(200);
    const listed = await t.http.get('/api/v5/mqtt/broker_subscriptions?clientid=dev-2').set(t.auth);
    assert.deepEqual(listed.body.data.map((s: { clientid: string; topic: string; granted_qos: number | null }) => [s.clientid, s.topic, s.granted_qos]), [['dev-2', 'cmd/dev-2', null]]);
    assert.equal((await t.http.get('/api/v5/mqtt/broker_subscriptions').set(t.auth)).body.meta.count, 2);

    // removed: unsubscribed at once, and not restored from the stored session
    await t.http.delete(`/api/v5/mqtt/broker_subscriptions/dev-1/${encodeURIComponent('cmd/dev-1')}`).set(t.auth).expect(204);
    assert.deepEqual(await subs(t, 'dev-1'), []);
    assert.equal((await t.http.delete('/api/v5/mqtt/broker_subscriptions/dev-1/nothing').set(t.auth)).status, 404);
    await endAll(dev, pub);
  } finally {
    await t.close();
  }
  // dev-2 was offline (never connected): stored, applied at its first connect after a restart
  t = await startTernApi(config);
  try {
    const applied = busEvents(t.tern.events, 'session.subscribed', (e) => e.clientid === 'dev-2' && e.topic === 'cmd/dev-2');
    const dev2 = await connect(t.mqttUrl(), { clientId: 'dev-2' });
    await applied.wait(1, 'applied at connect');
    // and it delivers
    const pub = await connect(t.mqttUrl(), { clientId: 'cmd-pub-2' });
    const got = nextMessages(dev2, 1);
    await pub.publishAsync('cmd/dev-2', 'after-restart', { qos: 1 });
    assert.deepEqual((await got).map((m) => [m.topic, m.payload]), [['cmd/dev-2', 'after-restart']]);
    assert.deepEqual((await subs(t, 'dev-2')).map((s) => [s.topic, s.source]), [['cmd/dev-2', 'broker']]);
    const dev1 = await connect(t.mqttUrl(), { clientId: 'dev-1', clean: false });
    assert.deepEqual(await subs(t, 'dev-1'), []);
    await endAll(dev1, dev2, pub);
  } finally {
    await t.close();
  }
});

test('a broker subscription passes the checks a SUBSCRIBE passes: a refusal is 403 and nothing is stored; a bad filter is 400 naming the field', async () => {
  const t = await startTernApi(testConfig((c) => (c.zones.external!.max_subscriptions = 1)));
  try {
    const c = await connect(t.mqttUrl(), { clientId: 'ext' });
    const sys = await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'ext', topic: '$SYS/#' });
    assert.equal(sys.status, 403, sys.text);
    assert.equal(sys.body.code, 'SUBSCRIPTION_REFUSED');
    assert.match(sys.body.message, /\$SYS/);
    await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'ext', topic: 'one' }).expect(200);
    const second = await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'ext', topic: 'two' });
    assert.equal(second.status, 403);
    assert.match(second.body.message, /max_subscriptions/);
    assert.deepEqual((await t.http.get('/api/v5/mqtt/broker_subscriptions').set(t.auth)).body.data.map((s: { topic: string }) => s.topic), ['one']);

    const bad = await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'ext', topic: 'a/#/b' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /body\.topic/);
    const noQos = await t.http.post('/api/v5/mqtt/broker_subscriptions').set(t.auth).send({ clientid: 'ext', topic: 'x', qos: 3 });
    assert.equal(noQos.status, 400);

    // the client-subscribe route runs the same chain: max_qos_allowed and refusals included
    const refused = await t.http.post('/api/v5/clients/ext/subscribe').set(t.auth).send({ topic: 'three', qos: 1 });
    assert.equal(refused.status, 403);
    await endAll(c);
  } finally {
    await t.close();
  }
});
