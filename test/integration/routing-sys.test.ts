// EMQX 4's $SYS tree and who may read it, through the whole product. Waits are for messages,
// never for time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';
import type { Config } from '../../server/config/types.ts';

type Msg = { topic: string; payload: string; retain: boolean };

/** Records every $SYS message a client receives; `until` waits for one matching. */
function sysWatch(c: MqttClient) {
  const seen: Msg[] = [];
  const waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  c.on('message', (topic, payload, packet) => {
    if (!topic.startsWith('$SYS')) return;
    const m = { topic, payload: payload.toString(), retain: packet.retain };
    seen.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  return {
    seen,
    until(pred: (m: Msg) => boolean, what: string, timeoutMs = 5000): Promise<Msg> {
      const already = seen.find(pred);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; saw ${seen.map((m) => m.topic).join(', ')}`)), timeoutMs);
        waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
    /** the next message matching, ignoring those seen so far */
    next(pred: (m: Msg) => boolean, what: string, timeoutMs = 5000): Promise<Msg> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
        waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
  };
}

async function sysReader(tern: Tern, filter = '$SYS/#') {
  const c = await connect(tcpUrl(tern, 'internal'), { clientId: `sys-reader-${Math.random().toString(36).slice(2, 8)}` });
  const w = sysWatch(c);
  const granted = await c.subscribeAsync(filter, { qos: 0 });
  assert.equal(granted[0]!.qos, 0);
  return { c, w };
}

const node = (tern: Tern) => tern.config.node.name;
const short = (mutate?: (c: Config) => void) =>
  testConfig((c) => {
    c.broker.sys_interval = 100;
    c.broker.sys_heartbeat = 100;
    mutate?.(c);
  });

test('the retained $SYS topics arrive on SUBSCRIBE: brokers, version, sysdescr', async () => {
  const tern = await startTestTern();
  try {
    const { c, w } = await sysReader(tern);
    const b = `$SYS/brokers/${node(tern)}/`;
    assert.deepEqual(await w.until((m) => m.topic === '$SYS/brokers', 'brokers'), { topic: '$SYS/brokers', payload: node(tern), retain: true });
    assert.equal((await w.until((m) => m.topic === b + 'version', 'version')).payload, tern.control.nodeInfo().version);
    assert.equal((await w.until((m) => m.topic === b + 'sysdescr', 'sysdescr')).retain, true);
    // they are not retained messages of the store
    assert.equal(tern.control.stats()['retained.count'], 0);
    await endAll(c);
  } finally {
    await tern.close();
  }
});

test('clients/<id>/connected and /disconnected carry EMQX fields; one disconnected per connected, with its reason', async () => {
  const tern = await startTestTern();
  try {
    const { c, w } = await sysReader(tern, `$SYS/brokers/${node(tern)}/clients/#`);
    const b = `$SYS/brokers/${node(tern)}/clients/`;
    const json = async (id: string, what: 'connected' | 'disconnected') => JSON.parse((await w.next((m) => m.topic === `${b}${id}/${what}`, `${id} ${what}`)).payload);

    // normal: DISCONNECT sent
    let connected = json('sys-normal', 'connected');
    const normal = await connect(tcpUrl(tern), { clientId: 'sys-normal', username: 'u1', keepalive: 42 });
    const con = await connected;
    assert.deepEqual(Object.keys(con).sort(), [
      'clean_start', 'clientid', 'connack', 'connected_at', 'expiry_interval', 'ipaddress', 'keepalive', 'proto_name', 'proto_ver', 'sockport', 'ts', 'username',
    ]);
    assert.equal(con.clientid, 'sys-normal');
    assert.equal(con.username, 'u1');
    assert.equal(con.ipaddress, '127.0.0.1');
    assert.equal(con.sockport, tern.ports.tcp.external);
    assert.equal(con.keepalive, 42);
    assert.equal(con.proto_name, 'MQTT');
    assert.equal(con.proto_ver, 4);
    assert.equal(con.connack, 0);
    assert.equal(con.clean_start, true);
    let disconnected = json('sys-normal', 'disconnected');
    await normal.endAsync();
    const dis = await disconnected;
    assert.equal(dis.reason, 'normal');
    // the common fields again, as the connection had them
    assert.deepEqual(Object.keys(dis).sort(), [
      'clean_start', 'clientid', 'connected_at', 'disconnected_at', 'expiry_interval', 'ipaddress', 'keepalive', 'proto_name', 'proto_ver', 'reason', 'sockport', 'ts', 'username',
    ]);
    for (const k of ['clientid', 'username', 'ipaddress', 'sockport', 'keepalive', 'proto_name', 'proto_ver', 'clean_start', 'expiry_interval']) assert.equal(dis[k], con[k], k);
    assert.equal(dis.connected_at, con.connected_at);
    assert.ok(dis.disconnected_at >= con.connected_at);

    // closed: the socket just goes
    disconnected = json('sys-closed', 'disconnected');
    const closed = await connect(tcpUrl(tern), { clientId: 'sys-closed' });
    closed.stream.destroy();
    assert.equal((await disconnected).reason, 'closed');

    // kicked through the management plane
    disconnected = json('sys-kicked', 'disconnected');
    const kicked = await connect(tcpUrl(tern), { clientId: 'sys-kicked' });
    await tern.sessions.kick('sys-kicked');
    assert.equal((await disconnected).reason, 'kicked');

    // takeover: the same client id connects again; the new connection then has its own pair
    disconnected = json('sys-take', 'disconnected');
    const first = await connect(tcpUrl(tern), { clientId: 'sys-take', clean: false });
    connected = json('sys-take', 'connected');
    const second = await connect(tcpUrl(tern), { clientId: 'sys-take', clean: false });
    assert.equal((await disconnected).reason, 'takeovered');
    await connected;

    // keepalive timeout: a raw client that never pings (aedes allows 1.5 × keepalive)
    disconnected = json('sys-silent', 'disconnected');
    const socket = net.connect(tern.ports.tcp.external!, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'sys-silent', clean: true, keepalive: 1 }));
    assert.equal((await disconnected).reason, 'keepalive_timeout');
    socket.destroy();

    // a refused CONNECT publishes neither
    const refused = await connect(tcpUrl(tern), { clientId: '' , clean: false }).catch((e: Error) => e);
    assert.ok(refused instanceof Error);

    // exactly one disconnected per connected, per client id
    await endAll(first, second, kicked);
    await json('sys-take', 'disconnected');
    const count = (what: string) => (id: string) => w.seen.filter((m) => m.topic === `${b}${id}/${what}`).length;
    for (const id of ['sys-normal', 'sys-closed', 'sys-kicked', 'sys-silent']) {
      assert.equal(count('connected')(id), 1, `${id} connected`);
      assert.equal(count('disconnected')(id), 1, `${id} disconnected`);
    }
    assert.equal(count('connected')('sys-take'), 2);
    assert.equal(count('disconnected')('sys-take'), 2);
    assert.ok(!w.seen.some((m) => m.topic.includes('/clients//')), 'no topic for the refused client');
    await endAll(c);
  } finally {
    await tern.close();
  }
});

