// acl.conf (EMQX 4's Erlang terms): the shipped default file, every rule shape, the matching
// semantics, and file:line errors for malformed files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAclFile, parseAclText } from '../../server/broker/access/acl-file.ts';
import { firstMatch, type AclAction, type AclRule } from '../../server/broker/access/acl-rules.ts';
import { ConfigError } from '../../server/config/errors.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_FILE = path.join(repoRoot, 'server/broker/access/acl.conf.default');

function decide(rules: AclRule[], who: { clientid: string; username?: string; ip?: string }, action: AclAction, topic: string) {
  const s = { clientid: who.clientid, username: who.username ?? null, peerhost: () => who.ip ?? null };
  const rule = firstMatch(rules, s, action, topic, topic.split('/'));
  return rule ? `${rule.permission}@${rule.origin.source === 'file' ? rule.origin.line : '?'}` : 'nomatch';
}

test("EMQX's default acl.conf parses into its four rules, with their lines", () => {
  const { rules } = loadAclFile(DEFAULT_FILE);
  assert.equal(rules.length, 4);
  const text = fs.readFileSync(DEFAULT_FILE, 'utf8').split('\n');
  for (const r of rules) {
    assert.equal(r.origin.source, 'file');
    if (r.origin.source === 'file') assert.ok(text[r.origin.line - 1]!.startsWith('{'), `line ${r.origin.line} starts the rule`);
  }
  assert.deepEqual(
    rules.map((r) => [r.permission, r.who.kind, r.access, r.topics?.map((t) => (t.kind === 'eq' ? `eq ${t.topic}` : t.filter))]),
    [
      ['allow', 'user', 'subscribe', ['$SYS/#']],
      ['allow', 'ipaddr', 'pubsub', ['$SYS/#', '#']],
      ['deny', 'all', 'subscribe', ['$SYS/#', 'eq #']],
      ['allow', 'all', 'pubsub', undefined],
    ],
  );
});

test('the default file: $SYS for dashboard and localhost only, nobody else subscribes to "#"', () => {
  const { rules } = loadAclFile(DEFAULT_FILE);
  const [l1, l2, l3, l4] = rules.map((r) => (r.origin.source === 'file' ? r.origin.line : 0));
  const remote = { clientid: 'c1', ip: '10.1.2.3' };
  assert.equal(decide(rules, remote, 'subscribe', '#'), `deny@${l3}`);
  assert.equal(decide(rules, remote, 'subscribe', '$SYS/#'), `deny@${l3}`);
  assert.equal(decide(rules, remote, 'subscribe', '$SYS/brokers/+/uptime'), `deny@${l3}`);
  assert.equal(decide(rules, remote, 'subscribe', 'a/#'), `allow@${l4}`);
  assert.equal(decide(rules, remote, 'subscribe', '+/#'), `allow@${l4}`);
  assert.equal(decide(rules, remote, 'publish', '#'.replace('#', 'x/y')), `allow@${l4}`);
  assert.equal(decide(rules, { clientid: 'd', username: 'dashboard', ip: '10.1.2.3' }, 'subscribe', '$SYS/#'), `allow@${l1}`);
  assert.equal(decide(rules, { clientid: 'd', username: 'dashboard', ip: '10.1.2.3' }, 'subscribe', '#'), `deny@${l3}`);
  assert.equal(decide(rules, { clientid: 'l', ip: '127.0.0.1' }, 'subscribe', '#'), `allow@${l2}`);
  assert.equal(decide(rules, { clientid: 'l', ip: '127.0.0.1' }, 'subscribe', '$SYS/brokers'), `allow@${l2}`);
  assert.equal(decide(rules, { clientid: 'l', ip: '::ffff:127.0.0.1' }, 'subscribe', '$SYS/#'), `allow@${l2}`);
});

