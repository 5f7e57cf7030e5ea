// SIGHUP and POST /api/v5/configs/reload against the real entry point (a child process): both
// reach the same reload, which logs the same line; a refused reload leaves the process serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, connect, endAll } from '../helpers/tern.ts';
import { anyPortsEnv, runTern } from '../helpers/process.ts';

type LogLine = { msg: string; trigger?: string; changes?: string[]; [k: string]: unknown };

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

test('SIGHUP and the API reload through the same code; clients stay connected; a bad file is refused and logged', async () => {
  const env = anyPortsEnv();
  const dir = tempDir();
  const file = path.join(dir, 'emqx.conf');
  fs.writeFileSync(file, 'allow_anonymous = true\n');
  const p = runTern(env, ['--config', file]);
  try {
    const ports = await p.ready;
    const url = `mqtt://127.0.0.1:${ports.tcp}`;
    const stays = await connect(url, { clientId: 'stays' });
    let closes = 0;
    stays.on('close', () => closes++);

    // SIGHUP
    fs.writeFileSync(file, 'allow_anonymous = false\n');
    p.child.kill('SIGHUP');
    const byHup = await p.logLine<LogLine>((l) => l.trigger === 'SIGHUP' && l.msg.startsWith('configuration reloaded'), 'the SIGHUP reload log line');
    assert.deepEqual(byHup.changes, ['allow_anonymous (hot)']);
    assert.equal(byHup.file, file);
    await assert.rejects(connect(url, { clientId: 'anon' }), (err: { code?: number }) => err.code === 5);

    // the API
    fs.writeFileSync(file, 'allow_anonymous = true\n');
    const base = `http://127.0.0.1:${ports.http}/api/v5`;
    const { token } = (await (await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) })).json()) as { token: string };
    const res = await fetch(`${base}/configs/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const report = (await res.json()) as { applied: boolean; changes: { key: string; class: string }[] };
    assert.equal(report.applied, true);
    assert.deepEqual(report.changes.map((c) => c.key), ['allow_anonymous']);
    const byApi = await p.logLine<LogLine>((l) => l.trigger === 'api' && l.msg.startsWith('configuration reloaded'), 'the API reload log line');
    assert.equal(byApi.msg, byHup.msg);
    assert.equal(byApi.by, 'admin');
    await endAll(await connect(url, { clientId: 'anon-again' }));

    // a broken file: refused, logged with file:line, the process carries on
    fs.writeFileSync(file, 'allow_anonymous = true\nzone.external.max_inflight = none\n');
    p.child.kill('SIGHUP');
    const refused = await p.logLine<LogLine>((l) => l.msg.startsWith('configuration reload refused'), 'the refusal log line');
    assert.match(refused.msg, new RegExp(`${file.replaceAll('.', '\\.')}:2: zone\\.external\\.max_inflight = "none": expected an integer from 1 to 65535`));
    await endAll(await connect(url, { clientId: 'still-serving' }));

    assert.equal(closes, 0);
    await endAll(stays);
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  } finally {
    p.child.kill('SIGKILL');
  }
});
