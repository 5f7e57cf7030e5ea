// What the dashboard needs from the server: the metrics history (stored, surviving a restart,
// pruned), the live stream, retained messages, sorted clients, the default-password flag, and
// the built dashboard served at dashboard.base_path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import nodeHttp from 'node:http';
import { pino } from 'pino';
import request from 'supertest';
import { startTern, type Tern } from '../../server/tern.ts';
import { loadConfig } from '../../server/config/index.ts';
import type { Config } from '../../server/config/types.ts';
import type { ApiOptions } from '../../server/api/app.ts';
import { openStore } from '../../server/store/open.ts';
import { createMonitorHistory } from '../../server/api/services/monitor-history.ts';
import { connect, endAll, nextMessages, tcpUrl, tempDir, testConfig } from '../helpers/tern.ts';
import { bearer, login } from '../helpers/api-helpers.ts';
import { disconnectOf } from '../helpers/events.ts';

const FAST: ApiOptions = { monitorHistoryMs: 50, monitorStreamMs: 50, monitorSampleMs: 50 };

async function start(config: Config, api: ApiOptions = FAST): Promise<{ tern: Tern; http: ReturnType<typeof request>; auth: Record<string, string> }> {
  const tern = await startTern({ config, logger: pino({ level: 'silent' }), api });
  const http = request(`http://127.0.0.1:${tern.ports.http}`);
  return { tern, http, auth: bearer(await login(http)) };
}

test('GET /monitor: samples of counts and of the messages of each interval, kept across a restart', async () => {
  const config = testConfig();
  // no timer: the test takes each sample itself
  const a = await start(config, { monitorHistoryMs: 3600_000 });
  const client = await connect(tcpUrl(a.tern), { clientId: 'm1' });
  try {
    await a.tern.api.monitorHistory.sample();
    await client.subscribeAsync('m/#', { qos: 0 });
    for (let i = 0; i < 20; i++) await client.publishAsync('m/x', 'p', { qos: 1 });
    await nextMessages(client, 20);
    await a.tern.api.monitorHistory.sample();
    const res = await a.http.get('/api/v5/monitor?latest=60').set(a.auth);
    assert.equal(res.status, 200);
    const rows = res.body as { live_connections: number; subscriptions: number; received: number; sent: number; received_msg_rate: number; interval_ms: number; time_stamp: number }[];
    assert.equal(rows.length, 2);
    assert.ok(rows[1]!.time_stamp > rows[0]!.time_stamp, 'oldest first');
    assert.deepEqual([rows[0]!.live_connections, rows[0]!.subscriptions, rows[0]!.received], [1, 0, 0]);
    assert.deepEqual([rows[1]!.live_connections, rows[1]!.subscriptions, rows[1]!.received, rows[1]!.sent], [1, 1, 20, 20]);
    assert.equal(rows[1]!.received_msg_rate, Math.round((20 / (rows[1]!.interval_ms / 1000)) * 100) / 100);
    const bad = await a.http.get('/api/v5/monitor?latest=0').set(a.auth);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /latest/);
  } finally {
    await endAll(client);
    await a.tern.close();
  }
  const b = await start(config, { monitorHistoryMs: 3600_000 });
  try {
    const res = await b.http.get('/api/v5/monitor?latest=3600').set(b.auth);
    assert.deepEqual(res.body.map((r: { received: number }) => r.received), [0, 20], 'the history survives the restart');
  } finally {
    await b.tern.close();
  }
});

test('the history timer stores a sample every monitorHistoryMs', async () => {
  const { tern, http, auth } = await start(testConfig(), { monitorHistoryMs: 20 });
  try {
    await new Promise<void>((resolve) => {
      let n = 0;
      const stop = tern.api.monitorHistory.onSample(() => {
        if (++n < 2) return;
        stop();
        resolve();
      });
    });
    assert.ok((await http.get('/api/v5/monitor?latest=60').set(auth)).body.length >= 2);
  } finally {
    await tern.close();
  }
});

