// The SQLite mirror of state.ts: prepared statements and group commit.
//
// Mutations change memory at once and register here; a millisecond after the first one, at the
// end of the event-loop turn that follows (setTimeout, then setImmediate: after a poll phase has
// handed us every packet that arrived), one transaction writes them all, and only then does the
// batch's single promise resolve — so a caller awaiting a mutation knows it is durable.
// The millisecond is what lets most QoS 1 messages to an online persistent session skip the disk:
// the subscriber's PUBACK usually arrives within it, the entry is gone before the commit, and
// nothing is written (committing every turn wrote and deleted each such message: 4 statements).
// Queue entries and messages are written by their final state at commit ("dirty" objects), not
// as a log of operations: an entry enqueued and dropped by the cap in the same batch never touches
// the disk, and three updates to one entry cost one statement.
// Everything else (subscriptions, retained, wills, inbound QoS 2) is keyed upserts and deletes,
// replayed in order.
//
// With journal_mode=WAL and synchronous=NORMAL a committed transaction survives a crash of the
// process (kill -9): it is in the WAL file, which the OS keeps. It can be lost on power failure
// or an OS crash before the next checkpoint; synchronous=FULL closes that gap at an fsync per batch.
import type BetterSqlite3 from 'better-sqlite3';
import type { ClientState, Entry, Msg } from './state.ts';
import type { PersistenceLogger } from './types.ts';
import type { PersistenceTables } from '../../store/persistence-tables.ts';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;
type Param = string | number | bigint | Buffer | null;
type Op = [Statement, Param[]];

export type Row<T extends keyof PersistenceTables> = PersistenceTables[T];

const noop = (): void => {};
/** how long a batch collects mutations before its commit is scheduled */
const COMMIT_DELAY_MS = 1;
const RESOLVED: Promise<void> = Promise.resolve();

export const toBuffer = (payload: Buffer | string): Buffer => (typeof payload === 'string' ? Buffer.from(payload) : payload);
export const bit = (b: boolean | undefined): number => (b ? 1 : 0);
const optBit = (b: boolean | undefined): number | null => (b === undefined ? null : b ? 1 : 0);

class Batch {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // callers may drop a mutation's promise (aedes does for delWill); a failed commit is logged
    // here and must not also become an unhandled rejection
    this.promise.catch(noop);
  }
}

export class SqliteMirror {
  readonly #db: BetterSqlite3.Database;
  readonly #logger: PersistenceLogger | undefined;
  readonly #s;
  readonly #txn: () => void;

  #log: Op[] = [];
  #msgs: Msg[] = [];
  #entries: Entry[] = [];
  #counters: ClientState[] = [];
  #batch: Batch | null = null;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  #stopped = false;

