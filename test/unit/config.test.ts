import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, configFileFromArgs, defaultConfig, loadConfig } from '../../server/config/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-config-'));
let fileCount = 0;

/** Writes `lines` to a fresh emqx.conf in its own temp dir and returns its path. */
function confFile(...lines: string[]): string {
  const dir = path.join(tmp, String(++fileCount));
  fs.mkdirSync(dir);
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function load(lines: string[], env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ file: confFile(...lines), env });
}

/** Asserts a ConfigError whose message contains every fragment; returns the message. */
function assertConfigError(fn: () => unknown, ...fragments: string[]): string {
  let message = '';
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    message = err.message;
    for (const f of fragments) assert.ok(message.includes(f), `message ${JSON.stringify(message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
  return message;
}

/** Loads one bad line (after a comment, so it's line 2) and checks file:line, key, value, expectation. */
function assertBadLine(line: string, key: string, value: string, expected: string): void {
  const file = confFile('# line 1', line);
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, key, JSON.stringify(value), `expected ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// routing and $SYS keys

test('broker.<group>.shared_subscription_strategy overrides per group; broker.sys_topics.allow is a list', () => {
  const { config, warnings } = load([
    'broker.shared_subscription_strategy = sticky',
    'broker.jobs.shared_subscription_strategy = round_robin',
    'broker.g-2.shared_subscription_strategy = hash_topic',
    'broker.constructor.shared_subscription_strategy = random',
    'broker.sys_topics.allow = superuser, all',
  ]);
  assert.deepEqual(warnings, []);
  assert.equal(config.broker.shared_subscription_strategy, 'sticky');
  assert.deepEqual({ ...config.broker.group_strategies }, { jobs: 'round_robin', 'g-2': 'hash_topic', constructor: 'random' });
  assert.deepEqual(config.broker.sys_topics_allow, ['superuser', 'all']);
  assert.deepEqual(load(['broker.sys_topics.allow = none']).config.broker.sys_topics_allow, []);
  assert.equal(load([], { EMQX_BROKER__SYS_TOPICS__ALLOW: 'all' }).config.broker.sys_topics_allow[0], 'all');
});

// ---------------------------------------------------------------------------------------------
// defaults

test('no file and no env gives the documented defaults', () => {
  const { config, file, warnings } = loadConfig({});
  assert.equal(file, undefined);
  assert.deepEqual(warnings, []);
  assert.deepStrictEqual(config, defaultConfig());
  assert.equal(config.node.name, 'tern@127.0.0.1');
  assert.equal(config.node.data_dir, 'data');
  assert.equal(config.log.level, 'info');
  assert.equal(config.allow_anonymous, true);
  assert.equal(config.acl_nomatch, 'allow');
  assert.equal(config.acl_file, undefined);
  assert.equal(config.acl_deny_action, 'ignore');
  assert.equal(config.acl_cache_max_size, 32);
  assert.equal(config.acl_cache_ttl, 60_000);
  assert.deepEqual(config.flapping_detect_policy, { max_count: 30, window_time: 60_000, ban_time: 300_000 });
  assert.deepEqual(config.audit, { max_rows: 10_000 });
  assert.equal(config.persistence, 'sqlite');
  assert.deepEqual(config.mqtt, {
    max_packet_size: 1048576, max_clientid_len: 65535, max_topic_levels: 128, max_qos_allowed: 2,
    retain_available: true, wildcard_subscription: true, shared_subscription: true,
  });
  assert.deepEqual(config.zones.external, {
    allow_anonymous: undefined, idle_timeout: 15000, max_subscriptions: 0, max_inflight: 32,
    retry_interval: 30000, max_awaiting_rel: 100, await_rel_timeout: 300000,
    session_expiry_interval: 7200000, max_mqueue_len: 1000, mqueue_store_qos0: true,
    acl_deny_action: undefined, enable_flapping_detect: false,
  });
  assert.deepEqual(config.zones.internal, {
    ...config.zones.external, allow_anonymous: true, max_inflight: 128, max_mqueue_len: 10000,
  });
  assert.deepEqual(
    config.listeners.map((l) => `${l.proto}.${l.name} ${l.host}:${l.port} ${l.zone} ${l.mqtt_path} ${l.keyfile}`),
    [
      'tcp.external 0.0.0.0:1883 external /mqtt undefined',
      'tcp.internal 127.0.0.1:11883 internal /mqtt undefined',
      'ws.external 0.0.0.0:8083 external /mqtt undefined',
      'ssl.external 0.0.0.0:8883 external /mqtt undefined',
      'wss.external 0.0.0.0:8084 external /mqtt undefined',
    ],
  );
  assert.deepEqual(config.broker, {
    sys_interval: 60000,
    sys_heartbeat: 30000,
    shared_subscription_strategy: 'random',
    group_strategies: {},
    sys_topics_allow: ['internal_zone', 'superuser', 'dashboard'],
  });
  assert.deepEqual(config.dashboard, {
    listener: { host: '0.0.0.0', port: 18083 },
    default_user: { login: 'admin', password: 'public' },
    base_path: '/',
  });
  assert.deepEqual(config.auth, { users: [], clientids: [] });
  assert.deepEqual(config.auto_subscriptions, []);
});

test('defaultConfig() returns a fresh object each call', () => {
  const a = defaultConfig();
  a.zones.external!.max_inflight = 1;
  a.listeners.pop();
  assert.equal(defaultConfig().zones.external!.max_inflight, 32);
  assert.equal(defaultConfig().listeners.length, 5);
});

test('emqx.conf.example loads with zero warnings and equals defaultConfig()', () => {
  const example = path.join(repoRoot, 'emqx.conf.example');
  const { config, warnings } = loadConfig({ file: example });
  assert.deepEqual(warnings, []);
  assert.deepStrictEqual(config, defaultConfig());

  // and the same when copied to ./emqx.conf, as the README tells people to do
  const dir = fs.mkdtempSync(path.join(tmp, 'example-'));
  fs.copyFileSync(example, path.join(dir, 'emqx.conf'));
  const file = configFileFromArgs([], dir);
  assert.equal(file, path.join(dir, 'emqx.conf'));
  assert.deepEqual(loadConfig({ file }).warnings, []);
});

test('emqx.conf.example mentions every key the loader reads', () => {
  const text = fs.readFileSync(path.join(repoRoot, 'emqx.conf.example'), 'utf8');
  for (const key of [
    'node.name', 'node.data_dir', 'log.level', 'persistence', 'allow_anonymous', 'acl_nomatch', 'acl_file',
    'auth.user.1.username', 'auth.user.1.password', 'auth.client.1.clientid',
    'mqtt.max_packet_size', 'mqtt.max_clientid_len', 'mqtt.max_topic_levels', 'mqtt.max_qos_allowed',
    'mqtt.retain_available', 'mqtt.wildcard_subscription', 'mqtt.shared_subscription',
    'zone.external.allow_anonymous', 'zone.external.idle_timeout', 'zone.external.max_subscriptions',
    'zone.external.max_inflight', 'zone.external.retry_interval', 'zone.external.max_awaiting_rel',
    'zone.external.await_rel_timeout', 'zone.external.session_expiry_interval',
    'zone.external.max_mqueue_len', 'zone.external.mqueue_store_qos0',
    'acl_deny_action', 'acl_cache_max_size', 'acl_cache_ttl', 'flapping_detect_policy', 'audit.max_rows',
    'zone.external.acl_deny_action', 'zone.external.enable_flapping_detect',
    'listener.tcp.external.zone', 'listener.tcp.external.max_connections', 'listener.tcp.external.max_conn_rate',
    'listener.tcp.external.access.1', 'listener.ws.external.mqtt_path', 'listener.ssl.external.keyfile',
    'listener.ssl.external.certfile', 'listener.ssl.external.cacertfile', 'listener.wss.external.keyfile',
    'broker.sys_interval', 'broker.sys_heartbeat', 'broker.shared_subscription_strategy',
    'broker.example_group.shared_subscription_strategy', 'broker.sys_topics.allow',
    'module.subscription.1.topic', 'module.subscription.1.qos',
    'dashboard.listener.http', 'dashboard.default_user.login', 'dashboard.default_user.password',
    'config.watch', 'reload.close_removed_listener_clients',
    'dashboard.base_path',
  ]) {
    assert.match(text, new RegExp(`^#? ?${key.replaceAll('.', '\\.')} = `, 'm'), key);
  }
});

// ---------------------------------------------------------------------------------------------
// good files

test('booleans: on, off, true, false', () => {
  const { config, warnings } = load([
    'allow_anonymous = off',
    'mqtt.retain_available = false',
    'mqtt.wildcard_subscription = on',
    'mqtt.shared_subscription = true',
  ]);
  assert.deepEqual(warnings, []);
  assert.equal(config.allow_anonymous, false);
  assert.equal(config.mqtt.retain_available, false);
  assert.equal(config.mqtt.wildcard_subscription, true);
  assert.equal(config.mqtt.shared_subscription, true);
});

test('durations: units, combinations, bare milliseconds, 0 where allowed', () => {
  const { config } = load([
    'zone.external.idle_timeout = 500ms',
    'zone.external.retry_interval = 15s',
    'zone.external.await_rel_timeout = 2m',
    'zone.external.session_expiry_interval = 7d',
    'zone.internal.idle_timeout = 1h30m',
    'zone.internal.retry_interval = 2500',
    'zone.internal.session_expiry_interval = 0',
    'broker.sys_interval = 1h',
    'broker.sys_heartbeat = 0',
  ]);
  assert.equal(config.zones.external!.idle_timeout, 500);
  assert.equal(config.zones.external!.retry_interval, 15_000);
  assert.equal(config.zones.external!.await_rel_timeout, 120_000);
  assert.equal(config.zones.external!.session_expiry_interval, 7 * 86_400_000);
  assert.equal(config.zones.internal!.idle_timeout, 5_400_000);
  assert.equal(config.zones.internal!.retry_interval, 2500);
  assert.equal(config.zones.internal!.session_expiry_interval, 0);
  assert.equal(config.broker.sys_interval, 3_600_000);
  assert.equal(config.broker.sys_heartbeat, 0);
});

test('sizes: KB/K, MB, bare bytes', () => {
  const sizeOf = (v: string) => load([`mqtt.max_packet_size = ${v}`]).config.mqtt.max_packet_size;
  assert.equal(sizeOf('64KB'), 65536);
  assert.equal(sizeOf('64K'), 65536);
  assert.equal(sizeOf('64kb'), 65536);
  assert.equal(sizeOf('2MB'), 2 * 1048576);
  assert.equal(sizeOf('255M'), 255 * 1048576);
  assert.equal(sizeOf('512'), 512);
});

test('integers, enums and strings', () => {
  const { config, warnings } = load([
    'node.name = broker1@10.0.0.5',
    'node.data_dir = /var/lib/tern',
    'log.level = debug',
    'acl_nomatch = deny',
    'persistence = memory',
    'mqtt.max_clientid_len = 23',
    'mqtt.max_topic_levels = 0',
    'mqtt.max_qos_allowed = 1',
    'zone.external.max_inflight = 65535',
    'zone.external.max_subscriptions = 10',
    'zone.external.max_mqueue_len = 0',
    'zone.external.mqueue_store_qos0 = false',
    'broker.shared_subscription_strategy = hash_clientid',
    'dashboard.listener.http = 127.0.0.1:0',
    'dashboard.default_user.login = root',
    'dashboard.default_user.password = s3cret=with=equals',
  ]);
  assert.deepEqual(warnings, []);
  assert.equal(config.node.name, 'broker1@10.0.0.5');
  assert.equal(config.node.data_dir, '/var/lib/tern');
  assert.equal(config.log.level, 'debug');
  assert.equal(config.acl_nomatch, 'deny');
  assert.equal(config.persistence, 'memory');
  assert.equal(config.mqtt.max_clientid_len, 23);
  assert.equal(config.mqtt.max_topic_levels, 0);
  assert.equal(config.mqtt.max_qos_allowed, 1);
  assert.equal(config.zones.external!.max_inflight, 65535);
  assert.equal(config.zones.external!.max_subscriptions, 10);
  assert.equal(config.zones.external!.max_mqueue_len, 0);
  assert.equal(config.zones.external!.mqueue_store_qos0, false);
  assert.equal(config.broker.shared_subscription_strategy, 'hash_clientid');
  assert.deepEqual(config.dashboard.listener, { host: '127.0.0.1', port: 0 });
  assert.deepEqual(config.dashboard.default_user, { login: 'root', password: 's3cret=with=equals' });
});

test("EMQX 4's log level names are accepted", () => {
  assert.equal(load(['log.level = warning']).config.log.level, 'warn');
  assert.equal(load(['log.level = notice']).config.log.level, 'info');
  assert.equal(load(['log.level = none']).config.log.level, 'silent');
});

test('comments, blank lines, CRLF, quotes, "#" inside values, duplicates (last wins)', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'crlf-'));
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(
    file,
    [
      '\uFEFF## header comment',
      '',
      '   # indented comment',
      'node.data_dir = first',
      'node.data_dir = second   # trailing comment wins over nothing',
      'dashboard.default_user.password = pa#ss',
      'dashboard.default_user.login = "  spaced # not a comment "  # a real comment',
      'module.subscription.1.topic = a/#',
      'module.subscription.2.topic = #',
      'log.level=debug',
      '\tallow_anonymous\t=\toff\t',
    ].join('\r\n'),
  );
  const { config, warnings } = loadConfig({ file });
  assert.deepEqual(warnings, []);
  assert.equal(config.node.data_dir, 'second');
  assert.equal(config.dashboard.default_user.password, 'pa#ss');
  assert.equal(config.dashboard.default_user.login, '  spaced # not a comment ');
  assert.deepEqual(config.auto_subscriptions.map((s) => s.topic), ['a/#', '#']);
  assert.equal(config.log.level, 'debug');
  assert.equal(config.allow_anonymous, false);
});

