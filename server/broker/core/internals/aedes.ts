// Everything Tern relies on inside aedes beyond its documented options, in one place
// (test/unit/internals.test.ts pins each of these against the installed aedes), but for the
// per-connection Client Tern builds itself: aedes-client.ts (pinned by test/unit/aedes-client.test.ts).
import type { AedesPublishPacket, PublishPacket } from 'aedes';
import type { AedesBroker, Client } from '../aedes-types.ts';
import AedesPacket from 'aedes-packet';
import { hasLiveSubscriber as mqHasLiveSubscriber, mayHaveLiveSubscriberUnder as mqMayHaveLiveSubscriberUnder } from './mqemitter.ts';

/** Marks on a client's PUBLISH packet, read by the publish wrapper below. */
const ROUTED = Symbol('tern.routed');
const REFUSED = Symbol('tern.refused');
type MarkedPacket = PublishPacket & { [ROUTED]?: boolean; [REFUSED]?: boolean };
type PublishFn = (p: AedesPublishPacket, c: Client | null, done: (err?: Error) => void) => void;

export interface PublishControl {
  /** routes a client's packet now (from authorizePublish); aedes' own publish of it becomes a no-op */
  routeNow(packet: AedesPublishPacket, client: Client, done: (err?: Error | null) => void): void;
  /** aedes will acknowledge the packet as usual, and its publish becomes a no-op */
  markRefused(packet: PublishPacket): void;
}

/**
 * aedes calls broker.publish() for a client's PUBLISH after authorizePublish (and after the PUBACK
 * for QoS 1). A packet already routed in authorizePublish, or refused there, must not be routed:
 * publish() is wrapped once to skip marked packets.
 */
export function wrapPublish(aedes: AedesBroker): PublishControl {
  const original = aedes.publish.bind(aedes) as unknown as PublishFn;
  (aedes as { publish: unknown }).publish = function publish(
    packet: MarkedPacket,
    client: Client | null | ((err?: Error) => void),
    done?: (err?: Error) => void,
  ) {
    if (typeof client === 'function') return original(packet as AedesPublishPacket, null, client);
    if (packet[ROUTED] || packet[REFUSED]) return done?.();
    return original(packet as AedesPublishPacket, client, done ?? (() => {}));
  };
  return {
    routeNow(packet, client, done) {
      original(packet, client, (err?: Error) => {
        if (!err) (packet as MarkedPacket)[ROUTED] = true;
        done(err ?? null);
      });
    },
    markRefused(packet) {
      (packet as MarkedPacket)[REFUSED] = true;
    },
  };
}

/** Whether a live subscription (a connected client's, or the broker's own) matches the topic. */
export function hasLiveSubscriber(aedes: AedesBroker, topic: string): boolean {
  return mqHasLiveSubscriber((aedes as unknown as { mq: unknown }).mq, topic);
}

/** Whether a live subscription could match a topic below the levels `words` (false is exact: none can). */
export function mayHaveLiveSubscriberUnder(aedes: AedesBroker, words: readonly string[]): boolean {
  return mqMayHaveLiveSubscriberUnder((aedes as unknown as { mq: unknown }).mq, words);
}

/** aedes' client keeps its mqtt-packet parser as _parser. */
export function clientParser<T>(client: Client): T | undefined {
  return (client as unknown as { _parser?: T })._parser;
}

/** aedes sets _disconnected when the client ended with a DISCONNECT packet [MQTT-3.14.4-3]. */
export function sentDisconnect(client: Client): boolean {
  return (client as unknown as { _disconnected?: boolean })._disconnected === true;
}

// ---- routing and $SYS (test/unit/internals-routing.test.ts pins these) ------------------------

/** The topics aedes publishes under $SYS/<broker.id>/ itself (aedes.js, handlers/subscribe.js, unsubscribe.js). */
export const AEDES_SYS_TOPICS = ['heartbeat', 'birth', 'new/clients', 'disconnect/clients', 'new/subscribes', 'new/unsubscribes'] as const;

