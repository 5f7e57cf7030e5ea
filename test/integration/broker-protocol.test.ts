// CONNECT rules of MQTT 3.1 / 3.1.1 that Tern enforces where aedes alone is lax, checked with raw bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import { rawExchange, openRaw, connectBytes } from '../helpers/raw.ts';
import type { Tern } from '../../server/tern.ts';

let tern: Tern;
let port: number;
before(async () => {
  tern = await startTestTern();
  port = tern.ports.tcp.external!;
});
after(() => tern.close());

function connack(r: { packets: { cmd: string }[] }) {
  const p = r.packets.find((x) => x.cmd === 'connack') as { returnCode: number; sessionPresent: boolean } | undefined;
  return p;
}

test('a well-formed 3.1.1 CONNECT is accepted', async () => {
  const r = await rawExchange(port, [connectBytes({ clientId: 'ok-311' })], 'connack');
  assert.equal(connack(r)?.returnCode, 0);
});

test('MQTT 3.1 (MQIsdp, level 3) is accepted', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQIsdp', level: 3, clientId: 'ok-31' })], 'connack');
  assert.equal(connack(r)?.returnCode, 0);
});

test('[MQTT-3.1.3-8] empty client id with clean session 0 gets CONNACK 2 and is closed', async () => {
  const r = await rawExchange(port, [connectBytes({ clientId: '', flags: 0x00 })], 'close');
  assert.equal(connack(r)?.returnCode, 2);
  assert.equal(r.closed, true);
});

test('[MQTT-3.1.3-6] empty client id with clean session 1 is assigned an id', async () => {
  const r = await rawExchange(port, [connectBytes({ clientId: '', flags: 0x02 })], 'connack');
  assert.equal(connack(r)?.returnCode, 0);
});

test('[MQTT-3.1.2-2] protocol name and level must agree: "MQTT" level 3 gets CONNACK 1', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQTT', level: 3, clientId: 'bad-level' })], 'close');
  assert.equal(connack(r)?.returnCode, 1);
  assert.equal(r.closed, true);
});

test('[MQTT-3.1.2-2] "MQIsdp" level 4 gets CONNACK 1', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQIsdp', level: 4, clientId: 'bad-level2' })], 'close');
  assert.equal(connack(r)?.returnCode, 1);
});

test('[MQTT-3.1.2-2] MQTT 5 (level 5) gets CONNACK 1: Tern speaks 3.1 and 3.1.1', async () => {
  // a minimal v5 CONNECT: header, level 5, clean, keepalive 60, empty properties, client id "v5"
  const withProps = await rawExchange(port, [
    Buffer.from([0x10, 15, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 60, 0, 0, 2, 0x76, 0x35]),
  ], 'close');
  assert.equal(connack(withProps)?.returnCode, 1);
});

test('MQTT 3.1 limits client ids to 23 characters: CONNACK 2', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQIsdp', level: 3, clientId: 'x'.repeat(24) })], 'close');
  assert.equal(connack(r)?.returnCode, 2);
});

test('MQTT 3.1 does not allow an empty client id: CONNACK 2', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQIsdp', level: 3, clientId: '' })], 'close');
  assert.equal(connack(r)?.returnCode, 2);
});

test('a client id longer than mqtt.max_clientid_len gets CONNACK 2', async () => {
  const small = await startTestTern(
    (await import('../helpers/tern.ts')).testConfig((c) => {
      c.mqtt.max_clientid_len = 8;
    }),
  );
  try {
    const r = await rawExchange(small.ports.tcp.external!, [connectBytes({ clientId: 'nine-char' })], 'close');
    assert.equal(connack(r)?.returnCode, 2);
    const ok = await rawExchange(small.ports.tcp.external!, [connectBytes({ clientId: 'eight-ch' })], 'connack');
    assert.equal(connack(ok)?.returnCode, 0);
  } finally {
    await small.close();
  }
});

test('[MQTT-3.1.2-22] password flag without user name flag: closed without CONNACK', async () => {
  const r = await rawExchange(port, [connectBytes({ flags: 0x42, clientId: 'pw-only', tail: Buffer.from([0, 1, 0x61]) })], 'close');
  assert.equal(connack(r), undefined);
  assert.equal(r.closed, true);
});

test('[MQTT-3.1.2-3] reserved flag set: closed without CONNACK', async () => {
  const r = await rawExchange(port, [connectBytes({ flags: 0x03, clientId: 'reserved' })], 'close');
  assert.equal(connack(r), undefined);
  assert.equal(r.closed, true);
});

test('[MQTT-3.1.2-1] unknown protocol name: closed without CONNACK', async () => {
  const r = await rawExchange(port, [connectBytes({ name: 'MQTX', clientId: 'name' })], 'close');
  assert.equal(connack(r), undefined);
  assert.equal(r.closed, true);
});

test('[MQTT-3.1.0-2] a second CONNECT closes the connection', async () => {
  const r = await rawExchange(port, [connectBytes({ clientId: 'twice' }), connectBytes({ clientId: 'twice' })], 'close');
  assert.equal(connack(r)?.returnCode, 0);
  assert.equal(r.closed, true);
});

test('a malformed packet closes that one connection; other clients and the broker carry on', async () => {
  const bystander = await connect(tcpUrl(tern), { clientId: 'bystander' });
  try {
    await bystander.subscribeAsync('still/alive', { qos: 1 });
    // a PUBLISH whose fixed header has QoS 3 is malformed
    const raw = await openRaw(port);
    try {
      raw.send(connectBytes({ clientId: 'garbage' }));
      const ack = (await raw.next((p) => p.cmd === 'connack', 'CONNACK')) as { returnCode: number };
      assert.equal(ack.returnCode, 0);
      raw.send(Buffer.from([0x36, 2, 0, 0]));
      await raw.whenClosed();
    } finally {
      raw.destroy();
    }
    const got = nextMessages(bystander, 1);
    const pub = await connect(tcpUrl(tern), { clientId: 'after-garbage' });
    await pub.publishAsync('still/alive', 'yes', { qos: 1 });
    assert.equal((await got)[0]!.payload, 'yes');
    await endAll(pub);
  } finally {
    await endAll(bystander);
  }
});

test('[MQTT-3.1.4-2] a second client with the same id takes over: the first is disconnected', async () => {
  const first = await connect(tcpUrl(tern), { clientId: 'same-id' });
  const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
  const second = await connect(tcpUrl(tern), { clientId: 'same-id' });
  await closed;
  assert.equal(second.connected, true);
  await endAll(first, second);
});
