// GET /configs says where each value in force comes from: built-in default, emqx.conf (file:line),
// an EMQX_* variable, or the API; secrets stay masked. A real file in a temp dir, a whole Tern,
// the API over HTTP; a reload moves the sources with the values (a restart key keeps its old one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../server/config/index.ts';
import { startTern } from '../../server/tern.ts';
import { baseConfLines, tempDir } from '../helpers/tern.ts';

type Sources = Record<string, { source: string; where?: string }>;

async function start(lines: string[], env: NodeJS.ProcessEnv, password = 'public') {
  const dir = tempDir('tern-sources-');
  const file = path.join(dir, 'emqx.conf');
  const base = baseConfLines(dir);
  const write = (extra: string[]) => fs.writeFileSync(file, [...base, ...extra].join('\n') + '\n');
  write(lines);
  const loaded = loadConfig({ file, env });
  const tern = await startTern({ config: loaded.config, file, env, pathOrigins: loaded.pathOrigins, logger: pino({ level: 'silent' }) });
  const root = `http://127.0.0.1:${tern.ports.http}/api/v5`;
  const login = (await (await fetch(`${root}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) })).json()) as { token: string };
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(root + route, {
      method,
      headers: { authorization: `Bearer ${login.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
  };
  return { file, tern, api, write };
}

test('GET /configs: each value says default, file (with its line), env (with the variable) or API; secrets masked', async () => {
  const f = await start(
    ['node.name = sources@127.0.0.1', 'zone.external.max_mqueue_len = 77', 'zone.external.idle_timeout = 20s', 'dashboard.default_user.password = s3cret-pass', 'broker.sys_topics.allow = superuser'],
    { EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT: '45s', EMQX_MQTT__MAX_TOPIC_LEVELS: '9' },
    's3cret-pass',
  );
  try {
    const { status, body } = await f.api('GET', '/configs');
    assert.equal(status, 200);
    const sources = body.sources as Sources;
    assert.deepEqual(sources['node.name'], { source: 'file', where: `${f.file}:7` });
    assert.deepEqual(sources['zones.external.max_mqueue_len'], { source: 'file', where: `${f.file}:8` });
    // the environment wins over line 9, and says so
    assert.deepEqual(sources['zones.external.idle_timeout'], { source: 'env', where: 'EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT' });
    assert.equal((body.zones as Record<string, { idle_timeout: number }>).external.idle_timeout, 45_000);
    assert.deepEqual(sources['mqtt.max_topic_levels'], { source: 'env', where: 'EMQX_MQTT__MAX_TOPIC_LEVELS' });
    // an emqx.conf key whose Config field is spelled differently is found all the same
    assert.deepEqual(sources['broker.sys_topics_allow'], { source: 'file', where: `${f.file}:11` });
    // listeners by <proto>.<name>; host and port come from their one address line
    assert.deepEqual(sources['listeners.tcp.internal.port'], { source: 'file', where: `${f.file}:4` });
    assert.deepEqual(sources['listeners.tcp.internal.max_connections'], { source: 'default' });
    assert.deepEqual(sources['mqtt.max_packet_size'], { source: 'default' });
    assert.deepEqual(sources['zones.internal.max_mqueue_len'], { source: 'default' });
    // a secret: its source is shown, its value never
    assert.deepEqual(sources['dashboard.default_user.password'], { source: 'file', where: `${f.file}:10` });
    assert.equal((body.dashboard as { default_user: { password: string } }).default_user.password, '******');
    assert.ok(!JSON.stringify(body).includes('s3cret-pass'), 'the password is in no value');
    // every value of the document has a source
    assert.equal(sources['zones.external.allow_anonymous']?.source, 'default');

    // a value set through the API wins over the file and is marked so
    assert.equal((await f.api('PUT', '/authentication/anonymous', { zones: { external: false } })).status, 200);
    const after = (await f.api('GET', '/configs')).body;
    assert.deepEqual((after.sources as Sources)['zones.external.allow_anonymous'], { source: 'api' });
    assert.deepEqual(after.overrides, { 'zones.external.allow_anonymous': false });
  } finally {
    await f.tern.close();
  }
});

test('after a reload the sources follow the file; a key that needs a restart keeps the source of its value in force', async () => {
  const f = await start(['node.name = before@127.0.0.1', 'zone.external.max_mqueue_len = 77'], {});
  try {
    // new lines above shift the old ones down; node.name changes (restart), a new key appears
    f.write(['mqtt.max_packet_size = 2MB', 'node.name = after@127.0.0.1', 'zone.external.max_mqueue_len = 88']);
    const reload = await f.api('POST', '/configs/reload');
    assert.equal(reload.status, 200);
    assert.deepEqual(reload.body.restart_required, ['node.name']);
    const { body } = await f.api('GET', '/configs');
    const sources = body.sources as Sources;
    assert.deepEqual(sources['mqtt.max_packet_size'], { source: 'file', where: `${f.file}:7` });
    assert.deepEqual(sources['zones.external.max_mqueue_len'], { source: 'file', where: `${f.file}:9` });
    assert.equal((body.node as { name: string }).name, 'before@127.0.0.1');
    assert.deepEqual(sources['node.name'], { source: 'file', where: `${f.file}:7` }, 'the value in force is still the one line 7 set at start');
  } finally {
    await f.tern.close();
  }
});
