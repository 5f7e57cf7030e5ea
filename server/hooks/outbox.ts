// The durable outbox, writer side (the broker's thread): each event a hook wants is appended to
// that hook's block of the current batch (block.ts: one SQLite row per batch and hook, not one
// per event), written through a BatchWriter (the persistence's group commit in sqlite mode).
// Bounded per hook: past `max()` undelivered events the oldest pending ones are dropped, a block
// at a time, and counted (and dead letters past the same bound likewise). Layouts: migrations/0013 (rows),
// 0014 (blocks), 0015 (blocks in a rowid table).
//
// When a batch commits: a batch is handed to the group commit when a QoS 1/2 PUBLISH waits for
// it (uncommitted(): its PUBACK follows the commit, ~1 ms), when it reaches FLUSH_ROWS events,
// COMMIT_MS after its first event while it holds fewer than FLOOD_ROWS, or else FLOOD_COMMIT_MS
// after it. Events no acknowledgement waits for (QoS 0 messages, connects...) are thus on disk
// within FLOOD_COMMIT_MS plus the group commit's own ~1 ms, and usually within COMMIT_MS.
//
// Why two delays: a commit blocks the broker's thread, and every CONNECT or PUBLISH that arrives
// meanwhile waits for it; a commit's time grows with its bytes. For a trickle of events (connects)
// short, frequent commits delay fewer connects by less: the CONNACK p99 with a hook fell from
// 1.29 to 1.14 of none going from 10 ms to 2 ms (50 ms was worse still). A flood is the other way
// round: nobody waits on its commits, and each commit's fixed cost (~60 µs) is shared by the
// batch. The measurements: BENCHMARKS.md, webhook scenarios, "Fourth round".
//
// Delivery rewrites nothing on success: an outcome moves the hook's cursor (one state row, which
// also keeps the counters). An event that fails a try leaves its block for a row of its own in
// webhook_outbox (status 0 with its attempts and error; a dead letter is status 1), where the
// retry API, GET .../deliveries and a restart find its attempts. Delivered events are deleted a
// block at a time, keeping at least the most recent KEEP_DELIVERED (and less than one batch more)
// for GET .../deliveries?status=delivered.
//
// Ids are assigned when a batch is written (one increasing sequence for all hooks and both
// tables), so within a hook, id order is commit order: the delivery thread reads `id > cursor`
// from both tables (outbox-reader.ts) and never misses a committed event, and an outcome covers
// the id range of the request.
import type BetterSqlite3 from 'better-sqlite3';
import type { BatchWriter } from '../store/group-commit.ts';
import type { WebhookHookStateTable } from '../store/database.ts';
import type { OutboxRow } from './pack.ts';
import { BLOCKS_FROM, BlockBuilder, offsets, readBlock, type PublishFields } from './block.ts';
import { STATUS_NAME, type DeliveryStatus, type DeliveryView } from './types.ts';

interface Counts {
  pending: number;
  failed: number;
}

/** what the state row keeps of a hook's stats (stats.ts) */
export type PersistedCounters = Omit<WebhookHookStateTable, 'hook_id' | 'cursor'>;

export type HookState = Omit<WebhookHookStateTable, 'hook_id'>;

