// Assembles aedes with Tern's policies: CONNECT checks, per-zone authentication, and the
// per-connection state (zone, username) that aedes itself does not keep.
import { Aedes } from 'aedes';
import type { Config } from '../../config/types.ts';
import type { Logger } from '../../logger.ts';
import type { AuthResult, AuthService } from '../types.ts';
import { checkConnect } from '../protocol/connect-check.ts';
import { subscriptionProblem, publishProblem } from '../protocol/limits.ts';
import { createMessageRouter } from './mq.ts';
import type { AedesBroker, AedesClient, Client, ConnectPacket } from './aedes-types.ts';
import type { EventBus } from '../events.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { AedesPublishPacket, PublishPacket, Subscription } from 'aedes';

export interface BrokerDeps {
  config: () => Config;
  auth: AuthService;
  logger: Logger;
  /** an aedes persistence; aedes' in-memory one when omitted */
  persistence?: unknown;
  /** extra aedes options (hooks added by other broker modules) */
  hooks?: Partial<Pick<import('aedes').AedesOptions, 'authorizeForward' | 'published'>>;
  events: EventBus;
  metrics: Metrics;
  /**
   * Whether to route a client's QoS 1 PUBLISH to this topic (into the persistence) before its
   * PUBACK is written. aedes acknowledges first, so a crash between the two would lose an
   * acknowledged message. Routing first delays each PUBACK to its own write, which costs
   * throughput: answer true only when the message will be stored.
   */
  routeBeforePuback: (topic: string) => boolean;
}

/** Marks on a client's PUBLISH packet, read by the publish wrapper below. */
const ROUTED = Symbol('tern.routed');
const REFUSED = Symbol('tern.refused');
type MarkedPacket = PublishPacket & { [ROUTED]?: boolean; [REFUSED]?: boolean };

type AuthError = Error & { returnCode: number };

const MQ_CONCURRENCY = 100;

