// A subscriber leaving during a QoS 0 flood must not take the broker down. mqemitter 7 queues
// messages beyond its concurrency and, once no listener matches them, drains that queue on one
// recursive stack (mcollina/mqemitter#204): a RangeError that kills the process.
//
// The flood goes in through the broker's own publish() in one synchronous loop: every delivery
// completes on a later turn (aedes' write callback, or the socket's drain), so after the loop the
// router holds exactly the messages beyond its concurrency, with no timer deciding how many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { startTestTern, connect, tcpUrl, endAll } from '../helpers/tern.ts';
import { openRaw } from '../helpers/raw.ts';
import { disconnectOf } from '../helpers/events.ts';

const FLOOD = 20_000;

test('a QoS 0 flood while its slow subscriber leaves: the broker stays up', async () => {
  const tern = await startTestTern();
  const crashed: unknown[] = [];
  let settle: () => void = () => {};
  const onUncaught = (err: unknown) => {
    crashed.push(err);
    settle();
  };
  process.on('uncaughtException', onUncaught);
  try {
    // a subscriber that stops reading once subscribed: its deliveries back up
    const slow = await openRaw(tern.ports.tcp.external!);
    slow.sendPacket({ cmd: 'connect', clientId: 'slow', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    slow.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] });
    await slow.next((p) => p.cmd === 'suback', 'SUBACK');
    slow.pause();

    const mq = (tern.aedes as unknown as { mq: { length: number } }).mq;
    const payload = Buffer.alloc(1024, 1);
    const last = new Promise<void>((resolve) => {
      settle = resolve;
      for (let i = 0; i < FLOOD; i++) {
        const packet = { cmd: 'publish', topic: `flood/${i % 10}`, payload, qos: 0, retain: false, dup: false } as mqttPacket.IPublishPacket;
        // the last one's callback runs once the router has worked through everything before it
        tern.aedes.publish(packet, i === FLOOD - 1 ? () => resolve() : () => {});
      }
    });
    // the flood really did pile up behind the slow subscriber (deep enough to overflow the stack)
    const queued = mq.length;
    assert.ok(queued > 3000, `only ${queued} messages queued in the router`);

    // the subscriber leaves mid-flood; the broker unsubscribes it once it sees the close
    const left = disconnectOf(tern, 'slow');
    slow.destroy();
    await left;
    assert.ok(mq.length > 3000, `the router drained to ${mq.length} before the subscriber was gone`);
    await last;

    assert.deepEqual(crashed, []);
    assert.equal(mq.length, 0);
    const probe = await connect(tcpUrl(tern), { clientId: 'after-flood' });
    assert.equal(probe.connected, true);
    await endAll(probe);
  } finally {
    process.off('uncaughtException', onUncaught);
    await tern.close();
  }
});