test('zones: any name, new zones start from the external defaults, built-ins keep theirs', () => {
  const { config, warnings } = load([
    'zone.external.max_inflight = 64',
    'zone.iot.allow_anonymous = false',
    'zone.iot.max_mqueue_len = 5',
    'zone.internal.idle_timeout = 5s',
  ]);
  assert.deepEqual(warnings, []);
  assert.deepEqual(Object.keys(config.zones), ['external', 'internal', 'iot']);
  assert.equal(config.zones.external!.max_inflight, 64);
  // built-in external defaults, not the file's modified external zone
  assert.deepEqual(config.zones.iot, { ...defaultConfig().zones.external, allow_anonymous: false, max_mqueue_len: 5 });
  assert.deepEqual(config.zones.internal, { ...defaultConfig().zones.internal, idle_timeout: 5000 });
});

test('listeners: addresses, sub-keys, new listeners, access rules, off', () => {
  const certDir = fs.mkdtempSync(path.join(tmp, 'certs-'));
  const key = path.join(certDir, 'key.pem');
  const cert = path.join(certDir, 'cert.pem');
  const ca = path.join(certDir, 'ca.pem');
  for (const f of [key, cert, ca]) fs.writeFileSync(f, 'pem');

  const { config, warnings } = load([
    'listener.tcp.external = 0',
    'listener.tcp.external.max_connections = 1000',
    'listener.tcp.external.max_conn_rate = 50',
    'listener.tcp.external.access.2 = allow all',
    'listener.tcp.external.access.1 = deny   192.168.0.0/24',
    'listener.tcp.internal = off',
    'listener.ws.external = 127.0.0.1:0',
    'listener.ws.external.mqtt_path = /ws/mqtt',
    `listener.ssl.external = [::1]:0`,
    `listener.ssl.external.keyfile = ${key}`,
    `listener.ssl.external.certfile = ${cert}`,
    `listener.ssl.external.cacertfile = ${ca}`,
    'listener.tcp.devices.zone = iot', // sub-key before the address: order doesn't matter
    'listener.tcp.devices = 10.1.2.3:0',
    'zone.iot.max_inflight = 8',
  ]);
  assert.deepEqual(warnings, []);
  const byId = new Map(config.listeners.map((l) => [`${l.proto}.${l.name}`, l]));
  assert.deepEqual([...byId.keys()], ['tcp.external', 'ws.external', 'ssl.external', 'wss.external', 'tcp.devices']);
  assert.deepEqual(byId.get('tcp.external'), {
    proto: 'tcp', name: 'external', host: '0.0.0.0', port: 0, zone: 'external',
    max_connections: 1000, max_conn_rate: 50, mqtt_path: '/mqtt',
    access: ['deny 192.168.0.0/24', 'allow all'],
  });
  assert.equal(byId.get('ws.external')!.host, '127.0.0.1');
  assert.equal(byId.get('ws.external')!.mqtt_path, '/ws/mqtt');
  assert.deepEqual(
    (({ host, keyfile, certfile, cacertfile }) => ({ host, keyfile, certfile, cacertfile }))(byId.get('ssl.external')!),
    { host: '::1', keyfile: key, certfile: cert, cacertfile: ca },
  );
  assert.equal(byId.get('tcp.devices')!.zone, 'iot');
  assert.equal(byId.get('tcp.devices')!.host, '10.1.2.3');
});

