// In-memory session state: the source of truth for every read. sqlite.ts mirrors it to disk.
//
// Per client, outgoing deliveries live in two intrusive doubly linked lists:
//   inflight — sent, awaiting PUBACK/PUBREC/PUBCOMP, in send order (they are resent in that order
//              on reconnect, [MQTT-4.6.0-1]);
//   queue    — not yet sent, in enqueue order; the cap drops from its head in O(1).
// Two indexes find an entry without scanning: by (brokerId, brokerCounter) for aedes'
// outgoingUpdate of a live delivery, and by packet identifier for PUBACK/PUBREC/PUBCOMP.
import type { PersistSubscription } from './types.ts';

/** One published message, shared by every client it was queued for (fan-out stores it once). */
export class Msg {
  /** live entries pointing here; the row is deleted when it reaches 0 */
  refs = 0;
  persisted = false;
  dirty = false;
  constructor(
    readonly id: number,
    readonly topic: string,
    readonly payload: Buffer | string,
    readonly qos: number,
    readonly dup: boolean,
    readonly brokerId: string | undefined,
    readonly brokerCounter: number,
    readonly fromClientId: string | null,
    readonly addedAt: number,
  ) {}
}

export const CMD_PUBLISH = 'publish';
export const CMD_PUBREL = 'pubrel';

export class Entry {
  /** publish, or pubrel once the QoS 2 PUBREC arrived */
  cmd: string = CMD_PUBLISH;
  messageId: number | undefined = undefined;
  inflight = false;
  sentSeq = 0;
  prev: Entry | null = null;
  next: Entry | null = null;
  /** next in-flight entry of the same client sharing this packet identifier (rare) */
  midNext: Entry | null = null;
  /** whether the (brokerId, brokerCounter) index points at this entry */
  counterIndexed = false;
  removed = false;
  persisted = false;
  dirty = false;
  constructor(
    readonly id: number,
    readonly clientId: string,
    public msg: Msg,
    /** effective QoS: min(publish QoS, subscription QoS) */
    public qos: number,
    public retain: boolean,
  ) {}
}

export class EntryList {
  head: Entry | null = null;
  tail: Entry | null = null;
  size = 0;

  push(e: Entry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.size++;
  }

  remove(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    this.size--;
  }
}

export interface SubRecord {
  qos: number;
  rh: number | undefined;
  rap: boolean | undefined;
  nl: boolean | undefined;
  subscriptionIdentifier?: number;
}

export class ClientState {
  readonly subs = new Map<string, SubRecord>();
  readonly queue = new EntryList();
  readonly inflight = new EntryList();
  /** brokerId → brokerCounter → entry; the outer map almost always has one key */
  byCounter: Map<string, Map<number, Entry>> | null = null;
  /** packet identifier → oldest in-flight entry with it (others chained via midNext) */
  byMid: Map<number, Entry> | null = null;
  dropped = 0;
  counterDirty = false;
  constructor(readonly id: string) {}

  get isEmpty(): boolean {
    return this.subs.size === 0 && this.queue.size === 0 && this.inflight.size === 0 && this.dropped === 0;
  }

  findByCounter(brokerId: string | undefined, counter: number | undefined): Entry | undefined {
    if (this.byCounter === null || counter === undefined) return undefined;
    return this.byCounter.get(brokerId ?? '')?.get(counter);
  }

  indexCounter(e: Entry): void {
    const key = e.msg.brokerId ?? '';
    this.byCounter ??= new Map();
    let m = this.byCounter.get(key);
    if (!m) {
      m = new Map();
      this.byCounter.set(key, m);
    }
    // overlapping subscriptions are merged before we get here, so a collision means an older
    // entry of the same publish is gone from the index already (pubrel) — keep the newest
    m.set(e.msg.brokerCounter, e);
    e.counterIndexed = true;
  }

  unindexCounter(e: Entry): void {
    if (!e.counterIndexed) return;
    e.counterIndexed = false;
    const key = e.msg.brokerId ?? '';
    const m = this.byCounter?.get(key);
    if (m && m.get(e.msg.brokerCounter) === e) {
      m.delete(e.msg.brokerCounter);
      if (m.size === 0) this.byCounter!.delete(key);
    }
  }

  indexMid(e: Entry): void {
    const mid = e.messageId;
    if (mid === undefined) return;
    this.byMid ??= new Map();
    const head = this.byMid.get(mid);
    e.midNext = null;
    if (!head) {
      this.byMid.set(mid, e);
      return;
    }
    // a reused identifier (aedes restarts its counter per connection): the oldest answers first,
    // as in aedes-persistence's reference, which clears the first match in queue order
    let t = head;
    while (t.midNext) t = t.midNext;
    t.midNext = e;
  }

  unindexMid(e: Entry): void {
    const mid = e.messageId;
    if (mid === undefined || this.byMid === null) return;
    const head = this.byMid.get(mid);
    if (head === e) {
      if (e.midNext) this.byMid.set(mid, e.midNext);
      else this.byMid.delete(mid);
    } else if (head) {
      let t = head;
      while (t.midNext && t.midNext !== e) t = t.midNext;
      if (t.midNext === e) t.midNext = e.midNext;
    }
    e.midNext = null;
  }
}

export function subRecord(sub: PersistSubscription): SubRecord {
  const r: SubRecord = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
  // only present when given, so MQTT 3.1.1 subscriptions keep their exact shape
  if (sub.subscriptionIdentifier !== undefined) r.subscriptionIdentifier = sub.subscriptionIdentifier;
  return r;
}
