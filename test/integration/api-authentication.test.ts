// MQTT authentication through the API: changes apply to the next CONNECT without a restart and
// survive one; API values win over emqx.conf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTernApi, login, bearer } from '../helpers/api-helpers.ts';
import request from 'supertest';
import { connect, endAll, testConfig, startTestTern } from '../helpers/tern.ts';
import { loadSpec } from '../../server/api/spec.ts';
import type { Config } from '../../server/config/types.ts';

const spec = loadSpec();
const USERS = '/api/v5/authentication/password_based:built_in_database/users';

const connackCode = (err: unknown) => (err as { code?: number }).code;

function conforms(method: string, path: string, res: { status: number; body: unknown; text: string }) {
  const validate = spec.responseValidator(method, path, res.status);
  assert.ok(validate, `status ${res.status} of ${method.toUpperCase()} ${path} is not in the spec: ${res.text}`);
  assert.equal(validate(res.body), undefined, `${method.toUpperCase()} ${path} → ${res.status} does not match the spec`);
}

test('anonymous off for the external zone refuses the next CONNECT, without a restart', async () => {
  const t = await startTernApi();
  try {
    const before = await connect(t.mqttUrl(), { clientId: 'anon-1' });
    const get = await t.http.get('/api/v5/authentication/anonymous').set(t.auth);
    conforms('get', '/authentication/anonymous', get);
    assert.deepEqual(get.body, { zones: { external: true, internal: true }, sources: { external: 'config', internal: 'config' } });

    const put = await t.http.put('/api/v5/authentication/anonymous').set(t.auth).send({ zones: { external: false } });
    assert.equal(put.status, 200, put.text);
    conforms('put', '/authentication/anonymous', put);
    assert.deepEqual(put.body, { zones: { external: false, internal: true }, sources: { external: 'api', internal: 'config' } });

    await assert.rejects(connect(t.mqttUrl(), { clientId: 'anon-2' }), (err) => connackCode(err) === 5);
    await assert.rejects(connect(`ws://127.0.0.1:${t.tern.ports.ws.external}/mqtt`, { clientId: 'anon-ws' }), (err) => connackCode(err) === 5);
    const internal = await connect(t.mqttUrl('internal'), { clientId: 'anon-3' });
    assert.equal(before.connected, true, 'clients already connected stay connected');

    await t.http.put('/api/v5/authentication/anonymous').set(t.auth).send({ zones: { external: true } });
    const again = await connect(t.mqttUrl(), { clientId: 'anon-4' });
    await endAll(before, internal, again);
  } finally {
    await t.close();
  }
});

test('built-in users: CRUD through the API, then CONNECT with the new credentials', async () => {
  const t = await startTernApi();
  try {
    await t.http.put('/api/v5/authentication/anonymous').set(t.auth).send({ zones: { external: false } });
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'd1', username: 'alice', password: 'alice-pass' }), (err) => connackCode(err) === 5);

    const created = await t.http.post(USERS).set(t.auth).send({ user_id: 'alice', password: 'alice-pass' });
    assert.equal(created.status, 201, created.text);
    conforms('post', '/authentication/password_based:built_in_database/users', created);
    assert.deepEqual(created.body, { user_id: 'alice', is_superuser: false });
    const dup = await t.http.post(USERS).set(t.auth).send({ user_id: 'alice', password: 'x' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'ALREADY_EXISTS');

    const c1 = await connect(t.mqttUrl(), { clientId: 'd1', username: 'alice', password: 'alice-pass' });
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'd2', username: 'alice', password: 'nope' }), (err) => connackCode(err) === 4);

    for (let i = 0; i < 3; i++) await t.http.post(USERS).set(t.auth).send({ user_id: `bulk-${i}`, password: 'pw', is_superuser: i === 0 });
    const list = await t.http.get(`${USERS}?limit=2`).set(t.auth);
    conforms('get', '/authentication/password_based:built_in_database/users', list);
    assert.deepEqual(list.body.meta, { page: 1, limit: 2, count: 4, hasnext: true });
    assert.equal(JSON.stringify(list.body).includes('pass'), false, 'passwords are write-only');
    const like = await t.http.get(`${USERS}?like_user_id=bulk`).set(t.auth);
    assert.equal(like.body.meta.count, 3);

    const one = await t.http.get(`${USERS}/bulk-0`).set(t.auth);
    conforms('get', '/authentication/password_based:built_in_database/users/{user_id}', one);
    assert.deepEqual(one.body, { user_id: 'bulk-0', is_superuser: true });
    const missing = await t.http.get(`${USERS}/ghost`).set(t.auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'NOT_FOUND');

    const changed = await t.http.put(`${USERS}/alice`).set(t.auth).send({ password: 'alice-pass-2' });
    assert.equal(changed.status, 200, changed.text);
    conforms('put', '/authentication/password_based:built_in_database/users/{user_id}', changed);
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'd3', username: 'alice', password: 'alice-pass' }), (err) => connackCode(err) === 4);
    const c2 = await connect(t.mqttUrl(), { clientId: 'd4', username: 'alice', password: 'alice-pass-2' });

    const del = await t.http.delete(`${USERS}/alice`).set(t.auth);
    assert.equal(del.status, 204);
    // unknown user now: falls through to anonymous, which is off for this zone
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'd5', username: 'alice', password: 'alice-pass-2' }), (err) => connackCode(err) === 5);
    assert.equal((await t.http.delete(`${USERS}/alice`).set(t.auth)).status, 404);
    await endAll(c1, c2);
  } finally {
    await t.close();
  }
});

