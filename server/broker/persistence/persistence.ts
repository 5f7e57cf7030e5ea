// Tern's aedes persistence: aedes-persistence 11's async API over in-memory indexes, mirrored to
// SQLite in sqlite mode (sqlite.ts), plus EMQX's mqueue rules (cap, QoS 0 storage) and the reads
// the management plane needs. Every read is served from memory.
//
// Deviations from aedes-persistence's in-memory reference, and why:
// - subscriptionsByTopic also returns QoS 0 subscriptions, but only of clients for which a QoS 0
//   entry would really be queued (policy: offline and storeQos0). The abstract suite pins the
//   reference behaviour under its default policy, where that set is empty.
// - outgoingEnqueue stores min(publish QoS, subscription QoS), merges overlapping subscriptions of
//   one client into one entry (live delivery dedupes the same way), and clears the RETAIN flag
//   unless the subscription asked for Retain-As-Published [MQTT-3.3.1-9].
// - outgoingUpdate for an entry we do not hold (dropped by the cap while aedes was delivering it)
//   stores it as in-flight instead of failing: aedes would otherwise error the client.
// - outgoingClearMessageId without a messageId (aedes' "not forwarded after all" path) clears that
//   very packet by (brokerId, brokerCounter) if it is still queued, never an unrelated entry.
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { RetainedTree } from './retained-tree.ts';
import { SqliteMirror, toBuffer } from './sqlite.ts';
import { ClientState, CMD_PUBLISH, CMD_PUBREL, Entry, Msg, subRecord, type SubRecord } from './state.ts';
import type {
  ClientQueueStats,
  DroppedMessage,
  PersistBroker,
  PersistClient,
  PersistenceLogger,
  PersistenceOptions,
  PersistPacket,
  PersistPubrel,
  PersistSubscription,
  QueuedMessageView,
  QueuePolicy,
  SubscriptionView,
  TernPersistence,
  TopicSubscription,
  WillPacket,
} from './types.ts';

// qlobber's aedes trie (what aedes-persistence and mqemitter use): CommonJS without typings.
interface QlobberSubValue {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}
interface QlobberSub {
  subscriptionsCount: number;
  add(topic: string, value: QlobberSubValue): void;
  remove(topic: string, value: { clientId: string; topic: string }): void;
  match(topic: string): TopicSubscription[];
}
const require = createRequire(import.meta.url);
const QlobberSubCtor = require('qlobber/aedes/qlobber-sub') as new (opts: object) => QlobberSub;
const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/' };

const RESOLVED: Promise<void> = Promise.resolve();
const DOLLAR = 36;
const PLUS = 43;
const SHARP = 35;

/** No cap, QoS 0 never stored: aedes-persistence's reference behaviour. */
export const DEFAULT_POLICY: QueuePolicy = {
  maxQueueLen: () => 0,
  storeQos0: () => false,
  onDropped: () => {},
  isOnline: () => false,
};

interface RetainedEntry {
  packet: PersistPacket;
  addedAt: number;
}

/** What outgoingStream/outgoingClearMessageId hand to aedes: aedes-packet's shape. */
interface OutPacket {
  clientId?: string;
  cmd: string;
  brokerId: string | undefined;
  brokerCounter: number;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  dup: boolean;
  messageId: number | undefined;
}

function toOutPacket(e: Entry): OutPacket | PersistPubrel {
  if (e.cmd === CMD_PUBREL) return { cmd: CMD_PUBREL, messageId: e.messageId! };
  const m = e.msg;
  const p: OutPacket = {
    cmd: CMD_PUBLISH,
    brokerId: m.brokerId,
    brokerCounter: m.brokerCounter,
    topic: m.topic,
    payload: m.payload,
    qos: e.qos,
    retain: e.retain,
    dup: m.dup,
    messageId: e.messageId,
  };
  return m.fromClientId === null ? p : { clientId: m.fromClientId, ...p };
}

