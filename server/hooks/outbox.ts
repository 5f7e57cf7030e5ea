// The durable outbox: one row per (event, hook), written through a BatchWriter (the persistence's
// group commit in sqlite mode), so an event is on disk within ~1 ms and a QoS 1/2 PUBLISH can wait
// for its row before it is acknowledged. Bounded per hook: past `max()` undelivered events the
// oldest pending ones are dropped and counted (and dead letters past the same bound likewise).
//
// Row ids are assigned when a batch is written (one increasing sequence for all hooks), so within
// a hook, id order is commit order: the worker reads `id > cursor` and every committed pending row
// of the hook between the first and last id it read was in what it read. That lets a delivered,
// failed or retried batch be marked with one ranged statement.
//
// Only the rows of the batch being collected are in memory (a few ms' worth); the worker reads
// `batch_size` rows at a time, so a hook whose receiver hangs costs disk (bounded), not memory.
import type BetterSqlite3 from 'better-sqlite3';
import type { BatchWriter } from '../store/group-commit.ts';
import { STATUS_CODE, STATUS_NAME, type DeliveryStatus, type DeliveryView } from './types.ts';

export interface OutboxRow {
  id: number;
  event_id: string;
  event: string;
  body: string;
  attempts: number;
}

interface Buffered {
  hookId: number;
  eventId: string;
  event: string;
  body: string;
  at: number;
}

interface Counts {
  pending: number;
  failed: number;
}

/** the rows of one batch, per hook; rows before `head` were dropped before being written */
interface BatchRows {
  byHook: Map<number, { rows: Buffered[]; head: number }>;
}

export interface OutboxDeps {
  sqlite: BetterSqlite3.Database;
  writer: BatchWriter;
  /** web.hook.outbox_max, read at use time */
  max: () => number;
  /** the highest id the hook's worker holds in flight (rows it must not drop), or 0 */
  inflightMax: (hookId: number) => number;
  /** events dropped for space */
  onDropped: (hookId: number, n: number) => void;
  /** rows for these hooks were committed */
  onCommitted: (hookIds: Set<number>) => void;
  logger: { error(obj: object, msg: string): void };
}

/** rows per multi-row INSERT: one statement per 64 events instead of 64 */
const INSERT_CHUNK = 64;
/** delivered rows kept per hook for GET .../deliveries?status=delivered */
const KEEP_DELIVERED = 1000;
const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};

export class Outbox {
  readonly #d: OutboxDeps;
  readonly #s;
  #seq: number;
  #current: BatchRows | null = null;
  #currentPromise: Promise<void> = RESOLVED;
  readonly #counts = new Map<number, Counts>();
  readonly #deliveredSincePrune = new Map<number, number>();

