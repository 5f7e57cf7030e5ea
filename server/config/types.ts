// The typed, validated configuration every other module receives. Durations are milliseconds,
// sizes are bytes. Produced by loadConfig() (server/config/index.ts) from emqx.conf + EMQX_* env.

export type ListenerProto = 'tcp' | 'ws' | 'ssl' | 'wss';

export interface ZoneConfig {
  /** undefined means "fall back to the global allow_anonymous" */
  allow_anonymous: boolean | undefined;
  idle_timeout: number;
  /** 0 = no limit */
  max_subscriptions: number;
  max_inflight: number;
  retry_interval: number;
  /** 0 = no limit */
  max_awaiting_rel: number;
  await_rel_timeout: number;
  session_expiry_interval: number;
  /** 0 = no limit */
  max_mqueue_len: number;
  mqueue_store_qos0: boolean;
}

export interface ListenerConfig {
  proto: ListenerProto;
  /** the <name> in listener.<proto>.<name> */
  name: string;
  host: string;
  port: number;
  zone: string;
  /** 0 = no limit */
  max_connections: number;
  /** connections per second, 0 = no limit */
  max_conn_rate: number;
  /** ws/wss only */
  mqtt_path: string;
  /** ssl/wss only: the listener starts only when keyfile and certfile are set */
  keyfile?: string;
  certfile?: string;
  cacertfile?: string;
  /**
   * listener.<proto>.<name>.access.<n> rules in n order, e.g. ["deny 10.0.0.0/8", "allow all"]
   * (EMQX: first match wins; undefined = allow all). Validated strings; the listener enforces them.
   */
  access?: string[];
}

export type SharedStrategy = 'random' | 'round_robin' | 'sticky' | 'hash_clientid' | 'hash_topic';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface Config {
  node: { name: string; data_dir: string };
  log: { level: LogLevel };
  allow_anonymous: boolean;
  acl_nomatch: 'allow' | 'deny';
  acl_file: string | undefined;
  persistence: 'memory' | 'sqlite';
  mqtt: {
    max_packet_size: number;
    max_clientid_len: number;
    /** 0 = no limit */
    max_topic_levels: number;
    max_qos_allowed: 0 | 1 | 2;
    retain_available: boolean;
    wildcard_subscription: boolean;
    shared_subscription: boolean;
  };
  zones: Record<string, ZoneConfig>;
  listeners: ListenerConfig[];
  broker: {
    /** 0 = don't publish these $SYS topics */
    sys_interval: number;
    /** 0 = don't publish these $SYS topics */
    sys_heartbeat: number;
    shared_subscription_strategy: SharedStrategy;
  };
  dashboard: {
    listener: { host: string; port: number };
    default_user: { login: string; password: string };
    /** URL path the dashboard is served under ('/' or '/x/y', no trailing slash), for a reverse proxy's sub-path */
    base_path: string;
  };
  /** seeds for the built-in auth tables (auth.user.<n>.*, auth.client.<n>.clientid) */
  auth: {
    users: { username: string; password: string }[];
    clientids: string[];
  };
  /** module.subscription.<n>.topic / .qos */
  auto_subscriptions: { topic: string; qos: 0 | 1 | 2 }[];
}

export interface LoadedConfig {
  config: Config;
  /** the file read, if any */
  file: string | undefined;
  /** unknown keys and other non-fatal findings, each naming file:line */
  warnings: string[];
}
