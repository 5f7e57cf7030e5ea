// Assembles aedes with Tern's hook chain: this file is the one adapter between aedes' callback
// hooks and the chain's steps (hook-chain.ts). It holds no policy of its own: every decision is
// a step registered by the policy's module, in the order POLICY_ORDER declares.
import { randomUUID } from 'node:crypto';
// before aedes, which loads mqtt-packet: see the file
import './internals/mqtt-packet-debug.ts';
import { Aedes } from 'aedes';
import type { AedesPublishPacket, PublishPacket, Subscription } from 'aedes';
import type { ConfigSource } from '../../config/source.ts';
import type { Config } from '../../config/types.ts';
import type { Logger } from '../../logger.ts';
import type { EventBus } from '../events.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { QoS } from '../types.ts';
import { createMessageRouter } from './internals/mqemitter.ts';
import type { AedesBroker, AedesClient, Client, ConnectPacket } from './aedes-types.ts';
import type { ConnectInfo, ConnectRefusal, HookChain, MessagePacket, PublishRefusal } from './hook-chain.ts';
import { wrapPublish } from './internals/aedes.ts';
import { useLeanParserBuffers } from './internals/mqtt-packet.ts';
import { RoutingClock } from './routing-clock.ts';

export interface BrokerDeps {
  config: ConfigSource;
  chain: HookChain;
  logger: Logger;
  /** an aedes persistence; aedes' in-memory one when omitted */
  persistence?: unknown;
  events: EventBus;
  metrics: Metrics;
  /**
   * Whether to route a client's QoS 1 PUBLISH to this topic before its PUBACK is written. aedes
   * acknowledges first, so a crash between the two would lose an acknowledged message (stored for
   * a persistent subscriber, or an outbox row of a webhook). Routing first delays each PUBACK to
   * its own write, which costs throughput: answer true only when something will be stored.
   */
  routeBeforePuback: (topic: string) => boolean;
}

type AuthError = Error & { returnCode: number };

const MQ_CONCURRENCY = 100;

