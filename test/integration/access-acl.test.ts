// Authorization over real sockets: acl.conf (EMQX's default file and placeholders), rules made
// through the API applying to connected clients at once, superusers, acl_deny_action, and the
// authorization/check tool naming the deciding rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { startTestTern, testConfig, connect, tcpUrl, endAll, nextMessages } from '../helpers/tern.ts';
import { pino } from 'pino';
import { startTernApi } from '../helpers/api-helpers.ts';
import { connectFrom, granted, writeTemp } from '../helpers/access.ts';
import { ConfigError } from '../../server/config/errors.ts';
import { startTern, type Tern } from '../../server/tern.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_ACL = path.join(repoRoot, 'server/broker/access/acl.conf.default');

async function superuser(tern: Tern, name: string): Promise<MqttClient> {
  await tern.auth.addUser({ user_id: name, password: `${name}-pw`, is_superuser: true });
  return connect(tcpUrl(tern), { clientId: name, username: name, password: `${name}-pw` });
}

/** publishes `topics` in order, then a marker the ACL allows, and returns what `watcher` got before the marker */
async function deliveredOf(publisher: MqttClient, watcher: MqttClient, topics: string[], marker: string): Promise<string[]> {
  for (const t of topics) await publisher.publishAsync(t, 'x', { qos: 1 });
  await publisher.publishAsync(marker, 'end', { qos: 1 });
  const got: string[] = [];
  for (;;) {
    const [m] = await nextMessages(watcher, 1);
    if (m!.topic === marker) return got;
    got.push(m!.topic);
  }
}

test("EMQX's default acl.conf: # refused to normal users, $SYS/# only for the dashboard user and localhost", async () => {
  const tern = await startTestTern(testConfig((c) => (c.acl_file = DEFAULT_ACL)));
  const port = tern.ports.tcp.external!;
  const remote = await connectFrom(port, '127.0.0.2', { clientId: 'remote' });
  const dashboard = await connectFrom(port, '127.0.0.2', { clientId: 'dash', username: 'dashboard' });
  const local = await connect(tcpUrl(tern), { clientId: 'local' });
  try {
    assert.deepEqual(await granted(remote, ['#', '$SYS/#', '$SYS/brokers/+/uptime', 'a/#', '+/b']), [128, 128, 128, 0, 0]);
    assert.deepEqual(await granted(dashboard, ['$SYS/#', '#']), [0, 128]);
    assert.deepEqual(await granted(local, ['#', '$SYS/#']), [0, 0]);
    assert.ok(tern.metrics['authorization.deny'] >= 4, 'denials are counted');
    assert.ok(tern.metrics['authorization.allow'] >= 5, 'allowed checks are counted');
  } finally {
    await endAll(remote, dashboard, local);
    await tern.close();
  }
});

test('%c and %u fill in the client id and username; a refused PUBLISH is dropped as not_authorized', async () => {
  const acl = writeTemp(
    'acl.conf',
    ['{allow, all, pubsub, ["own/%c/#", "users/%u/#"]}.', '{allow, all, publish, ["marker"]}.', '{deny, all}.', ''].join('\n'),
  );
  const tern = await startTestTern(testConfig((c) => (c.acl_file = acl)));
  const watcher = await superuser(tern, 'watcher');
  await watcher.subscribeAsync('#', { qos: 1 });
  const c1 = await connect(tcpUrl(tern), { clientId: 'c1', username: 'u1' });
  const anon = await connect(tcpUrl(tern), { clientId: 'c2' });
  const dropped: string[] = [];
  tern.events.on('message.dropped', (e) => {
    if (e.reason === 'not_authorized') dropped.push(e.topic);
  });
  try {
    assert.deepEqual(await granted(c1, ['own/c1/#', 'own/c2/#', 'users/u1/inbox', 'users/u2/inbox']), [0, 128, 0, 128]);
    assert.deepEqual(await granted(anon, ['own/c2/x', 'users//x', 'users/%u/x']), [0, 128, 128]);
    assert.deepEqual(await deliveredOf(c1, watcher, ['own/c1/a', 'own/c2/a', 'users/u1/b', 'users/u2/b', 'other'], 'marker'), ['own/c1/a', 'users/u1/b']);
    assert.deepEqual(dropped, ['own/c2/a', 'users/u2/b', 'other']);
    assert.equal(tern.metrics['messages.dropped.not_authorized'], 3);
  } finally {
    await endAll(watcher, c1, anon);
    await tern.close();
  }
});

test('superusers bypass every rule; every check emits client.check_acl with its source', async () => {
  const acl = writeTemp('acl.conf', '{deny, all}.\n');
  const tern = await startTestTern(testConfig((c) => (c.acl_file = acl)));
  const checks: string[] = [];
  tern.events.on('client.check_acl', (e) => checks.push(`${e.clientid} ${e.action} ${e.topic} ${e.result} ${e.source}`));
  const root = await superuser(tern, 'root');
  const plain = await connect(tcpUrl(tern), { clientId: 'plain' });
  try {
    assert.deepEqual(await granted(root, ['#', '$SYS/#']), [0, 0]);
    assert.deepEqual(await granted(plain, ['a', 'a']), [128, 128]);
    assert.deepEqual(checks, [
      'root subscribe # allow superuser',
      'root subscribe $SYS/# allow superuser',
      'plain subscribe a deny file',
      'plain subscribe a deny cache',
    ]);
    assert.equal(tern.metrics['authorization.superuser'], 2);
    assert.equal(tern.metrics['authorization.cache_hit'], 1);
  } finally {
    await endAll(root, plain);
    await tern.close();
  }
});

