// sqlite mode survives a restart: a new instance on the same file sees the same sessions; and a
// kill -9 loses nothing whose promise had resolved.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Kysely, SqliteDialect } from 'kysely';
import {
  createPersistence,
  type PersistPacket,
  type QueuePolicy,
  type TernPersistence,
} from '../../server/broker/persistence/index.ts';
import { createDb, openDb, tempDbFile } from '../helpers/persistence-db.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const offlinePolicy = (max: number): QueuePolicy => ({
  maxQueueLen: () => max,
  storeQos0: () => true,
  onDropped: () => {},
  isOnline: () => false,
});

async function reopen(file: string, policy?: QueuePolicy): Promise<{ p: TernPersistence; close(): Promise<void> }> {
  const db = openDb(file);
  const p = createPersistence({ mode: 'sqlite', db, policy });
  await p.setup({ id: 'second-broker', counter: 0 });
  return {
    p,
    async close() {
      await p.destroy();
      db.close();
    },
  };
}

test('a new instance on the same file sees every session, queue, counter, retained message and will', async () => {
  const file = tempDbFile();
  const db = await createDb(file);
  const p = createPersistence({ mode: 'sqlite', db, policy: offlinePolicy(5) });
  const broker = { id: 'first-broker', counter: 0 };
  await p.setup(broker);
  const pkt = (payload: string, qos: number, topic = 'dev/1/cmd'): PersistPacket & { brokerCounter: number } => ({
    cmd: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    brokerId: broker.id,
    brokerCounter: ++broker.counter,
    clientId: 'publisher',
  });

  await p.addSubscriptions({ id: 'dev1' }, [
    { topic: 'dev/1/#', qos: 1, rh: 0, rap: false, nl: false },
    { topic: 'broadcast', qos: 0 },
    { topic: 'v5', qos: 2, subscriptionIdentifier: 7 },
  ]);
  await p.addSubscriptions({ id: 'dev2' }, [{ topic: 'dev/+/cmd', qos: 2 }]);
  // a fan-out publish stored once for both
  const shared = pkt('shared', 2);
  await p.outgoingEnqueueCombi(await p.subscriptionsByTopic('dev/1/cmd'), shared);
  const sent = pkt('sent', 1);
  await p.outgoingEnqueueCombi([{ clientId: 'dev1', topic: 'dev/1/#', qos: 1 }], sent);
  await p.outgoingUpdate({ id: 'dev1' }, { ...sent, messageId: 41 });
  await p.outgoingUpdate({ id: 'dev2' }, { ...shared, qos: 2, messageId: 42 });
  await p.outgoingUpdate({ id: 'dev2' }, { cmd: 'pubrel', messageId: 42 });
  // no await in between: these land in one batch, and the cap (5) drops five entries there
  const burst: Promise<void>[] = [];
  for (let i = 0; i < 8; i++) burst.push(p.outgoingEnqueueCombi([{ clientId: 'dev1', topic: 'dev/1/#', qos: 1 }], pkt(`m${i}`, 1)));
  burst.push(p.outgoingEnqueueCombi([{ clientId: 'dev1', topic: 'broadcast', qos: 0 }], pkt('zero', 0, 'broadcast')));
  await Promise.all(burst);
  await p.storeRetained({ ...pkt('on', 1, 'dev/1/state'), retain: true });
  await p.storeRetained({ ...pkt('gone', 1, 'dev/1/old'), retain: true });
  await p.storeRetained({ ...pkt('', 1, 'dev/1/old'), payload: Buffer.alloc(0), retain: true });
  await p.putWill({ id: 'dev1' }, { topic: 'dev/1/status', payload: Buffer.from('offline'), qos: 1, retain: true });
  await p.incomingStorePacket({ id: 'dev2' }, { ...pkt('q2 in', 2, 'up'), messageId: 9 });
  // written without awaiting: destroy() must commit it
  void p.addSubscriptions({ id: 'late' }, [{ topic: 'late', qos: 1 }]);

  const before = snapshot(p);
  const beforeStream = await p.outgoingStream({ id: 'dev1' }).toArray();
  assert.equal(before.stats.dev1!.mqueue_dropped, 5);
  await p.destroy();
  db.close();

  const { p: q, close } = await reopen(file, offlinePolicy(5));
  assert.deepEqual(snapshot(q), before);
  assert.deepEqual(await q.outgoingStream({ id: 'dev1' }).toArray(), beforeStream);
  assert.deepEqual(await q.outgoingStream({ id: 'dev2' }).toArray(), [{ cmd: 'pubrel', messageId: 42 }]);
  assert.deepEqual(await q.subscriptionsByClient({ id: 'dev1' }), [
    { topic: 'dev/1/#', qos: 1, rh: 0, rap: false, nl: false },
    { topic: 'broadcast', qos: 0, rh: undefined, rap: undefined, nl: undefined },
    { topic: 'v5', qos: 2, rh: undefined, rap: undefined, nl: undefined, subscriptionIdentifier: 7 },
  ]);
  assert.deepEqual((await q.subscriptionsByTopic('dev/1/cmd')).map((s) => s.clientId).sort(), ['dev1', 'dev2']);
  assert.deepEqual(await q.countOffline(), { subsCount: 4, clientsCount: 3 });
  const retained = (await q.createRetainedStream('#').toArray()) as PersistPacket[];
  assert.deepEqual(retained.map((r) => [r.topic, r.payload.toString(), r.qos, r.retain]), [['dev/1/state', 'on', 1, true]]);
  const will = await q.getWill({ id: 'dev1' });
  assert.deepEqual(
    { ...will, payload: will?.payload.toString() },
    { clientId: 'dev1', brokerId: 'first-broker', topic: 'dev/1/status', payload: 'offline', qos: 1, retain: true },
  );
  // the old broker is gone, so aedes will publish the will
  assert.equal((await q.streamWill({ 'second-broker': Date.now() }).toArray()).length, 1);
  const incoming = await q.incomingGetPacket({ id: 'dev2' }, { messageId: 9 });
  assert.equal(incoming.payload.toString(), 'q2 in');
  // the in-flight one is acknowledged after the restart; its message row goes with it
  const acked = await q.outgoingClearMessageId({ id: 'dev1' }, { messageId: 41 });
  assert.equal((acked as PersistPacket).payload.toString(), 'sent');
  // new entries after a restart get fresh ids
  await q.outgoingEnqueueCombi([{ clientId: 'dev1', qos: 1 }], { ...pkt('after', 1), brokerId: 'second-broker', brokerCounter: 1 });
  await q.outgoingClearMessageId({ id: 'dev2' }, { messageId: 42 });
  await close();

  const db3 = openDb(file);
  const count = (table: string): number => (db3.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  // dev1: still capped at 5 (the new one dropped m4); dev2: nothing left, so the message it
  // shared with dev1 (dropped there earlier) is gone too
  assert.equal(count('mqtt_outgoing'), 5);
  assert.equal(count('mqtt_message'), 5);
  assert.equal((db3.prepare('SELECT mqueue_dropped AS n FROM mqtt_session_counter WHERE client_id = ?').get('dev1') as { n: number }).n, 6);
  db3.close();
  const { p: r, close: close3 } = await reopen(file, offlinePolicy(5));
  assert.deepEqual(
    r.queued('dev1', 0, 100).data.map((m) => m.payload.toString()),
    ['m5', 'm6', 'm7', 'zero', 'after'],
  );
  assert.deepEqual(r.stats('dev2'), { mqueue_len: 0, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 1 });
  await close3();
});

test('kill -9: every message whose promise resolved is there after a restart, in order', async (t) => {
  const file = tempDbFile();
  (await createDb(file)).close();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/persistence-writer.ts'), file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acked = new Set<number>();
  // kill somewhere in the middle of a burst, not on a batch boundary we chose
  const killAt = 3000 + Math.floor(Math.random() * 20);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => reject(new Error('writer exited before it was killed')));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^ok (\d+)$/.exec(line);
      if (!m) return;
      acked.add(Number(m[1]));
      if (acked.size === killAt) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  assert.equal(await exited, 'SIGKILL');

  const { p, close } = await reopen(file);
  const stored = p.queued('sub', 0, 1_000_000).data.map((m) => Number(m.payload.toString()));
  const storedSet = new Set(stored);
  const missing = [...acked].filter((n) => !storedSet.has(n));
  t.diagnostic(`acknowledged ${acked.size}, found ${stored.length} after the kill`);
  assert.deepEqual(missing, [], 'acknowledged but lost');
  assert.deepEqual(stored, [...stored].sort((a, b) => a - b), 'queue order survives');
  assert.deepEqual(stored, stored.map((_, i) => i), 'no holes: batches commit whole or not at all');
  assert.deepEqual(p.subscriptions('sub'), [{ topic: 'load/#', qos: 1 }]);
  await close();
});

