// Everything Tern relies on inside aedes beyond its documented options, in one place
// (test/unit/internals.test.ts pins each of these against the installed aedes).
import type { AedesPublishPacket, PublishPacket } from 'aedes';
import type { AedesBroker, Client } from '../aedes-types.ts';
import { hasLiveSubscriber as mqHasLiveSubscriber } from './mqemitter.ts';

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

/** aedes' client keeps its mqtt-packet parser as _parser. */
export function clientParser<T>(client: Client): T | undefined {
  return (client as unknown as { _parser?: T })._parser;
}

/**
 * Replaces aedes' CONNECT timer (_connectTimer, armed at accept with the broker-wide
 * connectTimeout) with one of the given length, when it differs.
 */
export function replaceConnectTimer(client: Client, ms: number, onTimeout: () => void): void {
  const c = client as unknown as { _connectTimer: NodeJS.Timeout | null; broker: { connectTimeout: number } };
  if (!c._connectTimer || c.broker.connectTimeout === ms) return;
  clearTimeout(c._connectTimer);
  c._connectTimer = setTimeout(onTimeout, ms);
}

/** aedes sets _disconnected when the client ended with a DISCONNECT packet [MQTT-3.14.4-3]. */
export function sentDisconnect(client: Client): boolean {
  return (client as unknown as { _disconnected?: boolean })._disconnected === true;
}
