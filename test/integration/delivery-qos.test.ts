// The QoS a message goes out with: the lower of its own and the highest QoS granted to the
// client's matching subscriptions [MQTT-3.3.5-1, MQTT-3.8.4-6], through wildcard filters too
// (aedes lowered it only where the filter is the topic itself: core/internals/aedes-client.ts),
// for retained messages sent at a SUBSCRIBE as well; and message.delivered / message.acked say
// the QoS delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import { busEvents } from '../helpers/events.ts';
import type { Tern } from '../../server/tern.ts';

let tern: Tern;
before(async () => {
  tern = await startTestTern(testConfig());
});
after(() => tern.close());

test('a QoS 2 message through a QoS 1 wildcard subscription arrives at QoS 1, through QoS 2 filters at 2; message.delivered says so', async () => {
  const delivered = busEvents(tern.events, 'message.delivered', (e) => e.topic.startsWith('dq/'));
  const [one, two, pub] = await Promise.all([connect(tcpUrl(tern), { clientId: 'dq-one' }), connect(tcpUrl(tern), { clientId: 'dq-two' }), connect(tcpUrl(tern), { clientId: 'dq-pub' })]);
  try {
    await one.subscribeAsync('dq/+/x', { qos: 1 });
    await two.subscribeAsync('dq/#', { qos: 2 });
    const got = Promise.all([nextMessages(one, 1), nextMessages(two, 1)]);
    await pub.publishAsync('dq/a/x', 'm', { qos: 2 });
    const [[atOne], [atTwo]] = await got;
    assert.equal(atOne!.qos, 1, 'granted 1 through a wildcard');
    assert.equal(atTwo!.qos, 2);
    await delivered.wait(2, 'both deliveries');
    assert.deepEqual(delivered.seen.map((e) => `${e.clientid} ${e.qos}`).sort(), ['dq-one 1', 'dq-two 2']);
  } finally {
    delivered.stop();
    await endAll(one, two, pub);
  }
});

test('a retained message sent at a SUBSCRIBE goes out at the QoS granted through a wildcard filter', async () => {
  const pub = await connect(tcpUrl(tern), { clientId: 'dr-pub' });
  await pub.publishAsync('dr/kept/1', 'one', { qos: 1, retain: true });
  await pub.publishAsync('dr/kept/2', 'two', { qos: 2, retain: true });
  const [zero, one] = await Promise.all([connect(tcpUrl(tern), { clientId: 'dr-zero' }), connect(tcpUrl(tern), { clientId: 'dr-one' })]);
  try {
    const got = Promise.all([nextMessages(zero, 2), nextMessages(one, 2)]);
    await zero.subscribeAsync('dr/kept/+', { qos: 0 });
    await one.subscribeAsync('dr/#', { qos: 1 });
    const [atZero, atOne] = await got;
    const byTopic = (list: { topic: string; qos: number; retain: boolean }[]) => list.map((m) => `${m.topic} ${m.qos} ${m.retain}`).sort();
    assert.deepEqual(byTopic(atZero), ['dr/kept/1 0 true', 'dr/kept/2 0 true']);
    assert.deepEqual(byTopic(atOne), ['dr/kept/1 1 true', 'dr/kept/2 1 true']);
  } finally {
    await pub.publishAsync('dr/kept/1', '', { qos: 1, retain: true });
    await pub.publishAsync('dr/kept/2', '', { qos: 1, retain: true });
    await endAll(zero, one, pub);
  }
});

test('a QoS 1 message through a QoS 0 subscription is delivered at 0 and awaits no acknowledgement: message.acked names the deliveries acknowledged', async () => {
  const delivered = busEvents(tern.events, 'message.delivered', (e) => e.topic.startsWith('da/'));
  const acked = busEvents(tern.events, 'message.acked', (e) => e.topic.startsWith('da/'));
  const [sub, pub] = await Promise.all([connect(tcpUrl(tern), { clientId: 'da-sub' }), connect(tcpUrl(tern), { clientId: 'da-pub' })]);
  try {
    await sub.subscribeAsync('da/zero/#', { qos: 0 });
    await sub.subscribeAsync('da/one', { qos: 1 });
    const got = nextMessages(sub, 3);
    await pub.publishAsync('da/zero/a', 'z1', { qos: 1 });
    await pub.publishAsync('da/one', 'o1', { qos: 1 });
    await pub.publishAsync('da/one', 'o2', { qos: 1 });
    const received = await got;
    assert.deepEqual(received.map((m) => `${m.topic} ${m.payload} ${m.qos}`), ['da/zero/a z1 0', 'da/one o1 1', 'da/one o2 1']);
    await delivered.wait(3, 'three deliveries');
    assert.deepEqual(delivered.seen.map((e) => `${e.topic} ${e.qos}`), ['da/zero/a 0', 'da/one 1', 'da/one 1']);
    await acked.wait(2, 'the two QoS 1 deliveries acknowledged');
    assert.deepEqual(acked.seen.map((e) => `${e.topic} ${e.payload.toString()} ${e.qos}`), ['da/one o1 1', 'da/one o2 1']);
  } finally {
    delivered.stop();
    acked.stop();
    await endAll(sub, pub);
  }
});