test('rules made through the API apply to connected clients at the next packet; the check names the deciding rule', async () => {
  const acl = writeTemp('acl.conf', ['%% the file', '{allow, {user, "alice"}, publish, ["files/#"]}.', '{deny, all, subscribe, [{eq, "#"}]}.', ''].join('\n'));
  const t = await startTernApi(testConfig((c) => (c.acl_file = acl)));
  const { tern } = t;
  const watcher = await superuser(tern, 'watcher');
  await watcher.subscribeAsync('#', { qos: 1 });
  const dev = await connect(tcpUrl(tern), { clientId: 'dev-1', username: 'alice' });
  const base = '/api/v5/authorization/sources/built_in_database/rules';
  const check = async (body: object) => {
    const res = await t.http.post('/api/v5/authorization/check').set(t.auth).send(body);
    assert.equal(res.status, 200, res.text);
    return res.body as { result: string; source: string; rule: Record<string, unknown> | null };
  };
  try {
    // allowed (and cached) before any API rule exists
    assert.deepEqual(await deliveredOf(dev, watcher, ['a/1'], 'm'), ['a/1']);
    assert.deepEqual(await granted(dev, ['b/1']), [0]);

    let res = await t.http.post(`${base}/clients`).set(t.auth).send([{ clientid: 'dev-1', rules: [{ topic: 'a/#', permission: 'deny', action: 'publish' }] }]);
    assert.equal(res.status, 204, res.text);
    res = await t.http.post(`${base}/users`).set(t.auth).send([{ username: 'alice', rules: [{ topic: 'b/+', permission: 'deny', action: 'subscribe' }, { topic: 'eq m', permission: 'allow', action: 'all' }] }]);
    assert.equal(res.status, 204, res.text);
    res = await t.http.post(`${base}/all`).set(t.auth).send({ rules: [{ topic: 'c/${clientid}', permission: 'deny', action: 'all' }] });
    assert.equal(res.status, 204, res.text);

    // the same connection, no reconnect: the cached allow is gone
    assert.deepEqual(await deliveredOf(dev, watcher, ['a/1', 'c/dev-1', 'c/other', 'files/x'], 'm'), ['c/other', 'files/x']);
    assert.deepEqual(await granted(dev, ['b/1', 'b/1/2', '#']), [128, 0, 128]);

    assert.deepEqual(await check({ clientid: 'dev-1', username: 'alice', action: 'publish', topic: 'a/9' }), {
      result: 'deny',
      source: 'built_in_database',
      rule: { source: 'built_in_database', kind: 'clientid', who: 'dev-1', index: 0, topic: 'a/#', permission: 'deny', action: 'publish' },
    });
    assert.deepEqual((await check({ clientid: 'x', username: 'alice', action: 'subscribe', topic: 'b/2' })).rule, {
      source: 'built_in_database', kind: 'username', who: 'alice', index: 0, topic: 'b/+', permission: 'deny', action: 'subscribe',
    });
    assert.deepEqual((await check({ clientid: 'q', action: 'publish', topic: 'c/q' })).rule, {
      source: 'built_in_database', kind: 'all', who: null, index: 0, topic: 'c/${clientid}', permission: 'deny', action: 'all',
    });
    assert.deepEqual(await check({ clientid: 'x', username: 'alice', action: 'publish', topic: 'files/a' }), {
      result: 'allow',
      source: 'file',
      rule: { source: 'file', file: acl, line: 2, text: '{allow, {user, "alice"}, publish, ["files/#"]}.' },
    });
    assert.equal((await check({ clientid: 'x', action: 'subscribe', topic: '#' })).rule?.line, 3);
    assert.deepEqual(await check({ clientid: 'x', action: 'publish', topic: 'zzz' }), { result: 'allow', source: 'nomatch', rule: null });
    assert.deepEqual(await check({ clientid: 'x', username: 'watcher', action: 'subscribe', topic: '#' }), { result: 'allow', source: 'superuser', rule: null });

    // reading and deleting; a delete applies at once too
    res = await t.http.get(`${base}/users/alice`).set(t.auth);
    assert.deepEqual(res.body, { username: 'alice', rules: [{ topic: 'b/+', permission: 'deny', action: 'subscribe' }, { topic: 'eq m', permission: 'allow', action: 'all' }] });
    res = await t.http.get(`${base}/clients`).set(t.auth);
    assert.equal(res.body.meta.count, 1);
    assert.equal((await t.http.delete(`${base}/clients/dev-1`).set(t.auth)).status, 204);
    assert.equal((await t.http.delete(`${base}/clients/dev-1`).set(t.auth)).status, 404);
    assert.deepEqual(await deliveredOf(dev, watcher, ['a/1'], 'm'), ['a/1']);

    // a bad rule is refused naming the field, and nothing is stored
    res = await t.http.post(`${base}/clients`).set(t.auth).send([{ clientid: 'dev-2', rules: [{ topic: 'a/#/b', permission: 'deny', action: 'all' }] }]);
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^body\[0\]\.rules\[0\]\.topic "a\/#\/b" may use # only/);
    assert.equal((await t.http.get(`${base}/clients/dev-2`).set(t.auth)).status, 404);
  } finally {
    await endAll(watcher, dev);
    await t.close();
  }
});

