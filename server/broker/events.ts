// Tern's event bus: every EMQX hook point, with EMQX's names and fields. The broker emits;
// metrics, $SYS, webhooks and the dashboard's live view consume. Emitting with no listener costs
// one Map lookup (one property read through the event's channel, for the per-message emits), and
// emitters check has() before building a payload, so an event nobody listens to costs nothing on
// the hot path; a listener that acts only sometimes says when (`when`), and has() is false while
// none would act. The bus stamps each event with a unique id and, where the
// payload has none of its own, a timestamp (ms). A message event whose listeners all borrow
// (read it only during the call) may be one lent object per channel, a view of the message being
// routed whose fields, id and time are made when read: what a listened message costs is then its
// listeners' work.
import type { QoS } from './types.ts';

export interface ClientInfo {
  clientid: string;
  username: string | null;
}

export interface MessageInfo {
  topic: string;
  qos: QoS;
  retain: boolean;
  payload: Buffer;
  from_clientid: string | null;
  from_username: string | null;
  /** ms, when the broker received the message */
  ts: number;
}

export interface ConnInfo extends ClientInfo {
  ipaddress: string | null;
  keepalive: number;
  proto_name: string;
  proto_ver: number;
  clean_start: boolean;
  zone: string;
  listener: string;
}

export type DropReason = 'queue_full' | 'no_subscribers' | 'expired' | 'not_authorized';
export type TerminateReason = 'expired' | 'discarded' | 'kicked' | 'takeovered' | 'normal';
/**
 * Why a connection ended: normal (DISCONNECT sent), closed (socket closed without DISCONNECT),
 * kicked (management plane), takeovered (same client id connected again), keepalive_timeout,
 * protocol_error (malformed or refused packet), banned.
 */
export type DisconnectReason = 'normal' | 'closed' | 'kicked' | 'takeovered' | 'keepalive_timeout' | 'protocol_error' | 'banned';

export interface TernEvents {
  /** a CONNECT arrived (before any check) */
  'client.connect': ConnInfo;
  /** the CONNACK sent, also for refusals: conn_ack is its return code */
  'client.connack': ConnInfo & { conn_ack: number; reason: string | null };
  'client.connected': ConnInfo & {
    port: number | null;
    expiry_interval: number;
    connected_at: number;
  };
  'client.disconnected': ClientInfo & {
    reason: DisconnectReason;
    connected_at: number | null;
    disconnected_at: number;
    ipaddress: string | null;
    /**
     * Tern's addition: what client.connected said of this connection, present only when it was
     * announced (a refused or unfinished connection has none). $SYS's `disconnected` repeats it, so
     * nobody keeps a copy per connected client to build it from.
     */
    connection?: ConnectionFacts;
  };
  'client.authenticate': ClientInfo & {
    ipaddress: string | null;
    zone: string;
    result: 'success' | 'failure';
    /** how the client got in (or 4/5, the CONNACK code of a failure) */
    via: 'clientid' | 'password' | 'anonymous' | null;
    is_superuser: boolean;
  };
  'client.check_acl': ClientInfo & {
    ipaddress: string | null;
    action: 'publish' | 'subscribe';
    topic: string;
    result: 'allow' | 'deny';
    /** which source decided: "built_in_database", "file", "nomatch", "cache", "superuser" */
    source: string;
  };
  /** a SUBSCRIBE entry as the client sent it, before authorization */
  'client.subscribe': ClientInfo & { topic: string; opts: { qos: QoS } };
  'client.unsubscribe': ClientInfo & { topic: string };
  'session.created': ClientInfo & { clean_start: boolean; created_at: number };
  'session.resumed': ClientInfo;
  'session.discarded': ClientInfo;
  'session.takeovered': ClientInfo;
  'session.terminated': ClientInfo & { reason: TerminateReason };
  /** a subscription in force (granted) */
  'session.subscribed': ClientInfo & { topic: string; opts: { qos: QoS }; source?: 'client' | 'broker' };
  'session.unsubscribed': ClientInfo & { topic: string };
  /** a message accepted for routing (after authorization), from a client or the broker */
  'message.publish': MessageInfo;
  /** a message handed to a receiver's connection: clientid/username are the receiver's */
  'message.delivered': MessageInfo & ClientInfo;
  /** a QoS 1/2 delivery acknowledged by its receiver */
  'message.acked': MessageInfo & ClientInfo;
  'message.dropped': MessageInfo & { reason: DropReason; clientid: string | null };
}