test('a kysely transaction open on the shared handle delays our commit instead of swallowing it', async () => {
  const file = tempDbFile();
  const db = await createDb(file);
  // the store shares one better-sqlite3 handle between kysely and the persistence
  const k = new Kysely<{ mqtt_session_counter: { client_id: string; mqueue_dropped: number } }>({
    dialect: new SqliteDialect({ database: db }),
  });
  const p = createPersistence({ mode: 'sqlite', db });
  await p.setup({ id: 'b', counter: 0 });
  let pending: Promise<void> | undefined;
  let committed = false;
  await assert.rejects(
    k.transaction().execute(async (trx) => {
      await trx.insertInto('mqtt_session_counter').values({ client_id: 'rolled-back', mqueue_dropped: 1 }).execute();
      pending = p.addSubscriptions({ id: 'c1' }, [{ topic: 't', qos: 1 }]).then(() => {
        committed = true;
      });
      // The batch armed its 1 ms commit timer above; a 1 ms timer armed now fires after it, and our
      // setImmediate then runs after the one the batch's timer schedules to commit. So each round
      // below ends after a commit attempt (and its promise's callbacks) whatever the elapsed time.
      for (let attempt = 0; attempt < 3; attempt++) {
        await new Promise((r) => setTimeout(() => setImmediate(r), 1));
        assert.equal(committed, false, 'must not commit inside their transaction');
      }
      assert.equal(committed, false, 'must not commit inside their transaction');
      throw new Error('roll back');
    }),
    /roll back/,
  );
  await pending;
  assert.equal(committed, true);
  await p.destroy();
  db.close();

  const check = openDb(file);
  assert.deepEqual(check.prepare('SELECT client_id, topic FROM mqtt_subscription').all(), [{ client_id: 'c1', topic: 't' }]);
  assert.deepEqual(check.prepare('SELECT * FROM mqtt_session_counter').all(), []);
  check.close();
});

function snapshot(p: TernPersistence) {
  const ids = [...p.persistentClientIds()].sort();
  const stats: Record<string, ReturnType<TernPersistence['stats']>> = {};
  const queues: Record<string, unknown> = {};
  for (const id of ids) {
    stats[id] = p.stats(id);
    queues[id] = p.queued(id, 0, 1000).data.map((m) => ({ ...m, payload: m.payload.toString() }));
  }
  return { ids, stats, queues, subs: [...p.allSubscriptions()] };
}
