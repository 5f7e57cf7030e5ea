// /publish and the read-only views of the broker (/stats, /metrics, /nodes, /monitor_current,
// /listeners) against a real broker.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTernApi } from '../helpers/api-helpers.ts';
import { emitterEvents } from '../helpers/events.ts';
import { connect, nextMessages, endAll, testConfig } from '../helpers/tern.ts';
import { loadSpec } from '../../server/api/spec.ts';

const spec = loadSpec();
const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/tls');

function conforms(method: string, path: string, res: { status: number; body: unknown; text: string }) {
  const validate = spec.responseValidator(method, path, res.status);
  assert.ok(validate, `status ${res.status} of ${method.toUpperCase()} ${path} is not in the spec: ${res.text}`);
  assert.equal(validate(res.body), undefined, `${method.toUpperCase()} ${path} → ${res.status} does not match the spec`);
}

test('publish: plain and base64 payloads, qos, retain, 202 when nobody listens', async () => {
  const t = await startTernApi();
  let sub: MqttClient | undefined;
  let late: MqttClient | undefined;
  try {
    sub = await connect(t.mqttUrl(), { clientId: 'listener' });
    await sub.subscribeAsync('p/#', { qos: 2 });

    let arriving = nextMessages(sub, 1);
    const plain = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'p/1', payload: 'héllo', qos: 1 });
    assert.equal(plain.status, 200, plain.text);
    conforms('post', '/publish', plain);
    assert.match(plain.body.id, /\S/);
    let [m] = await arriving;
    assert.deepEqual({ topic: m!.topic, payload: m!.payload, qos: m!.qos }, { topic: 'p/1', payload: 'héllo', qos: 1 });

    // binary bytes survive base64
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    arriving = nextMessages(sub, 1);
    const b64 = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'p/bin', payload: bytes.toString('base64'), payload_encoding: 'base64', qos: 2 });
    assert.equal(b64.status, 200, b64.text);
    [m] = await arriving;
    assert.deepEqual(m!.bytes, bytes);

    arriving = nextMessages(sub, 1);
    await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'p/default' });
    [m] = await arriving;
    assert.deepEqual({ payload: m!.payload, qos: m!.qos }, { payload: '', qos: 0 }, 'payload defaults to empty, qos to 0');

    const retained = await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'state/door', payload: 'open', retain: true, qos: 1 });
    assert.equal(retained.status, 202, retained.text);
    conforms('post', '/publish', retained);
    assert.deepEqual(retained.body, { reason_code: 16, message: 'no_matching_subscribers' });
    late = await connect(t.mqttUrl(), { clientId: 'late' });
    arriving = nextMessages(late, 1);
    await late.subscribeAsync('state/#', { qos: 1 });
    [m] = await arriving;
    assert.deepEqual({ topic: m!.topic, payload: m!.payload, retain: m!.retain }, { topic: 'state/door', payload: 'open', retain: true });

    const tooBig = await t.http
      .post('/api/v5/publish')
      .set(t.auth)
      .send({ topic: 'p/big', payload: 'x'.repeat(t.tern.config.mqtt.max_packet_size + 1) });
    assert.equal(tooBig.status, 400, tooBig.text);
    assert.match(tooBig.body.message, /max_packet_size/);
  } finally {
    await endAll(sub, late);
    await t.close();
  }
});