/** a connection as client.connected announced it (repeated in client.disconnected) */
export interface ConnectionFacts {
  ipaddress: string | null;
  port: number | null;
  keepalive: number;
  proto_name: string;
  proto_ver: number;
  clean_start: boolean;
  /** seconds */
  expiry_interval: number;
  listener: string;
}

export type TernEventName = keyof TernEvents;

/** What the bus adds to every event. */
export interface EventMeta {
  /** unique in this node and across its restarts */
  id: string;
  /** ms */
  ts: number;
}

export type TernEvent<K extends TernEventName> = TernEvents[K] & EventMeta;
type Listener<K extends TernEventName> = (payload: TernEvent<K>) => void;
/** the payload an emitter passes: the bus adds the id (and ts where missing) */
type Emitted<K extends TernEventName> = TernEvents[K] & Partial<EventMeta>;

export const EVENT_NAMES: readonly TernEventName[] = [
  'client.connect',
  'client.connack',
  'client.connected',
  'client.disconnected',
  'client.authenticate',
  'client.check_acl',
  'client.subscribe',
  'client.unsubscribe',
  'session.created',
  'session.resumed',
  'session.subscribed',
  'session.unsubscribed',
  'session.takeovered',
  'session.discarded',
  'session.terminated',
  'message.publish',
  'message.delivered',
  'message.acked',
  'message.dropped',
];

export interface ListenOptions {
  /**
   * The listener reads the event only while it is called: it keeps no reference to the event
   * object itself (the values it read, strings and the payload Buffer, it may keep). While every
   * listener of a message event borrows, the emitter may pass the channel's one lent object
   * (lend()), set to each event's message, whose fields are read (its id made, its clock read)
   * only when the listener reads them: a listened message then allocates nothing for its events.
   */
  borrows?: boolean;
  /**
   * Whether the listener would do anything with an event now. While it answers false (and no
   * listener without `when` is on), has() answers false, so emitters skip building the payload:
   * a consumer that acts only sometimes ($SYS: while someone subscribes) costs nothing per event
   * otherwise. The listener is still called for what is emitted, and checks for itself.
   */
  when?: () => boolean;
}

/**
 * One event's emitting side, for a call site that emits it per message: has() and emit() read
 * the channel's own current listeners (a property of one object) instead of looking the name up
 * in the bus on every call, the way node:diagnostics_channel's channels do.
 */
export interface EventChannel<K extends TernEventName> {
  has(): boolean;
  emit(payload: Emitted<K>): void;
  /**
   * A message event's one reusable object, for the emitter to fill and pass to emit(), while every
   * listener borrows (ListenOptions.borrows); null when one does not, or while the object is out
   * (an emit of this event from inside one of its listeners): then a fresh object.
   */
  lend(): LentMessage | null;
}

export interface EventBus {
  on<K extends TernEventName>(name: K, fn: Listener<K>, opts?: ListenOptions): () => void;
  emit<K extends TernEventName>(name: K, payload: Emitted<K>): void;
  has(name: TernEventName): boolean;
  /** the event's channel: the same object for every call with this name */
  channel<K extends TernEventName>(name: K): EventChannel<K>;
}

interface Registration {
  fn: Listener<never>;
  when: (() => boolean) | undefined;
  borrows: boolean;
}

