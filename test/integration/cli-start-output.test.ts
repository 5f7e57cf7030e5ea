// What `npm start` shows a person: on a terminal (a real pseudo-terminal here) readable log lines
// and the start banner with every listener's address, the dashboard URL and the default-password
// warning; on a pipe JSON lines only, the banner's facts in one record; log.to = file writes the
// file and flushes it on SIGTERM.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/tern.ts';
import { portsEnv, runTern, type PortsEnv } from '../helpers/process.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tsxLoader = import.meta.resolve('tsx');
const ANSI = /\x1b\[[0-9;]*m/g;
const TEXT_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG|FATAL): /;

// Runs its arguments on a new pseudo-terminal, copies the terminal's output to stdout, and hands
// SIGTERM on to the child (python3 is already a build requirement: node-gyp).
const PTY = `
import os, pty, signal, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGTERM))
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    os.write(1, data)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

interface Proc {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}

function onTerminal(env: Record<string, string>): Proc {
  let out = '';
  const child = spawn('python3', ['-c', PTY, process.execPath, '--import', tsxLoader, path.join(root, 'server/main.ts')], {
    cwd: tempDir(),
    env: { ...process.env, EMQX_LOG__LEVEL: 'info', TERM: 'xterm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

/** Resolves once the output matches; fails with what it has after `ms`. */
function waitForOutput(p: Proc, re: RegExp, ms = 90_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const plain = p.output().replace(ANSI, '').replaceAll('\r', '');
      if (!re.test(plain)) return false;
      clearTimeout(timer);
      p.child.stdout!.off('data', check);
      p.child.stderr!.off('data', check);
      resolve(plain);
      return true;
    };
    const timer = setTimeout(() => reject(new Error(`no ${re} in output:\n${p.output()}`)), ms);
    if (!check()) {
      p.child.stdout!.on('data', check);
      p.child.stderr!.on('data', check);
    }
  });
}

/** Resolves once the file's content matches, watching its folder (the file may not exist yet). */
function waitForFile(file: string, re: RegExp, ms = 90_000): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new Promise((resolve, reject) => {
    const check = () => {
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        return; // not created yet
      }
      if (!re.test(text)) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    const watcher = fs.watch(path.dirname(file), check);
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no ${re} in ${file}`));
    }, ms);
    check();
  });
}

async function stop(p: Proc): Promise<number | null> {
  p.child.kill('SIGTERM');
  return p.exit;
}

const wsPort = (env: PortsEnv) => env.EMQX_LISTENER__WS__EXTERNAL!.split(':')[1];
const internalPort = (env: PortsEnv) => env.EMQX_LISTENER__TCP__INTERNAL!.split(':')[1];

function assertBanner(text: string, env: PortsEnv) {
  const line = (re: RegExp) => assert.match(text, re, `banner line ${re} in:\n${text}`);
  line(/^ {2}Tern \d+\.\d+\.\d+ is running as tern@127\.0\.0\.1$/m);
  line(new RegExp(`^  tcp:external +mqtt://127\\.0\\.0\\.1:${env.tcp} +zone external$`, 'm'));
  line(new RegExp(`^  tcp:internal +mqtt://127\\.0\\.0\\.1:${internalPort(env)} +zone internal$`, 'm'));
  line(new RegExp(`^  ws:external +ws://127\\.0\\.0\\.1:${wsPort(env)}/mqtt +zone external$`, 'm'));
  line(/^ {2}ssl:external +- +not started: keyfile and certfile are not configured$/m);
  line(/^ {2}wss:external +- +not started: keyfile and certfile are not configured$/m);
  line(new RegExp(`^  dashboard +http://127\\.0\\.0\\.1:${env.http}/$`, 'm'));
  line(new RegExp(`^  api +http://127\\.0\\.0\\.1:${env.http}/api/v5 +\\(docs http://127\\.0\\.0\\.1:${env.http}/api-docs\\)$`, 'm'));
  line(/^ {2}WARNING: dashboard user "admin" still has the default password "public"\. Change it/m);
}

