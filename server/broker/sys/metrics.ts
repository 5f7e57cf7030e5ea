// Counters with EMQX's metric names. Plain numeric fields, incremented on the hot path without
// allocation; read (and copied) only when someone asks.
export function createMetrics() {
  return {
    'messages.received': 0,
    'messages.sent': 0,
    'messages.dropped': 0,
    'messages.dropped.no_subscribers': 0,
    'messages.dropped.queue_full': 0,
    'messages.dropped.expired': 0,
    'messages.dropped.not_authorized': 0,
    'messages.qos0.received': 0,
    'messages.qos1.received': 0,
    'messages.qos2.received': 0,
    'messages.retained': 0,
    'messages.publish': 0,
  'messages.delivered': 0,
    'client.connected': 0,
    'client.disconnected': 0,
    'client.auth.failure': 0,
    'session.created': 0,
    'session.resumed': 0,
    'session.takeovered': 0,
    'session.discarded': 0,
    'session.terminated': 0,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
