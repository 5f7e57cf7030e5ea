// `tern ctl clientids` and `anonymous` against a live node, checked by who may CONNECT.
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

test('clientids add|list|del and anonymous show|set decide who is let in', async () => {
  const mqtt = tcpUrl(n.tern);
  const set = await n.ok(['anonymous', 'set', 'external', 'off']);
  const [shown, shownJson] = await Promise.all([n.ok(['anonymous', 'show']), n.json(['anonymous', 'show'])]);
  assert.equal(set, shown);
  assert.deepEqual(shownJson, { zones: { external: false, internal: true }, sources: { external: 'api', internal: 'config' } });
  assert.deepEqual(parseTable(shown), [
    { ZONE: 'external', ALLOW_ANONYMOUS: 'no', SET_BY: 'api (wins over emqx.conf)' },
    { ZONE: 'internal', ALLOW_ANONYMOUS: 'yes', SET_BY: 'emqx.conf' },
  ]);
  await assert.rejects(connect(mqtt, { clientId: 'dev-0001' }), /Not authorized/i);

  assert.equal(await n.ok(['clientids', 'add', 'dev-0001']), 'added client id dev-0001\n');
  const [ids, idsJson] = await Promise.all([n.ok(['clientids', 'list']), n.json(['clientids', 'list'])]);
  assert.deepEqual(parseTable(ids), [{ CLIENTID: 'dev-0001' }]);
  assert.deepEqual(idsJson, [{ clientid: 'dev-0001' }]);
  await endAll(await connect(mqtt, { clientId: 'dev-0001' }));
  await n.ok(['clientids', 'del', 'dev-0001']);
  assert.deepEqual(await n.json(['clientids', 'list']), []);
  await assert.rejects(connect(mqtt, { clientId: 'dev-0001' }), /Not authorized/i);

  const on = await n.json<{ zones: Record<string, boolean>; sources: Record<string, string> }>(['anonymous', 'set', 'external', 'on']);
  assert.deepEqual(on, { zones: { external: true, internal: true }, sources: { external: 'api', internal: 'config' } });
  await endAll(await connect(mqtt, { clientId: 'anon-ok' }));

  const unknown = await ctl([...n.admin, 'anonymous', 'set', 'nozone', 'on']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^tern ctl: body\.zones\.nozone is not a configured zone .*\(BAD_REQUEST, HTTP 400\)\n$/);
});
