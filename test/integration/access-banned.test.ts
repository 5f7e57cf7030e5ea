// Banned clients and flapping detection over real sockets: bans by client id, username and CIDR
// peer address refuse the CONNECT with CONNACK 5 before authentication, a new ban disconnects
// matching clients, bans expire (injected clock), and a client that flaps is banned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { testConfig, connect, tcpUrl, endAll } from '../helpers/tern.ts';
import { busEvents } from '../helpers/events.ts';
import { connectFrom, startAccessTern, testClock } from '../helpers/access.ts';

const connackCode = (err: unknown) => (err as { code?: number }).code;

test('bans by client id, username and CIDR peerhost refuse the CONNECT with 5, before authentication', async () => {
  const clock = testClock();
  const t = await startAccessTern(testConfig(), clock);
  const { tern } = t;
  const authenticated: string[] = [];
  tern.events.on('client.authenticate', (e) => authenticated.push(e.clientid));
  const port = tern.ports.tcp.external!;
  try {
    for (const body of [
      { as: 'clientid', who: 'bad-1', reason: 'loops' },
      { as: 'username', who: 'mallory' },
      { as: 'peerhost', who: '127.0.0.2/31' },
    ]) {
      const res = await t.http.post('/api/v5/banned').set(t.auth).send(body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.by, 'admin');
      assert.equal(res.body.until, 'infinity');
    }
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'bad-1' }), (err) => connackCode(err) === 5);
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'm-1', username: 'mallory', password: 'x' }), (err) => connackCode(err) === 5);
    await assert.rejects(connectFrom(port, '127.0.0.3', { clientId: 'from-3' }), (err) => connackCode(err) === 5);
    assert.deepEqual(authenticated, [], 'a banned CONNECT never reaches authentication');
    assert.equal(tern.metrics['client.banned'], 3);

    const ok1 = await connect(tcpUrl(tern), { clientId: 'good-1', username: 'alice' });
    const ok2 = await connectFrom(port, '127.0.0.4', { clientId: 'from-4' });
    await endAll(ok1, ok2);

    const list = await t.http.get('/api/v5/banned').set(t.auth);
    assert.deepEqual(list.body.data.map((b: { as: string; who: string }) => `${b.as}:${b.who}`), ['clientid:bad-1', 'username:mallory', 'peerhost:127.0.0.2/31']);
    assert.equal(list.body.meta.count, 3);

    assert.equal((await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'clientid', who: 'bad-1' })).status, 409);
    const bad = await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'peerhost', who: '10.0.0.0/33' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /not an IP address or CIDR/);

    // lifting a ban: the next CONNECT gets in
    assert.equal((await t.http.delete('/api/v5/banned/peerhost/127.0.0.2%2F31').set(t.auth)).status, 204);
    assert.equal((await t.http.delete('/api/v5/banned/peerhost/127.0.0.2%2F31').set(t.auth)).status, 404);
    assert.equal((await t.http.delete('/api/v5/banned/clientid/bad-1').set(t.auth)).status, 204);
    const back = await connectFrom(port, '127.0.0.3', { clientId: 'bad-1' });
    await endAll(back);
  } finally {
    await t.close();
  }
});

test('a new ban disconnects the clients it matches at once (reason banned)', async () => {
  const clock = testClock();
  const t = await startAccessTern(testConfig(), clock);
  const { tern } = t;
  const port = tern.ports.tcp.external!;
  const disconnects = busEvents(tern.events, 'client.disconnected');
  const a = await connect(tcpUrl(tern), { clientId: 'k-a' });
  const b1 = await connect(tcpUrl(tern), { clientId: 'k-b1', username: 'bob' });
  const b2 = await connect(tcpUrl(tern), { clientId: 'k-b2', username: 'bob' });
  const far = await connectFrom(port, '127.0.0.9', { clientId: 'k-far' });
  const stays = await connect(tcpUrl(tern), { clientId: 'k-stays', username: 'carol' });
  const closed = (c: MqttClient) => new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
  try {
    const gone = [closed(a), closed(b1), closed(b2), closed(far)];
    for (const body of [
      { as: 'clientid', who: 'k-a' },
      { as: 'username', who: 'bob' },
      { as: 'peerhost', who: '127.0.0.9' },
    ]) {
      assert.equal((await t.http.post('/api/v5/banned').set(t.auth).send(body)).status, 200);
    }
    await Promise.all(gone);
    await disconnects.wait(4, 'four disconnects');
    assert.deepEqual(Object.fromEntries(disconnects.seen.map((e) => [e.clientid, e.reason])), { 'k-a': 'banned', 'k-b1': 'banned', 'k-b2': 'banned', 'k-far': 'banned' });
    assert.ok(stays.connected);
    assert.equal(tern.sessions.get('k-stays')?.connected, true);
    assert.equal(tern.sessions.get('k-a'), undefined);
  } finally {
    await endAll(a, b1, b2, far, stays);
    await t.close();
  }
});

