// An event as the outbox stores it: its raw fields, not its webhook body. Packing runs on the
// broker's thread for every event a hook wants, so it is the least work that keeps the event
// whole: the topic and payload as they are (no payload decoding, no JSON escaping of it), the
// other fields of a message as a short JSON array, and for the rare other events the event's own
// JSON. The body (format.ts) is built from the unpacked event at delivery time, on the delivery
// thread. Field order in META below is part of the stored format: append, never reorder.
import type { TernEvent, TernEventName } from '../broker/events.ts';

type AnyEvent = TernEvent<TernEventName>;
type MessageEvent = TernEvent<'message.delivered'> & { reason?: string };

export interface PackedEvent {
  topic: string | null;
  payload: Buffer | null;
  meta: string;
}

/** a row's stored fields, as read back */
export interface StoredEvent {
  event_id: string;
  event: string;
  ts: number;
  topic: string | null;
  payload: Uint8Array | null;
  meta: string | null;
}

const isMessage = (name: string): boolean => name.startsWith('message.');

export function packEvent(name: TernEventName, e: AnyEvent): PackedEvent {
  if (isMessage(name)) {
    const m = e as MessageEvent;
    // [qos, retain, from_clientid, from_username, clientid, username, reason]
    const meta =
      name === 'message.publish'
        ? JSON.stringify([m.qos, m.retain, m.from_clientid, m.from_username])
        : JSON.stringify([m.qos, m.retain, m.from_clientid, m.from_username, m.clientid ?? null, m.username ?? null, m.reason ?? null]);
    return { topic: m.topic, payload: m.payload, meta };
  }
  return { topic: null, payload: null, meta: JSON.stringify(e) };
}

export function unpackEvent(row: StoredEvent): AnyEvent {
  if (isMessage(row.event)) {
    const [qos, retain, from_clientid, from_username, clientid, username, reason] = JSON.parse(row.meta ?? '[]') as unknown[];
    const p = row.payload;
    const payload = p ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : Buffer.alloc(0);
    return { id: row.event_id, ts: row.ts, topic: row.topic ?? '', payload, qos, retain, from_clientid, from_username, clientid, username, reason } as unknown as AnyEvent;
  }
  return { ...(JSON.parse(row.meta ?? '{}') as object), id: row.event_id, ts: row.ts } as AnyEvent;
}
