// Shared subscriptions: `$share/<group>/<filter>` and `$queue/<filter>` (group "$queue"). aedes has
// none: it grants `$share/g/t` and stores it as a literal filter that no real topic matches. That
// literal stays (it lists, persists and restores with the session like any subscription, and
// matches nothing), and this module keeps the groups beside it:
//
// - membership comes from the hook chain: an accepted SUBSCRIBE entry (also when aedes restores a
//   persistent session's subscriptions, and for subscriptions made by the broker) joins the group;
//   UNSUBSCRIBE, a clean client's disconnect and the end of a persistent session leave it.
// - each group holds one listener on the real filter in aedes' message router; it picks one
//   member per message (strategies.ts) and hands the message to that member alone.
// - connected members are preferred; an offline persistent member gets a share (into its queue)
//   only when no member is connected.
// - QoS 1/2 shares to a clean member are tracked until their PUBACK/PUBREC; when its connection
//   ends, the unacknowledged ones go to the remaining members at once.
// - a persistent member's shares live in its store (queued, or in flight and unacknowledged). While
//   it is offline they are "held": the store is read when its connection ends and at start-up
//   (shares from before a restart, kill -9 included, are in the SQLite file), and the next member
//   that connects takes them (each one taken out of the store first, so it is sent once). When
//   the member itself comes back first, aedes resends them to it. When its session ends (expiry,
//   kick, a clean CONNECT) they go to the remaining members, or count as dropped no_subscribers
//   when no member is left. A message is lost only when no member is left at all.
//
// Every share is a fresh packet stamped with this module's own broker id and counter: aedes'
// per-client duplicate filter (brokerId, brokerCounter) would otherwise drop a share that travels
// beside a plain subscription's copy of the same message, or a redispatched one. The id carries
// the start time: stored shares keep their (id, counter), and a counter that restarts at 0 after
// a restart must not meet them in a member's store; the common prefix tells shares of any run.
import type { AedesPublishPacket } from 'aedes';
import type { ConfigSource } from '../../config/source.ts';
import type { SharedStrategy } from '../../config/types.ts';
import type { Logger } from '../../logger.ts';
import type { AedesBroker, AedesClient, Client } from '../core/aedes-types.ts';
import type { HookChain } from '../core/hook-chain.ts';
import { deliverToClient, makePacket, takeMessageId, watchAcknowledgements } from '../core/internals/aedes.ts';
import type { EventBus } from '../events.ts';
import type { TernPersistence } from '../persistence/types.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { QoS } from '../types.ts';
import { pickMember, type PickState } from './strategies.ts';
import { parseShared, topicMatches } from '../topic.ts';

interface Member {
  readonly clientId: string;
  qos: QoS;
  /** the full `$share/...` topic this member subscribed with (the persistence keys by it) */
  topic: string;
  /** clean_session = false: may receive while offline */
  durable: boolean;
  /** its connection when last seen live (checked before use: closed, or taken over) */
  client: AedesClient | undefined;
  dispatched: number;
  acked: number;
}

interface Group {
  readonly name: string;
  readonly filter: string;
  readonly key: string;
  /** join order: strategies read it (sticky picks the longest-standing) */
  readonly members: Map<string, Member>;
  readonly pick: PickState;
  dispatched: number;
  acked: number;
  redispatched: number;
  dropped: number;
  /** [MQTT-4.7.2-1] a filter starting with a wildcard does not match '$' topics */
  readonly wildcardFirst: boolean;
  readonly listener: (packet: AedesPublishPacket, done: () => void) => void;
  removed: boolean;
  /** the strategy, read from `strategyOf` once per config value (a reload swaps the object) */
  strategy: SharedStrategy;
  strategyFrom: object | undefined;
}

/** A share in an offline persistent member's store (queued, or in flight from an ended connection). */
interface Held {
  group: Group;
  /** the share as stored: what a redispatch sends on */
  message: AedesPublishPacket;
  brokerId: string;
  brokerCounter: number;
  /** set when it was in flight: the store finds in-flight entries by packet identifier */
  messageId: number | undefined;
}

