// The commands for APIs other issues are building (hooks: 10, ACL check and banned: 12, config
// reload: 13 §1), against a real HTTP receiver that answers in the shapes those issues name and
// records what the CLI sent: the method, path, query, body and credentials each command uses, and
// how the answers are shown. Once those APIs are on main, cli-ctl.test.ts covers them live.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ctl, parseTable, parseKeyValue } from '../helpers/cli.ts';

interface Seen { method: string; path: string; query: Record<string, string>; auth: string | undefined; body: unknown }

const seen: Seen[] = [];
let server: http.Server;
let url: string;
/** what the next POST /configs/reload without dry_run answers */
let reloadFails = false;

const CHANGES = [
  { key: 'zone.external.max_mqueue_len', old: 1000, new: 10, class: 'hot' },
  { key: 'listener.tcp.external', old: '0.0.0.0:1883', new: '0.0.0.0:2883', class: 'rebind' },
  { key: 'node.data_dir', old: 'data', new: 'data2', class: 'restart' },
];

function answer(req: Seen): [number, unknown] {
  const route = `${req.method} ${req.path}`;
  switch (route) {
    case 'POST /api/v5/login':
      // one token per user: the requests of runs going on at once stay apart
      return [200, { token: `token-${(req.body as { username: string }).username}`, version: '0.1.0', expires_at: '2030-01-01T00:00:00Z', role: 'administrator' }];
    case 'GET /api/v5/hooks':
      return [200, [{ id: 'h1', url: 'http://127.0.0.1:9/in', events: ['message.publish', 'client.connected'], enable: true, pending: 2, failed: 1 }]];
    case 'GET /api/v5/hooks/h1':
      return [200, { id: 'h1', url: 'http://127.0.0.1:9/in', enable: true, stats: { delivered: 5, failed: 1, pending: 2 } }];
    case 'POST /api/v5/hooks/h1/deliveries/retry':
      return [200, { retried: 1 }];
    case 'POST /api/v5/authorization/check':
      return [200, { decision: 'deny', rule: { source: 'acl.conf:3', rule: '{deny, all, subscribe, ["#"]}' } }];
    case 'GET /api/v5/banned':
      return [200, { data: [{ as: 'clientid', who: 'bad-1', reason: 'spam', at: '2026-12-01T00:00:00Z', until: '2027-01-01T00:00:00.000Z' }], meta: { page: 1, limit: 10000, count: 1 } }];
    case 'POST /api/v5/banned':
      return [200, req.body];
    case 'DELETE /api/v5/banned/username/u 1':
      return [204, undefined];
    case 'POST /api/v5/configs/reload':
      if (req.query.dry_run === 'true') return [200, { dry_run: true, changes: CHANGES }];
      if (reloadFails) return [400, { code: 'BAD_CONFIG', message: 'emqx.conf:12: zone.external.max_mqueue_len = "ten": expected an integer' }];
      return [200, { dry_run: false, changes: CHANGES.slice(0, 1) }];
    default:
      return [404, { code: 'NOT_FOUND', message: `no route ${route}` }];
  }
}

