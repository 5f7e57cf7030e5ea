// The audit log: every kind of change made through the API is recorded with who (admin or API
// key), what (operation, target, body with secrets masked), when and from where; reads, checks
// and failed requests are not; GET /audit filters, pages, and is bounded by audit.max_rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testConfig, connect, endAll } from '../helpers/tern.ts';
import { basic, startTernApi } from '../helpers/api-helpers.ts';
import { clockPast } from '../helpers/events.ts';
import { loadSpec } from '../../server/api/spec.ts';
import type { AuditRow } from '../../server/api/services/audit.ts';

const spec = loadSpec();

/** a row as GET /audit answers it */
type Row = AuditRow;

test('each kind of change is recorded with who, what, when and where, secrets masked', async () => {
  const t = await startTernApi();
  const device = await connect(t.mqttUrl(), { clientId: 'dev-7', clean: false });
  const secrets = ['alice-secret-pw', 'operator-pw-1', 'operator-pw-2', 'alice-new-pw'];
  try {
    const calls: [string, string, object | undefined][] = [
      ['post', '/authentication/password_based:built_in_database/users', { user_id: 'alice', password: secrets[0] }],
      ['put', '/authentication/password_based:built_in_database/users/alice', { password: secrets[3], is_superuser: true }],
      ['delete', '/authentication/password_based:built_in_database/users/alice', undefined],
      ['post', '/authentication/clientids', { clientid: 'device-9' }],
      ['delete', '/authentication/clientids/device-9', undefined],
      ['put', '/authentication/anonymous', { zones: { internal: false } }],
      ['post', '/authorization/sources/built_in_database/rules/users', [{ username: 'bob', rules: [{ topic: 'a/#', permission: 'deny', action: 'all' }] }]],
      ['post', '/authorization/sources/built_in_database/rules/all', { rules: [] }],
      ['post', '/banned', { as: 'clientid', who: 'evil', reason: 'test' }],
      ['delete', '/banned/clientid/evil', undefined],
      ['post', '/users', { username: 'operator', password: secrets[1] }],
      ['post', '/users/operator/change_pwd', { old_pwd: secrets[1], new_pwd: secrets[2] }],
      ['post', '/api_key', { name: 'ci' }],
      ['post', '/clients/dev-7/subscribe', { topic: 'cmd/dev-7', qos: 1 }],
      ['post', '/publish', { topic: 'cmd/dev-7', payload: 'reboot', qos: 1 }],
      ['delete', '/clients/dev-7', undefined],
      ['post', '/configs/reload?dry_run=true', undefined],
    ];
    let keySecret = '';
    for (const [method, path, body] of calls) {
      let req = t.http[method as 'post'](`/api/v5${path}`).set(t.auth);
      if (body !== undefined) req = req.send(body);
      const res = await req;
      assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
      if (path === '/api_key') keySecret = res.body.api_secret;
    }
    // not changes: reads, the authorization check, and a refused request
    await t.http.get('/api/v5/clients').set(t.auth);
    await t.http.post('/api/v5/authorization/check').set(t.auth).send({ clientid: 'x', action: 'publish', topic: 't' });
    assert.equal((await t.http.post('/api/v5/banned').set(t.auth).send({ as: 'peerhost', who: 'nope' })).status, 400);

    const res = await t.http.get('/api/v5/audit?limit=100').set(t.auth);
    assert.equal(res.status, 200);
    assert.equal(spec.responseValidator('get', '/audit', 200)!(res.body), undefined);
    const rows = (res.body.data as Row[]).reverse(); // oldest first
    const operations = [
      'createAuthUser', 'updateAuthUser', 'deleteAuthUser', 'addAuthClientId', 'deleteAuthClientId', 'setAnonymous',
      'setUserRules', 'setAllRules', 'createBan', 'deleteBan', 'createAdminUser', 'changeAdminPassword', 'createApiKey',
      'subscribeClient', 'publish', 'kickClient', 'reloadConfigs',
    ];
    assert.deepEqual(
      rows.map((r) => `${r.http_method} ${r.target} ${r.operation}`),
      calls.map(([m, p], i) => `${m.toUpperCase()} ${p} ${operations[i]}`),
    );
    for (const r of rows) {
      assert.equal(r.who_type, 'admin');
      assert.equal(r.who, 'admin');
      assert.ok(r.source_ip && /127\.0\.0\.1/.test(r.source_ip), String(r.source_ip));
      assert.ok(Math.abs(Date.parse(r.created_at) - Date.now()) < 60_000);
    }
    assert.deepEqual(rows[0]!.body, { user_id: 'alice', password: '******', is_superuser: false });
    assert.deepEqual(rows[11]!.body, { old_pwd: '******', new_pwd: '******' });
    assert.deepEqual(rows[8]!.body, { as: 'clientid', who: 'evil', reason: 'test' });
    assert.equal((rows[14]!.body as { payload: string }).payload, 'reboot');
    const everything = JSON.stringify(await t.tern.store.db.selectFrom('audit_log').selectAll().execute());
    for (const s of [...secrets, keySecret]) assert.ok(!everything.includes(s), `the audit log holds a secret: ${s}`);
  } finally {
    await endAll(device);
    await t.close();
  }
});