/** an event's listeners, and what has() reads; replaced on change (never mutated) */
interface Entry {
  registrations: Registration[];
  list: Listener<never>[];
  /** listeners without `when`: has() is true while there is one */
  always: number;
  /** the `when` of the others */
  guards: (() => boolean)[];
  /** every listener borrows: the event may be the lent object */
  borrowed: boolean;
}

function entryOf(registrations: Registration[]): Entry | null {
  if (registrations.length === 0) return null;
  const guards: (() => boolean)[] = [];
  for (const r of registrations) if (r.when) guards.push(r.when);
  return {
    registrations,
    list: registrations.map((r) => r.fn),
    always: registrations.length - guards.length,
    guards,
    borrowed: registrations.every((r) => r.borrows),
  };
}

/** '00' .. 'zz': the last two base-36 digits of an event id's counter */
const LOW_DIGITS = Array.from({ length: 36 * 36 }, (_, i) => i.toString(36).padStart(2, '0'));

/** stamps each event with the next id: the process's start in base 36, then a counter */
class IdSource {
  // unique across restarts without a clock read per event. The counter is written as its base-36
  // digits above the last two, then the last two from a table (zero-padded, so each id still
  // names one counter value): a number's base-36 text is a runtime call in V8, and it was most
  // of what a listened message event cost (tern against tern-bus-counter on qos1-pairs: 1.10×
  // with it, 1.00× with no id at all).
  readonly #prefix = Date.now().toString(36) + '-';
  #seq = 0;
  /** the counter's digits above the last two, for counter values in #block */
  #block = 0;
  #high = this.#prefix + '0';

  next(): string {
    return this.format(this.#seq++);
  }

  /** the next counter value, for an id made later, when it is read (format) */
  take(): number {
    return this.#seq++;
  }

  format(seq: number): string {
    const block = Math.floor(seq / LOW_DIGITS.length);
    if (block !== this.#block) {
      this.#block = block;
      this.#high = this.#prefix + block.toString(36);
    }
    return this.#high + LOW_DIGITS[seq - block * LOW_DIGITS.length]!;
  }
}

/**
 * What a lent message event is read from: the PUBLISH being routed (the bus knows it only by these
 * fields).
 */
export interface MessageSource {
  topic: string;
  qos: QoS;
  retain?: boolean;
  payload: Buffer | string;
  clientId?: string;
}

/** the time of a message's routing, by its payload (the broker's RoutingClock) */
export interface MessageClock {
  of(payload: unknown): number;
}

const NO_SOURCE: MessageSource = { topic: '', qos: 0, payload: Buffer.alloc(0) };
const NO_CLOCK: MessageClock = { of: () => Date.now() };

/**
 * A message event a channel lends (EventChannel.lend): a view of the message being routed, set
 * by the emitter for each event (fill), whose fields are read from it when a listener reads them.
 * A listener that reads nothing costs the emitter five stores; one that reads ts makes the clock
 * read then (during its call, the moment an eager event would have read it), one that reads id
 * makes the id then. A message.publish has the receiver's clientid '' and username null.
 */
export class LentMessage {
  /** the event's counter value (IdSource.take), set by emit() */
  seq = -1;
  #source: MessageSource = NO_SOURCE;
  #fromUsername: string | null = null;
  #clientid = '';
  #username: string | null = null;
  #clock: MessageClock = NO_CLOCK;
  #tsSeq = -1;
  #ts = 0;
  #idSeq = -1;
  #id = '';
  readonly #ids: IdSource;

  constructor(ids: IdSource) {
    this.#ids = ids;
  }

  /** the next event's message; clientid/username are the receiver's (message.delivered) */
  fill(source: MessageSource, fromUsername: string | null, clientid: string, username: string | null, clock: MessageClock): this {
    this.#source = source;
    this.#fromUsername = fromUsername;
    this.#clientid = clientid;
    this.#username = username;
    this.#clock = clock;
    return this;
  }