// Independent of each other: run at once (each mostly waits on child processes).
describe('npm start', { concurrency: true }, () => {
  test('on a terminal: readable coloured log lines and the start banner, no JSON', async () => {
    const env = await portsEnv();
    const p = onTerminal(env);
    try {
      const text = await waitForOutput(p, /^ {2}WARNING: dashboard user/m);
      assertBanner(text, env);
      assert.match(p.output(), /\x1b\[3\dm/, 'coloured');
      const lines = text.split('\n').filter((l) => l.startsWith('['));
      assert.ok(lines.length >= 5, text);
      for (const l of lines) assert.match(l, TEXT_LINE);
      assert.ok(lines.some((l) => new RegExp(`INFO: \\[listeners\\] listening listener=tcp:external bind=127\\.0\\.0\\.1:${env.tcp} zone=external$`).test(l)), text);
      assert.ok(!text.split('\n').some((l) => l.startsWith('{')), 'no JSON lines');
      assert.equal(await stop(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('on a pipe: JSON lines only; the banner is one record with every listener, the dashboard and the weak admins', async () => {
    const env = await portsEnv();
    const p = runTern(env);
    try {
      await waitForOutput(p, /"msg":"Tern is ready"/);
      const records = p.output().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const ready = records.find((r) => r.msg === 'Tern is ready')!;
      assert.deepEqual(ready.listeners, [
        { id: 'tcp:external', zone: 'external', url: `mqtt://127.0.0.1:${env.tcp}` },
        { id: 'tcp:internal', zone: 'internal', url: `mqtt://127.0.0.1:${internalPort(env)}` },
        { id: 'ws:external', zone: 'external', url: `ws://127.0.0.1:${wsPort(env)}/mqtt` },
        { id: 'ssl:external', zone: 'external', note: 'not started: keyfile and certfile are not configured' },
        { id: 'wss:external', zone: 'external', note: 'not started: keyfile and certfile are not configured' },
      ]);
      assert.equal(ready.dashboard, `http://127.0.0.1:${env.http}/`);
      assert.deepEqual(ready.default_password_admins, ['admin']);
      assert.equal(await stop(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('log.format = text on a pipe: the banner and text lines without colour', async () => {
    const env = await portsEnv();
    const p = runTern({ ...env, EMQX_LOG__FORMAT: 'text' });
    try {
      const text = await waitForOutput(p, /^ {2}WARNING: dashboard user/m);
      assertBanner(text, env);
      assert.doesNotMatch(p.output(), /\x1b\[/);
      for (const l of text.split('\n').filter((x) => x.startsWith('['))) assert.match(l, TEXT_LINE);
      assert.equal(await stop(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('a changed admin password: no warning in the banner', async () => {
    const env = await portsEnv();
    const p = runTern({ ...env, EMQX_LOG__FORMAT: 'text', EMQX_DASHBOARD__DEFAULT_USER__PASSWORD: 'not-the-default-1' });
    try {
      // the banner is one write: once its api line is there, all of it is
      const text = await waitForOutput(p, /^ {2}api +http/m);
      assert.doesNotMatch(text, /WARNING/);
      assert.equal(await stop(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('log.to = file: JSON lines in log.file, flushed through SIGTERM; the console stays quiet', async () => {
    const env = await portsEnv();
    const dir = tempDir();
    const file = path.join(dir, 'logs', 'tern.log');
    const p = runTern({ ...env, EMQX_LOG__TO: 'file', EMQX_LOG__FILE: file });
    try {
      // nothing on the console: ready is the banner's record in the file
      await waitForFile(file, /"msg":"Tern is ready"/);
      assert.equal(await stop(p), 0);
      assert.equal(p.output(), '');
      const records = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; log_file?: string });
      const ready = records.find((r) => r.msg === 'Tern is ready');
      assert.equal(ready?.log_file, file);
      assert.equal(records.at(-1)!.msg, 'stopped');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});