/** aedes-packet's copy of an inbound packet, as the reference stores it. */
function copyPacket(packet: PersistPacket): PersistPacket {
  const p: PersistPacket = {
    cmd: packet.cmd ?? CMD_PUBLISH,
    brokerId: packet.brokerId,
    brokerCounter: packet.brokerCounter ?? 0,
    topic: packet.topic,
    payload: packet.payload ?? Buffer.alloc(0),
    qos: packet.qos ?? 0,
    retain: packet.retain ?? false,
    dup: packet.dup ?? false,
    messageId: packet.messageId,
  };
  return Object.prototype.hasOwnProperty.call(packet, 'clientId') ? { clientId: packet.clientId, ...p } : p;
}

function startsWithWildcard(topic: string | undefined): boolean {
  const c = topic === undefined ? 0 : topic.charCodeAt(0);
  return c === PLUS || c === SHARP;
}

export class Persistence implements TernPersistence {
  readonly mode: 'memory' | 'sqlite';
  readonly #policy: QueuePolicy;
  readonly #logger: PersistenceLogger | undefined;
  readonly #db: PersistenceOptions['db'];
  #w: SqliteMirror | null = null;
  #broker: PersistBroker | undefined;
  #destroyed = false;

  readonly #clients = new Map<string, ClientState>();
  /** QoS > 0 subscriptions: exactly the reference's trie, so countOffline matches it */
  readonly #trie = new QlobberSubCtor(QLOBBER_OPTIONS);
  /** QoS 0 subscriptions, matched only when the policy would queue QoS 0 for their client */
  readonly #trie0 = new QlobberSubCtor(QLOBBER_OPTIONS);
  #clientsWithSubs = 0;
  readonly #retained = new RetainedTree<RetainedEntry>();
  readonly #wills = new Map<string, WillPacket>();
  readonly #incoming = new Map<string, Map<number, PersistPacket>>();
  /** entry ids and send order share one monotonic sequence (row ids in sqlite mode) */
  #seq = 1;
  #msgSeq = 1;

  constructor(opts: PersistenceOptions) {
    this.mode = opts.mode;
    this.#policy = opts.policy ?? DEFAULT_POLICY;
    this.#logger = opts.logger;
    this.#db = opts.db;
    if (opts.mode === 'sqlite' && !opts.db) throw new Error('persistence: sqlite mode needs a better-sqlite3 database');
  }

  get broker(): PersistBroker | undefined {
    return this.#broker;
  }

