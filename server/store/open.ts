// Opens the SQLite store under node.data_dir and brings its schema up to date.
// A file that exists but is not a readable SQLite database is a start-up error: we never move,
// truncate or recreate it, because it may hold the only copy of users and queued messages.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
// kysely 0.28 (the newest line that supports Node 20) exports the migrator from the root;
// 0.29 moved it to 'kysely/migration' and requires Node 22.
import { Kysely, SqliteDialect, Migrator, FileMigrationProvider, type MigrationResult } from 'kysely';
import type { Database } from './database.ts';
import type { Logger } from '../logger.ts';
import { startCheckpointer, type Checkpointer } from './checkpointer.ts';

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Store {
  /** the raw handle, for the hot-path persistence that needs synchronous prepared statements */
  sqlite: BetterSqlite3.Database;
  db: Kysely<Database>;
  file: string;
  /** the WAL checkpoints, run off this thread (checkpointer.ts) */
  checkpoints: Pick<Checkpointer, 'ready' | 'checkpoint'>;
  close(): Promise<void>;
}

export const DEFAULT_MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export async function openStore(opts: {
  dataDir: string;
  logger: Logger;
  migrationsDir?: string;
  fileName?: string;
  /** ms between the checkpoint thread's checkpoints (checkpointer.ts) */
  checkpointMs?: number;
}): Promise<Store> {
  const file = path.resolve(opts.dataDir, opts.fileName ?? 'tern.db');
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (err) {
    throw new StoreError(`cannot create data directory ${path.dirname(file)}: ${(err as Error).message}`);
  }
  if (fs.existsSync(file)) {
    try {
      fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
    } catch (err) {
      throw new StoreError(`database file ${file} is not readable and writable: ${(err as Error).message}`);
    }
  }

  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(file);
  } catch (err) {
    throw new StoreError(`cannot open database file ${file}: ${(err as Error).message}`);
  }
  try {
    // Check before anything writes: switching to WAL rewrites the header, and a damaged file
    // must stay byte-for-byte as we found it.
    const check = sqlite.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(String(check));
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
  } catch (err) {
    sqlite.close();
    throw new StoreError(
      `database file ${file} is corrupt or not a SQLite database (${(err as Error).message}); ` +
        'it was left untouched: restore it from a backup or move it away to start with an empty store',
    );
  }

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs: fs.promises, path, migrationFolder: opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR }),
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? ([] as MigrationResult[])) {
    if (r.status === 'Success') opts.logger.info({ migration: r.migrationName }, 'migration applied');
    if (r.status === 'Error') opts.logger.error({ migration: r.migrationName }, 'migration failed');
  }
  if (error) {
    await db.destroy();
    throw new StoreError(`database migration failed for ${file}: ${(error as Error).message ?? String(error)}`);
  }

  const checkpointer = startCheckpointer(sqlite, opts.logger, opts.checkpointMs);
  return {
    sqlite,
    db,
    file,
    checkpoints: checkpointer,
    async close() {
      await checkpointer.stop();
      // kysely's destroy closes the better-sqlite3 handle, which checkpoints the WAL.
      await db.destroy();
    },
  };
}
