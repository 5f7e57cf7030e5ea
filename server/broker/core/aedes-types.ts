// aedes' type declarations have gaps under --strict (no client.username, broker.clients,
// client.subscriptions, ...). They are filled here, once; the rest of Tern imports these.
import type { Aedes, Client, ConnectPacket } from 'aedes';
import type { QoS } from '../types.ts';
import type { SessionRecord } from '../session/session-record.ts';

export type { Aedes, Client, ConnectPacket };
export type { SessionRecord };

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
