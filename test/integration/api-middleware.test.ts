// The API's own machinery over a real SQLite store: access (login, tokens, API keys, rate limit),
// spec validation, error shapes, /api-docs, and the route table against the spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiOnly, login, bearer, basic, type ApiHarness } from '../helpers/api-helpers.ts';
import { fromKoaPath, loadSpec } from '../../server/api/spec.ts';
import { testConfig } from '../helpers/tern.ts';

const spec = loadSpec();

async function withApi(fn: (h: ApiHarness) => Promise<void>, opts: Parameters<typeof startApiOnly>[0] = {}) {
  const h = await startApiOnly(opts);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** a concrete URL for an operation, path parameters filled with "x" */
const urlOf = (path: string) => `${spec.basePath}${path.replace(/\{[^}]+\}/g, 'x')}`;

function assertError(res: { status: number; body: unknown; text: string }, status: number, code: string, messagePart?: string | RegExp) {
  assert.equal(res.status, status, res.text);
  const body = res.body as { code: string; message: string };
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message'], res.text);
  assert.equal(body.code, code, res.text);
  assert.doesNotMatch(body.message, /\n\s+at /, 'no stack trace');
  if (messagePart instanceof RegExp) assert.match(body.message, messagePart);
  else if (messagePart) assert.ok(body.message.includes(messagePart), `"${body.message}" should mention "${messagePart}"`);
  assert.equal(spec.schemaValidator('Error')(body), undefined);
}

test('the router serves exactly the operations of the spec, both ways', async () => {
  await withApi(async ({ app }) => {
    const inCode = new Set<string>();
    for (const layer of app.apiRouter.stack) {
      for (const m of layer.methods) {
        if (m === 'HEAD') continue; // koa-router adds HEAD to every GET
        inCode.add(`${m.toLowerCase()} ${fromKoaPath(String(layer.path)).slice(spec.basePath.length)}`);
      }
    }
    const inSpec = new Set(spec.operations.map((o) => `${o.method} ${o.path}`));
    assert.deepEqual([...inCode].filter((r) => !inSpec.has(r)), [], 'routes in code but not in api-spec/openapi.yaml');
    assert.deepEqual([...inSpec].filter((r) => !inCode.has(r)), [], 'operations in api-spec/openapi.yaml without a route');
  });
});

test('the spec is well-formed: unique operationIds, declared path parameters, a success and an error response each', () => {
  const ids = spec.operations.map((o) => o.operationId);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'duplicate operationIds');
  for (const op of spec.operations) {
    const inTemplate = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const item = (spec.doc.paths as Record<string, Record<string, unknown>>)[op.path]!;
    const declared = [...((item.parameters as Record<string, unknown>[]) ?? []), ...((op.raw.parameters as Record<string, unknown>[]) ?? [])]
      .map((p) => (p.$ref ? ((spec.doc.components as Record<string, Record<string, Record<string, unknown>>>).parameters![String(p.$ref).split('/').pop()!]!) : p))
      .filter((p) => p.in === 'path');
    assert.deepEqual(declared.map((p) => p.name).sort(), inTemplate, `${op.operationId}: path parameters`);
    assert.ok(declared.every((p) => p.required === true), `${op.operationId}: path parameters are required`);
    assert.ok([...op.responses.keys()].some((k) => /^2\d\d$/.test(k)), `${op.operationId}: a 2xx response`);
    assert.ok(op.responses.has('default'), `${op.operationId}: a default (error) response`);
    assert.ok(op.security.public || op.security.bearer, `${op.operationId}: security`);
  }
  // every response schema compiles under ajv's strict mode
  assert.equal(spec.schemaValidator('Error')({ code: 'X', message: 'y' }), undefined);
});

test('status needs no auth; every other operation answers 401 without credentials', async () => {
  await withApi(async ({ http }) => {
    const status = await http.get('/api/v5/status');
    assert.equal(status.status, 200);
    assert.equal(status.body.status, 'running');
    assert.equal(spec.responseValidator('get', '/status', 200)!(status.body), undefined);

    for (const op of spec.operations) {
      if (op.security.public) continue;
      const res = await http[op.method](urlOf(op.path)).send(op.hasBody ? {} : undefined);
      assertError(res, 401, 'BAD_TOKEN', 'authentication required');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
      const bad = await http[op.method](urlOf(op.path)).set(bearer('not.a-token'));
      assertError(bad, 401, 'BAD_TOKEN');
      const badKey = await http[op.method](urlOf(op.path)).set(basic('nokey', 'nosecret'));
      assertError(badKey, 401, 'BAD_API_KEY_OR_SECRET');
    }
  });
});

