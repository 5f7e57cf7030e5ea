// aedes' type declarations have gaps under --strict (no client.username, broker.clients,
// client.subscriptions, ...). They are filled here, once; the rest of Tern imports these.
import type { Aedes, Client, ConnectPacket } from 'aedes';
import type { QoS } from '../types.ts';

export type { Aedes, Client, ConnectPacket };

/**
 * What Tern remembers about a session and the connection holding it: one object per connection,
 * made at accept (client.tern), filled in at CONNECT, and kept in the session registry while the
 * session lives (online, or offline with clean_session=false). A resumed session gets the new
 * connection's object with the counters and creation time carried over. One object rather than a
 * connection state plus a session record: every live connection pays for each object it owns.
 */
export interface SessionRecord {
  /** '' until CONNECT */
  clientid: string;
  username: string | null;
  /** zone of the listener that accepted the connection */
  zone: string;
  /** "<proto>:<name>" of that listener */
  listener: string;
  clean: boolean;
  protoName: string;
  protoVer: number;
  keepalive: number;
  /** peer address: stored for persistent sessions, read from the socket on demand otherwise */
  ip: string | null;
  port: number | null;
  /** ms */
  expiryInterval: number;
  createdAt: number;
  connectedAt: number | null;
  disconnectedAt: number | null;
  /** the live connection, when connected */
  client: AedesClient | undefined;
  recvMsg: number;
  sendMsg: number;
  expiryTimer: NodeJS.Timeout | undefined;
  isSuperuser: boolean;
  /** closed by the management plane */
  kicked: boolean;
  /** closed because a new connection with the same client id arrived [MQTT-3.1.4-2] */
  takenOver: boolean;
}

/** A fresh record; listeners make one per accepted connection, the registry one per restored session. */
export function newSessionRecord(zone: string, listener: string): SessionRecord {
  return {
    clientid: '',
    username: null,
    zone,
    listener,
    clean: true,
    protoName: 'MQTT',
    protoVer: 4,
    keepalive: 0,
    ip: null,
    port: null,
    expiryInterval: 0,
    createdAt: 0,
    connectedAt: null,
    disconnectedAt: null,
    client: undefined,
    recvMsg: 0,
    sendMsg: 0,
    expiryTimer: undefined,
    isSuperuser: false,
    kicked: false,
    takenOver: false,
  };
}

/** The parts of an aedes client that exist at runtime but not in its .d.ts. */
export interface AedesClient extends Client {
  subscriptions: Record<string, { qos: QoS }>;
  tern?: SessionRecord;
}

export interface AedesBroker extends Aedes {
  clients: Record<string, AedesClient>;
}

export function asAedesClient(client: Client): AedesClient {
  return client as AedesClient;
}

export function clientAddress(client: Client): { ip: string | null; port: number | null } {
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

/** Whether a subscription of a connected client (or of the broker itself) matches the topic. */
export function hasLiveSubscriber(aedes: AedesBroker, topic: string): boolean {
  // mqemitter keeps its qlobber as _matcher; aedes subscribes every live subscription there.
  const mq = (aedes as unknown as { mq: { _matcher: { match(topic: string): unknown[] } } }).mq;
  return mq._matcher.match(topic).length > 0;
}