before(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const s: Seen = {
        method: req.method ?? '',
        path: decodeURIComponent(u.pathname),
        query: Object.fromEntries(u.searchParams),
        auth: req.headers.authorization,
        body: raw ? JSON.parse(raw) : undefined,
      };
      seen.push(s);
      const [status, body] = answer(s);
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

let runs = 0;

/** runs a command as its own administrator; answers its output and the requests it made after logging in */
async function run(args: string[], expectCode = 0) {
  const user = `ops-${++runs}`;
  const r = await ctl(['--url', url, '--username', user, '--password', 'pw', ...args]);
  assert.equal(r.code, expectCode, `${args.join(' ')}: ${r.stderr}`);
  const logins = seen.filter((q) => q.path === '/api/v5/login' && (q.body as { username?: string }).username === user);
  assert.deepEqual(logins.map((q) => q.body), [{ username: user, password: 'pw' }], 'logs in once');
  // every other request carries the token of that login
  return { ...r, requests: seen.filter((q) => q.auth === `Bearer token-${user}`) };
}

// Independent of each other: run at once (each mostly waits on child processes).
describe('commands of APIs other issues add', { concurrency: true }, () => {
  test('hooks list|show|retry', async () => {
    const [list, listJson, show, retry, missing] = await Promise.all([
      run(['hooks', 'list']),
      run(['hooks', 'list', '--json']),
      run(['hooks', 'show', 'h1']),
      run(['hooks', 'retry', 'h1']),
      run(['hooks', 'show', 'nope'], 1),
    ]);
    assert.deepEqual(list.requests.map((q) => `${q.method} ${q.path}`), ['GET /api/v5/hooks']);
    assert.deepEqual(parseTable(list.stdout), [
      { ID: 'h1', URL: 'http://127.0.0.1:9/in', EVENTS: 'message.publish,client.connected', ENABLE: 'yes', PENDING: '2', FAILED: '1' },
    ]);
    assert.equal(JSON.parse(listJson.stdout)[0].id, 'h1');

    assert.deepEqual(parseKeyValue(show.stdout), { id: 'h1', url: 'http://127.0.0.1:9/in', enable: 'yes', 'stats.delivered': '5', 'stats.failed': '1', 'stats.pending': '2' });

    assert.deepEqual(retry.requests.map((q) => `${q.method} ${q.path}`), ['POST /api/v5/hooks/h1/deliveries/retry']);
    assert.deepEqual(parseKeyValue(retry.stdout), { retried: '1' });

    assert.equal(missing.stderr, `tern ctl: Tern at ${url} has no GET /api/v5/hooks/nope (NOT_FOUND, HTTP 404): this node's version does not serve it\n`);
  });

  test('acl check sends {clientid, username, peerhost, action, topic} and shows the decision and its rule', async () => {
    const [r, defaults] = await Promise.all([
      run(['acl', 'check', 'dev-1', 'subscribe', 'a/#', '--mqtt-username', 'alice', '--peerhost', '10.1.2.3']),
      run(['acl', 'check', 'dev-1', 'publish', 't', '--json']),
    ]);
    assert.deepEqual(r.requests.map((q) => [q.method, q.path, q.body]), [
      ['POST', '/api/v5/authorization/check', { clientid: 'dev-1', username: 'alice', peerhost: '10.1.2.3', action: 'subscribe', topic: 'a/#' }],
    ]);
    assert.deepEqual(parseKeyValue(r.stdout), { decision: 'deny', 'rule.source': 'acl.conf:3', 'rule.rule': '{deny, all, subscribe, ["#"]}' });
    assert.deepEqual(defaults.requests[0]!.body, { clientid: 'dev-1', username: null, peerhost: '127.0.0.1', action: 'publish', topic: 't' });
    assert.equal(JSON.parse(defaults.stdout).decision, 'deny');
  });

  test('banned list|add|del', async () => {
    const before = Date.now();
    const [list, add, exact, del] = await Promise.all([
      run(['banned', 'list']),
      run(['banned', 'add', 'peerhost', '10.0.0.9', '--reason', 'flood', '--until', '2h']),
      run(['banned', 'add', 'username', 'eve', '--until', '2027-03-01T12:00:00Z']),
      run(['banned', 'del', 'username', 'u 1']),
    ]);
    assert.deepEqual(list.requests.map((q) => [q.method, q.path]), [['GET', '/api/v5/banned']]);
    assert.deepEqual(parseTable(list.stdout), [{ AS: 'clientid', WHO: 'bad-1', REASON: 'spam', AT: '2026-12-01T00:00:00Z', UNTIL: '2027-01-01T00:00:00.000Z' }]);

    const body = add.requests[0]!.body as { as: string; who: string; reason: string; until: string };
    assert.deepEqual([add.requests[0]!.method, add.requests[0]!.path], ['POST', '/api/v5/banned']);
    assert.deepEqual({ ...body, until: undefined }, { as: 'peerhost', who: '10.0.0.9', reason: 'flood', until: undefined });
    const until = Date.parse(body.until);
    assert.ok(until >= before + 7_200_000 && until <= Date.now() + 7_200_000, `until ${body.until} is two hours from now`);
    assert.equal(add.stdout, `banned peerhost 10.0.0.9 until ${body.until}\n`);

    assert.equal((exact.requests[0]!.body as { until: string }).until, '2027-03-01T12:00:00.000Z');

    assert.deepEqual(del.requests.map((q) => [q.method, q.path]), [['DELETE', '/api/v5/banned/username/u 1']]);
    assert.equal(del.stdout, 'lifted the ban on username u 1\n');
  });

  test('conf reload: --dry-run asks dry_run=true and lists each key with its class and old/new value; a bad file exits 1 naming file:line', async () => {
    const [dry, dryJson, real] = await Promise.all([run(['conf', 'reload', '--dry-run']), run(['conf', 'reload', '--dry-run', '--json']), run(['conf', 'reload'])]);
    assert.deepEqual(dry.requests.map((q) => [q.method, q.path, q.query]), [['POST', '/api/v5/configs/reload', { dry_run: 'true' }]]);
    const [head, ...rest] = dry.stdout.split('\n');
    assert.equal(head, 'dry run: 3 key(s) would change; nothing was applied');
    assert.deepEqual(parseTable(rest.join('\n').split('\n\n')[0]!), [
      { KEY: 'zone.external.max_mqueue_len', CLASS: 'hot', OLD: '1000', NEW: '10' },
      { KEY: 'listener.tcp.external', CLASS: 'rebind', OLD: '0.0.0.0:1883', NEW: '0.0.0.0:2883' },
      { KEY: 'node.data_dir', CLASS: 'restart', OLD: 'data', NEW: 'data2' },
    ]);
    assert.deepEqual(JSON.parse(dryJson.stdout).changes, CHANGES);

    assert.deepEqual(real.requests.map((q) => q.query), [{}]);
    assert.match(real.stdout, /^reloaded: 1 key\(s\) changed\n/);

    reloadFails = true;
    const bad = await run(['conf', 'reload'], 1);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr, 'tern ctl: emqx.conf:12: zone.external.max_mqueue_len = "ten": expected an integer (BAD_CONFIG, HTTP 400)\n');
  });
});