  get topic(): string {
    return this.#source.topic;
  }
  get qos(): QoS {
    return this.#source.qos;
  }
  get retain(): boolean {
    return this.#source.retain ?? false;
  }
  /** a broker-side publish may carry a string: a Buffer of it per read */
  get payload(): Buffer {
    const p = this.#source.payload;
    return typeof p === 'string' ? Buffer.from(p) : p;
  }
  get from_clientid(): string | null {
    return this.#source.clientId ?? null;
  }
  get from_username(): string | null {
    return this.#fromUsername;
  }
  get clientid(): string {
    return this.#clientid;
  }
  get username(): string | null {
    return this.#username;
  }
  get ts(): number {
    if (this.#tsSeq !== this.seq) {
      this.#tsSeq = this.seq;
      this.#ts = this.#clock.of(this.#source.payload);
    }
    return this.#ts;
  }
  get id(): string {
    if (this.#idSeq !== this.seq) {
      this.#idSeq = this.seq;
      this.#id = this.#ids.format(this.seq);
    }
    return this.#id;
  }
}

class Channel<K extends TernEventName> implements EventChannel<K> {
  /** replaced on every change (never mutated), so an emit iterates the list it read */
  entry: Entry | null = null;
  readonly #name: K;
  readonly #ids: IdSource;
  readonly #onError: ((name: string, err: unknown) => void) | undefined;

  constructor(name: K, ids: IdSource, onError: ((name: string, err: unknown) => void) | undefined) {
    this.#name = name;
    this.#ids = ids;
    this.#onError = onError;
  }

  #lent: LentMessage | null = null;
  /** the lent object is with the listeners now */
  #lending = false;

  lend(): LentMessage | null {
    const entry = this.entry;
    if (!entry || !entry.borrowed || this.#lending) return null;
    return (this.#lent ??= new LentMessage(this.#ids));
  }

  has(): boolean {
    const entry = this.entry;
    if (!entry) return false;
    if (entry.always > 0) return true;
    const guards = entry.guards;
    for (let i = 0; i < guards.length; i++) if (guards[i]!()) return true;
    return false;
  }

  emit(payload: Emitted<K>): void {
    const entry = this.entry;
    if (!entry) return;
    const list = entry.list;
    const event = payload as TernEvent<K>;
    const lent = (payload as unknown) === this.#lent;
    if (lent) {
      this.#lending = true;
      (payload as LentMessage).seq = this.#ids.take();
    } else {
      event.id = this.#ids.next();
      if (event.ts === undefined) event.ts = Date.now();
    }
    for (let i = 0; i < list.length; i++) {
      // A failing consumer must not break the broker or the other consumers.
      try {
        (list[i] as Listener<K>)(event);
      } catch (err) {
        this.#onError?.(this.#name, err);
      }
    }
    if (lent) this.#lending = false;
  }
}

export function createEventBus(onListenerError?: (name: string, err: unknown) => void): EventBus {
  const ids = new IdSource();
  const channels = new Map<TernEventName, Channel<TernEventName>>();
  const channel = <K extends TernEventName>(name: K): Channel<K> => {
    let c = channels.get(name);
    if (!c) channels.set(name, (c = new Channel(name, ids, onListenerError)));
    return c as unknown as Channel<K>;
  };
  return {
    on(name, fn, opts) {
      const c = channel(name);
      const reg: Registration = { fn: fn as Listener<never>, when: opts?.when, borrows: opts?.borrows === true };
      c.entry = entryOf([...(c.entry?.registrations ?? []), reg]);
      return () => {
        c.entry = entryOf((c.entry?.registrations ?? []).filter((r) => r !== reg));
      };
    },
    emit(name, payload) {
      channels.get(name)?.emit(payload as never);
    },
    has(name) {
      return channels.get(name)?.has() ?? false;
    },
    channel,
  };
}
