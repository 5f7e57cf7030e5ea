// web.hook.* keys: EMQX 4's web hook settings, checked like every other key (file:line, key,
// value, what was expected).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../server/config/index.ts';
import { WEB_HOOK_EVENTS } from '../../server/config/schema.ts';
import { EVENT_NAMES } from '../../server/broker/events.ts';
import { seedDefinition, topicsDifferPerEvent } from '../../server/hooks/seed.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-config-hooks-'));
let n = 0;
function load(...lines: string[]) {
  const file = path.join(tmp, `${++n}.conf`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return loadConfig({ file });
}
function assertError(lines: string[], ...fragments: string[]) {
  const file = path.join(tmp, `${++n}.conf`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  assert.throws(
    () => loadConfig({ file }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      for (const f of fragments) assert.ok(err.message.includes(f.replace('FILE', file)), `${err.message} lacks ${f}`);
      return true;
    },
  );
}

test('web.hook.* keys: url, headers, encoding, rules in event then <n> order, outbox_max', () => {
  const { config, warnings } = load(
    'web.hook.url = http://127.0.0.1:8991/mqtt/webhook',
    'web.hook.headers.authorization = Bearer abc',
    'web.hook.headers.x-tenant = t1',
    'web.hook.body.encoding_of_payload_field = base64',
    'web.hook.rule.message.publish.2 = {"action": "on_message_publish", "topic": "b/#"}',
    'web.hook.rule.message.publish.1 = {"action": "on_message_publish", "topic": "a/#"}',
    'web.hook.rule.client.connected.1 = {"action": "on_client_connected"}',
    'web.hook.outbox_max = 500',
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.web_hook, {
    url: 'http://127.0.0.1:8991/mqtt/webhook',
    headers: { authorization: 'Bearer abc', 'x-tenant': 't1' },
    encoding_of_payload_field: 'base64',
    rules: [
      { event: 'client.connected', action: 'on_client_connected', topic: undefined },
      { event: 'message.publish', action: 'on_message_publish', topic: 'a/#' },
      { event: 'message.publish', action: 'on_message_publish', topic: 'b/#' },
    ],
    outbox_max: 500,
  });
  assert.deepEqual(seedDefinition(config.web_hook), {
    name: 'emqx.conf',
    url: 'http://127.0.0.1:8991/mqtt/webhook',
    events: ['client.connected', 'message.publish'],
    topic_filters: ['a/#', 'b/#'],
    headers: { authorization: 'Bearer abc', 'x-tenant': 't1' },
    payload_encoding: 'base64',
  });
  assert.equal(topicsDifferPerEvent(config.web_hook), false);
});

test('the seed: a message rule without a topic means every topic; differing topics per event are flagged', () => {
  const { config } = load(
    'web.hook.url = http://h/x',
    'web.hook.rule.message.publish.1 = {"action": "on_message_publish", "topic": "a/#"}',
    'web.hook.rule.message.delivered.1 = {"action": "on_message_delivered"}',
  );
  assert.deepEqual(seedDefinition(config.web_hook)?.topic_filters, []);
  assert.equal(topicsDifferPerEvent(config.web_hook), true);
  assert.equal(seedDefinition(load('web.hook.url = http://h/x').config.web_hook), undefined, 'no rules, no hook');
});

test('bad web.hook.* values name file:line, the key, the value and what was expected', () => {
  assertError(['# 1', 'web.hook.url = ftp://x/y'], 'FILE:2: web.hook.url = "ftp://x/y": expected an http:// or https:// URL');
  assertError(['web.hook.body.encoding_of_payload_field = base62'], ':1: ', 'expected one of plain, base64');
  assertError(['web.hook.outbox_max = 0'], 'web.hook.outbox_max = "0": expected an integer of at least 1');
  assertError(['web.hook.url = http://h/x', 'web.hook.rule.client.exploded.1 = {"action": "on_client_exploded"}'], ':2: ', 'unknown hook point "client.exploded"', 'client.connect');
  assertError(['web.hook.url = http://h/x', 'web.hook.rule.client.connected.1 = {"action": "on_client_connect"}'], ':2: ', 'expected "action": "on_client_connected"');
  assertError(['web.hook.url = http://h/x', 'web.hook.rule.client.connected.1 = on_client_connected'], 'expected a JSON object such as {"action": "on_client_connected"}');
  assertError(['web.hook.url = http://h/x', 'web.hook.rule.message.publish.1 = {"action": "on_message_publish", "topic": "a/#/b"}'], 'expected a topic filter');
  assertError(['web.hook.url = http://h/x', 'web.hook.rule.client.connected.1 = {"action": "on_client_connected", "topic": "a"}'], 'only message.* rules filter by topic');
  assertError(['# 1', '# 2', 'web.hook.rule.client.connected.1 = {"action": "on_client_connected"}'], 'FILE:3: web.hook.rule.* needs an endpoint: expected web.hook.url');
});

test('the config knows the same hook points as the event bus; emqx.conf.example documents every web.hook key', () => {
  assert.deepEqual([...WEB_HOOK_EVENTS], [...EVENT_NAMES]);
  const text = fs.readFileSync(path.join(repoRoot, 'emqx.conf.example'), 'utf8');
  for (const key of ['web.hook.url', 'web.hook.headers.authorization', 'web.hook.body.encoding_of_payload_field', 'web.hook.rule.message.publish.1', 'web.hook.outbox_max']) {
    assert.match(text, new RegExp(`^#? ?${key.replaceAll('.', '\\.')} = `, 'm'), key);
  }
  // the commented examples load as written
  const uncommented = text.replace(/^# (web\.hook\.)/gm, '$1');
  const file = path.join(tmp, 'example-uncommented.conf');
  fs.writeFileSync(file, uncommented);
  const { config } = loadConfig({ file });
  assert.equal(config.web_hook.rules.length, 3);
});
