// A block: the events one batch recorded for one hook, stored as ONE outbox row
// (webhook_outbox_block, migrations/0014; a rowid table since 0015) instead of one row each.
// SQLite's cost is per row (about 2–3 µs to insert one, about 3.5 µs to read one back with its
// payload, measured on this project's machine) while appending an event to a buffer costs a few
// tens of ns: a flood's hook pays one insert per batch, and the delivery thread one read per
// batch.
//
// The events of a block have consecutive ids, first_id .. last_id (assigned when the batch is
// written), so an event's id is first_id + its index and no id is stored. The blob holds each
// event as
//   u32 meta byte length | meta (UTF-8; pack.ts) | i32 payload length, -1 for none | payload
// little-endian, back to back, so any run of consecutive events is one contiguous byte range:
// cutting events off either end or out of the middle (drops, failures: outbox.ts) is slicing.
import { jsonString, plainJsonByte, type BlockEvent, type OutboxRow, type QueuedEvent } from './pack.ts';

/** a first buffer this small comes from Node's pool; it doubles as needed */
const INITIAL = 2048;

/** the blocks of a hook that may hold ids above @after (the one holding @after, then newer), oldest first */
export const BLOCKS_FROM = `FROM webhook_outbox_block WHERE hook_id = @hook AND first_id >=
  coalesce((SELECT max(first_id) FROM webhook_outbox_block WHERE hook_id = @hook AND first_id <= @after), 0)`;


/** collects one hook's events of one batch */
export class BlockBuilder {
  #buf: Buffer;
  #len = 0;
  /** byte offset of the first event kept (events before it were dropped for space) */
  #head = 0;
  /** events appended, and how many of them were dropped from the front */
  #count = 0;
  #dropped = 0;

  /** `reuse`: the buffer of an earlier block, written and committed (release()) */
  constructor(reuse?: Buffer) {
    this.#buf = reuse ?? Buffer.allocUnsafe(INITIAL);
  }

  /** the buffer, for the next block once this one is committed; the builder is done */
  release(): Buffer {
    return this.#buf;
  }

  /** events kept */
  get size(): number {
    return this.#count - this.#dropped;
  }