test('first start creates admin/public, warns about the default password, and does not recreate it', async () => {
  const config = testConfig();
  await withApi(
    async (h) => {
      const warnings = h.logLines().filter((l) => l.level === 40 && /default password/.test(l.msg));
      assert.equal(warnings.length, 1, 'one warning for the default password');
      const token = await login(h.http);
      const users = await h.http.get('/api/v5/users').set(bearer(token));
      assert.equal(users.status, 200);
      assert.deepEqual(users.body.map((u: { username: string }) => u.username), ['admin']);

      // change the password: the old token dies, the new password works, the warning stops
      assertError(
        await h.http.post('/api/v5/users/admin/change_pwd').set(bearer(token)).send({ old_pwd: 'wrong', new_pwd: 'n3w-password' }),
        400,
        'BAD_REQUEST',
        'old_pwd',
      );
      const changed = await h.http.post('/api/v5/users/admin/change_pwd').set(bearer(token)).send({ old_pwd: 'public', new_pwd: 'n3w-password' });
      assert.equal(changed.status, 204, changed.text);
      assertError(await h.http.get('/api/v5/users').set(bearer(token)), 401, 'BAD_TOKEN');
      assertError(await h.http.post('/api/v5/login').send({ username: 'admin', password: 'public' }), 401, 'BAD_USERNAME_OR_PWD');
      const token2 = await login(h.http, 'admin', 'n3w-password');
      assert.equal((await h.http.get('/api/v5/users').set(bearer(token2))).status, 200);
      assert.deepEqual(await h.app.admin.warnIfDefaultPassword(), []);
    },
    { config },
  );
});

test('default_user from the config is used on first start', async () => {
  const config = testConfig((c) => {
    c.dashboard.default_user = { login: 'root', password: 'from-config' };
  });
  await withApi(
    async (h) => {
      await login(h.http, 'root', 'from-config');
      assertError(await h.http.post('/api/v5/login').send({ username: 'admin', password: 'public' }), 401, 'BAD_USERNAME_OR_PWD');
    },
    { config },
  );
});

/** A clock the test moves by hand. */
function steppedClock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('failed logins are limited per address: 429 with Retry-After, even with the right password', async () => {
  const clock = steppedClock();
  await withApi(
    async ({ http }) => {
      for (let i = 0; i < 3; i++) assertError(await http.post('/api/v5/login').send({ username: 'admin', password: `guess${i}` }), 401, 'BAD_USERNAME_OR_PWD');
      const limited = await http.post('/api/v5/login').send({ username: 'admin', password: 'public' });
      assertError(limited, 429, 'TOO_MANY_REQUESTS');
      assert.equal(limited.headers['retry-after'], '60');
      clock.advance(59_999);
      assertError(await http.post('/api/v5/login').send({ username: 'admin', password: 'public' }), 429, 'TOO_MANY_REQUESTS');
      clock.advance(1); // the oldest failure leaves the window
      await login(http);
    },
    { api: { loginFailures: { max: 3, windowMs: 60_000 }, now: clock.now } },
  );
});

