// emqx.conf limits enforced on real connections: packet size, QoS, retain, topic levels,
// wildcard and shared subscriptions, subscriptions per client, idle_timeout, listener access
// rules and max_connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Config } from '../../server/config/types.ts';
import type { MqttClient } from 'mqtt';

async function withTern(mutate: (c: Config) => void, body: (url: string, tern: Awaited<ReturnType<typeof startTestTern>>) => Promise<void>) {
  const tern = await startTestTern(testConfig(mutate));
  try {
    await body(tcpUrl(tern), tern);
  } finally {
    await tern.close();
  }
}

/** The SUBACK return codes, 0x80 included (mqtt.js rejects a SUBACK holding one). */
async function granted(client: MqttClient, subs: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    return (await client.subscribeAsync(subs)).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted: number[] } }).packet;
    if (!packet) throw err;
    return packet.granted;
  }
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

test('mqtt.max_packet_size: a larger PUBLISH closes that connection, others carry on', async () => {
  await withTern((c) => (c.mqtt.max_packet_size = 1024), async (url) => {
    const sub = await connect(url, { clientId: 'size-sub' });
    await sub.subscribeAsync('size/#', { qos: 1 });
    const big = await connect(url, { clientId: 'size-big' });
    big.on('error', () => {});
    const gone = closed(big);
    big.publish('size/big', Buffer.alloc(2048), { qos: 0 });
    await gone;
    const got = nextMessages(sub, 1);
    const small = await connect(url, { clientId: 'size-small' });
    await small.publishAsync('size/small', Buffer.alloc(512), { qos: 1 });
    assert.equal((await got)[0]!.topic, 'size/small');
    await endAll(sub, small, big);
  });
});

test('mqtt.max_qos_allowed = 1: a QoS 2 subscription is granted QoS 1; a QoS 2 PUBLISH closes the connection', async () => {
  await withTern((c) => (c.mqtt.max_qos_allowed = 1), async (url) => {
    const c1 = await connect(url, { clientId: 'qos-sub' });
    assert.deepEqual(await granted(c1, { 'q/t': { qos: 2 } }), [1]);
    const c2 = await connect(url, { clientId: 'qos-pub' });
    c2.on('error', () => {});
    const gone = closed(c2);
    c2.publish('q/t', 'x', { qos: 2 });
    await gone;
    await endAll(c1, c2);
  });
});

test('mqtt.retain_available = false: a retained PUBLISH closes the connection', async () => {
  await withTern((c) => (c.mqtt.retain_available = false), async (url) => {
    const c1 = await connect(url, { clientId: 'ret' });
    c1.on('error', () => {});
    const gone = closed(c1);
    c1.publish('r/t', 'x', { qos: 1, retain: true });
    await gone;
    const ok = await connect(url, { clientId: 'ret-ok' });
    await ok.publishAsync('r/t', 'x', { qos: 1, retain: false });
    await endAll(c1, ok);
  });
});

test('mqtt.wildcard_subscription = false, shared_subscription = false and max_topic_levels refuse with SUBACK 0x80', async () => {
  await withTern(
    (c) => {
      c.mqtt.wildcard_subscription = false;
      c.mqtt.shared_subscription = false;
      c.mqtt.max_topic_levels = 3;
    },
    async (url) => {
      const c1 = await connect(url, { clientId: 'wild' });
      assert.deepEqual(
        await granted(c1, { 'a/+': { qos: 1 }, 'a/#': { qos: 1 }, '$share/g/a': { qos: 1 }, 'a/b/c/d': { qos: 1 }, 'a/b/c': { qos: 1 } }),
        [128, 128, 128, 128, 1],
      );
      const deep = await connect(url, { clientId: 'deep' });
      deep.on('error', () => {});
      const gone = closed(deep);
      deep.publish('a/b/c/d', 'x', { qos: 0 });
      await gone;
      await endAll(c1, deep);
    },
  );
});

test('zone max_subscriptions: the subscription beyond the limit is refused, re-subscribing a topic is not', async () => {
  await withTern((c) => (c.zones.external!.max_subscriptions = 2), async (url) => {
    const c1 = await connect(url, { clientId: 'many' });
    assert.deepEqual(await granted(c1, { 's/1': { qos: 0 } }), [0]);
    assert.deepEqual(await granted(c1, { 's/2': { qos: 0 } }), [0]);
    assert.deepEqual(await granted(c1, { 's/3': { qos: 0 } }), [128]);
    assert.deepEqual(await granted(c1, { 's/2': { qos: 1 } }), [1]);
    await endAll(c1);
  });
});

test('zone idle_timeout: a socket that sends no CONNECT is closed', async () => {
  await withTern((c) => (c.zones.external!.idle_timeout = 300), async (_url, tern) => {
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const s = net.connect(tern.ports.tcp.external!, '127.0.0.1');
      s.on('close', () => resolve());
      s.on('error', () => {});
    });
    assert.ok(Date.now() - started < 10_000);
  });
});

test('listener access rules: a denied address is closed at accept; another listener still serves it', async () => {
  await withTern(
    (c) => {
      c.listeners.find((l) => l.proto === 'tcp' && l.name === 'external')!.access = ['deny 127.0.0.0/8', 'allow all'];
    },
    async (url, tern) => {
      await assert.rejects(connect(url, { clientId: 'denied', connectTimeout: 2000 }));
      const ok = await connect(tcpUrl(tern, 'internal'), { clientId: 'allowed' });
      await endAll(ok);
    },
  );
});

test('listener max_connections: the connection beyond the limit is closed', async () => {
  await withTern(
    (c) => {
      c.listeners.find((l) => l.proto === 'tcp' && l.name === 'external')!.max_connections = 2;
    },
    async (url, tern) => {
      const a = await connect(url, { clientId: 'mc-1' });
      const b = await connect(url, { clientId: 'mc-2' });
      await assert.rejects(connect(url, { clientId: 'mc-3', connectTimeout: 2000 }));
      // room again once one has left: the listener frees a slot when its socket closes
      const listener = tern.listeners.running.find((l) => l.id === 'tcp:external')!;
      assert.equal(listener.sockets.size, 2);
      const freed = [...listener.sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
      await endAll(a, b);
      await Promise.all(freed);
      assert.equal(listener.sockets.size, 0);
      const c3 = await connect(url, { clientId: 'mc-4' });
      await endAll(c3);
    },
  );
});
