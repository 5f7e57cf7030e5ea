// Reloading emqx.conf in a running Tern: a real file in a temp dir, real listeners on loopback,
// mqtt.js clients that must never be disconnected by a reload. Each test edits the file, reloads
// (tern.reload or the API) and checks both the answer and the broker's behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import type { MqttClient } from 'mqtt';
import { loadConfig, ConfigError } from '../../server/config/index.ts';
import { startTern, type StartOptions, type Tern } from '../../server/tern.ts';
import type { ReloadReport } from '../../server/reload.ts';
import { baseConfLines, tempDir, connect, nextMessages, endAll } from '../helpers/tern.ts';
import { freePort } from '../helpers/process.ts';
import { busEvents } from '../helpers/events.ts';
import { granted as grantedQos } from '../helpers/access.ts';
import type { Config } from '../../server/config/types.ts';
import type { ConfigSource } from '../../server/config/source.ts';

const fixtures = path.resolve(import.meta.dirname, '../fixtures/tls');

interface Fixture {
  dir: string;
  file: string;
  tern: Tern;
  /** rewrites emqx.conf: the base lines, then `extra` */
  write(extra: string[]): void;
  url(proto?: 'tcp' | 'ws' | 'ssl', name?: string): string;
  /** clients made by client(): each counts its disconnects */
  client(url: string, opts?: Parameters<typeof connect>[1]): Promise<MqttClient>;
  disconnects(): number;
  api(method: 'GET' | 'POST' | 'PUT', route: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

async function start(extra: string[] = [], opts: StartOptions['reload'] = {}): Promise<Fixture> {
  const dir = tempDir('tern-reload-');
  const file = path.join(dir, 'emqx.conf');
  const base = baseConfLines(dir, ['listener.ssl.external = 127.0.0.1:0', 'listener.wss.external = 127.0.0.1:0']);
  const write = (lines: string[]) => fs.writeFileSync(file, [...base, ...lines].join('\n') + '\n');
  write(extra);
  const loaded = loadConfig({ file, env: {} });
  const tern = await startTern({ config: loaded.config, file, env: {}, logger: pino({ level: 'silent' }), reload: opts });
  const clients: MqttClient[] = [];
  let closes = 0;
  let token: string | undefined;
  const api: Fixture['api'] = async (method, route, body) => {
    const base = `http://127.0.0.1:${tern.ports.http}/api/v5`;
    token ??= ((await (await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) })).json()) as { token: string }).token;
    const res = await fetch(base + route, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return {
    dir,
    file,
    tern,
    write,
    url: (proto = 'tcp', name = 'external') =>
      proto === 'ws' ? `ws://127.0.0.1:${tern.ports.ws[name]}/mqtt` : `${proto === 'ssl' ? 'mqtts' : 'mqtt'}://127.0.0.1:${tern.ports[proto][name]}`,
    async client(url, o) {
      const c = await connect(url, o);
      c.on('close', () => closes++);
      clients.push(c);
      return c;
    },
    disconnects: () => closes,
    api,
    async close() {
      const n = closes;
      await endAll(...clients);
      closes = n;
      await tern.close();
    },
  };
}

/** A message from one client reaches the other: both connections work. */
async function roundTrip(from: MqttClient, to: MqttClient, topic: string): Promise<void> {
  await to.subscribeAsync(topic, { qos: 1 });
  const got = nextMessages(to, 1);
  await from.publishAsync(topic, 'ping', { qos: 1 });
  assert.equal((await got)[0]!.payload, 'ping');
}

function refused(url: string, opts: Parameters<typeof connect>[1] = {}): Promise<unknown> {
  return connect(url, opts).then(
    async (c) => {
      await c.endAsync(true);
      assert.fail(`${url} accepted the connection`);
    },
    (err: unknown) => err,
  );
}

const change = (r: ReloadReport, key: string) => r.changes.find((c) => c.key === key);

test('allow_anonymous off: new anonymous clients are refused, connected ones stay connected', async () => {
  const f = await start();
  try {
    const a = await f.client(f.url());
    const b = await f.client(f.url('tcp', 'internal'));
    const w = await f.client(f.url('ws'));
    f.write(['allow_anonymous = false']);
    const report = await f.tern.reload();
    assert.equal(report.applied, true);
    assert.deepEqual(change(report, 'allow_anonymous'), { key: 'allow_anonymous', old: true, new: false, class: 'hot' });
    assert.deepEqual(report.restart_required, []);

    const err = (await refused(f.url(), { clientId: 'anon-after' })) as { code?: number };
    assert.equal(err.code, 5);
    // the internal zone allows anonymous on its own
    await f.client(f.url('tcp', 'internal'), { clientId: 'internal-after' });
    await roundTrip(a, w, 'r/anon');
    await roundTrip(b, a, 'r/anon2');
    assert.equal(f.disconnects(), 0);
    assert.equal(f.tern.aedes.connectedClients, 4);
  } finally {
    await f.close();
  }
});

test('a value set through the API stays in force, and the answer says so', async () => {
  const f = await start();
  try {
    const set = await f.api('PUT', '/authentication/anonymous', { zones: { external: false } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    f.write(['zone.external.allow_anonymous = true']);
    const res = await f.api('POST', '/configs/reload');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const c = (res.body.changes as ReloadReport['changes']).find((x) => x.key === 'zone.external.allow_anonymous')!;
    assert.equal(c.class, 'hot');
    assert.match(c.note!, /set through the API to false: the API value stays in force/);
    assert.equal(((await refused(f.url())) as { code?: number }).code, 5);
  } finally {
    await f.close();
  }
});

test('lowering max_mqueue_len applies to the next messages queued', async () => {
  const f = await start(['zone.external.max_mqueue_len = 100']);
  try {
    const sub = await connect(f.url(), { clientId: 'q-sub', clean: false });
    await sub.subscribeAsync('q/t', { qos: 1 });
    const offline = busEvents(f.tern.events, 'client.disconnected', (e) => e.clientid === 'q-sub');
    await sub.endAsync();
    await offline.wait(1, 'the session to go offline');
    const pub = await f.client(f.url(), { clientId: 'q-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync('q/t', `a${i}`, { qos: 1 });
    assert.equal(f.tern.sessions.get('q-sub')!.mqueue_len, 3);

    f.write(['zone.external.max_mqueue_len = 2']);
    const report = await f.tern.reload();
    assert.deepEqual(change(report, 'zone.external.max_mqueue_len'), { key: 'zone.external.max_mqueue_len', old: 100, new: 2, class: 'hot' });
    await pub.publishAsync('q/t', 'b0', { qos: 1 });
    const info = f.tern.sessions.get('q-sub')!;
    assert.equal(info.mqueue_max, 2);
    assert.equal(info.mqueue_len, 2);
    const queued = await f.tern.sessions.queuedMessages('q-sub', { page: 1, limit: 10 });
    assert.deepEqual(queued.data.map((m) => m.payload.toString()), ['a2', 'b0']);
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('a listener moved to another port: established clients stay, new connects reach the new port only', async () => {
  const f = await start();
  try {
    const oldPort = f.tern.ports.tcp.external!;
    const onOld = await f.client(f.url(), { clientId: 'on-old' });
    const internal = await f.client(f.url('tcp', 'internal'), { clientId: 'on-internal' });
    const ws = await f.client(f.url('ws'), { clientId: 'on-ws' });
    const port = await freePort();
    f.write([`listener.tcp.external = 127.0.0.1:${port}`]);
    const report = await f.tern.reload();
    const c = change(report, 'listener.tcp.external')!;
    assert.equal(c.class, 'rebind');
    assert.equal(c.old, '127.0.0.1:0');
    assert.equal(c.new, `127.0.0.1:${port}`);
    assert.match(c.note!, /established connections stay/);
    assert.equal(f.tern.ports.tcp.external, port);

    // new connects: the new port answers, the old one is closed
    const onNew = await f.client(`mqtt://127.0.0.1:${port}`, { clientId: 'on-new' });
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const s = net.connect(oldPort, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.on('error', reject);
      }),
      /ECONNREFUSED/,
    );
    // every established connection still works, across listeners
    await roundTrip(onOld, onNew, 'm/1');
    await roundTrip(onNew, internal, 'm/2');
    await roundTrip(ws, onOld, 'm/3');
    assert.equal(f.disconnects(), 0);
    // the old connection is still counted under its listener
    const status = f.tern.control.listeners().find((l) => l.id === 'tcp:external')!;
    assert.equal(status.bind, `127.0.0.1:${port}`);
    assert.equal(status.current_connections, 2);
  } finally {
    await f.close();
  }
});

test('two listeners swap ports: each new socket is bound once the other gives its port up', async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  const f = await start([`listener.tcp.external = 127.0.0.1:${p1}`, `listener.tcp.internal = 127.0.0.1:${p2}`]);
  try {
    const ext = await f.client(f.url(), { clientId: 'swap-ext' });
    const int = await f.client(f.url('tcp', 'internal'), { clientId: 'swap-int' });
    f.write([`listener.tcp.external = 127.0.0.1:${p2}`, `listener.tcp.internal = 127.0.0.1:${p1}`]);
    await f.tern.reload();
    assert.equal(f.tern.ports.tcp.external, p2);
    assert.equal(f.tern.ports.tcp.internal, p1);
    // the zone tells which listener a new client reached
    await f.client(`mqtt://127.0.0.1:${p2}`, { clientId: 'swap-new' });
    assert.equal(f.tern.sessions.get('swap-new')!.zone, 'external');
    await roundTrip(ext, int, 'swap/t');
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('a listener added starts; removed, it stops accepting and its clients stay (or go, when configured)', async () => {
  const f = await start();
  try {
    f.write(['listener.tcp.extra = 127.0.0.1:0']);
    let report = await f.tern.reload();
    assert.deepEqual(change(report, 'listener.tcp.extra'), {
      key: 'listener.tcp.extra', old: null, new: '127.0.0.1:0', class: 'rebind', note: 'listener starts',
    });
    const extraPort = f.tern.ports.tcp.extra!;
    const onExtra = await f.client(f.url('tcp', 'extra'), { clientId: 'on-extra' });
    const other = await f.client(f.url(), { clientId: 'other' });

    f.write([]);
    report = await f.tern.reload();
    assert.match(change(report, 'listener.tcp.extra')!.note!, /stops accepting; its clients stay connected until they leave/);
    assert.equal(f.tern.ports.tcp.extra, undefined);
    await assert.rejects(connect(`mqtt://127.0.0.1:${extraPort}`), /ECONNREFUSED/);
    await roundTrip(onExtra, other, 'extra/t');
    assert.equal(f.disconnects(), 0);
    const status = f.tern.control.listeners().find((l) => l.id === 'tcp:extra')!;
    assert.equal(status.running, false);
    assert.equal(status.current_connections, 1);

    // with reload.close_removed_listener_clients = on, a removed listener's clients are disconnected
    f.write(['listener.tcp.extra2 = 127.0.0.1:0']);
    await f.tern.reload();
    const onExtra2 = await f.client(f.url('tcp', 'extra2'), { clientId: 'on-extra2' });
    const gone = new Promise<void>((resolve) => onExtra2.once('close', () => resolve()));
    f.write(['reload.close_removed_listener_clients = on']);
    report = await f.tern.reload();
    assert.match(change(report, 'listener.tcp.extra2')!.note!, /its clients are disconnected/);
    await gone;
    assert.equal(f.disconnects(), 1);
    await roundTrip(onExtra, other, 'extra/t2');
  } finally {
    await f.close();
  }
});

function makePair(dir: string, cn: string): { key: string; cert: string } {
  const key = path.join(dir, `${cn}-key.pem`);
  const cert = path.join(dir, `${cn}-cert.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { key, cert };
}

function serverCert(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

test('TLS certificate swap: new handshakes get the new certificate, the established session carries on', async () => {
  const dir = tempDir('tern-tls-');
  const keyfile = path.join(dir, 'key.pem');
  const certfile = path.join(dir, 'cert.pem');
  fs.copyFileSync(path.join(fixtures, 'key.pem'), keyfile);
  fs.copyFileSync(path.join(fixtures, 'cert.pem'), certfile);
  const f = await start([`listener.ssl.external.keyfile = ${keyfile}`, `listener.ssl.external.certfile = ${certfile}`]);
  try {
    const port = f.tern.ports.ssl.external!;
    const before = await serverCert(port);
    const old = await f.client(f.url('ssl'), { clientId: 'tls-old', rejectUnauthorized: false });
    const oldSession = (old.stream as tls.TLSSocket).getPeerCertificate().fingerprint256;
    assert.equal(oldSession, before);

    const second = makePair(dir, 'second');
    // a key that does not match the certificate is refused first, at the certfile's line
    fs.copyFileSync(second.key, keyfile);
    await assert.rejects(f.tern.reload(), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`${f.file.replaceAll('.', '\\.')}:\\d+: listener\\.ssl\\.external\\.certfile = .*expected a certificate matching listener\\.ssl\\.external\\.keyfile`));
      return true;
    });
    assert.equal(await serverCert(port), before);

    fs.copyFileSync(second.cert, certfile);
    const report = await f.tern.reload();
    assert.deepEqual(
      report.changes.map((c) => [c.key, c.class]),
      [['listener.ssl.external.certfile', 'rebind'], ['listener.ssl.external.keyfile', 'rebind']],
    );
    assert.match(change(report, 'listener.ssl.external.certfile')!.note!, /content changed: new TLS handshakes use it/);
    const after = await serverCert(port);
    assert.notEqual(after, before);
    assert.equal(after, new (await import('node:crypto')).X509Certificate(fs.readFileSync(second.cert)).fingerprint256);
    // the session established before the swap still works, on the same port
    const fresh = await f.client(f.url('ssl'), { clientId: 'tls-new', rejectUnauthorized: false });
    await roundTrip(old, fresh, 'tls/t');
    assert.equal(f.disconnects(), 0);
    assert.equal(f.tern.ports.ssl.external, port);

    // and moved: the new port serves the new certificate, the sessions on the old one carry on
    const moved = await freePort();
    f.write([`listener.ssl.external = 127.0.0.1:${moved}`, `listener.ssl.external.keyfile = ${keyfile}`, `listener.ssl.external.certfile = ${certfile}`]);
    await f.tern.reload();
    assert.equal(await serverCert(moved), after);
    await assert.rejects(serverCert(port), /ECONNREFUSED/);
    await roundTrip(fresh, old, 'tls/moved');
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('a broken file is refused naming file:line, and nothing changes', async () => {
  const f = await start(['zone.external.max_mqueue_len = 100']);
  try {
    const c = await f.client(f.url(), { clientId: 'stays' });
    const inForce = f.tern.config;
    const ports = JSON.stringify(f.tern.ports);
    const cases: [string[], RegExp][] = [
      [['zone.external.max_mqueue_len = lots'], /:9: zone\.external\.max_mqueue_len = "lots": expected an integer of at least 0/],
      [['listener.tcp.external.zone = nowhere'], /:9: listener\.tcp\.external\.zone = "nowhere": expected a defined zone/],
      [['zone.external.max_mqueue_len = 5', 'this line has no equals sign'], /:10: expected "key = value"/],
      [['acl_file = /nonexistent/acl.conf'], /:9: acl_file = "\/nonexistent\/acl.conf": expected an existing file/],
    ];
    for (const [lines, message] of cases) {
      f.write(lines);
      await assert.rejects(f.tern.reload(), (err: Error) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(err.message.startsWith(`${f.file}:`), err.message);
        assert.match(err.message, message);
        return true;
      });
      assert.equal(f.tern.config, inForce, 'the config in force is the same object');
      assert.equal(JSON.stringify(f.tern.ports), ports);
    }
    // the API answers 400 BAD_CONFIG with the same message
    const res = await f.api('POST', '/configs/reload');
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'BAD_CONFIG');
    assert.match(String(res.body.message), /:9: acl_file = /);
    // a port that cannot be bound is refused like a bad value, the listener stays where it was
    const blocker = net.createServer();
    const busy = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)));
    try {
      f.write(['listener.tcp.extra = 127.0.0.1:0', `listener.tcp.external = 127.0.0.1:${busy}`]);
      await assert.rejects(f.tern.reload(), /:10: listener\.tcp\.external = "127\.0\.0\.1:\d+": expected an address this node can listen on \(the port is already in use\)/);
      assert.equal(f.tern.config, inForce);
      assert.equal(JSON.stringify(f.tern.ports), ports, 'the listener added in the same file was not started');
    } finally {
      blocker.close();
    }
    await roundTrip(c, c, 'still/here');
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('dry run reports what would change and changes nothing', async () => {
  const f = await start();
  try {
    const inForce = f.tern.config;
    const port = await freePort();
    f.write(['allow_anonymous = false', `listener.tcp.external = 127.0.0.1:${port}`, `node.data_dir = ${path.join(f.dir, 'elsewhere')}`, 'dashboard.default_user.password = s3cret']);
    const res = await f.api('POST', '/configs/reload?dry_run=true');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const report = res.body as unknown as ReloadReport;
    assert.equal(report.applied, false);
    assert.equal(report.dry_run, true);
    assert.equal(report.file, f.file);
    assert.deepEqual(report.changes.map((c) => [c.key, c.class]), [
      ['allow_anonymous', 'hot'],
      ['dashboard.default_user.password', 'hot'],
      ['listener.tcp.external', 'rebind'],
      ['node.data_dir', 'restart'],
    ]);
    // secrets are masked
    assert.deepEqual([change(report, 'dashboard.default_user.password')!.old, change(report, 'dashboard.default_user.password')!.new], ['******', '******']);
    assert.deepEqual(report.restart_required, ['node.data_dir']);
    assert.equal(f.tern.config, inForce);
    assert.notEqual(f.tern.ports.tcp.external, port);
    await f.client(f.url(), { clientId: 'anon-still-ok' });
  } finally {
    await f.close();
  }
});

test('restart keys keep their old value and are named; hot keys of the same file apply', async () => {
  const f = await start();
  try {
    const dataDir = f.tern.config.node.data_dir;
    f.write([`node.data_dir = ${path.join(f.dir, 'elsewhere')}`, 'node.name = other@127.0.0.1', 'persistence = memory', 'mqtt.max_topic_levels = 3']);
    const report = await f.tern.reload();
    assert.deepEqual(report.restart_required, ['node.data_dir', 'node.name', 'persistence']);
    for (const key of report.restart_required) assert.equal(change(report, key)!.note, 'keeps its old value until a restart');
    assert.equal(f.tern.config.node.data_dir, dataDir);
    assert.equal(f.tern.config.node.name, 'tern@127.0.0.1');
    assert.equal(f.tern.config.persistence, 'sqlite');
    assert.equal(f.tern.config.mqtt.max_topic_levels, 3);
    // and they stay pending: the next reload names them again
    assert.deepEqual((await f.tern.reload()).restart_required, ['node.data_dir', 'node.name', 'persistence']);
  } finally {
    await f.close();
  }
});

test('mqtt limits apply to connected clients: max_qos_allowed and max_packet_size', async () => {
  const f = await start();
  try {
    const c = await f.client(f.url(), { clientId: 'limits' });
    f.write(['mqtt.max_qos_allowed = 1', 'mqtt.max_packet_size = 1KB']);
    await f.tern.reload();
    const granted = await c.subscribeAsync('lim/t', { qos: 2 });
    assert.equal(granted[0]!.qos, 1);
    const big = await f.client(f.url(), { clientId: 'big' });
    const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
    big.publish('lim/t', Buffer.alloc(2048), { qos: 0 });
    await closed;
    // raised again: a QoS 2 grant for the same connection
    f.write(['mqtt.max_qos_allowed = 2']);
    await f.tern.reload();
    assert.equal((await c.subscribeAsync('lim/u', { qos: 2 }))[0]!.qos, 2);
    assert.equal(f.disconnects(), 1);

    // the API's publish body limit follows max_packet_size (2 x, at least 1 MiB)
    const payload = Buffer.alloc(1_600_000, 7).toString('base64');
    assert.equal((await f.api('POST', '/publish', { topic: 'lim/api', payload, payload_encoding: 'base64' })).status, 413);
    f.write(['mqtt.max_packet_size = 2MB']);
    await f.tern.reload();
    assert.equal((await f.api('POST', '/publish', { topic: 'lim/api', payload, payload_encoding: 'base64' })).status, 202);
  } finally {
    await f.close();
  }
});

test('log.level applies to the running logger and its children', async () => {
  const f = await start();
  try {
    const child = f.tern.logger.child({ module: 'x' });
    assert.equal(child.isLevelEnabled('info'), false);
    f.write(['log.level = debug']);
    await f.tern.reload();
    assert.equal(f.tern.logger.level, 'debug');
    assert.equal(child.isLevelEnabled('debug'), true);
    f.write([]);
    await f.tern.reload();
    assert.equal(child.isLevelEnabled('info'), false);
  } finally {
    await f.close();
  }
});

test('config.watch = on: saving the file reloads it, also when an editor renames a new file over it', async () => {
  const f = await start(['config.watch = on'], { watchDebounceMs: 50 });
  try {
    const seven = configBecomes(f.tern.configSource, (c) => c.zones.external!.max_mqueue_len === 7, 'the watched file to be reloaded');
    f.write(['config.watch = on', 'zone.external.max_mqueue_len = 7']);
    await seven;
    // an editor's save: a new file renamed over the old one
    fs.writeFileSync(`${f.file}.tmp`, fs.readFileSync(f.file, 'utf8').replace('max_mqueue_len = 7', 'max_mqueue_len = 8'));
    const eight = configBecomes(f.tern.configSource, (c) => c.zones.external!.max_mqueue_len === 8, 'the renamed file to be reloaded');
    fs.renameSync(`${f.file}.tmp`, f.file);
    await eight;
  } finally {
    await f.close();
  }
});

test('a WebSocket listener moved to another port: its upgraded connections stay, the new port serves /mqtt', async () => {
  const f = await start();
  try {
    const oldWs = await f.client(f.url('ws'), { clientId: 'ws-old' });
    const tcp = await f.client(f.url(), { clientId: 'ws-tcp' });
    const port = await freePort();
    f.write([`listener.ws.external = 127.0.0.1:${port}`, 'listener.ws.external.mqtt_path = /mqtt2']);
    const report = await f.tern.reload();
    assert.deepEqual(report.changes.map((c) => c.key), ['listener.ws.external', 'listener.ws.external.mqtt_path']);
    const onNew = await f.client(`ws://127.0.0.1:${port}/mqtt2`, { clientId: 'ws-new' });
    await assert.rejects(connect(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'ws-wrong-path' }));
    await roundTrip(oldWs, onNew, 'ws/1');
    await roundTrip(tcp, oldWs, 'ws/2');
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('listener settings apply to new connections: max_connections, zone', async () => {
  const f = await start(['zone.quiet.allow_anonymous = false']);
  try {
    const a = await f.client(f.url(), { clientId: 'set-a' });
    const b = await f.client(f.url(), { clientId: 'set-b' });
    f.write(['zone.quiet.allow_anonymous = false', 'listener.tcp.external.max_connections = 2', 'listener.tcp.external.zone = quiet']);
    const report = await f.tern.reload();
    assert.match(change(report, 'listener.tcp.external.zone')!.note!, /new connections join zone quiet; connected clients stay in zone external/);
    // full: the third connection is closed at accept
    await assert.rejects(connect(f.url(), { clientId: 'set-c', connectTimeout: 2000 }));
    // the listener frees a slot when the transport socket closes
    const listener = f.tern.listeners.running.find((l) => l.id === 'tcp:external')!;
    const oneClosed = Promise.race([...listener.sockets].map((sock) => new Promise<void>((resolve) => sock.once('close', () => resolve()))));
    await b.endAsync();
    await oneClosed;
    assert.equal(f.tern.control.listeners().find((l) => l.id === 'tcp:external')!.current_connections, 1);
    // a slot again, in the new zone: anonymous is refused there
    assert.equal(((await refused(f.url(), { clientId: 'set-d' })) as { code?: number }).code, 5);
    assert.equal(f.tern.sessions.get('set-a')!.zone, 'external');
    await roundTrip(a, a, 'set/t');
  } finally {
    await f.close();
  }
});

test('module checks run before anything changes; their apply step only once the reload is committed', async () => {
  const seen: string[] = [];
  // as the ACL module's loadAclFile will be wired: validate what the file names, apply later
  const refusals: string[] = [];
  const f = await start([], {
    onRefused: (r) => refusals.push(`${r.trigger}: ${r.message}`),
    checks: [
      (next, where) => {
        if (next.zones.external!.max_mqueue_len === 13) throw new ConfigError(`${where('zone.external.max_mqueue_len')}: 13 is unlucky`);
        seen.push(`checked ${next.zones.external!.max_mqueue_len}`);
        return () => seen.push(`applied ${next.zones.external!.max_mqueue_len}`);
      },
      // a check that also reports a file whose content changed (the ACL file, say)
      () => ({ changedFiles: [{ key: 'acl_file', file: 'etc/acl.conf' }] }),
    ],
  });
  try {
    f.write(['zone.external.max_mqueue_len = 13']);
    await assert.rejects(f.tern.reload(), new RegExp(`${f.file.replaceAll('.', '\\.')}:9: 13 is unlucky`));
    assert.deepEqual(refusals, [`call: ${f.file}:9: 13 is unlucky`]);
    f.write(['zone.external.max_mqueue_len = 12']);
    await f.tern.reload({ dryRun: true });
    assert.deepEqual(seen, ['checked 12']);
    const report = await f.tern.reload();
    assert.deepEqual(seen, ['checked 12', 'checked 12', 'applied 12']);
    assert.deepEqual(change(report, 'acl_file'), { key: 'acl_file', old: 'etc/acl.conf', new: 'etc/acl.conf', class: 'hot', note: "the file's content changed" });
    assert.equal(f.tern.config.zones.external!.max_mqueue_len, 12);
  } finally {
    await f.close();
  }
});

test('reloads run one at a time; a Tern started from a Config object reloads to no change', async () => {
  const f = await start();
  try {
    f.write(['zone.external.max_mqueue_len = 5']);
    const [r1, r2] = await Promise.all([f.tern.reload(), f.tern.reload()]);
    assert.equal(r1.changes.length, 1);
    assert.equal(r2.changes.length, 0);
  } finally {
    await f.close();
  }
  const { startTestTern } = await import('../helpers/tern.ts');
  const t = await startTestTern();
  try {
    const before = t.config;
    const r = await t.reload();
    assert.deepEqual(r.changes, []);
    assert.equal(r.file, null);
    assert.match(r.warnings[0]!, /nothing to re-read/);
    assert.deepEqual(t.config, before);
  } finally {
    await t.close();
  }
});

test('zone.external.idle_timeout: a socket accepted after the reload gets the new CONNECT wait', async () => {
  const f = await start();
  try {
    f.write(['zone.external.idle_timeout = 200ms', 'zone.internal.idle_timeout = 300ms']);
    await f.tern.reload();
    for (const name of ['external', 'internal']) {
      const started = Date.now();
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(f.tern.ports.tcp[name]!, '127.0.0.1');
        s.on('error', reject);
        s.on('close', () => resolve());
      });
      // closed by the broker well before the 15 s it started with
      assert.ok(Date.now() - started < 10_000, name);
    }
  } finally {
    await f.close();
  }
});

test('auth seeds added to the file are inserted by the reload; a seed the API changed stays as the API left it', async () => {
  const f = await start(['allow_anonymous = false', 'auth.user.1.username = alice', 'auth.user.1.password = first']);
  try {
    await f.client(f.url(), { clientId: 'alice-1', username: 'alice', password: 'first' });
    f.write(['allow_anonymous = false', 'auth.user.1.username = alice', 'auth.user.1.password = changed', 'auth.user.2.username = bob', 'auth.user.2.password = b0b']);
    const report = await f.tern.reload();
    const c = change(report, 'auth.user')!;
    assert.deepEqual(c.new, [{ username: 'alice', password: '******' }, { username: 'bob', password: '******' }]);
    assert.match(c.note!, /the API value stays in force/);
    await f.client(f.url(), { clientId: 'bob-1', username: 'bob', password: 'b0b' });
    // alice was seeded before: her password is the one in the user table, not the file's
    await f.client(f.url(), { clientId: 'alice-2', username: 'alice', password: 'first' });
    assert.equal(((await refused(f.url(), { clientId: 'alice-3', username: 'alice', password: 'changed' })) as { code?: number }).code, 4);
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});

test('a listener narrowed from 0.0.0.0:P to 127.0.0.1:P (its own port): it stops accepting just before, its clients stay', async () => {
  const p = await freePort();
  const f = await start([`listener.tcp.external = 0.0.0.0:${p}`]);
  try {
    const before = await f.client(`mqtt://127.0.0.1:${p}`, { clientId: 'narrow-old' });
    f.write([`listener.tcp.external = 127.0.0.1:${p}`]);
    const report = await f.tern.reload();
    assert.equal(change(report, 'listener.tcp.external')!.new, `127.0.0.1:${p}`);
    assert.equal(f.tern.control.listeners().find((l) => l.id === 'tcp:external')!.bind, `127.0.0.1:${p}`);
    const after = await f.client(`mqtt://127.0.0.1:${p}`, { clientId: 'narrow-new' });
    await roundTrip(before, after, 'narrow/t');
    assert.equal(f.disconnects(), 0);
    // GET /configs shows the address in force
    const conf = await f.api('GET', '/configs');
    const l = (conf.body.listeners as { proto: string; name: string; host: string }[]).find((x) => x.proto === 'tcp' && x.name === 'external')!;
    assert.equal(l.host, '127.0.0.1');
  } finally {
    await f.close();
  }
});

test('a file key the environment overrides is named in the warnings: editing it changes nothing', async () => {
  const dir = tempDir('tern-env-');
  const file = path.join(dir, 'emqx.conf');
  const lines = [`node.data_dir = ${path.join(dir, 'data')}`, 'log.level = silent', 'dashboard.listener.http = 127.0.0.1:0',
    'listener.tcp.external = 127.0.0.1:0', 'listener.tcp.internal = 127.0.0.1:0', 'listener.ws.external = 127.0.0.1:0'];
  fs.writeFileSync(file, [...lines, 'zone.external.max_mqueue_len = 10'].join('\n'));
  const env = { EMQX_ZONE__EXTERNAL__MAX_MQUEUE_LEN: '5' };
  const tern = await startTern({ config: loadConfig({ file, env }).config, file, env, logger: pino({ level: 'silent' }) });
  try {
    fs.writeFileSync(file, [...lines, 'zone.external.max_mqueue_len = 20'].join('\n'));
    const report = await tern.reload();
    assert.deepEqual(report.changes, []);
    assert.deepEqual(report.warnings, [`${file}:7: zone.external.max_mqueue_len is overridden by EMQX_ZONE__EXTERNAL__MAX_MQUEUE_LEN (the environment wins over the file)`]);
    assert.equal(tern.config.zones.external!.max_mqueue_len, 5);
  } finally {
    await tern.close();
  }
});

/** resolves at the first config change after which `check` holds (the reload's own notification) */
function configBecomes(source: ConfigSource, check: (c: Config) => boolean, what: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const off = source.onChange((change) => {
      if (!check(change.current)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

test('acl_file: an edited ACL file is put in force by a reload (named in the answer); a malformed one refuses the reload, the rules in force stay', async () => {
  const dir = tempDir('tern-reload-acl-');
  const acl = path.join(dir, 'acl.conf');
  fs.writeFileSync(acl, '{deny, all, subscribe, ["secret/#"]}.\n{allow, all}.\n');
  const f = await start([`acl_file = ${acl}`]);
  try {
    const c = await f.client(f.url(), { clientId: 'acl-r' });
    const granted = async (topic: string) => (await grantedQos(c, [topic]))[0];
    assert.equal(await granted('secret/a'), 128);
    assert.equal(await granted('open/a'), 0);

    fs.writeFileSync(acl, '{deny, all, subscribe, ["open/#"]}.\n{allow, all}.\n');
    const report = await f.tern.reload();
    assert.equal(report.applied, true);
    assert.ok(report.changes.some((ch) => ch.key === 'acl_file'), JSON.stringify(report.changes));
    assert.equal(await granted('open/b'), 128);
    assert.equal(await granted('secret/b'), 0);

    fs.writeFileSync(acl, '{deny, all, subscribe, ["open/#"]}.\n{allow, all\n');
    await assert.rejects(f.tern.reload(), (err: Error) => err.message.includes(`${acl}:2`));
    // the rules of the last good file are in force
    assert.equal(await granted('open/c'), 128);
    assert.equal(f.disconnects(), 0);
  } finally {
    await f.close();
  }
});
