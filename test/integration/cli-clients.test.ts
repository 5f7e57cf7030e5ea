// `tern ctl clients`, `sessions`, `subscriptions` and `publish` against a live node with real
// mqtt.js clients.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { connect, nextMessages, endAll, tcpUrl } from '../helpers/tern.ts';
import { startCtlNode, parseTable, parseKeyValue, ctl, type CtlNode } from '../helpers/cli.ts';

let n: CtlNode;

before(async () => {
  n = await startCtlNode();
});

after(async () => {
  await n.close();
});

describe('with real clients: one connected (cli-live on a/#), one offline persistent session (cli-offline on q/#)', () => {
  let live: MqttClient;

  before(async () => {
    const mqtt = tcpUrl(n.tern);
    live = await connect(mqtt, { clientId: 'cli-live', username: 'operator-x', clean: true });
    await live.subscribeAsync('a/#', { qos: 1 });
    const offline = await connect(mqtt, { clientId: 'cli-offline', clean: false });
    await offline.subscribeAsync('q/#', { qos: 1 });
    await endAll(offline);
  });

  after(async () => {
    await endAll(live);
  });

  test('publish: delivered to a subscriber, queued for an offline session, or matched by nobody', async () => {
    assert.match(await n.ok(['publish', 'a/b', 'hello', '--qos', '1']), /^published to a\/b \(id \S+\)\n$/);
    const [got] = await nextMessages(live, 1);
    assert.deepEqual([got!.topic, got!.payload, got!.qos], ['a/b', 'hello', 1]);
    const [, second, nobody] = await Promise.all([
      n.ok(['publish', 'q/1', 'one', '-q', '1']),
      n.json<{ id: string }>(['publish', 'q/2', 'dHdv', '-q', '1', '--base64']),
      n.ok(['publish', 'nobody/listens', 'x']),
    ]);
    assert.equal(typeof second.id, 'string');
    assert.equal(nobody, 'published to nobody/listens: no subscriber matched\n');
  });

  test('clients list: connected clients only', async () => {
    const [text, listed] = await Promise.all([
      n.ok(['clients', 'list']),
      n.json<{ clientid: string; connected: boolean }[]>(['clients', 'list', '--like', 'cli-']),
    ]);
    const clients = parseTable(text);
    const row = clients.find((c) => c.CLIENTID === 'cli-live');
    assert.ok(row, 'cli-live is listed');
    assert.equal(row.USERNAME, 'operator-x');
    assert.equal(row.LISTENER, 'tcp:external');
    assert.equal(row.PROTO, 'MQTT 4');
    assert.equal(row.SUBS, '1');
    assert.match(row.ADDRESS!, /^127\.0\.0\.1:\d+$/);
    assert.ok(!clients.some((c) => c.CLIENTID === 'cli-offline'), 'offline sessions are not connected clients');
    assert.deepEqual(listed.map((c) => [c.clientid, c.connected]), [['cli-live', true]]);
  });

  test('sessions list: every session, with the offline one\'s mqueue depth', async () => {
    const [text, offlineOnly] = await Promise.all([
      n.ok(['sessions', 'list']),
      n.json<{ clientid: string; mqueue_len: number }[]>(['sessions', 'list', '--offline']),
    ]);
    const sessions = parseTable(text);
    const off = sessions.find((s) => s.CLIENTID === 'cli-offline');
    assert.ok(off, 'cli-offline is listed');
    assert.equal(off.CONNECTED, 'no');
    assert.equal(off.MQUEUE, '2');
    assert.equal(off.MQUEUE_MAX, String(n.tern.config.zones.external!.max_mqueue_len));
    assert.equal(off.CLEAN_START, 'no');
    assert.equal(sessions.find((s) => s.CLIENTID === 'cli-live')?.CONNECTED, 'yes');
    assert.deepEqual(offlineOnly.map((s) => [s.clientid, s.mqueue_len]), [['cli-offline', 2]]);
  });

  test('subscriptions list, and filtered by a matching filter', async () => {
    const [text, matched] = await Promise.all([
      n.ok(['subscriptions', 'list']),
      n.json<{ clientid: string; topic: string }[]>(['subscriptions', 'list', '--match', 'q/#']),
    ]);
    assert.deepEqual(
      parseTable(text).filter((s) => s.CLIENTID!.startsWith('cli-')).sort((a, b) => a.CLIENTID!.localeCompare(b.CLIENTID!)),
      [
        { CLIENTID: 'cli-live', TOPIC: 'a/#', QOS: '1' },
        { CLIENTID: 'cli-offline', TOPIC: 'q/#', QOS: '1' },
      ],
    );
    assert.deepEqual(matched.map((s) => [s.clientid, s.topic]), [['cli-offline', 'q/#']]);
  });

  test('clients show: the client, its queue and its subscriptions', async () => {
    const [shown, shownJson] = await Promise.all([
      n.ok(['clients', 'show', 'cli-offline']),
      n.json<{ clientid: string; mqueue_len: number; subscriptions: { topic: string }[] }>(['clients', 'show', 'cli-offline']),
    ]);
    const kv = parseKeyValue(shown);
    assert.equal(kv.connected, 'no');
    assert.equal(kv.mqueue, `2/${n.tern.config.zones.external!.max_mqueue_len}`);
    assert.deepEqual(parseTable(shown.slice(shown.indexOf('TOPIC'))), [{ TOPIC: 'q/#', QOS: '1' }]);
    assert.equal(shownJson.mqueue_len, 2);
    assert.deepEqual(shownJson.subscriptions.map((s) => s.topic), ['q/#']);
  });

  test('clients kick: the connection closes and the session is gone', async () => {
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const [kicked] = await Promise.all([n.ok(['clients', 'kick', 'cli-live']), n.ok(['clients', 'kick', 'cli-offline'])]);
    assert.equal(kicked, 'kicked cli-live\n');
    await closed;
    const [left, missing] = await Promise.all([n.json<{ clientid: string }[]>(['sessions', 'list']), ctl([...n.admin, 'clients', 'show', 'cli-live'])]);
    assert.ok(!left.some((s) => s.clientid.startsWith('cli-')));
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'tern ctl: client cli-live not found (CLIENTID_NOT_FOUND, HTTP 404)\n');
  });
});

test('client ids with "/", "#" and spaces reach the right client', async () => {
  const c = await connect(tcpUrl(n.tern), { clientId: 'site 1/dev#2', clean: true });
  try {
    const shown = await n.json<{ clientid: string }>(['clients', 'show', 'site 1/dev#2']);
    assert.equal(shown.clientid, 'site 1/dev#2');
  } finally {
    await endAll(c);
  }
});
