// The documented defaults (docs: /work/shared/reference/emqx-interfaces.md and emqx.conf.example).
// Every call builds a fresh object so callers (and tests starting many brokers) may mutate theirs.
import type { Config, ListenerConfig, ListenerProto, ZoneConfig } from './types.ts';

/** Built-in zone defaults. A zone the file invents (zone.<new>.*) starts from `external`'s. */
export function defaultZone(name: 'external' | 'internal' | string): ZoneConfig {
  const internal = name === 'internal';
  return {
    // undefined: fall back to the global allow_anonymous (EMQX semantics); the internal zone is
    // for trusted local clients, so it allows anonymous outright.
    allow_anonymous: internal ? true : undefined,
    idle_timeout: 15_000,
    max_subscriptions: 0,
    max_inflight: internal ? 128 : 32,
    retry_interval: 30_000,
    max_awaiting_rel: 100,
    await_rel_timeout: 300_000,
    session_expiry_interval: 2 * 3_600_000,
    max_mqueue_len: internal ? 10_000 : 1_000,
    mqueue_store_qos0: true,
    acl_deny_action: undefined,
    enable_flapping_detect: false,
  };
}

/** A listener as created by its address line alone; sub-keys override the rest. */
export function defaultListener(proto: ListenerProto, name: string, host: string, port: number): ListenerConfig {
  return {
    proto,
    name,
    host,
    port,
    zone: name === 'internal' ? 'internal' : 'external',
    max_connections: 0,
    max_conn_rate: 0,
    mqtt_path: '/mqtt',
  };
}

export function defaultConfig(): Config {
  return {
    node: { name: 'tern@127.0.0.1', data_dir: 'data' },
    log: {
      level: 'info',
      format: 'auto',
      to: 'console',
      file: 'log/tern.log',
      rotation: { enable: true, size: 10 * 1024 * 1024, count: 5 },
    },
    allow_anonymous: true,
    acl_nomatch: 'allow',
    acl_file: undefined,
    acl_deny_action: 'ignore',
    acl_cache_max_size: 32,
    acl_cache_ttl: 60_000,
    flapping_detect_policy: { max_count: 30, window_time: 60_000, ban_time: 300_000 },
    audit: { max_rows: 10_000 },
    persistence: 'sqlite',
    mqtt: {
      max_packet_size: 1024 * 1024,
      max_clientid_len: 65535,
      max_topic_levels: 128,
      max_qos_allowed: 2,
      retain_available: true,
      wildcard_subscription: true,
      shared_subscription: true,
    },
    zones: { external: defaultZone('external'), internal: defaultZone('internal') },
    listeners: [
      defaultListener('tcp', 'external', '0.0.0.0', 1883),
      defaultListener('tcp', 'internal', '127.0.0.1', 11883),
      defaultListener('ws', 'external', '0.0.0.0', 8083),
      // No keyfile/certfile by default, so these two are configured but do not start.
      defaultListener('ssl', 'external', '0.0.0.0', 8883),
      defaultListener('wss', 'external', '0.0.0.0', 8084),
    ],
    broker: {
      sys_interval: 60_000,
      sys_heartbeat: 30_000,
      shared_subscription_strategy: 'random',
      group_strategies: {},
      sys_topics_allow: ['internal_zone', 'superuser', 'dashboard'],
    },
    dashboard: {
      listener: { host: '0.0.0.0', port: 18083 },
      default_user: { login: 'admin', password: 'public' },
      base_path: '/',
    },
    auth: { users: [], clientids: [] },
    auto_subscriptions: [],
    config: { watch: false },
    reload: { close_removed_listener_clients: false },
    web_hook: { url: undefined, headers: {}, encoding_of_payload_field: 'plain', rules: [], outbox_max: 100_000 },
  };
}
