// The publisher of a queued message (from_clientid) survives queueing for an offline persistent
// session, a restart on the same data dir, and delivery (the in-flight copies keep it until the
// subscriber acknowledges), in sqlite and in memory persistence. aedes stamps packet.clientId
// only when it routes to live subscribers, after the persistence has queued (and retained) the
// message, so Tern has to hand the publisher over earlier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type mqttPacket from 'mqtt-packet';
import { startTernApi, type TernApi } from '../helpers/api-helpers.ts';
import { connect, nextMessages, endAll, testConfig } from '../helpers/tern.ts';
import { openRaw, connectBytes } from '../helpers/raw.ts';
import { busEvents, disconnectOf } from '../helpers/events.ts';

type Queued = { topic: string; qos: number; payload: string; inflight: boolean; from_clientid: string | null };

async function queued(t: TernApi, clientid: string): Promise<Queued[]> {
  const res = await t.http.get(`/api/v5/clients/${clientid}/mqueue_messages?payload=plain`).set(t.auth);
  assert.equal(res.status, 200, res.text);
  return (res.body.data as Queued[]).map(({ topic, qos, payload, inflight, from_clientid }) => ({ topic, qos, payload, inflight, from_clientid }));
}

/** A persistent session subscribed to q/# at QoS 2, then offline. */
async function offlineSubscriber(t: TernApi, clientId: string): Promise<void> {
  const sub = await connect(t.mqttUrl(), { clientId, clean: false });
  await sub.subscribeAsync('q/#', { qos: 2 });
  const gone = disconnectOf(t.tern, clientId);
  await endAll(sub);
  await gone;
  assert.equal(t.tern.sessions.get(clientId)?.connected, false);
}

async function publishFrom(t: TernApi, clientId: string): Promise<void> {
  const pub = await connect(t.mqttUrl(), { clientId });
  try {
    // resolve on PUBACK / PUBCOMP: both copies are queued by then
    await pub.publishAsync('q/one', 'a', { qos: 1 });
    await pub.publishAsync('q/two', 'b', { qos: 2 });
  } finally {
    await endAll(pub);
  }
}

const expected = (inflight: boolean): Queued[] => [
  { topic: 'q/one', qos: 1, payload: 'a', inflight, from_clientid: 'pub-1' },
  { topic: 'q/two', qos: 2, payload: 'b', inflight, from_clientid: 'pub-1' },
];

/** Takes the queue as a raw peer that never acknowledges: the copies stay in flight. */
async function receiveWithoutAck(t: TernApi, clientId: string): Promise<mqttPacket.Packet[]> {
  const raw = await openRaw(t.tern.ports.tcp.external!);
  try {
    raw.send(connectBytes({ clientId, flags: 0x00 })); // clean session 0: resume
    const ack = (await raw.next((p) => p.cmd === 'connack', 'CONNACK')) as mqttPacket.IConnackPacket;
    assert.equal(ack.returnCode, 0);
    assert.equal(ack.sessionPresent, true);
    const got = [await raw.next((p) => p.cmd === 'publish', 'first PUBLISH'), await raw.next((p) => p.cmd === 'publish', 'second PUBLISH')];
    // the subscriber's view of the message: the broker has recorded both as sent
    assert.deepEqual(await queued(t, clientId), expected(true));
    const gone = disconnectOf(t.tern, clientId);
    raw.destroy();
    await gone;
    return got;
  } finally {
    raw.destroy();
  }
}

test('sqlite: from_clientid of queued QoS 1/2 messages survives queueing, restarts and delivery', async () => {
  const config = testConfig();
  let t = await startTernApi(config);
  try {
    await offlineSubscriber(t, 'sub');
    await publishFrom(t, 'pub-1');
    assert.deepEqual(await queued(t, 'sub'), expected(false), 'queued for the offline session');

    await t.close();
    t = await startTernApi(config);
    assert.deepEqual(await queued(t, 'sub'), expected(false), 'after a restart');

    const first = await receiveWithoutAck(t, 'sub');
    assert.deepEqual(first.map((p) => (p as mqttPacket.IPublishPacket).payload.toString()), ['a', 'b']);

    await t.close();
    t = await startTernApi(config);
    assert.deepEqual(await queued(t, 'sub'), expected(true), 'in flight, after a restart');

    const back = await connect(t.mqttUrl(), { clientId: 'sub', clean: false });
    const msgs = await nextMessages(back, 2);
    assert.deepEqual(msgs.map((m) => [m.topic, m.payload, m.qos]), [['q/one', 'a', 1], ['q/two', 'b', 2]]);
    await endAll(back);
  } finally {
    await t.close();
  }
});

test('memory: from_clientid of queued QoS 1/2 messages survives queueing and delivery', async () => {
  const t = await startTernApi(testConfig((c) => (c.persistence = 'memory')));
  try {
    await offlineSubscriber(t, 'sub');
    await publishFrom(t, 'pub-1');
    assert.deepEqual(await queued(t, 'sub'), expected(false));
    await receiveWithoutAck(t, 'sub');
    const back = await connect(t.mqttUrl(), { clientId: 'sub', clean: false });
    assert.deepEqual((await nextMessages(back, 2)).map((m) => m.payload), ['a', 'b']);
    await endAll(back);
  } finally {
    await t.close();
  }
});

test('a message dropped from a full queue reports its publisher; a retained message keeps it across a restart', async () => {
  const config = testConfig((c) => (c.zones.external!.max_mqueue_len = 1));
  let t = await startTernApi(config);
  try {
    await offlineSubscriber(t, 'sub');
    const dropped = busEvents(t.tern.events, 'message.dropped', (e) => e.reason === 'queue_full');
    await publishFrom(t, 'pub-1');
    const [d] = await dropped.wait(1, 'the queue_full drop');
    assert.deepEqual([d!.clientid, d!.topic, d!.from_clientid], ['sub', 'q/one', 'pub-1']);

    const pub = await connect(t.mqttUrl(), { clientId: 'pub-r' });
    await pub.publishAsync('r/x', 'kept', { qos: 1, retain: true });
    await endAll(pub);
    const retained = async () => {
      const out: { clientId?: string; payload: Buffer }[] = [];
      for await (const p of t.tern.persistence.createRetainedStream('r/x')) out.push(p);
      return out.map((p) => [p.payload.toString(), p.clientId]);
    };
    assert.deepEqual(await retained(), [['kept', 'pub-r']]);
    await t.close();
    t = await startTernApi(config);
    assert.deepEqual(await retained(), [['kept', 'pub-r']], 'after a restart');
  } finally {
    await t.close();
  }
});
