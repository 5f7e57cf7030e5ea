// SQLite files for the persistence tests: a fresh temp file with migrations/0002 applied, opened
// the way server/store/open.ts opens the real store (WAL, synchronous=NORMAL).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { up } from '../../migrations/0002_persistence.ts';

export function tempDbFile(prefix = 'tern-persist-'): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), prefix)), 'tern.db');
}

export function openDb(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** Creates the file and its persistence tables; returns it open. */
export async function createDb(file = tempDbFile()): Promise<BetterSqlite3.Database> {
  const migrating = openDb(file);
  const k = new Kysely<unknown>({ dialect: new SqliteDialect({ database: migrating }) });
  await up(k);
  await k.destroy(); // closes `migrating`
  return openDb(file);
}
