// The durable outbox, writer side (the broker's thread): one row per (event, hook), written
// through a BatchWriter (the persistence's group commit in sqlite mode), so an event is on disk
// within ~1 ms and a QoS 1/2 PUBLISH can wait for its row before it is acknowledged. Bounded per
// hook: past `max()` undelivered events the oldest pending ones are dropped and counted (and dead
// letters past the same bound likewise). Layout: migrations/0013_webhook_outbox_compact.ts.
//
// What this costs the broker per event is the point of the layout: an event is packed (pack.ts)
// into a buffered row, inserted 64 rows per statement into a table clustered on (hook_id, id).
// Delivery rewrites no row: an outcome moves the hook's cursor (one state row, which also keeps
// the counters) and only failures touch the rows they concern. Delivered rows are deleted in id
// ranges, keeping the most recent KEEP_DELIVERED for GET .../deliveries?status=delivered.
//
// Row ids are assigned when a batch is written (one increasing sequence for all hooks), so within
// a hook, id order is commit order: the delivery thread reads `id > cursor` (outbox-reader.ts)
// and never misses a committed row, and an outcome covers the id range of the request.
import type BetterSqlite3 from 'better-sqlite3';
import type { BatchWriter } from '../store/group-commit.ts';
import type { StoredEvent } from './pack.ts';
import { STATUS_NAME, type DeliveryStatus, type DeliveryView } from './types.ts';

interface Counts {
  pending: number;
  failed: number;
}

/** what the state row keeps of a hook's stats (stats.ts) */
export interface PersistedCounters {
  delivered: number;
  failed: number;
  dropped: number;
  retried: number;
  last_error: string | null;
  last_error_at: number | null;
  last_success_at: number | null;
}

export interface HookState extends PersistedCounters {
  cursor: number;
}

/**
 * The rows of one batch, per hook, flat: meta, payload, meta, payload... (no object per event);
 * rows before `head` (a row index) were dropped before being written.
 */
interface BatchRows {
  byHook: Map<number, { vals: (string | Buffer | null)[]; head: number }>;
}

export interface OutboxDeps {
  sqlite: BetterSqlite3.Database;
  writer: BatchWriter;
  /** web.hook.outbox_max, read at use time */
  max: () => number;
  /** the highest id the delivery thread holds in flight for the hook (rows it must not drop), or 0 */
  inflightMax: (hookId: number) => number;
  /** events dropped for space */
  onDropped: (hookId: number, n: number) => void;
  /** `n` new rows were committed (all hooks) */
  onCommitted: (n: number) => void;
  /** dead letters of the hook went back to its queue */
  onRequeued: (hookId: number) => void;
  /** the hook's counters now, written with its state row */
  counters: (hookId: number) => PersistedCounters;
  logger: { error(obj: object, msg: string): void };
}

/**
 * rows per multi-row INSERT, largest first: a batch of n rows takes about n/64 + log4(n)
 * statements instead of n (a QoS 1 batch is often a few dozen rows)
 */
const INSERT_CHUNKS = [64, 16, 4, 1];
/**
 * A batch this large is committed at once instead of at the group commit's timer: under a QoS 0
 * flood the broker's event loop can go seconds without running timers, and a batch waiting for
 * one would hold every event of those seconds in memory.
 */
const FLUSH_ROWS = 2048;
/** delivered rows kept per hook for GET .../deliveries?status=delivered */
export const KEEP_DELIVERED = 1000;
const PENDING = 0;
const FAILED = 1;
const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};
const COLUMNS = 'hook_id, id, meta, payload';
const ROW = '(?, ?, ?, ?)';

export class Outbox {
  readonly #d: OutboxDeps;
  readonly #s;
  #seq: number;
  #current: BatchRows | null = null;
  #currentRows = 0;
  #currentPromise: Promise<void> = RESOLVED;
  readonly #counts = new Map<number, Counts>();
  /** every row up to the cursor is delivered or a dead letter (as far as this thread knows) */
  readonly #cursors = new Map<number, number>();
  readonly #deliveredSincePrune = new Map<number, number>();
  /** delivered rows at or below this id are already deleted (per hook, since start) */
  readonly #prunedTo = new Map<number, number>();
  /** hooks whose state row must be written with the next batch */
  readonly #dirty = new Set<number>();
  #stateWrite: Promise<void> | null = null;
  readonly #params: unknown[] = [];

