// A subscriber leaving during a QoS 0 flood must not take the broker down. mqemitter 7 queues
// messages beyond its concurrency and, once no listener matches them, drains that queue on one
// recursive stack (mcollina/mqemitter#204): a RangeError that kills the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startTestTern, connect, tcpUrl, endAll } from '/work/wt-reload/test/helpers/tern.ts';

test('a QoS 0 flood while its slow subscriber leaves: the broker stays up', async () => {
  const tern = await startTestTern();
  const crashed: unknown[] = [];
  const onUncaught = (err: unknown) => crashed.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    // a subscriber that never reads: its socket fills, deliveries back up in mqemitter's queue
    const slow = net.connect(tern.ports.tcp.external!, '127.0.0.1');
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.write(mqttPacket.generate({ cmd: 'connect', clientId: 'slow', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
    slow.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] }));
    await new Promise((r) => setTimeout(r, 200));
    slow.pause();

    // raw publishers: the whole flood goes out in a few large writes
    const payload = Buffer.alloc(16, 1);
    const batch = Buffer.concat(Array.from({ length: 20000 }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: `flood/${i % 10}`, payload, qos: 0, retain: false, dup: false })));
    const pubs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(tern.ports.tcp.external!, '127.0.0.1', () => {
            s.write(mqttPacket.generate({ cmd: 'connect', clientId: `flooder-${i}`, protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
            resolve(s);
          });
          s.on('error', () => {});
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (let round = 0; round < 10; round++) for (const p of pubs) p.write(batch);
    await new Promise((r) => setTimeout(r, 300));
    // the flood really did pile up behind the slow subscriber (deep enough to overflow the stack)
    const queued = (tern.aedes as unknown as { mq: { length: number } }).mq.length;
    assert.ok(queued > 3000, `only ${queued} messages queued in the router`);
    console.error('queued', queued, Date.now()); slow.destroy();
    await new Promise((r) => setTimeout(r, 2000));
    for (const p of pubs) p.destroy();

    assert.deepEqual(crashed, []);
    console.error('probe', Date.now(), (tern.aedes as any).mq.length); const probe = await connect(tcpUrl(tern), { clientId: 'after-flood', connectTimeout: 60000 }); console.error('connected', Date.now());
    assert.equal(probe.connected, true);
    await endAll(probe);
  } finally {
    process.off('uncaughtException', onUncaught);
    await tern.close();
  }
});
