// EMQX 4's $SYS tree (aedes' own $SYS/<id>/... topics are suppressed: core/internals/aedes.ts).
//
//   $SYS/brokers                                   node names (retained)
//   $SYS/brokers/<node>/version, /sysdescr         (retained)            every broker.sys_interval
//   $SYS/brokers/<node>/stats/<name>               e.g. stats/connections.count   every sys_interval
//   $SYS/brokers/<node>/metrics/<a>/<b>            e.g. metrics/messages/received every sys_interval
//   $SYS/brokers/<node>/uptime, /datetime                                 every broker.sys_heartbeat
//   $SYS/brokers/<node>/clients/<id>/connected|disconnected|subscribed|unsubscribed   as they happen
//
// Values are the numbers GET /stats and /metrics answer (the control surface is the one source).
// Every `connected` is followed by exactly one `disconnected` (with its reason: normal, closed,
// kicked, takeovered, keepalive_timeout): both come from the event bus, and a connection's
// disconnect is published only if its connect was (that is, after a successful CONNACK).
//
// The retained topics are kept here, not in the retained store: a SUBSCRIBE that matches them gets
// them at once (as retained), and they neither count as retained messages nor touch the disk. A
// topic nobody subscribes to is not published at all (one trie match instead of a routing), the
// clients/<id>/... events are not even built while no subscription could match under clients/, and
// while no connected client holds a subscription starting with `$SYS` (the only filters that can
// match a `$` topic [MQTT-4.7.2-1]) a tick does nothing at all: not even reading the counters.
import type { ConfigSource } from '../../config/source.ts';
import type { Logger } from '../../logger.ts';
import type { AedesBroker, AedesClient, Client } from '../core/aedes-types.ts';
import { subscriptionsOf } from '../core/internals/aedes-client.ts';
import { deliverToClient, hasLiveSubscriber, makePacket, mayHaveLiveSubscriberUnder, suppressAedesSysTopics } from '../core/internals/aedes.ts';
import type { ConnectionFacts, EventBus, TernEvents } from '../events.ts';
import { parseShared, topicMatches } from '../topic.ts';
import type { BrokerControl } from '../types.ts';
import { durationParts } from '../../duration-parts.ts';

export interface SysPublisherDeps {
  config: ConfigSource;
  aedes: AedesBroker;
  events: EventBus;
  control: Pick<BrokerControl, 'stats' | 'metrics'>;
  version: string;
  startedAt: number;
  /** the bound port of a listener ("<proto>:<name>"), for `sockport` */
  listenerPort(id: string): number | undefined;
  logger: Logger;
}

export interface SysPublisher {
  /** publishes the interval topics now (tests, and after a reload) */
  publishNow(): void;
  close(): void;
}

export const SYSDESCR = 'Tern MQTT broker';

/** "N days, H hours, M minutes, S seconds" (EMQX 4) */
export function uptimeText(ms: number): string {
  const { days, hours, minutes, seconds } = durationParts(ms);
  return `${days} days, ${hours} hours, ${minutes} minutes, ${seconds} seconds`;
}

/** "YYYY-MM-DD HH:MM:SS", local time (EMQX's calendar:local_time) */
export function datetimeText(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}


const noop = () => {};