/** shares held per offline member, beyond which the oldest are left where they are */
const MAX_HELD = 10_000;

/** A QoS 1/2 share sent and not acknowledged yet. */
interface InFlight {
  group: Group;
  member: Member;
  /** the message as routed (the share's source) */
  message: AedesPublishPacket;
  qos: QoS;
}

export interface SharedGroupInfo {
  group: string;
  /** the real filter */
  topic: string;
  strategy: SharedStrategy;
  members: { clientid: string; qos: QoS; connected: boolean; dispatched: number; acked: number; inflight: number }[];
  dispatched: number;
  acked: number;
  redispatched: number;
  dropped: number;
}

export interface SharedSubscriptions {
  attach(aedes: AedesBroker, persistence: TernPersistence): void;
  /** the groups and their counters, by group then filter */
  groups(): SharedGroupInfo[];
  /** whether a group with an offline-capable (persistent) member matches: its QoS 1 PUBACK must wait for the store */
  hasDurableMember(topic: string): boolean;
  /**
   * A persistent session is about to end (expiry, kick): called before its store is deleted, so
   * its held shares go to the remaining members (sessions.onEnding).
   */
  sessionEnding(clientId: string): void;
}

export interface SharedSubscriptionDeps {
  config: ConfigSource;
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
}

const noop = () => {};
const SHARE_NAME_REFUSED = { drop: 'not_authorized', reason: 'a shared subscription name is not a topic' } as const;

