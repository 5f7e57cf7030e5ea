// The pure parts of routing and $SYS: strategies, shared-topic parsing, templates, $SYS texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, pickMember, type PickState } from '../../server/broker/routing/strategies.ts';
import { parseShared } from '../../server/broker/topic.ts';
import { expandTemplate, templateProblem } from '../../server/broker/routing/broker-subscriptions.ts';
import { datetimeText, uptimeText } from '../../server/broker/sys/sys-publisher.ts';
import { mayReadSys } from '../../server/broker/sys/sys-topics.ts';
import { defaultConfig } from '../../server/config/defaults.ts';
import type { ClientContext } from '../../server/broker/core/hook-chain.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => ({ clientId: `c${i}` }));
const fresh = (): PickState => ({ next: 0, sticky: undefined });

test('round_robin: one counter per group, whatever the publisher', () => {
  const state = fresh();
  const picks = Array.from({ length: 9 }, (_, i) => pickMember('round_robin', members(3), 3, state, 't', `pub-${i}`));
  assert.deepEqual(picks, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
  // a member leaving: the counter wraps to the new size
  assert.ok(pickMember('round_robin_per_group', members(2), 2, state, 't', null) < 2);
});

test('sticky keeps its member while it is a candidate, then takes the longest-standing', () => {
  const state = fresh();
  const all = members(3);
  assert.equal(pickMember('sticky', all, 3, state, 't', null), 0);
  assert.equal(pickMember('sticky', all, 3, state, 't', null), 0);
  const without0 = all.slice(1);
  assert.equal(pickMember('sticky', without0, 2, state, 't', null), 0);
  assert.equal(state.sticky, 'c1');
  // c0 back: c1 keeps the messages
  assert.equal(all[pickMember('sticky', all, 3, state, 't', null)]!.clientId, 'c1');
});

test('hash strategies are stable: same publisher or topic, same member', () => {
  const state = fresh();
  for (const [strategy, key] of [['hash_clientid', 'publisher-7'], ['hash_topic', 'a/b/c']] as const) {
    const first = pickMember(strategy, members(5), 5, state, strategy === 'hash_topic' ? key : 'x', strategy === 'hash_clientid' ? key : 'y');
    for (let i = 0; i < 20; i++) {
      assert.equal(pickMember(strategy, members(5), 5, state, strategy === 'hash_topic' ? key : `x${i}`, strategy === 'hash_clientid' ? key : `y${i}`), first);
    }
  }
  assert.equal(hash32(''), 0x811c9dc5);
  assert.notEqual(hash32('a'), hash32('b'));
});

test('parseShared: $share/<group>/<filter> and $queue/<filter>', () => {
  assert.deepEqual(parseShared('$share/g/a/+/c'), { group: 'g', filter: 'a/+/c' });
  assert.deepEqual(parseShared('$queue/a/#'), { group: '$queue', filter: 'a/#' });
  assert.equal(parseShared('$share/g'), undefined);
  assert.equal(parseShared('$share//t'), undefined);
  assert.equal(parseShared('$share/g/'), undefined);
  assert.equal(parseShared('a/$share/g/t'), undefined);
});

test('templates: both placeholder styles; a missing username skips the template', () => {
  assert.equal(expandTemplate('client/%c/inbox', 'dev1', null), 'client/dev1/inbox');
  assert.equal(expandTemplate('client/${clientid}/u/${username}/%u', 'dev1', 'ann'), 'client/dev1/u/ann/ann');
  assert.equal(expandTemplate('user/%u/#', 'dev1', null), undefined);
  assert.equal(expandTemplate('user/${username}', 'dev1', ''), undefined);
  const mqtt = defaultConfig().mqtt;
  assert.equal(templateProblem('a/%c/#', mqtt), undefined);
  assert.match(templateProblem('a/#/%c', mqtt)!, /#/);
});

test('$SYS texts: uptime and datetime as EMQX 4 writes them', () => {
  assert.equal(uptimeText(0), '0 days, 0 hours, 0 minutes, 0 seconds');
  assert.equal(uptimeText(((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000 + 999), '2 days, 3 hours, 4 minutes, 5 seconds');
  assert.equal(datetimeText(new Date(2026, 0, 2, 3, 4, 5)), '2026-01-02 03:04:05');
});

test('who may read $SYS', () => {
  const ctx = (o: Partial<ClientContext & { authVia: string | null }>) =>
    ({ clientid: 'c', username: null, zone: 'external', listener: 'tcp:external', isSuperuser: false, authVia: 'anonymous', ...o }) as ClientContext & { authVia: string | null };
  const dflt = defaultConfig().broker.sys_topics_allow;
  assert.equal(mayReadSys(ctx({}), dflt), false);
  assert.equal(mayReadSys(ctx({ zone: 'internal' }), dflt), true);
  assert.equal(mayReadSys(ctx({ isSuperuser: true }), dflt), true);
  assert.equal(mayReadSys(ctx({ username: 'dashboard', authVia: 'password' }), dflt), true);
  assert.equal(mayReadSys(ctx({ username: 'dashboard', authVia: 'anonymous' }), dflt), false);
  assert.equal(mayReadSys(ctx({ zone: 'internal' }), ['superuser']), false);
  assert.equal(mayReadSys(ctx({}), ['all']), true);
  assert.equal(mayReadSys(ctx({ zone: 'internal' }), []), false);
});
