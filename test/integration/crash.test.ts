// Durability: Tern killed with SIGKILL while a publisher streams QoS 1 messages to an offline
// persistent session; after a restart on the same data dir every acknowledged message arrives.
// And for an online persistent session: the publisher's PUBACK only follows the commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, connect, endAll, nextMessages, startTestTern, tcpUrl } from '../helpers/tern.ts';
import { publishUntilKilled, startChild } from '../helpers/process.ts';

test('SIGKILL mid-stream loses no QoS 1 message that was acknowledged to its publisher', async () => {
  const dataDir = tempDir();
  let tern = await startChild(dataDir);
  const sub = await connect(tern.url, { clientId: 'crash-sub', clean: false });
  await sub.subscribeAsync('crash/t', { qos: 1 });
  await sub.endAsync();

  const pub = await connect(tern.url, { clientId: 'crash-pub' });
  pub.on('error', () => {});
  // Stream with a window of 50 unacknowledged messages; kill the broker once 500 are acknowledged.
  const acked = await publishUntilKilled(pub, tern.child, 'crash/t', { killAfter: 500, window: 50, total: 5000 });
  await tern.exited;
  pub.end(true);
  assert.ok(acked.size >= 500);

  tern = await startChild(dataDir);
  try {
    const got = new Set<number>();
    const back = await connect(tern.url, { clientId: 'crash-sub', clean: false });
    // take messages until every acknowledged one arrived, or none came for 2 s
    while ([...acked].some((i) => !got.has(i))) {
      const next = await nextMessages(back, 1, 2000).catch(() => null);
      if (!next) break;
      got.add(Number(next[0].payload));
    }
    const missing = [...acked].filter((i) => !got.has(i));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged messages lost`);
    await endAll(back);
  } finally {
    tern.child.kill('SIGTERM');
    await tern.exited;
  }
});

test('a QoS 1 PUBACK to the publisher waits until the copy for an online persistent subscriber that has not acknowledged it is committed', async () => {
  const tern = await startTestTern();
  try {
    // online, clean=false, and never acknowledges: its copies stay in flight
    const holder = await connect(tcpUrl(tern), { clientId: 'holder', clean: false });
    holder.handleMessage = (_packet, _callback) => {};
    await holder.subscribeAsync('hold/t', { qos: 1 });
    const pub = await connect(tcpUrl(tern), { clientId: 'hold-pub' });
    // a second connection to the same file sees only committed transactions (WAL)
    const reader = new Database(path.join(tern.config.node.data_dir, 'tern.db'), { readonly: true });
    try {
      const rows = reader.prepare("select count(*) as n from mqtt_outgoing where client_id = 'holder'");
      for (let i = 1; i <= 5; i++) {
        await pub.publishAsync('hold/t', `m${i}`, { qos: 1 });
        assert.equal((rows.get() as { n: number }).n, i, `on disk when PUBACK ${i} arrived`);
      }
    } finally {
      reader.close();
    }
    await endAll(pub, holder);
  } finally {
    await tern.close();
  }
});
