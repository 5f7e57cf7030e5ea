// The durable outbox, reader side: the delivery thread's own read-only connection to the store's
// file. In WAL mode it sees committed transactions only, and reading never blocks the broker's
// writes. A hook's pending events are a range of ids in two tables, both clustered on
// (hook_id, id): blocks (block.ts: most events, one row per batch) and rows of their own (events
// that failed a try, moved back by the retry API, or written by an earlier layout); the next
// events are the two ranges merged by id.
import BetterSqlite3 from 'better-sqlite3';
import { BLOCKS_FROM, queueBlock } from './block.ts';
import type { OutboxRow, QueuedEvent } from './pack.ts';

interface Block {
  first_id: number;
  last_id: number;
  data: Buffer;
}

export class OutboxReader {
  readonly #db: BetterSqlite3.Database;
  readonly #rows: BetterSqlite3.Statement;
  readonly #blocks: BetterSqlite3.Statement;
  readonly #blocksAfter: BetterSqlite3.Statement;
  /**
   * The last block read, when it holds more than was taken: a loop's next read starts in it, and
   * a block's events above the loop's cursor do not change (failures cut only the request's own
   * events, drops take only blocks above the one in flight, pruning only delivered events).
   */
  readonly #held = new Map<number, Block>();

  constructor(file: string) {
    this.#db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    this.#rows = this.#db.prepare(
      'SELECT id, meta, payload, body, attempts FROM webhook_outbox WHERE hook_id = ? AND status = 0 AND id > ? ORDER BY id LIMIT ?',
    );
    this.#blocks = this.#db.prepare(`SELECT first_id, last_id, data ${BLOCKS_FROM} ORDER BY first_id`);
    this.#blocksAfter = this.#db.prepare('SELECT first_id, last_id, data FROM webhook_outbox_block WHERE hook_id = @hook AND first_id > @after ORDER BY first_id');
  }

  /** The hook's next pending events after `afterId`, oldest first, at most `limit` (block events read in place). */
  next(hookId: number, afterId: number, limit: number): QueuedEvent[] {
    const rows = this.#rows.all(hookId, afterId, limit) as OutboxRow[];
    // a block event past the limit-th row of its own cannot be among the next `limit`
    const upTo = rows.length === limit ? rows[limit - 1]!.id : Infinity;
    const fromBlocks: QueuedEvent[] = [];
    const h = this.#held.get(hookId);
    this.#held.delete(hookId);
    let last: Block | null = null;
    if (h && h.first_id <= afterId + 1 && h.last_id > afterId) {
      last = h;
      queueBlock(h.first_id, h.data, afterId, upTo, limit, fromBlocks);
    }
    if (fromBlocks.length < limit && (!last || last.last_id < upTo)) {
      const source = last ? this.#blocksAfter.iterate({ hook: hookId, after: last.last_id }) : this.#blocks.iterate({ hook: hookId, after: afterId });
      for (const b of source as Iterable<Block>) {
        if (fromBlocks.length >= limit || b.first_id > upTo) break;
        if (b.last_id > afterId) queueBlock(b.first_id, b.data, afterId, upTo, limit - fromBlocks.length, fromBlocks);
        last = b;
      }
    }
    // a block read only in part is where the next read starts
    const end = fromBlocks[fromBlocks.length - 1];
    if (last && end && end.id < last.last_id) this.#held.set(hookId, last);
    if (rows.length === 0) return fromBlocks;
    if (fromBlocks.length === 0) return rows;
    const out: QueuedEvent[] = [];
    let i = 0;
    let j = 0;
    while (out.length < limit && (i < rows.length || j < fromBlocks.length)) {
      out.push(j >= fromBlocks.length || (i < rows.length && rows[i]!.id < fromBlocks[j]!.id) ? rows[i++]! : fromBlocks[j++]!);
    }
    return out;
  }

  close(): void {
    this.#db.close();
  }
}
