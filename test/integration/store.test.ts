// The SQLite store: migrations on an empty and an existing database, WAL, and refusal of a bad file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import BetterSqlite3 from 'better-sqlite3';
import { openStore, StoreError } from '../../server/store/open.ts';
import { BACKSTOP_PAGES } from '../../server/store/checkpointer.ts';
import { tempDir } from '../helpers/tern.ts';

const logger = pino({ level: 'silent' });

test('an empty data dir gets a WAL database with every migration applied', async () => {
  const dir = tempDir();
  const store = await openStore({ dataDir: dir, logger });
  try {
    assert.equal(store.sqlite.pragma('journal_mode', { simple: true }), 'wal');
    const applied = store.sqlite.prepare('select name from kysely_migration order by name').all() as { name: string }[];
    const files = fs.readdirSync(path.resolve('migrations')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    assert.deepEqual(applied.map((r) => r.name), files.sort());
    const tables = (store.sqlite.prepare("select name from sqlite_master where type='table'").all() as { name: string }[]).map((r) => r.name);
    for (const t of ['mqtt_user', 'mqtt_clientid', 'setting']) assert.ok(tables.includes(t), `table ${t}`);
  } finally {
    await store.close();
  }
});

test('an existing database keeps its rows and only gets the migrations it lacks', async () => {
  const dir = tempDir();
  const first = await openStore({ dataDir: dir, logger });
  await first.db.insertInto('mqtt_clientid').values({ clientid: 'kept', created_at: 1 }).execute();
  // pretend the newest migration has not run yet
  const names = (first.sqlite.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map((r) => r.name);
  await first.close();

  const second = await openStore({ dataDir: dir, logger });
  try {
    const rows = await second.db.selectFrom('mqtt_clientid').selectAll().execute();
    assert.deepEqual(rows, [{ clientid: 'kept', created_at: 1 }]);
    const again = (second.sqlite.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map((r) => r.name);
    assert.deepEqual(again, names);
  } finally {
    await second.close();
  }
});

test('a database from an older version is migrated forward at start-up', async () => {
  const dir = tempDir();
  const migrations = tempDir('tern-migrations-');
  fs.copyFileSync(path.resolve('migrations/0001_init.ts'), path.join(migrations, '0001_init.ts'));
  const old = await openStore({ dataDir: dir, logger, migrationsDir: migrations });
  await old.db.insertInto('setting').values({ key: 'k', value: '1', updated_at: 1 }).execute();
  await old.close();

  const current = await openStore({ dataDir: dir, logger });
  try {
    const applied = (current.sqlite.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map((r) => r.name);
    assert.ok(applied.length >= 1 && applied[0] === '0001_init');
    assert.equal(applied.length, fs.readdirSync(path.resolve('migrations')).filter((f) => f.endsWith('.ts')).length);
    assert.deepEqual(await current.db.selectFrom('setting').selectAll().execute(), [{ key: 'k', value: '1', updated_at: 1 }]);
  } finally {
    await current.close();
  }
});

test('a corrupt database file is a clear start-up error and is left untouched', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'tern.db');
  const garbage = Buffer.alloc(8192, 0x5a);
  fs.writeFileSync(file, garbage);
  await assert.rejects(openStore({ dataDir: dir, logger }), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.match(err.message, /tern\.db/);
    assert.match(err.message, /corrupt or not a SQLite database/);
    return true;
  });
  assert.deepEqual(fs.readFileSync(file), garbage);
});

test('a database with a damaged page is refused, not replaced', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'tern.db');
  const db = new BetterSqlite3(file);
  db.exec('create table t(x); ');
  const insert = db.prepare('insert into t values (?)');
  for (let i = 0; i < 2000; i++) insert.run('row-' + i + '-'.repeat(50));
  db.close();
  const bytes = fs.readFileSync(file);
  bytes.fill(0xff, 4096 + 100, 4096 * 3); // scribble over pages 2-3, header intact
  fs.writeFileSync(file, bytes);
  await assert.rejects(openStore({ dataDir: dir, logger }), StoreError);
  assert.deepEqual(fs.readFileSync(file), bytes);
});

test('a database path that cannot be opened is a clear start-up error', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'tern.db')); // a directory where the file should be
  await assert.rejects(openStore({ dataDir: dir, logger }), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.match(err.message, /tern\.db/);
    return true;
  });
});

test('WAL checkpoints run on the checkpoint thread: the writer commits past SQLite\'s automatic threshold without checkpointing', async () => {
  const dir = tempDir();
  // no timed checkpoint during the test: the one below is asked for
  const store = await openStore({ dataDir: dir, logger, checkpointMs: 3_600_000 });
  try {
    await store.checkpoints.ready;
    assert.equal(store.sqlite.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_PAGES);
    store.sqlite.exec('CREATE TABLE filler (k integer PRIMARY KEY, v blob)');
    const dbSize = () => fs.statSync(store.file).size;
    const before = dbSize();
    // 2000 pages in 100 commits: twice SQLite's default threshold (1000), under the backstop
    const insert = store.sqlite.prepare('INSERT INTO filler (v) VALUES (?)');
    const commit = store.sqlite.transaction(() => {
      for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(4000, i));
    });
    for (let c = 0; c < 100; c++) commit();
    // the writer's commits copied nothing into the database file
    assert.equal(dbSize(), before);
    assert.ok((await store.checkpoints.checkpoint()) > 2000, 'the thread checkpointed the WAL');
    assert.ok(dbSize() > before + 1000 * 4096, 'the thread copied the pages into the database file');
  } finally {
    await store.close();
  }
  assert.equal(fs.existsSync(`${store.file}-wal`), false, 'closed cleanly: the WAL was checkpointed and removed');
});