test('clients/<id>/subscribed and /unsubscribed', async () => {
  const tern = await startTestTern();
  try {
    const { c, w } = await sysReader(tern, `$SYS/brokers/${node(tern)}/clients/+/+`);
    const b = `$SYS/brokers/${node(tern)}/clients/sys-sub/`;
    const sub = await connect(tcpUrl(tern), { clientId: 'sys-sub' });
    const subscribed = w.next((m) => m.topic === b + 'subscribed', 'subscribed');
    await sub.subscribeAsync('a/+', { qos: 1 });
    assert.deepEqual(JSON.parse((await subscribed).payload), { clientid: 'sys-sub', username: null, topic: 'a/+', opts: { qos: 1 }, ts: JSON.parse((await subscribed).payload).ts });
    const unsubscribed = w.next((m) => m.topic === b + 'unsubscribed', 'unsubscribed');
    await sub.unsubscribeAsync('a/+');
    assert.equal(JSON.parse((await unsubscribed).payload).topic, 'a/+');
    await endAll(sub, c);
  } finally {
    await tern.close();
  }
});

test('aedes\' own $SYS/<id>/... topics no longer appear', async () => {
  const tern = await startTestTern();
  try {
    const { c, w } = await sysReader(tern);
    const other = await connect(tcpUrl(tern), { clientId: 'sys-other' });
    await other.subscribeAsync('x/y', { qos: 1 });
    await other.unsubscribeAsync('x/y');
    const gone = w.next((m) => m.topic.endsWith('/clients/sys-other/disconnected'), 'disconnected');
    await other.endAsync();
    await gone;
    const foreign = w.seen.filter((m) => !m.topic.startsWith('$SYS/brokers'));
    assert.deepEqual(foreign, []);
    await endAll(c);
  } finally {
    await tern.close();
  }
});

