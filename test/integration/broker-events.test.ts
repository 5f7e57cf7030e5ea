// Every EMQX hook point on the event bus, with EMQX's fields, once each and in order per client:
// a whole session, a refused CONNECT, a kick, a takeover and a keepalive timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';
import { EVENT_NAMES, type TernEventName } from '../../server/broker/events.ts';

let tern: Tern;
type Seen = { name: TernEventName; e: Record<string, unknown> };
const seen: Seen[] = [];

before(async () => {
  tern = await startTestTern(testConfig());
  await tern.auth.addUser({ user_id: 'alice', password: 'secret' });
  for (const name of EVENT_NAMES) {
    tern.events.on(name, (e) => {
      seen.push({ name, e: e as unknown as Record<string, unknown> });
      for (const w of [...waiters]) w();
    });
  }
});
after(() => tern.close());

/** the events that concern one client id, in order (message events by receiver or publisher) */
function of(clientid: string): Seen[] {
  return seen.filter(({ e }) => e.clientid === clientid || (e.clientid == null && e.from_clientid === clientid));
}
const names = (list: Seen[]) => list.map((s) => s.name + (typeof s.e.reason === 'string' && s.name !== 'client.connack' ? `:${s.e.reason}` : ''));

const waiters = new Set<() => void>();
/** resolves once `check` holds, re-checked at every event (no polling) */
function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = () => {
      if (!check()) return;
      waiters.delete(w);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(w);
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    waiters.add(w);
    w();
  });
}

test('a whole session: connect → connack → connected → subscribe → check_acl → delivered → acked → unsubscribe → disconnected → terminated', async () => {
  const sub = await connect(tcpUrl(tern), { clientId: 'ev-sub', username: 'alice', password: 'secret' });
  await sub.subscribeAsync('ev/t', { qos: 1 });
  const pub = await connect(tcpUrl(tern), { clientId: 'ev-pub' });
  await pub.publishAsync('ev/t', 'hello', { qos: 1 });
  await nextMessages(sub, 1);
  await until(() => of('ev-sub').some((s) => s.name === 'message.acked'), 'message.acked');
  await sub.unsubscribeAsync('ev/t');
  await sub.endAsync();
  await until(() => of('ev-sub').some((s) => s.name === 'session.terminated'), 'session.terminated');

  assert.deepEqual(names(of('ev-sub')), [
    'client.connect',
    'client.authenticate',
    'session.created',
    'client.connack',
    'client.connected',
    'client.subscribe',
    'client.check_acl',
    'session.subscribed',
    'message.delivered',
    'message.acked',
    'client.unsubscribe',
    'session.unsubscribed',
    'client.disconnected:normal',
    'session.terminated:normal',
  ]);
  const ev = Object.fromEntries(of('ev-sub').map((s) => [s.name, s.e]));
  assert.equal(ev['client.connack']!.conn_ack, 0);
  assert.deepEqual(
    { result: ev['client.authenticate']!.result, via: ev['client.authenticate']!.via, username: ev['client.authenticate']!.username },
    { result: 'success', via: 'password', username: 'alice' },
  );
  const connected = ev['client.connected']!;
  for (const field of ['clientid', 'username', 'ipaddress', 'keepalive', 'proto_ver', 'proto_name', 'clean_start', 'connected_at', 'expiry_interval']) {
    assert.ok(field in connected, `client.connected has ${field}`);
  }
  assert.equal(connected.ipaddress, '127.0.0.1');
  assert.equal(connected.username, 'alice');
  const delivered = ev['message.delivered']!;
  assert.equal(delivered.topic, 'ev/t');
  assert.equal(delivered.from_clientid, 'ev-pub');
  assert.equal((delivered.payload as Buffer).toString(), 'hello');
  assert.equal(ev['message.acked']!.from_clientid, 'ev-pub');
  assert.deepEqual(ev['session.subscribed']!.opts, { qos: 1 });

  // the publisher's side: its message.publish, with its id
  const published = seen.find((s) => s.name === 'message.publish' && s.e.topic === 'ev/t');
  assert.equal(published?.e.from_clientid, 'ev-pub');

  // every event carries a unique id and a time
  const ids = seen.map((s) => s.e.id as string);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(seen.every((s) => typeof s.e.ts === 'number' && (s.e.ts as number) > 0));
  await endAll(pub);
});

test('a refused CONNECT: connect → authenticate(failure) → connack with its code, and nothing after', async () => {
  await assert.rejects(connect(tcpUrl(tern), { clientId: 'ev-bad', username: 'alice', password: 'wrong' }));
  await until(() => of('ev-bad').some((s) => s.name === 'client.connack'), 'client.connack');
  assert.deepEqual(names(of('ev-bad')), ['client.connect', 'client.authenticate', 'client.connack']);
  const connack = of('ev-bad').find((s) => s.name === 'client.connack')!.e;
  assert.equal(connack.conn_ack, 4);
  assert.equal(of('ev-bad')[1]!.e.result, 'failure');
  assert.equal(tern.metrics['client.auth.failure'], 1);
});

test('a kick: disconnected(kicked) then terminated(kicked), once each', async () => {
  const c = await connect(tcpUrl(tern), { clientId: 'ev-kick' });
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  assert.equal(await tern.sessions.kick('ev-kick'), true);
  await closed;
  await until(() => of('ev-kick').some((s) => s.name === 'session.terminated'), 'session.terminated');
  assert.deepEqual(names(of('ev-kick')).slice(-2), ['client.disconnected:kicked', 'session.terminated:kicked']);
  assert.equal(names(of('ev-kick')).filter((n) => n.startsWith('client.disconnected')).length, 1);
  await endAll(c);
});

test('a takeover: the old connection leaves as takeovered, the new one resumes the session', async () => {
  const first = await connect(tcpUrl(tern), { clientId: 'ev-take', clean: false });
  const firstClosed = new Promise<void>((r) => first.once('close', () => r()));
  const second = await connect(tcpUrl(tern), { clientId: 'ev-take', clean: false });
  await firstClosed;
  await until(() => of('ev-take').some((s) => s.name === 'client.disconnected'), 'client.disconnected');
  const list = names(of('ev-take'));
  assert.deepEqual(list.slice(0, 5), ['client.connect', 'client.authenticate', 'session.created', 'client.connack', 'client.connected']);
  assert.ok(list.includes('session.takeovered'));
  assert.ok(list.includes('client.disconnected:takeovered'));
  assert.equal(list.filter((n) => n === 'client.connected').length, 2);
  assert.equal(list.filter((n) => n.startsWith('session.terminated')).length, 0);
  await endAll(first, second);
  await tern.sessions.discard('ev-take');
});

test('a keepalive timeout: disconnected(keepalive_timeout) then terminated', async () => {
  const bytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'ev-ka', clean: true, keepalive: 1 });
  const socket = net.connect(tern.ports.tcp.external!, '127.0.0.1');
  socket.on('error', () => {});
  socket.resume(); // read (and discard) the CONNACK, so the close is seen
  socket.write(bytes);
  // send nothing more: the broker closes after 1.5 × keepalive [MQTT-3.1.2-24]
  await new Promise<void>((r) => socket.once('close', () => r()));
  await until(() => of('ev-ka').some((s) => s.name === 'session.terminated'), 'session.terminated');
  assert.deepEqual(names(of('ev-ka')).slice(-2), ['client.disconnected:keepalive_timeout', 'session.terminated:normal']);
});
