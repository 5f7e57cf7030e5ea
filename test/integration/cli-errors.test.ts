// `tern ctl` when things go wrong: a node that is down, wrong credentials, a refused request, an
// API this node does not serve. Each is one line on stderr and a non-zero exit code that says
// which (3 unreachable, 4 credentials, 1 refused). Bad arguments: cli-usage.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestTern } from '../helpers/tern.ts';
import { freePort } from '../helpers/process.ts';
import { ctl } from '../helpers/cli.ts';
import type { Tern } from '../../server/tern.ts';

let tern: Tern;
let url: string;

before(async () => {
  tern = await startTestTern();
  url = `http://127.0.0.1:${tern.ports.http}`;
});

after(async () => {
  await tern.close();
});

/** exactly one line on stderr, nothing on stdout */
function oneLine(r: { stdout: string; stderr: string }): string {
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tern ctl: [^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  return r.stderr.trimEnd();
}

// Independent of each other: run at once (each mostly waits on child processes).
describe('tern ctl failures', { concurrency: true }, () => {
  test('a node that is down: exit 3, "cannot reach Tern at <url>: connection refused"', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const runs = await Promise.all([
      ...[['status'], ['clients', 'list', '--json'], ['users', 'add', 'a', 'b']].map((args) => ctl(['--url', dead, ...args])),
      // the address from the environment is named the same way
      ctl(['sessions', 'list'], { env: { TERN_API_URL: dead } }),
    ]);
    for (const r of runs) {
      assert.equal(r.code, 3);
      assert.equal(oneLine(r), `tern ctl: cannot reach Tern at ${dead}: connection refused`);
    }
  });

  test('wrong credentials: exit 4 with the API\'s message, for a login and an API key', async () => {
    const [login, key, envLogin] = await Promise.all([
      ctl(['--url', url, '--username', 'admin', '--password', 'wrong', 'status']),
      ctl(['clients', 'list'], { env: { TERN_API_URL: url, TERN_API_KEY: 'nokey:nosecret' } }),
      // status needs no credentials for liveness, but the rest of what it shows does
      ctl(['status', '--json'], { env: { TERN_API_URL: url, TERN_USERNAME: 'nobody', TERN_PASSWORD: 'x' } }),
    ]);
    assert.equal(login.code, 4);
    assert.equal(oneLine(login), `tern ctl: credentials refused by Tern at ${url}: wrong username or password (BAD_USERNAME_OR_PWD)`);

    assert.equal(key.code, 4);
    assert.match(oneLine(key), /^tern ctl: credentials refused by Tern at .*: the API key or secret is wrong.*\(BAD_API_KEY_OR_SECRET\)$/);

    assert.equal(envLogin.code, 4);
    oneLine(envLogin);
  });

  test('a refused request prints the API\'s {code, message}: exit 1', async () => {
    const [r, bad] = await Promise.all([ctl(['--url', url, 'clients', 'kick', 'no-such-client']), ctl(['--url', url, 'publish', 'a/+', 'x'])]);
    assert.equal(r.code, 1);
    assert.equal(oneLine(r), 'tern ctl: client no-such-client not found (CLIENTID_NOT_FOUND, HTTP 404)');

    assert.equal(bad.code, 1);
    assert.match(oneLine(bad), /^tern ctl: .*body\.topic.* \(BAD_REQUEST, HTTP 400\)$/);
  });

  test('commands whose API an older node does not serve say so in one line: exit 1', async () => {
    // an older Tern: it logs in, and answers every other route as Tern does for one it lacks
    const older = http.createServer((req, res) => {
      res.writeHead(req.url === '/api/v5/login' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/api/v5/login' ? { token: 't' } : { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` }));
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', () => resolve()));
    const at = `http://127.0.0.1:${(older.address() as AddressInfo).port}`;
    try {
      const cases: [string[], string][] = [
        [['hooks', 'list'], 'GET /api/v5/hooks'],
        [['hooks', 'retry', 'h1'], 'POST /api/v5/hooks/h1/deliveries/retry'],
        [['acl', 'check', 'c1', 'publish', 'a/b'], 'POST /api/v5/authorization/check'],
        [['banned', 'list'], 'GET /api/v5/banned'],
        [['conf', 'reload', '--dry-run'], 'POST /api/v5/configs/reload'],
      ];
      const results = await Promise.all(cases.map(([args]) => ctl(['--url', at, ...args])));
      results.forEach((r, i) => {
        const [args, route] = cases[i]!;
        assert.equal(r.code, 1, args.join(' '));
        assert.equal(oneLine(r), `tern ctl: Tern at ${at} has no ${route} (NOT_FOUND, HTTP 404): this node's version does not serve it`);
      });
    } finally {
      older.close();
    }
  });

  test('something that is not Tern at the address (a proxy page): exit 1, named', async () => {
    const proxy = http.createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    try {
      const at = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const r = await ctl(['--url', at, 'status']);
      assert.equal(r.code, 1);
      assert.equal(oneLine(r), `tern ctl: GET /status: HTTP 502 Bad Gateway from ${at} (is this a Tern node?)`);
    } finally {
      proxy.close();
    }
  });
});

// Last: it changes the default administrator's password, which the tests above rely on.
test('no credentials and the default admin password changed: exit 4, with how to give credentials', async () => {
  const login = await fetch(`${url}/api/v5/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) });
  const { token } = (await login.json()) as { token: string };
  const changed = await fetch(`${url}/api/v5/users/admin/change_pwd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ old_pwd: 'public', new_pwd: 'a-better-one-1' }),
  });
  assert.equal(changed.status, 204);
  const r = await ctl(['--url', url, 'users', 'list']);
  assert.equal(r.code, 4);
  assert.match(oneLine(r), /^tern ctl: credentials refused by Tern at .*: wrong username or password \(BAD_USERNAME_OR_PWD\) \(no credentials given, so the default admin login was tried: pass --api-key key:secret or --username\/--password, or set TERN_API_KEY or TERN_USERNAME\/TERN_PASSWORD\)$/);
  const given = await ctl(['--url', url, '--username', 'admin', '--password', 'a-better-one-1', 'users', 'list', '--json']);
  assert.equal(given.code, 0, given.stderr);
});