const HOUR = 3_600_000;

test('bans expire: an expired ban no longer matches and is deleted on schedule; bans survive a restart', async () => {
  const clock = testClock();
  const config = testConfig();
  let t = await startAccessTern(config, clock, HOUR);
  try {
    const until = new Date(clock.now() + 60_000).toISOString();
    assert.equal((await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'clientid', who: 'temp', until })).status, 200);
    assert.equal((await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'clientid', who: 'forever' })).status, 200);
    const past = await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'clientid', who: 'x', until: new Date(clock.now() - 1000).toISOString() });
    assert.equal(past.status, 400);
    await t.close();

    t = await startAccessTern(config, clock, HOUR);
    await assert.rejects(connect(tcpUrl(t.tern), { clientId: 'temp' }), (err) => connackCode(err) === 5);
    clock.advance(60_001);
    const c = await connect(tcpUrl(t.tern), { clientId: 'temp' });
    await endAll(c);
    // the sweep the schedule runs (hourly here, so this call is the only one): it deletes the
    // expired ban and only that one
    assert.equal(await t.tern.banned.sweep(), 1);
    const rows = await t.tern.store.db.selectFrom('banned').select('who').execute();
    assert.deepEqual(rows.map((r) => r.who), ['forever']);
    const list = await t.http.get('/api/v5/banned').set(t.auth);
    assert.deepEqual(list.body.data.map((b: { who: string }) => b.who), ['forever']);
    await assert.rejects(connect(tcpUrl(t.tern), { clientId: 'forever' }), (err) => connackCode(err) === 5);
  } finally {
    await t.close();
  }
});

/** connects and disconnects `clientId` n times, waiting for each disconnect to be seen by the broker */
async function flap(url: string, events: import('../../server/broker/events.ts').EventBus, clientId: string, n: number, between?: () => void) {
  const disconnects = busEvents(events, 'client.disconnected', (e) => e.clientid === clientId);
  try {
    for (let i = 1; i <= n; i++) {
      const c = await connect(url, { clientId });
      await c.endAsync();
      await disconnects.wait(i, `disconnect ${i} of ${clientId}`);
      between?.();
    }
  } finally {
    disconnects.stop();
  }
}

test('flapping: 31 disconnects within a minute ban the client id for 5 minutes (by flapping); 29 do not', async () => {
  const clock = testClock();
  const t = await startAccessTern(testConfig((c) => (c.zones.external!.enable_flapping_detect = true)), clock);
  const { tern } = t;
  const url = tcpUrl(tern);
  try {
    await flap(url, tern.events, 'calm', 29);
    const calm = await connect(url, { clientId: 'calm' });
    await endAll(calm);

    await flap(url, tern.events, 'flappy', 31);
    await assert.rejects(connect(url, { clientId: 'flappy' }), (err) => connackCode(err) === 5);
    const list = await t.http.get('/api/v5/banned').set(t.auth);
    assert.equal(list.body.data.length, 1);
    const ban = list.body.data[0];
    assert.equal(ban.as, 'clientid');
    assert.equal(ban.who, 'flappy');
    assert.equal(ban.by, 'flapping');
    assert.equal(Date.parse(ban.until) - Date.parse(ban.at), 5 * 60_000);

    // the ban time passes
    clock.advance(5 * 60_000 + 1);
    const back = await connect(url, { clientId: 'flappy' });
    await endAll(back);
  } finally {
    await t.close();
  }
});

test('flapping: disconnects spread over more than the window, or in a zone without detection, do not ban', async () => {
  const clock = testClock();
  const t = await startAccessTern(testConfig((c) => (c.zones.external!.enable_flapping_detect = true)), clock);
  const { tern } = t;
  try {
    // 31 disconnects, 3 s apart: never more than 21 in one minute
    await flap(tcpUrl(tern), tern.events, 'slow', 31, () => clock.advance(3000));
    await flap(tcpUrl(tern, 'internal'), tern.events, 'inside', 31);
    const a = await connect(tcpUrl(tern), { clientId: 'slow' });
    const b = await connect(tcpUrl(tern, 'internal'), { clientId: 'inside' });
    await endAll(a, b);
    assert.equal((await t.http.get('/api/v5/banned').set(t.auth)).body.meta.count, 0);
  } finally {
    await t.close();
  }
});