test('every rule shape: user, username, clientid, client, ipaddr with CIDR, ipaddrs, and, or, all, re, eq, placeholders', () => {
  const rules = parseAclText(
    [
      '%% comments and blank lines are skipped',
      '',
      '{allow, {user, "u1"}, publish, ["u/1"]}.',
      '{allow, {username, "u2"}, publish, "u/2"}. % a single topic without a list',
      '{allow, {clientid, "c3"}, subscribe, ["c/3/+"]}.',
      '{allow, {client, "c4"}, subscribe, ["c/4/#"]}.',
      '{deny, {ipaddr, "10.0.0.0/8"}, publish, ["net/#"]}.',
      '{allow, {ipaddrs, ["192.168.1.7", "fd00::/8"]}, pubsub, ["lan/#"]}.',
      "{allow, {'and', [{user, \"u9\"}, {ipaddr, \"127.0.0.1\"}]}, publish, [\"and/9\"]}.",
      "{allow, {'or', [{clientid, \"x\"}, {clientid, \"y\"}]}, publish, [\"or/xy\"]}.",
      '{allow, {user, {re, "^sensor-[0-9]+$"}}, publish, ["re/#"]}.',
      '{allow, all, subscribe, ["own/%c/#", "users/%u/+", "own5/${clientid}"]}.',
      '{deny, all, subscribe, [{eq, "lit/#"}]}.',
      '{allow, {user, all}, publish, ["anyuser"]}.',
      '{deny,',
      '  all}.',
    ].join('\n'),
    'acl.conf',
  );
  assert.equal(rules.length, 13);
  const d = (who: { clientid: string; username?: string; ip?: string }, action: AclAction, topic: string) => decide(rules, who, action, topic);
  assert.equal(d({ clientid: 'a', username: 'u1' }, 'publish', 'u/1'), 'allow@3');
  assert.equal(d({ clientid: 'a', username: 'u2' }, 'publish', 'u/2'), 'allow@4');
  assert.equal(d({ clientid: 'a', username: 'u3' }, 'publish', 'u/1'), 'deny@15', 'a rule of another user does not match');
  assert.equal(d({ clientid: 'c3' }, 'subscribe', 'c/3/x'), 'allow@5');
  assert.equal(d({ clientid: 'c3' }, 'publish', 'c/3/x'), 'deny@15', 'subscribe rules do not cover publish');
  assert.equal(d({ clientid: 'c4' }, 'subscribe', 'c/4'), 'allow@6', 'a/# matches its parent a');
  assert.equal(d({ clientid: 'n', ip: '10.9.8.7' }, 'publish', 'net/a'), 'deny@7');
  assert.equal(d({ clientid: 'n', ip: '11.0.0.1' }, 'publish', 'net/a'), 'deny@15');
  assert.equal(d({ clientid: 'n', ip: '192.168.1.7' }, 'subscribe', 'lan/x'), 'allow@8');
  assert.equal(d({ clientid: 'n', ip: 'fd12::1' }, 'publish', 'lan/x'), 'allow@8');
  assert.equal(d({ clientid: 'n', ip: '192.168.1.8' }, 'publish', 'lan/x'), 'deny@15');
  assert.equal(d({ clientid: 'n', username: 'u9', ip: '127.0.0.1' }, 'publish', 'and/9'), 'allow@9');
  assert.equal(d({ clientid: 'n', username: 'u9', ip: '127.0.0.2' }, 'publish', 'and/9'), 'deny@15');
  assert.equal(d({ clientid: 'y' }, 'publish', 'or/xy'), 'allow@10');
  assert.equal(d({ clientid: 'z' }, 'publish', 'or/xy'), 'deny@15');
  assert.equal(d({ clientid: 'n', username: 'sensor-42' }, 'publish', 're/a'), 'allow@11');
  assert.equal(d({ clientid: 'n', username: 'sensor-x' }, 'publish', 're/a'), 'deny@15');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'own/me/a/b'), 'allow@12');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'own/you/a'), 'deny@15');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'own5/me'), 'allow@12');
  assert.equal(d({ clientid: 'me', username: 'bob' }, 'subscribe', 'users/bob/x'), 'allow@12');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'users//x'), 'deny@15', '%u does not match a client without a username');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'lit/#'), 'deny@13');
  assert.equal(d({ clientid: 'me' }, 'subscribe', 'lit/a'), 'deny@15');
  assert.equal(d({ clientid: 'me', username: 'anyone' }, 'publish', 'anyuser'), 'allow@14');
});

function errorOf(text: string): string {
  try {
    parseAclText(text, '/etc/acl.conf');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('malformed acl.conf lines name file:line and what was expected', () => {
  assert.equal(errorOf('{allow, all}.\n{allow, all}'), '/etc/acl.conf:2: expected "." after the rule that starts on line 2, got the end of the file');
  assert.equal(errorOf('\n\n{permit, all}.'), '/etc/acl.conf:3: expected allow or deny as the first element of the rule, got permit');
  assert.equal(errorOf('{allow, {user, "a"}, read, ["t"]}.'), '/etc/acl.conf:1: expected subscribe, publish or pubsub as the access, got read');
  assert.match(errorOf('%% x\n{allow, {group, "a"}, publish, ["t"]}.'), /^\/etc\/acl\.conf:2: expected who: all, \{user, "name"\}.*got \{group, "a"\}$/);
  assert.equal(
    errorOf('{allow, {ipaddr, "10.0.0.300"}, publish, ["t"]}.'),
    '/etc/acl.conf:1: expected an address or CIDR such as "127.0.0.1" or "10.0.0.0/8" in {ipaddr, ...}, got "10.0.0.300"',
  );
  assert.equal(errorOf('{allow, all, publish, ["a/#/b"]}.'), '/etc/acl.conf:1: expected a topic filter: "a/#/b" may use # only as the whole last level');
  assert.equal(errorOf('{allow, all, publish, []}.'), '/etc/acl.conf:1: expected a non-empty list of topics such as ["a/#", {eq, "#"}], got []');
  assert.equal(errorOf('{allow, all, publish, ["t"]'), '/etc/acl.conf:1: expected "," or "}", got the end of the file');
  assert.equal(errorOf('{allow, all, publish, ["t]}.\n'), '/etc/acl.conf:1: expected a closing " for the string that starts here');
  assert.equal(errorOf('{allow, all, publish}.'), '/etc/acl.conf:1: expected a rule of 4 elements {allow, Who, Access, Topics} (or {allow, all}), got 3');
  assert.equal(errorOf('{allow, nobody}.'), '/etc/acl.conf:1: expected all in a two-element rule {allow, all}, got nobody');
  assert.equal(errorOf('allow.'), '/etc/acl.conf:1: expected a rule such as {allow, all}. or {deny, all, subscribe, ["#"]}., got allow');
  assert.equal(errorOf('{allow, all}.{deny, all}.'), '/etc/acl.conf:1: expected whitespace or a new line after ".", got "{"');
  assert.equal(errorOf('\n{allow, all, publish, [{eq, 1}]}.'), '/etc/acl.conf:2: expected a topic "a/b/#" or {eq, "topic"}, got {eq, 1}');
  assert.equal(errorOf('{allow, all} ; '), '/etc/acl.conf:1: expected a term ({ [ an atom, a "string" or a number), got ";"');
});

test('loadAclFile names a file it cannot read', () => {
  const missing = path.join(os.tmpdir(), 'no-such-dir-tern', 'acl.conf');
  assert.throws(() => loadAclFile(missing), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`cannot read acl_file ${missing}:`));
});
