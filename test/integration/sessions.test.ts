// Persistent sessions and the mqueue through the whole product: mqtt.js clients over loopback,
// SQLite in a temp dir, events read from Tern's event bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';
import type { TernEventName, TernEvents } from '../../server/broker/events.ts';
import type { Config } from '../../server/config/types.ts';
import { acksOf, busEvents, disconnectOf, emitterEvents } from '../helpers/events.ts';

function record(tern: Tern, names: TernEventName[]) {
  const seen: { name: TernEventName; payload: TernEvents[TernEventName] }[] = [];
  // the bus stamps each event with an id and a time: checked here, left out of the comparisons
  for (const name of names) {
    tern.events.on(name, ({ id, ts, ...payload }) => {
      assert.match(id, /^[0-9a-z]+-[0-9a-z]+$/);
      assert.ok(ts > 0);
      seen.push({ name, payload: payload as TernEvents[TernEventName] });
    });
  }
  return seen;
}

/** connect clean=false, subscribe, go away: an offline persistent session */
async function offlineSubscriber(tern: Tern, clientId: string, topic: string, qos: 0 | 1 | 2) {
  const c = await connect(tcpUrl(tern), { clientId, clean: false });
  await c.subscribeAsync(topic, { qos });
  const gone = disconnectOf(tern, clientId);
  await c.endAsync();
  await gone;
  assert.equal(tern.sessions.get(clientId)?.connected, false);
}

/** stops the clock-free way: a client's disconnect, awaited on the bus */
async function endAndWait(tern: Tern, clientId: string, client: { endAsync(): Promise<void> }) {
  const gone = disconnectOf(tern, clientId);
  await client.endAsync();
  await gone;
}

async function publishMany(tern: Tern, topic: string, n: number, qos: 0 | 1 | 2) {
  const pub = await connect(tcpUrl(tern), { clientId: `pub-${Math.random()}` });
  for (let i = 0; i < n; i++) await pub.publishAsync(topic, `m${i}`, { qos });
  await pub.endAsync(); // graceful: QoS 0 packets still in the socket reach the broker
}

function withZone(mutate: (z: Config['zones'][string]) => void) {
  return testConfig((c) => mutate(c.zones.external!));
}

test('an offline persistent session receives its queued QoS 1 and QoS 2 messages in order on return', async () => {
  const tern = await startTestTern();
  try {
    await offlineSubscriber(tern, 'p-order', 'order/+', 2);
    const pub = await connect(tcpUrl(tern), { clientId: 'p-order-pub' });
    for (let i = 0; i < 10; i++) await pub.publishAsync(`order/${i % 2 ? 'a' : 'b'}`, `m${i}`, { qos: i % 2 ? 1 : 2 });
    await endAll(pub);
    assert.equal(tern.sessions.get('p-order')!.mqueue_len, 10);

    const queued = await tern.sessions.queuedMessages('p-order', { page: 1, limit: 100 });
    assert.deepEqual(queued.data.map((m) => m.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i}`));

    const acks = acksOf(tern, 'p-order');
    const back = await connect(tcpUrl(tern), { clientId: 'p-order', clean: false });
    const msgs = await nextMessages(back, 10);
    // mqtt.js hands a QoS 2 message over at PUBREL, after a QoS 1 sent behind it: compare per QoS
    const byQos = (q: number) => msgs.filter((m) => m.qos === q).map((m) => m.payload);
    assert.deepEqual(byQos(1), ['m1', 'm3', 'm5', 'm7', 'm9']);
    assert.deepEqual(byQos(2), ['m0', 'm2', 'm4', 'm6', 'm8']);
    await acks.wait(10, 'a PUBACK or PUBCOMP per message');
    assert.deepEqual([tern.sessions.get('p-order')!.mqueue_len, tern.sessions.get('p-order')!.inflight_cnt], [0, 0]);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('max_mqueue_len = 10 with 25 messages published while offline: the newest 10 arrive, 15 dropped', async () => {
  const tern = await startTestTern(withZone((z) => (z.max_mqueue_len = 10)));
  const events = record(tern, ['message.dropped']);
  try {
    await offlineSubscriber(tern, 'capped', 'cap/t', 1);
    await publishMany(tern, 'cap/t', 25, 1);
    const info = tern.sessions.get('capped')!;
    assert.equal(info.mqueue_len, 10);
    assert.equal(info.mqueue_max, 10);
    assert.equal(info.mqueue_dropped, 15);
    const queued = await tern.sessions.queuedMessages('capped', { page: 1, limit: 100 });
    assert.deepEqual(queued.data.map((m) => m.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i + 15}`));
    const drops = events.filter((e) => e.name === 'message.dropped').map((e) => e.payload as TernEvents['message.dropped']);
    assert.equal(drops.length, 15);
    assert.ok(drops.every((d) => d.reason === 'queue_full' && d.clientid === 'capped'));
    assert.deepEqual(drops.map((d) => d.payload.toString()), Array.from({ length: 15 }, (_, i) => `m${i}`));
    assert.equal(tern.control.metrics()['messages.dropped.queue_full'], 15);

    const back = await connect(tcpUrl(tern), { clientId: 'capped', clean: false });
    const msgs = await nextMessages(back, 10);
    assert.deepEqual(msgs.map((m) => m.payload), Array.from({ length: 10 }, (_, i) => `m${i + 15}`));
    // and no eleventh
    const probe = nextMessages(back, 1);
    const pub = await connect(tcpUrl(tern), { clientId: 'cap-probe' });
    await pub.publishAsync('cap/t', 'probe', { qos: 1 });
    assert.equal((await probe)[0]!.payload, 'probe');
    await endAll(back, pub);
  } finally {
    await tern.close();
  }
});