test('auth seeds and auto-subscriptions come out in <n> order; templates are kept verbatim', () => {
  const { config, warnings } = load([
    'auth.user.10.username = zed',
    'auth.user.10.password = zpass',
    'auth.user.2.password = apass',
    'auth.user.2.username = alice',
    'auth.client.7.clientid = dev-7',
    'auth.client.3.clientid = dev-3',
    'module.subscription.2.topic = client/${clientid}/cmd',
    'module.subscription.2.qos = 2',
    'module.subscription.1.topic = client/%c/inbox',
    'module.subscription.1.qos = 1',
    'module.subscription.3.topic = user/%u/+/status',
  ]);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.auth.users, [
    { username: 'alice', password: 'apass' },
    { username: 'zed', password: 'zpass' },
  ]);
  assert.deepEqual(config.auth.clientids, ['dev-3', 'dev-7']);
  assert.deepEqual(config.auto_subscriptions, [
    { topic: 'client/%c/inbox', qos: 1 },
    { topic: 'client/${clientid}/cmd', qos: 2 },
    { topic: 'user/%u/+/status', qos: 0 },
  ]);
});

// ---------------------------------------------------------------------------------------------
// warnings

test('unknown keys are warnings naming file:line and are ignored', () => {
  const file = confFile('# comment', 'node.data_dir = x', '', '', '', '', 'foo.bar = 1', 'zone.external.force_gc_policy = 16000|16MB');
  const { config, warnings } = loadConfig({ file });
  assert.deepEqual(warnings, [
    `${file}:7: unknown key "foo.bar" (ignored)`,
    `${file}:8: unknown key "zone.external.force_gc_policy" (ignored)`,
  ]);
  assert.equal(config.node.data_dir, 'x');
});

