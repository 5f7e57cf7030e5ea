// Where each Config value comes from: the builder learns which Config paths an emqx.conf key
// writes from what its setter does (also for keys whose Config field is spelled differently),
// and valueSources() turns that into default / file / env / api per value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config/index.ts';
import { originsAfterReload, valueSources } from '../../server/config/value-sources.ts';

function load(lines: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-sources-'));
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, loaded: loadConfig({ file, env }) };
}

test('each key is traced to the Config paths its setter writes, however the field is spelled', () => {
  const { file, loaded } = load([
    'log.rotation = off', // 1 → log.rotation.enable
    'log.formatter = json', // 2 → log.format (EMQX 4.3 spelling)
    'broker.sys_topics.allow = superuser', // 3 → broker.sys_topics_allow
    'web.hook.url = http://127.0.0.1:9/h', // 4 → web_hook.url
    'web.hook.headers.x-token = abc', // 5
    'listener.tcp.external = 127.0.0.1:1999', // 6 → host and port
    'listener.tcp.external.max_connections = 10', // 7
    'listener.tcp.external.access.1 = allow all', // 8
    'auth.user.1.username = u', // 9 → auth.users
    'auth.user.1.password = p', // 10
    'module.subscription.1.topic = a/%c', // 11 → auto_subscriptions
    'broker.grp.shared_subscription_strategy = sticky', // 12
    'flapping_detect_policy = 5, 1m, 2m', // 13 → the whole object
    'zone.extra.max_mqueue_len = 5', // 14 → a new zone
  ]);
  const o = loaded.pathOrigins!;
  const at = (n: number) => `${file}:${n}`;
  assert.equal(o['log.rotation.enable'], at(1));
  assert.equal(o['log.format'], at(2));
  assert.equal(o['broker.sys_topics_allow'], at(3));
  assert.equal(o['web_hook.url'], at(4));
  assert.equal(o['web_hook.headers.x-token'], at(5));
  assert.equal(o['listeners.tcp.external.host'], at(6));
  assert.equal(o['listeners.tcp.external.port'], at(6));
  assert.equal(o['listeners.tcp.external.max_connections'], at(7));
  assert.equal(o['listeners.tcp.external.access'], at(8));
  assert.equal(o['auth.users'], at(10));
  assert.equal(o.auto_subscriptions, at(11));
  assert.equal(o['broker.group_strategies.grp'], at(12));
  assert.equal(o.flapping_detect_policy, at(13));
  assert.equal(o['zones.extra.max_mqueue_len'], at(14));
  // tracing changed nothing in what was built
  assert.equal(loaded.config.log.rotation.enable, false);
  assert.equal(loaded.config.listeners.find((l) => l.name === 'external' && l.proto === 'tcp')!.port, 1999);
  assert.deepEqual(loaded.config.flapping_detect_policy, { max_count: 5, window_time: 60_000, ban_time: 120_000 });
  assert.equal(loaded.config.broker.group_strategies.grp, 'sticky');

  const s = valueSources(loaded.config, o);
  assert.deepEqual(s['flapping_detect_policy.window_time'], { source: 'file', where: at(13) }, 'a field of an object one line set');
  assert.deepEqual(s['zones.extra.idle_timeout'], { source: 'default' }, 'the other keys of a zone a line created');
  assert.deepEqual(s['listeners.tcp.external.zone'], { source: 'default' });
  assert.deepEqual(s['auth.users'], { source: 'file', where: at(10) });
});

test('the environment wins over the file and is named; API paths win over both', () => {
  const { file, loaded } = load(['zone.external.idle_timeout = 20s', 'node.name = a@127.0.0.1'], { EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT: '30s' });
  const s = valueSources(loaded.config, loaded.pathOrigins!, ['zones.external.allow_anonymous']);
  assert.deepEqual(s['zones.external.idle_timeout'], { source: 'env', where: 'EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT' });
  assert.deepEqual(s['node.name'], { source: 'file', where: `${file}:2` });
  assert.deepEqual(s['zones.external.allow_anonymous'], { source: 'api' });
  assert.deepEqual(s['mqtt.max_packet_size'], { source: 'default' });
});

test('after a reload: the new origins, except where the old value stays until a restart', () => {
  const before = { 'node.name': 'f:1', 'mqtt.max_packet_size': 'f:2' };
  const after = { 'node.name': 'f:3', 'zones.external.max_mqueue_len': 'f:4' };
  assert.deepEqual({ ...originsAfterReload(before, after, (p) => p === 'node.name') }, { 'node.name': 'f:1', 'zones.external.max_mqueue_len': 'f:4' });
});
