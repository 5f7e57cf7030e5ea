// The session layer aedes lacks: one record per session (online, or offline with
// clean_session=false), its lifecycle events (EMQX's session.* hook points), expiry, the mqueue
// policy the persistence applies, and the registry the API reads.
//
// Wiring order (see tern.ts): createSessions() first, because the persistence needs its
// queuePolicy; then the persistence; then aedes; then sessions.attach(). The session policy's
// steps on the hook chain are added by registerSteps().
import type BetterSqlite3 from 'better-sqlite3';
import type { AedesPublishPacket, Subscription } from 'aedes';
import type { Config, ZoneConfig } from '../../config/types.ts';
import type { Logger } from '../../logger.ts';
import type { DisconnectReason, EventBus, TerminateReason } from '../events.ts';
import type { AedesBroker, AedesClient, Client } from '../core/aedes-types.ts';
import type { HookChain } from '../core/hook-chain.ts';
import type { ConfigSource } from '../../config/source.ts';
import { SessionRecord } from './session-record.ts';
import type { QueuePolicy, TernPersistence } from '../persistence/types.ts';
import type { QoS, SessionFilter, SessionInfo, SessionRegistry, SubscribeOptions, SubscriptionInfo, QueuedMessage } from '../types.ts';
import { topicFilterProblem } from '../protocol/topic.ts';
import { shareGroup, topicMatches } from '../topic.ts';
import { badRequest, notFound, TernError } from '../../errors.ts';
import type { Metrics } from '../sys/metrics.ts';
import { hasLiveSubscriber, sentDisconnect } from '../core/internals/aedes.ts';
import { subscriptionsOf } from '../core/internals/aedes-client.ts';

export interface Sessions extends SessionRegistry {
  /** handed to the persistence: EMQX's per-zone mqueue settings */
  readonly queuePolicy: QueuePolicy;
  /** adds the session policy's steps to the hook chain (subscribe() runs the chain too) */
  registerSteps(chain: HookChain): void;
  /** tells the registry which subscriptions the broker made (routing/broker-subscriptions.ts) */
  setSubscriptionSource(isBrokerMade: (clientId: string, topic: string) => boolean): void;
  /**
   * Called when a persistent session is about to end (expiry, kick), before its store is deleted
   * and its queue counted as dropped: shared subscriptions take their shares out first.
   */
  onEnding(fn: (clientId: string) => void): void;
  attach(aedes: AedesBroker, persistence: TernPersistence): void;
  /** sessions known, online and offline */
  count(): number;
  /** subscriptions of every session, distinct filters, shared ones: counted without building rows */
  subscriptionCounts(): { subscriptions: number; topics: number; shared: number };
  offlineCount(): number;
  close(): void;
}

export interface SessionsDeps {
  config: ConfigSource;
  events: EventBus;
  logger: Logger;
  metrics: Metrics;
  /** set in sqlite persistence mode: session metadata is stored so offline sessions survive a restart */
  sqlite?: BetterSqlite3.Database;
}

// setTimeout takes at most 2^31-1 ms; longer expiries re-arm in steps.
const MAX_TIMER = 2_147_483_647;

