// The broker's public surface: what the management API (and later the dashboard, hooks, $SYS)
// may call. Nothing here knows about HTTP. Implementations live beside this file.

export type QoS = 0 | 1 | 2;

// ---- authentication (server/broker/access/auth.ts) -------------------------------------------------

export interface AuthRequest {
  zone: string;
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
}

export type AuthResult =
  | { ok: true; via: 'clientid' | 'password' | 'anonymous'; isSuperuser: boolean }
  /** 4 = bad username or password, 5 = not authorized (CONNACK return codes) */
  | { ok: false; returnCode: 4 | 5 };

export interface AuthUser {
  user_id: string;
  is_superuser: boolean;
}

export interface AnonymousSetting {
  allow: boolean;
  /** 'api' when set through the API (wins over the file), 'config' when from emqx.conf */
  source: 'api' | 'config';
}

export interface AuthService {
  /**
   * A verdict that needs no lookup (client-id allow-list, anonymous) comes back synchronously,
   * so the common CONNECT costs no promise; a username is checked against the store.
   */
  authenticate(req: AuthRequest): AuthResult | Promise<AuthResult>;
  /** users of the built-in database; passwords are never returned */
  listUsers(opts: { page: number; limit: number; like_user_id?: string }): Promise<{ data: AuthUser[]; count: number }>;
  getUser(userId: string): Promise<AuthUser | undefined>;
  /** throws TernError ALREADY_EXISTS (409) */
  addUser(u: { user_id: string; password: string; is_superuser?: boolean }): Promise<AuthUser>;
  /** throws TernError NOT_FOUND (404) */
  updateUser(userId: string, u: { password?: string; is_superuser?: boolean }): Promise<AuthUser>;
  /** throws TernError NOT_FOUND (404) */
  deleteUser(userId: string): Promise<void>;
  listClientIds(): Promise<string[]>;
  /** throws TernError ALREADY_EXISTS (409) */
  addClientId(clientId: string): Promise<void>;
  /** throws TernError NOT_FOUND (404) */
  deleteClientId(clientId: string): Promise<void>;
  /** every configured zone with its effective setting */
  getAnonymous(): Promise<Record<string, AnonymousSetting>>;
  /** unknown zone → TernError BAD_REQUEST; values persist in SQLite and win over the file */
  setAnonymous(zones: Record<string, boolean>): Promise<Record<string, AnonymousSetting>>;
}

// ---- sessions (server/broker/session/sessions.ts) -----------------------------------------------------

/** One row per session, online or offline; field names follow EMQX 5's GET /clients. */
export interface SessionInfo {
  clientid: string;
  username: string | null;
  connected: boolean;
  zone: string;
  listener: string;
  ip_address: string | null;
  port: number | null;
  keepalive: number;
  clean_start: boolean;
  /** seconds */
  expiry_interval: number;
  proto_name: string;
  proto_ver: number;
  /** RFC 3339 strings */
  created_at: string;
  connected_at: string | null;
  disconnected_at: string | null;
  subscriptions_cnt: number;
  inflight_cnt: number;
  inflight_max: number;
  mqueue_len: number;
  mqueue_max: number;
  mqueue_dropped: number;
  recv_msg: number;
  send_msg: number;
}

export interface SessionFilter {
  clientid?: string;
  username?: string;
  conn_state?: 'connected' | 'disconnected';
  like_clientid?: string;
  like_username?: string;
  ip_address?: string;
  clean_start?: boolean;
  gte_mqueue_len?: number;
  lte_mqueue_len?: number;
  zone?: string;
}

export interface QueuedMessage {
  topic: string;
  qos: QoS;
  /** base64 is not applied here: raw bytes */
  payload: Buffer;
  retain: boolean;
  /** ms since epoch when the broker received it */
  publish_at: number;
  /** true when sent and awaiting acknowledgement */
  inflight: boolean;
  from_clientid: string | null;
}

