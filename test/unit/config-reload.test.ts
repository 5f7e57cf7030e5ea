// The reload plan (server/config/reload.ts): which emqx.conf keys changed, their class, masked
// values, and the config put in force (restart keys at their old value). Pure: no broker here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../server/config/index.ts';
import { classify, confKeyOf, planReload, RULES } from '../../server/config/reload.ts';
import type { Config } from '../../server/config/types.ts';

function changed(mutate: (c: Config) => void): Config {
  const c = defaultConfig();
  mutate(c);
  return c;
}

test('Config paths map to the emqx.conf keys people edit; a listener address is one key', () => {
  assert.equal(confKeyOf('zones.external.max_mqueue_len'), 'zone.external.max_mqueue_len');
  assert.equal(confKeyOf('listeners.tcp.external.port'), 'listener.tcp.external');
  assert.equal(confKeyOf('listeners.tcp.external.host'), 'listener.tcp.external');
  assert.equal(confKeyOf('listeners.ssl.external.certfile'), 'listener.ssl.external.certfile');
  assert.equal(confKeyOf('dashboard.listener.port'), 'dashboard.listener.http');
  assert.equal(confKeyOf('auth.users'), 'auth.user');
  assert.equal(confKeyOf('auto_subscriptions'), 'module.subscription');
  assert.equal(confKeyOf('mqtt.max_packet_size'), 'mqtt.max_packet_size');
});

test('every key of the default config has a class; only known keys are hot or rebind', () => {
  const restart = ['node.name', 'node.data_dir', 'persistence', 'dashboard.listener.http'];
  for (const key of restart) assert.equal(classify(key).class, 'restart', key);
  for (const key of ['log.level', 'allow_anonymous', 'acl_nomatch', 'acl_file', 'mqtt.max_packet_size', 'mqtt.max_qos_allowed',
    'zone.external.max_mqueue_len', 'zone.anything.idle_timeout', 'broker.sys_interval', 'broker.shared_subscription_strategy',
    'dashboard.default_user.password', 'auth.user', 'auth.client', 'module.subscription', 'config.watch',
    'reload.close_removed_listener_clients']) {
    assert.equal(classify(key).class, 'hot', key);
  }
  for (const key of ['listener.tcp.external', 'listener.ssl.external.certfile', 'listener.ws.x.mqtt_path', 'listener.tcp.external.access']) {
    assert.equal(classify(key).class, 'rebind', key);
  }
  // a key nobody taught the reload about is never reported as applied
  assert.equal(classify('web.hook.url').class, 'restart');
  assert.equal(classify('mqtt.some_future_limit').class, 'restart');
  assert.equal(classify('zone.external.some_future_key').class, 'restart');
  assert.ok(RULES.length > 10);
});

test('the plan lists old and new values, masks secrets, and keeps restart keys at their value in force', () => {
  const current = defaultConfig();
  const next = changed((c) => {
    c.node.data_dir = '/var/lib/tern';
    c.dashboard.listener.port = 28083;
    c.dashboard.default_user.password = 'hunter2';
    c.auth.users = [{ username: 'u1', password: 'p1' }];
    c.zones.external!.max_mqueue_len = 10;
    c.listeners[0]!.port = 2883;
  });
  const plan = planReload(current, next);
  assert.deepEqual(plan.changes, [
    { key: 'auth.user', old: [], new: [{ username: 'u1', password: '******' }], class: 'hot', note: plan.changes[0]!.note },
    { key: 'dashboard.default_user.password', old: '******', new: '******', class: 'hot', note: plan.changes[1]!.note },
    { key: 'dashboard.listener.http', old: '0.0.0.0:18083', new: '0.0.0.0:28083', class: 'restart', note: 'keeps its old value until a restart' },
    {
      key: 'listener.tcp.external', old: '0.0.0.0:1883', new: '0.0.0.0:2883', class: 'rebind',
      note: 'listener moves: it accepts on 0.0.0.0:2883 from now on and no longer on 0.0.0.0:1883; established connections stay',
    },
    { key: 'node.data_dir', old: 'data', new: '/var/lib/tern', class: 'restart', note: 'keeps its old value until a restart' },
    { key: 'zone.external.max_mqueue_len', old: 1000, new: 10, class: 'hot' },
  ]);
  assert.deepEqual(plan.restart_required, ['dashboard.listener.http', 'node.data_dir']);
  assert.equal(plan.effective.node.data_dir, 'data');
  assert.deepEqual(plan.effective.dashboard.listener, { host: '0.0.0.0', port: 18083 });
  assert.equal(plan.effective.zones.external!.max_mqueue_len, 10);
  assert.equal(plan.effective.listeners[0]!.port, 2883);
  assert.equal(plan.effective.dashboard.default_user.password, 'hunter2');
  // the inputs are left alone
  assert.equal(next.node.data_dir, '/var/lib/tern');
  assert.deepEqual(current, defaultConfig());
});

test('zones and listeners added or removed are one change each', () => {
  const next = changed((c) => {
    c.zones.lab = { ...c.zones.external! };
    delete (c.zones as Record<string, unknown>).internal;
    c.listeners = c.listeners.filter((l) => l.name !== 'internal');
    c.listeners.push({ ...c.listeners[0]!, name: 'lab', zone: 'lab', port: 1884 });
  });
  const plan = planReload(defaultConfig(), next);
  assert.deepEqual(plan.changes.map((c) => [c.key, c.class, c.note]), [
    ['listener.tcp.internal', 'rebind', 'listener stops accepting; its clients stay connected until they leave'],
    ['listener.tcp.lab', 'rebind', 'listener starts'],
    ['zone.internal', 'hot', "zone removed: sessions still in it use the external zone's settings"],
    ['zone.lab', 'hot', 'zone added'],
  ]);
});

test('a value the API set wins over the file, and the answer says so', () => {
  const next = changed((c) => {
    c.allow_anonymous = false;
    c.zones.external!.allow_anonymous = false;
  });
  const plan = planReload(defaultConfig(), next, { apiOverrides: { 'zone.external.allow_anonymous': true } });
  assert.deepEqual(plan.changes.map((c) => [c.key, c.note]), [
    ['allow_anonymous', 'zones external keep the value set through the API'],
    ['zone.external.allow_anonymous', 'set through the API to true: the API value stays in force over the file'],
  ]);
});

test('no difference, no change; a TLS file whose content changed is listed under its key', () => {
  assert.deepEqual(planReload(defaultConfig(), defaultConfig()).changes, []);
  const plan = planReload(defaultConfig(), defaultConfig(), { changedFiles: [{ key: 'listener.ssl.external.certfile', file: 'etc/cert.pem' }] });
  assert.deepEqual(plan.changes, [{
    key: 'listener.ssl.external.certfile', old: 'etc/cert.pem', new: 'etc/cert.pem', class: 'rebind',
    note: "the file's content changed: new TLS handshakes use it; established TLS sessions are untouched",
  }]);
});