test('an API key is recorded as such; GET /audit filters by who, operation and time and pages', async () => {
  const t = await startTernApi();
  try {
    const get = async (q: string) => {
      const res = await t.http.get(`/api/v5/audit?${q}`).set(t.auth);
      assert.equal(res.status, 200, res.text);
      return res.body as { data: Row[]; meta: { count: number; hasnext: boolean } };
    };
    const key = (await t.http.post('/api/v5/api_key').set(t.auth).send({ name: 'deployer' })).body as { api_key: string; api_secret: string };
    // the rows below fall in a later millisecond than the key's (the time filters split them
    // there): a clock read in the same millisecond as the key's row once counted it among them
    const keyAt = Date.parse((await get('operation=createApiKey')).data[0]!.created_at);
    await clockPast(keyAt);
    const before = new Date(keyAt + 1).toISOString();
    for (const who of ['k1', 'k2', 'k3']) {
      assert.equal((await t.http.post('/api/v5/banned').set(basic(key.api_key, key.api_secret)).send({ as: 'clientid', who })).status, 200);
    }
    assert.equal((await t.http.delete('/api/v5/banned/clientid/k1').set(t.auth)).status, 204);

    const byKey = await get('who=deployer');
    assert.equal(byKey.meta.count, 3);
    assert.ok(byKey.data.every((r) => r.who_type === 'api_key' && r.operation === 'createBan'));
    const ban = (await t.http.get('/api/v5/banned').set(t.auth)).body.data[0];
    assert.equal(ban.by, 'api_key:deployer');

    assert.equal((await get('operation=deleteBan')).meta.count, 1);
    assert.equal((await get('operation=createApiKey')).meta.count, 1);
    assert.equal((await get(`gte_created_at=${encodeURIComponent(before)}`)).meta.count, 4);
    assert.equal((await get(`lte_created_at=${Date.parse(before) - 1}`)).meta.count, 1);
    const page = await get('page=2&limit=2');
    assert.equal(page.data.length, 2);
    assert.equal(page.meta.count, 5);
    assert.equal(page.meta.hasnext, true);
    assert.equal((await t.http.get('/api/v5/audit?gte_created_at=yesterday').set(t.auth)).status, 400);
  } finally {
    await t.close();
  }
});

test('the audit log keeps at most audit.max_rows rows, dropping the oldest', async () => {
  const t = await startTernApi(testConfig((c) => (c.audit.max_rows = 3)));
  try {
    for (let i = 1; i <= 5; i++) {
      assert.equal((await t.http.post('/api/v5/authentication/clientids').set(t.auth).send({ clientid: `d${i}` })).status, 201);
    }
    const res = await t.http.get('/api/v5/audit').set(t.auth);
    assert.equal(res.body.meta.count, 3);
    assert.deepEqual(
      res.body.data.map((r: Row) => (r.body as { clientid: string }).clientid),
      ['d5', 'd4', 'd3'],
    );
  } finally {
    await t.close();
  }
});