test('an unknown zone sub-key does not create the zone; an unknown listener sub-key does not create a listener', () => {
  const { config, warnings } = load(['zone.ghost.enable_stats = on', 'listener.tcp.ghost.acceptors = 8']);
  assert.equal(warnings.length, 2);
  assert.equal(Object.hasOwn(config.zones, 'ghost'), false);
  assert.equal(config.listeners.some((l) => l.name === 'ghost'), false);
});

test('a sub-key for the wrong listener kind, or half a TLS pair, is a warning', () => {
  const certDir = fs.mkdtempSync(path.join(tmp, 'half-'));
  const key = path.join(certDir, 'key.pem');
  fs.writeFileSync(key, 'pem');
  const file = confFile('listener.tcp.external.mqtt_path = /x', `listener.ssl.external.keyfile = ${key}`);
  const { config, warnings } = loadConfig({ file });
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /:1: listener\.tcp\.external\.mqtt_path only applies to ws\/wss listeners \(ignored\)$/);
  assert.match(warnings[1]!, /listener\.ssl\.external has keyfile but no certfile; it will not start/);
  assert.equal(config.listeners[0]!.mqtt_path, '/mqtt');
});

// ---------------------------------------------------------------------------------------------
// errors

test('malformed lines: no "=", empty key, bad key characters, unterminated quote', () => {
  let file = confFile('# ok', 'node.name tern@host');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'expected "key = value"', '"node.name tern@host"');
  file = confFile('', ' = 5');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'missing key');
  file = confFile('', 'Node.Name = x');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'invalid key "Node.Name"', 'expected lowercase');
  file = confFile('', 'zone..idle_timeout = 5s');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'invalid key "zone..idle_timeout"');
  file = confFile('', 'zone.__proto__.idle_timeout = 5s');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'invalid key');
  file = confFile('', 'node.data_dir = "abc');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'node.data_dir', 'expected a closing quote');
});