test('client-id allow-list: listed ids connect without credentials', async () => {
  const t = await startTernApi();
  try {
    await t.http.put('/api/v5/authentication/anonymous').set(t.auth).send({ zones: { external: false } });
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'device-1' }), (err) => connackCode(err) === 5);

    const add = await t.http.post('/api/v5/authentication/clientids').set(t.auth).send({ clientid: 'device-1' });
    assert.equal(add.status, 201, add.text);
    conforms('post', '/authentication/clientids', add);
    assert.equal((await t.http.post('/api/v5/authentication/clientids').set(t.auth).send({ clientid: 'device-1' })).status, 409);
    const list = await t.http.get('/api/v5/authentication/clientids').set(t.auth);
    conforms('get', '/authentication/clientids', list);
    assert.deepEqual(list.body, { data: [{ clientid: 'device-1' }], meta: { page: 1, limit: 100, count: 1, hasnext: false } });

    const d = await connect(t.mqttUrl(), { clientId: 'device-1' });
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'device-2' }), (err) => connackCode(err) === 5);
    await endAll(d);

    assert.equal((await t.http.delete('/api/v5/authentication/clientids/device-1').set(t.auth)).status, 204);
    await assert.rejects(connect(t.mqttUrl(), { clientId: 'device-1' }), (err) => connackCode(err) === 5);
    const gone = await t.http.delete('/api/v5/authentication/clientids/device-1').set(t.auth);
    assert.equal(gone.status, 404);
  } finally {
    await t.close();
  }
});

test('API changes survive a restart and win over emqx.conf; admin passwords too', async () => {
  const config: Config = testConfig((c) => {
    c.zones.external!.allow_anonymous = true; // the file says yes
    c.auth.users = [{ username: 'seeded', password: 'from-file' }];
  });
  const first = await startTernApi(config);
  try {
    await first.http.put('/api/v5/authentication/anonymous').set(first.auth).send({ zones: { external: false } });
    await first.http.post(USERS).set(first.auth).send({ user_id: 'bob', password: 'bob-pass' });
    await first.http.put(`${USERS}/seeded`).set(first.auth).send({ password: 'from-api' });
    await first.http.post('/api/v5/authentication/clientids').set(first.auth).send({ clientid: 'gate' });
    const pwd = await first.http.post('/api/v5/users/admin/change_pwd').set(first.auth).send({ old_pwd: 'public', new_pwd: 'better-password' });
    assert.equal(pwd.status, 204, pwd.text);
  } finally {
    await first.close();
  }

  // the same data_dir and the same config: a restart
  const tern = await startTestTern(config);
  try {
    const http = request(`http://127.0.0.1:${tern.ports.http}`);
    const old = await http.post('/api/v5/login').send({ username: 'admin', password: 'public' });
    assert.equal(old.status, 401, 'the default admin is not recreated');
    const token = await login(http, 'admin', 'better-password');
    const anon = await http.get('/api/v5/authentication/anonymous').set(bearer(token));
    assert.deepEqual(anon.body.zones.external, false);
    assert.deepEqual(anon.body.sources.external, 'api');
    const url = `mqtt://127.0.0.1:${tern.ports.tcp.external}`;
    await assert.rejects(connect(url, { clientId: 'x' }), (err) => connackCode(err) === 5);
    const bob = await connect(url, { clientId: 'b', username: 'bob', password: 'bob-pass' });
    const seeded = await connect(url, { clientId: 's', username: 'seeded', password: 'from-api' });
    await assert.rejects(connect(url, { clientId: 's2', username: 'seeded', password: 'from-file' }), (err) => connackCode(err) === 4);
    const gate = await connect(url, { clientId: 'gate' });
    const configs = await http.get('/api/v5/configs').set(bearer(token));
    assert.equal(configs.body.zones.external.allow_anonymous, false);
    assert.deepEqual(configs.body.overrides, { 'zones.external.allow_anonymous': false });
    await endAll(bob, seeded, gate);
  } finally {
    await tern.close();
  }
});

test(
  'a seeded user or client id deleted through the API stays deleted after a restart',
  async () => {
    const config: Config = testConfig((c) => {
      c.auth.users = [{ username: 'seeded', password: 'from-file' }];
      c.auth.clientids = ['seeded-id'];
    });
    const first = await startTernApi(config);
    try {
      assert.equal((await first.http.delete(`${USERS}/seeded`).set(first.auth)).status, 204);
      assert.equal((await first.http.delete('/api/v5/authentication/clientids/seeded-id').set(first.auth)).status, 204);
    } finally {
      await first.close();
    }
    const again = await startTernApi(config);
    try {
      assert.equal((await again.http.get(`${USERS}/seeded`).set(again.auth)).status, 404);
      assert.equal((await again.http.get('/api/v5/authentication/clientids').set(again.auth)).body.meta.count, 0);
    } finally {
      await again.close();
    }
  },
);
