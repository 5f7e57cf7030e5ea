// `tern ctl` as a child process against a live in-process node: each command whose API exists,
// as a table for people and as --json for scripts, checked against what the broker really holds.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTestTern, connect, nextMessages, endAll, tcpUrl } from '../helpers/tern.ts';
import { ctl, parseTable, parseKeyValue } from '../helpers/cli.ts';
import type { Tern } from '../../server/tern.ts';

let tern: Tern;
let url: string;
/** flags for the default administrator, as a person would type them */
let admin: string[];

before(async () => {
  tern = await startTestTern();
  url = `http://127.0.0.1:${tern.ports.http}`;
  admin = ['--url', url, '--username', 'admin', '--password', 'public'];
});

after(async () => {
  await tern.close();
});

/** Runs a command that must succeed; answers its stdout. */
async function ok(args: string[], opts: Parameters<typeof ctl>[1] = {}): Promise<string> {
  const r = await ctl([...admin, ...args], opts);
  assert.equal(r.code, 0, `tern ctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '', `tern ctl ${args.join(' ')} wrote to stderr`);
  return r.stdout;
}

const json = async <T>(args: string[], opts: Parameters<typeof ctl>[1] = {}): Promise<T> => JSON.parse(await ok([...args, '--json'], opts)) as T;

test('status: node, version, counts and every running listener with its bound address', async () => {
  const text = await ok(['status']);
  const kv = parseKeyValue(text);
  assert.equal(kv.node, tern.config.node.name);
  assert.equal(kv.status, 'running');
  assert.match(kv.version ?? '', /^\d+\.\d+\.\d+/);
  const listeners = parseTable(text.slice(text.indexOf('LISTENER')));
  assert.deepEqual(
    listeners.map((l) => [l.LISTENER, l.BIND]),
    [
      ['tcp:external', `127.0.0.1:${tern.ports.tcp.external}`],
      ['tcp:internal', `127.0.0.1:${tern.ports.tcp.internal}`],
      ['ws:external', `127.0.0.1:${tern.ports.ws.external}`],
    ],
  );

  const s = await json<{ node: string; status: string; listeners: { id: string; bind: string }[]; stats: { live_connections: number } }>(['status']);
  assert.equal(s.node, tern.config.node.name);
  assert.equal(s.status, 'running');
  assert.equal(s.listeners.find((l) => l.id === 'tcp:internal')?.bind, `127.0.0.1:${tern.ports.tcp.internal}`);
  assert.equal(typeof s.stats.live_connections, 'number');
});

test('address and credentials from TERN_API_URL and TERN_USERNAME/TERN_PASSWORD, or TERN_API_KEY', async () => {
  const byEnv = await ctl(['status', '--json'], { env: { TERN_API_URL: url, TERN_USERNAME: 'admin', TERN_PASSWORD: 'public' } });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.equal(JSON.parse(byEnv.stdout).node, tern.config.node.name);

  // an API key made through the API (it needs an administrator's token)
  const login = await fetch(`${url}/api/v5/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) });
  const { token } = (await login.json()) as { token: string };
  const made = await fetch(`${url}/api/v5/api_key`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ name: 'cli-test' }) });
  assert.equal(made.status, 200);
  const key = (await made.json()) as { api_key: string; api_secret: string };
  const byKey = await ctl(['users', 'list', '--json'], { env: { TERN_API_URL: url, TERN_API_KEY: `${key.api_key}:${key.api_secret}` } });
  assert.equal(byKey.code, 0, byKey.stderr);
  assert.ok(Array.isArray(JSON.parse(byKey.stdout)));
  // the flag wins over the environment
  const flag = await ctl(['--api-key', `${key.api_key}:${key.api_secret}`, 'status'], { env: { TERN_API_URL: url, TERN_API_KEY: 'wrong:wrong' } });
  assert.equal(flag.code, 0, flag.stderr);
});

test('without credentials the default administrator (admin/public) is used', async () => {
  const r = await ctl(['--url', url, 'users', 'list']);
  assert.equal(r.code, 0, r.stderr);
});