/**
 * Stops aedes publishing its own $SYS/<id>/... topics (Tern publishes EMQX's tree instead). aedes
 * reads one of them itself: its heartbeat, through the listener on $SYS/+/heartbeat, keeps
 * brokers[id] fresh, and the will sweep (every 4 heartbeats) publishes the wills of every broker
 * missing there, including this one's live clients. The suppressed heartbeat keeps it fresh
 * directly. new/clients and birth only act on other broker ids (a cluster): nothing to keep.
 */
export function suppressAedesSysTopics(aedes: AedesBroker): void {
  const a = aedes as unknown as { id: string; brokers: Record<string, number>; publish: PublishFn };
  const prefix = `$SYS/${a.id}/`;
  const own = new Set<string>(AEDES_SYS_TOPICS.map((t) => prefix + t));
  const heartbeat = prefix + 'heartbeat';
  const inner = a.publish;
  a.brokers[a.id] = Date.now();
  a.publish = function publish(packet: AedesPublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) {
    // '$' is 36: one comparison for every other publish
    if (packet.topic.charCodeAt(0) === 36 && own.has(packet.topic)) {
      if (packet.topic === heartbeat) a.brokers[a.id] = Date.now();
      const cb = typeof client === 'function' ? client : done;
      return cb?.();
    }
    return (inner as (...args: unknown[]) => void).call(aedes, packet, client, done);
  } as PublishFn;
}

/**
 * Takes the next packet identifier from the client's own sequence, as aedes' QoSPacket does
 * (lib/qos-packet.js: _nextId, 1..65535). A PUBLISH handed to deliverQoS with this messageId keeps
 * it, so the PUBACK that answers it can be matched to the message.
 */
export function takeMessageId(client: Client): number {
  const c = client as unknown as { _nextId: number };
  const id = c._nextId;
  c._nextId = id >= 65535 ? 1 : id + 1;
  return id;
}

const ACK_WATCHED = Symbol('tern.ackWatched');

/**
 * Calls `fn` with the packet identifier of each PUBACK, PUBREC and PUBCOMP the client sends, before
 * aedes handles it (a listener on the client's mqtt-packet parser). aedes reports acknowledgements
 * of clean sessions without the message ('ack' with undefined), so they are read here. Once per client.
 */
export function watchAcknowledgements(client: Client, fn: (client: Client, cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number) => void): void {
  const c = client as unknown as { [ACK_WATCHED]?: boolean };
  if (c[ACK_WATCHED]) return;
  const parser = clientParser<import('node:events').EventEmitter>(client);
  if (!parser) return;
  c[ACK_WATCHED] = true;
  parser.prependListener('packet', (packet: { cmd: string; messageId?: number }) => {
    const cmd = packet.cmd;
    if ((cmd === 'puback' || cmd === 'pubrec' || cmd === 'pubcomp') && packet.messageId !== undefined) fn(client, cmd, packet.messageId);
  });
}

type DeliverFn = (packet: AedesPublishPacket, done: () => void) => void;

/**
 * Hands a PUBLISH to one client as aedes' own subscriptions do (Client#deliver0 / #deliverQoS:
 * authorizeForward, the duplicate filter, the write), with `done` after the write. QoS 0
 * packets go through deliver0.
 */
export function deliverToClient(client: Client, packet: AedesPublishPacket, done: () => void): void {
  const c = client as unknown as { deliver0: DeliverFn; deliverQoS: DeliverFn };
  if (packet.qos === 0) c.deliver0(packet, done);
  else c.deliverQoS(packet, done);
}

/** A packet as aedes' own deliveries build it (aedes-packet), stamped with the given broker id and counter. */
export function makePacket(
  fields: { topic: string; payload: Buffer | string; qos: 0 | 1 | 2; retain: boolean; brokerId: string | null; brokerCounter: number },
  aedes: AedesBroker,
): AedesPublishPacket {
  const p = new (AedesPacket as unknown as new (o: object, b: unknown) => AedesPublishPacket)(
    { cmd: 'publish', topic: fields.topic, payload: fields.payload, qos: fields.qos, retain: fields.retain, dup: false, brokerCounter: fields.brokerCounter, brokerId: fields.brokerId ?? undefined },
    aedes,
  );
  // null: never filtered as a duplicate (aedes does this for retained messages sent on SUBSCRIBE)
  if (fields.brokerId === null) (p as { brokerId: string | null }).brokerId = null;
  return p;
}