test('stats, metrics, nodes, monitor_current and listeners describe the running broker', async () => {
  // every listener of the defaults runs, the TLS ones with the test certificate
  const t = await startTernApi(
    testConfig((c) => {
      for (const l of c.listeners) {
        if (l.proto === 'ssl' || l.proto === 'wss') {
          l.keyfile = path.join(fixtures, 'key.pem');
          l.certfile = path.join(fixtures, 'cert.pem');
        }
      }
    }),
  );
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < 3; i++) clients.push(await connect(t.mqttUrl(), { clientId: `c${i}` }));
    await clients[0]!.subscribeAsync('m/#', { qos: 0 });
    await clients[1]!.subscribeAsync('$share/g/m/#', { qos: 0 });
    await clients[2]!.publishAsync('state/a', 'on', { qos: 1, retain: true });
    await clients[2]!.publishAsync('state/b', 'off', { qos: 1, retain: true });
    const node = t.tern.config.node.name;

    const stats = await t.http.get('/api/v5/stats').set(t.auth);
    assert.equal(stats.status, 200);
    conforms('get', '/stats', stats);
    assert.equal(stats.body.length, 1);
    assert.equal(stats.body[0].node, node);
    assert.equal(stats.body[0]['connections.count'], 3);
    assert.equal(stats.body[0]['subscriptions.count'], 2);
    assert.equal(stats.body[0]['subscriptions.shared.count'], 1);
    assert.equal(stats.body[0]['retained.count'], 2);
    assert.equal(stats.body[0]['retained.max'], 2);
    const agg = await t.http.get('/api/v5/stats?aggregate=true').set(t.auth);
    conforms('get', '/stats', agg);
    assert.equal(agg.body['connections.count'], 3);
    assert.equal(agg.body.node, undefined);

    const before = (await t.http.get('/api/v5/metrics?aggregate=true').set(t.auth)).body['messages.received'] as number;
    // aedes emits 'publish' right after the published hook, which counts the message
    const routed = emitterEvents(t.tern.aedes as never, 'publish', (packet: { topic: string }, client: { id: string } | null) => client?.id === 'c2' && packet.topic === 'm/x');
    for (let i = 0; i < 20; i++) clients[2]!.publish('m/x', 'payload', { qos: 0 });
    await routed.wait(20, 'the 20 QoS 0 publishes');
    assert.equal((await t.http.get('/api/v5/metrics?aggregate=true').set(t.auth)).body['messages.received'], before + 20, 'metrics count the messages');
    const metrics = await t.http.get('/api/v5/metrics').set(t.auth);
    conforms('get', '/metrics', metrics);
    assert.equal(metrics.body[0].node, node);

    const monitor = await t.http.get('/api/v5/monitor_current').set(t.auth);
    assert.equal(monitor.status, 200);
    conforms('get', '/monitor_current', monitor);
    assert.equal(monitor.body.live_connections, 3);
    assert.equal(monitor.body.connections, 3);
    assert.equal(monitor.body.subscriptions, 2);
    assert.equal(monitor.body.shared_subscriptions, 1);
    assert.equal(monitor.body.retained_msg_count, 2);
    assert.ok(monitor.body.received_msg_rate > 0, `received_msg_rate ${monitor.body.received_msg_rate}`);
    assert.ok(monitor.body.sent_msg_rate > 0, `sent_msg_rate ${monitor.body.sent_msg_rate}`);

    const nodes = await t.http.get('/api/v5/nodes').set(t.auth);
    conforms('get', '/nodes', nodes);
    assert.equal(nodes.body[0].node, node);
    assert.equal(nodes.body[0].node_status, 'running');
    assert.equal(nodes.body[0].connections, 3);
    const one = await t.http.get(`/api/v5/nodes/${encodeURIComponent(node)}`).set(t.auth);
    conforms('get', '/nodes/{node}', one);
    assert.equal((await t.http.get('/api/v5/nodes/other@host').set(t.auth)).status, 404);

    // one client on each TLS listener, so each counts its own connection
    const tlsOpts = { rejectUnauthorized: false };
    clients.push(await connect(`mqtts://127.0.0.1:${t.tern.ports.ssl.external}`, { clientId: 'over-ssl', ...tlsOpts }));
    clients.push(await connect(`wss://127.0.0.1:${t.tern.ports.wss.external}/mqtt`, { clientId: 'over-wss', ...tlsOpts }));

    const listeners = await t.http.get('/api/v5/listeners').set(t.auth);
    assert.equal(listeners.status, 200);
    conforms('get', '/listeners', listeners);
    type Row = { id: string; type: string; name: string; bind: string; zone: string; running: boolean; current_connections: number; mqtt_path?: string };
    const byId = new Map((listeners.body as Row[]).map((l) => [l.id, l]));
    const tcp = byId.get('tcp:external')!;
    assert.equal(tcp.bind, `127.0.0.1:${t.tern.ports.tcp.external}`);
    assert.equal(tcp.running, true);
    assert.equal(tcp.zone, 'external');
    assert.equal(tcp.current_connections, 3);
    const ws = byId.get('ws:external')!;
    assert.equal(ws.mqtt_path, '/mqtt');
    assert.equal(ws.current_connections, 0);
    const ssl = byId.get('ssl:external');
    assert.ok(ssl, `ssl:external is listed: ${[...byId.keys()].join(', ')}`);
    assert.deepEqual(
      { type: ssl.type, bind: ssl.bind, zone: ssl.zone, running: ssl.running, current_connections: ssl.current_connections, mqtt_path: ssl.mqtt_path },
      { type: 'ssl', bind: `127.0.0.1:${t.tern.ports.ssl.external}`, zone: 'external', running: true, current_connections: 1, mqtt_path: undefined },
    );
    const wss = byId.get('wss:external');
    assert.ok(wss, `wss:external is listed: ${[...byId.keys()].join(', ')}`);
    assert.deepEqual(
      { type: wss.type, bind: wss.bind, zone: wss.zone, running: wss.running, current_connections: wss.current_connections, mqtt_path: wss.mqtt_path },
      { type: 'wss', bind: `127.0.0.1:${t.tern.ports.wss.external}`, zone: 'external', running: true, current_connections: 1, mqtt_path: '/mqtt' },
    );
  } finally {
    await endAll(...clients);
    await t.close();
  }
});