test('users add|list|passwd|del change who may CONNECT', async () => {
  assert.equal(await ok(['users', 'add', 'alice', 'alice-pw-1']), 'added user alice\n');
  // the password on standard input keeps it out of `ps`
  assert.equal(await ok(['users', 'add', 'bob', '--superuser'], { input: 'bob-pw-1\n' }), 'added user bob (superuser)\n');

  const rows = parseTable(await ok(['users', 'list']));
  assert.deepEqual(rows, [
    { USERNAME: 'alice', SUPERUSER: 'no' },
    { USERNAME: 'bob', SUPERUSER: 'yes' },
  ]);
  assert.deepEqual(await json(['users', 'list', '--like', 'ali']), [{ user_id: 'alice', is_superuser: false }]);

  const mqtt = tcpUrl(tern);
  await endAll(await connect(mqtt, { clientId: 'alice-1', username: 'alice', password: 'alice-pw-1' }));
  await ok(['users', 'passwd', 'alice', 'alice-pw-2']);
  await assert.rejects(connect(mqtt, { clientId: 'alice-2', username: 'alice', password: 'alice-pw-1' }), /Bad username or password/i);
  await endAll(await connect(mqtt, { clientId: 'alice-3', username: 'alice', password: 'alice-pw-2' }));

  const dup = await ctl([...admin, 'users', 'add', 'alice', 'x']);
  assert.equal(dup.code, 1);
  assert.equal(dup.stderr, 'tern ctl: user alice already exists (ALREADY_EXISTS, HTTP 409)\n');
  assert.equal(dup.stdout, '');

  assert.equal(await ok(['users', 'del', 'bob']), 'deleted user bob\n');
  assert.deepEqual(await json(['users', 'list']), [{ user_id: 'alice', is_superuser: false }]);
  const gone = await ctl([...admin, 'users', 'del', 'bob']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^tern ctl: .*bob.* \(NOT_FOUND, HTTP 404\)\n$/);
  await ok(['users', 'del', 'alice']);
});

test('clientids add|list|del and anonymous show|set decide who is let in', async () => {
  const mqtt = tcpUrl(tern);
  assert.equal(await ok(['anonymous', 'set', 'external', 'off']), await ok(['anonymous', 'show']));
  assert.deepEqual(parseTable(await ok(['anonymous', 'show'])), [
    { ZONE: 'external', ALLOW_ANONYMOUS: 'no', SET_BY: 'api (wins over emqx.conf)' },
    { ZONE: 'internal', ALLOW_ANONYMOUS: 'yes', SET_BY: 'emqx.conf' },
  ]);
  await assert.rejects(connect(mqtt, { clientId: 'dev-0001' }), /Not authorized/i);

  assert.equal(await ok(['clientids', 'add', 'dev-0001']), 'added client id dev-0001\n');
  assert.deepEqual(parseTable(await ok(['clientids', 'list'])), [{ CLIENTID: 'dev-0001' }]);
  assert.deepEqual(await json(['clientids', 'list']), [{ clientid: 'dev-0001' }]);
  await endAll(await connect(mqtt, { clientId: 'dev-0001' }));
  await ok(['clientids', 'del', 'dev-0001']);
  assert.deepEqual(await json(['clientids', 'list']), []);
  await assert.rejects(connect(mqtt, { clientId: 'dev-0001' }), /Not authorized/i);

  const on = await json<{ zones: Record<string, boolean>; sources: Record<string, string> }>(['anonymous', 'set', 'external', 'on']);
  assert.deepEqual(on, { zones: { external: true, internal: true }, sources: { external: 'api', internal: 'config' } });
  await endAll(await connect(mqtt, { clientId: 'anon-ok' }));

  const unknown = await ctl([...admin, 'anonymous', 'set', 'nozone', 'on']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^tern ctl: body\.zones\.nozone is not a configured zone .*\(BAD_REQUEST, HTTP 400\)\n$/);
});

