// What Tern remembers about a session and the connection holding it: one object per connection,
// made at accept, filled from the CONNECT, and kept in the session registry while the session
// lives (online, or offline with clean_session=false). A resumed session gets the new
// connection's object with the counters and creation time carried over (sessions.ts). One object
// rather than a connection state plus a session record: every live connection pays for each
// object it owns. It is also the ClientContext the hook chain's steps receive, so a step costs no
// allocation. This class is the one place that defines how a record changes.
import type { ClientContext, ConnectInfo } from '../core/hook-chain.ts';
import type { Client } from 'aedes';
import type { QoS } from '../types.ts';

/** the aedes client of a connection, as far as the record reads it (core/aedes-types.ts has the full shape) */
type LiveClient = Client & { subscriptions: Record<string, { qos: QoS }> };

/** the bits of SessionRecord.flags */
const FLAG = {
  clean: 1,
  isSuperuser: 2,
  kicked: 4,
  banned: 8,
  takenOver: 16,
  keepaliveTimedOut: 32,
  announced: 64,
} as const;

export class SessionRecord implements ClientContext {
  /** '' until CONNECT */
  clientid = '';
  /** the boolean facts below, one bit each (see FLAG): one field instead of seven per connection */
  flags: number = FLAG.clean;
  username: string | null = null;
  protoName = 'MQTT';
  protoVer = 4;
  keepalive = 0;
  /** peer address: stored for persistent sessions, read from the socket on demand otherwise */
  ip: string | null = null;
  port: number | null = null;
  /** ms */
  expiryInterval = 0;
  createdAt = 0;
  connectedAt: number | null = null;
  disconnectedAt: number | null = null;
  /** the live connection, once registered as this session's (sessions.ts) */
  client: LiveClient | undefined = undefined;
  recvMsg = 0;
  sendMsg = 0;
  expiryTimer: NodeJS.Timeout | undefined = undefined;
  /** the ACL's decision cache for this connection (broker/access/acl.ts owns its shape) */
  aclCache: object | undefined = undefined;
  /** the CONNECT was refused (CONNACK code), or null, and why */
  refusedWith: number | null = null;
  refusedBecause: string | null = null;
  /** a clean session's QoS 1/2 deliveries awaiting acknowledgement, while message.acked is listened to */
  unacked: { cmd: string; topic: string; payload: Buffer | string; qos: 0 | 1 | 2; retain: boolean; clientId?: string }[] | undefined = undefined;
  /** how authentication let the client in (set by the authentication step) */
  authVia: 'clientid' | 'password' | 'anonymous' | null = null;
  /**
   * while the broker subscribes on the client's behalf (sessions.ts): why the chain refused each
   * refused entry, by topic (core/broker.ts fills it); null otherwise
   */
  subscribeRefusals: Map<string, string> | null = null;

  // the facts kept in `flags` (accessors defined below the class)
  declare clean: boolean;
  declare isSuperuser: boolean;
  /** closed by the management plane */
  declare kicked: boolean;
  /** closed because a ban matched it (reported as reason banned) */
  declare banned: boolean;
  /** closed because a new connection with the same client id arrived [MQTT-3.1.4-2] */
  declare takenOver: boolean;
  /** aedes reported a keepalive timeout for this connection */
  declare keepaliveTimedOut: boolean;
  /** client.connected was told for this connection (client.disconnected then repeats its facts) */
  declare announced: boolean;

  constructor(
    /** zone of the listener that accepted the connection */
    public zone: string,
    /** "<proto>:<name>" of that listener */
    public listener: string,
    /** the accepted connection (absent for a session restored from SQLite) */
    public connection?: LiveClient,
  ) {}

  /** copies what the CONNECT says about the client */
  fromConnect(info: ConnectInfo): void {
    this.clientid = info.clientid;
    this.username = info.username ?? null;
    this.clean = info.clean;
    // the parsed name is a string of its own per connection; the literal is one for all
    this.protoName = info.protoName === 'MQTT' ? 'MQTT' : info.protoName;
    this.protoVer = info.protoVer;
    this.keepalive = info.keepalive;
  }

  /** the peer address; read from the socket the first time (a syscall), then kept */
  address(): { ip: string | null; port: number | null } {
    const conn = this.client ?? this.connection;
    if (this.ip === null && conn) ({ ip: this.ip, port: this.port } = clientAddress(conn));
    return { ip: this.ip, port: this.port };
  }

  peerhost(): string | null {
    return this.address().ip;
  }

  // Both are read at SUBSCRIBE (the max_subscriptions check), where aedes makes the client's map
  // anyway; code that reads every connection's subscriptions uses core/internals' subscriptionsOf.
  subscriptionCount(): number {
    const subs = (this.client ?? this.connection)?.subscriptions;
    return subs ? Object.keys(subs).length : 0;
  }

  hasSubscription(topic: string): boolean {
    const subs = (this.client ?? this.connection)?.subscriptions;
    return subs !== undefined && topic in subs;
  }
}

// each FLAG name is a boolean property of every record, one bit of its `flags`
for (const [name, bit] of Object.entries(FLAG)) {
  Object.defineProperty(SessionRecord.prototype, name, {
    get(this: SessionRecord): boolean {
      return (this.flags & bit) !== 0;
    },
    set(this: SessionRecord, on: boolean) {
      this.flags = on ? this.flags | bit : this.flags & ~bit;
    },
    configurable: true,
  });
}

function clientAddress(client: Client): { ip: string | null; port: number | null } {
  // TCP/TLS sockets carry the peer address; for WebSocket the duplex does not, but the upgrade
  // request's socket does.
  const conn = client.conn as { remoteAddress?: string; remotePort?: number };
  if (conn.remoteAddress) return { ip: normalizeIp(conn.remoteAddress), port: conn.remotePort ?? null };
  const sock = client.req?.socket;
  if (sock?.remoteAddress) return { ip: normalizeIp(sock.remoteAddress), port: sock.remotePort ?? null };
  return { ip: null, port: null };
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
