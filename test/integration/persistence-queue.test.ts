// Tern's queue rules on top of the aedes-persistence contract (EMQX mqueue): the cap, QoS 0
// storage, the effective QoS, and the management extensions — in both modes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import {
  createPersistence,
  type PersistPacket,
  type QueuePolicy,
  type TernPersistence,
} from '../../server/broker/persistence/index.ts';
import { createDb } from '../helpers/persistence-db.ts';

class TestPolicy implements QueuePolicy {
  max = 0;
  qos0 = false;
  online = new Set<string>();
  dropped: Array<{ clientId: string; payload: string; qos: number }> = [];
  maxQueueLen = (): number => this.max;
  storeQos0 = (): boolean => this.qos0;
  isOnline = (id: string): boolean => this.online.has(id);
  onDropped = (clientId: string, p: { payload: Buffer; qos: number }): void => {
    this.dropped.push({ clientId, payload: p.payload.toString(), qos: p.qos });
  };
}

const dbs: BetterSqlite3.Database[] = [];
after(() => {
  for (const db of dbs) db.close();
});

interface Ctx {
  p: TernPersistence;
  policy: TestPolicy;
  broker: { id: string; counter: number };
  pkt(payload: string | number, qos?: number, topic?: string): PersistPacket & { brokerCounter: number };
}

async function make(mode: 'memory' | 'sqlite'): Promise<Ctx> {
  const policy = new TestPolicy();
  let db: BetterSqlite3.Database | undefined;
  if (mode === 'sqlite') {
    db = await createDb();
    dbs.push(db);
  }
  const p = createPersistence({ mode, db, policy });
  const broker = { id: 'broker-1', counter: 0 };
  await p.setup(broker);
  return {
    p,
    policy,
    broker,
    pkt: (payload, qos = 1, topic = 'a/b') => ({
      cmd: 'publish',
      topic,
      payload: Buffer.from(String(payload)),
      qos,
      retain: false,
      dup: false,
      brokerId: broker.id,
      brokerCounter: ++broker.counter,
    }),
  };
}

const payloads = (p: TernPersistence, id: string): string[] => p.queued(id, 0, 1000).data.map((m) => m.payload.toString());

