// Group commit for writes that are not the broker persistence's own: a caller hands a function of
// synchronous statements on the store's connection and gets the promise of the transaction that
// runs it. The persistence (broker/persistence, sqlite mode) implements BatchWriter over its own
// batch, so such writes share its transaction; createGroupCommit() is the same policy for when
// there is no SQLite persistence (persistence = memory), over the store's connection.
import type BetterSqlite3 from 'better-sqlite3';

export interface BatchWriter {
  /**
   * Runs `write` inside the next batch transaction, after every write recorded before it; the
   * promise resolves once that transaction has committed (rejects if it failed: the write is kept
   * and retried with the next batch). `write` must be synchronous and must not throw for
   * expected conditions: a throw rolls the whole batch back.
   */
  run(write: () => void): Promise<void>;
  /** commit the pending batch now; resolves when it is durable */
  flush(): Promise<void>;
}

export interface GroupCommit extends BatchWriter {
  /** flush, then refuse further writes */
  close(): Promise<void>;
}

interface GroupCommitLogger {
  error(obj: object, msg: string): void;
}

const COMMIT_DELAY_MS = 1;
const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};

/** The persistence's timing (server/broker/persistence/sqlite.ts): commit ~1 ms after the first write. */
export function createGroupCommit(db: BetterSqlite3.Database, logger?: GroupCommitLogger): GroupCommit {
  let writes: (() => void)[] = [];
  let batch: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  let closed = false;
  const txn = db.transaction((list: (() => void)[]) => {
    for (const w of list) w();
  });

  const newBatch = () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(noop);
    return { promise, resolve, reject };
  };

  function commit(): void {
    const b = batch;
    if (!b) return;
    if (db.inTransaction) {
      // kysely holds a transaction open across awaits on this connection: don't nest in it
      if (!immediate) immediate = setImmediate(onImmediate);
      return;
    }
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = immediate = null;
    batch = null;
    const list = writes;
    try {
      txn(list);
    } catch (err) {
      logger?.error({ err }, 'group commit: SQLite commit failed; will retry with the next batch');
      b.reject(err);
      return;
    }
    writes = [];
    b.resolve();
  }
  const onImmediate = (): void => {
    immediate = null;
    commit();
  };
  const onTimer = (): void => {
    timer = null;
    immediate = setImmediate(onImmediate);
  };

  return {
    run(write) {
      if (closed) return Promise.reject(new Error('group commit closed'));
      writes.push(write);
      if (!batch) batch = newBatch();
      if (!timer && !immediate) timer = setTimeout(onTimer, COMMIT_DELAY_MS);
      return batch.promise;
    },
    flush() {
      if (!batch && writes.length > 0) batch = newBatch();
      const b = batch;
      if (!b) return RESOLVED;
      commit();
      return b.promise;
    },
    async close() {
      try {
        await this.flush();
      } finally {
        closed = true;
        if (timer) clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
      }
    },
  };
}
