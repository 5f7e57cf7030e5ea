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