test('the error message has the documented shape', () => {
  const file = confFile(...Array.from({ length: 11 }, () => '#'), 'zone.external.idle_timeout = abc');
  assertConfigError(
    () => loadConfig({ file }),
    `${file}:12: zone.external.idle_timeout = "abc": expected a duration such as 15s, 2m, 1h`,
  );
});

test('bad values name file:line, key, value and what was expected', () => {
  assertBadLine('allow_anonymous = yes', 'allow_anonymous', 'yes', 'on, off, true or false');
  assertBadLine('zone.external.mqueue_store_qos0 = 1', 'zone.external.mqueue_store_qos0', '1', 'on, off, true or false');
  assertBadLine('zone.external.idle_timeout = 15 s', 'zone.external.idle_timeout', '15 s', 'a duration such as 15s');
  assertBadLine('zone.external.retry_interval = 1y', 'zone.external.retry_interval', '1y', 'a duration such as 15s');
  assertBadLine('zone.external.idle_timeout = 0', 'zone.external.idle_timeout', '0', 'a duration greater than 0');
  assertBadLine('mqtt.max_packet_size = 1TB', 'mqtt.max_packet_size', '1TB', 'a size such as 64KB, 1MB');
  assertBadLine('mqtt.max_packet_size = 0', 'mqtt.max_packet_size', '0', 'a size from 1 byte to');
  assertBadLine('mqtt.max_packet_size = 1GB', 'mqtt.max_packet_size', '1GB', 'a size from 1 byte to 268435455 bytes');
  assertBadLine('listener.tcp.external = 70000', 'listener.tcp.external', '70000', '[ip:]port with a port from 0 to 65535');
  assertBadLine('listener.tcp.external = 0.0.0.0:-1', 'listener.tcp.external', '0.0.0.0:-1', '[ip:]port with a port from 0 to 65535');
  assertBadLine('listener.tcp.external = localhost:1883', 'listener.tcp.external', 'localhost:1883', '[ip:]port such as 1883');
  assertBadLine('listener.tcp.external = [nope]:1883', 'listener.tcp.external', '[nope]:1883', 'an IPv6 address inside [ ]');
  assertBadLine('dashboard.listener.http = abc', 'dashboard.listener.http', 'abc', '[ip:]port with a port from 0 to 65535');
  assertBadLine('mqtt.max_qos_allowed = 3', 'mqtt.max_qos_allowed', '3', 'a QoS of 0, 1 or 2');
  assertBadLine('module.subscription.1.qos = 5', 'module.subscription.1.qos', '5', 'a QoS of 0, 1 or 2');
  assertBadLine('zone.external.max_inflight = 0', 'zone.external.max_inflight', '0', 'an integer from 1 to 65535');
  assertBadLine('zone.external.max_inflight = 70000', 'zone.external.max_inflight', '70000', 'an integer from 1 to 65535');
  assertBadLine('zone.external.max_mqueue_len = -1', 'zone.external.max_mqueue_len', '-1', 'an integer of at least 0');
  assertBadLine('mqtt.max_clientid_len = 1.5', 'mqtt.max_clientid_len', '1.5', 'an integer from 1 to 65535');
  assertBadLine('persistence = redis', 'persistence', 'redis', 'one of memory, sqlite');
  assertBadLine('acl_nomatch = maybe', 'acl_nomatch', 'maybe', 'one of allow, deny');
  assertBadLine('log.level = loud', 'log.level', 'loud', 'one of trace, debug, info');
  assertBadLine('broker.shared_subscription_strategy = first', 'broker.shared_subscription_strategy', 'first', 'one of random, round_robin, round_robin_per_group, sticky, hash_clientid, hash_topic');
  assertBadLine('broker.g1.shared_subscription_strategy = first', 'broker.g1.shared_subscription_strategy', 'first', 'one of random, round_robin, round_robin_per_group');
  assertBadLine('broker.sys_topics.allow = internal_zone,everyone', 'broker.sys_topics.allow', 'internal_zone,everyone', 'a comma-separated list of internal_zone, superuser, dashboard, all (or none)');
  assertBadLine('node.name = tern', 'node.name', 'tern', 'a node name such as tern@127.0.0.1');
  assertBadLine('node.data_dir = ', 'node.data_dir', '', 'a non-empty value');
  assertBadLine('listener.ws.external.mqtt_path = mqtt', 'listener.ws.external.mqtt_path', 'mqtt', 'a path starting with "/"');
  assertBadLine('listener.tcp.external.access.1 = permit all', 'listener.tcp.external.access.1', 'permit all', 'an access rule such as "allow all"');
  assertBadLine('listener.tcp.external.access.1 = deny 10.0.0.0/40', 'listener.tcp.external.access.1', 'deny 10.0.0.0/40', 'an access rule');
  assertBadLine('module.subscription.1.topic = a/#/b', 'module.subscription.1.topic', 'a/#/b', 'a topic filter');
  assertBadLine('module.subscription.1.topic = a/b+', 'module.subscription.1.topic', 'a/b+', 'a topic filter');
  assertBadLine('auth.user.1.password = ', 'auth.user.1.password', '', 'a non-empty value');
  assertBadLine('listener.ssl.external.keyfile = /no/such/key.pem', 'listener.ssl.external.keyfile', '/no/such/key.pem', 'an existing file');
  assertBadLine('acl_file = /no/such/acl.conf', 'acl_file', '/no/such/acl.conf', 'an existing file');
  assertBadLine('acl_deny_action = drop', 'acl_deny_action', 'drop', 'one of ignore, disconnect');
  assertBadLine('zone.external.acl_deny_action = kick', 'zone.external.acl_deny_action', 'kick', 'one of ignore, disconnect');
  assertBadLine('acl_cache_max_size = -1', 'acl_cache_max_size', '-1', 'an integer from 0 to 1000000');
  assertBadLine('acl_cache_ttl = soon', 'acl_cache_ttl', 'soon', 'a duration such as 15s');
  assertBadLine('flapping_detect_policy = 30, 1m', 'flapping_detect_policy', '30, 1m', 'three values "<max disconnects>, <window>, <ban time>"');
  assertBadLine('flapping_detect_policy = 30, 0, 5m', 'flapping_detect_policy', '30, 0, 5m', 'three values');
  assertBadLine('zone.external.enable_flapping_detect = yes', 'zone.external.enable_flapping_detect', 'yes', 'on, off, true or false');
  assertBadLine('audit.max_rows = 0', 'audit.max_rows', '0', 'an integer from 1 to 100000000');
});

