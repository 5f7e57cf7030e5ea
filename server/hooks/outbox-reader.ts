// The durable outbox, reader side: the delivery thread's own read-only connection to the store's
// file. In WAL mode it sees committed transactions only, and reading never blocks the broker's
// writes; a hook's pending rows are a range of the table's (hook_id, id) key.
import BetterSqlite3 from 'better-sqlite3';
import type { OutboxRow } from './outbox.ts';

export class OutboxReader {
  readonly #db: BetterSqlite3.Database;
  readonly #next: BetterSqlite3.Statement;

  constructor(file: string) {
    this.#db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    this.#next = this.#db.prepare(
      'SELECT id, meta, payload, body, attempts FROM webhook_outbox WHERE hook_id = ? AND status = 0 AND id > ? ORDER BY id LIMIT ?',
    );
  }

  /** The hook's next pending rows after `afterId`, oldest first. */
  next(hookId: number, afterId: number, limit: number): OutboxRow[] {
    return this.#next.all(hookId, afterId, limit) as OutboxRow[];
  }

  close(): void {
    this.#db.close();
  }
}
