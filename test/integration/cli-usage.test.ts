// `tern ctl` with bad arguments (exit 2, one line, before any request is made) and its --help.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ctl } from '../helpers/cli.ts';

// Nothing listens here (port 9 is discard, and fetch refuses it anyway): a request made by mistake
// fails with exit 3, not the usage error these tests expect.
const DEAD = 'http://127.0.0.1:9';

/** exactly one line on stderr, nothing on stdout */
function oneLine(r: { stdout: string; stderr: string }): string {
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tern ctl: [^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  return r.stderr.trimEnd();
}

// Independent of each other: run at once (each mostly waits on child processes).
describe('tern ctl usage', { concurrency: true }, () => {
  test('bad arguments: exit 2, one line', async () => {
    const cases: [string[], RegExp][] = [
      [['publish', 'a'], /missing required argument 'payload'/],
      [['publish', 'a', 'b', '--qos', '3'], /--qos <qos>.*'3' is invalid.*0 to 2/],
      [['anonymous', 'set', 'external', 'maybe'], /'maybe' is invalid.*on, off/],
      [['banned', 'add', 'nickname', 'x'], /'nickname' is invalid.*clientid, username, peerhost/],
      [['banned', 'add', 'clientid', 'x', '--until', 'soon'], /'soon' is invalid.*duration from now/],
      [['acl', 'check', 'c', 'read', 't'], /'read' is invalid.*publish, subscribe/],
      [['no-such-command'], /unknown command 'no-such-command'/],
      [['--url', 'not a url', 'status'], /--url "not a url" is not a URL/],
      [['--api-key', 'no-colon', 'status'], /--api-key \(or TERN_API_KEY\) must be <api_key>:<api_secret>/],
      [['--username', 'admin', 'status'], /--password \(or TERN_PASSWORD\) is missing/],
    ];
    const results = await Promise.all(cases.map(([args]) => ctl(['--url', DEAD, ...args])));
    results.forEach((r, i) => {
      const [args, re] = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(oneLine(r), re, args.join(' '));
    });
    // a password for `users add` cannot come from an empty standard input
    const empty = await ctl(['--url', DEAD, 'users', 'add', 'carol'], { input: '' });
    assert.equal(empty.code, 2);
    assert.equal(oneLine(empty), 'tern ctl: the password: standard input was empty');
  });

  test('--help lists every command; <group> --help lists its subcommands and options', async () => {
    const [top, group, bare, leaf] = await Promise.all([ctl(['--help']), ctl(['clients', '--help']), ctl(['clients']), ctl(['conf', 'reload', '--help'])]);
    assert.equal(top.code, 0);
    for (const cmd of [
      'status', 'clients list', 'clients show <clientid>', 'clients kick <clientid>', 'sessions list', 'subscriptions list',
      'users add <username> [password]', 'users list', 'users del <username>', 'users passwd <username> [password]',
      'clientids add <clientid>', 'clientids list', 'clientids del <clientid>', 'anonymous show', 'anonymous set <zone> <on|off>',
      'hooks list', 'hooks show <id>', 'hooks retry <id>', 'acl check <clientid> <action> <topic>',
      'banned list', 'banned add <as> <who>', 'banned del <as> <who>', 'conf show [key]', 'conf reload', 'publish <topic> <payload>',
    ]) {
      assert.match(top.stdout, new RegExp(`^  ${cmd.replace(/[[\]|]/g, '\\$&')}  `, 'm'), cmd);
    }
    for (const v of ['TERN_API_URL', 'TERN_API_KEY', 'TERN_USERNAME', 'TERN_PASSWORD', '--json', '--url', '--api-key']) assert.ok(top.stdout.includes(v), v);

    assert.equal(group.code, 0);
    for (const sub of ['list', 'show', 'kick']) assert.match(group.stdout, new RegExp(`^  ${sub}\\b`, 'm'));
    // `tern ctl clients` alone shows the same
    assert.equal(bare.stdout, group.stdout);

    assert.equal(leaf.code, 0);
    assert.match(leaf.stdout, /--dry-run/);
  });
});