/** the events of one batch, a block per hook; resolves once written and committed */
interface Batch {
  byHook: Map<number, BlockBuilder>;
  rows: number;
  /** max() when the batch began: read once per batch, not per event */
  max: number;
  /** outcome writes (#writeLogged) that go with the batch's events */
  outcomes: { hookId: number; write: () => void }[];
  /** handed to the group commit */
  handed: boolean;
  /** past FLOOD_ROWS at COMMIT_MS: handed at FLOOD_COMMIT_MS */
  flood: boolean;
  timer: NodeJS.Timeout | null;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
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
 * A batch this large is committed at once instead of at the group commit's timer: under a QoS 0
 * flood the broker's event loop can go seconds without running timers, and a batch waiting for
 * one would hold every event of those seconds in memory.
 */
export const FLUSH_ROWS = 2048;
/**
 * Buffers of committed blocks kept for the next batches (up to this many, each up to
 * SPARE_BYTES): a flood's block grows to ~100 KB a batch, and allocating and growing a fresh
 * one each batch is garbage the broker's thread collects.
 */
const SPARES = 4;
const SPARE_BYTES = 1 << 20;
/** how long after its first event a small batch is handed to the group commit (see the top) */
export const COMMIT_MS = 2;
/**
 * A batch holding this many events at COMMIT_MS (32,000 events/s) is a flood's: it is handed at
 * FLOOD_COMMIT_MS. A QoS 0 flood with a hook records 80,000-230,000 events/s; connects, a few
 * thousand.
 */
export const FLOOD_ROWS = 64;
export const FLOOD_COMMIT_MS = 10;
/** delivered rows kept per hook for GET .../deliveries?status=delivered */
export const KEEP_DELIVERED = 1000;
const PENDING = 0;
const FAILED = 1;
const noop = (): void => {};
interface Bounds {
  first_id: number;
  last_id: number;
}
interface BlockRow extends Bounds {
  data: Buffer;
}

export class Outbox {
  readonly #d: OutboxDeps;
  readonly #s;
  /** runs a write inside the current transaction as a savepoint (better-sqlite3 nests transactions so) */
  readonly #savepoint: (write: () => void) => void;
  #seq: number;
  #current: Batch | null = null;
  readonly #spares: Buffer[] = [];
  readonly #counts = new Map<number, Counts>();
  /** every row up to the cursor is delivered or a dead letter (as far as this thread knows) */
  readonly #cursors = new Map<number, number>();
  readonly #deliveredSincePrune = new Map<number, number>();
  /** delivered rows at or below this id are already deleted (per hook, since start) */
  readonly #prunedTo = new Map<number, number>();
  /** hooks whose state row must be written with the next batch */
  readonly #dirty = new Set<number>();
  #stateWrite: Promise<void> | null = null;

  constructor(deps: OutboxDeps) {
    this.#d = deps;
    const db = deps.sqlite;
    this.#savepoint = db.transaction((write: () => void) => write());
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      insertBlock: p('INSERT INTO webhook_outbox_block (hook_id, first_id, last_id, data) VALUES (?, ?, ?, ?)'),
      deleteBlock: p('DELETE FROM webhook_outbox_block WHERE hook_id = ? AND first_id = ?'),
      deleteBlocks: p('DELETE FROM webhook_outbox_block WHERE hook_id = ? AND first_id BETWEEN ? AND ?'),
      blocksFrom: p(`SELECT first_id, last_id, data ${BLOCKS_FROM} ORDER BY first_id`),
      /** bounds only (no blob read) of the blocks from the one holding @after up to @hi */
      boundsFrom: p(`SELECT first_id, last_id ${BLOCKS_FROM} AND first_id <= @hi ORDER BY first_id`),
      blockData: p('SELECT data FROM webhook_outbox_block WHERE hook_id = ? AND first_id = ?').pluck(),
      /** newest first, from the block holding @upTo down */
      blocksDown: p('SELECT first_id, last_id, data FROM webhook_outbox_block WHERE hook_id = @hook AND first_id <= @upTo ORDER BY first_id DESC'),
      blockBounds: p('SELECT first_id, last_id FROM webhook_outbox_block WHERE hook_id = ? AND first_id <= ? ORDER BY first_id DESC'),
      pruneBlocks: p('DELETE FROM webhook_outbox_block WHERE hook_id = ? AND first_id < ?'),
      deleteHookBlocks: p('DELETE FROM webhook_outbox_block WHERE hook_id = ?'),
      blockPending: p('SELECT coalesce(sum(last_id - max(first_id - 1, @cursor)), 0) AS n FROM webhook_outbox_block WHERE hook_id = @hook AND last_id > @cursor'),
      blockDelivered: p('SELECT coalesce(sum(min(last_id, @cursor) - first_id + 1), 0) AS n FROM webhook_outbox_block WHERE hook_id = @hook AND first_id <= @cursor'),
      insertRow: p('INSERT INTO webhook_outbox (hook_id, id, meta, payload) VALUES (?, ?, ?, ?)'),
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
    this.#seq = (
      db.prepare('SELECT max((SELECT coalesce(max(id), 0) FROM webhook_outbox), (SELECT coalesce(max(last_id), 0) FROM webhook_outbox_block)) AS m').get() as { m: number }
    ).m;
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
    for (const { hook_id } of db.prepare('SELECT DISTINCT hook_id FROM webhook_outbox UNION SELECT DISTINCT hook_id FROM webhook_outbox_block').all() as { hook_id: number }[]) {
      if (known.has(hook_id)) continue;
      this.#s.deleteHook.run(hook_id);
      this.#s.deleteHookBlocks.run(hook_id);
    }
    for (const id of hookIds) {
      const cursor = states.get(id)?.cursor ?? 0;
      this.#cursors.set(id, cursor);
      const c = this.#countsOf(id);
      c.pending = this.#countPending(id, cursor);
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
    const batch = this.#current ?? this.#newBatch();
    const block = this.#blockOf(batch, hookId);
    block.append(meta, payload);
    this.#added(batch, block, hookId);
    return batch.promise;
  }