test('the history is pruned past its retention; each sample counts only its own interval', async () => {
  const dir = tempDir();
  const logger = pino({ level: 'silent' });
  const store = await openStore({ dataDir: dir, logger });
  let received = 0;
  const counts = { 'messages.received': 0 };
  const broker = { stats: () => ({ 'connections.count': 2, 'sessions.count': 3 }), metrics: () => ({ ...counts, 'messages.received': received }) };
  const monitor = { rates: () => ({ received_msg_rate: 0, sent_msg_rate: 0, dropped_msg_rate: 0, received_bytes_rate: 0, sent_bytes_rate: 0 }), close() {} };
  const h = createMonitorHistory({ db: store.db, broker: broker as never, monitor, logger, sampleMs: 3600_000, keepMs: 60_000 });
  try {
    const old = { time_stamp: Date.now() - 120_000, connections: 0, live_connections: 0, sessions: 0, subscriptions: 0, shared_subscriptions: 0, topics: 0, retained_msg_count: 0, received: 0, sent: 0, dropped: 0, interval_ms: 10_000 };
    await store.db.insertInto('monitor_sample').values(old).execute();
    received = 7;
    await h.sample();
    received = 10;
    await h.sample();
    const rows = await store.db.selectFrom('monitor_sample').selectAll().orderBy('time_stamp').execute();
    assert.deepEqual(rows.map((r) => r.received), [7, 3], 'the old row is gone; deltas per interval');
    assert.deepEqual([rows[1]!.live_connections, rows[1]!.sessions], [2, 3]);
    assert.equal((await h.latest(3600)).length, 2);
  } finally {
    h.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('GET /monitor/stream: server-sent events of the live numbers; streams end when the node stops', async () => {
  const { tern, auth } = await start(testConfig());
  const base = `http://127.0.0.1:${tern.ports.http}/api/v5`;
  try {
    const res = await fetch(`${base}/monitor/stream?count=3`, { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await res.text();
    const events = text.split('\n\n').filter((b) => b.startsWith('event: monitor'));
    assert.equal(events.length, 3);
    const point = JSON.parse(events[0]!.split('\ndata: ')[1]!);
    for (const k of ['time_stamp', 'connections', 'live_connections', 'sessions', 'subscriptions', 'topics', 'retained_msg_count', 'received_msg_rate', 'sent_msg_rate', 'dropped_msg_rate']) {
      assert.equal(typeof point[k], 'number', k);
    }
    assert.equal((await fetch(`${base}/monitor/stream?count=1`)).status, 401);
    // an endless stream: the first event arrives at once, and close() ends it
    const open = await fetch(`${base}/monitor/stream`, { headers: auth });
    const reader = open.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /retry: /);
    await tern.close();
    // closing the node ends the response (a clean end, or the socket cut by the server's close)
    const ended = await (async () => {
      try {
        for (;;) if ((await reader.read()).done) return 'done';
      } catch {
        return 'cut';
      }
    })();
    assert.ok(ended === 'done' || ended === 'cut');
  } finally {
    await tern.close();
  }
});

test('retained messages: list (filter, pages), one with its payload, delete without publishing', async () => {
  const { tern, http, auth } = await start(testConfig());
  const pub = await connect(tcpUrl(tern), { clientId: 'retainer' });
  const watcher = await connect(tcpUrl(tern), { clientId: 'watcher' });
  try {
    // QoS 1: the retained store has them when the PUBACK comes
    await pub.publishAsync('r/a', 'first', { qos: 1, retain: true });
    await pub.publishAsync('r/b', Buffer.from([0, 1, 2]), { qos: 1, retain: true });
    await pub.publishAsync('other/c', 'x', { qos: 1, retain: true });
    assert.equal((await http.get('/api/v5/mqtt/retainer/messages').set(auth)).body.meta.count, 3);
    const page = await http.get('/api/v5/mqtt/retainer/messages?topic=r/%23&limit=1&page=2').set(auth);
    // (aedes stamps the publisher's client id after the retained store: from_clientid may be null)
    const { from_clientid, ...rest } = page.body.data[0];
    assert.ok(from_clientid === null || from_clientid === 'retainer');
    assert.deepEqual({ data: [rest], meta: page.body.meta }, { data: [{ topic: 'r/b', qos: 1, payload_size: 3 }], meta: { page: 2, limit: 1, count: 2, hasnext: false } });
    const like = await http.get('/api/v5/mqtt/retainer/messages?like_topic=her').set(auth);
    assert.deepEqual(like.body.data.map((m: { topic: string }) => m.topic), ['other/c']);
    const one = await http.get(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`).set(auth);
    assert.equal(one.status, 200);
    assert.equal(Buffer.from(one.body.payload, 'base64').toString(), 'first');

    await watcher.subscribeAsync('r/a', { qos: 1 });
    const [copy] = await nextMessages(watcher, 1);
    assert.deepEqual([copy!.payload, copy!.retain], ['first', true]);
    const del = await http.delete(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`).set(auth);
    assert.equal(del.status, 204);
    assert.equal((await http.get(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`).set(auth)).status, 404);
    const again = await http.delete(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`).set(auth);
    assert.equal(again.status, 404);
    assert.equal(again.body.code, 'NOT_FOUND');
    // the delete published nothing: the next message the subscriber gets is this marker
    await pub.publishAsync('r/a', 'marker', { qos: 1 });
    const [next] = await nextMessages(watcher, 1);
    assert.equal(next!.payload, 'marker');
    // and a new subscriber gets no retained copy: its first message is the live one
    const late = await connect(tcpUrl(tern), { clientId: 'late' });
    await late.subscribeAsync('r/a', { qos: 1 });
    await pub.publishAsync('r/a', 'after', { qos: 1 });
    const [first] = await nextMessages(late, 1);
    assert.deepEqual([first!.payload, first!.retain], ['after', false]);
    await endAll(late);
  } finally {
    await endAll(pub, watcher);
    await tern.close();
  }
});

test('GET /clients?order_by=: sorted before paging, nulls last, ties by client id; stats count queued messages', async () => {
  const { tern, http, auth } = await start(testConfig());
  try {
    const depth: Record<string, number> = { s1: 2, s2: 0, s3: 5, s4: 2 };
    for (const id of Object.keys(depth)) {
      const c = await connect(tcpUrl(tern), { clientId: id, clean: false, username: id === 's2' ? undefined : `u-${id}` });
      await c.subscribeAsync(`o/${id}`, { qos: 1 });
      const gone = disconnectOf(tern, id);
      await endAll(c);
      await gone;
    }
    const pub = await connect(tcpUrl(tern), { clientId: 'pub' });
    for (const [id, n] of Object.entries(depth)) for (let i = 0; i < n; i++) await pub.publishAsync(`o/${id}`, 'x', { qos: 1 });
    await endAll(pub);
    const ids = async (q: string) => ((await http.get(`/api/v5/clients?${q}`).set(auth)).body.data as { clientid: string }[]).map((c) => c.clientid);
    assert.equal((await ids('conn_state=disconnected')).length, 4);
    assert.deepEqual(await ids('order_by=mqueue_len'), ['s3', 's1', 's4', 's2']);
    assert.deepEqual(await ids('order_by=mqueue_len&order=asc'), ['s2', 's1', 's4', 's3']);
    assert.deepEqual(await ids('order_by=mqueue_len&limit=2&page=2'), ['s4', 's2']);
    assert.deepEqual(await ids('order_by=username&order=asc'), ['s1', 's3', 's4', 's2'], 'no username sorts last');
    assert.deepEqual(await ids('order_by=mqueue_len&gte_mqueue_len=2&order=asc'), ['s1', 's4', 's3']);
    const bad = await http.get('/api/v5/clients?order_by=password').set(auth);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /order_by/);
    const stats = await http.get('/api/v5/stats?aggregate=true').set(auth);
    assert.equal(stats.body['messages.queued.count'], 9);
  } finally {
    await tern.close();
  }
});

test('login says whether the default password is in use', async () => {
  const { tern, http, auth } = await start(testConfig());
  try {
    const first = await http.post('/api/v5/login').send({ username: 'admin', password: 'public' });
    assert.equal(first.body.default_password, true);
    await http.post('/api/v5/users/admin/change_pwd').set(auth).send({ old_pwd: 'public', new_pwd: 'a-long-password' }).expect(204);
    const second = await http.post('/api/v5/login').send({ username: 'admin', password: 'a-long-password' });
    assert.equal(second.body.default_password, false);
  } finally {
    await tern.close();
  }
});

function fakeDist(): string {
  const dir = tempDir('tern-dist-');
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Tern</title><script src="./assets/app.js"></script>');
  fs.writeFileSync(path.join(dir, 'assets', 'app.js'), 'console.log("tern");'.repeat(50));
  return dir;
}

test('the dashboard is served at / with cacheable gzipped assets; a missing build says how to build it', async () => {
  const dist = fakeDist();
  const { tern, http } = await start(testConfig(), { ...FAST, dashboardDir: dist });
  try {
    const index = await http.get('/');
    assert.equal(index.status, 200);
    assert.match(index.headers['content-type'], /text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.match(index.text, /<title>Tern<\/title>/);
    const js = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      nodeHttp
        .get(`http://127.0.0.1:${tern.ports.http}/assets/app.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    assert.equal(js.headers['content-encoding'], 'gzip');
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.match(zlib.gunzipSync(js.body).toString(), /^console\.log/);
    assert.equal((await http.get('/assets/missing.js')).status, 404);
    assert.equal((await http.get('/../../etc/passwd')).status, 404);
    assert.equal((await http.get('/assets/%2e%2e%2f%2e%2e%2fpackage.json')).status, 404);
    assert.equal((await http.get('/assets/%E0%A4%A')).status, 404);
    // the API and its 404s are untouched
    assert.equal((await http.get('/api/v5/status')).status, 200);
    const noRoute = await http.get('/api/v5/nope');
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.body.code, 'NOT_FOUND');
    // routes are hash routes: other paths are not the app
    assert.equal((await http.get('/some/page')).body.code, 'NOT_FOUND');
    fs.rmSync(dist, { recursive: true, force: true });
    const missing = await http.get('/');
    assert.equal(missing.status, 503);
    assert.match(missing.text, /npm run build:dashboard/);
  } finally {
    await tern.close();
  }
});

test('dashboard.base_path serves the dashboard and the API under a sub-path', async () => {
  const dist = fakeDist();
  const { tern, http } = await start(testConfig((c) => (c.dashboard.base_path = '/tern')), { ...FAST, dashboardDir: dist });
  try {
    const root = await http.get('/');
    assert.equal(root.status, 302);
    assert.equal(root.headers.location, '/tern/');
    assert.equal((await http.get('/tern')).headers.location, '/tern/');
    assert.match((await http.get('/tern/')).text, /<title>Tern/);
    assert.equal((await http.get('/tern/assets/app.js')).status, 200);
    assert.equal((await http.get('/tern/api/v5/status')).status, 200);
    assert.equal((await http.get('/api/v5/status')).status, 200, 'a proxy that strips the prefix still works');
    const login = await http.post('/tern/api/v5/login').send({ username: 'admin', password: 'public' });
    assert.equal(login.status, 200);
    assert.equal((await http.get('/tern/api-docs/')).status < 400, true);
  } finally {
    await tern.close();
    fs.rmSync(dist, { recursive: true, force: true });
  }
});

test('dashboard.base_path in emqx.conf: a path, trailing slash dropped; anything else names the line', () => {
  const dir = tempDir();
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(file, 'dashboard.base_path = /ops/tern/\n');
  assert.equal(loadConfig({ file, env: {} }).config.dashboard.base_path, '/ops/tern');
  assert.equal(loadConfig({ env: {} }).config.dashboard.base_path, '/');
  fs.writeFileSync(file, '# x\ndashboard.base_path = tern\n');
  assert.throws(() => loadConfig({ file, env: {} }), (err: Error) => err.message.includes(`${file}:2`) && err.message.includes('dashboard.base_path'));
  assert.equal(loadConfig({ env: { EMQX_DASHBOARD__BASE_PATH: '/x' } }).config.dashboard.base_path, '/x');
  fs.rmSync(dir, { recursive: true, force: true });
});
