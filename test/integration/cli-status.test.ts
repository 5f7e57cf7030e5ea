// `tern ctl status`, `conf show`, where the address and credentials come from, and the package bin,
// as child processes against a live in-process node.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCtlNode, parseTable, parseKeyValue, ctl, type CtlNode } from '../helpers/cli.ts';

let n: CtlNode;

before(async () => {
  n = await startCtlNode();
});

after(async () => {
  await n.close();
});

// Independent of each other: run at once (each mostly waits on child processes).
describe('tern ctl status, conf show, credentials', { concurrency: true }, () => {
  test('status: node, version, counts and every running listener with its bound address', async () => {
    const [text, s] = await Promise.all([
      n.ok(['status']),
      n.json<{ node: string; status: string; listeners: { id: string; bind: string }[]; stats: { live_connections: number } }>(['status']),
    ]);
    const kv = parseKeyValue(text);
    assert.equal(kv.node, n.tern.config.node.name);
    assert.equal(kv.status, 'running');
    assert.match(kv.version ?? '', /^\d+\.\d+\.\d+/);
    const listeners = parseTable(text.slice(text.indexOf('LISTENER')));
    assert.deepEqual(
      listeners.map((l) => [l.LISTENER, l.BIND]),
      [
        ['tcp:external', `127.0.0.1:${n.tern.ports.tcp.external}`],
        ['tcp:internal', `127.0.0.1:${n.tern.ports.tcp.internal}`],
        ['ws:external', `127.0.0.1:${n.tern.ports.ws.external}`],
      ],
    );

    assert.equal(s.node, n.tern.config.node.name);
    assert.equal(s.status, 'running');
    assert.equal(s.listeners.find((l) => l.id === 'tcp:internal')?.bind, `127.0.0.1:${n.tern.ports.tcp.internal}`);
    assert.equal(typeof s.stats.live_connections, 'number');
  });

  test('address and credentials from TERN_API_URL and TERN_USERNAME/TERN_PASSWORD, or TERN_API_KEY', async () => {
    const byEnv = await ctl(['status', '--json'], { env: { TERN_API_URL: n.url, TERN_USERNAME: 'admin', TERN_PASSWORD: 'public' } });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.equal(JSON.parse(byEnv.stdout).node, n.tern.config.node.name);

    // an API key made through the API (it needs an administrator's token)
    const login = await fetch(`${n.url}/api/v5/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) });
    const { token } = (await login.json()) as { token: string };
    const made = await fetch(`${n.url}/api/v5/api_key`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ name: 'cli-test' }) });
    assert.equal(made.status, 200);
    const key = (await made.json()) as { api_key: string; api_secret: string };
    const [byKey, flag] = await Promise.all([
      ctl(['users', 'list', '--json'], { env: { TERN_API_URL: n.url, TERN_API_KEY: `${key.api_key}:${key.api_secret}` } }),
      // the flag wins over the environment
      ctl(['--api-key', `${key.api_key}:${key.api_secret}`, 'status'], { env: { TERN_API_URL: n.url, TERN_API_KEY: 'wrong:wrong' } }),
    ]);
    assert.equal(byKey.code, 0, byKey.stderr);
    assert.ok(Array.isArray(JSON.parse(byKey.stdout)));
    assert.equal(flag.code, 0, flag.stderr);
  });

  test('without credentials the default administrator (admin/public) is used', async () => {
    const r = await ctl(['--url', n.url, 'users', 'list']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('conf show: everything, a section, one key (emqx.conf spelling too); secrets masked', async () => {
    const [all, byNew, byOld, zone, section, qos, whole, unknown] = await Promise.all([
      n.ok(['conf', 'show']),
      n.ok(['conf', 'show', 'zones.external.max_mqueue_len']),
      n.ok(['conf', 'show', 'zone.external.max_mqueue_len']),
      n.ok(['conf', 'show', 'listener.tcp.internal.zone']),
      n.ok(['conf', 'show', 'zone.internal']),
      n.json(['conf', 'show', 'mqtt.max_qos_allowed']),
      n.json<{ node: { name: string }; dashboard: { default_user: { password: string } } }>(['conf', 'show']),
      ctl([...n.admin, 'conf', 'show', 'zone.external.nope']),
    ]);
    assert.match(all, new RegExp(`^node\\.name = ${n.tern.config.node.name.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(all, /^dashboard\.default_user\.password = \*{6}$/m);
    assert.match(all, new RegExp(`^listeners\\.tcp\\.external\\.zone = external$`, 'm'));

    const max = String(n.tern.config.zones.external!.max_mqueue_len);
    assert.equal(byNew, `${max}\n`);
    assert.equal(byOld, `${max}\n`);
    assert.equal(zone, 'internal\n');
    assert.match(section, new RegExp(`^zone\\.internal\\.max_mqueue_len = ${n.tern.config.zones.internal!.max_mqueue_len}$`, 'm'));
    assert.deepEqual(qos, n.tern.config.mqtt.max_qos_allowed);
    assert.equal(whole.node.name, n.tern.config.node.name);
    assert.equal(whole.dashboard.default_user.password, '******');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'tern ctl: no configuration key zone.external.nope (tern ctl conf show lists them all)\n');
  });

  test('the package bin runs the same CLI (npx tern ctl ...)', async () => {
    const r = await ctl([...n.admin, 'status', '--json'], { bin: true });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).node, n.tern.config.node.name);
  });
});