test('mqueue_store_qos0 on: QoS 0 messages wait for an offline session', async () => {
  const tern = await startTestTern(withZone((z) => (z.mqueue_store_qos0 = true)));
  try {
    await offlineSubscriber(tern, 'q0-on', 'q0/on', 1);
    // aedes emits 'publish' as it calls the published hook, which queues the QoS 0 copy once the
    // persistence's (already resolved) subscriptionsByTopic promise settles: a turn later it is in
    const published = emitterEvents(tern.aedes as never, 'publish', (packet: { topic: string }, client: unknown) => client !== null && packet.topic === 'q0/on');
    await publishMany(tern, 'q0/on', 3, 0);
    await published.wait(3, 'three QoS 0 publishes');
    await new Promise((r) => setImmediate(r));
    assert.equal(tern.sessions.get('q0-on')!.mqueue_len, 3);
    const back = await connect(tcpUrl(tern), { clientId: 'q0-on', clean: false });
    const msgs = await nextMessages(back, 3);
    assert.deepEqual(msgs.map((m) => [m.payload, m.qos]), [['m0', 0], ['m1', 0], ['m2', 0]]);
    // a QoS 0 entry leaves the queue as it is sent (aedes' outgoingUpdate precedes the write)
    assert.equal(tern.sessions.get('q0-on')!.mqueue_len, 0);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('mqueue_store_qos0 off: QoS 0 messages are not queued, QoS 1 still are', async () => {
  const tern = await startTestTern(withZone((z) => (z.mqueue_store_qos0 = false)));
  try {
    await offlineSubscriber(tern, 'q0-off', 'q0/off', 1);
    await publishMany(tern, 'q0/off', 3, 0);
    await publishMany(tern, 'q0/off', 1, 1);
    assert.equal(tern.sessions.get('q0-off')!.mqueue_len, 1);
    const back = await connect(tcpUrl(tern), { clientId: 'q0-off', clean: false });
    const [m] = await nextMessages(back, 1);
    assert.deepEqual([m!.payload, m!.qos], ['m0', 1]);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('a QoS 1 message to a QoS 0 subscription of an offline session is queued at QoS 0', async () => {
  const tern = await startTestTern();
  try {
    await offlineSubscriber(tern, 'down', 'down/t', 0);
    await publishMany(tern, 'down/t', 1, 1);
    const q = await tern.sessions.queuedMessages('down', { page: 1, limit: 10 });
    assert.deepEqual(q.data.map((m) => m.qos), [0]);
    const back = await connect(tcpUrl(tern), { clientId: 'down', clean: false });
    const [m] = await nextMessages(back, 1);
    assert.equal(m!.qos, 0);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('a session expires session_expiry_interval after its client left: subscriptions and queue go', async () => {
  const tern = await startTestTern(withZone((z) => (z.session_expiry_interval = 300)));
  const events = record(tern, ['session.terminated', 'message.dropped']);
  const terminated = busEvents(tern.events, 'session.terminated', (e) => e.clientid === 'expiring');
  try {
    await offlineSubscriber(tern, 'expiring', 'exp/t', 1);
    await publishMany(tern, 'exp/t', 2, 1);
    assert.equal(tern.sessions.get('expiring')!.expiry_interval, 0.3);
    // the event follows the store's delete of the session's subscriptions and queue
    await terminated.wait(1, 'the session expiry');
    assert.equal(tern.sessions.get('expiring'), undefined);
    assert.deepEqual(
      events.filter((e) => e.name === 'session.terminated' && (e.payload as { clientid: string }).clientid === 'expiring').map((e) => e.payload),
      [{ clientid: 'expiring', username: null, reason: 'expired' }],
    );
    assert.equal(events.filter((e) => e.name === 'message.dropped' && (e.payload as { reason: string }).reason === 'expired').length, 2);
    assert.deepEqual(tern.persistence.subscriptions('expiring'), []);
    assert.equal(tern.persistence.stats('expiring').mqueue_len, 0);
    // a new connection finds no session
    const back = await connect(tcpUrl(tern), { clientId: 'expiring', clean: false });
    assert.equal(back.connected, true);
    assert.deepEqual(tern.sessions.subscriptions('expiring'), []);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('session events: created, resumed, takeovered, discarded and terminated', async () => {
  const tern = await startTestTern();
  const events = record(tern, ['session.created', 'session.resumed', 'session.takeovered', 'session.discarded', 'session.terminated']);
  const names = () => events.map((e) => `${e.name}${'reason' in e.payload ? ':' + (e.payload as { reason: string }).reason : ''}`);
  try {
    const a = await connect(tcpUrl(tern), { clientId: 'ev', clean: false });
    assert.deepEqual(names(), ['session.created']);
    await endAndWait(tern, 'ev', a);
    assert.equal(tern.sessions.get('ev')?.connected, false);
    const b = await connect(tcpUrl(tern), { clientId: 'ev', clean: false });
    assert.deepEqual(names(), ['session.created', 'session.resumed']);
    const bClosed = new Promise<void>((r) => b.once('close', () => r()));
    const c = await connect(tcpUrl(tern), { clientId: 'ev', clean: false });
    await bClosed;
    b.end(true);
    assert.deepEqual(names(), ['session.created', 'session.resumed', 'session.takeovered']);
    await endAndWait(tern, 'ev', c);
    assert.equal(tern.sessions.get('ev')?.connected, false);
    const d = await connect(tcpUrl(tern), { clientId: 'ev', clean: true });
    assert.deepEqual(names().slice(3), ['session.discarded', 'session.terminated:discarded', 'session.created']);
    const kicked = busEvents(tern.events, 'session.terminated', (e) => e.clientid === 'ev' && e.reason === 'kicked');
    await tern.sessions.kick('ev');
    await kicked.wait(1, 'the kicked session to terminate');
    assert.equal(names().length, 7);
    assert.equal(names()[6], 'session.terminated:kicked');
    assert.equal(tern.sessions.get('ev'), undefined);
    d.end(true);
  } finally {
    await tern.close();
  }
});

test('kicking an offline persistent session removes it', async () => {
  const tern = await startTestTern();
  try {
    await offlineSubscriber(tern, 'gone', 'gone/t', 1);
    assert.equal(await tern.sessions.kick('gone'), true);
    assert.equal(tern.sessions.get('gone'), undefined);
    assert.deepEqual(tern.persistence.subscriptions('gone'), []);
    assert.equal(await tern.sessions.kick('gone'), false);
  } finally {
    await tern.close();
  }
});

test('message.dropped reports no_subscribers and not_authorized', async () => {
  const tern = await startTestTern();
  const events = record(tern, ['message.dropped']);
  const dropped = busEvents(tern.events, 'message.dropped');
  try {
    const pub = await connect(tcpUrl(tern), { clientId: 'dropper' });
    await pub.publishAsync('nobody/listens', 'x', { qos: 1 });
    await pub.publishAsync('$SYS/forged', 'x', { qos: 1 }); // acknowledged, then dropped
    await dropped.wait(2, 'two drops');
    assert.equal(events.length, 2);
    assert.deepEqual(
      events.map((e) => [(e.payload as { reason: string }).reason, (e.payload as { topic: string }).topic]),
      [['no_subscribers', 'nobody/listens'], ['not_authorized', '$SYS/forged']],
    );
    assert.equal(pub.connected, true);
    await endAll(pub);
  } finally {
    await tern.close();
  }
});

test('the registry lists online and offline sessions with their counters, filters and pages', async () => {
  const tern = await startTestTern();
  try {
    for (let i = 0; i < 5; i++) await offlineSubscriber(tern, `off-${i}`, 'reg/t', 1);
    const online = await connect(tcpUrl(tern), { clientId: 'on-1', username: 'uu' });
    await online.subscribeAsync(['a/1', 'a/2'], { qos: 0 });
    const publisherGone = busEvents(tern.events, 'client.disconnected', (e) => e.clientid.startsWith('pub-'));
    await publishMany(tern, 'reg/t', 3, 1);

    // the publisher's clean session ends when its disconnect is processed
    await publisherGone.wait(1, "the publisher's disconnect");
    assert.equal(tern.sessions.list({}, { page: 1, limit: 100 }).count, 6);
    const off = tern.sessions.list({ conn_state: 'disconnected' }, { page: 1, limit: 2 });
    assert.equal(off.count, 5);
    assert.deepEqual(off.data.map((s) => s.clientid), ['off-0', 'off-1']);
    const page3 = tern.sessions.list({ conn_state: 'disconnected' }, { page: 3, limit: 2 });
    assert.deepEqual(page3.data.map((s) => s.clientid), ['off-4']);
    assert.ok(off.data.every((s) => s.mqueue_len === 3 && s.mqueue_max === 1000 && s.subscriptions_cnt === 1 && !s.connected));
    assert.equal(tern.sessions.list({ gte_mqueue_len: 3 }, { page: 1, limit: 100 }).count, 5);
    assert.equal(tern.sessions.list({ lte_mqueue_len: 0 }, { page: 1, limit: 100 }).count, 1);
    const on = tern.sessions.get('on-1')!;
    assert.equal(on.connected, true);
    assert.equal(on.username, 'uu');
    assert.equal(on.subscriptions_cnt, 2);
    assert.equal(on.inflight_max, 32);
    assert.equal(tern.sessions.list({ like_clientid: 'on-' }, { page: 1, limit: 100 }).count, 1);
    assert.equal(tern.sessions.list({ username: 'uu' }, { page: 1, limit: 100 }).count, 1);

    const q = await tern.sessions.queuedMessages('off-2', { page: 1, limit: 2 });
    assert.equal(q.count, 3);
    assert.deepEqual(q.data.map((m) => [m.topic, m.qos, m.payload.toString(), m.inflight]), [
      ['reg/t', 1, 'm0', false],
      ['reg/t', 1, 'm1', false],
    ]);
    assert.ok(q.data[0]!.publish_at > Date.now() - 60_000);

    assert.equal(await tern.sessions.discard('off-3'), true);
    assert.equal(tern.sessions.get('off-3'), undefined);
    await endAll(online);
  } finally {
    await tern.close();
  }
});

test('recv_msg and send_msg of a persistent session keep counting across a resume and a restart', async () => {
  const config = testConfig();
  let tern = await startTestTern(config);
  try {
    let c = await connect(tcpUrl(tern), { clientId: 'counted', clean: false });
    await c.subscribeAsync('cnt/t', { qos: 1 });
    const first = nextMessages(c, 3);
    for (let i = 0; i < 3; i++) await c.publishAsync('cnt/t', `a${i}`, { qos: 1 });
    await first;
    await endAndWait(tern, 'counted', c);
    assert.equal(tern.sessions.get('counted')?.connected, false);
    assert.deepEqual([tern.sessions.get('counted')!.recv_msg, tern.sessions.get('counted')!.send_msg], [3, 3]);

    c = await connect(tcpUrl(tern), { clientId: 'counted', clean: false });
    const second = nextMessages(c, 2);
    for (let i = 0; i < 2; i++) await c.publishAsync('cnt/t', `b${i}`, { qos: 1 });
    await second;
    const live = tern.sessions.get('counted')!;
    assert.equal(live.connected, true);
    assert.deepEqual([live.recv_msg, live.send_msg], [5, 5]);
    await endAndWait(tern, 'counted', c);
    assert.equal(tern.sessions.get('counted')?.connected, false);
    await tern.close();

    tern = await startTestTern(config);
    assert.deepEqual([tern.sessions.get('counted')!.recv_msg, tern.sessions.get('counted')!.send_msg], [5, 5]);
  } finally {
    await tern.close();
  }
});

test('a restart keeps offline sessions, their subscriptions, queues and counters', async () => {
  const config = withZone((z) => (z.max_mqueue_len = 5));
  let tern = await startTestTern(config);
  await offlineSubscriber(tern, 'durable', 'dur/t', 1);
  await publishMany(tern, 'dur/t', 7, 1);
  await tern.close();

  tern = await startTestTern(config);
  try {
    const info = tern.sessions.get('durable')!;
    assert.equal(info.connected, false);
    assert.equal(info.mqueue_len, 5);
    assert.equal(info.mqueue_dropped, 2);
    assert.deepEqual(tern.sessions.subscriptions('durable').map((s) => s.topic), ['dur/t']);
    const back = await connect(tcpUrl(tern), { clientId: 'durable', clean: false });
    assert.equal(back.connected, true);
    const msgs = await nextMessages(back, 5);
    assert.deepEqual(msgs.map((m) => m.payload), ['m2', 'm3', 'm4', 'm5', 'm6']);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('persistence = memory: sessions and the mqueue behave the same within a run', async () => {
  const tern = await startTestTern(
    testConfig((c) => {
      c.persistence = 'memory';
      c.zones.external!.max_mqueue_len = 3;
    }),
  );
  try {
    await offlineSubscriber(tern, 'mem', 'mem/t', 1);
    await publishMany(tern, 'mem/t', 5, 1);
    assert.equal(tern.sessions.get('mem')!.mqueue_dropped, 2);
    const back = await connect(tcpUrl(tern), { clientId: 'mem', clean: false });
    assert.deepEqual((await nextMessages(back, 3)).map((m) => m.payload), ['m2', 'm3', 'm4']);
    await endAll(back);
  } finally {
    await tern.close();
  }
});