function authError(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

const payloadBuffer = (p: Buffer | string): Buffer => (Buffer.isBuffer(p) ? p : Buffer.from(p));

export async function createBroker(deps: BrokerDeps): Promise<AedesBroker> {
  const { chain, events, metrics } = deps;
  const log = deps.logger.child({ module: 'broker' });
  const initial = deps.config.get();
  // the events emitted per message, through their channels (no lookup by name per message)
  const publishCh = events.channel('message.publish');
  const deliveredCh = events.channel('message.delivered');
  const ackedCh = events.channel('message.acked');
  const clock = new RoutingClock();
  // before the first client's parser is made
  useLeanParserBuffers();

  const aedes = (await Aedes.createBroker({
    id: initial.node.name,
    persistence: deps.persistence,
    // aedes' default concurrency, with mqemitter's stack overflow fixed
    concurrency: MQ_CONCURRENCY,
    mq: createMessageRouter(MQ_CONCURRENCY),

    // the CONNECT wait of the external zone: only a client made without a wait of its own uses it
    // (each listener gives createClient its zone's idle_timeout)
    connectTimeout: initial.zones.external?.idle_timeout ?? 15_000,
    // aedes refuses topics deeper than this itself (and clamps it to 100); ours is a chain step
    maxTopicLevels: 100,
    // one value for all clients in aedes: the most generous zone's (0 = no limit)
    maxInflightInbound: maxAwaitingRel(initial),

    // The whole CONNECT chain runs here, where the packet is visible: checks, bans, then
    // authentication. A refusal with a CONNACK code 2..5 is answered in authenticate (the only
    // aedes hook that can pick it); code 1 is aedes' own answer to an unknown protocol level.
    preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) {
      const r = (client as AedesClient).tern;
      if (!r) return done(null, true);
      const info: ConnectInfo = {
        clientid: packet.clientId ?? '',
        username: packet.username,
        password: packet.password,
        clean: packet.clean !== false,
        keepalive: packet.keepalive ?? 0,
        protoName: packet.protocolId ?? 'MQTT',
        protoVer: packet.protocolVersion ?? 4,
      };
      r.fromConnect(info);
      // the session's queued messages delivered next are stored messages, perhaps queued for
      // other sessions too: not part of a routing
      clock.reset();
      if (events.has('client.connect')) events.emit('client.connect', connInfo(r));
      const verdict = chain.runConnect(r, info);
      // the usual verdicts (anonymous, allow-list) arrive synchronously: no promise, no closure
      if (verdict instanceof Promise) {
        verdict.then(
          (refusal) => settleConnect(refusal, r, packet, info, done),
          (err: Error) => settleConnect({ returnCode: 3, reason: err.message }, r, packet, info, done),
        );
      } else settleConnect(verdict, r, packet, info, done);
    },

    authenticate(client, _username, _password, done) {
      const r = (client as AedesClient).tern;
      const refusal = r && refusals.get(r);
      if (refusal) {
        refusals.delete(r);
        return done(refusal as never, false);
      }
      done(null, true);
    },

    authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) {
      const r = (client as AedesClient).tern;
      if (!r) return done(null, sub);
      // the retained messages delivered next are stored objects, delivered again at each subscribe
      clock.reset();
      if (events.has('client.subscribe')) {
        events.emit('client.subscribe', { clientid: r.clientid, username: r.username, topic: sub.topic, opts: { qos: sub.qos as QoS } });
      }
      const refuse = (reason: string | undefined) => {
        if (reason === undefined) return done(null, sub);
        log.info({ clientid: r.clientid, topic: sub.topic, reason }, 'subscription refused');
        r.subscribeRefusals?.set(sub.topic, reason);
        done(null, null); // SUBACK 0x80
      };
      const verdict = chain.runAuthorizeSubscribe(r, sub as Subscription & { qos: QoS });
      if (verdict instanceof Promise) verdict.then(refuse, () => refuse('a policy failed'));
      else refuse(verdict);
    },

    authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) {
      const r = client && (client as AedesClient).tern;
      if (!r) return done(null);
      // aedes stamps the publisher only after enqueueing for offline subscribers; stamp it first
      // so queued copies keep their from_clientid
      (packet as { clientId?: string }).clientId = r.clientid;
      const verdict = chain.runAuthorizePublish(r, packet as MessagePacket);
      // the usual verdict arrives synchronously: settled without a closure per PUBLISH
      if (verdict instanceof Promise) verdict.then((v) => settlePublish(v, packet, client, r, done), (err: Error) => done(err));
      else settlePublish(verdict, packet, client, r, done);
    },

    authorizeForward(client: Client, packet: AedesPublishPacket) {
      const r = (client as AedesClient).tern;
      if (!r) return packet;
      if (!chain.runAuthorizeForward(r, packet as MessagePacket)) return null;
      if (deliveredCh.has()) {
        // lent: the listeners read the fields (and the clock) from the packet, if at all
        const lent = deliveredCh.lend();
        deliveredCh.emit(lent ? lent.fill(packet as MessagePacket, null, r.clientid, r.username, clock) : receiverEvent(packet as MessagePacket, r.clientid, r.username, clock.of(packet.payload)));
      }
      // aedes keeps no in-flight copy for a clean session, so its 'ack' carries no packet: keep
      // the deliveries awaiting acknowledgement in send order, which is the order a client must
      // acknowledge them in [MQTT-4.6.0-2]
      if (packet.qos > 0 && r.clean && ackedCh.has()) (r.unacked ??= []).push(packet);
      return packet;
    },

    published(packet: AedesPublishPacket, client: Client | null, done: (err?: Error | null) => void) {
      const r = client ? ((client as AedesClient).tern ?? null) : null;
      if (publishCh.has()) {
        const lent = publishCh.lend();
        const fromUsername = r?.username ?? null;
        publishCh.emit(lent ? lent.fill(packet as MessagePacket, fromUsername, '', null, clock) : publishEvent(packet as MessagePacket, fromUsername, clock.of(packet.payload)));
      }
      clock.reset();
      const out = chain.runPublished(packet as MessagePacket, r);
      if (out instanceof Promise) out.then(() => done(), done);
      else done();
    },
  })) as AedesBroker;

  // CONNECT refusals decided in preConnect, answered in authenticate
  const refusals = new WeakMap<object, AuthError>();
  const publish = wrapPublish(aedes);

  // aedes writes every CONNACK, refusals included, through the same path
  aedes.on('connackSent', (connack: { returnCode?: number }, client: Client) => {
    const r = (client as AedesClient).tern;
    if (!r || !events.has('client.connack')) return;
    const code = connack.returnCode ?? 0;
    events.emit('client.connack', { ...connInfo(r), conn_ack: code, reason: code === 0 ? null : (r.refusedBecause ?? null) });
  });
  aedes.on('keepaliveTimeout', (client: Client) => {
    const r = (client as AedesClient).tern;
    if (r) r.keepaliveTimedOut = true;
  });
  // 'ack' (PUBACK and PUBCOMP, with the acknowledged PUBLISH) is missing from aedes' typings
  (aedes as unknown as import('node:events').EventEmitter).on('ack', (stored: AedesPublishPacket | undefined, client: Client) => {
    const r = (client as AedesClient).tern;
    const packet = stored ?? (r?.clean ? r.unacked?.shift() : undefined);
    if (!packet || packet.cmd !== 'publish' || !ackedCh.has()) return;
    ackedCh.emit(receiverEvent(packet as MessagePacket, client.id, r?.username ?? null, Date.now()));
  });
  aedes.on('clientError', (client, err) => log.debug({ clientid: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));

  // the two zone values aedes keeps as options of its own: a reload sets them on the instance,
  // where aedes reads them per connection / per QoS 2 PUBLISH
  const unsubscribe = deps.config.onChange(({ keys, current }) => {
    if (!keys.some((k) => k.startsWith('zones.'))) return;
    const options = aedes as unknown as { connectTimeout: number; maxInflightInbound: number };
    options.connectTimeout = current.zones.external?.idle_timeout ?? 15_000;
    options.maxInflightInbound = maxAwaitingRel(current);
  });
  aedes.once('closed', unsubscribe);
  return aedes;

  /**
   * answers aedes' preConnect once the chain's verdict is known (a function of the broker, not a
   * closure made per CONNECT: under tsx's keepNames each one costs a defineProperty as well)
   */
  function settleConnect(
    refusal: ConnectRefusal | undefined,
    r: NonNullable<AedesClient['tern']>,
    packet: ConnectPacket,
    info: ConnectInfo,
    done: (err: Error | null, ok: boolean) => void,
  ): void {
    if (!refusal) {
      // aedes would name a clean client without an id after this hook; name it now so the
      // session record and every event carry the id the client has [MQTT-3.1.3-6]
      if (!packet.clientId) r.clientid = packet.clientId = 'aedes_' + randomUUID();
      return done(null, true);
    }
    if (refusal.close) {
      log.warn({ clientid: info.clientid, reason: refusal.reason }, 'malformed CONNECT, connection closed');
      return done(new Error(refusal.reason), false);
    }
    log.info({ clientid: info.clientid, returnCode: refusal.returnCode, reason: refusal.reason }, 'CONNECT refused');
    r.refusedWith = refusal.returnCode;
    r.refusedBecause = refusal.reason;
    // aedes answers CONNACK 1 itself for a level outside 3..4; steer it there
    if (refusal.returnCode === 1) packet.protocolVersion = 0 as ConnectPacket['protocolVersion'];
    else refusals.set(r, authError(refusal.returnCode, refusal.reason));
    done(null, true);
  }

  /** answers aedes' authorizePublish once the chain's verdict is known */
  function settlePublish(
    refusal: PublishRefusal | undefined,
    packet: PublishPacket,
    client: Client,
    r: NonNullable<AedesClient['tern']>,
    done: (err?: Error | null) => void,
  ): void {
    if (refusal === undefined) {
      if (packet.qos === 1 && (packet.retain || deps.routeBeforePuback(packet.topic))) {
        // aedes' routing awaits every persistent subscriber's enqueue (and the published
        // steps), which resolve at the commit: the PUBACK leaves once the copies are on disk.
        // A retained message is stored by the routing too: routed first, a SUBSCRIBE sent
        // after its PUBACK finds it (as in EMQX; aedes would acknowledge first and store later).
        return publish.routeNow(packet as AedesPublishPacket, client, done);
      }
      return done(null);
    }
    if ('disconnect' in refusal) {
      log.info({ clientid: r.clientid, topic: packet.topic, reason: refusal.disconnect }, 'PUBLISH refused, connection closed');
      return done(new Error(refusal.disconnect));
    }
    // acknowledged as usual and dropped, as EMQX does
    publish.markRefused(packet);
    metrics['messages.dropped']++;
    if (refusal.drop === 'not_authorized') metrics['messages.dropped.not_authorized']++;
    if (events.has('message.dropped')) {
      events.emit('message.dropped', {
        ...messageInfo(packet as MessagePacket, r.username),
        reason: refusal.drop,
        clientid: null,
      });
    }
    done(null);
  }

  function connInfo(r: NonNullable<AedesClient['tern']>) {
    return {
      clientid: r.clientid,
      username: r.username,
      ipaddress: r.peerhost(),
      keepalive: r.keepalive,
      proto_name: r.protoName,
      proto_ver: r.protoVer,
      clean_start: r.clean,
      zone: r.zone,
      listener: r.listener,
    };
  }
}

