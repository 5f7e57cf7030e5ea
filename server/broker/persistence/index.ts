// Tern's aedes persistence. Give the result to aedes as `persistence`:
//
//   const persistence = createPersistence({ mode: 'sqlite', db: store.sqlite, policy, logger });
//   const broker = await Aedes.createBroker({ persistence });   // runs persistence.setup(broker)
//   ...
//   await new Promise((r) => broker.close(r));
//   await persistence.destroy();                               // commits the last batch
//
// memory: everything in memory, lost on exit. sqlite: the same memory indexes, every mutation also
// written to SQLite in one transaction per batch (sqlite.ts: ~1 ms after its first mutation); a
// mutation's promise resolves after its transaction committed, except a delivery's and an ack's
// (outgoingUpdate, outgoingClearMessageId: see there).
// setup() loads the whole state back. The db handle stays the caller's.
//
// Notes for the broker:
// - aedes sends PUBACK for an inbound QoS 1 PUBLISH *before* routing it (lib/handlers/publish.js),
//   so only QoS 2 (PUBREC after incomingStorePacket and enqueueOffline) is acknowledged after the
//   message is durable.
// - aedes stamps packet.clientId (the publisher) in emitPacket, after storeRetained and
//   enqueueOffline, so the broker must set it earlier for queued and retained messages to keep
//   from_clientid: authorizePublish does `packet.clientId = client.id`, which aedes-packet copies
//   (test/integration/from-clientid.test.ts). Wills carry their owner's id already.
// - QoS 0 publishes never reach enqueueOffline: for offline sessions call
//   `outgoingEnqueueCombi(await subscriptionsByTopic(topic), packet)` with the aedes packet; entries
//   are kept only for clients the policy reports offline with storeQos0.
import { Persistence, DEFAULT_POLICY } from './persistence.ts';
import type { PersistenceOptions, TernPersistence } from './types.ts';

export type * from './types.ts';
export { DEFAULT_POLICY };

export function createPersistence(opts: PersistenceOptions): TernPersistence {
  return new Persistence(opts);
}
