// The broker's control surface for the management plane (BrokerControl in types.ts): publish
// from the server, stats and metrics with EMQX's names, listener status, node info.
import os from 'node:os';
import type { Config } from '../config/types.ts';
import type { ConfigSource } from '../config/source.ts';
import type { AedesBroker } from './core/aedes-types.ts';
import type { BrokerControl, NodeInfo, QoS, RetainedMessage } from './types.ts';
import type { Listeners } from './transport/listeners.ts';
import type { Sessions } from './session/sessions.ts';
import type { Metrics } from './sys/metrics.ts';
import type { PersistPacket, TernPersistence } from './persistence/types.ts';
import type { EventBus } from './events.ts';
import { SYSDESCR } from './sys/sys-publisher.ts';
import { shareGroup } from './topic.ts';

export interface ControlDeps {
  config: ConfigSource;
  aedes: AedesBroker;
  listeners: Listeners;
  sessions: Sessions;
  persistence: TernPersistence;
  metrics: Metrics;
  version: string;
  startedAt: number;
  /** whether any live (in-process) subscription matches the topic */
  hasLiveSubscriber(topic: string): boolean;
  /** the subscription watermarks follow these events as they happen */
  events: EventBus;
}

export interface ControlSurface extends BrokerControl {
  /** a retained message was stored (the published step calls it): retained.max follows at once */
  noteRetained(): void;
  close(): void;
}

/**
 * how long a burst of SUBSCRIBEs may run before subscriptions.max and topics.max are recounted (a
 * walk over every session's subscriptions: once per burst, not once per SUBSCRIBE)
 */
const RECOUNT_MS = 50;

export function createBrokerControl(deps: ControlDeps): ControlSurface {
  const { aedes, sessions, metrics } = deps;
  // *.max are watermarks kept as the counts move (not when someone asks): connections and sessions
  // at each connect, retained at each store, subscriptions and topics (a walk) within RECOUNT_MS
  // of a SUBSCRIBE
  const max = { connections: 0, sessions: 0, subscriptions: 0, topics: 0, retained: 0, shared: 0 };
  let publishSeq = 0;
  let recount: NodeJS.Timeout | undefined;
  const noteConnections = () => {
    if (aedes.connectedClients > max.connections) max.connections = aedes.connectedClients;
    const sess = sessions.count();
    if (sess > max.sessions) max.sessions = sess;
  };
  const noteSubscriptions = () => {
    recount = undefined;
    const { subscriptions, topics, shared } = subscriptionCounts();
    if (subscriptions > max.subscriptions) max.subscriptions = subscriptions;
    if (topics > max.topics) max.topics = topics;
    if (shared > max.shared) max.shared = shared;
  };
  // The connection watermarks follow aedes' own events, where sessions.ts emits session.created
  // ('client') and client.connected ('clientReady'), not the bus: a listener on the bus makes every
  // CONNECT build those payloads (and read the peer address, a syscall) for a watermark that reads
  // none of them. Both run after the session registry's listeners (attach() came first), so the
  // counts include the new connection.
  aedes.on('client', noteConnections);
  aedes.on('clientReady', noteConnections);
  const offs = [
    () => aedes.removeListener('client', noteConnections),
    () => aedes.removeListener('clientReady', noteConnections),
    deps.events.on('session.subscribed', () => {
      if (!recount) (recount = setTimeout(noteSubscriptions, RECOUNT_MS)).unref();
    }),
  ];

  const subscriptionCounts = () => sessions.subscriptionCounts();

  /** messages waiting in the queues of all sessions (not in flight) */
  function queuedCount() {
    let n = 0;
    for (const id of deps.persistence.persistentClientIds()) n += deps.persistence.stats(id).mqueue_len;
    return n;
  }

  return {
    async publish(req) {
      const matched =
        deps.hasLiveSubscriber(req.topic) ||
        (await deps.persistence.subscriptionsByTopic(req.topic)).some((s) => sessions.get(s.clientId) !== undefined);
      await new Promise<void>((resolve, reject) =>
        aedes.publish(
          { cmd: 'publish', topic: req.topic, payload: req.payload, qos: req.qos, retain: req.retain, dup: false },
          (err?: Error) => (err ? reject(err) : resolve()),
        ),
      );
      publishSeq++;
      return { id: `${Date.now().toString(16)}${publishSeq.toString(16).padStart(8, '0')}`, matched };
    },

    stats() {
      const conns = aedes.connectedClients;
      const sess = sessions.count();
      const { subscriptions, topics, shared } = subscriptionCounts();
      // a watermark never reads below the count it marks
      max.connections = Math.max(max.connections, conns);
      max.sessions = Math.max(max.sessions, sess);
      max.subscriptions = Math.max(max.subscriptions, subscriptions);
      max.topics = Math.max(max.topics, topics);
      max.shared = Math.max(max.shared, shared);
      const retained = deps.persistence.retainedCount();
      max.retained = Math.max(max.retained, retained);
      return {
        'connections.count': conns,
        'connections.max': max.connections,
        'live_connections.count': conns,
        'live_connections.max': max.connections,
        'sessions.count': sess,
        'sessions.max': max.sessions,
        'sessions.persistent.count': sess - conns + [...Object.values(aedes.clients)].filter((c) => !c.clean).length,
        'subscriptions.count': subscriptions,
        'subscriptions.max': max.subscriptions,
        'subscriptions.shared.count': shared,
        'subscriptions.shared.max': max.shared,
        'topics.count': topics,
        'topics.max': max.topics,
        'retained.count': retained,
        'retained.max': max.retained,
        'messages.queued.count': queuedCount(),
      };
    },

    metrics() {
      const bytes = deps.listeners.bytes();
      return { ...metrics, 'bytes.received': bytes.received, 'bytes.sent': bytes.sent };
    },

    listeners: () => deps.listeners.status(),

    async retained(filter) {
      const out: RetainedMessage[] = [];
      for await (const p of deps.persistence.createRetainedStream(filter) as AsyncIterable<PersistPacket>) {
        out.push({ topic: p.topic, qos: p.qos as QoS, payload: Buffer.from(p.payload), from_clientid: p.clientId ?? null });
      }
      return out;
    },

    async deleteRetained(topic) {
      const exists = (await this.retained(topic)).some((m) => m.topic === topic);
      // an empty payload is how the persistence is told to forget a topic's retained message
      if (exists) await deps.persistence.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true });
      return exists;
    },

    noteRetained() {
      const n = deps.persistence.retainedCount();
      if (n > max.retained) max.retained = n;
    },

    close() {
      clearTimeout(recount);
      for (const off of offs) off();
    },

    nodeInfo(): NodeInfo {
      return {
        node: deps.config.get().node.name,
        version: deps.version,
        uptime: Date.now() - deps.startedAt,
        node_status: 'running',
        connections: aedes.connectedClients,
        sysdescr: SYSDESCR,
        memory_used: process.memoryUsage().rss,
        process_available: os.availableParallelism(),
      };
    },
  };
}
