// GET /authorization/sources/file/rules: acl_file's rules in force, read-only, each with the line
// it starts on and its text as written; none without an acl_file. A whole Tern, the API over HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig } from '../helpers/tern.ts';
import { writeTemp } from '../helpers/access.ts';
import type { Tern } from '../../server/tern.ts';

async function get(tern: Tern, route: string) {
  const root = `http://127.0.0.1:${tern.ports.http}/api/v5`;
  const { token } = (await (await fetch(`${root}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) })).json()) as { token: string };
  const res = await fetch(root + route, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as { file: string | null; rules: { line: number; text: string; permission: string }[] } };
}

test('the file rules with their lines and text, in file order', async () => {
  const file = writeTemp(
    'acl.conf',
    ['%% a comment', '{allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.', '', '{deny, all, subscribe,', '   ["#"]}.', '{allow, all}.', ''].join('\n'),
  );
  const tern = await startTestTern(testConfig((c) => (c.acl_file = file)));
  try {
    const { status, body } = await get(tern, '/authorization/sources/file/rules');
    assert.equal(status, 200);
    assert.equal(body.file, file);
    assert.deepEqual(
      body.rules.map((r) => [r.line, r.permission]),
      [[2, 'allow'], [4, 'deny'], [6, 'allow']],
    );
    assert.match(body.rules[0]!.text, /^\{allow, \{user, "dashboard"\}, subscribe, \["\$SYS\/#"\]\}\.$/);
    assert.match(body.rules[1]!.text, /\{deny, all, subscribe,\s+\["#"\]\}\./);
  } finally {
    await tern.close();
  }
});

test('no acl_file: file null, no rules', async () => {
  const tern = await startTestTern(testConfig());
  try {
    assert.deepEqual((await get(tern, '/authorization/sources/file/rules')).body, { file: null, rules: [] });
  } finally {
    await tern.close();
  }
});
