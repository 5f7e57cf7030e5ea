// The config source: get() at use time, and a change notification carrying exactly the changed keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConfigSource, diffConfig } from '../../server/config/source.ts';
import { defaultConfig } from '../../server/config/index.ts';

test('replace() notifies subscribers with exactly the changed keys, and get() returns the new value', () => {
  const before = defaultConfig();
  const source = createConfigSource(before);
  const seen: string[][] = [];
  source.onChange((c) => {
    assert.equal(c.previous, before);
    assert.equal(source.get(), c.current);
    seen.push([...c.keys]);
  });
  const next = structuredClone(before);
  next.zones.external!.max_mqueue_len = 5;
  next.allow_anonymous = !before.allow_anonymous;
  next.listeners.find((l) => l.proto === 'tcp' && l.name === 'external')!.port = 2883;
  const change = source.replace(next);
  assert.deepEqual(change.keys, ['allow_anonymous', 'listeners.tcp.external.port', 'zones.external.max_mqueue_len']);
  assert.deepEqual(seen, [['allow_anonymous', 'listeners.tcp.external.port', 'zones.external.max_mqueue_len']]);
  assert.equal(source.get().zones.external!.max_mqueue_len, 5);
});

test('an identical config notifies nobody; a listener reordering is no change', () => {
  const source = createConfigSource(defaultConfig());
  let calls = 0;
  source.onChange(() => calls++);
  const same = structuredClone(source.get());
  same.listeners.reverse();
  assert.deepEqual(source.replace(same).keys, []);
  assert.equal(calls, 0);
});

test('added and removed zones, listeners and list values are named', () => {
  const a = defaultConfig();
  const b = structuredClone(a);
  b.zones.extra = { ...a.zones.external! };
  b.listeners = b.listeners.filter((l) => !(l.proto === 'ws' && l.name === 'external'));
  b.auto_subscriptions = [{ topic: 'x/%c', qos: 1 }];
  const keys = diffConfig(a, b);
  assert.ok(keys.includes('auto_subscriptions'));
  assert.ok(keys.includes('listeners.ws.external'));
  assert.ok(keys.some((k) => k.startsWith('zones.extra')));
});

test('a failing subscriber does not stop the others', () => {
  const errors: unknown[] = [];
  const source = createConfigSource(defaultConfig(), (err) => errors.push(err));
  let second = false;
  source.onChange(() => {
    throw new Error('bad listener');
  });
  source.onChange(() => (second = true));
  const next = structuredClone(source.get());
  next.log.level = 'debug';
  source.replace(next);
  assert.equal(second, true);
  assert.equal(errors.length, 1);
});
