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
  /** undefined: the global acl_deny_action */
  acl_deny_action: 'ignore' | 'disconnect' | undefined;
  /** count disconnects and ban a client that flaps (flapping_detect_policy) */
  enable_flapping_detect: boolean;
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

export type SharedStrategy = 'random' | 'round_robin' | 'round_robin_per_group' | 'sticky' | 'hash_clientid' | 'hash_topic';
/** who may subscribe to $SYS topics (broker.sys_topics.allow) */
export type SysTopicsWho = 'internal_zone' | 'superuser' | 'dashboard' | 'all';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
/** auto: readable text when the console is a terminal, JSON lines otherwise (and always in a file) */
export type LogFormat = 'auto' | 'text' | 'json';
export type LogTarget = 'console' | 'file' | 'both';

export interface LogConfig {
  level: LogLevel;
  format: LogFormat;
  to: LogTarget;
  /** log.to = file|both: the file written; relative to the working directory */
  file: string;
  rotation: {
    /** off: the file grows without bound (an external logrotate may move it) */
    enable: boolean;
    /** bytes; the file is rotated once it reaches this size */
    size: number;
    /** rotated files kept beside the current one (tern.log.1 is the newest) */
    count: number;
  };
}

export interface Config {
  node: { name: string; data_dir: string };
  log: LogConfig;
  allow_anonymous: boolean;
  acl_nomatch: 'allow' | 'deny';
  acl_file: string | undefined;
  /** a refused PUBLISH: ignore (acknowledged and dropped) or disconnect; a zone may override it */
  acl_deny_action: 'ignore' | 'disconnect';
  /** decisions kept per connection; 0 = no cache */
  acl_cache_max_size: number;
  /** ms a cached decision is trusted */
  acl_cache_ttl: number;
  /** EMQX 4's "30, 1m, 5m": more than max_count disconnects within window_time bans for ban_time (ms) */
  flapping_detect_policy: { max_count: number; window_time: number; ban_time: number };
  /** the audit log of management changes keeps at most this many rows */
  audit: { max_rows: number };
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
    /** broker.<group>.shared_subscription_strategy: per-group overrides */
    group_strategies: Record<string, SharedStrategy>;
    /** broker.sys_topics.allow: who may subscribe to $SYS/... (nobody else: SUBACK 0x80) */
    sys_topics_allow: SysTopicsWho[];
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
  /** config.watch: reload when emqx.conf (or a file it names) changes on disk */
  config: { watch: boolean };
  reload: {
    /** a listener removed by a reload disconnects its clients (default: they stay until they leave) */
    close_removed_listener_clients: boolean;
  };
  /**
   * web.hook.*: EMQX 4's web hook. url, headers, rules and encoding seed one hook named
   * "emqx.conf" (server/hooks/seed.ts); outbox_max applies to every hook.
   */
  web_hook: {
    url: string | undefined;
    /** web.hook.headers.<name> (names are lowercase: HTTP header names are case-insensitive) */
    headers: Record<string, string>;
    encoding_of_payload_field: 'plain' | 'base64';
    /** web.hook.rule.<event>.<n>, sorted by event then n */
    rules: WebHookRule[];
    /** undelivered events kept per hook; past it the oldest are dropped (and counted) */
    outbox_max: number;
  };
}

export interface WebHookRule {
  /** the EMQX hook point, e.g. message.publish */
  event: string;
  /** EMQX's "on_message_publish" */
  action: string;
  /** message.* rules only: a topic filter; undefined = every topic */
  topic: string | undefined;
}

export interface LoadedConfig {
  config: Config;
  /** the file read, if any */
  file: string | undefined;
  /** unknown keys and other non-fatal findings, each naming file:line */
  warnings: string[];
  /**
   * where each key set by the file or the environment was last set ("file:line" or "env VAR"),
   * by its emqx.conf name (listener.ssl.external.certfile), so later checks can blame a line
   */
  origins: Record<string, string>;
  /**
   * the same by Config path (zones.external.idle_timeout, listeners.tcp.external.port): what
   * GET /configs reports as each value's source. A path missing here has its built-in default.
   */
  pathOrigins?: Record<string, string>;
  /**
   * file lines whose key an EMQX_* variable overrides (the environment wins): normal in a
   * deployment, so not a warning at start, but a reload names them, since editing them does nothing
   */
  overriddenByEnv?: string[];
}
