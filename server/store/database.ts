// Kysely's view of the SQLite schema: one interface per table, all in one Database type.
// The tables are created by the numbered files in migrations/.
import type { Generated } from 'kysely';
import type { PersistenceTables } from './persistence-tables.ts';

/** built-in MQTT users (password_based:built_in_database) */
export interface MqttUserTable {
  user_id: string;
  /** scrypt$N$r$p$salt$hash, never the clear password */
  password_hash: string;
  is_superuser: number;
  created_at: number;
}

/** client-id allow-list */
export interface ClientIdTable {
  clientid: string;
  created_at: number;
}

/** runtime settings changed through the API; they win over emqx.conf */
export interface SettingTable {
  key: string;
  /** JSON */
  value: string;
  updated_at: number;
}

/** metadata of persistent sessions (migrations/0004_session.ts); rows are written by broker/session/sessions.ts */
export interface SessionTable {
  clientid: string;
  username: string | null;
  zone: string;
  listener: string;
  proto_name: string;
  proto_ver: number;
  keepalive: number;
  ip_address: string | null;
  port: number | null;
  /** ms */
  expiry_interval: number;
  created_at: number;
  connected_at: number | null;
  disconnected_at: number | null;
  recv_msg: number;
  send_msg: number;
}

/** authorization rules of the API's built_in_database source (migrations/0012_access.ts) */
export interface AclRuleTable {
  kind: 'clientid' | 'username' | 'all';
  /** '' for kind = all */
  who: string;
  /** JSON [{permission, action, topic}] in order */
  rules: string;
  updated_at: number;
}

/** banned clients (broker/access/banned.ts) */
export interface BannedTable {
  as: 'clientid' | 'username' | 'peerhost';
  /** a client id, a username, or an address / CIDR */
  who: string;
  reason: string;
  /** who banned: an admin, an API key, or "flapping" */
  by: string;
  /** ms */
  at: number;
  /** ms; null = never expires */
  until: number | null;
}

/** changes made through the management API (api/services/audit.ts) */
export interface AuditLogTable {
  id: Generated<number>;
  created_at: number;
  who_type: 'admin' | 'api_key';
  who: string;
  /** the spec's operationId */
  operation: string;
  http_method: string;
  /** the request path below /api/v5 */
  target: string;
  /** JSON, secrets masked */
  body: string | null;
  status: number;
  source_ip: string | null;
}

/** a webhook (migrations/0010_webhooks.ts; server/hooks/registry.ts) */
export interface WebhookTable {
  id: Generated<number>;
  name: string;
  /** JSON: the definition's fields other than id and name */
  definition: string;
  created_at: number;
  updated_at: number;
}

/** one event for one hook (migrations/0013; server/hooks/outbox.ts writes it through prepared statements) */
export interface WebhookOutboxTable {
  hook_id: number;
  id: number;
  event_id: string;
  event: string;
  /** ms, when the event happened */
  ts: number;
  /** message events: the topic and payload; the other fields in meta (server/hooks/pack.ts) */
  topic: string | null;
  payload: Buffer | null;
  meta: string | null;
  /** rows written by the first layout (0010): the formatted body */
  body: string | null;
  /** 0 pending (or, at or below the hook's cursor, delivered), 1 failed (dead letter) */
  status: number;
  attempts: number;
  last_error: string | null;
  updated_at: number | null;
}

/** a hook's delivery cursor and counters (0013) */
/** a batch's events for one hook, ids first_id..last_id (migrations/0014, server/hooks/block.ts) */
export interface WebhookOutboxBlockTable {
  hook_id: number;
  first_id: number;
  last_id: number;
  data: Buffer;
}

export interface WebhookHookStateTable {
  hook_id: number;
  cursor: number;
  delivered: number;
  failed: number;
  dropped: number;
  retried: number;
  last_error: string | null;
  last_error_at: number | null;
  last_success_at: number | null;
}

/** auto-subscribe templates in order (migrations/0011_routing.ts); placeholders kept verbatim */
export interface AutoSubscribeTable {
  position: number;
  topic: string;
  qos: number;
  rh: number;
  /** 0 | 1 */
  rap: number;
  /** 0 | 1 */
  nl: number;
}

/** subscriptions the broker makes for one client id at each of its connects (0011) */
export interface BrokerSubscriptionTable {
  clientid: string;
  topic: string;
  qos: number;
  rh: number;
  rap: number;
  nl: number;
  created_at: number;
}

/** the metrics history of GET /monitor, one row per sample (migrations/0005_monitor.ts) */
export interface MonitorSampleTable {
  /** ms since the epoch */
  time_stamp: number;
  connections: number;
  live_connections: number;
  sessions: number;
  subscriptions: number;
  shared_subscriptions: number;
  topics: number;
  retained_msg_count: number;
  /** messages in the interval ending at time_stamp */
  received: number;
  sent: number;
  dropped: number;
  interval_ms: number;
}

/** The aedes persistence's tables (0002) are written through prepared statements on the hot path. */
export interface Database extends PersistenceTables {
  mqtt_session: SessionTable;
  mqtt_user: MqttUserTable;
  mqtt_clientid: ClientIdTable;
  setting: SettingTable;
  acl_rule: AclRuleTable;
  banned: BannedTable;
  audit_log: AuditLogTable;
  webhook: WebhookTable;
  webhook_outbox: WebhookOutboxTable;
  webhook_outbox_block: WebhookOutboxBlockTable;
  webhook_hook_state: WebhookHookStateTable;
  auto_subscribe: AutoSubscribeTable;
  broker_subscription: BrokerSubscriptionTable;
  monitor_sample: MonitorSampleTable;
  // ---- management plane (server/api), migrations/0003_admin.ts ----
  /** dashboard/API administrators; created by migrations/0003_admin.ts */
  admin_user: {
    username: string;
    /** scrypt$N$r$p$salt$hash (server/passwords.ts), never the clear password */
    password_hash: string;
    description: string;
    created_at: number;
    updated_at: number;
  };
  /** API keys for scripts (Authorization: Basic key:secret) */
  api_key: {
    name: string;
    api_key: string;
    /** sha256 of the secret: secrets are 256 random bits, so a slow hash adds nothing */
    secret_hash: string;
    description: string;
    enabled: number;
    /** ms since epoch, null = never expires */
    expired_at: number | null;
    created_at: number;
    last_used_at: number | null;
  };
}

export type { Generated };