  append(meta: string, payload: Uint8Array | null): void {
    const plen = payload ? payload.byteLength : 0;
    // a UTF-8 byte count is at most 3 per UTF-16 unit
    const need = this.#len + 8 + 3 * meta.length + plen;
    if (need > this.#buf.length) this.#grow(need);
    const b = this.#buf;
    const mlen = b.write(meta, this.#len + 4, 'utf8');
    b.writeUInt32LE(mlen, this.#len);
    let off = this.#len + 4 + mlen;
    b.writeInt32LE(payload ? plen : -1, off);
    off += 4;
    if (payload && plen > 0) b.set(payload, off);
    this.#len = off + plen;
    this.#count++;
  }

  /**
   * Appends a message.publish event, its meta written straight into the buffer: the bytes
   * packMeta's text would give (pack.ts; a unit test compares them), without making that text
   * for every message of a flood.
   */
  appendPublish(e: PublishFields): void {
    const plen = e.payload.byteLength;
    // the worst case: every character escaped as \uXXXX (6 bytes)
    const need = this.#len + 64 + 6 * (e.id.length + e.topic.length + (e.from_clientid?.length ?? 0) + (e.from_username?.length ?? 0)) + plen;
    if (need > this.#buf.length) this.#grow(need);
    const b = this.#buf;
    const start = this.#len;
    let o = start + 4;
    for (let i = 0; i < PUBLISH_HEAD.length; i++) b[o++] = PUBLISH_HEAD[i]!;
    o = jsonInto(b, o, e.id);
    b[o++] = COMMA;
    // a flood's events share their millisecond: its digits are written once
    if (e.ts !== lastTs) {
      lastTs = e.ts;
      lastTsLen = digitsInto(lastTsDigits, 0, e.ts);
    }
    for (let i = 0; i < lastTsLen; i++) b[o++] = lastTsDigits[i]!;
    b[o++] = COMMA;
    o = jsonInto(b, o, e.topic);
    b[o++] = COMMA;
    b[o++] = 0x30 + e.qos;
    b[o++] = COMMA;
    const retain = e.retain ? TRUE : FALSE;
    for (let i = 0; i < retain.length; i++) b[o++] = retain[i]!;
    b[o++] = COMMA;
    o = jsonInto(b, o, e.from_clientid);
    b[o++] = COMMA;
    o = jsonInto(b, o, e.from_username);
    b[o++] = 0x5d;
    u32Into(b, start, o - start - 4);
    u32Into(b, o, plen);
    o += 4;
    const p = e.payload;
    if (plen > 64) b.set(p, o);
    else for (let i = 0; i < plen; i++) b[o + i] = p[i]!;
    this.#len = o + plen;
    this.#count++;
  }

  /** drops the oldest event kept */
  dropFirst(): void {
    if (this.size === 0) return;
    this.#head = skip(this.#buf, this.#head);
    this.#dropped++;
  }

  /** the kept events' bytes (a view: bind or copy it before appending again) */
  bytes(): Buffer {
    return this.#buf.subarray(this.#head, this.#len);
  }

  #grow(need: number): void {
    let n = this.#buf.length * 2;
    while (n < need) n *= 2;
    const b = Buffer.allocUnsafe(n);
    this.#buf.copy(b, 0, 0, this.#len);
    this.#buf = b;
  }
}

/** the fields appendPublish writes (the bus's message.publish event has them) */
export interface PublishFields {
  id: string;
  ts: number;
  topic: string;
  qos: number;
  retain: boolean;
  from_clientid: string | null;
  from_username: string | null;
  payload: Uint8Array;
}

const PUBLISH_HEAD = Buffer.from('["message.publish",', 'latin1');
const TRUE = Buffer.from('true', 'latin1');
const FALSE = Buffer.from('false', 'latin1');
const NULL = Buffer.from('null', 'latin1');
const COMMA = 0x2c;

/**
 * jsonString(s) (pack.ts) written at `o`; returns the offset after it. Printable ASCII needing no
 * escape is copied a character at a time; anything else is written from jsonString's text.
 */
function jsonInto(b: Buffer, o: number, s: string | null): number {
  if (s === null) {
    for (let i = 0; i < NULL.length; i++) b[o++] = NULL[i]!;
    return o;
  }
  const start = o;
  b[o++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!plainJsonByte(c)) return start + b.write(jsonString(s), start, 'utf8');
    b[o++] = c;
  }
  b[o++] = 0x22;
  return o;
}

let lastTs = -1;
let lastTsLen = 0;
const lastTsDigits = Buffer.alloc(32);

/** a little-endian u32 (a length) at `o` */
function u32Into(b: Buffer, o: number, n: number): void {
  b[o] = n & 0xff;
  b[o + 1] = (n >>> 8) & 0xff;
  b[o + 2] = (n >>> 16) & 0xff;
  b[o + 3] = n >>> 24;
}

/** a non-negative integer's decimal digits (a time in ms) at `o`; returns the offset after them */
function digitsInto(b: Buffer, o: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return o + b.write(String(n), o, 'latin1');
  let div = 1;
  while (div * 10 <= n) div *= 10;
  for (; div >= 1; div /= 10) {
    const d = Math.floor(n / div);
    b[o++] = 0x30 + d;
    n -= d * div;
  }
  return o;
}

/** the byte offset after the event at `off` */
function skip(data: Buffer, off: number): number {
  const mlen = data.readUInt32LE(off);
  const plen = data.readInt32LE(off + 4 + mlen);
  return off + 8 + mlen + Math.max(0, plen);
}

/** the byte offsets of the events of `data`, with the end: offsets[i]..offsets[i+1] is event i */
export function offsets(data: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < data.byteLength) {
    out.push(off);
    off = skip(data, off);
  }
  out.push(off);
  return out;
}

/**
 * Appends the events of a block whose id is in (after, upTo] to `out` (oldest first), at most
 * `limit` in all; returns how many it appended. Payloads are views on `data`.
 */
export function readBlock(first: number, data: Buffer, after: number, upTo: number, limit: number, out: OutboxRow[]): number {
  const events: BlockEvent[] = [];
  const n = queueBlock(first, data, after, upTo, limit, events);
  for (const e of events) out.push(blockRow(e));
  return n;
}

/**
 * readBlock for the delivery thread: the events are appended as BlockEvents (views on `data`,
 * no strings made); returns how many it appended.
 */
export function queueBlock(first: number, data: Buffer, after: number, upTo: number, limit: number, out: QueuedEvent[]): number {
  let off = 0;
  let id = first;
  let n = 0;
  while (off < data.byteLength && n < limit && id <= upTo) {
    const mlen = data.readUInt32LE(off);
    const plen = data.readInt32LE(off + 4 + mlen);
    if (id > after) {
      out.push({ id, attempts: 0, src: data, at: off });
      n++;
    }
    off += 8 + mlen + Math.max(0, plen);
    id++;
  }
  return n;
}

/** a block event as a row (its meta as text, its payload a view) */
export function blockRow(e: BlockEvent): OutboxRow {
  const { src, at } = e;
  const mlen = src.readUInt32LE(at);
  const plen = src.readInt32LE(at + 4 + mlen);
  const p = at + 8 + mlen;
  return { id: e.id, meta: src.toString('utf8', at + 4, at + 4 + mlen), payload: plen < 0 ? null : src.subarray(p, p + plen), body: null, attempts: e.attempts };
}