test('tokens expire and logout revokes them', async () => {
  const clock = steppedClock();
  await withApi(
    async ({ http }) => {
      const short = await login(http);
      clock.advance(299);
      assert.equal((await http.get('/api/v5/users').set(bearer(short))).status, 200);
      clock.advance(1);
      assertError(await http.get('/api/v5/users').set(bearer(short)), 401, 'BAD_TOKEN', 'expired');
    },
    { api: { tokenTtlMs: 300, now: clock.now } },
  );
  await withApi(async ({ http }) => {
    const a = await login(http);
    const b = await login(http);
    assert.equal((await http.post('/api/v5/logout').set(bearer(a))).status, 204);
    assertError(await http.get('/api/v5/users').set(bearer(a)), 401, 'BAD_TOKEN');
    assert.equal((await http.get('/api/v5/users').set(bearer(b))).status, 200, 'other tokens live on');
    // a token forged with another secret, or tampered, is refused
    const [payload, mac] = b.split('.');
    const tampered = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'root' })).toString('base64url')}.${mac}`;
    assertError(await http.get('/api/v5/users').set(bearer(tampered)), 401, 'BAD_TOKEN');
  });
});

test('administrators: create, duplicate 409, update, login as the new one, delete; the last one stays', async () => {
  await withApi(async ({ http }) => {
    const t = await login(http);
    const created = await http.post('/api/v5/users').set(bearer(t)).send({ username: 'operator', password: 'op-secret-1', description: 'ops' });
    assert.equal(created.status, 200, created.text);
    assert.equal(spec.responseValidator('post', '/users', 200)!(created.body), undefined);
    assert.equal(created.body.password, undefined);
    assertError(await http.post('/api/v5/users').set(bearer(t)).send({ username: 'operator', password: 'op-secret-1' }), 409, 'ALREADY_EXISTS');
    assertError(await http.post('/api/v5/users').set(bearer(t)).send({ username: 'x', password: 'short' }), 400, 'BAD_REQUEST', 'body.password must NOT have fewer than 8 characters');
    assertError(await http.post('/api/v5/users').set(bearer(t)).send({ username: 'a b', password: 'long-enough' }), 400, 'BAD_REQUEST', 'body.username must be 1-100 letters');
    const updated = await http.put('/api/v5/users/operator').set(bearer(t)).send({ description: 'on call' });
    assert.equal(updated.body.description, 'on call');
    assertError(await http.put('/api/v5/users/nobody').set(bearer(t)).send({ description: 'x' }), 404, 'NOT_FOUND');

    const op = await login(http, 'operator', 'op-secret-1');
    assert.equal((await http.delete('/api/v5/users/admin').set(bearer(op))).status, 204);
    assertError(await http.get('/api/v5/users').set(bearer(t)), 401, 'BAD_TOKEN', undefined); // admin is gone, so is its token
    assertError(await http.delete('/api/v5/users/operator').set(bearer(op)), 400, 'BAD_REQUEST', 'last administrator');
    assertError(await http.delete('/api/v5/users/admin').set(bearer(op)), 404, 'NOT_FOUND');
  });
});

test('API keys: secret shown once, Basic auth works, not for admin routes, disable and delete revoke', async () => {
  await withApi(async ({ http }) => {
    const t = await login(http);
    const created = await http.post('/api/v5/api_key').set(bearer(t)).send({ name: 'ci', desc: 'deploys' });
    assert.equal(created.status, 200, created.text);
    assert.equal(spec.responseValidator('post', '/api_key', 200)!(created.body), undefined);
    const { api_key, api_secret } = created.body as { api_key: string; api_secret: string };
    assert.ok(api_secret.length >= 32);
    assertError(await http.post('/api/v5/api_key').set(bearer(t)).send({ name: 'ci' }), 409, 'ALREADY_EXISTS');

    const listed = await http.get('/api/v5/api_key').set(bearer(t));
    assert.equal(listed.body.length, 1);
    assert.equal(listed.body[0].api_secret, undefined, 'the secret is never shown again');
    assert.equal(spec.responseValidator('get', '/api_key', 200)!(listed.body), undefined);

    const viaKey = await http.get('/api/v5/authentication/clientids').set(basic(api_key, api_secret));
    assert.equal(viaKey.status, 200, viaKey.text);
    assertError(await http.get('/api/v5/authentication/clientids').set(basic(api_key, 'wrong')), 401, 'BAD_API_KEY_OR_SECRET');
    assertError(await http.get('/api/v5/users').set(basic(api_key, api_secret)), 403, 'FORBIDDEN');
    assertError(await http.post('/api/v5/api_key').set(basic(api_key, api_secret)).send({ name: 'more' }), 403, 'FORBIDDEN');

    const off = await http.put('/api/v5/api_key/ci').set(bearer(t)).send({ enable: false });
    assert.equal(off.body.enable, false);
    assertError(await http.get('/api/v5/authentication/clientids').set(basic(api_key, api_secret)), 401, 'BAD_API_KEY_OR_SECRET');
    await http.put('/api/v5/api_key/ci').set(bearer(t)).send({ enable: true, expired_at: new Date(Date.now() - 1000).toISOString() });
    assertError(await http.get('/api/v5/authentication/clientids').set(basic(api_key, api_secret)), 401, 'BAD_API_KEY_OR_SECRET');
    const back = await http.put('/api/v5/api_key/ci').set(bearer(t)).send({ expired_at: 'infinity' });
    assert.equal(back.body.expired, false);
    assert.equal((await http.get('/api/v5/authentication/clientids').set(basic(api_key, api_secret))).status, 200);
    assert.ok((await http.get('/api/v5/api_key/ci').set(bearer(t))).body.last_used_at);

    assert.equal((await http.delete('/api/v5/api_key/ci').set(bearer(t))).status, 204);
    assertError(await http.get('/api/v5/authentication/clientids').set(basic(api_key, api_secret)), 401, 'BAD_API_KEY_OR_SECRET');
    assertError(await http.get('/api/v5/api_key/ci').set(bearer(t)), 404, 'NOT_FOUND');
  });
});

test('bad bodies of every shape: 400 naming the field, 413, 415, malformed JSON', async () => {
  await withApi(
    async ({ http }) => {
      const t = await login(http);
      const post = (path: string, body: string | object, type = 'application/json') =>
        http.post(`/api/v5${path}`).set(bearer(t)).set('Content-Type', type).send(typeof body === 'string' ? body : JSON.stringify(body));

      assertError(await post('/publish', '{"topic": "a",'), 400, 'BAD_REQUEST', 'malformed JSON');
      assertError(await post('/publish', '"just a string"'), 400, 'BAD_REQUEST', 'malformed JSON');
      assertError(await post('/publish', '[1,2]'), 400, 'BAD_REQUEST', 'body must be object');
      assertError(await post('/publish', {}), 400, 'BAD_REQUEST', 'body.topic is required');
      assertError(await post('/publish', { topic: 'a', qos: 3 }), 400, 'BAD_REQUEST', 'body.qos must be <= 2');
      assertError(await post('/publish', { topic: 'a', qos: '1' }), 400, 'BAD_REQUEST', 'body.qos must be integer');
      assertError(await post('/publish', { topic: 'a/#' }), 400, 'BAD_REQUEST', 'body.topic must be a topic name without wildcards');
      assertError(await post('/publish', { topic: '' }), 400, 'BAD_REQUEST', 'body.topic must NOT have fewer than 1 characters');
      assertError(await post('/publish', { topic: 'a', retain: 'yes' }), 400, 'BAD_REQUEST', 'body.retain must be boolean');
      assertError(await post('/publish', { topic: 'a', payload_encoding: 'hex' }), 400, 'BAD_REQUEST', 'body.payload_encoding must be one of: plain, base64');
      assertError(await post('/publish', { topic: 'a', surprise: 1 }), 400, 'BAD_REQUEST', 'body.surprise is not allowed');
      assertError(await post('/publish', { topic: 'a', payload: '***', payload_encoding: 'base64' }), 400, 'BAD_REQUEST', 'body.payload is not valid base64');
      assertError(await post('/publish', 'topic=a', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertError(await post('/publish', { topic: 'a', payload: 'x'.repeat(5000) }), 413, 'PAYLOAD_TOO_LARGE', '4096');
      assertError(await post('/authentication/clientids', { clientid: 7 }), 400, 'BAD_REQUEST', 'body.clientid must be string');
      const put = await http.put('/api/v5/authentication/anonymous').set(bearer(t)).send({ zones: { external: 'no' } });
      assertError(put, 400, 'BAD_REQUEST', 'body.zones.external must be boolean');
      assertError(await http.put('/api/v5/authentication/anonymous').set(bearer(t)).send({ zones: { mars: true } }), 400, 'BAD_REQUEST', 'body.zones.mars is not a configured zone');
      assertError(await http.get('/api/v5/clients?limit=0').set(bearer(t)), 400, 'BAD_REQUEST', 'query.limit must be >= 1');
      assertError(await http.get('/api/v5/clients?limit=10001').set(bearer(t)), 400, 'BAD_REQUEST', 'query.limit must be <= 10000');
      assertError(await http.get('/api/v5/clients?page=abc').set(bearer(t)), 400, 'BAD_REQUEST', 'query.page must be integer');
      assertError(await http.get('/api/v5/clients?conn_state=sleeping').set(bearer(t)), 400, 'BAD_REQUEST', 'query.conn_state must be one of');
      assertError(await http.get('/api/v5/clients?clean_start=maybe').set(bearer(t)), 400, 'BAD_REQUEST', 'query.clean_start must be boolean');
      assertError(await http.get('/api/v5/subscriptions?qos=5').set(bearer(t)), 400, 'BAD_REQUEST', 'query.qos');
      assertError(await http.post('/api/v5/login').send({ username: 'admin' }), 400, 'BAD_REQUEST', 'body.password is required');
    },
    { api: { bodyLimitBytes: 4096 } },
  );
});

test('unknown route 404, wrong method 405, unexpected error 500 without a stack', async () => {
  await withApi(
    async ({ http, logLines }) => {
      const t = await login(http);
      assertError(await http.get('/api/v5/nope').set(bearer(t)), 404, 'NOT_FOUND');
      assertError(await http.get('/nope'), 404, 'NOT_FOUND');
      assertError(await http.patch('/api/v5/status'), 405, 'METHOD_NOT_ALLOWED');
      const boom = await http.get('/api/v5/clients').set(bearer(t));
      assertError(boom, 500, 'INTERNAL_ERROR');
      assert.doesNotMatch(boom.text, /secret detail|at /);
      assert.ok(logLines().some((l) => l.level === 50 && JSON.stringify(l).includes('secret detail')), 'the error is logged');
    },
    {
      sessions: {
        list: () => {
          throw new Error('secret detail');
        },
      },
    },
  );
});

test('the built-in users path also answers URL-encoded, as EMQX clients send it', async () => {
  await withApi(async ({ http }) => {
    const t = await login(http);
    const created = await http.post('/api/v5/authentication/password_based%3Abuilt_in_database/users').set(bearer(t)).send({ user_id: 'bob', password: 'pw' });
    assert.equal(created.status, 201, created.text);
    const got = await http.get('/api/v5/authentication/password_based:built_in_database/users/bob').set(bearer(t));
    assert.deepEqual(got.body, { user_id: 'bob', is_superuser: false });
  });
});

test('/configs masks secrets and shows API overrides; anonymous GET shows the source', async () => {
  const config = testConfig((c) => {
    c.auth.users = [{ username: 'dev', password: 'dev-password' }];
  });
  await withApi(
    async ({ http }) => {
      const t = await login(http);
      const before = await http.get('/api/v5/authentication/anonymous').set(bearer(t));
      assert.deepEqual(before.body, { zones: { external: true, internal: true }, sources: { external: 'config', internal: 'config' } });
      const put = await http.put('/api/v5/authentication/anonymous').set(bearer(t)).send({ zones: { external: false } });
      assert.deepEqual(put.body, { zones: { external: false, internal: true }, sources: { external: 'api', internal: 'config' } });

      const res = await http.get('/api/v5/configs').set(bearer(t));
      assert.equal(res.status, 200);
      assert.equal(spec.responseValidator('get', '/configs', 200)!(res.body), undefined);
      assert.equal(res.body.dashboard.default_user.password, '******');
      assert.deepEqual(res.body.auth.users, [{ username: 'dev', password: '******' }]);
      assert.doesNotMatch(res.text, /public|dev-password/);
      assert.equal(res.body.zones.external.allow_anonymous, false);
      assert.deepEqual(res.body.overrides, { 'zones.external.allow_anonymous': false });
    },
    { config },
  );
});

test('/api-docs serves swagger-ui on the spec', async () => {
  await withApi(async ({ http }) => {
    const redirect = await http.get('/api-docs');
    assert.equal(redirect.status, 302);
    const index = await http.get('/api-docs/');
    assert.equal(index.status, 200);
    assert.match(index.text, /swagger-ui-bundle\.js/);
    const init = await http.get('/api-docs/swagger-initializer.js');
    assert.match(init.text, /openapi\.json/);
    const bundle = await http.get('/api-docs/swagger-ui-bundle.js');
    assert.equal(bundle.status, 200);
    assert.match(String(bundle.headers['content-type']), /javascript/);
    const json = await http.get('/api-docs/openapi.json');
    assert.equal(json.body.openapi, '3.1.0');
    assert.ok(json.body.paths['/clients']);
    assert.match((await http.get('/api-docs/openapi.yaml')).text, /^openapi: 3\.1\.0/);
    assertError(await http.get('/api-docs/../package.json'), 404, 'NOT_FOUND');
    assertError(await http.get('/api-docs/%2e%2e%2fpackage.json'), 404, 'NOT_FOUND');
  });
});
