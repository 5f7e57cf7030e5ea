// kill -9 of a child-process Tern while its webhook endpoint hangs, with events pending and QoS 1
// publishes acknowledged: after a restart on the same data dir, every one of them is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { tempDir, connect } from '../helpers/tern.ts';
import { publishUntilKilled, startChild } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { bearer, login } from '../helpers/api-helpers.ts';

test('SIGKILL with pending webhook events and acknowledged QoS 1 publishes: all delivered after the restart', async () => {
  const rx = await startReceiver();
  rx.mode = { kind: 'hang' };
  const dataDir = tempDir();
  let tern = await startChild(dataDir);
  try {
    const http = request(`http://127.0.0.1:${tern.ports.http}`);
    const auth = bearer(await login(http));
    await http
      .post('/api/v5/hooks')
      .set(auth)
      .send({ name: 'crash', url: rx.url, events: ['client.connected', 'message.publish'], timeout: 120_000, batch_size: 100 })
      .expect(201);

    const pub = await connect(tern.url, { clientId: 'hook-crash-pub' });
    pub.on('error', () => {});
    const acked = await publishUntilKilled(pub, tern.child, 'crash/hook', { killAfter: 300, window: 50 });
    await tern.exited;
    pub.end(true);
    assert.ok(rx.requests.length <= 1, 'the endpoint hung: nothing was delivered before the kill');

    rx.release();
    tern = await startChild(dataDir);
    const want = [...acked];
    const got = await rx.until(() => {
      const payloads = new Set(rx.delivered().filter((e) => e.action === 'message_publish').map((e) => Number(e.payload)));
      return want.every((i) => payloads.has(i)) && payloads;
    }, `${want.length} acknowledged publishes`, 60_000);
    assert.equal(want.filter((i) => !got.has(i)).length, 0);
    assert.ok(rx.delivered().some((e) => e.action === 'client_connected' && e.clientid === 'hook-crash-pub'), 'the pending connect event too');
    // in order: each event id appears first in publish order
    const order = rx.delivered().filter((e) => e.action === 'message_publish').map((e) => Number(e.payload));
    const firsts = order.filter((v, i) => order.indexOf(v) === i);
    assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b));
  } finally {
    tern.child.kill('SIGTERM');
    await tern.exited;
    await rx.close();
  }
});