test('API rules survive a restart', async () => {
  const config = testConfig((c) => (c.acl_nomatch = 'allow'));
  let tern = await startTestTern(config);
  await tern.acl.setRules('clientid', [{ who: 'k', rules: [{ topic: 'x', permission: 'deny', action: 'subscribe' }] }]);
  await tern.close();
  tern = await startTestTern(config);
  const k = await connect(tcpUrl(tern), { clientId: 'k' });
  try {
    assert.deepEqual(await granted(k, ['x', 'y']), [128, 0]);
  } finally {
    await endAll(k);
    await tern.close();
  }
});

test('acl_deny_action = disconnect closes the connection of a refused PUBLISH; a zone may say otherwise', async () => {
  const acl = writeTemp('acl.conf', '{deny, all, publish, ["forbidden/#"]}.\n');
  const tern = await startTestTern(
    testConfig((c) => {
      c.acl_file = acl;
      c.acl_deny_action = 'disconnect';
      c.zones.internal!.acl_deny_action = 'ignore';
    }),
  );
  const ext = await connect(tcpUrl(tern), { clientId: 'ext' });
  const int = await connect(tcpUrl(tern, 'internal'), { clientId: 'int' });
  try {
    const closed = new Promise<void>((resolve) => ext.once('close', () => resolve()));
    ext.publish('forbidden/a', 'x', { qos: 0 });
    await closed;
    await int.publishAsync('forbidden/a', 'x', { qos: 1 });
    assert.ok(int.connected, 'the internal zone ignores the refusal');
    assert.equal(tern.metrics['messages.dropped.not_authorized'], 1);
  } finally {
    await endAll(ext, int);
    await tern.close();
  }
});

test('a config change of acl_nomatch or acl_file applies to connected clients at once', async () => {
  const allowA = writeTemp('a.conf', '{allow, all, subscribe, ["a"]}.\n');
  const allowB = writeTemp('b.conf', '{allow, all, subscribe, ["b"]}.\n');
  const tern = await startTestTern(testConfig((c) => (c.acl_file = allowA)));
  const c = await connect(tcpUrl(tern), { clientId: 'c' });
  try {
    assert.deepEqual(await granted(c, ['a', 'b', 'z']), [0, 0, 0]);
    tern.configSource.replace({ ...tern.config, acl_nomatch: 'deny' });
    assert.deepEqual(await granted(c, ['a', 'b', 'z']), [0, 128, 128]);
    tern.configSource.replace({ ...tern.config, acl_file: allowB });
    assert.deepEqual(await granted(c, ['a', 'b', 'z']), [128, 0, 128]);
  } finally {
    await endAll(c);
    await tern.close();
  }
});

test('a malformed acl_file stops start-up naming file:line and what was expected', async () => {
  const acl = writeTemp('acl.conf', '{allow, all}.\n\n{allow, {user, "a"}, write, ["t"]}.\n');
  await assert.rejects(
    startTestTern(testConfig((c) => (c.acl_file = acl))),
    (err: unknown) => err instanceof ConfigError && err.message === `${acl}:3: expected subscribe, publish or pubsub as the access, got write`,
  );
});

test('the decision cache holds acl_cache_max_size entries and trusts them for acl_cache_ttl', async () => {
  const acl = writeTemp('acl.conf', '{allow, all}.\n');
  let now = Date.now();
  const tern = await startTern({
    config: testConfig((c) => {
      c.acl_file = acl;
      c.acl_cache_max_size = 2;
      c.acl_cache_ttl = 60_000;
    }),
    logger: pino({ level: 'silent' }),
    access: { now: () => now },
  });
  const c = await connect(tcpUrl(tern), { clientId: 'c' });
  try {
    await granted(c, ['t1', 't2', 't1']); // t1 hit
    assert.equal(tern.metrics['authorization.cache_hit'], 1);
    await granted(c, ['t3', 't1']); // t3 evicts t1 (the oldest)
    assert.equal(tern.metrics['authorization.cache_hit'], 1);
    await granted(c, ['t3']);
    assert.equal(tern.metrics['authorization.cache_hit'], 2);
    now += 60_001;
    await granted(c, ['t3']);
    assert.equal(tern.metrics['authorization.cache_hit'], 2, 'an entry older than acl_cache_ttl is not used');
  } finally {
    await endAll(c);
    await tern.close();
  }
});
