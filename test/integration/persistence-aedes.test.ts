// The persistence under a real aedes broker and mqtt.js clients over loopback: an offline
// persistent session's queue is delivered in order on reconnect, and survives a broker restart on
// the same SQLite file.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type BetterSqlite3 from 'better-sqlite3';
import { createPersistence, type QueuePolicy, type TernPersistence } from '../../server/broker/persistence/index.ts';
import { createDb, openDb, tempDbFile } from '../helpers/persistence-db.ts';

/** aedes' d.ts lacks `clients` */
interface AedesClients {
  clients: Record<string, { connected: boolean } | undefined>;
}

interface Running {
  port: number;
  persistence: TernPersistence;
  online(clientId: string): boolean;
  stop(): Promise<void>;
}

async function startBroker(db: BetterSqlite3.Database): Promise<Running> {
  let aedes: Aedes | undefined;
  const online = (id: string): boolean => (aedes as unknown as AedesClients | undefined)?.clients[id]?.connected === true;
  const policy: QueuePolicy = {
    maxQueueLen: () => 1000,
    storeQos0: () => true,
    onDropped: () => {},
    isOnline: online,
  };
  const persistence = createPersistence({ mode: 'sqlite', db, policy });
  aedes = await Aedes.createBroker({ persistence });
  const broker = aedes;
  // aedes never queues QoS 0: the broker does it for offline sessions (storeQos0)
  broker.on('publish', (packet, client) => {
    if (client && packet.qos === 0) {
      void persistence.subscriptionsByTopic(packet.topic).then((subs) => persistence.outgoingEnqueueCombi(subs, packet));
    }
  });
  const server = net.createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    persistence,
    online,
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await persistence.destroy();
    },
  };
}

function connect(port: number, opts: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean; messages: Array<[string, number]> }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0, ...opts });
  // attached before CONNACK: the stored queue follows it immediately
  const messages: Array<[string, number]> = [];
  client.on('message', (_topic, payload, packet) => messages.push([payload.toString(), packet.qos]));
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent, messages }));
    client.once('error', reject);
  });
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('an offline clean=false subscriber gets its queue in order on reconnect, also after a broker restart', async () => {
  const file = tempDbFile();
  let db = await createDb(file);
  let b = await startBroker(db);

  const sub = await connect(b.port, { clientId: 'sub1', clean: false });
  await sub.client.subscribeAsync('cmd/#', { qos: 1 });
  await sub.client.endAsync();
  await until('sub1 offline', () => !b.online('sub1'));
  assert.deepEqual(b.persistence.subscriptions('sub1'), [{ topic: 'cmd/#', qos: 1 }]);

  const pub = await connect(b.port, { clientId: 'pub1', clean: true });
  const publishAll = async (msgs: Array<[string, 0 | 1 | 2]>, r: Running): Promise<void> => {
    for (const [payload, qos] of msgs) {
      const before = r.persistence.stats('sub1').mqueue_len;
      await pub.client.publishAsync('cmd/x', payload, { qos });
      // QoS 0 is queued from the 'publish' event, after the publisher's callback: wait for it
      // so the next message cannot overtake it
      await until(`${payload} queued`, () => r.persistence.stats('sub1').mqueue_len === before + 1);
    }
  };
  const first: Array<[string, 0 | 1 | 2]> = [['m0', 1], ['m1', 1], ['z2', 0], ['m3', 2], ['m4', 1], ['m5', 2], ['m6', 1], ['m7', 1], ['m8', 1], ['m9', 1]];
  await publishAll(first, b);
  assert.deepEqual(b.persistence.stats('sub1'), { mqueue_len: 10, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 1 });

  const back = await connect(b.port, { clientId: 'sub1', clean: false });
  assert.equal(back.sessionPresent, true);
  await until('ten messages', () => back.messages.length === 10);
  // QoS 2 messages to a QoS 1 subscription arrive at QoS 1
  assert.deepEqual(back.messages, first.map(([p, q]) => [p, Math.min(q, 1)]));
  await until('acks', () => b.persistence.stats('sub1').inflight_cnt === 0 && b.persistence.stats('sub1').mqueue_len === 0);
  // live delivery to an online persistent session goes through the store as well
  await pub.client.publishAsync('cmd/x', 'live', { qos: 1 });
  await until('live', () => back.messages.length === 11);
  await until('live acked', () => b.persistence.stats('sub1').inflight_cnt === 0);
  await back.client.endAsync();
  await until('sub1 offline again', () => !b.online('sub1'));

  const second: Array<[string, 0 | 1 | 2]> = [['n0', 1], ['n1', 0], ['n2', 1], ['n3', 2], ['n4', 1]];
  await publishAll(second, b);
  await pub.client.endAsync();
  await b.stop();
  db.close();

  // restart on the same file
  db = openDb(file);
  b = await startBroker(db);
  assert.deepEqual(b.persistence.stats('sub1'), { mqueue_len: 5, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 1 });
  const again = await connect(b.port, { clientId: 'sub1', clean: false });
  assert.equal(again.sessionPresent, true);
  await until('five messages', () => again.messages.length === 5);
  assert.deepEqual(again.messages, second.map(([p, q]) => [p, Math.min(q, 1)]));
  await until('acks after restart', () => b.persistence.stats('sub1').inflight_cnt === 0 && b.persistence.stats('sub1').mqueue_len === 0);
  await again.client.endAsync();
  await b.stop();
  const rows = db.prepare('SELECT (SELECT count(*) FROM mqtt_outgoing) AS o, (SELECT count(*) FROM mqtt_message) AS m').get();
  assert.deepEqual(rows, { o: 0, m: 0 });
  db.close();
});