  /** add() of a message.publish event, packed straight into its block (block.ts) */
  addPublish(hookId: number, event: PublishFields): Promise<void> {
    const batch = this.#current ?? this.#newBatch();
    const block = this.#blockOf(batch, hookId);
    block.appendPublish(event);
    this.#added(batch, block, hookId);
    return batch.promise;
  }

  #blockOf(batch: Batch, hookId: number): BlockBuilder {
    let block = batch.byHook.get(hookId);
    if (!block) batch.byHook.set(hookId, (block = new BlockBuilder(this.#spares.pop())));
    return block;
  }

  #added(batch: Batch, block: BlockBuilder, hookId: number): void {
    // after the event's own processing (a microtask), not in the middle of the broker's
    if (++batch.rows === FLUSH_ROWS) queueMicrotask(this.#flush);
    const c = this.#countsOf(hookId);
    c.pending++;
    // a flood faster than the commit: the batch alone holds max() events of this hook, so every
    // older one goes anyway; drop the oldest now instead of writing and deleting it
    if (block.size > batch.max) {
      block.dropFirst();
      c.pending--;
      this.#dropped(hookId, 1);
    }
  }

  /**
   * The commit of the events recorded so far, or undefined when all are committed. Someone waits
   * for it (a PUBACK): the batch goes to the group commit now.
   */
  uncommitted(): Promise<void> | undefined {
    const b = this.#current;
    if (!b) return undefined;
    this.#hand(b);
    return b.promise;
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
      this.#unblock(hookId, first, last);
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
      this.#unblock(hookId, first, last);
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
    this.#handOutcomes();
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
    this.#handOutcomes();
    await this.#d.writer.run(() => {
      this.#s.deleteHook.run(hookId);
      this.#s.deleteHookBlocks.run(hookId);
      this.#s.deleteState.run(hookId);
    });
  }

