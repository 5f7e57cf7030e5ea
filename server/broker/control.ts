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
import { shareGroup } from './protocol/topic.ts';

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
}

export function createBrokerControl(deps: ControlDeps): BrokerControl {
  const { aedes, sessions, metrics } = deps;
  const max = { connections: 0, sessions: 0, subscriptions: 0, topics: 0, retained: 0 };
  let publishSeq = 0;

  function subscriptionCounts() {
    const subs = sessions.allSubscriptions({});
    const topics = new Set<string>();
    let shared = 0;
    for (const s of subs) {
      topics.add(s.topic);
      if (shareGroup(s.topic) !== undefined) shared++;
    }
    return { subscriptions: subs.length, topics: topics.size, shared };
  }

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
      max.connections = Math.max(max.connections, conns);
      max.sessions = Math.max(max.sessions, sess);
      max.subscriptions = Math.max(max.subscriptions, subscriptions);
      max.topics = Math.max(max.topics, topics);
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

    nodeInfo(): NodeInfo {
      return {
        node: deps.config.get().node.name,
        version: deps.version,
        uptime: Date.now() - deps.startedAt,
        node_status: 'running',
        connections: aedes.connectedClients,
        sysdescr: 'Tern MQTT broker',
        memory_used: process.memoryUsage().rss,
        process_available: os.availableParallelism(),
      };
    },
  };
}