export function createSessions(deps: SessionsDeps): Sessions {
  const log = deps.logger.child({ module: 'sessions' });
  const { events } = deps;
  const records = new Map<string, SessionRecord>();
  let offline = 0;
  let aedes: AedesBroker | undefined;
  let persistence: TernPersistence | undefined;
  let chain: HookChain | undefined;
  let isBrokerMade: (clientId: string, topic: string) => boolean = () => false;
  const ending: ((clientId: string) => void)[] = [];

  const zoneOf = (zone: string): ZoneConfig => {
    const zones = deps.config.get().zones;
    return zones[zone] ?? zones.external ?? Object.values(zones)[0]!;
  };
  const zoneOfClient = (clientId: string): ZoneConfig => zoneOf(records.get(clientId)?.zone ?? 'external');
  const info = (r: SessionRecord) => ({ clientid: r.clientid, username: r.username });

  // ---- session metadata in SQLite (persistent sessions only) ------------------------------------
  const db = deps.sqlite;
  const stmts = db && {
    upsert: db.prepare(`insert into mqtt_session (clientid, username, zone, listener, proto_name, proto_ver, keepalive,
        ip_address, port, expiry_interval, created_at, connected_at, disconnected_at, recv_msg, send_msg)
      values (@clientid, @username, @zone, @listener, @protoName, @protoVer, @keepalive, @ip, @port, @expiryInterval,
        @createdAt, @connectedAt, @disconnectedAt, @recvMsg, @sendMsg)
      on conflict (clientid) do update set username = excluded.username, zone = excluded.zone, listener = excluded.listener,
        proto_name = excluded.proto_name, proto_ver = excluded.proto_ver, keepalive = excluded.keepalive,
        ip_address = excluded.ip_address, port = excluded.port, expiry_interval = excluded.expiry_interval,
        created_at = excluded.created_at, connected_at = excluded.connected_at, disconnected_at = excluded.disconnected_at,
        recv_msg = excluded.recv_msg, send_msg = excluded.send_msg`),
    remove: db.prepare('delete from mqtt_session where clientid = ?'),
    all: db.prepare('select * from mqtt_session'),
  };
  // Rows go through the persistence's group commit (one transaction with the session's queue and
  // subscriptions, never inside someone else's transaction); before attach(), and at close() once
  // the persistence has committed its last batch, they are written directly.
  let batched = false;
  const write = (fn: () => void) => {
    if (!batched || !persistence) return fn();
    persistence.run(fn).catch((err: unknown) => log.error({ err }, 'session metadata not written'));
  };
  const remove = (clientId: string) => {
    if (stmts) write(() => stmts.remove.run(clientId));
  };
  const save = (r: SessionRecord) => {
    if (!stmts || r.clean) return;
    // the values now: the write runs at the commit, when the record may have moved on
    const row = {
      clientid: r.clientid,
      username: r.username,
      zone: r.zone,
      listener: r.listener,
      protoName: r.protoName,
      protoVer: r.protoVer,
      keepalive: r.keepalive,
      ip: r.ip,
      port: r.port,
      expiryInterval: r.expiryInterval,
      createdAt: r.createdAt,
      connectedAt: r.connectedAt,
      disconnectedAt: r.disconnectedAt,
      recvMsg: r.recvMsg,
      sendMsg: r.sendMsg,
    };
    write(() => stmts.upsert.run(row));
  };

  // ---- expiry -----------------------------------------------------------------------------------
  function armExpiry(r: SessionRecord) {
    clearTimeout(r.expiryTimer);
    const due = (r.disconnectedAt ?? Date.now()) + r.expiryInterval;
    const wait = Math.max(0, due - Date.now());
    r.expiryTimer = setTimeout(() => {
      if (Date.now() < due) return armExpiry(r); // a step of a long expiry
      void terminate(r, 'expired');
    }, Math.min(wait, MAX_TIMER));
    r.expiryTimer.unref();
  }

  /** Ends a session for good: its subscriptions, queue and record go. */
  async function terminate(r: SessionRecord, reason: TerminateReason): Promise<void> {
    if (records.get(r.clientid) !== r) return;
    clearTimeout(r.expiryTimer);
    records.delete(r.clientid);
    if (!r.client) offline--;
    if (!r.clean) remove(r.clientid);
    if (!r.clean) {
      for (const fn of ending) {
        try {
          fn(r.clientid);
        } catch (err) {
          log.error({ err, clientid: r.clientid }, 'a session-end step failed');
        }
      }
    }
    if (reason === 'expired' && persistence) {
      // the queued messages die with the session
      const { data, count } = persistence.queued(r.clientid, 0, events.has('message.dropped') ? Number.MAX_SAFE_INTEGER : 0);
      deps.metrics['messages.dropped'] += count;
      deps.metrics['messages.dropped.expired'] += count;
      for (const m of data) {
        events.emit('message.dropped', {
          reason: 'expired',
          clientid: r.clientid,
          topic: m.topic,
          qos: m.qos as QoS,
          retain: m.retain,
          payload: m.payload,
          from_clientid: m.from_clientid,
          from_username: null,
          ts: m.publish_at,
        });
      }
    }
    if (!r.clean && persistence) await persistence.deleteClient(r.clientid);
    deps.metrics['session.terminated']++;
    if (!r.clean) log.debug({ clientid: r.clientid, reason }, 'persistent session terminated');
    if (events.has('session.terminated')) events.emit('session.terminated', { ...info(r), reason });
  }

  // ---- aedes events -----------------------------------------------------------------------------
  function onClient(client: Client) {
    const c = client as AedesClient;
    // the connection's own record (made at accept) becomes the session's
    const r = c.tern ?? (c.tern = new SessionRecord('external', '', c));
    const now = Date.now();
    const previous = records.get(c.id);

    if (previous) {
      clearTimeout(previous.expiryTimer);
      if (!previous.client) offline--;
    }
    let created = true;
    if (previous && !c.clean && !previous.clean) {
      created = false;
      // [MQTT-3.1.4-2] same id while the old connection lived: EMQX calls it a takeover
      const what = previous.client ? 'session.takeovered' : 'session.resumed';
      deps.metrics[what]++;
      if (events.has(what)) events.emit(what, { clientid: c.id, username: r.username });
    } else if (previous) {
      // clean_start=1 (or the old session was clean): the old session state is gone
      deps.metrics['session.discarded']++;
      deps.metrics['session.terminated']++;
      events.emit('session.discarded', { clientid: c.id, username: previous.username });
      events.emit('session.terminated', { clientid: c.id, username: previous.username, reason: 'discarded' });
    }
    r.clientid = c.id;
    r.clean = c.clean;
    r.protoVer = c.version ?? r.protoVer;
    // getpeername is a syscall: a clean session reads its address only when someone asks (toInfo)
    if (!c.clean) r.address();
    r.expiryInterval = c.clean ? 0 : zoneOf(r.zone).session_expiry_interval;
    r.createdAt = created ? now : previous!.createdAt;
    r.connectedAt = now;
    r.disconnectedAt = null;
    r.client = c;
    if (!created) {
      r.recvMsg += previous!.recvMsg;
      r.sendMsg += previous!.sendMsg;
    }
    // re-insert so the list keeps connection order
    records.delete(c.id);
    records.set(c.id, r);
    if (!r.clean && stmts) save(r);
    else if (previous && !previous.clean) remove(c.id);
    if (created) {
      deps.metrics['session.created']++;
      if (events.has('session.created')) {
        events.emit('session.created', { clientid: c.id, username: r.username, clean_start: r.clean, created_at: now });
      }
    }
  }

  /** the peer address: stored for persistent sessions, read from the live socket otherwise */
  const address = (r: SessionRecord) => r.address();

  function onClientReady(client: Client) {
    const r = records.get(client.id);
    if (!r || r.client !== client) return;
    deps.metrics['client.connected']++;
    r.announced = true;
    if (events.has('client.connected')) {
      const { ip, port } = address(r);
      // one literal, no spread: this runs for every connection and has listeners by default ($SYS)
      events.emit('client.connected', {
        id: '',
        ts: Date.now(),
        clientid: r.clientid,
        username: r.username,
        ipaddress: ip,
        port,
        keepalive: r.keepalive,
        proto_name: r.protoName,
        proto_ver: r.protoVer,
        clean_start: r.clean,
        expiry_interval: r.expiryInterval / 1000,
        connected_at: r.connectedAt ?? Date.now(),
        zone: r.zone,
        listener: r.listener,
      });
    }
  }

  function onClientDisconnect(client: Client) {
    const c = client as AedesClient;
    const r = records.get(c.id);
    const now = Date.now();
    const state = c.tern;
    deps.metrics['client.disconnected']++;
    if (events.has('client.disconnected')) {
      events.emit('client.disconnected', {
        clientid: c.id,
        username: state?.username ?? null,
        reason: disconnectReason(c),
        connected_at: state?.connectedAt ?? null,
        disconnected_at: now,
        ipaddress: r ? address(r).ip : null,
        connection: state?.announced
          ? {
              ipaddress: state.address().ip,
              port: state.address().port,
              keepalive: state.keepalive,
              proto_name: state.protoName,
              proto_ver: state.protoVer,
              clean_start: state.clean,
              expiry_interval: state.expiryInterval / 1000,
              listener: state.listener,
            }
          : undefined,
      });
    }
    // The record may already belong to the connection that took this one over; or that
    // connection is about to register and continue (or discard) this session.
    if (!r || r.client !== c || state?.takenOver) return;
    // end() terminates it with its own reason once close() returns
    if (state?.kicked) return;
    if (r.clean) {
      void terminate(r, state?.takenOver ? 'takeovered' : 'normal');
      return;
    }
    r.client = undefined;
    r.disconnectedAt = now;
    offline++;
    save(r);
    if (r.expiryInterval === 0) void terminate(r, 'expired');
    else armExpiry(r);
  }

  // ---- the registry -----------------------------------------------------------------------------
  function toInfo(r: SessionRecord): SessionInfo {
    const zone = zoneOf(r.zone);
    const { ip, port } = address(r);
    const stats = persistence && !r.clean ? persistence.stats(r.clientid) : undefined;
    const subs = r.client ? Object.keys(subscriptionsOf(r.client) ?? {}).length : (stats?.subscriptions_cnt ?? 0);
    return {
      clientid: r.clientid,
      username: r.username,
      connected: r.client !== undefined,
      zone: r.zone,
      listener: r.listener,
      ip_address: ip,
      port,
      keepalive: r.keepalive,
      clean_start: r.clean,
      expiry_interval: r.expiryInterval / 1000,
      proto_name: r.protoName,
      proto_ver: r.protoVer,
      created_at: new Date(r.createdAt).toISOString(),
      connected_at: r.connectedAt === null ? null : new Date(r.connectedAt).toISOString(),
      disconnected_at: r.disconnectedAt === null ? null : new Date(r.disconnectedAt).toISOString(),
      subscriptions_cnt: subs,
      inflight_cnt: stats?.inflight_cnt ?? 0,
      inflight_max: zone.max_inflight,
      mqueue_len: stats?.mqueue_len ?? 0,
      mqueue_max: zone.max_mqueue_len,
      mqueue_dropped: stats?.mqueue_dropped ?? 0,
      recv_msg: r.recvMsg,
      send_msg: r.sendMsg,
    };
  }

  function matches(r: SessionRecord, f: SessionFilter): boolean {
    if (f.clientid !== undefined && r.clientid !== f.clientid) return false;
    if (f.username !== undefined && r.username !== f.username) return false;
    if (f.conn_state !== undefined && (r.client !== undefined) !== (f.conn_state === 'connected')) return false;
    if (f.like_clientid !== undefined && !r.clientid.includes(f.like_clientid)) return false;
    if (f.like_username !== undefined && !(r.username ?? '').includes(f.like_username)) return false;
    if (f.ip_address !== undefined && address(r).ip !== f.ip_address) return false;
    if (f.clean_start !== undefined && r.clean !== f.clean_start) return false;
    if (f.zone !== undefined && r.zone !== f.zone) return false;
    if (f.gte_mqueue_len !== undefined || f.lte_mqueue_len !== undefined) {
      const len = persistence && !r.clean ? persistence.stats(r.clientid).mqueue_len : 0;
      if (f.gte_mqueue_len !== undefined && len < f.gte_mqueue_len) return false;
      if (f.lte_mqueue_len !== undefined && len > f.lte_mqueue_len) return false;
    }
    return true;
  }

  /** Closes the connection, if any, and ends the session whatever its clean flag. */
  async function end(clientId: string, reason: 'kicked' | 'discarded', banned = false): Promise<boolean> {
    const r = records.get(clientId);
    if (!r) return false;
    if (r.client) {
      const c = r.client;
      // the connection's own record, read by onClientDisconnect (aedes runs it from close())
      r.kicked = true;
      r.banned = banned;
      await new Promise<void>((resolve) => c.close(() => resolve()));
    }
    if (records.get(clientId) === r) await terminate(r, reason);
    return true;
  }

  function requireRecord(clientId: string): SessionRecord {
    const r = records.get(clientId);
    if (!r) throw notFound('CLIENTID_NOT_FOUND', `client ${clientId} not found`);
    return r;
  }

  function subscriptionInfo(clientid: string, topic: string, qos: QoS): SubscriptionInfo {
    const group = shareGroup(topic);
    const info: SubscriptionInfo = { clientid, topic, qos, source: isBrokerMade(clientid, topic) ? 'broker' : 'client' };
    if (group !== undefined) info.share_group = group;
    return info;
  }

  function clientSubscriptions(r: SessionRecord): SubscriptionInfo[] {
    if (r.client) {
      return Object.entries(subscriptionsOf(r.client) ?? {}).map(([topic, s]) => subscriptionInfo(r.clientid, topic, s.qos as QoS));
    }
    if (!persistence || r.clean) return [];
    return persistence.subscriptions(r.clientid).map((s) => subscriptionInfo(r.clientid, s.topic, s.qos as QoS));
  }

  async function subscribeMany(
    clientId: string,
    entries: ({ topic: string; qos: QoS } & SubscribeOptions)[],
  ): Promise<(SubscriptionInfo | TernError)[]> {
    const r = requireRecord(clientId);
    const mqtt = deps.config.get().mqtt;
    const refused = (topic: string, reason: string) =>
      new TernError('SUBSCRIPTION_REFUSED', `subscription to "${topic}" refused for client ${clientId}: ${reason}`, 403);
    const out: (SubscriptionInfo | TernError | undefined)[] = entries.map((e) => {
      const problem = topicFilterProblem(e.topic, mqtt);
      return problem ? badRequest(`topic filter "${e.topic}" ${problem}`) : undefined;
    });
    const todo = entries.filter((_, i) => out[i] === undefined);
    if (todo.length === 0) return out as TernError[];
    if (r.client) {
      const c = r.client;
      // the connection's own record: core/broker.ts notes the refusals on it
      const record = r;
      const refusals = (record.subscribeRefusals = new Map());
      try {
        // aedes runs authorizeSubscribe (the whole chain: limits, $SYS, ACL, shared groups) for
        // each entry and persists the granted ones for a persistent session
        await new Promise<void>((resolve, reject) =>
          c.subscribe(todo.map((e) => ({ ...e })) as never, (err?: Error) => (err ? reject(err) : resolve())),
        );
      } finally {
        record.subscribeRefusals = null;
      }
      return entries.map((e, i) => {
        if (out[i]) return out[i]!;
        const reason = refusals.get(e.topic);
        if (reason !== undefined) return refused(e.topic, reason);
        const granted = c.subscriptions[e.topic];
        return granted ? subscriptionInfo(clientId, e.topic, granted.qos) : refused(e.topic, 'the connection closed');
      });
    }
    // offline persistent session: the same chain decides, then it is stored and restored when
    // the client returns
    const stored: typeof todo = [];
    for (let i = 0; i < entries.length; i++) {
      if (out[i]) continue;
      const entry = { ...entries[i]! };
      const verdict = chain ? await chain.runAuthorizeSubscribe(r, entry) : undefined;
      if (verdict !== undefined) out[i] = refused(entry.topic, verdict);
      else {
        stored.push(entry);
        out[i] = subscriptionInfo(clientId, entry.topic, entry.qos);
      }
    }
    if (stored.length > 0) await persistence!.addSubscriptions({ id: clientId }, stored);
    return out as (SubscriptionInfo | TernError)[];
  }

  const queuePolicy: QueuePolicy = {
    maxQueueLen: (clientId) => zoneOfClient(clientId).max_mqueue_len,
    storeQos0: (clientId) => zoneOfClient(clientId).mqueue_store_qos0,
    isOnline: (clientId) => records.get(clientId)?.client !== undefined,
    onDropped(clientId, packet, reason) {
      deps.metrics['messages.dropped']++;
      deps.metrics['messages.dropped.queue_full']++;
      if (!events.has('message.dropped')) return;
      const p = packet as typeof packet & { retain?: boolean; clientId?: string };
      events.emit('message.dropped', {
        reason,
        clientid: clientId,
        topic: packet.topic,
        qos: packet.qos as QoS,
        retain: p.retain ?? false,
        payload: packet.payload,
        from_clientid: p.clientId ?? null,
        from_username: null,
        ts: Date.now(),
      });
    },
  };

  function registerSteps(hooks: HookChain): void {
    chain = hooks;
    // [MQTT-3.1.4-2] aedes is about to close the live connection with this id; mark it so the
    // disconnect reads as a takeover, not a departure. Runs after authentication let it in.
    hooks.add('connect', 'sessions', (_ctx, info) => {
      const old = aedes?.clients[info.clientid];
      if (old?.tern) old.tern.takenOver = true;
      return undefined;
    });
    // aedes never queues QoS 0 for offline sessions; EMQX does when mqueue_store_qos0 is on.
    hooks.add('published', 'sessions', (message, publisher) => {
      const packet = message as AedesPublishPacket;
      if (events.has('message.dropped') && aedes && !packet.topic.startsWith('$SYS/')) reportUnrouted(packet, publisher);
      if (packet.qos !== 0 || offline === 0 || !persistence || packet.topic.startsWith('$SYS/')) return;
      return persistence.subscriptionsByTopic(packet.topic).then((subs) => {
        const targets = subs.filter((s) => {
          const r = records.get(s.clientId);
          return r !== undefined && r.client === undefined && zoneOf(r.zone).mqueue_store_qos0;
        });
        if (targets.length > 0) return persistence!.outgoingEnqueueCombi(targets, packet);
      });
    });
  }

  /**
   * message.dropped with reason no_subscribers. Checking for a subscriber costs a trie match per
   * publish, so it runs only while someone listens for the event.
   */
  function reportUnrouted(packet: AedesPublishPacket, publisher: { clientid: string; username: string | null } | null) {
    if (hasLiveSubscriber(aedes!, packet.topic)) return;
    persistence!.subscriptionsByTopic(packet.topic).then((subs) => {
      if (subs.length > 0) return;
      deps.metrics['messages.dropped']++;
      deps.metrics['messages.dropped.no_subscribers']++;
      events.emit('message.dropped', {
        reason: 'no_subscribers',
        clientid: null,
        topic: packet.topic,
        qos: packet.qos,
        retain: packet.retain,
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        from_clientid: publisher?.clientid ?? null,
        from_username: publisher?.username ?? null,
        ts: Date.now(),
      });
    }, () => {});
  }

  return {
    queuePolicy,
    registerSteps,

    attach(broker, store) {
      aedes = broker;
      persistence = store;
      batched = stmts !== undefined;
      // Offline sessions from before the restart: listed, counted, and expiring on schedule.
      if (stmts) {
        for (const row of stmts.all.all() as Record<string, unknown>[]) {
          const r = new SessionRecord(row.zone as string, row.listener as string);
          r.clientid = row.clientid as string;
          r.username = (row.username as string | null) ?? null;
          r.clean = false;
          r.protoName = row.proto_name as string;
          r.protoVer = row.proto_ver as number;
          r.keepalive = row.keepalive as number;
          r.ip = (row.ip_address as string | null) ?? null;
          r.port = (row.port as number | null) ?? null;
          r.expiryInterval = row.expiry_interval as number;
          r.createdAt = row.created_at as number;
          r.connectedAt = (row.connected_at as number | null) ?? null;
          // a session that was online when the process died went offline then
          r.disconnectedAt = (row.disconnected_at as number | null) ?? Date.now();
          r.recvMsg = row.recv_msg as number;
          r.sendMsg = row.send_msg as number;
          records.set(r.clientid, r);
          offline++;
          armExpiry(r);
        }
      }
      broker.on('client', onClient);
      broker.on('clientReady', onClientReady);
      broker.on('clientDisconnect', onClientDisconnect);
      broker.on('subscribe', (subs: Subscription[], client: Client) => {
        if (!events.has('session.subscribed')) return;
        const username = (client as AedesClient).tern?.username ?? null;
        for (const s of subs) {
          if (s.qos > 2) continue; // refused (SUBACK 0x80)
          events.emit('session.subscribed', {
            clientid: client.id,
            username,
            topic: s.topic,
            opts: { qos: s.qos as QoS },
            source: isBrokerMade(client.id, s.topic) ? 'broker' : 'client',
          });
        }
      });
      // aedes has no hook before an UNSUBSCRIBE is applied: client.unsubscribe fires with
      // session.unsubscribed, once it is done
      broker.on('unsubscribe', (topics: string[], client: Client) => {
        const username = (client as AedesClient).tern?.username ?? null;
        for (const topic of topics) {
          if (events.has('client.unsubscribe')) events.emit('client.unsubscribe', { clientid: client.id, username, topic });
          if (events.has('session.unsubscribed')) events.emit('session.unsubscribed', { clientid: client.id, username, topic });
        }
      });
    },

    setSubscriptionSource(fn) {
      isBrokerMade = fn;
    },
    onEnding(fn) {
      ending.push(fn);
    },

    count: () => records.size,

    subscriptionCounts() {
      let subscriptions = 0;
      let shared = 0;
      const topics = new Set<string>();
      const one = (topic: string) => {
        subscriptions++;
        topics.add(topic);
        if (topic.charCodeAt(0) === 36 && shareGroup(topic) !== undefined) shared++;
      };
      for (const r of records.values()) {
        if (r.client) {
          for (const topic in subscriptionsOf(r.client)) one(topic);
        } else if (!r.clean && persistence) {
          for (const sub of persistence.subscriptions(r.clientid)) one(sub.topic);
        }
      }
      return { subscriptions, topics: topics.size, shared };
    },
    offlineCount: () => offline,

    list(filter, { page, limit }) {
      const data: SessionInfo[] = [];
      const start = (page - 1) * limit;
      let count = 0;
      for (const r of records.values()) {
        if (!matches(r, filter)) continue;
        if (count >= start && data.length < limit) data.push(toInfo(r));
        count++;
      }
      return { data, count };
    },

    get(clientId) {
      const r = records.get(clientId);
      return r ? toInfo(r) : undefined;
    },

    kick: (clientId, opts) => end(clientId, 'kicked', opts?.banned === true),
    discard: (clientId) => end(clientId, 'discarded'),

    subscriptions(clientId) {
      return clientSubscriptions(requireRecord(clientId));
    },

    allSubscriptions(f) {
      const out: SubscriptionInfo[] = [];
      const rs = f.clientid !== undefined ? [records.get(f.clientid)].filter((r): r is SessionRecord => !!r) : records.values();
      for (const r of rs) {
        for (const s of clientSubscriptions(r)) {
          if (f.topic !== undefined && s.topic !== f.topic) continue;
          if (f.qos !== undefined && s.qos !== f.qos) continue;
          if (f.share_group !== undefined && shareGroup(s.topic) !== f.share_group) continue;
          if (f.match_topic !== undefined && !topicMatches(f.match_topic, s.topic)) continue;
          out.push(s);
        }
      }
      return out;
    },

    async subscribe(clientId, topic, qos, opts = {}) {
      const [result] = await subscribeMany(clientId, [{ topic, qos, ...opts }]);
      if (result instanceof Error) throw result;
      return result!;
    },

    subscribeMany: (clientId, entries) => subscribeMany(clientId, entries),

    async unsubscribe(clientId, topic) {
      const r = requireRecord(clientId);
      if (r.client) {
        const c = r.client;
        // aedes removes a persistent session's stored subscription only for an UNSUBSCRIBE packet
        if (!c.clean) await persistence!.removeSubscriptions({ id: clientId }, [topic]);
        await new Promise<void>((resolve, reject) =>
          c.unsubscribe({ unsubscriptions: [topic] } as never, (err?: Error) => (err ? reject(err) : resolve())),
        );
        return;
      }
      await persistence!.removeSubscriptions({ id: clientId }, [topic]);
    },

    async queuedMessages(clientId, { page, limit }) {
      const r = requireRecord(clientId);
      if (!persistence || r.clean) return { data: [], count: 0 };
      const { data, count } = persistence.queued(clientId, (page - 1) * limit, limit);
      return {
        count,
        data: data.map(
          (m): QueuedMessage => ({
            topic: m.topic,
            qos: m.qos as QoS,
            payload: m.payload,
            retain: m.retain,
            publish_at: m.publish_at,
            inflight: m.inflight,
            from_clientid: m.from_clientid,
          }),
        ),
      };
    },

    close() {
      batched = false; // the persistence has committed its last batch (tern.ts closes it first)
      for (const r of records.values()) clearTimeout(r.expiryTimer);
      // Remember the counters of sessions still online so a restart shows them offline.
      if (stmts) {
        const now = Date.now();
        for (const r of records.values()) {
          if (!r.clean && r.client) {
            r.disconnectedAt = now;
            save(r);
          }
        }
      }
    },
  };
}

/** EMQX's disconnect reasons, read from what aedes and Tern recorded on the connection. */
function disconnectReason(c: AedesClient): DisconnectReason {
  const r = c.tern;
  if (r?.banned) return 'banned';
  if (r?.kicked) return 'kicked';
  if (r?.takenOver) return 'takeovered';
  if (r?.keepaliveTimedOut) return 'keepalive_timeout';
  if (sentDisconnect(c)) return 'normal';
  return 'closed';
}