  /** `format` turns a stored row into its webhook body (JSON text) */
  list(hookId: number, status: DeliveryStatus, offset: number, limit: number, format: (row: OutboxRow) => string): { data: DeliveryView[]; count: number } {
    const cursor = this.cursor(hookId);
    type Row = OutboxRow & { status: number; last_error: string | null; updated_at: number | null };
    let rows: Row[];
    let n: number;
    const asRow = (r: OutboxRow): Row => ({ ...r, status: PENDING, last_error: null, updated_at: null });
    if (status === 'pending') {
      const own = this.#s.listPending.all(hookId, cursor, offset + limit, 0) as Row[];
      const fromBlocks: OutboxRow[] = [];
      this.#readUp(hookId, cursor, offset + limit, fromBlocks);
      rows = mergeById(own, fromBlocks.map(asRow), (a, b) => a.id - b.id).slice(offset, offset + limit);
      n = this.#countPending(hookId, cursor);
    } else if (status === 'failed') {
      rows = this.#s.listFailed.all(hookId, limit, offset) as Row[];
      n = (this.#s.countFailed.get(hookId) as { n: number }).n;
    } else {
      const own = this.#s.listDelivered.all(hookId, cursor, offset + limit, 0) as Row[];
      rows = mergeById(own, this.#readDown(hookId, cursor, offset + limit).map(asRow), (a, b) => b.id - a.id).slice(offset, offset + limit);
      n = (this.#s.countDelivered.get(hookId, cursor) as { n: number }).n + (this.#s.blockDelivered.get({ hook: hookId, cursor }) as { n: number }).n;
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

  /** outcomes waiting in the batch being collected are written before what comes next */
  #handOutcomes(): void {
    if (this.#current && this.#current.outcomes.length > 0) this.#hand(this.#current);
  }

  readonly #flush = (): void => {
    if (this.#current) this.#hand(this.#current);
    this.#d.writer.flush().catch(noop);
  };

  #newBatch(): Batch {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const b: Batch = { byHook: new Map(), rows: 0, max: this.#d.max(), outcomes: [], handed: false, flood: false, timer: null, promise, resolve, reject };
    // the callers' promise (add) needs no handler of its own: this one is it
    promise.then(() => this.#committed(b), noop);
    b.timer = setTimeout(this.#onTimer, COMMIT_MS);
    return (this.#current = b);
  }

  readonly #onTimer = (): void => {
    const b = this.#current;
    if (!b) return;
    if (b.rows >= FLOOD_ROWS && !b.flood) {
      b.flood = true;
      b.timer = setTimeout(this.#onTimer, FLOOD_COMMIT_MS - COMMIT_MS);
      return;
    }
    this.#hand(b);
  };

  #hand(b: Batch): void {
    if (b.handed) return;
    b.handed = true;
    if (b.timer) clearTimeout(b.timer);
    b.timer = null;
    this.#d.writer.run(() => this.#write(b)).then(b.resolve, b.reject);
  }

  // ---- inside the batch transaction -------------------------------------------------------------

  #write(batch: Batch): void {
    if (this.#current === batch) this.#current = null;
    const s = this.#s;
    for (const [hookId, block] of batch.byHook) {
      const n = block.size;
      // a hook deleted since its events were recorded (removeHook) gets no rows
      if (n === 0 || !this.#counts.has(hookId)) continue;
      const first = this.#seq + 1;
      this.#seq += n;
      s.insertBlock.run(hookId, first, this.#seq, block.bytes());
    }
    const max = this.#d.max();
    for (const hookId of batch.byHook.keys()) {
      const c = this.#counts.get(hookId);
      if (!c || c.pending <= max) continue;
      const floor = Math.max(this.cursor(hookId), this.#d.inflightMax(hookId));
      const n = this.#dropOldest(hookId, floor, c.pending, max);
      if (n > 0) {
        c.pending -= n;
        this.#dropped(hookId, n);
      }
    }
    for (const o of batch.outcomes) {
      try {
        // a savepoint each: an outcome that fails is undone whole, and the batch's events and
        // the other outcomes still commit
        this.#savepoint(o.write);
      } catch (err) {
        this.#d.logger.error({ err, hookId: o.hookId }, 'webhooks: outbox update failed');
      }
    }
    this.#writeStates();
  }

  /**
   * Deletes the oldest pending events above `floor` to bring `pending` down towards `max`;
   * returns how many. Blocks go whole (a ranged delete, no blob rewritten), so the hook may keep
   * up to one batch's events beyond `max`; a block holding the floor (in flight) is left alone.
   */
  #dropOldest(hookId: number, floor: number, pending: number, max: number): number {
    let dropped = 0;
    let lo: number | undefined;
    let hi = 0;
    // blocks first: rows of their own are the few that failed a try (the head, at or below the
    // in-flight floor) or were moved back by the retry API
    for (const b of this.#s.boundsFrom.iterate({ hook: hookId, after: floor, hi: Number.MAX_SAFE_INTEGER }) as Iterable<Bounds>) {
      if (b.first_id <= floor) continue;
      const n = b.last_id - b.first_id + 1;
      if (pending - dropped - n < max) break;
      lo ??= b.first_id;
      hi = b.first_id;
      dropped += n;
    }
    if (lo !== undefined) this.#s.deleteBlocks.run(hookId, lo, hi);
    const over = pending - dropped - max;
    if (over > 0) dropped += this.#s.dropOldest.run({ hook: hookId, status: PENDING, floor, skip: over - 1 }).changes;
    return dropped;
  }

  /**
   * Removes the events with ids lo..hi from the hook's blocks (splitting a block that holds more),
   * and returns them if `out` is given.
   */
  #cut(hookId: number, lo: number, hi: number, out?: OutboxRow[]): void {
    const s = this.#s;
    for (const b of s.boundsFrom.all({ hook: hookId, after: lo - 1, hi }) as Bounds[]) {
      if (b.last_id < lo) continue;
      const a = Math.max(b.first_id, lo);
      const z = Math.min(b.last_id, hi);
      const data = s.blockData.get(hookId, b.first_id) as Buffer;
      if (out) readBlock(b.first_id, data, a - 1, z, Infinity, out);
      s.deleteBlock.run(hookId, b.first_id);
      const offs = a > b.first_id || z < b.last_id ? offsets(data) : [];
      if (a > b.first_id) s.insertBlock.run(hookId, b.first_id, a - 1, data.subarray(0, offs[a - b.first_id]));
      if (z < b.last_id) s.insertBlock.run(hookId, z + 1, b.last_id, data.subarray(offs[z - b.first_id + 1]));
    }
  }

  /** events first..last failed a try: they leave their blocks for rows of their own (same ids) */
  #unblock(hookId: number, first: number, last: number): void {
    const moved: OutboxRow[] = [];
    this.#cut(hookId, first, last, moved);
    for (const r of moved) this.#s.insertRow.run(hookId, r.id, r.meta, r.payload);
  }

  /** up to `limit` block events of the hook above `after`, oldest first */
  #readUp(hookId: number, after: number, limit: number, out: OutboxRow[]): void {
    for (const b of this.#s.blocksFrom.iterate({ hook: hookId, after }) as Iterable<BlockRow>) {
      if (out.length >= limit) break;
      if (b.last_id > after) readBlock(b.first_id, b.data, after, Infinity, limit - out.length, out);
    }
  }

  /** up to `limit` block events of the hook at or below `upTo`, newest first */
  #readDown(hookId: number, upTo: number, limit: number): OutboxRow[] {
    const out: OutboxRow[] = [];
    for (const b of this.#s.blocksDown.iterate({ hook: hookId, upTo }) as Iterable<BlockRow>) {
      if (out.length >= limit) break;
      const mine: OutboxRow[] = [];
      readBlock(b.first_id, b.data, b.first_id - 1, upTo, Infinity, mine);
      for (let i = mine.length - 1; i >= 0 && out.length < limit; i--) out.push(mine[i]!);
    }
    return out;
  }

  #countPending(hookId: number, cursor: number): number {
    return (this.#s.countPending.get(hookId, cursor) as { n: number }).n + (this.#s.blockPending.get({ hook: hookId, cursor }) as { n: number }).n;
  }

  #committed(batch: Batch): void {
    let n = 0;
    for (const block of batch.byHook.values()) {
      n += block.size;
      // written and committed: a failed commit would have retried the write with these bytes
      const buf = block.release();
      if (this.#spares.length < SPARES && buf.length <= SPARE_BYTES) this.#spares.push(buf);
    }
    this.#d.onCommitted(n);
  }

  #dropped(hookId: number, n: number): void {
    this.#d.onDropped(hookId, n);
    this.#dirty.add(hookId);
  }

  #advance(hookId: number, last: number): void {
    if (last > this.cursor(hookId)) this.#cursors.set(hookId, last);
  }

  /**
   * deletes the hook's delivered events but the newest KEEP_DELIVERED: rows of their own exactly,
   * blocks whole (the block where the count is reached stays, so up to one batch more is kept):
   * cutting it would read and rewrite a flood's ~300 KB block at every prune.
   */
  #prune(hookId: number): void {
    const cursor = this.cursor(hookId);
    const keep = this.#s.keepFrom.get(hookId, cursor) as { id: number } | undefined;
    const low = this.#prunedTo.get(hookId) ?? 0;
    if (keep && keep.id > low) {
      this.#s.pruneDelivered.run(hookId, low, keep.id);
      this.#prunedTo.set(hookId, keep.id - 1);
    }
    let kept = 0;
    let from: number | undefined;
    for (const b of this.#s.blockBounds.iterate(hookId, cursor) as Iterable<Bounds>) {
      kept += Math.min(b.last_id, cursor) - b.first_id + 1;
      if (kept >= KEEP_DELIVERED) {
        from = b.first_id;
        break;
      }
    }
    // (after the loop: the connection is busy while an iteration is open)
    if (from !== undefined) this.#s.pruneBlocks.run(hookId, from);
  }

  #writeStates(): void {
    for (const hookId of this.#dirty) {
      if (!this.#counts.has(hookId)) continue;
      this.#s.state.run({ hook_id: hookId, cursor: this.cursor(hookId), ...this.#d.counters(hookId) });
    }
    this.#dirty.clear();
  }

  /**
   * One outcome's write, with the hook's state row; resolves once committed (never rejects:
   * logged). While a batch of events is being collected the write goes into it: a busy hook's
   * outcomes (one per request) share the events' transactions instead of adding their own.
   */
  #writeLogged(hookId: number, write: () => void): Promise<void> {
    this.#dirty.add(hookId);
    const logged = (err: unknown) => this.#d.logger.error({ err, hookId }, 'webhooks: outbox update failed');
    const b = this.#current;
    if (b) {
      b.outcomes.push({ hookId, write });
      return b.promise.catch(logged);
    }
    return this.#d.writer
      .run(() => {
        write();
        this.#writeStates();
      })
      .catch(logged);
  }

  #countsOf(hookId: number): Counts {
    let c = this.#counts.get(hookId);
    if (!c) this.#counts.set(hookId, (c = { pending: 0, failed: 0 }));
    return c;
  }
}


/** two lists, each sorted by `cmp`, as one */
function mergeById<T extends { id: number }>(a: T[], b: T[], cmp: (x: T, y: T) => number): T[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && cmp(a[i]!, b[j]!) <= 0) ? a[i++]! : b[j++]!);
  return out;
}