  // aedes checks setup.constructor.name === 'AsyncFunction'
  async setup(broker: PersistBroker): Promise<void> {
    this.#broker = broker;
    if (this.mode === 'sqlite' && !this.#w) {
      const w = new SqliteMirror(this.#db!, this.#logger);
      if (w.journalMode() !== 'wal') {
        this.#logger?.warn({ journal_mode: w.journalMode() }, 'persistence: SQLite is not in WAL mode; every batch will be slower');
      }
      this.#load(w);
      this.#w = w;
    }
  }

  // ---- retained ---------------------------------------------------------------------------------

  storeRetained(pkt: PersistPacket): Promise<void> {
    try {
      this.#live();
      const packet = Object.assign({}, pkt);
      if (packet.payload.length === 0) {
        if (this.#retained.delete(packet.topic)) this.#w?.retainedDelete(packet.topic);
      } else {
        const addedAt = Date.now();
        this.#retained.set(packet.topic, { packet, addedAt });
        this.#w?.retainedUpsert(packet.topic, packet.payload, packet.qos, packet.brokerId, packet.brokerCounter ?? 0, packet.clientId ?? null, addedAt);
      }
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  retainedCount(): number {
    return this.#retained.size;
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const found = new Set<RetainedEntry>();
    for (const p of patterns) this.#retained.match(p, found);
    const out: PersistPacket[] = [];
    for (const r of found) out.push(r.packet);
    return Readable.from(out);
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  addSubscriptions(client: PersistClient, subs: PersistSubscription[]): Promise<void> {
    try {
      this.#live();
      const id = client.id;
      const state = this.#state(id);
      if (state.subs.size === 0 && subs.length > 0) this.#clientsWithSubs++;
      for (const sub of subs) {
        const prev = state.subs.get(sub.topic);
        // aedes calls this once per topic of a SUBSCRIBE, each time with all its topics
        if (prev !== undefined && sameSub(prev, sub)) continue;
        const value = { clientId: id, topic: sub.topic, qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
        if (sub.qos > 0) {
          if (prev !== undefined && prev.qos === 0) this.#trie0.remove(sub.topic, value);
          this.#trie.add(sub.topic, value);
        } else {
          if (prev !== undefined && prev.qos > 0) this.#trie.remove(sub.topic, value);
          this.#trie0.add(sub.topic, value);
        }
        state.subs.set(sub.topic, subRecord(sub));
        this.#w?.subUpsert(id, sub.topic, sub.qos, sub.rh, sub.rap, sub.nl, sub.subscriptionIdentifier);
      }
      this.#release(state);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  removeSubscriptions(client: PersistClient, topics: string[]): Promise<void> {
    try {
      this.#live();
      const state = this.#clients.get(client.id);
      if (!state || state.subs.size === 0) return RESOLVED;
      for (const topic of topics) {
        const prev = state.subs.get(topic);
        if (prev === undefined) continue;
        (prev.qos > 0 ? this.#trie : this.#trie0).remove(topic, { clientId: client.id, topic });
        state.subs.delete(topic);
        this.#w?.subDelete(client.id, topic);
      }
      if (state.subs.size === 0) this.#clientsWithSubs--;
      this.#release(state);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  subscriptionsByClient(client: PersistClient): Promise<PersistSubscription[]> {
    const subs: PersistSubscription[] = [];
    const state = this.#clients.get(client.id);
    if (state) for (const [topic, r] of state.subs) subs.push({ topic, ...r });
    return Promise.resolve(subs);
  }

  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return Promise.resolve({ subsCount: this.#trie.subscriptionsCount, clientsCount: this.#clientsWithSubs });
  }

  /**
   * Whether a QoS > 0 subscription of a persistent session matches: the broker routes a QoS 1
   * PUBLISH into the store before its PUBACK only then (sync; one trie match, none when empty).
   */
  hasDurableSubscriber(topic: string): boolean {
    return this.#trie.subscriptionsCount > 0 && this.#trie.match(topic).length > 0;
  }

  subscriptionsByTopic(topic: string): Promise<TopicSubscription[]> {
    try {
      let subs = this.#trie.match(topic);
      if (this.#trie0.subscriptionsCount > 0) {
        const policy = this.#policy;
        for (const s of this.#trie0.match(topic)) {
          if (policy.storeQos0(s.clientId) && !policy.isOnline(s.clientId)) subs.push(s);
        }
      }
      // [MQTT-4.7.2-1] a filter starting with a wildcard does not match '$' topics
      if (topic.charCodeAt(0) === DOLLAR) subs = subs.filter((s) => !startsWithWildcard(s.topic));
      return Promise.resolve(subs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** aedes calls this when a clean=true CONNECT discards a session. */
  cleanSubscriptions(client: PersistClient): Promise<void> {
    try {
      this.#live();
      const state = this.#clients.get(client.id);
      if (!state) return RESOLVED;
      this.#dropSubs(state);
      // the session is gone, and with it its drop count; queued entries are drained by aedes
      // (emptyQueue → outgoingClearMessageId) right after this for a clean session
      if (state.dropped !== 0) {
        state.dropped = 0;
        this.#w?.counter(state);
      }
      this.#release(state);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [id, state] of this.#clients) if (state.subs.has(topic)) ids.push(id);
    return Readable.from(ids);
  }

  // ---- outgoing ---------------------------------------------------------------------------------

  outgoingEnqueue(sub: TopicSubscription, packet: PersistPacket): Promise<void> {
    try {
      this.#live();
      this.#enqueue(sub, packet, null);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  outgoingEnqueueCombi(subs: TopicSubscription[], packet: PersistPacket): Promise<void> {
    try {
      this.#live();
      // one Msg (one payload row) for the whole fan-out, one promise for the whole call
      let msg: Msg | null = null;
      for (let i = 0; i < subs.length; i++) msg = this.#enqueue(subs[i]!, packet, msg);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // outgoingUpdate and outgoingClearMessageId resolve at once, before their commit: aedes waits
  // on them to send a message to a subscriber or to take its PUBACK, and neither needs the disk
  // first. Losing them in a crash means a redelivery (QoS 1/2 allow it); the publisher's PUBACK
  // is what must wait for the disk, and it does: aedes awaits outgoingEnqueueCombi (which waits
  // for the commit) for every persistent subscriber, online or not, before it acknowledges.
  // Not waiting here lets a subscriber acknowledge within the batch: the message never hits disk.
  outgoingUpdate(client: PersistClient, packet: PersistPacket | PersistPubrel): Promise<void> {
    try {
      this.#live();
      this.#update(client.id, packet);
      return RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  outgoingClearMessageId(
    client: PersistClient,
    packet: { messageId?: number; brokerId?: string; brokerCounter?: number },
  ): Promise<OutPacket | PersistPubrel | undefined> {
    try {
      this.#live();
      const state = this.#clients.get(client.id);
      if (!state || packet === null || typeof packet !== 'object') return Promise.resolve(undefined);
      let e: Entry | undefined;
      if (packet.messageId !== undefined && packet.messageId !== null) {
        e = state.byMid?.get(packet.messageId);
      } else {
        // aedes' deliverQoS decided not to forward this packet (duplicate via an overlapping
        // subscription, no-local, authorizeForward): drop its entry if it was never sent
        const q = state.findByCounter(packet.brokerId, packet.brokerCounter);
        if (q && !q.inflight) e = q;
      }
      if (!e) return Promise.resolve(undefined);
      const out = toOutPacket(e);
      this.#removeEntry(state, e);
      this.#release(state);
      return Promise.resolve(out);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  outgoingStream(client: PersistClient): Readable {
    // a snapshot of the order (entries resent in-flight first, in send order, then the queue);
    // packets are built as the stream is read, and entries removed meanwhile are skipped
    const snapshot: Entry[] = [];
    const state = this.#clients.get(client.id);
    // every CONNECT asks, and most sessions have nothing waiting: an array stream is cheaper
    if (!state || (!state.inflight.head && !state.queue.head)) return Readable.from(snapshot);
    for (let e = state.inflight.head; e; e = e.next) snapshot.push(e);
    for (let e = state.queue.head; e; e = e.next) snapshot.push(e);
    return Readable.from(
      (function* () {
        for (const e of snapshot) if (!e.removed) yield toOutPacket(e);
      })(),
    );
  }

  // ---- incoming QoS 2 ---------------------------------------------------------------------------

  incomingStorePacket(client: PersistClient, packet: PersistPacket): Promise<void> {
    try {
      this.#live();
      let store = this.#incoming.get(client.id);
      if (!store) {
        store = new Map();
        this.#incoming.set(client.id, store);
      }
      const p = copyPacket(packet);
      store.set(packet.messageId!, p);
      this.#w?.incomingUpsert(client.id, packet.messageId!, p.topic, p.payload, p.qos, p.retain, p.dup, p.brokerId, p.brokerCounter ?? 0);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  incomingGetPacket(client: PersistClient, packet: { messageId?: number }): Promise<PersistPacket> {
    const p = this.#incoming.get(client.id)?.get(packet.messageId!);
    return p ? Promise.resolve(p) : Promise.reject(new Error('no such packet'));
  }

  incomingDelPacket(client: PersistClient, packet: { messageId?: number }): Promise<void> {
    try {
      this.#live();
      const store = this.#incoming.get(client.id);
      if (!store || !store.delete(packet.messageId!)) return Promise.reject(new Error('no such packet'));
      if (store.size === 0) this.#incoming.delete(client.id);
      this.#w?.incomingDelete(client.id, packet.messageId!);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  cleanIncoming(client: PersistClient): Promise<void> {
    try {
      this.#live();
      if (!this.#incoming.delete(client.id)) return RESOLVED;
      this.#w?.incomingDeleteClient(client.id);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- wills ------------------------------------------------------------------------------------

  putWill(client: PersistClient, packet: PersistPacket): Promise<void> {
    try {
      this.#live();
      // the reference stamps the caller's object; aedes and the abstract suite rely on it
      const will = packet as WillPacket;
      will.brokerId = this.#broker!.id;
      will.clientId = client.id;
      this.#wills.set(client.id, will);
      this.#w?.willUpsert(client.id, will.brokerId, will.topic, will.payload, will.qos, will.retain, Date.now());
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getWill(client: PersistClient): Promise<WillPacket | undefined> {
    return Promise.resolve(this.#wills.get(client.id));
  }

  delWill(client: PersistClient): Promise<WillPacket | undefined> {
    try {
      this.#live();
      const will = this.#wills.get(client.id);
      if (!will) return Promise.resolve(undefined);
      this.#wills.delete(client.id);
      this.#w?.willDelete(client.id);
      const w = this.#w;
      return w ? w.committed.then(() => will) : Promise.resolve(will);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const out: WillPacket[] = [];
    for (const will of this.#wills.values()) if (!brokers[will.brokerId]) out.push(will);
    return Readable.from(out);
  }

  // ---- lifecycle --------------------------------------------------------------------------------

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await this.#w?.stop();
  }

  run(write: () => void): Promise<void> {
    try {
      this.#live();
      if (!this.#w) throw new Error('persistence: run() needs sqlite mode, after setup');
      return this.#w.run(write);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  flush(): Promise<void> {
    return this.#w ? this.#w.flush() : RESOLVED;
  }

  // ---- Tern extensions --------------------------------------------------------------------------

  stats(clientId: string): ClientQueueStats {
    const s = this.#clients.get(clientId);
    if (!s) return { mqueue_len: 0, inflight_cnt: 0, mqueue_dropped: 0, subscriptions_cnt: 0 };
    return { mqueue_len: s.queue.size, inflight_cnt: s.inflight.size, mqueue_dropped: s.dropped, subscriptions_cnt: s.subs.size };
  }

  queued(clientId: string, offset: number, limit: number): { data: QueuedMessageView[]; count: number } {
    const s = this.#clients.get(clientId);
    if (!s) return { data: [], count: 0 };
    const count = s.inflight.size + s.queue.size;
    const data: QueuedMessageView[] = [];
    offset = Math.max(0, Math.floor(offset));
    limit = Math.max(0, Math.floor(limit));
    // skip whole lists without walking them; within a list walk from the nearer end
    let e: Entry | null;
    if (offset < s.inflight.size) {
      e = s.inflight.head;
      for (let i = 0; i < offset; i++) e = e!.next;
    } else {
      e = nth(s.queue.head, s.queue.tail, s.queue.size, offset - s.inflight.size);
    }
    while (data.length < limit && e) {
      data.push(view(e));
      e = e.next ?? (e.inflight ? s.queue.head : null);
    }
    return { data, count };
  }

  subscriptions(clientId: string): Array<{ topic: string; qos: number }> {
    const s = this.#clients.get(clientId);
    const out: Array<{ topic: string; qos: number }> = [];
    if (s) for (const [topic, r] of s.subs) out.push({ topic, qos: r.qos });
    return out;
  }

  *allSubscriptions(): Iterable<SubscriptionView> {
    for (const [clientId, s] of this.#clients) for (const [topic, r] of s.subs) yield { clientId, topic, qos: r.qos };
  }

  persistentClientIds(): Iterable<string> {
    return this.#clients.keys();
  }

  outgoingPublishes(clientId: string): PersistPacket[] {
    const out: PersistPacket[] = [];
    const state = this.#clients.get(clientId);
    if (!state) return out;
    for (let e = state.inflight.head; e; e = e.next) if (e.cmd === CMD_PUBLISH) out.push(toOutPacket(e) as OutPacket);
    for (let e = state.queue.head; e; e = e.next) out.push(toOutPacket(e) as OutPacket);
    return out;
  }

  deleteClient(clientId: string): Promise<void> {
    try {
      this.#live();
      const w = this.#w;
      const state = this.#clients.get(clientId);
      if (state) {
        this.#dropSubs(state);
        for (let e = state.inflight.head; e; e = state.inflight.head) this.#removeEntry(state, e);
        for (let e = state.queue.head; e; e = state.queue.head) this.#removeEntry(state, e);
        if (state.dropped !== 0) {
          state.dropped = 0;
          w?.counter(state);
        }
        this.#clients.delete(clientId);
      }
      if (this.#incoming.delete(clientId)) w?.incomingDeleteClient(clientId);
      if (this.#wills.delete(clientId)) w?.willDelete(clientId);
      return this.#done();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- internals --------------------------------------------------------------------------------

  #live(): void {
    if (this.#destroyed) throw new Error('persistence destroyed');
  }

  #done(): Promise<void> {
    return this.#w ? this.#w.committed : RESOLVED;
  }

  #state(clientId: string): ClientState {
    let s = this.#clients.get(clientId);
    if (!s) {
      s = new ClientState(clientId);
      this.#clients.set(clientId, s);
    }
    return s;
  }

  #release(state: ClientState): void {
    if (state.isEmpty && this.#clients.get(state.id) === state) this.#clients.delete(state.id);
  }

  #dropSubs(state: ClientState): void {
    if (state.subs.size === 0) return;
    for (const [topic, r] of state.subs) (r.qos > 0 ? this.#trie : this.#trie0).remove(topic, { clientId: state.id, topic });
    state.subs.clear();
    this.#clientsWithSubs--;
    this.#w?.subDeleteClient(state.id);
  }

  /** Returns the message the entry shares, for the next subscriber of the same publish. */
  #enqueue(sub: TopicSubscription, packet: PersistPacket, msg: Msg | null): Msg | null {
    const clientId = sub.clientId;
    const policy = this.#policy;
    let qos = packet.qos;
    if (sub.qos !== undefined && sub.qos < qos) qos = sub.qos;
    // online clients get QoS 0 straight from aedes; queueing it too would deliver it twice
    if (qos === 0 && (!policy.storeQos0(clientId) || policy.isOnline(clientId))) return msg;

    let state = this.#clients.get(clientId);
    if (state && packet.brokerId !== undefined) {
      const dup = state.findByCounter(packet.brokerId, packet.brokerCounter);
      if (dup && dup.cmd === CMD_PUBLISH) {
        // overlapping subscriptions: one delivery at the highest QoS [MQTT-3.3.5-1]
        if (!dup.inflight && qos > dup.qos) {
          dup.qos = qos;
          this.#w?.entry(dup);
        }
        return msg;
      }
    }
    state ??= this.#state(clientId);

    // EMQX mqueue: when full, drop the oldest queued message (never an in-flight one). Only for
    // offline clients: an online client's entries are queued for the moment between enqueue and
    // aedes' outgoingUpdate, and a "drop" there would be reported and then delivered anyway.
    const max = policy.maxQueueLen(clientId);
    if (max > 0 && state.queue.size >= max && !policy.isOnline(clientId)) {
      while (state.queue.size >= max) this.#drop(state, state.queue.head!);
    }

    if (msg === null) msg = this.#newMsg(packet);
    const e = new Entry(this.#seq++, clientId, msg, qos, packet.retain === true && sub.rap === true);
    msg.refs++;
    state.queue.push(e);
    state.indexCounter(e);
    this.#w?.entry(e);
    return msg;
  }

  #newMsg(packet: PersistPacket): Msg {
    let brokerId = packet.brokerId;
    let counter = packet.brokerCounter;
    if (brokerId === undefined || !counter) {
      // stamp like aedes-packet does, so outgoingUpdate can find the entry on reconnect
      const b = this.#broker;
      brokerId ??= b?.id;
      counter = b ? ++b.counter : 0;
    }
    const m = new Msg(
      this.#msgSeq++,
      packet.topic,
      packet.payload ?? Buffer.alloc(0),
      packet.qos,
      packet.dup === true,
      brokerId,
      counter,
      typeof packet.clientId === 'string' ? packet.clientId : null,
      Date.now(),
    );
    this.#w?.msg(m);
    return m;
  }

  #drop(state: ClientState, e: Entry): void {
    const m = e.msg;
    this.#removeEntry(state, e);
    state.dropped++;
    this.#w?.counter(state);
    try {
      const dropped: DroppedMessage = { topic: m.topic, qos: e.qos, payload: toBuffer(m.payload), retain: e.retain };
      if (m.fromClientId !== null) dropped.clientId = m.fromClientId;
      this.#policy.onDropped(state.id, dropped, 'queue_full');
    } catch (err) {
      this.#logger?.warn({ err, clientId: state.id }, 'persistence: onDropped threw');
    }
  }

  #removeEntry(state: ClientState, e: Entry): void {
    if (e.inflight) {
      state.inflight.remove(e);
      state.unindexMid(e);
    } else {
      state.queue.remove(e);
    }
    state.unindexCounter(e);
    e.removed = true;
    const m = e.msg;
    m.refs--;
    const w = this.#w;
    if (w) {
      w.entry(e);
      if (m.refs === 0) w.msg(m);
    }
  }

  #update(clientId: string, packet: PersistPacket | PersistPubrel): void {
    const state = this.#clients.get(clientId);
    const isPublish = packet.cmd === undefined || packet.cmd === CMD_PUBLISH;
    const p = packet as PersistPacket;

    // 1. a delivery of a queued/in-flight publish: found by its broker-wide identity
    if (state && isPublish && p.brokerId !== undefined) {
      const e = state.findByCounter(p.brokerId, p.brokerCounter);
      if (e) {
        if (e.qos === 0 || p.qos === 0) {
          // QoS 0 is never acknowledged: it leaves the queue as it is sent
          this.#removeEntry(state, e);
          this.#release(state);
          return;
        }
        this.#sent(state, e, p.messageId);
        return;
      }
    }

    // 2. the same packet identifier: PUBREL replacing an in-flight QoS 2 PUBLISH after PUBREC,
    //    or a resend under a different broker identity
    if (state && packet.messageId !== undefined) {
      const e = state.byMid?.get(packet.messageId);
      if (e) {
        if (!isPublish) {
          e.cmd = CMD_PUBREL;
          state.unindexCounter(e);
        } else {
          const old = e.msg;
          state.unindexCounter(e);
          e.msg = this.#newMsg(p);
          e.msg.refs++;
          e.qos = p.qos;
          e.cmd = CMD_PUBLISH;
          state.indexCounter(e);
          if (--old.refs === 0) this.#w?.msg(old);
        }
        this.#w?.entry(e);
        return;
      }
    }

    // 3. not held: dropped by the cap (or deleted) while aedes was delivering it. aedes errors the
    //    client if this fails, so keep it as in-flight: its PUBACK/PUBCOMP will clear it.
    if (isPublish && p.qos === 0) return;
    const s = state ?? this.#state(clientId);
    const msg = isPublish ? this.#newMsg(p) : this.#newMsg({ topic: '', payload: Buffer.alloc(0), qos: 2 });
    const e = new Entry(this.#seq++, clientId, msg, isPublish ? p.qos : 2, isPublish && p.retain === true);
    msg.refs++;
    if (!isPublish) e.cmd = CMD_PUBREL;
    e.inflight = true;
    e.messageId = packet.messageId;
    e.sentSeq = this.#seq++;
    s.inflight.push(e);
    s.indexMid(e);
    if (isPublish) s.indexCounter(e);
    this.#w?.entry(e);
  }

  #sent(state: ClientState, e: Entry, messageId: number | undefined): void {
    if (e.inflight) {
      // a resend on reconnect keeps its place; only a changed identifier is re-indexed
      if (e.messageId === messageId) return;
      state.unindexMid(e);
      e.messageId = messageId;
      state.indexMid(e);
    } else {
      state.queue.remove(e);
      e.inflight = true;
      e.messageId = messageId;
      e.sentSeq = this.#seq++;
      state.inflight.push(e);
      state.indexMid(e);
    }
    this.#w?.entry(e);
  }

  // ---- loading (sqlite mode) ----------------------------------------------------------------------

  #load(w: SqliteMirror): void {
    for (const r of w.subscriptions()) {
      const state = this.#state(r.client_id);
      const sub: PersistSubscription = {
        topic: r.topic,
        qos: r.qos,
        rh: r.rh ?? undefined,
        rap: r.rap === null ? undefined : r.rap === 1,
        nl: r.nl === null ? undefined : r.nl === 1,
      };
      if (r.subscription_id !== null) sub.subscriptionIdentifier = r.subscription_id;
      if (state.subs.size === 0) this.#clientsWithSubs++;
      state.subs.set(r.topic, subRecord(sub));
      const value = { clientId: r.client_id, topic: r.topic, qos: r.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
      (r.qos > 0 ? this.#trie : this.#trie0).add(r.topic, value);
    }

    const msgs = new Map<number, Msg>();
    for (const r of w.messages()) {
      const m = new Msg(r.id, r.topic, r.payload ?? Buffer.alloc(0), r.qos, r.dup === 1, r.broker_id ?? undefined, r.broker_counter, r.from_clientid, r.added_at);
      m.persisted = true;
      msgs.set(r.id, m);
    }
    const orphanEntries: number[] = [];
    for (const r of w.outgoing()) {
      const m = msgs.get(r.msg_id);
      if (!m) {
        orphanEntries.push(r.id);
        continue;
      }
      const state = this.#state(r.client_id);
      const e = new Entry(r.id, r.client_id, m, r.qos, r.retain === 1);
      e.cmd = r.cmd;
      e.persisted = true;
      m.refs++;
      if (r.inflight === 1) {
        e.inflight = true;
        e.messageId = r.message_id ?? undefined;
        e.sentSeq = r.sent_seq ?? r.id;
        state.inflight.push(e);
        state.indexMid(e);
      } else {
        state.queue.push(e);
      }
      if (e.cmd === CMD_PUBLISH) state.indexCounter(e);
    }
    const orphanMsgs: number[] = [];
    for (const m of msgs.values()) if (m.refs === 0) orphanMsgs.push(m.id);
    w.deleteRows(orphanMsgs, orphanEntries);

    for (const r of w.counters()) {
      if (r.mqueue_dropped > 0) this.#state(r.client_id).dropped = r.mqueue_dropped;
    }
    for (const r of w.incoming()) {
      let store = this.#incoming.get(r.client_id);
      if (!store) {
        store = new Map();
        this.#incoming.set(r.client_id, store);
      }
      store.set(r.message_id, { ...storedPublish(r), retain: r.retain === 1, dup: r.dup === 1, messageId: r.message_id });
    }
    for (const r of w.retained()) {
      const packet: PersistPacket = { ...storedPublish(r), retain: true, dup: false };
      if (r.from_clientid !== null) packet.clientId = r.from_clientid;
      this.#retained.set(r.topic, { packet, addedAt: r.added_at });
    }
    for (const r of w.wills()) {
      this.#wills.set(r.client_id, {
        clientId: r.client_id,
        brokerId: r.broker_id,
        topic: r.topic,
        payload: r.payload,
        qos: r.qos,
        retain: r.retain === 1,
      });
    }
    const max = w.maxIds();
    this.#seq = max.entry + 1;
    this.#msgSeq = max.msg + 1;
  }
}

/** The PUBLISH fields an incoming (QoS 2) row and a retained row share. */
function storedPublish(r: { broker_id: string | null; broker_counter: number; topic: string; payload: Buffer; qos: number }): PersistPacket {
  return { cmd: CMD_PUBLISH, brokerId: r.broker_id ?? undefined, brokerCounter: r.broker_counter, topic: r.topic, payload: r.payload, qos: r.qos };
}

function sameSub(r: SubRecord, s: PersistSubscription): boolean {
  return r.qos === s.qos && r.rh === s.rh && r.rap === s.rap && r.nl === s.nl && r.subscriptionIdentifier === s.subscriptionIdentifier;
}

function view(e: Entry): QueuedMessageView {
  const m = e.msg;
  return {
    topic: m.topic,
    qos: e.qos,
    payload: toBuffer(m.payload),
    retain: e.retain,
    publish_at: m.addedAt,
    inflight: e.inflight,
    from_clientid: m.fromClientId,
  };
}

/** The i-th entry of a list, walking from whichever end is nearer. */
function nth(head: Entry | null, tail: Entry | null, size: number, i: number): Entry | null {
  if (i >= size) return null;
  if (i <= size / 2) {
    let e = head;
    for (let k = 0; k < i; k++) e = e!.next;
    return e;
  }
  let e = tail;
  for (let k = size - 1; k > i; k--) e = e!.prev;
  return e;
}