// The per-message payloads are built as one literal each, with the bus's id and ts among their
// fields: a spread copy, or the bus adding a property to the object afterwards (a shape change),
// cost more than the rest of a listened message.delivered (cpu-prof of the bus-counter bench).

/** message.publish */
function publishEvent(packet: MessagePacket, fromUsername: string | null, ts: number) {
  return {
    id: '',
    ts,
    topic: packet.topic,
    qos: packet.qos,
    retain: packet.retain ?? false,
    payload: payloadBuffer(packet.payload),
    from_clientid: packet.clientId ?? null,
    from_username: fromUsername,
  };
}

/** message.delivered and message.acked: clientid/username are the receiver's */
function receiverEvent(packet: MessagePacket, clientid: string, username: string | null, ts: number) {
  return {
    id: '',
    ts,
    topic: packet.topic,
    qos: packet.qos,
    retain: packet.retain ?? false,
    payload: payloadBuffer(packet.payload),
    from_clientid: packet.clientId ?? null,
    from_username: null,
    clientid,
    username,
  };
}

function messageInfo(packet: MessagePacket, fromUsername: string | null) {
  return {
    topic: packet.topic,
    qos: packet.qos,
    retain: packet.retain ?? false,
    payload: payloadBuffer(packet.payload),
    from_clientid: packet.clientId ?? null,
    from_username: fromUsername,
    ts: Date.now(),
  };
}

function maxAwaitingRel(config: Config): number {
  const values = Object.values(config.zones).map((z) => z.max_awaiting_rel);
  return values.includes(0) ? 0 : Math.max(...values);
}