/** a filter that can match a $SYS topic: `$SYS...`, or a shared subscription of one */
function readsSys(filter: string): boolean {
  if (filter.charCodeAt(0) !== 36) return false;
  if (filter.startsWith('$SYS')) return true;
  return parseShared(filter)?.filter.startsWith('$SYS') === true;
}
/** characters a topic name may not hold: such a client id gets no clients/<id>/... topics */
const UNPUBLISHABLE = /[+#\u0000]/;

export function startSysPublisher(deps: SysPublisherDeps): SysPublisher {
  const { aedes, events } = deps;
  const log = deps.logger.child({ module: 'sys' });
  suppressAedesSysTopics(aedes);

  const node = () => deps.config.get().node.name;
  const base = () => `$SYS/brokers/${node()}/`;
  const retained = new Map<string, string>();
  let closed = false;
  /** clients that subscribed to a `$SYS...` filter; checked (and pruned) at each tick */
  const sysReaders = new Set<AedesClient>();
  /** `stats/<name>` and `metrics/<a>/<b>` topics by counter name, for the current base */
  const topicOf = new Map<string, string>();
  let topicsFor = '';

  function anySysReader(): boolean {
    for (const c of sysReaders) {
      if (!c.closed && Object.keys(subscriptionsOf(c) ?? {}).some(readsSys)) return true;
      sysReaders.delete(c);
    }
    return false;
  }

  function publish(topic: string, payload: string): void {
    if (closed || !hasLiveSubscriber(aedes, topic)) return;
    aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, noop);
  }

  function publishRetained(topic: string, payload: string): void {
    retained.set(topic, payload);
    publish(topic, payload);
  }

  function publishInterval(): void {
    const b = base();
    if (b !== topicsFor) {
      // a node rename (reload) moves the tree: the old retained topics go
      for (const t of retained.keys()) if (t !== '$SYS/brokers' && !t.startsWith(b)) retained.delete(t);
      retained.set('$SYS/brokers', node());
      retained.set(b + 'version', deps.version);
      retained.set(b + 'sysdescr', SYSDESCR);
      topicOf.clear();
      topicsFor = b;
    }
    if (!anySysReader()) return;
    // EMQX republishes the retained three every interval too
    publish('$SYS/brokers', node());
    publish(b + 'version', deps.version);
    publish(b + 'sysdescr', SYSDESCR);
    const stats = deps.control.stats() as Record<string, number>;
    for (const name in stats) publish(counterTopic('stats/', name, b), String(stats[name]));
    const metrics = deps.control.metrics() as Record<string, number>;
    for (const name in metrics) publish(counterTopic('metrics/', name, b), String(metrics[name]));
  }

  function counterTopic(kind: 'stats/' | 'metrics/', name: string, b: string): string {
    const key = kind + name;
    let t = topicOf.get(key);
    if (t === undefined) topicOf.set(key, (t = b + (kind === 'stats/' ? key : 'metrics/' + name.replaceAll('.', '/'))));
    return t;
  }

  function publishHeartbeat(): void {
    if (!anySysReader()) return;
    const b = base();
    publish(b + 'uptime', uptimeText(Date.now() - deps.startedAt));
    publish(b + 'datetime', datetimeText(new Date()));
  }

  // ---- timers, re-armed when their interval changes -----------------------------------------------
  let intervalTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  function arm(): void {
    clearInterval(intervalTimer);
    clearInterval(heartbeatTimer);
    intervalTimer = heartbeatTimer = undefined;
    if (closed) return;
    const { sys_interval, sys_heartbeat } = deps.config.get().broker;
    if (sys_interval > 0) (intervalTimer = setInterval(publishInterval, sys_interval)).unref();
    if (sys_heartbeat > 0) (heartbeatTimer = setInterval(publishHeartbeat, sys_heartbeat)).unref();
  }
  const offConfig = deps.config.onChange((change) => {
    if (change.keys.some((k) => k === 'broker.sys_interval' || k === 'broker.sys_heartbeat' || k === 'node.name')) {
      arm();
      publishInterval();
    }
  });
  arm();
  // the retained topics exist from the start
  retained.set('$SYS/brokers', node());
  retained.set(base() + 'version', deps.version);
  retained.set(base() + 'sysdescr', SYSDESCR);
  topicsFor = base();

  // ---- retained copies for a new subscription -----------------------------------------------------
  const onSubscribe = (subs: { topic: string; qos: number }[], client: Client) => {
    for (const s of subs) {
      // refused entries (0x80) and shared subscriptions get no retained messages
      if (s.qos > 2 || s.topic.charCodeAt(0) !== 36) continue;
      if (readsSys(s.topic)) sysReaders.add(client as AedesClient);
      if (s.topic.startsWith('$share/') || s.topic.startsWith('$queue/')) continue;
      for (const [topic, payload] of retained) {
        if (!topicMatches(s.topic, topic)) continue;
        const packet = makePacket({ topic, payload: Buffer.from(payload), qos: 0, retain: true, brokerId: null, brokerCounter: 0 }, aedes);
        deliverToClient(client as AedesClient, packet, noop);
      }
    }
  };
  aedes.on('subscribe', onSubscribe);

  // ---- clients/<id>/... from the event bus --------------------------------------------------------
  // These listeners say (`when`) that they act only while some live subscription could match a
  // topic under $SYS/brokers/<node>/clients/: otherwise the bus tells the emitters nobody listens,
  // and a CONNECT builds no client.connected payload for them (nor reads the peer address).
  let clientWords: readonly string[] = [];
  const clientTopicsWatched = (): boolean => {
    const name = node();
    if (clientWords[2] !== name) clientWords = ['$SYS', 'brokers', name, 'clients'];
    return !closed && mayHaveLiveSubscriberUnder(aedes, clientWords);
  };
  const watched = { when: clientTopicsWatched };
  /** publishes clients/<id>/<what>, its payload built only when someone subscribes to it */
  function publishClient<E extends { clientid: string }>(e: E, what: string, build: (e: E) => string): void {
    if (!clientTopicsWatched() || UNPUBLISHABLE.test(e.clientid)) return;
    const topic = `${base()}clients/${e.clientid}/${what}`;
    if (!hasLiveSubscriber(aedes, topic)) return;
    aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(build(e)), qos: 0, retain: false, dup: false }, noop);
  }
  /** the fields `connected` and `disconnected` share (EMQX 4) */
  const common = (
    clientid: string,
    username: string | null,
    ipaddress: string | null,
    connected_at: number,
    c: Pick<ConnectionFacts, 'listener' | 'proto_name' | 'proto_ver' | 'keepalive' | 'clean_start' | 'expiry_interval'>,
  ) => ({
    clientid,
    username,
    ipaddress,
    sockport: deps.listenerPort(c.listener) ?? null,
    proto_name: c.proto_name,
    proto_ver: c.proto_ver,
    keepalive: c.keepalive,
    clean_start: c.clean_start,
    expiry_interval: c.expiry_interval,
    connected_at,
  });
  const connectedPayload = (e: TernEvents['client.connected']) =>
    JSON.stringify({ ...common(e.clientid, e.username, e.ipaddress, e.connected_at, e), connack: 0, ts: Date.now() });
  const disconnectedPayload = (e: TernEvents['client.disconnected'] & { connection: ConnectionFacts }) =>
    JSON.stringify({
      ...common(e.clientid, e.username, e.connection.ipaddress, e.connected_at ?? 0, e.connection),
      reason: e.reason,
      disconnected_at: e.disconnected_at,
      ts: Date.now(),
    });
  const subscribedPayload = (e: TernEvents['session.subscribed']) =>
    JSON.stringify({ clientid: e.clientid, username: e.username, topic: e.topic, opts: e.opts, ts: Date.now() });
  const unsubscribedPayload = (e: TernEvents['session.unsubscribed']) =>
    JSON.stringify({ clientid: e.clientid, username: e.username, topic: e.topic, ts: Date.now() });
  const offs = [
    events.on('client.connected', (e) => publishClient(e, 'connected', connectedPayload), watched),
    events.on(
      'client.disconnected',
      (e) => {
        // only a connection that was announced: every `connected` gets exactly one `disconnected`
        if (e.connection) publishClient(e as typeof e & { connection: ConnectionFacts }, 'disconnected', disconnectedPayload);
      },
      watched,
    ),
    events.on('session.subscribed', (e) => publishClient(e, 'subscribed', subscribedPayload), watched),
    events.on('session.unsubscribed', (e) => publishClient(e, 'unsubscribed', unsubscribedPayload), watched),
  ];

  log.debug({ node: node() }, '$SYS publisher started');
  return {
    publishNow() {
      publishInterval();
      publishHeartbeat();
    },
    close() {
      closed = true;
      arm();
      offConfig();
      for (const off of offs) off();
      aedes.removeListener('subscribe', onSubscribe);
    },
  };
}