describe('with real clients: one connected (cli-live on a/#), one offline persistent session (cli-offline on q/#)', () => {
  let live: MqttClient;

  before(async () => {
    const mqtt = tcpUrl(tern);
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
    assert.match(await ok(['publish', 'a/b', 'hello', '--qos', '1']), /^published to a\/b \(id \S+\)\n$/);
    const [got] = await nextMessages(live, 1);
    assert.deepEqual([got!.topic, got!.payload, got!.qos], ['a/b', 'hello', 1]);
    await ok(['publish', 'q/1', 'one', '-q', '1']);
    const second = await json<{ id: string }>(['publish', 'q/2', 'dHdv', '-q', '1', '--base64']);
    assert.equal(typeof second.id, 'string');
    assert.equal(await ok(['publish', 'nobody/listens', 'x']), 'published to nobody/listens: no subscriber matched\n');
  });

  test('clients list: connected clients only', async () => {
    const [text, listed] = await Promise.all([
      ok(['clients', 'list']),
      json<{ clientid: string; connected: boolean }[]>(['clients', 'list', '--like', 'cli-']),
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
      ok(['sessions', 'list']),
      json<{ clientid: string; mqueue_len: number }[]>(['sessions', 'list', '--offline']),
    ]);
    const sessions = parseTable(text);
    const off = sessions.find((s) => s.CLIENTID === 'cli-offline');
    assert.ok(off, 'cli-offline is listed');
    assert.equal(off.CONNECTED, 'no');
    assert.equal(off.MQUEUE, '2');
    assert.equal(off.MQUEUE_MAX, String(tern.config.zones.external!.max_mqueue_len));
    assert.equal(off.CLEAN_START, 'no');
    assert.equal(sessions.find((s) => s.CLIENTID === 'cli-live')?.CONNECTED, 'yes');
    assert.deepEqual(offlineOnly.map((s) => [s.clientid, s.mqueue_len]), [['cli-offline', 2]]);
  });

  test('subscriptions list, and filtered by a matching filter', async () => {
    const [text, matched] = await Promise.all([
      ok(['subscriptions', 'list']),
      json<{ clientid: string; topic: string }[]>(['subscriptions', 'list', '--match', 'q/#']),
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
      ok(['clients', 'show', 'cli-offline']),
      json<{ clientid: string; mqueue_len: number; subscriptions: { topic: string }[] }>(['clients', 'show', 'cli-offline']),
    ]);
    const kv = parseKeyValue(shown);
    assert.equal(kv.connected, 'no');
    assert.equal(kv.mqueue, `2/${tern.config.zones.external!.max_mqueue_len}`);
    assert.deepEqual(parseTable(shown.slice(shown.indexOf('TOPIC'))), [{ TOPIC: 'q/#', QOS: '1' }]);
    assert.equal(shownJson.mqueue_len, 2);
    assert.deepEqual(shownJson.subscriptions.map((s) => s.topic), ['q/#']);
  });

  test('clients kick: the connection closes and the session is gone', async () => {
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    assert.equal(await ok(['clients', 'kick', 'cli-live']), 'kicked cli-live\n');
    await closed;
    await ok(['clients', 'kick', 'cli-offline']);
    assert.ok(!(await json<{ clientid: string }[]>(['sessions', 'list'])).some((s) => s.clientid.startsWith('cli-')));
    const missing = await ctl([...admin, 'clients', 'show', 'cli-live']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'tern ctl: client cli-live not found (CLIENTID_NOT_FOUND, HTTP 404)\n');
  });
});

test('client ids with "/", "#" and spaces reach the right client', async () => {
  const c = await connect(tcpUrl(tern), { clientId: 'site 1/dev#2', clean: true });
  try {
    const shown = await json<{ clientid: string }>(['clients', 'show', 'site 1/dev#2']);
    assert.equal(shown.clientid, 'site 1/dev#2');
  } finally {
    await endAll(c);
  }
});

test('conf show: everything, a section, one key (emqx.conf spelling too); secrets masked', async () => {
  const all = await ok(['conf', 'show']);
  assert.match(all, new RegExp(`^node\\.name = ${tern.config.node.name.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(all, /^dashboard\.default_user\.password = \*{6}$/m);
  assert.match(all, new RegExp(`^listeners\\.tcp\\.external\\.zone = external$`, 'm'));

  const max = String(tern.config.zones.external!.max_mqueue_len);
  assert.equal(await ok(['conf', 'show', 'zones.external.max_mqueue_len']), `${max}\n`);
  assert.equal(await ok(['conf', 'show', 'zone.external.max_mqueue_len']), `${max}\n`);
  assert.equal(await ok(['conf', 'show', 'listener.tcp.internal.zone']), 'internal\n');
  const section = await ok(['conf', 'show', 'zone.internal']);
  assert.match(section, new RegExp(`^zone\\.internal\\.max_mqueue_len = ${tern.config.zones.internal!.max_mqueue_len}$`, 'm'));
  assert.deepEqual(await json(['conf', 'show', 'mqtt.max_qos_allowed']), tern.config.mqtt.max_qos_allowed);
  const whole = await json<{ node: { name: string }; dashboard: { default_user: { password: string } } }>(['conf', 'show']);
  assert.equal(whole.node.name, tern.config.node.name);
  assert.equal(whole.dashboard.default_user.password, '******');

  const unknown = await ctl([...admin, 'conf', 'show', 'zone.external.nope']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'tern ctl: no configuration key zone.external.nope (tern ctl conf show lists them all)\n');
});

test('the package bin runs the same CLI (npx tern ctl ...)', async () => {
  const r = await ctl([...admin, 'status', '--json'], { bin: true });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).node, tern.config.node.name);
});