export function registerSharedSubscriptions(chain: HookChain, deps: SharedSubscriptionDeps): SharedSubscriptions {
  const { events, metrics } = deps;
  const log = deps.logger.child({ module: 'shared-subscriptions' });
  const groups = new Map<string, Group>();
  const byClient = new Map<string, Set<Group>>();
  const inflight = new Map<string, Map<number, InFlight>>();
  /** shares in offline members' stores, to hand them over when a member connects */
  const held = new Map<string, Held[]>();
  /** members with durable = true, to answer hasDurableMember without a walk when there are none */
  let durableMembers = 0;
  let aedes: AedesBroker | undefined;
  let persistence: TernPersistence | undefined;
  /** the broker id of shares, and their counter (see the file comment) */
  let shareBrokerId = 'tern-share';
  let sharePrefix = 'tern-share';
  let shareCounter = 0;
  const scratch: Member[] = [];

  const strategyOf = (group: string): SharedStrategy => {
    const b = deps.config.get().broker;
    return Object.hasOwn(b.group_strategies, group) ? b.group_strategies[group]! : b.shared_subscription_strategy;
  };
  const groupStrategy = (g: Group): SharedStrategy => {
    const config = deps.config.get();
    if (g.strategyFrom !== config) {
      g.strategy = strategyOf(g.name);
      g.strategyFrom = config;
    }
    return g.strategy;
  };

  // registered (authenticated) and not closing; aedes delivers to restored subscriptions from
  // that point too, and the CONNACK is written before any of it
  const liveClient = (clientId: string): AedesClient | undefined => {
    const c = aedes?.clients[clientId];
    return c && !c.closed ? c : undefined;
  };
  const memberClient = (m: Member): AedesClient | undefined => {
    const c = m.client;
    if (c && !c.closed) return c;
    return (m.client = liveClient(m.clientId));
  };

  function join(clientId: string, clean: boolean, topic: string, group: string, filter: string, qos: QoS): void {
    const key = group + '\u0000' + filter;
    let g = groups.get(key);
    if (!g) {
      const created: Group = {
        name: group,
        filter,
        key,
        members: new Map(),
        pick: { next: 0, sticky: undefined },
        dispatched: 0,
        acked: 0,
        redispatched: 0,
        dropped: 0,
        wildcardFirst: filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35,
        removed: false,
        strategy: 'random',
        strategyFrom: undefined,
        listener: (packet, done) => onMessage(created, packet, done),
      };
      g = created;
      groups.set(key, g);
      aedes?.subscribe(filter, g.listener, noop);
    }
    const existing = g.members.get(clientId);
    if (existing) {
      existing.qos = qos;
      existing.topic = topic;
      existing.client = liveClient(clientId);
      if (existing.durable !== !clean) durableMembers += clean ? -1 : 1;
      existing.durable = !clean;
      joinedLive(clientId, g);
      return;
    }
    g.members.set(clientId, { clientId, qos, topic, durable: !clean, client: liveClient(clientId), dispatched: 0, acked: 0 });
    let set = byClient.get(clientId);
    if (!set) byClient.set(clientId, (set = new Set()));
    set.add(g);
    if (!clean) durableMembers++;
    joinedLive(clientId, g);
  }

  /**
   * A connected member (a SUBSCRIBE, or a persistent session's restore at CONNECT): its own held
   * shares are about to be flushed to it by aedes, and the shares held for offline members of the
   * group come to the connected ones, after the SUBACK.
   */
  function joinedLive(clientId: string, g: Group): void {
    if (!liveClient(clientId)) return;
    held.delete(clientId);
    if (held.size > 0) setImmediate(() => handOver(g));
  }

  function handOver(g: Group): void {
    if (g.removed || !persistence) return;
    for (const [offlineId, list] of held) {
      if (liveClient(offlineId)) continue;
      const mine = list.filter((h) => h.group === g);
      if (mine.length === 0) continue;
      const rest = list.filter((h) => h.group !== g);
      if (rest.length > 0) held.set(offlineId, rest);
      else held.delete(offlineId);
      for (const h of mine) redispatchHeld(offlineId, h);
    }
  }

  /**
   * Takes a held share out of its member's store and sends it to another member. Only what is
   * still there moves (not delivered since, nor dropped by the queue's cap): the store's removal
   * is what makes it sent once.
   */
  function redispatchHeld(fromId: string, h: Held): Promise<void> {
    const store = persistence!;
    const key = h.messageId !== undefined ? { messageId: h.messageId } : { brokerId: h.brokerId, brokerCounter: h.brokerCounter };
    return store.outgoingClearMessageId({ id: fromId }, key).then((taken) => {
      if (!taken || taken.cmd !== 'publish') return;
      const p = taken as { brokerId?: string; brokerCounter?: number };
      if (p.brokerId !== h.brokerId || p.brokerCounter !== h.brokerCounter) {
        // another in-flight entry with the same packet identifier (aedes restarts them per
        // connection): it goes back to the member's queue, resent when it returns
        const member = h.group.members.get(fromId);
        void store.outgoingEnqueue({ clientId: fromId, topic: member?.topic, qos: taken.qos }, taken as AedesPublishPacket).catch(noop);
        return;
      }
      h.group.redispatched++;
      if (h.group.removed || !dispatch(h.group, h.message, fromId, noop)) drop(h.group, h.message);
    }, noop);
  }

  /** The member's group whose filter matches the topic (the first, if several do). */
  function groupOf(clientId: string, topic: string): Group | undefined {
    const set = byClient.get(clientId);
    if (!set) return undefined;
    for (const g of set) if (topicMatches(g.filter, topic)) return g;
    return undefined;
  }

  /** The shares in a member's store (of this run or an earlier one), with their groups. */
  function sharesInStore(clientId: string): Held[] {
    const list: Held[] = [];
    if (!persistence) return list;
    for (const p of persistence.outgoingPublishes(clientId)) {
      if (typeof p.brokerId !== 'string' || !p.brokerId.startsWith(sharePrefix)) continue;
      const g = groupOf(clientId, p.topic);
      if (!g) continue; // it left that group: the share stays with it
      list.push({ group: g, message: p as AedesPublishPacket, brokerId: p.brokerId, brokerCounter: p.brokerCounter ?? 0, messageId: p.messageId });
      if (list.length > MAX_HELD) list.shift();
    }
    return list;
  }

  /** An offline persistent member's shares are held; those of groups with a connected member go to it. */
  function holdStored(clientId: string): void {
    if (liveClient(clientId)) return;
    const list = sharesInStore(clientId);
    if (list.length === 0) return void held.delete(clientId);
    held.set(clientId, list);
    for (const g of new Set(list.map((h) => h.group))) if (hasLiveMember(g, clientId)) handOver(g);
  }

  function hasLiveMember(g: Group, except: string): boolean {
    for (const m of g.members.values()) if (m.clientId !== except && memberClient(m)) return true;
    return false;
  }

  /**
   * A persistent session ends (expiry, kick, a clean CONNECT): its shares go to the members that
   * remain, taken out of its store before the store forgets them (synchronously: a discard's new
   * connection drains the old queue right after).
   */
  function sessionEnding(clientId: string): void {
    const list = sharesInStore(clientId);
    held.delete(clientId);
    leaveAll(clientId);
    for (const h of list) void redispatchHeld(clientId, h);
  }

  function leave(clientId: string, g: Group): void {
    const m = g.members.get(clientId);
    if (!m) return;
    g.members.delete(clientId);
    if (g.pick.sticky === clientId) g.pick.sticky = undefined;
    if (m.durable) durableMembers--;
    const set = byClient.get(clientId);
    set?.delete(g);
    if (set && set.size === 0) byClient.delete(clientId);
    // what waits in its store stays there (it left the group, its session did not end)
    const mine = held.get(clientId);
    if (mine) {
      const rest = mine.filter((h) => h.group !== g);
      if (rest.length > 0) held.set(clientId, rest);
      else held.delete(clientId);
    }
    if (g.members.size === 0) {
      g.removed = true;
      groups.delete(g.key);
      aedes?.unsubscribe(g.filter, g.listener, noop);
    }
  }

  function leaveAll(clientId: string): void {
    const set = byClient.get(clientId);
    if (!set) return;
    for (const g of [...set]) leave(clientId, g);
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  function onMessage(g: Group, packet: AedesPublishPacket, done: () => void): void {
    if (g.removed || (g.wildcardFirst && packet.topic.charCodeAt(0) === 36)) return done();
    // Every member may have just closed without having left yet (its clientDisconnect is still to
    // come): nobody takes it, and mqemitter must still be told, or the slot it holds for this
    // message is never released and, once all are held, the broker routes nothing at all.
    if (!dispatch(g, packet, null, done)) {
      drop(g, packet);
      done();
    }
  }

  /**
   * Hands the message to one member: a connected one if any (other than `except`), else an
   * offline persistent one; `done` follows the member's write (or its queue's commit).
   * Returns false when no member could take it.
   */
  function dispatch(g: Group, packet: AedesPublishPacket, except: string | null, done: () => void): boolean {
    scratch.length = 0;
    for (const m of g.members.values()) if (m.clientId !== except && memberClient(m)) scratch.push(m);
    const strategy = groupStrategy(g);
    const publisher = (packet as { clientId?: string }).clientId ?? null;
    if (scratch.length > 0) {
      const m = scratch[pickMember(strategy, scratch, scratch.length, g.pick, packet.topic, publisher)]!;
      scratch.length = 0;
      sendTo(g, m, m.client!, packet, done);
      return true;
    }
    // nobody connected: an offline persistent member keeps it in its queue
    for (const m of g.members.values()) if (m.clientId !== except && m.durable) scratch.push(m);
    if (scratch.length > 0 && persistence) {
      const m = scratch[pickMember(strategy, scratch, scratch.length, g.pick, packet.topic, publisher)]!;
      scratch.length = 0;
      m.dispatched++;
      g.dispatched++;
      const p = share(packet, Math.min(packet.qos, m.qos) as QoS);
      let list = held.get(m.clientId);
      if (!list) held.set(m.clientId, (list = []));
      list.push({ group: g, message: packet, brokerId: shareBrokerId, brokerCounter: p.brokerCounter, messageId: undefined });
      if (list.length > MAX_HELD) list.shift();
      persistence.outgoingEnqueue({ clientId: m.clientId, topic: m.topic, qos: m.qos }, p).then(
        () => done(),
        (err: unknown) => {
          log.error({ err, clientid: m.clientId, group: g.name }, 'could not queue a share');
          done();
        },
      );
      return true;
    }
    scratch.length = 0;
    return false;
  }

  function share(message: AedesPublishPacket, qos: QoS): AedesPublishPacket {
    const p = makePacket(
      { topic: message.topic, payload: message.payload, qos, retain: false, brokerId: shareBrokerId, brokerCounter: ++shareCounter },
      aedes!,
    ) as AedesPublishPacket & { clientId?: string };
    const from = (message as { clientId?: string }).clientId;
    if (from !== undefined) p.clientId = from;
    return p;
  }

  function sendTo(g: Group, m: Member, client: AedesClient, message: AedesPublishPacket, done: () => void): void {
    const qos = Math.min(message.qos, m.qos) as QoS;
    const p = share(message, qos);
    m.dispatched++;
    g.dispatched++;
    if (qos === 0) return deliverToClient(client, p, done);
    const messageId = takeMessageId(client);
    p.messageId = messageId;
    let mine = inflight.get(client.id);
    if (!mine) inflight.set(client.id, (mine = new Map()));
    mine.set(messageId, { group: g, member: m, message, qos });
    watchAcknowledgements(client, onAck);
    if (client.clean) return deliverToClient(client, p, done);
    // a persistent member keeps the share in its store until acknowledged, as aedes' own path does
    // (a connection that ended meanwhile: the share stays queued in the store, where the read at
    // its end finds it)
    const deliver = () => (client.closed ? done() : deliverToClient(client, p, done));
    persistence!.outgoingEnqueue({ clientId: client.id, topic: m.topic, qos: m.qos }, p).then(deliver, deliver);
  }

  function onAck(client: Client, cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number): void {
    const mine = inflight.get(client.id);
    const e = mine?.get(messageId);
    if (!e) return;
    if (cmd === 'pubcomp' || (cmd === 'puback') !== (e.qos === 1)) return;
    mine!.delete(messageId);
    if (mine!.size === 0) inflight.delete(client.id);
    e.member.acked++;
    e.group.acked++;
  }

  /** A clean member's connection ended: its unacknowledged shares go to the members that remain. */
  function redispatchInflight(clientId: string): void {
    const mine = inflight.get(clientId);
    if (!mine) return;
    inflight.delete(clientId);
    for (const e of mine.values()) {
      e.group.redispatched++;
      if (!e.group.removed && dispatch(e.group, e.message, clientId, noop)) continue;
      drop(e.group, e.message);
    }
  }

  function drop(g: Group, message: AedesPublishPacket): void {
    g.dropped++;
    metrics['messages.dropped']++;
    metrics['messages.dropped.no_subscribers']++;
    if (!events.has('message.dropped')) return;
    events.emit('message.dropped', {
      reason: 'no_subscribers',
      clientid: null,
      topic: message.topic,
      qos: message.qos as QoS,
      retain: false,
      payload: Buffer.isBuffer(message.payload) ? message.payload : Buffer.from(message.payload),
      from_clientid: (message as { clientId?: string }).clientId ?? null,
      from_username: null,
      ts: Date.now(),
    });
  }

  // ---- the chain --------------------------------------------------------------------------------

  chain.add('authorizeSubscribe', 'shared-subscriptions', (ctx, sub) => {
    const shared = parseShared(sub.topic);
    if (!shared) return undefined;
    // the protocol step refused malformed and switched-off shares already
    const clean = (ctx as { clean?: boolean }).clean !== false;
    join(ctx.clientid, clean, sub.topic, shared.group, shared.filter, sub.qos);
    return undefined;
  });

  // `$share/...` and `$queue/...` name subscriptions, never topics: a PUBLISH there would reach
  // every member through the literal subscriptions, and a retained one would be sent on SUBSCRIBE
  chain.add('authorizePublish', 'shared-subscriptions', (_ctx, packet) =>
    // '$' is 36: one comparison for every other PUBLISH
    packet.topic.charCodeAt(0) === 36 && (packet.topic.startsWith('$share/') || packet.topic.startsWith('$queue/'))
      ? SHARE_NAME_REFUSED
      : undefined,
  );

  return {
    attach(broker, store) {
      aedes = broker;
      persistence = store;
      sharePrefix = `${broker.id}/share/`;
      shareBrokerId = sharePrefix + Date.now().toString(36);
      for (const g of groups.values()) broker.subscribe(g.filter, g.listener, noop);
      // offline persistent members from before a restart: their subscriptions are in the store
      for (const s of store.allSubscriptions()) {
        const shared = parseShared(s.topic);
        if (shared) join(s.clientId, false, s.topic, shared.group, shared.filter, Math.min(s.qos, 2) as QoS);
      }
      // and the shares in their stores (queued, or in flight when the broker stopped or died)
      for (const clientId of byClient.keys()) holdStored(clientId);
      broker.on('unsubscribe', (topics: string[], client: Client) => {
        for (const t of topics) {
          const shared = parseShared(t);
          if (!shared) continue;
          const g = groups.get(shared.group + '\u0000' + shared.filter);
          if (g) leave(client.id, g);
        }
      });
      broker.on('clientDisconnect', (client: Client) => {
        // a takeover's new connection may already hold the id: it is the member now
        if (broker.clients[client.id] && broker.clients[client.id] !== client) return;
        if (client.clean) {
          leaveAll(client.id);
          redispatchInflight(client.id);
          return;
        }
        // a persistent member: its unacknowledged shares stay in its store, where holdStored
        // finds them (with those resent from an earlier connection, which this map never saw)
        inflight.delete(client.id);
        if (byClient.has(client.id)) holdStored(client.id);
      });
      // a persistent member is back: aedes resends its store to it; and the shares held for the
      // offline members of its groups come to it (its subscriptions were restored before it was
      // registered, so joinedLive could not tell it was connected) once that resend is over:
      // a share put in its store before aedes reads it would be sent twice
      broker.on('client', (client: Client) => {
        if (!client.clean) held.delete(client.id); // a clean CONNECT discards: session.terminated below
      });
      broker.on('clientReady', (client: Client) => {
        if (client.clean || held.size === 0) return;
        const set = byClient.get(client.id);
        if (set) for (const g of set) handOver(g);
      });
      // a persistent session ended (expired, kicked, or discarded by a clean CONNECT, whose new
      // connection holds no subscription yet): its literal subscriptions are gone with it
      events.on('session.terminated', ({ clientid, reason }) => {
        // a discard is told while aedes still holds the old queue (it drains it after the CONNACK)
        if (reason === 'discarded') sessionEnding(clientid);
        else if (!liveClient(clientid)) leaveAll(clientid);
      });
    },

    groups() {
      const out: SharedGroupInfo[] = [];
      for (const g of groups.values()) {
        out.push({
          group: g.name,
          topic: g.filter,
          strategy: groupStrategy(g),
          members: [...g.members.values()].map((m) => ({
            clientid: m.clientId,
            qos: m.qos,
            connected: liveClient(m.clientId) !== undefined,
            dispatched: m.dispatched,
            acked: m.acked,
            inflight: [...(inflight.get(m.clientId)?.values() ?? [])].filter((e) => e.group === g).length,
          })),
          dispatched: g.dispatched,
          acked: g.acked,
          redispatched: g.redispatched,
          dropped: g.dropped,
        });
      }
      return out.sort((a, b) => (a.group === b.group ? (a.topic < b.topic ? -1 : 1) : a.group < b.group ? -1 : 1));
    },

    sessionEnding,

    hasDurableMember(topic) {
      if (durableMembers === 0) return false;
      for (const g of groups.values()) {
        if (!topicMatches(g.filter, topic)) continue;
        for (const m of g.members.values()) if (m.durable) return true;
      }
      return false;
    },
  };
}
