// The real entry point as a child process: start on env-overridden ports, answer /api/v5/status,
// stop on SIGTERM with exit 0, and fail start-up clearly on a busy port or a bad config file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, connect, endAll } from '../helpers/tern.ts';
import { portsEnv, runTern as run } from '../helpers/process.ts';

test('npm start equivalent: starts on the defaults with env overrides, serves status, stops on SIGTERM with exit 0', async () => {
  const env = await portsEnv();
  const p = run(env);
  try {
    await p.ready;
    const status = (await (await fetch(`http://127.0.0.1:${env.http}/api/v5/status`)).json()) as Record<string, unknown>;
    assert.equal(status.node, 'tern@127.0.0.1');
    assert.equal(typeof status.version, 'string');
    assert.equal(typeof status.uptime, 'number');
    const client = await connect(`mqtt://127.0.0.1:${env.tcp}`, { clientId: 'proc-test' });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
    await closed; // the broker disconnected its client
    await endAll(client);
    assert.match(p.output(), /shutting down/);
    // logs are structured JSON lines
    const first = p.output().split('\n').find((l) => l.startsWith('{'));
    assert.ok(first && JSON.parse(first).level);
  } finally {
    p.child.kill('SIGKILL');
  }
});

test('SIGINT stops it too', async () => {
  const env = await portsEnv();
  const p = run(env);
  try {
    await p.ready;
    p.child.kill('SIGINT');
    assert.equal(await p.exit, 0);
  } finally {
    p.child.kill('SIGKILL');
  }
});

/**
 * Starts Tern with the port `pick` chooses held by another server, and returns how it exited. The
 * other ports were free when chosen but are released before Tern binds them, so a test running
 * alongside may take one meanwhile: a start that failed on another port than the held one is
 * tried again on fresh ports.
 */
async function startOnBusyPort(pick: (env: Awaited<ReturnType<typeof portsEnv>>) => string): Promise<{ code: number | null; output: string; port: string }> {
  for (let attempt = 1; ; attempt++) {
    const env = await portsEnv();
    const port = pick(env);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(Number(port), '127.0.0.1', () => resolve()));
    try {
      const p = run(env);
      const code = await p.exit;
      const failed = /cannot bind 127\.0\.0\.1:(\d+)/.exec(p.output());
      if (failed && failed[1] !== port && attempt < 3) continue;
      return { code, output: p.output(), port };
    } finally {
      blocker.close();
    }
  }
}

test('a WebSocket port already in use is the same clean start-up error, not an uncaught one', async () => {
  const { code, output, port } = await startOnBusyPort((env) => env.EMQX_LISTENER__WS__EXTERNAL!.split(':')[1]!);
  assert.equal(code, 1);
  assert.match(output, new RegExp(`listener ws\\.external cannot bind 127\\.0\\.0\\.1:${port}: the port is already in use`));
  assert.doesNotMatch(output, /Unhandled 'error' event/);
});

test('a port already in use names the listener and the port and exits non-zero', async () => {
  const { code, output, port } = await startOnBusyPort((env) => env.tcp);
  assert.notEqual(code, 0);
  assert.match(output, new RegExp(`listener tcp\\.external cannot bind 127\\.0\\.0\\.1:${port}: the port is already in use`));
});

test('a bad line in the file given with --config stops start-up naming file:line', async () => {
  const env = await portsEnv();
  const dir = tempDir();
  const file = path.join(dir, 'my.conf');
  fs.writeFileSync(file, '# comment\nallow_anonymous = maybe\n');
  const p = run(env, ['--config', file]);
  assert.notEqual(await p.exit, 0);
  assert.match(p.output(), /my\.conf:2/);
  assert.match(p.output(), /allow_anonymous/);
});

test('a malformed acl_file stops start-up naming its file:line, with the config error exit code', async () => {
  const env = await portsEnv();
  const acl = path.join(tempDir(), 'acl.conf');
  fs.writeFileSync(acl, '%% rules\n{allow, all}.\n{deny, {user, "x"}, pubsub, ["a/#"]\n');
  const p = run({ ...env, EMQX_ACL_FILE: acl });
  assert.equal(await p.exit, 2);
  assert.match(p.output(), new RegExp(`tern: configuration error: ${acl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: expected "," or "}", got the end of the file`));
});

test('./emqx.conf in the working directory is read by default', async () => {
  const env = await portsEnv();
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'emqx.conf'), 'node.name = fromfile@127.0.0.1\n');
  const p = run(env, [], dir);
  try {
    await p.ready;
    const status = (await (await fetch(`http://127.0.0.1:${env.http}/api/v5/status`)).json()) as { node: string };
    assert.equal(status.node, 'fromfile@127.0.0.1');
  } finally {
    p.child.kill('SIGTERM');
    await p.exit;
  }
});

test('a corrupt database stops start-up with a clear error and exit code', async () => {
  const env = await portsEnv();
  fs.writeFileSync(path.join(env.EMQX_NODE__DATA_DIR!, 'tern.db'), Buffer.alloc(4096, 7));
  const p = run(env);
  assert.notEqual(await p.exit, 0);
  assert.match(p.output(), /corrupt or not a SQLite database/);
});