for (const mode of ['memory', 'sqlite'] as const) {
  describe(`persistence queue rules (${mode})`, () => {
    test('cap: the oldest queued messages are dropped, counted and reported', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.max = 10;
      const sub = { clientId: 'c1', topic: 'a/b', qos: 1 };
      for (let i = 0; i < 25; i++) await p.outgoingEnqueueCombi([sub], pkt(i));
      assert.deepEqual(payloads(p, 'c1'), ['15', '16', '17', '18', '19', '20', '21', '22', '23', '24']);
      assert.deepEqual(p.stats('c1'), { mqueue_len: 10, inflight_cnt: 0, mqueue_dropped: 15, subscriptions_cnt: 0 });
      assert.equal(policy.dropped.length, 15);
      assert.deepEqual(policy.dropped.map((d) => d.payload), Array.from({ length: 15 }, (_, i) => String(i)));
      assert.ok(policy.dropped.every((d) => d.clientId === 'c1' && d.qos === 1));
      await p.destroy();
    });

    test('cap: in-flight messages are never dropped', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.max = 10;
      const sub = { clientId: 'c1', topic: 'a/b', qos: 1 };
      const first = [pkt(0), pkt(1), pkt(2), pkt(3), pkt(4)];
      await p.outgoingEnqueueCombi([sub], first[0]!);
      for (const f of first.slice(1)) await p.outgoingEnqueue(sub, f);
      // aedes delivered three of them (assigning packet identifiers) before the client vanished
      for (let i = 0; i < 3; i++) await p.outgoingUpdate({ id: 'c1' }, { ...first[i]!, messageId: 100 + i });
      for (let i = 5; i < 25; i++) await p.outgoingEnqueueCombi([sub], pkt(i));
      const all = p.queued('c1', 0, 100);
      assert.equal(all.count, 13);
      assert.deepEqual(
        all.data.map((m) => [m.payload.toString(), m.inflight]),
        [['0', true], ['1', true], ['2', true], ...Array.from({ length: 10 }, (_, i) => [String(15 + i), false])],
      );
      assert.deepEqual(p.stats('c1'), { mqueue_len: 10, inflight_cnt: 3, mqueue_dropped: 12, subscriptions_cnt: 0 });
      // PUBACK of an in-flight one
      const acked = await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 101 });
      assert.equal(acked?.cmd, 'publish');
      assert.equal((acked as PersistPacket).payload.toString(), '1');
      assert.equal(p.stats('c1').inflight_cnt, 2);
      await p.destroy();
    });

    test('outgoingPublishes: the stored PUBLISHes at once, in flight first, with their ids; no PUBREL', async () => {
      const { p, pkt } = await make(mode);
      const sub = { clientId: 'c1', topic: 'a/b', qos: 2 };
      const ps = [pkt('q2', 2), pkt('q1'), pkt('queued')];
      for (const x of ps) await p.outgoingEnqueue(sub, x);
      await p.outgoingUpdate({ id: 'c1' }, { ...ps[1]!, messageId: 11 });
      await p.outgoingUpdate({ id: 'c1' }, { ...ps[0]!, messageId: 10 });
      // the QoS 2 one's PUBREC arrived: a PUBREL stands in its place
      await p.outgoingUpdate({ id: 'c1' }, { cmd: 'pubrel', messageId: 10 });
      assert.deepEqual(
        p.outgoingPublishes('c1').map((x) => [x.payload.toString(), x.messageId, x.brokerId, x.brokerCounter]),
        [
          ['q1', 11, 'broker-1', ps[1]!.brokerCounter],
          ['queued', undefined, 'broker-1', ps[2]!.brokerCounter],
        ],
      );
      assert.deepEqual(p.outgoingPublishes('nobody'), []);
      await p.destroy();
    });

    test('cap: online clients are not capped (their queue only holds what aedes is sending)', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.max = 2;
      policy.online.add('c1');
      for (let i = 0; i < 5; i++) await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], pkt(i));
      assert.equal(p.stats('c1').mqueue_len, 5);
      assert.equal(policy.dropped.length, 0);
      await p.destroy();
    });

    test('outgoingUpdate of a packet the cap dropped stores it as in-flight', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.max = 1;
      const a = pkt('a');
      const b = pkt('b');
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], a);
      // e.g. aedes is flushing the queue on reconnect while a new message arrives
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], b);
      assert.deepEqual(payloads(p, 'c1'), ['b']);
      await p.outgoingUpdate({ id: 'c1' }, { ...a, messageId: 7 });
      assert.deepEqual(
        p.queued('c1', 0, 10).data.map((m) => [m.payload.toString(), m.inflight]),
        [['a', true], ['b', false]],
      );
      await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 7 });
      assert.deepEqual(payloads(p, 'c1'), ['b']);
      await p.destroy();
    });

    test('QoS 0: not stored unless storeQos0 and the client is offline', async () => {
      const { p, policy, pkt } = await make(mode);
      const subs = [{ clientId: 'c1', topic: 'a/b', qos: 1 }];
      await p.outgoingEnqueueCombi(subs, pkt('off-no', 0));
      assert.equal(p.stats('c1').mqueue_len, 0, 'storeQos0 false');
      policy.qos0 = true;
      policy.online.add('c1');
      await p.outgoingEnqueueCombi(subs, pkt('on-yes', 0));
      assert.equal(p.stats('c1').mqueue_len, 0, 'online: aedes already sent it');
      await p.outgoingEnqueueCombi(subs, pkt('on-qos1', 1));
      assert.equal(p.stats('c1').mqueue_len, 1, 'QoS 1 is stored for online clients too');
      policy.online.clear();
      await p.outgoingEnqueueCombi(subs, pkt('off-yes', 0));
      assert.deepEqual(
        p.queued('c1', 0, 10).data.map((m) => [m.payload.toString(), m.qos]),
        [['on-qos1', 1], ['off-yes', 0]],
      );
      assert.ok(!persistentIds(p).includes('c2'));
      await p.destroy();
    });

    test('effective QoS is min(publish, subscription); a QoS 0 subscription downgrades to a QoS 0 entry', async () => {
      const { p, policy, pkt } = await make(mode);
      await p.outgoingEnqueueCombi(
        [
          { clientId: 'q1', topic: '#', qos: 1 },
          { clientId: 'q2', topic: '#', qos: 2 },
          { clientId: 'q0', topic: '#', qos: 0 },
        ],
        pkt('x', 2),
      );
      assert.equal(p.queued('q1', 0, 1).data[0]!.qos, 1);
      assert.equal(p.queued('q2', 0, 1).data[0]!.qos, 2);
      assert.equal(p.stats('q0').mqueue_len, 0, 'QoS 0 effective, storeQos0 false');
      policy.qos0 = true;
      await p.outgoingEnqueueCombi([{ clientId: 'q0', topic: '#', qos: 0 }], pkt('y', 2));
      assert.equal(p.queued('q0', 0, 1).data[0]!.qos, 0);
      // the stream hands aedes the downgraded packet
      const streamed: PersistPacket[] = await p.outgoingStream({ id: 'q0' }).toArray();
      assert.equal(streamed[0]!.qos, 0);
      await p.destroy();
    });

    test('subscriptionsByTopic returns QoS 0 subscriptions of offline clients that store QoS 0', async () => {
      const { p, policy } = await make(mode);
      await p.addSubscriptions({ id: 'zero' }, [{ topic: 'a/+', qos: 0 }]);
      await p.addSubscriptions({ id: 'one' }, [{ topic: 'a/#', qos: 1 }]);
      const ids = async (): Promise<string[]> => (await p.subscriptionsByTopic('a/b')).map((s) => s.clientId).sort();
      assert.deepEqual(await ids(), ['one']);
      policy.qos0 = true;
      assert.deepEqual(await ids(), ['one', 'zero']);
      policy.online.add('zero');
      assert.deepEqual(await ids(), ['one']);
      // [MQTT-4.7.2-1]
      await p.addSubscriptions({ id: 'sys' }, [{ topic: '$SYS/#', qos: 1 }]);
      assert.deepEqual((await p.subscriptionsByTopic('$SYS/x')).map((s) => s.clientId), ['sys']);
      // countOffline keeps the reference meaning: QoS > 0 subscriptions, clients with any
      assert.deepEqual(await p.countOffline(), { subsCount: 2, clientsCount: 3 });
      await p.destroy();
    });

    test('outgoingUpdate of a QoS 0 entry (reconnect flush) removes it: no ack will come', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.qos0 = true;
      const q0 = pkt('q0', 0);
      const q1 = pkt('q1', 1);
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], q0);
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], q1);
      const [s0, s1] = (await p.outgoingStream({ id: 'c1' }).toArray()) as PersistPacket[];
      await p.outgoingUpdate({ id: 'c1' }, { ...s0!, messageId: 1 });
      await p.outgoingUpdate({ id: 'c1' }, { ...s1!, messageId: 2 });
      assert.deepEqual(p.stats('c1'), { mqueue_len: 0, inflight_cnt: 1, mqueue_dropped: 0, subscriptions_cnt: 0 });
      await p.destroy();
    });

    test('QoS 0 publishes enqueued by the broker itself for offline sessions', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.qos0 = true;
      policy.online.add('on');
      await p.addSubscriptions({ id: 'off' }, [{ topic: 't/#', qos: 1 }]);
      await p.addSubscriptions({ id: 'on' }, [{ topic: 't/#', qos: 1 }]);
      await p.addSubscriptions({ id: 'off0' }, [{ topic: 't/1', qos: 0 }]);
      const packet = pkt('hello', 0, 't/1');
      await p.outgoingEnqueueCombi(await p.subscriptionsByTopic('t/1'), packet);
      assert.deepEqual(payloads(p, 'off'), ['hello']);
      assert.deepEqual(payloads(p, 'off0'), ['hello']);
      assert.deepEqual(payloads(p, 'on'), []);
      await p.destroy();
    });

    test('overlapping subscriptions of one client queue one entry at the highest QoS', async () => {
      const { p, pkt } = await make(mode);
      const packet = pkt('x', 2);
      await p.outgoingEnqueueCombi(
        [
          { clientId: 'c1', topic: 'a/#', qos: 1 },
          { clientId: 'c1', topic: 'a/b', qos: 2 },
        ],
        packet,
      );
      assert.deepEqual(p.queued('c1', 0, 10).data.map((m) => m.qos), [2]);
      // aedes' second delivery of the same packet fails its dedupe and clears "it": the entry was
      // already sent by the first delivery, so nothing is removed
      await p.outgoingUpdate({ id: 'c1' }, { ...packet, messageId: 9 });
      assert.equal(await p.outgoingClearMessageId({ id: 'c1' }, { brokerId: packet.brokerId, brokerCounter: packet.brokerCounter }), undefined);
      assert.equal(p.stats('c1').inflight_cnt, 1);
      await p.destroy();
    });

    test('clear without a packet identifier removes only that packet, and only while queued', async () => {
      const { p, pkt } = await make(mode);
      const a = pkt('a');
      const b = pkt('b');
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], a);
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], b);
      // authorizeForward refused b
      await p.outgoingClearMessageId({ id: 'c1' }, { brokerId: b.brokerId, brokerCounter: b.brokerCounter });
      assert.deepEqual(payloads(p, 'c1'), ['a']);
      await p.destroy();
    });

    test('QoS 2: PUBREL replaces the in-flight PUBLISH; PUBCOMP clears it', async () => {
      const { p, pkt } = await make(mode);
      const packet = pkt('x', 2);
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 2 }], packet);
      await p.outgoingUpdate({ id: 'c1' }, { ...packet, messageId: 5 });
      await p.outgoingUpdate({ id: 'c1' }, { cmd: 'pubrel', messageId: 5 });
      assert.deepEqual(await p.outgoingStream({ id: 'c1' }).toArray(), [{ cmd: 'pubrel', messageId: 5 }]);
      assert.equal(p.stats('c1').inflight_cnt, 1);
      // a PUBREC for something we never stored (a retained QoS 2 delivery) must not fail either
      await p.outgoingUpdate({ id: 'c1' }, { cmd: 'pubrel', messageId: 6 });
      await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 5 });
      await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 6 });
      assert.deepEqual(p.stats('c1'), { mqueue_len: 0, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 0 });
      assert.deepEqual(persistentIds(p), []);
      await p.destroy();
    });

    test('extensions: queued paging, subscriptions, persistentClientIds, deleteClient', async () => {
      const { p, policy, pkt } = await make(mode);
      policy.max = 3;
      await p.addSubscriptions({ id: 'c1' }, [
        { topic: 'a/#', qos: 1 },
        { topic: 'b', qos: 0 },
      ]);
      await p.addSubscriptions({ id: 'c2' }, [{ topic: 'c', qos: 2 }]);
      const first = pkt(0);
      await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], first);
      await p.outgoingUpdate({ id: 'c1' }, { ...first, messageId: 1 });
      for (let i = 1; i <= 5; i++) await p.outgoingEnqueueCombi([{ clientId: 'c1', qos: 1 }], pkt(i));
      await p.incomingStorePacket({ id: 'c1' }, { ...pkt('in', 2), messageId: 3 });
      await p.putWill({ id: 'c1' }, { topic: 'will', payload: Buffer.from('bye'), qos: 0, retain: false });

      const page = p.queued('c1', 1, 2);
      assert.equal(page.count, 4);
      assert.deepEqual(page.data.map((m) => [m.payload.toString(), m.inflight]), [['3', false], ['4', false]]);
      assert.deepEqual(p.queued('c1', 3, 10).data.map((m) => m.payload.toString()), ['5']);
      assert.deepEqual(p.queued('c1', 0, 1).data.map((m) => m.payload.toString()), ['0']);
      const m = p.queued('c1', 0, 1).data[0]!;
      assert.equal(m.topic, 'a/b');
      assert.equal(m.retain, false);
      assert.equal(m.from_clientid, null);
      assert.ok(Math.abs(m.publish_at - Date.now()) < 5000);
      assert.deepEqual(p.stats('c1'), { mqueue_len: 3, inflight_cnt: 1, mqueue_dropped: 2, subscriptions_cnt: 2 });
      assert.deepEqual(p.subscriptions('c1'), [
        { topic: 'a/#', qos: 1 },
        { topic: 'b', qos: 0 },
      ]);
      assert.deepEqual([...p.allSubscriptions()], [
        { clientId: 'c1', topic: 'a/#', qos: 1 },
        { clientId: 'c1', topic: 'b', qos: 0 },
        { clientId: 'c2', topic: 'c', qos: 2 },
      ]);
      assert.deepEqual(persistentIds(p), ['c1', 'c2']);

      await p.deleteClient('c1');
      assert.deepEqual(p.stats('c1'), { mqueue_len: 0, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 0 });
      assert.deepEqual(p.queued('c1', 0, 10), { data: [], count: 0 });
      assert.deepEqual(persistentIds(p), ['c2']);
      assert.equal(await p.getWill({ id: 'c1' }), undefined);
      await assert.rejects(p.incomingGetPacket({ id: 'c1' }, { messageId: 3 }));
      assert.deepEqual(await p.subscriptionsByTopic('a/b'), []);
      assert.deepEqual(await p.countOffline(), { subsCount: 1, clientsCount: 1 });
      await p.destroy();
    });

    test('retained: wildcard lookups, $ topics, deletion', async () => {
      const { p, pkt } = await make(mode);
      for (const t of ['a', 'a/b', 'a/b/c', 'x/b', '$SYS/up']) await p.storeRetained({ ...pkt(t, 0, t), retain: true });
      const topics = async (...f: string[]): Promise<string[]> =>
        ((await p.createRetainedStreamCombi(f).toArray()) as PersistPacket[]).map((x) => x.topic).sort();
      assert.deepEqual(await topics('a/#'), ['a', 'a/b', 'a/b/c']);
      assert.deepEqual(await topics('+/b'), ['a/b', 'x/b']);
      assert.deepEqual(await topics('#'), ['a', 'a/b', 'a/b/c', 'x/b']);
      assert.deepEqual(await topics('$SYS/#', '+/+'), ['$SYS/up', 'a/b', 'x/b']);
      assert.deepEqual(await topics('a/#', 'a/b'), ['a', 'a/b', 'a/b/c'], 'each message once');
      await p.storeRetained({ ...pkt('', 0, 'a/b'), payload: Buffer.alloc(0), retain: true });
      assert.deepEqual(await topics('#'), ['a', 'a/b/c', 'x/b']);
      await p.destroy();
    });
  });
}

function persistentIds(p: TernPersistence): string[] {
  return [...p.persistentClientIds()].sort();
}
