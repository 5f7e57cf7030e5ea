// `tern ctl` for the webhooks, ACL, bans and reload against a live node (tables and --json),
// checked against what the broker really holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, tcpUrl } from '../helpers/tern.ts';
import { startCtlNode, parseTable, parseKeyValue, type CtlNode } from '../helpers/cli.ts';

let node: CtlNode;
before(async () => {
  node = await startCtlNode();
});
after(() => node.close());

test('banned add | list | del: the ban refuses the client id, and is gone after del', async () => {
  await node.ok(['banned', 'add', 'clientid', 'ctl-banned', '--reason', 'testing']);
  const rows = await node.json<{ data?: { who: string; reason: string }[] } | { who: string; reason: string }[]>(['banned', 'list']);
  const list = Array.isArray(rows) ? rows : (rows.data ?? []);
  assert.deepEqual(list.map((b) => [b.who, b.reason]), [['ctl-banned', 'testing']]);
  const table = parseTable(await node.ok(['banned', 'list']));
  assert.equal(table.length, 1);
  await assert.rejects(connect(tcpUrl(node.tern), { clientId: 'ctl-banned' }), (err: { code?: number }) => err.code === 5);
  await node.ok(['banned', 'del', 'clientid', 'ctl-banned']);
  const c = await connect(tcpUrl(node.tern), { clientId: 'ctl-banned' });
  await c.endAsync(true);
});

test('acl check answers the decision of the node and the deciding source, as a table and --json', async () => {
  const out = await node.json<{ result: string; source: string }>(['acl', 'check', 'ctl-c', 'publish', 'a/b']);
  assert.deepEqual([out.result, out.source], ['allow', 'nomatch']);
  const kv = parseKeyValue(await node.ok(['acl', 'check', 'ctl-c', 'publish', 'a/b']));
  assert.deepEqual([kv.result, kv.source], ['allow', 'nomatch']);
});

test('hooks list and show the registered webhooks', async () => {
  const hook = await node.tern.webhooks.create({ name: 'ctl-hook', url: 'http://127.0.0.1:9/hook', events: ['client.connected'] } as never);
  const list = await node.json<{ id: number; name: string }[]>(['hooks', 'list']);
  assert.deepEqual(list.map((h) => h.name), ['ctl-hook']);
  const table = parseTable(await node.ok(['hooks', 'list']));
  assert.equal(table.length, 1);
  const shown = await node.json<{ id: number; name: string }>(['hooks', 'show', String(hook.id)]);
  assert.equal(shown.name, 'ctl-hook');
});

test('conf reload --dry-run answers the reload report, changing nothing', async () => {
  const out = await node.json<{ applied: boolean; dry_run: boolean; changes: unknown[] }>(['conf', 'reload', '--dry-run']);
  assert.equal(out.dry_run, true);
  assert.equal(out.applied, false);
  assert.deepEqual(out.changes, []);
});
