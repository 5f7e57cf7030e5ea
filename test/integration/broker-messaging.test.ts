// Publish/subscribe through the whole product over TCP, WebSocket and TLS, at every QoS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestTern, testConfig, connect, tcpUrl, wsUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/tls');
let tern: Tern;

before(async () => {
  tern = await startTestTern(
    testConfig((c) => {
      for (const l of c.listeners) {
        if (l.proto === 'ssl' || l.proto === 'wss') {
          l.keyfile = path.join(fixtures, 'key.pem');
          l.certfile = path.join(fixtures, 'cert.pem');
        }
      }
    }),
  );
});
after(() => tern.close());

for (const transport of ['tcp', 'ws', 'ssl', 'wss'] as const) {
  for (const qos of [0, 1, 2] as const) {
    test(`${transport}: subscribe and publish at QoS ${qos}`, async () => {
      const url =
        transport === 'tcp'
          ? tcpUrl(tern)
          : transport === 'ws'
            ? wsUrl(tern)
            : transport === 'ssl'
              ? `mqtts://127.0.0.1:${tern.ports.ssl.external}`
              : `wss://127.0.0.1:${tern.ports.wss.external}/mqtt`;
      const opts = transport === 'ssl' || transport === 'wss' ? { rejectUnauthorized: false } : {};
      const sub = await connect(url, { clientId: `sub-${transport}-${qos}`, ...opts });
      const pub = await connect(url, { clientId: `pub-${transport}-${qos}`, ...opts });
      try {
        const granted = await sub.subscribeAsync(`t/${transport}/${qos}`, { qos });
        assert.equal(granted[0]!.qos, qos);
        const got = nextMessages(sub, 3);
        for (let i = 0; i < 3; i++) await pub.publishAsync(`t/${transport}/${qos}`, `m${i}`, { qos });
        const msgs = await got;
        assert.deepEqual(
          msgs.map((m) => [m.topic, m.payload, m.qos]),
          [0, 1, 2].map((i) => [`t/${transport}/${qos}`, `m${i}`, qos]),
        );
      } finally {
        await endAll(sub, pub);
      }
    });
  }
}

test('a QoS 1 retained message is routed before its PUBACK: a SUBSCRIBE sent on the PUBACK gets it once, as retained', async () => {
  const pub = await connect(tcpUrl(tern), { clientId: 'retain-ack-pub' });
  const sub = await connect(tcpUrl(tern), { clientId: 'retain-ack-sub' });
  try {
    let subscribed: Promise<unknown> | undefined;
    pub.on('packetreceive', (packet) => {
      // subscribe the moment the PUBACK is handled; had the broker acknowledged before routing, the
      // live copy (routed after the retained store's commit) would reach this subscriber as well
      if (packet.cmd === 'puback') subscribed ??= sub.subscribeAsync('retained/acked', { qos: 1 });
    });
    await pub.publishAsync('retained/acked', 'stored', { qos: 1, retain: true });
    await subscribed;
    // a later message on the same topic bounds what arrived before it
    await pub.publishAsync('retained/acked', 'probe', { qos: 1 });
    const got = await nextMessages(sub, 2);
    assert.deepEqual(
      got.map((m) => [m.payload, m.retain]),
      [['stored', true], ['probe', false]],
    );
    await pub.publishAsync('retained/acked', '', { qos: 1, retain: true });
  } finally {
    await endAll(pub, sub);
  }
});

test('a retained message is delivered to a later subscriber, and an empty one clears it', async () => {
  const pub = await connect(tcpUrl(tern), { clientId: 'retain-pub' });
  await pub.publishAsync('retained/topic', 'kept', { qos: 1, retain: true });
  const sub = await connect(tcpUrl(tern), { clientId: 'retain-sub' });
  try {
    const got = nextMessages(sub, 1);
    await sub.subscribeAsync('retained/#', { qos: 1 });
    const [m] = await got;
    assert.equal(m!.payload, 'kept');
    assert.equal(m!.retain, true);

    await pub.publishAsync('retained/topic', '', { qos: 1, retain: true });
    const sub2 = await connect(tcpUrl(tern), { clientId: 'retain-sub2' });
    let received = 0;
    sub2.on('message', () => received++);
    await sub2.subscribeAsync('retained/#', { qos: 1 });
    // A round trip through the broker after the subscription proves nothing retained was queued before it.
    const probe = nextMessages(sub2, 1);
    await pub.publishAsync('retained/probe', 'p', { qos: 1 });
    assert.equal((await probe)[0]!.topic, 'retained/probe');
    assert.equal(received, 1);
    await endAll(sub2);
  } finally {
    await endAll(pub, sub);
  }
});

test('the will is published when a client disconnects without DISCONNECT, not on a clean one', async () => {
  const watcher = await connect(tcpUrl(tern), { clientId: 'will-watcher' });
  await watcher.subscribeAsync('wills/#', { qos: 1 });
  try {
    const clean = await connect(tcpUrl(tern), {
      clientId: 'will-clean',
      will: { topic: 'wills/clean', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await clean.endAsync(); // sends DISCONNECT: no will
    const dirty = await connect(tcpUrl(tern), {
      clientId: 'will-dirty',
      will: { topic: 'wills/dirty', payload: Buffer.from('lost'), qos: 1, retain: false },
    });
    const got = nextMessages(watcher, 1);
    dirty.stream.destroy(); // network failure
    const [m] = await got;
    assert.deepEqual([m!.topic, m!.payload], ['wills/dirty', 'lost']);
    dirty.end(true);
  } finally {
    await endAll(watcher);
  }
});