test('stats and metrics move as clients connect and leave; uptime and datetime every sys_heartbeat', async () => {
  const tern = await startTestTern(short());
  try {
    const { c, w } = await sysReader(tern);
    const b = `$SYS/brokers/${node(tern)}/`;
    const stat = (name: string, value: number) => (m: Msg) => m.topic === `${b}stats/${name}` && m.payload === String(value);
    await w.until(stat('connections.count', 1), 'connections.count 1');
    const extra = await connect(tcpUrl(tern), { clientId: 'sys-extra' });
    await extra.subscribeAsync('s/1', { qos: 0 });
    await w.next(stat('connections.count', 2), 'connections.count 2');
    await w.until(stat('connections.max', 2), 'connections.max 2');
    await w.next(stat('subscriptions.count', 2), 'subscriptions.count 2');
    await extra.endAsync();
    await w.next(stat('connections.count', 1), 'connections.count back to 1');
    await w.next(stat('connections.max', 2), 'connections.max stays 2');

    // metrics: dots become levels; the value is the control surface's
    const pub = await connect(tcpUrl(tern, 'internal'), { clientId: 'sys-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync('m/x', 'x', { qos: 1 });
    const received = tern.control.metrics()['messages.received'];
    assert.ok(received >= 3);
    await w.next((m) => m.topic === `${b}metrics/messages/received` && m.payload === String(received), `messages/received ${received}`);
    await w.until((m) => m.topic === `${b}metrics/bytes/received`, 'bytes/received');

    const up = await w.next((m) => m.topic === b + 'uptime', 'uptime');
    assert.match(up.payload, /^\d+ days, \d+ hours, \d+ minutes, \d+ seconds$/);
    const dt = await w.next((m) => m.topic === b + 'datetime', 'datetime');
    assert.match(dt.payload, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await endAll(pub, c);
  } finally {
    await tern.close();
  }
});

test('intervals are honoured: sys_interval 0 publishes no stats, sys_heartbeat keeps its pace (mocked interval timers)', async (t) => {
  // the broker's interval timers run on mocked time: each heartbeat is due after exactly 100 ms
  // of it, and what a tick publishes is routed before tick() returns
  t.mock.timers.enable({ apis: ['setInterval'] });
  const tern = await startTestTern(short((c) => (c.broker.sys_interval = 0)));
  try {
    const { c, w } = await sysReader(tern);
    const b = `$SYS/brokers/${node(tern)}/`;
    // a fence: a message the reader gets behind everything the broker routed to it before
    await c.subscribeAsync('sys-fence', { qos: 0 });
    const pub = await connect(tcpUrl(tern), { clientId: 'sys-fence-pub' });
    const fence = async () => {
      const got = nextMessages(c, 1);
      await pub.publishAsync('sys-fence', 'f', { qos: 0 });
      await got;
    };
    const uptimes = () => w.seen.filter((m) => m.topic === b + 'uptime').length;
    for (let i = 1; i <= 3; i++) {
      t.mock.timers.tick(99);
      await fence();
      assert.equal(uptimes(), i - 1, `no heartbeat ${i} before 100 ms`);
      const beat = w.next((m) => m.topic === b + 'uptime', `heartbeat ${i}`);
      t.mock.timers.tick(1);
      await beat;
    }
    assert.deepEqual(w.seen.filter((m) => m.topic.includes('/stats/') || m.topic.includes('/metrics/')), []);

    // a reload of the interval re-arms the timer (and publishes once at once)
    tern.configSource.replace({ ...tern.config, broker: { ...tern.config.broker, sys_interval: 100 } });
    await w.next((m) => m.topic === `${b}stats/connections.count`, 'stats after the reload');
    const counts = () => w.seen.filter((m) => m.topic === `${b}stats/connections.count`).length;
    const before = counts();
    t.mock.timers.tick(99);
    await fence();
    assert.equal(counts(), before);
    const next = w.next((m) => m.topic === `${b}stats/connections.count`, 'stats after 100 ms');
    t.mock.timers.tick(1);
    await next;
    await endAll(pub, c);
  } finally {
    await tern.close();
  }
});

test('$SYS/# is refused to an anonymous external client (SUBACK 0x80, logged and counted); allowed to the internal zone, superusers and the dashboard user', async () => {
  const tern = await startTestTern();
  try {
    await tern.auth.addUser({ user_id: 'root', password: 'pw', is_superuser: true });
    await tern.auth.addUser({ user_id: 'dashboard', password: 'pw' });
    await tern.auth.addUser({ user_id: 'plain', password: 'pw' });
    const grant = async (c: MqttClient, topic = '$SYS/#') =>
      c.subscribeAsync(topic, { qos: 0 }).then(
        (g) => g[0]!.qos,
        (err: { packet?: { granted: number[] } }) => err.packet?.granted[0],
      );
    const anon = await connect(tcpUrl(tern), { clientId: 'anon-ext' });
    assert.equal(await grant(anon), 128);
    assert.equal(await grant(anon, '$SYS/brokers/+/uptime'), 128);
    assert.equal(await grant(anon, '$share/g/$SYS/#'), 128);
    // a wildcard never reaches $SYS, so it stays allowed
    assert.equal(await grant(anon, '#'), 0);
    assert.equal(tern.control.metrics()['authorization.sys_topics.deny'], 3);
    const plain = await connect(tcpUrl(tern), { clientId: 'plain-ext', username: 'plain', password: 'pw' });
    assert.equal(await grant(plain), 128);
    // claiming the dashboard's name without its password is not enough
    const fake = await connect(tcpUrl(tern), { clientId: 'fake-dash', username: 'dashboard-x' });
    assert.equal(await grant(fake), 128);

    const root = await connect(tcpUrl(tern), { clientId: 'root-ext', username: 'root', password: 'pw' });
    assert.equal(await grant(root), 0);
    const dash = await connect(tcpUrl(tern), { clientId: 'dash-ext', username: 'dashboard', password: 'pw' });
    assert.equal(await grant(dash), 0);
    const internal = await connect(tcpUrl(tern, 'internal'), { clientId: 'int' });
    assert.equal(await grant(internal), 0);
    // and what it gets is the tree
    assert.equal((await nextMessages(internal, 1))[0]!.topic.startsWith('$SYS/brokers'), true);

    // broker.sys_topics.allow = all opens it to everyone
    tern.configSource.replace({ ...tern.config, broker: { ...tern.config.broker, sys_topics_allow: ['all'] } });
    assert.equal(await grant(anon, '$SYS/brokers'), 0);
    await endAll(anon, plain, fake, root, dash, internal);
  } finally {
    await tern.close();
  }
});

test('a shared subscription to $SYS gets the ticks; so does a reader that comes after the last one left', async () => {
  const tern = await startTestTern(short((c) => (c.broker.sys_topics_allow = ['all'])));
  try {
    const b = `$SYS/brokers/${node(tern)}/`;
    const member = await connect(tcpUrl(tern), { clientId: 'sys-share-member' });
    const w = sysWatch(member);
    await member.subscribeAsync('$share/g/$SYS/brokers/+/uptime', { qos: 0 });
    await w.next((m) => m.topic === b + 'uptime', 'uptime through the share');
    // once nobody reads $SYS the ticks publish nothing; a new reader starts them again
    await member.endAsync();
    const { c, w: w2 } = await sysReader(tern, '$SYS/brokers/+/stats/connections.count');
    await w2.next((m) => m.topic === `${b}stats/connections.count`, 'connections.count for the new reader');
    await endAll(c);
  } finally {
    await tern.close();
  }
});
