// The persistence under a real aedes broker and mqtt.js clients over loopback: an offline
// persistent session's queue is delivered in order on reconnect, and survives a broker restart on
// the same SQLite file.
import assert from 'node:assert/strict';
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type BetterSqlite3 from 'better-sqlite3';
import { createPersistence, type QueuePolicy, type TernPersistence } from '../../server/broker/persistence/index.ts';
import { createDb, openDb, tempDbFile } from '../helpers/persistence-db.ts';
import { emitterEvents, type Recorded } from '../helpers/events.ts';

/** aedes' d.ts lacks `clients` */
interface AedesClients {
  clients: Record<string, { connected: boolean } | undefined>;
}

interface Running {
  port: number;
  aedes: Aedes;
  persistence: TernPersistence;
  /** 'queued' (packet): a client's PUBLISH is in the store for the offline sessions */
  queued: EventEmitter;
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
  const queued = new EventEmitter();
  // aedes never queues QoS 0: the broker does it for offline sessions (storeQos0). aedes emits
  // 'publish' after its own enqueueOffline, so a QoS 1/2 message is queued by then.
  broker.on('publish', (packet, client) => {
    if (!client) return;
    if (packet.qos === 0) {
      void persistence
        .subscriptionsByTopic(packet.topic)
        .then((subs) => persistence.outgoingEnqueueCombi(subs, packet))
        .then(() => queued.emit('queued', packet));
    } else {
      queued.emit('queued', packet);
    }
  });
  const server = net.createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    aedes: broker,
    persistence,
    queued,
    online,
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await persistence.destroy();
    },
  };
}

type Message = [topic: string, payload: Buffer, packet: { qos: number }];
interface Connected {
  client: MqttClient;
  sessionPresent: boolean;
  got: Recorded<Message>;
  /** [payload, qos] of every message so far */
  messages(): Array<[string, number]>;
}

function connect(port: number, opts: IClientOptions): Promise<Connected> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0, ...opts });
  // attached before CONNACK: the stored queue follows it immediately
  const got = emitterEvents<Message>(client as never, 'message');
  const messages = () => got.seen.map(([, payload, packet]): [string, number] => [payload.toString(), packet.qos]);
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent, got, messages }));
    client.once('error', reject);
  });
}

/** Resolves when aedes has processed the client's disconnect. Call it before the client goes. */
function disconnected(b: Running, clientId: string): Promise<unknown> {
  return emitterEvents(b.aedes as never, 'clientDisconnect', (client: { id: string }) => client.id === clientId).wait(1, `${clientId} offline`);
}

/** aedes' 'ack' events of one client: a PUBACK or PUBCOMP cleared its entry in the store. */
function acks(b: Running, clientId: string): Recorded<unknown[]> {
  return emitterEvents(b.aedes as never, 'ack', (_packet: unknown, client: { id: string } | null) => client?.id === clientId);
}

test('an offline clean=false subscriber gets its queue in order on reconnect, also after a broker restart', async () => {
  const file = tempDbFile();
  let db = await createDb(file);
  let b = await startBroker(db);

  const sub = await connect(b.port, { clientId: 'sub1', clean: false });
  await sub.client.subscribeAsync('cmd/#', { qos: 1 });
  let offline = disconnected(b, 'sub1');
  await sub.client.endAsync();
  await offline;
  assert.equal(b.online('sub1'), false);
  assert.deepEqual(b.persistence.subscriptions('sub1'), [{ topic: 'cmd/#', qos: 1 }]);

  const pub = await connect(b.port, { clientId: 'pub1', clean: true });
  const publishAll = async (msgs: Array<[string, 0 | 1 | 2]>, r: Running): Promise<void> => {
    for (const [payload, qos] of msgs) {
      const before = r.persistence.stats('sub1').mqueue_len;
      // QoS 0 is queued from the 'publish' event, after the publisher's callback (and aedes
      // acknowledges QoS 1 before routing it): wait for each so the next cannot overtake it
      const stored = emitterEvents(r.queued as never, 'queued', (p: { payload: Buffer }) => p.payload.toString() === payload);
      await pub.client.publishAsync('cmd/x', payload, { qos });
      await stored.wait(1, `${payload} queued`);
      stored.stop();
      assert.equal(r.persistence.stats('sub1').mqueue_len, before + 1);
    }
  };
  const first: Array<[string, 0 | 1 | 2]> = [['m0', 1], ['m1', 1], ['z2', 0], ['m3', 2], ['m4', 1], ['m5', 2], ['m6', 1], ['m7', 1], ['m8', 1], ['m9', 1]];
  await publishAll(first, b);
  assert.deepEqual(b.persistence.stats('sub1'), { mqueue_len: 10, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 1 });

  let acked = acks(b, 'sub1');
  const back = await connect(b.port, { clientId: 'sub1', clean: false });
  assert.equal(back.sessionPresent, true);
  await back.got.wait(10, 'ten messages');
  // QoS 2 messages to a QoS 1 subscription arrive at QoS 1
  assert.deepEqual(back.messages(), first.map(([p, q]) => [p, Math.min(q, 1)]));
  await acked.wait(first.filter(([, q]) => q > 0).length, 'a PUBACK per QoS 1 message');
  assert.deepEqual([b.persistence.stats('sub1').inflight_cnt, b.persistence.stats('sub1').mqueue_len], [0, 0]);
  // live delivery to an online persistent session goes through the store as well
  await pub.client.publishAsync('cmd/x', 'live', { qos: 1 });
  await back.got.wait(11, 'the live message');
  await acked.wait(10, 'the live PUBACK');
  assert.equal(b.persistence.stats('sub1').inflight_cnt, 0);
  offline = disconnected(b, 'sub1');
  await back.client.endAsync();
  await offline;
  assert.equal(b.online('sub1'), false);

  const second: Array<[string, 0 | 1 | 2]> = [['n0', 1], ['n1', 0], ['n2', 1], ['n3', 2], ['n4', 1]];
  await publishAll(second, b);
  await pub.client.endAsync();
  await b.stop();
  db.close();

  // restart on the same file
  db = openDb(file);
  b = await startBroker(db);
  assert.deepEqual(b.persistence.stats('sub1'), { mqueue_len: 5, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 1 });
  acked = acks(b, 'sub1');
  const again = await connect(b.port, { clientId: 'sub1', clean: false });
  assert.equal(again.sessionPresent, true);
  await again.got.wait(5, 'five messages');
  assert.deepEqual(again.messages(), second.map(([p, q]) => [p, Math.min(q, 1)]));
  await acked.wait(second.filter(([, q]) => q > 0).length, 'the PUBACKs after the restart');
  assert.deepEqual([b.persistence.stats('sub1').inflight_cnt, b.persistence.stats('sub1').mqueue_len], [0, 0]);
  await again.client.endAsync();
  await b.stop();
  const rows = db.prepare('SELECT (SELECT count(*) FROM mqtt_outgoing) AS o, (SELECT count(*) FROM mqtt_message) AS m').get();
  assert.deepEqual(rows, { o: 0, m: 0 });
  db.close();
});