export interface SubscriptionInfo {
  clientid: string;
  /** the full filter, `$share/<group>/<filter>` for a shared one */
  topic: string;
  qos: QoS;
  /** the group of a shared subscription (`$queue` for `$queue/...`) */
  share_group?: string;
  /** 'broker' when the broker made it (auto-subscribe, per-client broker subscriptions) */
  source: 'client' | 'broker';
}

/** a refusal as subscribeMany answers it (server/errors.ts TernError) */
export interface TernErrorLike extends Error {
  readonly code: string;
  readonly status: number;
}

/** MQTT 5 subscription options, kept and passed on (aedes applies rap and nl) */
export interface SubscribeOptions {
  /** retain handling 0..2 */
  rh?: number;
  /** retain as published */
  rap?: boolean;
  /** no local */
  nl?: boolean;
}

export interface SessionRegistry {
  list(filter: SessionFilter, page: { page: number; limit: number }): { data: SessionInfo[]; count: number };
  get(clientId: string): SessionInfo | undefined;
  /** EMQX's kick: closes the connection if any and ends the session (online or offline, any clean flag); false when unknown */
  kick(clientId: string, opts?: { banned?: boolean }): Promise<boolean>;
  /** removes the session entirely (kicks first if connected); false when unknown */
  discard(clientId: string): Promise<boolean>;
  subscriptions(clientId: string): SubscriptionInfo[];
  allSubscriptions(filter: { clientid?: string; topic?: string; qos?: QoS; share_group?: string; match_topic?: string }): SubscriptionInfo[];
  /**
   * Subscribes on the client's behalf through exactly the checks a client's SUBSCRIBE passes
   * (the hook chain's authorizeSubscribe); answers the subscription as granted. A refusal throws
   * TernError SUBSCRIPTION_REFUSED (403) with the reason. An offline persistent session gets it stored.
   */
  subscribe(clientId: string, topic: string, qos: QoS, opts?: SubscribeOptions): Promise<SubscriptionInfo>;
  /**
   * Several at once, as one SUBSCRIBE (one pass through aedes, one retained lookup): each entry
   * answers its grant, or the TernError of its refusal. Throws only for an unknown client.
   */
  subscribeMany(clientId: string, entries: ({ topic: string; qos: QoS } & SubscribeOptions)[]): Promise<(SubscriptionInfo | TernErrorLike)[]>;
  unsubscribe(clientId: string, topic: string): Promise<void>;
  queuedMessages(clientId: string, page: { page: number; limit: number }): Promise<{ data: QueuedMessage[]; count: number }>;
}

// ---- broker control (server/broker/control.ts) ---------------------------------------------------

export interface PublishRequest {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

export interface ListenerStatus {
  /** "<proto>:<name>", e.g. "tcp:external" */
  id: string;
  type: 'tcp' | 'ws' | 'ssl' | 'wss';
  name: string;
  /** "host:port" actually bound (the real port when configured as 0) */
  bind: string;
  zone: string;
  running: boolean;
  current_connections: number;
  max_connections: number;
}

export interface NodeInfo {
  node: string;
  version: string;
  /** ms */
  uptime: number;
  node_status: 'running' | 'stopping';
  connections: number;
  otp_release?: never;
  sysdescr: string;
  memory_used: number;
  process_available: number;
}

export interface RetainedMessage {
  topic: string;
  qos: QoS;
  payload: Buffer;
  from_clientid: string | null;
}

export interface BrokerControl {
  /** matched=false when no subscriber (incl. offline persistent sessions) matched the topic */
  publish(req: PublishRequest): Promise<{ id: string; matched: boolean }>;
  /** EMQX stats names with their dots: 'connections.count', 'sessions.count', 'topics.count', ... */
  stats(): Record<string, number>;
  /** EMQX metric names with their dots: 'messages.received', 'messages.sent', 'bytes.received', ... */
  metrics(): Record<string, number>;
  listeners(): ListenerStatus[];
  nodeInfo(): NodeInfo;
  /** retained messages whose topic matches the filter ('#' for all) */
  retained(filter: string): Promise<RetainedMessage[]>;
  /** clears the retained message of a topic without publishing anything; false when there was none */
  deleteRetained(topic: string): Promise<boolean>;
}
