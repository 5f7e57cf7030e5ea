// The tables of the broker's message persistence (migrations/0002_persistence.ts). They are written
// through prepared statements on the hot path (server/broker/persistence/sqlite.ts); the types live
// here, with every other table, so storage depends on nothing above it.

export interface PersistenceTables {
  mqtt_subscription: {
    client_id: string;
    topic: string;
    qos: number;
    rh: number | null;
    rap: number | null;
    nl: number | null;
    subscription_id: number | null;
  };
  /** one row per published message referenced by at least one outgoing row */
  mqtt_message: {
    id: number;
    topic: string;
    payload: Buffer;
    qos: number;
    dup: number;
    broker_id: string | null;
    broker_counter: number;
    from_clientid: string | null;
    /** ms since epoch */
    added_at: number;
  };
  /** a client's queued (inflight = 0) and in-flight (inflight = 1) deliveries */
  mqtt_outgoing: {
    id: number;
    client_id: string;
    msg_id: number;
    /** 'publish' | 'pubrel' */
    cmd: string;
    /** effective QoS: min(publish, subscription) */
    qos: number;
    retain: number;
    /** MQTT packet identifier once sent */
    message_id: number | null;
    inflight: number;
    /** send order of in-flight entries */
    sent_seq: number | null;
  };
  /** inbound QoS 2 packets awaiting PUBREL */
  mqtt_incoming: {
    client_id: string;
    message_id: number;
    topic: string;
    payload: Buffer;
    qos: number;
    retain: number;
    dup: number;
    broker_id: string | null;
    broker_counter: number;
  };
  mqtt_retained: {
    topic: string;
    payload: Buffer;
    qos: number;
    broker_id: string | null;
    broker_counter: number;
    from_clientid: string | null;
    added_at: number;
  };
  mqtt_will: {
    client_id: string;
    broker_id: string;
    topic: string;
    payload: Buffer;
    qos: number;
    retain: number;
    added_at: number;
  };
  mqtt_session_counter: {
    client_id: string;
    mqueue_dropped: number;
  };
}