function authError(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

export async function createBroker(deps: BrokerDeps): Promise<AedesBroker> {
  const { auth, logger } = deps;
  const log = logger.child({ module: 'broker' });
  // The CONNECT verdicts that must become a CONNACK 2 are decided in preConnect (where the
  // packet is visible) and answered in authenticate (the only hook that can pick CONNACK 2..5).
  const rejectWith = new WeakMap<Client, AuthError>();

  const aedes = (await Aedes.createBroker({
    id: deps.config().node.name,
    persistence: deps.persistence,
    // aedes' default concurrency, with mqemitter's stack overflow fixed
    concurrency: MQ_CONCURRENCY,
    mq: createMessageRouter(MQ_CONCURRENCY),
    ...deps.hooks,

    // the CONNECT wait of the external zone; listeners of other zones replace it per connection
    connectTimeout: deps.config().zones.external?.idle_timeout ?? 15_000,
    // aedes refuses topics deeper than this itself (and clamps it to 100); ours is checked below
    maxTopicLevels: 100,
    // one value for all clients in aedes: the most generous zone's (0 = no limit)
    maxInflightInbound: maxAwaitingRel(deps.config()),

    authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) {
      const config = deps.config();
      const zone = config.zones[(client as AedesClient).tern?.zone ?? 'external'] ?? config.zones.external!;
      const problem = subscriptionProblem(client, sub, config, zone);
      if (!problem) return done(null, sub);
      log.info({ clientid: client.id, topic: sub.topic, reason: problem }, 'subscription refused');
      done(null, null); // SUBACK 0x80
    },

    authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) {
      const marked = packet as MarkedPacket;
      if (client) {
        const problem = publishProblem(packet, deps.config().mqtt);
        if (problem) {
          log.info({ clientid: client.id, topic: packet.topic, reason: problem }, 'PUBLISH refused, connection closed');
          return done(new Error(problem));
        }
      }
      if (client && packet.topic.startsWith('$SYS/')) {
        // [MQTT-3.3.5-2] acknowledge as usual and drop, as EMQX does, instead of disconnecting.
        marked[REFUSED] = true;
        deps.metrics['messages.dropped']++;
        deps.metrics['messages.dropped.not_authorized']++;
        if (deps.events.has('message.dropped')) {
          deps.events.emit('message.dropped', {
            reason: 'not_authorized',
            clientid: null,
            topic: packet.topic,
            qos: packet.qos,
            retain: packet.retain ?? false,
            payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
            from_clientid: client.id,
            from_username: (client as AedesClient).tern?.username ?? null,
            ts: Date.now(),
          });
        }
        return done(null);
      }
      if (client && packet.qos === 1 && (packet.retain || deps.routeBeforePuback(packet.topic))) {
        // aedes' routing awaits outgoingEnqueueCombi for every persistent subscriber, online or
        // not, and that resolves at the commit: the PUBACK leaves once the copies are on disk.
        // A retained message is stored by the routing too: routed first, a SUBSCRIBE sent after
        // its PUBACK finds it (as in EMQX; aedes would acknowledge first and store later).
        return originalPublish(packet as AedesPublishPacket, client, (err?: Error) => {
          if (!err) marked[ROUTED] = true;
          done(err ?? null);
        });
      }
      done(null);
    },

    preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) {
      const verdict = checkConnect(packet, { maxClientIdLen: deps.config().mqtt.max_clientid_len });
      const state = (client as AedesClient).tern;
      if (state) {
        state.protoName = packet.protocolId ?? 'MQTT';
        state.protoVer = packet.protocolVersion ?? 4;
        state.keepalive = packet.keepalive ?? 0;
        state.username = packet.username ?? null;
      }
      if (verdict.action === 'close') {
        log.warn({ clientid: packet.clientId, reason: verdict.reason }, 'malformed CONNECT, connection closed');
        return done(new Error(verdict.reason), false);
      }
      if (verdict.action === 'connack') {
        log.info({ clientid: packet.clientId, returnCode: verdict.returnCode, reason: verdict.reason }, 'CONNECT refused');
        if (verdict.returnCode === 1) {
          // aedes answers CONNACK 1 itself for a level outside 3..4; steer it there.
          packet.protocolVersion = 0 as ConnectPacket['protocolVersion'];
        } else {
          rejectWith.set(client, authError(verdict.returnCode, verdict.reason));
        }
      }
      done(null, true);
    },

    authenticate(client, username, password, done) {
      const rejection = rejectWith.get(client);
      if (rejection) return done(rejection as never, false);
      const zone = (client as AedesClient).tern?.zone ?? 'external';
      let verdict: AuthResult | Promise<AuthResult>;
      try {
        verdict = auth.authenticate({ zone, clientId: client.id, username, password });
      } catch (err) {
        return authFailed(client, err as Error, done);
      }
      // the usual verdicts (anonymous, allow-list) arrive synchronously: no promise, no closure
      if (!(verdict instanceof Promise)) return settleAuth(client, username, verdict, done);
      verdict.then(
        (result) => settleAuth(client, username, result, done),
        (err: Error) => authFailed(client, err, done),
      );
    },
  })) as AedesBroker;

  type AuthDone = Parameters<NonNullable<import('aedes').AedesOptions['authenticate']>>[3];
  function settleAuth(client: Client, username: string | undefined, result: AuthResult, done: AuthDone): void {
    if (result.ok) {
      const state = (client as AedesClient).tern;
      if (state) state.isSuperuser = result.isSuperuser;
      // aedes is about to close the live connection with this id [MQTT-3.1.4-2]; mark it so
      // the session layer reads its disconnect as a takeover, not a departure.
      const old = aedes.clients[client.id];
      if (old && old !== client && old.tern) old.tern.takenOver = true;
      return done(null, true);
    }
    log.info({ clientid: client.id, username, returnCode: result.returnCode }, 'authentication failed');
    done(authError(result.returnCode, result.returnCode === 4 ? 'bad user name or password' : 'not authorized') as never, false);
  }
  function authFailed(client: Client, err: Error, done: AuthDone): void {
    log.error({ err, clientid: client.id }, 'authentication error');
    done(authError(3, 'server unavailable') as never, false);
  }

  // aedes calls publish() after PUBACK for QoS 1; a packet already routed in authorizePublish (or
  // refused there) must not be routed again.
  const originalPublish = aedes.publish.bind(aedes) as unknown as (p: AedesPublishPacket, c: Client | null, done: (err?: Error) => void) => void;
  (aedes as { publish: unknown }).publish = function publish(
    packet: MarkedPacket,
    client: Client | null | ((err?: Error) => void),
    done?: (err?: Error) => void,
  ) {
    if (typeof client === 'function') return originalPublish(packet as AedesPublishPacket, null, client);
    if (packet[ROUTED] || packet[REFUSED]) return done?.();
    return originalPublish(packet as AedesPublishPacket, client, done ?? (() => {}));
  };

  aedes.on('clientError', (client, err) => log.debug({ clientid: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));
  return aedes;
}

function maxAwaitingRel(config: Config): number {
  const values = Object.values(config.zones).map((z) => z.max_awaiting_rel);
  return values.includes(0) ? 0 : Math.max(...values);
}
