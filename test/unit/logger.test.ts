// Log output: text or JSON by log.format and whether the console is a terminal, file output with
// size rotation, both at once, and the log.* keys of emqx.conf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { consoleFormat, createLogOutput, formatTextMessage } from '../../server/logger.ts';
import { defaultConfig, loadConfig, ConfigError } from '../../server/config/index.ts';
import type { LogConfig } from '../../server/config/types.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tern-log-'));

/** A stdout stand-in that keeps what is written; `isTTY` as a terminal would report it. */
function fakeStdout(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return { stream, text: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter(Boolean) };
}

function logConfig(mutate: (l: LogConfig) => void = () => {}): LogConfig {
  const l = defaultConfig().log;
  mutate(l);
  return l;
}

const TEXT_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG): /;

test('auto: readable text on a terminal, JSON lines on a pipe; text and json force either', () => {
  assert.equal(consoleFormat('auto', true), 'text');
  assert.equal(consoleFormat('auto', false), 'json');
  assert.equal(consoleFormat('json', true), 'json');
  assert.equal(consoleFormat('text', false), 'text');

  const tty = fakeStdout(true);
  const onTty = createLogOutput(logConfig(), { stdout: tty.stream, color: false });
  assert.equal(onTty.console, 'text');
  onTty.logger.child({ module: 'listeners' }).info({ listener: 'tcp:external', bind: '0.0.0.0:1883', n: 3 }, 'listening');
  onTty.logger.warn({ username: 'admin user' }, 'default password');
  const [first, second] = tty.lines();
  assert.match(first!, TEXT_LINE);
  assert.ok(first!.endsWith('INFO: [listeners] listening listener=tcp:external bind=0.0.0.0:1883 n=3'), first);
  assert.ok(second!.endsWith('WARN: default password username="admin user"'), second);

  const pipe = fakeStdout(false);
  const onPipe = createLogOutput(logConfig(), { stdout: pipe.stream });
  assert.equal(onPipe.console, 'json');
  onPipe.logger.info({ listener: 'tcp:external' }, 'listening');
  const rec = JSON.parse(pipe.lines()[0]!);
  assert.equal(rec.msg, 'listening');
  assert.equal(rec.listener, 'tcp:external');
  assert.equal(rec.level, 30);
  assert.equal(rec.app, 'tern');

  const forced = fakeStdout(true);
  createLogOutput(logConfig((l) => (l.format = 'json')), { stdout: forced.stream }).logger.info('x');
  assert.equal(JSON.parse(forced.lines()[0]!).msg, 'x');
});

