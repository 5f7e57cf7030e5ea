// Shares that are not in flight on a live connection: held in an offline persistent member's
// store (queued while nobody was connected, or unacknowledged when its connection or the whole
// broker ended), and what becomes of them when another member connects, when the session ends,
// and after a restart (a clean stop in-process, kill -9 of a child process). mqtt.js clients and
// raw MQTT peers over loopback, SQLite files in a temp dir; every wait is for a message or event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll, tempDir } from '../helpers/tern.ts';
import { busEvents, disconnectOf } from '../helpers/events.ts';
import { startChild } from '../helpers/process.ts';
import type { Tern } from '../../server/tern.ts';
import type { Config } from '../../server/config/types.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);
const sorted = (xs: string[]) => [...xs].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));

/** A raw MQTT 3.1.1 member that subscribes and never acknowledges: what it gets stays in flight. */
async function silentMember(port: number, clientId: string, topic: string, clean: boolean) {
  const socket = net.connect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const payloads: string[] = [];
  let waiter: { n: number; resolve: () => void } | null = null;
  const suback = new Promise<void>((resolve) =>
    parser.on('packet', (p) => {
      if (p.cmd === 'suback') resolve();
      if (p.cmd !== 'publish') return;
      payloads.push(p.payload.toString());
      if (waiter && payloads.length >= waiter.n) waiter.resolve();
    }),
  );
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => {});
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive: 0 }));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] }));
  await suback;
  return {
    socket,
    payloads,
    /** resolves once `n` PUBLISH packets arrived */
    received(n: number, timeoutMs = 10_000): Promise<void> {
      if (payloads.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out with ${payloads.length}/${n} messages`)), timeoutMs);
        waiter = { n, resolve: () => (clearTimeout(timer), (waiter = null), resolve()) };
      });
    },
  };
}

async function publishN(url: string, topic: string, n: number, from = 0) {
  const pub = await connect(url, { clientId: `pub-${Math.random().toString(36).slice(2, 8)}` });
  for (let i = from; i < from + n; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  await pub.endAsync();
}

/** A persistent member that subscribes, then goes offline (its session stays). */
async function offlineMember(tern: Tern, clientId: string, topic: string, url = tcpUrl(tern)) {
  const c = await connect(url, { clientId, clean: false });
  await c.subscribeAsync(topic, { qos: 1 });
  const gone = disconnectOf(tern, clientId);
  await c.endAsync();
  await gone;
}

/**
 * The member `clientId` (persistent, back online as `back`) gets none of the earlier shares: once
 * the other member `other` has left the group, the next message is the first it receives.
 */
async function getsNothingEarlier(url: string, back: MqttClient, other: MqttClient, topic: string, filter: string) {
  const probe = nextMessages(back, 1);
  await other.unsubscribeAsync(filter);
  const pub = await connect(url, { clientId: `probe-${Math.random().toString(36).slice(2, 8)}` });
  await pub.publishAsync(topic, 'probe', { qos: 1 });
  await endAll(pub);
  assert.deepEqual((await probe).map((m) => m.payload), ['probe']);
}

test('a persistent member whose connection dies while nobody else is connected: its unacknowledged shares go to the next member that connects, not back to it', async () => {
  const tern = await startTestTern();
  const victim = await silentMember(tern.ports.tcp.external!, 'lone-durable', '$share/g/ld', false);
  try {
    await publishN(tcpUrl(tern), 'ld', 8);
    await victim.received(8);
    const gone = disconnectOf(tern, 'lone-durable');
    victim.socket.destroy();
    await gone;
    assert.equal(tern.sessions.get('lone-durable')!.inflight_cnt, 8);

    const q = await connect(tcpUrl(tern), { clientId: 'ld-arrives' });
    await q.subscribeAsync('$share/g/ld', { qos: 1 });
    assert.deepEqual(sorted((await nextMessages(q, 8)).map((m) => m.payload)), range(8));
    assert.equal(tern.sessions.get('lone-durable')!.inflight_cnt, 0);
    assert.equal(tern.shared.groups()[0]!.redispatched, 8);

    const back = await connect(tcpUrl(tern), { clientId: 'lone-durable', clean: false });
    await getsNothingEarlier(tcpUrl(tern), back, q, 'ld', '$share/g/ld');
    await endAll(q, back);
  } finally {
    victim.socket.destroy();
    await tern.close();
  }
});

test('a persistent member kicked while its queue holds shares: they go to the remaining (offline) member, which gets them when it returns', async () => {
  const tern = await startTestTern(testConfig((c) => (c.broker.shared_subscription_strategy = 'sticky')));
  try {
    // both offline; sticky puts every share in the longest-standing member's queue
    await offlineMember(tern, 'kicked-one', '$share/g/kq');
    await offlineMember(tern, 'stays', '$share/g/kq');
    await publishN(tcpUrl(tern), 'kq', 5);
    assert.equal(tern.sessions.get('kicked-one')!.mqueue_len, 5);
    assert.equal(tern.sessions.get('stays')!.mqueue_len, 0);

    const dropped = busEvents(tern.events, 'message.dropped');
    await tern.sessions.kick('kicked-one');
    assert.equal(tern.sessions.get('stays')!.mqueue_len, 5);
    const back = await connect(tcpUrl(tern), { clientId: 'stays', clean: false });
    assert.deepEqual((await nextMessages(back, 5)).map((m) => m.payload), range(5));
    assert.deepEqual(dropped.seen, []);
    dropped.stop();
    const g = tern.shared.groups()[0]!;
    assert.deepEqual([g.members.map((m) => m.clientid), g.redispatched], [['stays'], 5]);
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('a persistent member that comes back (its subscription restored, no SUBSCRIBE) takes the shares held for an offline one', async () => {
  const tern = await startTestTern(testConfig((c) => (c.broker.shared_subscription_strategy = 'sticky')));
  try {
    await offlineMember(tern, 'holder', '$share/g/rq');
    await offlineMember(tern, 'returner', '$share/g/rq');
    await publishN(tcpUrl(tern), 'rq', 5);
    assert.equal(tern.sessions.get('holder')!.mqueue_len, 5);
    const back = await connect(tcpUrl(tern), { clientId: 'returner', clean: false });
    assert.deepEqual((await nextMessages(back, 5)).map((m) => m.payload), range(5));
    assert.equal(tern.sessions.get('holder')!.mqueue_len, 0);
    const holder = await connect(tcpUrl(tern), { clientId: 'holder', clean: false });
    await getsNothingEarlier(tcpUrl(tern), holder, back, 'rq', '$share/g/rq');
    await endAll(back, holder);
  } finally {
    await tern.close();
  }
});

test('a persistent session discarded by a clean CONNECT: its queued shares go to the remaining member, none to the new connection', async () => {
  const tern = await startTestTern(testConfig((c) => (c.broker.shared_subscription_strategy = 'sticky')));
  try {
    await offlineMember(tern, 'discarded-one', '$share/g/dq');
    await offlineMember(tern, 'keeps', '$share/g/dq');
    await publishN(tcpUrl(tern), 'dq', 4);
    assert.equal(tern.sessions.get('discarded-one')!.mqueue_len, 4);

    const fresh = await connect(tcpUrl(tern), { clientId: 'discarded-one', clean: true });
    const keeps = await connect(tcpUrl(tern), { clientId: 'keeps', clean: false });
    assert.deepEqual((await nextMessages(keeps, 4)).map((m) => m.payload), range(4));
    // the clean connection got nothing: a message on a topic of its own is its first
    await fresh.subscribeAsync('dq-own', { qos: 1 });
    const own = nextMessages(fresh, 1);
    await publishN(tcpUrl(tern), 'dq-own', 1);
    assert.deepEqual((await own).map((m) => m.payload), ['m0']);
    await endAll(fresh, keeps);
  } finally {
    await tern.close();
  }
});

test('the last member\'s session ends with shares queued: they count as message.dropped no_subscribers', async () => {
  const tern = await startTestTern();
  try {
    await offlineMember(tern, 'last-one', '$share/g/lq');
    await publishN(tcpUrl(tern), 'lq', 3);
    assert.equal(tern.sessions.get('last-one')!.mqueue_len, 3);
    const dropped = busEvents(tern.events, 'message.dropped');
    const before = tern.metrics['messages.dropped.no_subscribers'];
    await tern.sessions.kick('last-one');
    const seen = await dropped.wait(3, 'three drops');
    assert.deepEqual(seen.map((d) => [d.reason, d.topic, d.payload.toString()]), range(3).map((m) => ['no_subscribers', 'lq', m]));
    assert.equal(tern.metrics['messages.dropped.no_subscribers'] - before, 3);
    assert.deepEqual(tern.shared.groups(), []);
    dropped.stop();
  } finally {
    await tern.close();
  }
});

test('a persistent session that expires at start-up with shares queued: they go to the remaining member, not counted as expired', async () => {
  const config = testConfig((c) => (c.broker.shared_subscription_strategy = 'sticky'));
  let tern = await startTestTern(config);
  await offlineMember(tern, 'expires', '$share/g/eq');
  await offlineMember(tern, 'remains', '$share/g/eq');
  await publishN(tcpUrl(tern), 'eq', 4);
  assert.equal(tern.sessions.get('expires')!.mqueue_len, 4);
  await tern.close();
  // the session's expiry interval as stored: due at once when the broker starts again
  const db = new Database(path.join(config.node.data_dir, 'tern.db'));
  assert.equal(db.prepare('update mqtt_session set expiry_interval = 1 where clientid = ?').run('expires').changes, 1);
  db.close();

  tern = await startTestTern(config);
  try {
    // due at once: it may have expired while the rest of the product was starting
    const expired = busEvents(tern.events, 'session.terminated', (e) => e.clientid === 'expires');
    if (tern.sessions.get('expires') !== undefined) await expired.wait(1, 'the expiry of the session');
    expired.stop();
    assert.equal(tern.metrics['messages.dropped.expired'], 0);
    const back = await connect(tcpUrl(tern), { clientId: 'remains', clean: false });
    assert.deepEqual((await nextMessages(back, 4)).map((m) => m.payload), range(4));
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('after a clean stop, the shares in flight to a persistent member go to the first member that connects; the member, back, gets none again', async () => {
  const config: Config = testConfig();
  let tern = await startTestTern(config);
  const victim = await silentMember(tern.ports.tcp.external!, 'stopped-durable', '$share/g/cs', false);
  await publishN(tcpUrl(tern), 'cs', 6);
  await victim.received(6);
  await tern.close();
  victim.socket.destroy();

  tern = await startTestTern(config);
  try {
    const q = await connect(tcpUrl(tern), { clientId: 'cs-first' });
    await q.subscribeAsync('$share/g/cs', { qos: 1 });
    assert.deepEqual(sorted((await nextMessages(q, 6)).map((m) => m.payload)), range(6));
    const back = await connect(tcpUrl(tern), { clientId: 'stopped-durable', clean: false });
    await getsNothingEarlier(tcpUrl(tern), back, q, 'cs', '$share/g/cs');
    await endAll(q, back);
  } finally {
    await tern.close();
  }
});

test('after a clean stop, the shares in flight to a clean member are in the offline persistent member\'s queue', async () => {
  const config: Config = testConfig();
  let tern = await startTestTern(config);
  await offlineMember(tern, 'durable-waits', '$share/g/cc');
  const clean = await silentMember(tern.ports.tcp.external!, 'clean-holder', '$share/g/cc', true);
  // the connected member is preferred: all six are in flight to it
  await publishN(tcpUrl(tern), 'cc', 6);
  await clean.received(6);
  await tern.close();
  clean.socket.destroy();

  tern = await startTestTern(config);
  try {
    const back = await connect(tcpUrl(tern), { clientId: 'durable-waits', clean: false });
    assert.deepEqual(sorted((await nextMessages(back, 6)).map((m) => m.payload)), range(6));
    await endAll(back);
  } finally {
    await tern.close();
  }
});

test('kill -9 with shares in flight to a persistent member: after the restart the first member that connects gets every one', async () => {
  const dataDir = tempDir();
  let tern = await startChild(dataDir);
  const victim = await silentMember(tern.port, 'killed-durable', '$share/g/k9', false);
  // each PUBACK follows the commit of the share in the member's store
  await publishN(tern.url, 'k9', 10);
  await victim.received(10);
  tern.child.kill('SIGKILL');
  await tern.exited;
  victim.socket.destroy();

  tern = await startChild(dataDir);
  try {
    const q = await connect(tern.url, { clientId: 'k9-first' });
    await q.subscribeAsync('$share/g/k9', { qos: 1 });
    assert.deepEqual(sorted((await nextMessages(q, 10)).map((m) => m.payload)), range(10));
    const back = await connect(tern.url, { clientId: 'killed-durable', clean: false });
    await getsNothingEarlier(tern.url, back, q, 'k9', '$share/g/k9');
    await endAll(q, back);
  } finally {
    tern.child.kill('SIGKILL');
    await tern.exited;
  }
});
