// Types of Tern's aedes persistence: what aedes hands it (narrowed from aedes' loose typings),
// the queue policy injected by the broker (EMQX's mqueue settings), and the extensions the
// management plane reads (stats, queued messages, subscriptions).
import type { Readable } from 'node:stream';
import type BetterSqlite3 from 'better-sqlite3';

// ---- what aedes passes in ---------------------------------------------------------------------

/** aedes passes its Client, or `{ id }` (connect.js, aedes.js wills); only the id is used. */
export interface PersistClient {
  readonly id: string;
}

/** The broker as the persistence sees it: setup() receives the aedes instance. */
export interface PersistBroker {
  id: string;
  /** aedes-packet's global counter; bumped when a packet without brokerId/brokerCounter is stamped */
  counter: number;
}

/**
 * A PUBLISH (or PUBREL, in outgoingUpdate) as aedes-packet builds it. aedes' own d.ts types the
 * persistence as `any`; this is the subset read here.
 */
export interface PersistPacket {
  cmd?: string;
  topic: string;
  /** mqtt-packet allows strings; aedes' abstract suite enqueues one */
  payload: Buffer | string;
  qos: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  /**
   * the publisher. aedes itself sets it in emitPacket, i.e. after storeRetained and
   * enqueueOffline; the broker sets it on the client's PUBLISH in authorizePublish (aedes-packet
   * copies it), so the persistence sees it (see the notes in index.ts)
   */
  clientId?: string;
}

/** PUBREL stored in place of an in-flight QoS 2 PUBLISH once its PUBREC arrived. */
export interface PersistPubrel {
  cmd: 'pubrel';
  messageId: number;
}

/** A subscription as aedes stores it (SUBSCRIBE's `subscriptions` entries). */
export interface PersistSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  /** MQTT 5 Subscription Identifier (aedes-persistence round-trips it) */
  subscriptionIdentifier?: number;
}

/** subscriptionsByTopic's result entries, and what outgoingEnqueue(Combi) accepts. */
export interface TopicSubscription {
  clientId: string;
  topic?: string;
  qos?: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

/** A will as stored: the CONNECT will plus the owning client and broker. */
export interface WillPacket extends PersistPacket {
  clientId: string;
  brokerId: string;
}

// ---- what the broker injects --------------------------------------------------------------------

/** EMQX's mqueue settings, resolved per client by the broker (zones). */
export interface QueuePolicy {
  /** max queued (not in-flight) messages for this client; 0 = unlimited */
  maxQueueLen(clientId: string): number;
  /** whether QoS 0 messages are queued for this offline persistent session */
  storeQos0(clientId: string): boolean;
  /** a queued message was dropped: reason 'queue_full' */
  onDropped(clientId: string, packet: DroppedMessage, reason: 'queue_full'): void;
  /** is this client currently connected (then QoS-0-effective messages are never queued for it) */
  isOnline(clientId: string): boolean;
}

/** A message the queue cap dropped, as handed to QueuePolicy.onDropped. */
export interface DroppedMessage {
  topic: string;
  /** the QoS it was queued with for this client */
  qos: number;
  payload: Buffer;
  retain: boolean;
  /** the publisher, when known (see PersistPacket.clientId) */
  clientId?: string;
}

/** The pino subset used here (pino's Logger satisfies it). */
export interface PersistenceLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PersistenceOptions {
  mode: 'memory' | 'sqlite';
  /** required in sqlite mode; migrations/0002_persistence.ts must have run. Never closed by us. */
  db?: BetterSqlite3.Database;
  policy?: QueuePolicy;
  logger?: PersistenceLogger;
}

// ---- Tern extensions ----------------------------------------------------------------------------

export interface ClientQueueStats {
  /** queued, not yet sent */
  mqueue_len: number;
  /** sent, awaiting PUBACK/PUBREC/PUBCOMP */
  inflight_cnt: number;
  /** dropped because the queue was full (persisted in sqlite mode) */
  mqueue_dropped: number;
  subscriptions_cnt: number;
}

export interface QueuedMessageView {
  topic: string;
  qos: number;
  payload: Buffer;
  retain: boolean;
  /** ms since epoch when it was enqueued for this client */
  publish_at: number;
  inflight: boolean;
  /** the publisher, when aedes told us (packet.clientId at enqueue time) */
  from_clientid: string | null;
}

export interface SubscriptionView {
  clientId: string;
  topic: string;
  qos: number;
}

/**
 * The object handed to aedes as `persistence` (aedes 1.2 uses the async API of
 * aedes-persistence 11) plus Tern's extensions.
 */
export interface TernPersistence {
  readonly mode: 'memory' | 'sqlite';
  readonly broker: PersistBroker | undefined;