test('text lines colour only when asked; an error shows its message inline and its stack below', () => {
  const plain = fakeStdout(true);
  createLogOutput(logConfig((l) => (l.format = 'text')), { stdout: plain.stream, color: false }).logger.error({ err: new Error('disk full') }, 'write failed');
  const lines = plain.text().split('\n');
  assert.ok(lines[0]!.endsWith('ERROR: write failed err="disk full"'), lines[0]);
  assert.match(lines[1]!, /^ {4}Error: disk full$/);
  assert.match(lines[2]!, /^ {8}at /);
  assert.doesNotMatch(plain.text(), /\x1b\[/);

  const coloured = fakeStdout(true);
  createLogOutput(logConfig((l) => (l.format = 'text')), { stdout: coloured.stream, color: true }).logger.warn('careful');
  assert.match(coloured.text(), /\x1b\[/);

  assert.equal(formatTextMessage({ msg: 'm', level: 30, time: 1, pid: 1, hostname: 'h', app: 'tern', a: 'x y', b: true, c: null, d: { e: 1 } }), 'm a="x y" b=true c=null d={"e":1}');
});

test('the level filters every output, and a later change of logger.level applies to all of them', async () => {
  const dir = tmp();
  const out = fakeStdout(false);
  const both = createLogOutput(logConfig((l) => { l.to = 'both'; l.file = path.join(dir, 'tern.log'); l.level = 'warn'; }), { stdout: out.stream });
  both.logger.info('hidden');
  both.logger.warn('shown');
  both.logger.level = 'debug';
  both.logger.debug('now shown');
  await both.close();
  const consoleMsgs = out.lines().map((l) => JSON.parse(l).msg);
  const fileMsgs = fs.readFileSync(path.join(dir, 'tern.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).msg);
  assert.deepEqual(consoleMsgs, ['shown', 'now shown']);
  assert.deepEqual(fileMsgs, ['shown', 'now shown']);
});

test('log.to = file: JSON lines in log.file (its folder created), nothing on the console; text when log.format = text', async () => {
  const dir = tmp();
  const out = fakeStdout(true);
  const file = path.join('nested', 'logs', 'tern.log');
  const o = createLogOutput(logConfig((l) => { l.to = 'file'; l.file = file; }), { stdout: out.stream, cwd: dir });
  assert.equal(o.console, 'none');
  assert.equal(o.file, path.join(dir, file));
  o.logger.info({ k: 1 }, 'to the file');
  await o.close();
  assert.equal(out.text(), '');
  const rec = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8').trim());
  assert.deepEqual([rec.msg, rec.k], ['to the file', 1]);

  // appends across restarts
  const again = createLogOutput(logConfig((l) => { l.to = 'file'; l.file = file; l.format = 'text'; }), { cwd: dir });
  again.logger.info('second start');
  await again.close();
  const lines = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, TEXT_LINE);
  assert.doesNotMatch(lines[1]!, /\x1b\[/);
});

test('rotation: log.file is rotated at log.rotation.size, keeping log.rotation.count files (.1 newest)', async () => {
  const dir = tmp();
  const file = path.join(dir, 'tern.log');
  const o = createLogOutput(logConfig((l) => { l.to = 'file'; l.file = file; l.rotation = { enable: true, size: 4096, count: 2 }; }));
  const rotated: string[] = [];
  // 40 KB in ~200-byte records: about ten rotations, of which only two files may remain
  for (let i = 0; i < 200; i++) o.logger.info({ i, pad: 'x'.repeat(150) }, 'record');
  await o.close();
  rotated.push(...fs.readdirSync(dir).sort());
  assert.deepEqual(rotated, ['tern.log', 'tern.log.1', 'tern.log.2']);
  const indexes = (name: string) =>
    fs.readFileSync(path.join(dir, name), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).i as number);
  const [cur, one, two] = [indexes('tern.log'), indexes('tern.log.1'), indexes('tern.log.2')];
  // newest last: .2 holds older records than .1, which holds older than the current file
  assert.ok(Math.max(...two) < Math.min(...one) && Math.max(...one) < Math.min(...(cur.length ? cur : [Infinity])), JSON.stringify({ two, one, cur }));
  assert.ok(cur.includes(199) || one.includes(199), 'the last record is kept');
  for (const name of ['tern.log.1', 'tern.log.2']) {
    const size = fs.statSync(path.join(dir, name)).size;
    assert.ok(size <= 4096 + 300, `${name} is ${size} bytes`);
  }
});

test('log.rotation = off: one file that only grows', async () => {
  const dir = tmp();
  const file = path.join(dir, 'tern.log');
  const o = createLogOutput(logConfig((l) => { l.to = 'file'; l.file = file; l.rotation = { enable: false, size: 1024, count: 1 }; }));
  for (let i = 0; i < 50; i++) o.logger.info({ i, pad: 'x'.repeat(100) }, 'record');
  await o.close();
  assert.deepEqual(fs.readdirSync(dir), ['tern.log']);
  assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 50);
});

// ---------------------------------------------------------------------------------------------
// emqx.conf keys

function load(lines: string[]) {
  const dir = tmp();
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return loadConfig({ file });
}

test('log.* keys: defaults, values, EMQX 4 spellings, env overrides', () => {
  assert.deepEqual(defaultConfig().log, {
    level: 'info', format: 'auto', to: 'console', file: 'log/tern.log', rotation: { enable: true, size: 10 * 1024 * 1024, count: 5 },
  });
  const { config, warnings } = load([
    'log.format = text', 'log.to = both', 'log.file = /var/log/tern/tern.log',
    'log.rotation = off', 'log.rotation.size = 50MB', 'log.rotation.count = 9',
  ]);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.log, { level: 'info', format: 'text', to: 'both', file: '/var/log/tern/tern.log', rotation: { enable: false, size: 50 * 1024 * 1024, count: 9 } });
  assert.equal(load(['log.formatter = json']).config.log.format, 'json');
  const env = loadConfig({ env: { EMQX_LOG__TO: 'file', EMQX_LOG__FORMAT: 'json' } }).config.log;
  assert.deepEqual([env.to, env.format], ['file', 'json']);
});

test('bad log.* values name file:line, the key, the value and what was expected', () => {
  const cases: [string, RegExp][] = [
    ['log.format = pretty', /emqx\.conf:1: log\.format = "pretty": expected one of auto, text, json/],
    ['log.to = syslog', /emqx\.conf:1: log\.to = "syslog": expected one of console, file, both/],
    ['log.rotation.size = 10 apples', /emqx\.conf:1: log\.rotation\.size = "10 apples": expected a size/],
    ['log.rotation.size = 10', /emqx\.conf:1: log\.rotation\.size = "10": expected a size from 1KB/],
    ['log.rotation.count = 0', /emqx\.conf:1: log\.rotation\.count = "0": expected .*1/],
    ['log.file = ', /emqx\.conf:1: log\.file = "": expected a non-empty value/],
  ];
  for (const [line, re] of cases) {
    assert.throws(() => load([line]), (err: unknown) => err instanceof ConfigError && re.test(err.message), line);
  }
});

test('emqx.conf.example documents every log.* key with its default', () => {
  const text = fs.readFileSync(path.resolve(import.meta.dirname, '../../emqx.conf.example'), 'utf8');
  for (const line of ['log.format = auto', 'log.to = console', 'log.file = log/tern.log', 'log.rotation = on', 'log.rotation.size = 10MB', 'log.rotation.count = 5']) {
    assert.match(text, new RegExp(`^${line.replaceAll('.', '\\.')}$`, 'm'), line);
  }
});