test('ACL, flapping and audit keys', () => {
  const { config, warnings } = load([
    'acl_deny_action = disconnect',
    'acl_cache_max_size = 0',
    'acl_cache_ttl = 30s',
    'flapping_detect_policy = 10, 30s, 1h',
    'zone.external.enable_flapping_detect = on',
    'zone.internal.acl_deny_action = ignore',
    'audit.max_rows = 500',
  ]);
  assert.deepEqual(warnings, []);
  assert.equal(config.acl_deny_action, 'disconnect');
  assert.equal(config.acl_cache_max_size, 0);
  assert.equal(config.acl_cache_ttl, 30_000);
  assert.deepEqual(config.flapping_detect_policy, { max_count: 10, window_time: 30_000, ban_time: 3_600_000 });
  assert.equal(config.zones.external!.enable_flapping_detect, true);
  assert.equal(config.zones.external!.acl_deny_action, undefined);
  assert.equal(config.zones.internal!.acl_deny_action, 'ignore');
  assert.equal(config.audit.max_rows, 500);
});

test('a listener referencing an undefined zone is an error at its .zone line', () => {
  const file = confFile('listener.tcp.external = 1883', 'listener.tcp.external.zone = nope');
  assertConfigError(
    () => loadConfig({ file }),
    `${file}:2: listener.tcp.external.zone = "nope": expected a defined zone (external, internal)`,
    'zone.nope.',
  );
  // defining the zone anywhere in the file fixes it
  const ok = load(['listener.tcp.external.zone = nope', 'zone.nope.max_inflight = 1']);
  assert.equal(ok.config.listeners[0]!.zone, 'nope');
});

