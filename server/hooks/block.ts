// A block: the events one batch recorded for one hook, stored as ONE outbox row
// (webhook_outbox_block, migrations/0014) instead of one row each. SQLite's cost is per row
// (about 2–3 µs to insert one, about 3.5 µs to read one back with its payload, measured on this
// project's machine) while appending an event to a buffer costs a few tens of ns: a flood's hook
// pays one insert per batch, and the delivery thread one read per batch.
//
// The events of a block have consecutive ids, first_id .. last_id (assigned when the batch is
// written), so an event's id is first_id + its index and no id is stored. The blob holds each
// event as
//   u32 meta byte length | meta (UTF-8; pack.ts) | i32 payload length, -1 for none | payload
// little-endian, back to back, so any run of consecutive events is one contiguous byte range:
// cutting events off either end or out of the middle (drops, failures: outbox.ts) is slicing.
import type { BlockEvent, OutboxRow, QueuedEvent } from './pack.ts';

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
  let off = 0;
  let id = first;
  let n = 0;
  while (off < data.byteLength && n < limit && id <= upTo) {
    const mlen = data.readUInt32LE(off);
    const plen = data.readInt32LE(off + 4 + mlen);
    const p = off + 8 + mlen;
    if (id > after) {
      out.push({ id, meta: data.toString('utf8', off + 4, off + 4 + mlen), payload: plen < 0 ? null : data.subarray(p, p + plen), body: null, attempts: 0 });
      n++;
    }
    off = p + Math.max(0, plen);
    id++;
  }
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