  // aedes-persistence async API
  setup(broker: PersistBroker): Promise<void>;
  storeRetained(packet: PersistPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: PersistClient, subs: PersistSubscription[]): Promise<void>;
  removeSubscriptions(client: PersistClient, topics: string[]): Promise<void>;
  subscriptionsByClient(client: PersistClient): Promise<PersistSubscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(topic: string): Promise<TopicSubscription[]>;
  cleanSubscriptions(client: PersistClient): Promise<void>;
  outgoingEnqueue(sub: TopicSubscription, packet: PersistPacket): Promise<void>;
  outgoingEnqueueCombi(subs: TopicSubscription[], packet: PersistPacket): Promise<void>;
  outgoingUpdate(client: PersistClient, packet: PersistPacket | PersistPubrel): Promise<void>;
  outgoingClearMessageId(client: PersistClient, packet: { messageId?: number; brokerId?: string; brokerCounter?: number }): Promise<PersistPacket | PersistPubrel | undefined>;
  outgoingStream(client: PersistClient): Readable;
  incomingStorePacket(client: PersistClient, packet: PersistPacket): Promise<void>;
  incomingGetPacket(client: PersistClient, packet: { messageId?: number }): Promise<PersistPacket>;
  incomingDelPacket(client: PersistClient, packet: { messageId?: number }): Promise<void>;
  cleanIncoming(client: PersistClient): Promise<void>;
  putWill(client: PersistClient, packet: PersistPacket): Promise<void>;
  getWill(client: PersistClient): Promise<WillPacket | undefined>;
  delWill(client: PersistClient): Promise<WillPacket | undefined>;
  streamWill(brokers?: Record<string, unknown>): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;

  // Tern extensions (synchronous reads of the in-memory indexes)
  /** a QoS > 0 subscription of a persistent session matches the topic */
  hasDurableSubscriber(topic: string): boolean;
  /** how many topics hold a retained message */
  retainedCount(): number;
  stats(clientId: string): ClientQueueStats;
  queued(clientId: string, offset: number, limit: number): { data: QueuedMessageView[]; count: number };
  subscriptions(clientId: string): Array<{ topic: string; qos: number }>;
  allSubscriptions(): Iterable<SubscriptionView>;
  persistentClientIds(): Iterable<string>;
  /**
   * The client's stored PUBLISH deliveries as outgoingStream would send them (in flight first,
   * then the queue), read at once: shared subscriptions pick their shares out of it and must
   * take them before anything else can (a session's end, a discard's drain).
   */
  outgoingPublishes(clientId: string): PersistPacket[];
  /** everything stored for the client: subscriptions, outgoing, incoming, will, counters */
  deleteClient(clientId: string): Promise<void>;
  /** commit the pending batch now (sqlite); resolves when it is durable */
  flush(): Promise<void>;
  /**
   * sqlite mode: runs `write` (synchronous statements on the store's connection, e.g. another
   * module's table) in the persistence's next batch transaction; resolves once it has committed.
   * With `flush` this makes the persistence a BatchWriter (store/group-commit.ts).
   */
  run(write: () => void): Promise<void>;
}
