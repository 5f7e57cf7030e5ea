// Pins what routing and $SYS rely on inside aedes (core/internals/aedes.ts) against the installed
// aedes, on a bare aedes instance: if an upgrade moves any of it, this fails first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import type { AedesBroker, AedesClient } from '../../server/broker/core/aedes-types.ts';
import {
  AEDES_SYS_TOPICS,
  deliverToClient,
  makePacket,
  suppressAedesSysTopics,
  takeMessageId,
  watchAcknowledgements,
} from '../../server/broker/core/internals/aedes.ts';

async function bareAedes(onSys: (topic: string) => void) {
  const aedes = new Aedes({ id: 'pin', heartbeatInterval: 30 }) as unknown as AedesBroker & {
    mq: { on(t: string, fn: (p: { topic: string }, cb: () => void) => void): void };
    listen(): Promise<void>;
    brokers: Record<string, number>;
  };
  aedes.mq.on('$SYS/#', (p, cb) => {
    onSys(p.topic);
    cb();
  });
  await aedes.listen();
  const server = net.createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    aedes,
    url: `mqtt://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const until = async (check: () => boolean, what: string) => {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
};

async function exercise(url: string) {
  const c = await mqtt.connectAsync(url, { clientId: 'pin-client', reconnectPeriod: 0 });
  await c.subscribeAsync('a/b', { qos: 1 });
  await c.unsubscribeAsync('a/b');
  await c.endAsync();
}

test('aedes publishes exactly its own $SYS/<id>/ topics (the list suppressAedesSysTopics removes)', async () => {
  const seen = new Set<string>();
  const b = await bareAedes((t) => seen.add(t));
  try {
    await exercise(b.url);
    await until(() => seen.size >= AEDES_SYS_TOPICS.length, 'every aedes $SYS topic');
    assert.deepEqual([...seen].sort(), AEDES_SYS_TOPICS.map((t) => `$SYS/pin/${t}`).sort());
  } finally {
    await b.close();
  }
});

test('suppressAedesSysTopics: none of them is published; the heartbeat still keeps brokers[id] fresh for the will sweep', async () => {
  const seen: string[] = [];
  const b = await bareAedes((t) => seen.push(t));
  try {
    seen.length = 0; // birth came at listen(), before suppression could be installed
    suppressAedesSysTopics(b.aedes);
    const before = b.aedes.brokers.pin!;
    await exercise(b.url);
    await until(() => b.aedes.brokers.pin! > before, 'a heartbeat');
    assert.deepEqual(seen, []);
    // other $SYS topics still flow
    await new Promise<void>((r) => b.aedes.publish({ cmd: 'publish', topic: '$SYS/brokers/x', payload: Buffer.from('1'), qos: 0, retain: false, dup: false }, () => r()));
    assert.deepEqual(seen, ['$SYS/brokers/x']);
  } finally {
    await b.close();
  }
});

test('deliverQoS keeps a messageId taken with takeMessageId; watchAcknowledgements sees its PUBACK; a null brokerId is never deduplicated', async () => {
  const b = await bareAedes(() => {});
  try {
    const sub = await mqtt.connectAsync(b.url, { clientId: 'pin-sub', reconnectPeriod: 0 });
    const client = b.aedes.clients['pin-sub'] as AedesClient;
    const acks: string[] = [];
    watchAcknowledgements(client, (_c, cmd, id) => acks.push(`${cmd}:${id}`));
    const got: { id: number | undefined; payload: string }[] = [];
    sub.on('message', (_t, payload, packet) => got.push({ id: packet.messageId, payload: payload.toString() }));

    const id = takeMessageId(client);
    const next = takeMessageId(client);
    assert.equal(next, id >= 65535 ? 1 : id + 1);
    const p = makePacket({ topic: 't', payload: 'one', qos: 1, retain: false, brokerId: 'pin/share', brokerCounter: 5 }, b.aedes);
    p.messageId = id;
    deliverToClient(client, p, () => {});
    await until(() => acks.length === 1, 'the PUBACK');
    assert.deepEqual(got, [{ id, payload: 'one' }]);
    assert.deepEqual(acks, [`puback:${id}`]);

    // same brokerId, lower counter: aedes' duplicate filter drops it; a null brokerId passes twice
    deliverToClient(client, makePacket({ topic: 't', payload: 'dup', qos: 0, retain: false, brokerId: 'pin/share', brokerCounter: 4 }, b.aedes), () => {});
    for (let i = 0; i < 2; i++) {
      deliverToClient(client, makePacket({ topic: 't', payload: 'free', qos: 0, retain: true, brokerId: null, brokerCounter: 0 }, b.aedes), () => {});
    }
    await until(() => got.length === 3, 'two more messages');
    assert.deepEqual(got.slice(1).map((m) => m.payload), ['free', 'free']);
    await sub.endAsync();
  } finally {
    await b.close();
  }
});