  constructor(deps: OutboxDeps) {
    this.#d = deps;
    const db = deps.sqlite;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      inserts: INSERT_CHUNKS.map((n) => [n, p(`INSERT INTO webhook_outbox (${COLUMNS}) VALUES ${Array.from({ length: n }, () => ROW).join(', ')}`)] as const),
      // the n oldest rows of a status above a floor: one ranged delete in the clustered table
      dropOldest: p(
        `DELETE FROM webhook_outbox WHERE hook_id = @hook AND status = @status AND id > @floor AND id <=
           (SELECT id FROM webhook_outbox WHERE hook_id = @hook AND status = @status AND id > @floor ORDER BY id LIMIT 1 OFFSET @skip)`,
      ),
      keepFrom: p(`SELECT id FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id <= ? ORDER BY id DESC LIMIT 1 OFFSET ${KEEP_DELIVERED - 1}`),
      pruneDelivered: p(`DELETE FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id > ? AND id < ?`),
      markRange: p('UPDATE webhook_outbox SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE hook_id = ? AND status = 0 AND id BETWEEN ? AND ?'),
      state: p(
        `INSERT INTO webhook_hook_state (hook_id, cursor, delivered, failed, dropped, retried, last_error, last_error_at, last_success_at)
         VALUES (@hook_id, @cursor, @delivered, @failed, @dropped, @retried, @last_error, @last_error_at, @last_success_at)
         ON CONFLICT (hook_id) DO UPDATE SET cursor = excluded.cursor, delivered = excluded.delivered, failed = excluded.failed,
           dropped = excluded.dropped, retried = excluded.retried, last_error = excluded.last_error,
           last_error_at = excluded.last_error_at, last_success_at = excluded.last_success_at`,
      ),
      failedRows: p(`SELECT id FROM webhook_outbox WHERE hook_id = ? AND status = ${FAILED} ORDER BY id`),
      moveRow: p(
        `INSERT INTO webhook_outbox (hook_id, id, meta, payload, body, status, attempts, updated_at)
         SELECT hook_id, ?, meta, payload, body, 0, 0, ? FROM webhook_outbox WHERE hook_id = ? AND id = ?`,
      ),
      deleteRow: p('DELETE FROM webhook_outbox WHERE hook_id = ? AND id = ?'),
      deleteHook: p('DELETE FROM webhook_outbox WHERE hook_id = ?'),
      deleteState: p('DELETE FROM webhook_hook_state WHERE hook_id = ?'),
      countPending: p(`SELECT count(*) AS n FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id > ?`),
      countFailed: p(`SELECT count(*) AS n FROM webhook_outbox WHERE hook_id = ? AND status = ${FAILED}`),
      countDelivered: p(`SELECT count(*) AS n FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id <= ?`),
      listPending: p(`SELECT * FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id > ? ORDER BY id LIMIT ? OFFSET ?`),
      listFailed: p(`SELECT * FROM webhook_outbox WHERE hook_id = ? AND status = ${FAILED} ORDER BY id LIMIT ? OFFSET ?`),
      listDelivered: p(`SELECT * FROM webhook_outbox WHERE hook_id = ? AND status = ${PENDING} AND id <= ? ORDER BY id DESC LIMIT ? OFFSET ?`),
    };
    this.#seq = (db.prepare('SELECT coalesce(max(id), 0) AS m FROM webhook_outbox').get() as { m: number }).m;
  }

  /**
   * Loads each hook's state and counts, and returns the states (for the stats). Rows and states
   * of hooks that no longer exist (a crash mid-delete) are removed.
   */
  load(hookIds: number[]): Map<number, HookState> {
    const db = this.#d.sqlite;
    const known = new Set(hookIds);
    const states = new Map<number, HookState>();
    for (const r of db.prepare('SELECT * FROM webhook_hook_state').all() as (HookState & { hook_id: number })[]) {
      if (!known.has(r.hook_id)) {
        this.#s.deleteState.run(r.hook_id);
        continue;
      }
      const { hook_id, ...state } = r;
      states.set(hook_id, state);
    }
    for (const { hook_id } of db.prepare('SELECT DISTINCT hook_id FROM webhook_outbox').all() as { hook_id: number }[]) {
      if (!known.has(hook_id)) this.#s.deleteHook.run(hook_id);
    }
    for (const id of hookIds) {
      const cursor = states.get(id)?.cursor ?? 0;
      this.#cursors.set(id, cursor);
      const c = this.#countsOf(id);
      c.pending = (this.#s.countPending.get(id, cursor) as { n: number }).n;
      c.failed = (this.#s.countFailed.get(id) as { n: number }).n;
    }
    return states;
  }

  cursor(hookId: number): number {
    return this.#cursors.get(hookId) ?? 0;
  }
  pending(hookId: number): number {
    return this.#counts.get(hookId)?.pending ?? 0;
  }
  deadLetters(hookId: number): number {
    return this.#counts.get(hookId)?.failed ?? 0;
  }

  /** Records one event for one hook (pack.ts: its meta and payload); resolves once its row is committed. */
  add(hookId: number, meta: string, payload: Buffer | null): Promise<void> {
    let batch = this.#current;
    if (!batch) {
      const b: BatchRows = (batch = this.#current = { byHook: new Map() });
      this.#currentRows = 0;
      this.#currentPromise = this.#d.writer.run(() => this.#write(b));
      this.#currentPromise.then(() => this.#committed(b), noop);
    }
    let mine = batch.byHook.get(hookId);
    if (!mine) batch.byHook.set(hookId, (mine = { vals: [], head: 0 }));
    mine.vals.push(meta, payload);
    // after the event's own processing (a microtask), not in the middle of the broker's
    if (++this.#currentRows === FLUSH_ROWS) queueMicrotask(this.#flush);
    const c = this.#countsOf(hookId);
    c.pending++;
    // a flood faster than the commit: the batch alone holds max() rows of this hook, so every
    // older one goes anyway; drop the oldest now instead of writing and deleting it
    if (mine.vals.length / 2 - mine.head > this.#d.max()) {
      mine.vals[2 * mine.head] = mine.vals[2 * mine.head + 1] = null;
      mine.head++;
      c.pending--;
      this.#dropped(hookId, 1);
    }
    return this.#currentPromise;
  }

  /** The commit of the events recorded so far, or undefined when all are committed. */
  uncommitted(): Promise<void> | undefined {
    return this.#current ? this.#currentPromise : undefined;
  }

  /**
   * The request for rows up to `last` (n of them) succeeded; resolves once that is committed.
   * (If the outbox dropped some of them for space between the thread's read and its 'sending'
   * report, they were delivered anyway and the pending count is low by as many until a restart
   * recounts it: the receiver got more, never less.)
   */
  delivered(hookId: number, last: number, n: number): Promise<void> {
    const c = this.#countsOf(hookId);
    c.pending = Math.max(0, c.pending - n);
    this.#advance(hookId, last);
    const since = (this.#deliveredSincePrune.get(hookId) ?? 0) + n;
    const prune = since >= KEEP_DELIVERED;
    this.#deliveredSincePrune.set(hookId, prune ? 0 : since);
    return this.#writeLogged(hookId, () => {
      if (prune) this.#prune(hookId);
    });
  }

  /** a failed try that will be retried: attempts and the error, for the API and after a restart */
  attempted(hookId: number, first: number, last: number, attempts: number, error: string): Promise<void> {
    return this.#writeLogged(hookId, () => {
      this.#s.markRange.run(PENDING, attempts, error, Date.now(), hookId, first, last);
    });
  }

  /** dead letters: kept (up to max()) for GET .../deliveries?status=failed and the retry API */
  failed(hookId: number, first: number, last: number, n: number, attempts: number, error: string): Promise<void> {
    const c = this.#countsOf(hookId);
    c.pending = Math.max(0, c.pending - n);
    c.failed += n;
    this.#advance(hookId, last);
    const max = this.#d.max();
    return this.#writeLogged(hookId, () => {
      this.#s.markRange.run(FAILED, attempts, error, Date.now(), hookId, first, last);
      if (c.failed > max) {
        const dropped = this.#s.dropOldest.run({ hook: hookId, status: FAILED, floor: 0, skip: c.failed - max - 1 }).changes;
        c.failed -= dropped;
        if (dropped > 0) this.#dropped(hookId, dropped);
      }
    });
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
      for (const r of this.#s.failedRows.all(hookId) as { id: number }[]) {
        if (wanted && !wanted.has(r.id)) continue;
        this.#s.moveRow.run(++this.#seq, now, hookId, r.id);
        this.#s.deleteRow.run(hookId, r.id);
        moved++;
      }
      const c = this.#countsOf(hookId);
      c.failed = Math.max(0, c.failed - moved);
      c.pending += moved;
    });
    if (moved > 0) this.#d.onRequeued(hookId);
    return moved;
  }

  /** Deletes every row and the state of the hook (it was deleted). */
  async removeHook(hookId: number): Promise<void> {
    this.#counts.delete(hookId);
    this.#cursors.delete(hookId);
    this.#deliveredSincePrune.delete(hookId);
    this.#prunedTo.delete(hookId);
    this.#dirty.delete(hookId);
    // rows of the batch being collected are written, then deleted, in the same transaction
    await this.#d.writer.run(() => {
      this.#s.deleteHook.run(hookId);
      this.#s.deleteState.run(hookId);
    });
  }

  /** `format` turns a stored row into its webhook body (JSON text) */
  list(hookId: number, status: DeliveryStatus, offset: number, limit: number, format: (row: OutboxRow) => string): { data: DeliveryView[]; count: number } {
    const cursor = this.cursor(hookId);
    type Row = OutboxRow & { status: number; last_error: string | null; updated_at: number | null };
    let rows: Row[];
    let n: number;
    if (status === 'pending') {
      rows = this.#s.listPending.all(hookId, cursor, limit, offset) as Row[];
      n = (this.#s.countPending.get(hookId, cursor) as { n: number }).n;
    } else if (status === 'failed') {
      rows = this.#s.listFailed.all(hookId, limit, offset) as Row[];
      n = (this.#s.countFailed.get(hookId) as { n: number }).n;
    } else {
      rows = this.#s.listDelivered.all(hookId, cursor, limit, offset) as Row[];
      n = (this.#s.countDelivered.get(hookId, cursor) as { n: number }).n;
    }
    return {
      count: n,
      data: rows.map((r) => {
        const [event, eventId, ts] = JSON.parse(r.meta) as [string, string, number];
        return {
          id: r.id,
          event_id: eventId,
          event,
          status: status === 'delivered' ? 'delivered' : STATUS_NAME[r.status]!,
          // a delivered row is not rewritten: its recorded attempts are the failed ones before it
          attempts: status === 'delivered' ? r.attempts + 1 : r.attempts,
          last_error: status === 'delivered' ? null : r.last_error,
          created_at: ts,
          updated_at: r.updated_at ?? ts,
          body: JSON.parse(format(r)) as unknown,
        };
      }),
    };
  }

  /** the counters changed outside an outcome (a drop): write the state row with the next batch */
  markDirty(hookId: number): void {
    this.#dirty.add(hookId);
    if (this.#current || this.#stateWrite) return;
    this.#stateWrite = this.#d.writer.run(() => {
      this.#stateWrite = null;
      this.#writeStates();
    });
    this.#stateWrite.catch(noop);
  }

  readonly #flush = (): void => {
    this.#d.writer.flush().catch(noop);
  };

  // ---- inside the batch transaction -------------------------------------------------------------

  #write(batch: BatchRows): void {
    if (this.#current === batch) this.#current = null;
    const s = this.#s;
    const params = this.#params;
    for (const [hookId, { vals, head }] of batch.byHook) {
      const rows = vals.length / 2;
      let i = head;
      for (const [n, stmt] of s.inserts) {
        for (; i + n <= rows; i += n) {
          params.length = 0;
          for (let k = 2 * i; k < 2 * (i + n); k += 2) params.push(hookId, ++this.#seq, vals[k], vals[k + 1]);
          stmt.run(params);
        }
      }
    }
    params.length = 0;
    const max = this.#d.max();
    for (const hookId of batch.byHook.keys()) {
      const c = this.#counts.get(hookId);
      if (!c || c.pending <= max) continue;
      const floor = Math.max(this.cursor(hookId), this.#d.inflightMax(hookId));
      const n = s.dropOldest.run({ hook: hookId, status: PENDING, floor, skip: c.pending - max - 1 }).changes;
      if (n > 0) {
        c.pending -= n;
        this.#dropped(hookId, n);
      }
    }
    this.#writeStates();
  }

  #committed(batch: BatchRows): void {
    let n = 0;
    for (const { vals, head } of batch.byHook.values()) n += vals.length / 2 - head;
    this.#d.onCommitted(n);
  }

  #dropped(hookId: number, n: number): void {
    this.#d.onDropped(hookId, n);
    this.#dirty.add(hookId);
  }

  #advance(hookId: number, last: number): void {
    if (last > this.cursor(hookId)) this.#cursors.set(hookId, last);
  }

  /** deletes the hook's delivered rows but the newest KEEP_DELIVERED */
  #prune(hookId: number): void {
    const keep = this.#s.keepFrom.get(hookId, this.cursor(hookId)) as { id: number } | undefined;
    if (!keep) return;
    const low = this.#prunedTo.get(hookId) ?? 0;
    if (keep.id <= low) return;
    this.#s.pruneDelivered.run(hookId, low, keep.id);
    this.#prunedTo.set(hookId, keep.id - 1);
  }

  #writeStates(): void {
    for (const hookId of this.#dirty) {
      if (!this.#counts.has(hookId)) continue;
      this.#s.state.run({ hook_id: hookId, cursor: this.cursor(hookId), ...this.#d.counters(hookId) });
    }
    this.#dirty.clear();
  }

  /** one outcome's write, with the hook's state row; resolves once committed (never rejects: logged) */
  #writeLogged(hookId: number, write: () => void): Promise<void> {
    this.#dirty.add(hookId);
    return this.#d.writer
      .run(() => {
        write();
        this.#writeStates();
      })
      .catch((err: unknown) => this.#d.logger.error({ err, hookId }, 'webhooks: outbox update failed'));
  }

  #countsOf(hookId: number): Counts {
    let c = this.#counts.get(hookId);
    if (!c) this.#counts.set(hookId, (c = { pending: 0, failed: 0 }));
    return c;
  }
}

/** a row as the delivery thread reads it */
export interface OutboxRow extends StoredEvent {
  id: number;
  /** the formatted body of a row written by the first layout (0010), else null */
  body: string | null;
  attempts: number;
}
