// `tern ctl users` against a live node, checked by who may CONNECT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, endAll, tcpUrl } from '../helpers/tern.ts';
import { startCtlNode, parseTable, ctl, type CtlNode } from '../helpers/cli.ts';

let n: CtlNode;

before(async () => {
  n = await startCtlNode();
});

after(async () => {
  await n.close();
});

test('users add|list|passwd|del change who may CONNECT', async () => {
  const [alice, bob] = await Promise.all([
    n.ok(['users', 'add', 'alice', 'alice-pw-1']),
    // the password on standard input keeps it out of `ps`
    n.ok(['users', 'add', 'bob', '--superuser'], { input: 'bob-pw-1\n' }),
  ]);
  assert.equal(alice, 'added user alice\n');
  assert.equal(bob, 'added user bob (superuser)\n');

  const [table, like] = await Promise.all([n.ok(['users', 'list']), n.json(['users', 'list', '--like', 'ali'])]);
  assert.deepEqual(parseTable(table), [
    { USERNAME: 'alice', SUPERUSER: 'no' },
    { USERNAME: 'bob', SUPERUSER: 'yes' },
  ]);
  assert.deepEqual(like, [{ user_id: 'alice', is_superuser: false }]);

  const mqtt = tcpUrl(n.tern);
  await endAll(await connect(mqtt, { clientId: 'alice-1', username: 'alice', password: 'alice-pw-1' }));
  await n.ok(['users', 'passwd', 'alice', 'alice-pw-2']);
  await assert.rejects(connect(mqtt, { clientId: 'alice-2', username: 'alice', password: 'alice-pw-1' }), /Bad username or password/i);
  await endAll(await connect(mqtt, { clientId: 'alice-3', username: 'alice', password: 'alice-pw-2' }));

  const [dup, del] = await Promise.all([ctl([...n.admin, 'users', 'add', 'alice', 'x']), n.ok(['users', 'del', 'bob'])]);
  assert.equal(dup.code, 1);
  assert.equal(dup.stderr, 'tern ctl: user alice already exists (ALREADY_EXISTS, HTTP 409)\n');
  assert.equal(dup.stdout, '');
  assert.equal(del, 'deleted user bob\n');

  const [left, gone] = await Promise.all([n.json(['users', 'list']), ctl([...n.admin, 'users', 'del', 'bob'])]);
  assert.deepEqual(left, [{ user_id: 'alice', is_superuser: false }]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^tern ctl: .*bob.* \(NOT_FOUND, HTTP 404\)\n$/);
  await n.ok(['users', 'del', 'alice']);
});