  constructor(db: BetterSqlite3.Database, logger: PersistenceLogger | undefined) {
    this.#db = db;
    this.#logger = logger;
    const p = (sql: string): Statement => db.prepare(sql);
    this.#s = {
      subUpsert: p(
        `INSERT INTO mqtt_subscription (client_id, topic, qos, rh, rap, nl, subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (client_id, topic) DO UPDATE SET qos = excluded.qos, rh = excluded.rh, rap = excluded.rap,
           nl = excluded.nl, subscription_id = excluded.subscription_id`,
      ),
      subDelete: p('DELETE FROM mqtt_subscription WHERE client_id = ? AND topic = ?'),
      subDeleteClient: p('DELETE FROM mqtt_subscription WHERE client_id = ?'),
      msgInsert: p(
        `INSERT INTO mqtt_message (id, topic, payload, qos, dup, broker_id, broker_counter, from_clientid, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      msgDelete: p('DELETE FROM mqtt_message WHERE id = ?'),
      outInsert: p(
        `INSERT INTO mqtt_outgoing (id, client_id, msg_id, cmd, qos, retain, message_id, inflight, sent_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      outUpdate: p(
        `UPDATE mqtt_outgoing SET msg_id = ?, cmd = ?, qos = ?, retain = ?, message_id = ?, inflight = ?, sent_seq = ?
         WHERE id = ?`,
      ),
      outDelete: p('DELETE FROM mqtt_outgoing WHERE id = ?'),
      inUpsert: p(
        `INSERT OR REPLACE INTO mqtt_incoming (client_id, message_id, topic, payload, qos, retain, dup, broker_id, broker_counter)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      inDelete: p('DELETE FROM mqtt_incoming WHERE client_id = ? AND message_id = ?'),
      inDeleteClient: p('DELETE FROM mqtt_incoming WHERE client_id = ?'),
      retUpsert: p(
        `INSERT OR REPLACE INTO mqtt_retained (topic, payload, qos, broker_id, broker_counter, from_clientid, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      retDelete: p('DELETE FROM mqtt_retained WHERE topic = ?'),
      willUpsert: p(
        `INSERT OR REPLACE INTO mqtt_will (client_id, broker_id, topic, payload, qos, retain, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      willDelete: p('DELETE FROM mqtt_will WHERE client_id = ?'),
      counterUpsert: p(
        `INSERT INTO mqtt_session_counter (client_id, mqueue_dropped) VALUES (?, ?)
         ON CONFLICT (client_id) DO UPDATE SET mqueue_dropped = excluded.mqueue_dropped`,
      ),
      counterDelete: p('DELETE FROM mqtt_session_counter WHERE client_id = ?'),
    };
    this.#txn = db.transaction(() => this.#write());
  }

  // ---- loading (setup) --------------------------------------------------------------------------

  subscriptions(): IterableIterator<Row<'mqtt_subscription'>> {
    return this.#db.prepare('SELECT * FROM mqtt_subscription ORDER BY rowid').iterate() as IterableIterator<Row<'mqtt_subscription'>>;
  }
  messages(): IterableIterator<Row<'mqtt_message'>> {
    return this.#db.prepare('SELECT * FROM mqtt_message').iterate() as IterableIterator<Row<'mqtt_message'>>;
  }
  /** in-flight entries in send order, then queued ones in enqueue order (= rowid order: no sort) */
  *outgoing(): Generator<Row<'mqtt_outgoing'>> {
    yield* this.#db.prepare('SELECT * FROM mqtt_outgoing WHERE inflight = 1 ORDER BY sent_seq').iterate() as IterableIterator<Row<'mqtt_outgoing'>>;
    yield* this.#db.prepare('SELECT * FROM mqtt_outgoing WHERE inflight = 0 ORDER BY id').iterate() as IterableIterator<Row<'mqtt_outgoing'>>;
  }
  incoming(): IterableIterator<Row<'mqtt_incoming'>> {
    return this.#db.prepare('SELECT * FROM mqtt_incoming').iterate() as IterableIterator<Row<'mqtt_incoming'>>;
  }
  retained(): IterableIterator<Row<'mqtt_retained'>> {
    return this.#db.prepare('SELECT * FROM mqtt_retained').iterate() as IterableIterator<Row<'mqtt_retained'>>;
  }
  wills(): IterableIterator<Row<'mqtt_will'>> {
    return this.#db.prepare('SELECT * FROM mqtt_will').iterate() as IterableIterator<Row<'mqtt_will'>>;
  }
  counters(): IterableIterator<Row<'mqtt_session_counter'>> {
    return this.#db.prepare('SELECT * FROM mqtt_session_counter').iterate() as IterableIterator<Row<'mqtt_session_counter'>>;
  }
  maxIds(): { entry: number; msg: number } {
    const r = this.#db
      .prepare(
        `SELECT (SELECT max(coalesce(max(id), 0), coalesce(max(sent_seq), 0)) FROM mqtt_outgoing) AS entry,
                (SELECT coalesce(max(id), 0) FROM mqtt_message) AS msg`,
      )
      .get() as { entry: number; msg: number };
    return r;
  }
  /** rows left behind by a crash between our own bookkeeping steps cannot exist (one transaction
   *  per batch), but a message whose entries all point elsewhere is swept here for safety */
  deleteRows(msgIds: number[], outgoingIds: number[]): void {
    if (msgIds.length === 0 && outgoingIds.length === 0) return;
    this.#db.transaction(() => {
      for (const id of msgIds) this.#s.msgDelete.run(id);
      for (const id of outgoingIds) this.#s.outDelete.run(id);
    })();
  }
  journalMode(): string {
    return String(this.#db.pragma('journal_mode', { simple: true }));
  }

  // ---- recording mutations ----------------------------------------------------------------------

  subUpsert(clientId: string, topic: string, qos: number, rh: number | undefined, rap: boolean | undefined, nl: boolean | undefined, subId: number | undefined): void {
    this.#op(this.#s.subUpsert, [clientId, topic, qos, rh ?? null, optBit(rap), optBit(nl), subId ?? null]);
  }
  subDelete(clientId: string, topic: string): void {
    this.#op(this.#s.subDelete, [clientId, topic]);
  }
  subDeleteClient(clientId: string): void {
    this.#op(this.#s.subDeleteClient, [clientId]);
  }
  incomingUpsert(clientId: string, messageId: number, topic: string, payload: Buffer | string, qos: number, retain: boolean | undefined, dup: boolean | undefined, brokerId: string | undefined, brokerCounter: number): void {
    this.#op(this.#s.inUpsert, [clientId, messageId, topic, toBuffer(payload), qos, bit(retain), bit(dup), brokerId ?? null, brokerCounter]);
  }
  incomingDelete(clientId: string, messageId: number): void {
    this.#op(this.#s.inDelete, [clientId, messageId]);
  }
  incomingDeleteClient(clientId: string): void {
    this.#op(this.#s.inDeleteClient, [clientId]);
  }
  retainedUpsert(topic: string, payload: Buffer | string, qos: number, brokerId: string | undefined, brokerCounter: number, from: string | null, addedAt: number): void {
    this.#op(this.#s.retUpsert, [topic, toBuffer(payload), qos, brokerId ?? null, brokerCounter, from, addedAt]);
  }
  retainedDelete(topic: string): void {
    this.#op(this.#s.retDelete, [topic]);
  }
  willUpsert(clientId: string, brokerId: string, topic: string, payload: Buffer | string, qos: number, retain: boolean | undefined, addedAt: number): void {
    this.#op(this.#s.willUpsert, [clientId, brokerId, topic, toBuffer(payload), qos, bit(retain), addedAt]);
  }
  willDelete(clientId: string): void {
    this.#op(this.#s.willDelete, [clientId]);
  }

  msg(m: Msg): void {
    if (m.dirty) return;
    m.dirty = true;
    this.#msgs.push(m);
    this.#arm();
  }
  entry(e: Entry): void {
    if (e.dirty) return;
    e.dirty = true;
    this.#entries.push(e);
    this.#arm();
  }
  counter(s: ClientState): void {
    if (s.counterDirty) return;
    s.counterDirty = true;
    this.#counters.push(s);
    this.#arm();
  }

  /** The promise of the batch holding everything recorded so far (resolved if nothing is pending). */
  get committed(): Promise<void> {
    return this.#batch ? this.#batch.promise : RESOLVED;
  }

  /** Commit now instead of at the end of the turn. */
  flush(): Promise<void> {
    if (!this.#batch && this.#hasWork()) this.#batch = new Batch();
    const batch = this.#batch;
    if (!batch) return RESOLVED;
    this.#commit();
    return batch.promise;
  }

  /** Flush, then refuse further work. */
  async stop(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#stopped = true;
      this.#disarm();
    }
  }

  // ---- commit -----------------------------------------------------------------------------------

  #op(stmt: Statement, params: Param[]): void {
    this.#log.push([stmt, params]);
    this.#arm();
  }

  #arm(): void {
    if (this.#stopped) throw new Error('persistence destroyed');
    if (!this.#batch) this.#batch = new Batch();
    if (!this.#timer && !this.#immediate) this.#timer = setTimeout(this.#onTimer, COMMIT_DELAY_MS);
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
  }

  // timers run before the poll phase: commit after it, so packets that arrived meanwhile count
  #onTimer = (): void => {
    this.#timer = null;
    this.#immediate = setImmediate(this.#onImmediate);
  };

  #onImmediate = (): void => {
    this.#immediate = null;
    this.#commit();
  };

  #hasWork(): boolean {
    return this.#log.length > 0 || this.#msgs.length > 0 || this.#entries.length > 0 || this.#counters.length > 0;
  }

  #commit(): void {
    const batch = this.#batch;
    if (!batch) return;
    if (this.#db.inTransaction) {
      // the store shares this connection and kysely keeps a transaction open across awaits:
      // writing now would nest ours in theirs (a SAVEPOINT) and tie it to their commit/rollback
      if (!this.#immediate) this.#immediate = setImmediate(this.#onImmediate);
      return;
    }
    this.#disarm();
    this.#batch = null;
    try {
      this.#txn();
    } catch (err) {
      // memory stays ahead of the disk; the work is kept and retried with the next batch, and the
      // callers of this one learn their mutation is not durable
      this.#logger?.error({ err }, 'persistence: SQLite commit failed; will retry with the next batch');
      batch.reject(err);
      return;
    }
    for (const m of this.#msgs) {
      m.dirty = false;
      m.persisted = m.refs > 0;
    }
    for (const e of this.#entries) {
      e.dirty = false;
      e.persisted = !e.removed;
    }
    for (const s of this.#counters) s.counterDirty = false;
    this.#log = [];
    this.#msgs = [];
    this.#entries = [];
    this.#counters = [];
    batch.resolve();
  }

  #write(): void {
    const s = this.#s;
    for (const [stmt, params] of this.#log) stmt.run(...params);
    for (const m of this.#msgs) {
      if (m.refs > 0) {
        if (!m.persisted) {
          s.msgInsert.run(m.id, m.topic, toBuffer(m.payload), m.qos, bit(m.dup), m.brokerId ?? null, m.brokerCounter, m.fromClientId, m.addedAt);
        }
      } else if (m.persisted) {
        s.msgDelete.run(m.id);
      }
    }
    for (const e of this.#entries) {
      if (e.removed) {
        if (e.persisted) s.outDelete.run(e.id);
      } else if (!e.persisted) {
        s.outInsert.run(e.id, e.clientId, e.msg.id, e.cmd, e.qos, bit(e.retain), e.messageId ?? null, bit(e.inflight), e.inflight ? e.sentSeq : null);
      } else {
        s.outUpdate.run(e.msg.id, e.cmd, e.qos, bit(e.retain), e.messageId ?? null, bit(e.inflight), e.inflight ? e.sentSeq : null, e.id);
      }
    }
    for (const c of this.#counters) {
      if (c.dropped > 0) s.counterUpsert.run(c.id, c.dropped);
      else s.counterDelete.run(c.id);
    }
  }
}