  constructor(deps: OutboxDeps) {
    this.#d = deps;
    const db = deps.sqlite;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      insert: p('INSERT INTO webhook_outbox (id, hook_id, event_id, event, body, status, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)'),
      insertChunk: p(
        'INSERT INTO webhook_outbox (id, hook_id, event_id, event, body, status, attempts, created_at, updated_at) VALUES ' +
          Array.from({ length: INSERT_CHUNK }, () => '(?, ?, ?, ?, ?, 0, 0, ?, ?)').join(', '),
      ),
      dropOldest: p(
        `DELETE FROM webhook_outbox WHERE id IN
           (SELECT id FROM webhook_outbox WHERE hook_id = ? AND status = ? AND id > ? ORDER BY id LIMIT ?)`,
      ),
      next: p('SELECT id, event_id, event, body, attempts FROM webhook_outbox WHERE hook_id = ? AND status = 0 AND id > ? ORDER BY id LIMIT ?'),
      markRange: p('UPDATE webhook_outbox SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE hook_id = ? AND status = 0 AND id BETWEEN ? AND ?'),
      pruneDelivered: p(
        `DELETE FROM webhook_outbox WHERE hook_id = ? AND status = 2 AND id <
           (SELECT id FROM webhook_outbox WHERE hook_id = ? AND status = 2 ORDER BY id DESC LIMIT 1 OFFSET ${KEEP_DELIVERED - 1})`,
      ),
      failedRows: p('SELECT id, event_id, event, body, created_at FROM webhook_outbox WHERE hook_id = ? AND status = 1 ORDER BY id'),
      deleteRow: p('DELETE FROM webhook_outbox WHERE id = ?'),
      deleteHook: p('DELETE FROM webhook_outbox WHERE hook_id = ?'),
      count: p('SELECT count(*) AS n FROM webhook_outbox WHERE hook_id = ? AND status = ?'),
      listAsc: p('SELECT * FROM webhook_outbox WHERE hook_id = ? AND status = ? ORDER BY id LIMIT ? OFFSET ?'),
      listDesc: p('SELECT * FROM webhook_outbox WHERE hook_id = ? AND status = ? ORDER BY id DESC LIMIT ? OFFSET ?'),
    };
    this.#seq = (db.prepare('SELECT coalesce(max(id), 0) AS m FROM webhook_outbox').get() as { m: number }).m;
  }

  /** Loads the counts; rows of hooks that no longer exist (a crash mid-delete) are removed. */
  load(hookIds: number[]): void {
    const known = new Set(hookIds);
    const rows = this.#d.sqlite.prepare('SELECT hook_id, status, count(*) AS n FROM webhook_outbox GROUP BY hook_id, status').all() as {
      hook_id: number;
      status: number;
      n: number;
    }[];
    for (const r of rows) {
      if (!known.has(r.hook_id)) {
        this.#s.deleteHook.run(r.hook_id);
        continue;
      }
      const c = this.#countsOf(r.hook_id);
      if (r.status === 0) c.pending = r.n;
      else if (r.status === 1) c.failed = r.n;
    }
  }

  pending(hookId: number): number {
    return this.#counts.get(hookId)?.pending ?? 0;
  }
  deadLetters(hookId: number): number {
    return this.#counts.get(hookId)?.failed ?? 0;
  }

  /** Records one event for one hook; resolves once its row is committed. */
  add(hookId: number, eventId: string, event: string, body: string): Promise<void> {
    let batch = this.#current;
    if (!batch) {
      const b: BatchRows = (batch = this.#current = { byHook: new Map() });
      this.#currentPromise = this.#d.writer.run(() => this.#write(b));
      this.#currentPromise.then(() => this.#committed(b), noop);
    }
    let mine = batch.byHook.get(hookId);
    if (!mine) batch.byHook.set(hookId, (mine = { rows: [], head: 0 }));
    mine.rows.push({ hookId, eventId, event, body, at: Date.now() });
    const c = this.#countsOf(hookId);
    c.pending++;
    // a flood faster than the commit: the batch alone holds max() rows of this hook, so every
    // older one goes anyway; drop the oldest now instead of writing and deleting it
    if (mine.rows.length - mine.head > this.#d.max()) {
      mine.rows[mine.head++] = undefined as unknown as Buffered;
      c.pending--;
      this.#d.onDropped(hookId, 1);
    }
    return this.#currentPromise;
  }

  /** The commit of the events recorded so far, or undefined when all are committed. */
  uncommitted(): Promise<void> | undefined {
    return this.#current ? this.#currentPromise : undefined;
  }

  /** The hook's next pending rows after `afterId`, oldest first (committed rows only). */
  next(hookId: number, afterId: number, limit: number): OutboxRow[] {
    return this.#s.next.all(hookId, afterId, limit) as OutboxRow[];
  }

  delivered(hookId: number, rows: OutboxRow[], attempts: number): Promise<void> {
    const c = this.#countsOf(hookId);
    c.pending = Math.max(0, c.pending - rows.length);
    const since = (this.#deliveredSincePrune.get(hookId) ?? 0) + rows.length;
    const prune = since >= KEEP_DELIVERED;
    this.#deliveredSincePrune.set(hookId, prune ? 0 : since);
    return this.#mark(hookId, rows, STATUS_CODE.delivered, attempts, null, prune);
  }

  /** a failed try that will be retried: attempts and the error, for the API and after a restart */
  attempted(hookId: number, rows: OutboxRow[], attempts: number, error: string): Promise<void> {
    return this.#mark(hookId, rows, STATUS_CODE.pending, attempts, error, false);
  }

  /** dead letters: kept (up to max()) for GET .../deliveries?status=failed and the retry API */
  failed(hookId: number, rows: OutboxRow[], attempts: number, error: string): Promise<void> {
    const c = this.#countsOf(hookId);
    c.pending = Math.max(0, c.pending - rows.length);
    c.failed += rows.length;
    return this.#mark(hookId, rows, STATUS_CODE.failed, attempts, error, false);
  }

  /**
   * Moves dead letters (all, or those with the given ids) back to the end of the hook's queue
   * with their attempts reset; resolves with how many once that is committed.
   */
  async retry(hookId: number, ids?: number[]): Promise<number> {
    let moved = 0;
    const wanted = ids ? new Set(ids) : undefined;
    await this.#d.writer.run(() => {
      moved = 0;
      const now = Date.now();
      for (const r of this.#s.failedRows.all(hookId) as { id: number; event_id: string; event: string; body: string; created_at: number }[]) {
        if (wanted && !wanted.has(r.id)) continue;
        this.#s.deleteRow.run(r.id);
        this.#s.insert.run(++this.#seq, hookId, r.event_id, r.event, r.body, r.created_at, now);
        moved++;
      }
      const c = this.#countsOf(hookId);
      c.failed = Math.max(0, c.failed - moved);
      c.pending += moved;
    });
    if (moved > 0) this.#d.onCommitted(new Set([hookId]));
    return moved;
  }

  /** Deletes every row of the hook (it was deleted). */
  async removeHook(hookId: number): Promise<void> {
    this.#counts.delete(hookId);
    this.#deliveredSincePrune.delete(hookId);
    // rows of the batch being collected are written, then deleted, in the same transaction
    await this.#d.writer.run(() => {
      this.#s.deleteHook.run(hookId);
    });
  }

  list(hookId: number, status: DeliveryStatus, offset: number, limit: number): { data: DeliveryView[]; count: number } {
    const code = STATUS_CODE[status];
    const stmt = status === 'delivered' ? this.#s.listDesc : this.#s.listAsc;
    const rows = stmt.all(hookId, code, limit, offset) as {
      id: number;
      event_id: string;
      event: string;
      body: string;
      status: number;
      attempts: number;
      last_error: string | null;
      created_at: number;
      updated_at: number;
    }[];
    const { n } = this.#s.count.get(hookId, code) as { n: number };
    return {
      count: n,
      data: rows.map((r) => ({
        id: r.id,
        event_id: r.event_id,
        event: r.event,
        status: STATUS_NAME[r.status]!,
        attempts: r.attempts,
        last_error: r.last_error,
        created_at: r.created_at,
        updated_at: r.updated_at,
        body: JSON.parse(r.body) as unknown,
      })),
    };
  }

  // ---- inside the batch transaction -------------------------------------------------------------

  #write(batch: BatchRows): void {
    if (this.#current === batch) this.#current = null;
    const s = this.#s;
    const params: (string | number)[] = [];
    for (const { rows, head } of batch.byHook.values()) {
      let i = head;
      for (; i + INSERT_CHUNK <= rows.length; i += INSERT_CHUNK) {
        params.length = 0;
        for (let k = i; k < i + INSERT_CHUNK; k++) {
          const r = rows[k]!;
          params.push(++this.#seq, r.hookId, r.eventId, r.event, r.body, r.at, r.at);
        }
        s.insertChunk.run(...params);
      }
      for (; i < rows.length; i++) {
        const r = rows[i]!;
        s.insert.run(++this.#seq, r.hookId, r.eventId, r.event, r.body, r.at, r.at);
      }
    }
    const max = this.#d.max();
    for (const hookId of batch.byHook.keys()) {
      const c = this.#counts.get(hookId);
      if (!c || c.pending <= max) continue;
      const n = s.dropOldest.run(hookId, STATUS_CODE.pending, this.#d.inflightMax(hookId), c.pending - max).changes;
      if (n > 0) {
        c.pending -= n;
        this.#d.onDropped(hookId, n);
      }
    }
  }

  #committed(batch: BatchRows): void {
    this.#d.onCommitted(new Set(batch.byHook.keys()));
  }

  /** resolves once the change is committed (never rejects: a failed commit is logged) */
  #mark(hookId: number, rows: OutboxRow[], status: number, attempts: number, error: string | null, prune: boolean): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const first = rows[0]!.id;
    const last = rows[rows.length - 1]!.id;
    const max = this.#d.max();
    return this.#d.writer
      .run(() => {
        this.#s.markRange.run(status, attempts, error, Date.now(), hookId, first, last);
        if (prune) this.#s.pruneDelivered.run(hookId, hookId);
        const c = this.#counts.get(hookId);
        if (status === STATUS_CODE.failed && c && c.failed > max) {
          const n = this.#s.dropOldest.run(hookId, STATUS_CODE.failed, 0, c.failed - max).changes;
          c.failed -= n;
          if (n > 0) this.#d.onDropped(hookId, n);
        }
      })
      .catch((err: unknown) => this.#d.logger.error({ err, hookId }, 'webhooks: outbox update failed'));
  }

  #countsOf(hookId: number): Counts {
    let c = this.#counts.get(hookId);
    if (!c) this.#counts.set(hookId, (c = { pending: 0, failed: 0 }));
    return c;
  }
}