test('cross-key errors: listener without address, incomplete auth user, subscription without topic, port clash', () => {
  let file = confFile('listener.tcp.extra.max_connections = 5');
  assertConfigError(() => loadConfig({ file }), `${file}:1: `, 'listener.tcp.extra has settings but no address', 'expected a line "listener.tcp.extra = [ip:]port"');
  file = confFile('auth.user.3.username = bob');
  assertConfigError(() => loadConfig({ file }), `${file}:1: `, 'auth.user.3 has no password', 'expected auth.user.3.password');
  file = confFile('auth.user.3.password = pw');
  assertConfigError(() => loadConfig({ file }), `${file}:1: `, 'auth.user.3 has no username');
  file = confFile('#', 'module.subscription.4.qos = 1');
  assertConfigError(() => loadConfig({ file }), `${file}:2: `, 'module.subscription.4 has no topic');
  file = confFile('#', 'listener.ws.external = 1883');
  assertConfigError(() => loadConfig({ file }), `${file}:2: listener.ws.external = 0.0.0.0:1883: expected a port not already used by listener.tcp.external`);
  file = confFile('dashboard.listener.http = 127.0.0.1:11883');
  assertConfigError(() => loadConfig({ file }), `${file}:1: dashboard.listener.http`, 'listener.tcp.internal');
  // different specific hosts, port 0, and TLS listeners that don't start never clash
  const ok = load([
    'listener.tcp.external = 127.0.0.1:1883',
    'listener.tcp.other = 127.0.0.2:1883',
    'listener.ws.external = 0',
    'listener.tcp.internal = 0',
    'listener.ssl.external = 8083',
  ]);
  assert.deepEqual(ok.warnings, []);
});

