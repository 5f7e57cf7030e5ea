// An event as the outbox stores it: its raw fields, not its webhook body. Packing runs on the
// broker's thread for every event a hook wants, so it is the least work that keeps the event
// whole: the payload as it is (no decoding, no JSON escaping of it) and every other field in one
// short JSON array, `meta` = [name, id, ts, ...fields]. The body (format.ts) is built at delivery
// time, on the delivery thread. The array layouts below are the stored format: append, never
// reorder.
//   message.publish:             [name, id, ts, topic, qos, retain, from_clientid, from_username]
//   other message.* events:      the same, then clientid, username, reason
//   every other event:           [name, id, ts, the event as an object]
import type { TernEvent, TernEventName } from '../broker/events.ts';

type AnyEvent = TernEvent<TernEventName>;
type MessageEvent = TernEvent<'message.delivered'> & { reason?: string };

/** a row's stored fields, as read back */
export interface StoredEvent {
  meta: string;
  payload: Uint8Array | null;
}

/** a row as the delivery thread reads it */
export interface OutboxRow extends StoredEvent {
  id: number;
  /** the formatted body of a row written by the first layout (0010), else null */
  body: string | null;
  attempts: number;
}

/**
 * An event of a block as the delivery thread queues it: read in place, its bytes stay in the
 * block's buffer (`src`, from byte `at`: block.ts) until its body is written (body.ts), so
 * reading a batch allocates no strings.
 */
export interface BlockEvent {
  id: number;
  attempts: number;
  src: Buffer;
  at: number;
}

/** what the delivery thread sends: rows of their own and block events, in id order */
export type QueuedEvent = OutboxRow | BlockEvent;

export const isBlockEvent = (e: QueuedEvent): e is BlockEvent => (e as Partial<BlockEvent>).src !== undefined;

export const isMessageEvent = (name: string): boolean => name.startsWith('message.');

/** what JSON.stringify escapes in a string (lone surrogates included); \u2028/9 are only for safety */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;
/**
 * JSON.stringify of a string or null, with the same output: a client id or topic rarely needs an
 * escape, and quoting it directly is about twice as fast as the general path.
 */
/** a character (or byte) JSON.stringify copies as it is and UTF-8 writes as one byte: printable ASCII but " and \\ */
export const plainJsonByte = (c: number): boolean => c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c;
export const jsonString = (s: string | null | undefined): string => (s == null ? 'null' : NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);
const q = jsonString;

export function packMeta(name: TernEventName, e: AnyEvent): string {
  if (name === 'message.publish') {
    const m = e as TernEvent<'message.publish'>;
    // the array JSON.stringify would give, written directly: this runs for every message
    return `["message.publish",${q(m.id)},${m.ts},${q(m.topic)},${m.qos},${m.retain},${q(m.from_clientid)},${q(m.from_username)}]`;
  }
  if (isMessageEvent(name)) {
    const m = e as MessageEvent;
    return JSON.stringify([name, m.id, m.ts, m.topic, m.qos, m.retain, m.from_clientid, m.from_username, m.clientid ?? null, m.username ?? null, m.reason ?? null]);
  }
  return JSON.stringify([name, e.id, e.ts, e]);
}

/** the payload column: message events only */
export const packPayload = (name: TernEventName, e: AnyEvent): Buffer | null => (isMessageEvent(name) ? (e as TernEvent<'message.publish'>).payload : null);

export const asBuffer = (p: Uint8Array | null): Buffer => (p ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : Buffer.alloc(0));

/** [name, event] of a stored row */
export function unpackEvent(row: StoredEvent): [TernEventName, AnyEvent] {
  const m = JSON.parse(row.meta) as unknown[];
  const name = m[0] as TernEventName;
  if (isMessageEvent(name)) {
    const [, id, ts, topic, qos, retain, from_clientid, from_username, clientid, username, reason] = m;
    return [name, { id, ts, topic, qos, retain, from_clientid, from_username, clientid, username, reason, payload: asBuffer(row.payload) } as unknown as AnyEvent];
  }
  return [name, { ...(m[3] as object), id: m[1], ts: m[2] } as AnyEvent];
}
