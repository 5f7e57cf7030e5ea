// aedes' type declarations have gaps under --strict (no client.username, broker.clients,
// client.subscriptions, ...). They are filled here, once; the rest of Tern imports these.
import type { Aedes, Client, ConnectPacket } from 'aedes';
import type { QoS } from './types.ts';

export type { Aedes, Client, ConnectPacket };

/** What Tern remembers about a connection, from accept to close. */
export interface ConnState {
  /** zone of the listener that accepted the connection */
  zone: string;
  /** "<proto>:<name>" of that listener */
  listener: string;
  username: string | undefined;
  protoName: string;
  protoVer: number;
  keepalive: number;
  connectedAt: number | undefined;
  isSuperuser: boolean;
  recvMsg: number;
  sendMsg: number;
  /** closed by the management plane */
  kicked: boolean;
  /** closed because a new connection with the same client id arrived [MQTT-3.1.4-2] */
  takenOver: boolean;
}

/** The parts of an aedes client that exist at runtime but not in its .d.ts. */
export interface AedesClient extends Client {
  subscriptions: Record<string, { qos: QoS }>;
  tern?: ConnState;
}

export interface AedesBroker extends Aedes {
  clients: Record<string, AedesClient>;
}

export function connState(client: Client): ConnState | undefined {
  return (client as AedesClient).tern;
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