test('a file that cannot be read is a ConfigError', () => {
  assertConfigError(() => loadConfig({ file: path.join(tmp, 'missing.conf') }), 'cannot read config file', 'missing.conf');
});

// ---------------------------------------------------------------------------------------------
// environment

test('EMQX_* env overrides win over the file', () => {
  const { config, warnings } = load(
    ['listener.tcp.external = 1883', 'node.data_dir = /from/file', 'zone.external.allow_anonymous = true'],
    {
      EMQX_LISTENER__TCP__EXTERNAL: '127.0.0.1:2883',
      EMQX_NODE__DATA_DIR: '/tmp/x',
      EMQX_ZONE__EXTERNAL__ALLOW_ANONYMOUS: 'false',
      EMQX_LISTENER__TCP__INTERNAL: 'off',
      EMQX_AUTH__USER__1__USERNAME: 'envuser',
      EMQX_AUTH__USER__1__PASSWORD: 'envpass',
      PATH: '/usr/bin', // not ours: ignored silently
    },
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    (({ host, port }) => ({ host, port }))(config.listeners.find((l) => l.proto === 'tcp' && l.name === 'external')!),
    { host: '127.0.0.1', port: 2883 },
  );
  assert.equal(config.listeners.some((l) => l.name === 'internal'), false);
  assert.equal(config.node.data_dir, '/tmp/x');
  assert.equal(config.zones.external!.allow_anonymous, false);
  assert.deepEqual(config.auth.users, [{ username: 'envuser', password: 'envpass' }]);
});

test('env overrides apply without a file', () => {
  const { config, file } = loadConfig({ env: { EMQX_PERSISTENCE: 'memory', EMQX_BROKER__SYS_INTERVAL: '10s' } });
  assert.equal(file, undefined);
  assert.equal(config.persistence, 'memory');
  assert.equal(config.broker.sys_interval, 10_000);
});

test('env errors name the variable', () => {
  assertConfigError(
    () => loadConfig({ env: { EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT: 'abc' } }),
    'env EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT: zone.external.idle_timeout = "abc": expected a duration',
  );
  assertConfigError(
    () => loadConfig({ env: { EMQX_LISTENER__TCP__EXTERNAL__ZONE: 'nope' } }),
    'env EMQX_LISTENER__TCP__EXTERNAL__ZONE: listener.tcp.external.zone = "nope": expected a defined zone',
  );
});

test('unknown EMQX_* variables are warnings naming the variable', () => {
  const { warnings } = loadConfig({ env: { EMQX_FOO__BAR: '1', EMQX_NODE_NAME: 'x@y', EMQX___: 'z' } });
  assert.deepEqual(warnings, [
    'env EMQX___: does not map to a config key (ignored)',
    'env EMQX_FOO__BAR: unknown key "foo.bar" (ignored)',
    'env EMQX_NODE_NAME: unknown key "node_name" (ignored)',
  ]);
});

// ---------------------------------------------------------------------------------------------
// configFileFromArgs

test('configFileFromArgs: --config <path>, --config=<path>, ./emqx.conf, or nothing', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'args-'));
  const conf = path.join(dir, 'my.conf');
  fs.writeFileSync(conf, '');

  assert.equal(configFileFromArgs([], dir), undefined);
  assert.equal(configFileFromArgs(['--config', conf], '/'), conf);
  assert.equal(configFileFromArgs(['--other', '--config=my.conf'], dir), conf);
  assert.equal(configFileFromArgs(['--config', 'my.conf'], dir), conf);

  fs.writeFileSync(path.join(dir, 'emqx.conf'), '');
  assert.equal(configFileFromArgs(['start'], dir), path.join(dir, 'emqx.conf'));
  // an explicit --config beats ./emqx.conf
  assert.equal(configFileFromArgs(['--config=my.conf'], dir), conf);

  assertConfigError(() => configFileFromArgs(['--config', 'nope.conf'], dir), '--config nope.conf', path.join(dir, 'nope.conf'), 'does not exist');
  assertConfigError(() => configFileFromArgs(['--config=' + dir], dir), 'is not a file');
  assertConfigError(() => configFileFromArgs(['--config'], dir), '--config needs a path');
  assertConfigError(() => configFileFromArgs(['--config='], dir), '--config needs a path');
});
