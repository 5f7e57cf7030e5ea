// The mqtt.* and zone limits of emqx.conf that aedes has no option for (or only a global one):
// packet size, topic levels, QoS, retain, wildcard and shared subscriptions, subscriptions per
// client, the CONNECT timeout per zone, and the listeners' access rules.
import net from 'node:net';
import type { PublishPacket, Subscription } from 'aedes';
import type { Config, ListenerConfig, ZoneConfig } from '../../config/types.ts';
import type { AedesClient, Client } from '../core/aedes-types.ts';
import { topicFilterProblem } from './topic.ts';

/** The parser internals aedes' client keeps: mqtt-packet's Parser. */
interface PacketParser {
  packet: { length: number; cmd?: string };
  /** the method names parse() steps through, in order: header, length, payload, new packet */
  _states: string[];
  /** set by aedes */
  client: { broker: object };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  _ternParseLength?: () => boolean;
}

/** where limitPacketSize keeps the limit: on the aedes instance, read through parser.client.broker */
const MAX_PACKET_SIZE = Symbol('tern.maxPacketSize');
const LIMITED_STATES = ['_parseHeader', '_ternParseLength', '_parsePayload', '_newPacket'];

function limitedParseLength(this: PacketParser): boolean {
  const ok = this._parseLength();
  const max = (this.client.broker as { [MAX_PACKET_SIZE]?: number })[MAX_PACKET_SIZE] ?? 0;
  if (ok && max > 0 && this.packet.length > max) {
    this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds mqtt.max_packet_size (${max})`));
    return false;
  }
  return ok;
}

/**
 * Closes a connection whose next packet announces a Remaining Length above max_packet_size,
 * before its body is buffered. mqtt-packet has no such option. Its parser steps through the
 * method names in `_states`; a limited client's parser gets a shared list naming a length step
 * that checks the limit. That step is added to mqtt-packet's Parser prototype once, and does
 * nothing for parsers that do not name it, so no connection carries a wrapper of its own.
 */
export function packetSizeLimiter(aedes: object, maxBytes: number): (client: Client) => void {
  (aedes as { [MAX_PACKET_SIZE]?: number })[MAX_PACKET_SIZE] = maxBytes;
  return (client) => {
    const parser = (client as unknown as { _parser?: PacketParser })._parser;
    if (!parser || maxBytes <= 0) return;
    const proto = Object.getPrototypeOf(parser) as PacketParser;
    if (!proto._ternParseLength) proto._ternParseLength = limitedParseLength;
    parser._states = LIMITED_STATES;
  };
}

/**
 * mqtt.max_qos_allowed for subscriptions: the granted QoS is capped [MQTT-3.9.3-2 allows a lower
 * grant]. aedes grants what was asked whatever authorizeSubscribe returns, so the SUBSCRIBE is
 * rewritten as it leaves the parser, before aedes sees it.
 */
export function limitSubscribeQos(client: Client, maxQos: number): void {
  const parser = (client as unknown as { _parser?: import('node:events').EventEmitter })._parser;
  if (!parser || maxQos >= 2) return;
  parser.prependListener('packet', (packet: { cmd: string; subscriptions?: { qos: number }[] }) => {
    if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
    for (const sub of packet.subscriptions) if (sub.qos > maxQos) sub.qos = maxQos;
  });
}

/**
 * Replaces aedes' global CONNECT timeout with the zone's idle_timeout. aedes' own timeout is set to
 * the external zone's (createBroker), so only connections to other zones pay for a second timer.
 */
export function limitConnectWait(client: Client, idleTimeoutMs: number): void {
  const c = client as unknown as { _connectTimer: NodeJS.Timeout | null; broker: { connectTimeout: number }; emit(e: string, err: Error): void };
  if (!c._connectTimer || c.broker.connectTimeout === idleTimeoutMs) return;
  clearTimeout(c._connectTimer);
  c._connectTimer = setTimeout(() => c.emit('error', new Error('connect did not arrive in time (idle_timeout)')), idleTimeoutMs);
}

/** listener.<proto>.<name>.access.<n>: first matching rule wins; no rule matching allows. */
export function accessCheck(l: ListenerConfig): ((ip: string | undefined) => boolean) | undefined {
  if (!l.access || l.access.length === 0) return undefined;
  const rules = l.access.map((rule) => {
    const [action, who] = rule.split(' ') as [string, string];
    if (who === 'all') return { allow: action === 'allow', match: () => true };
    const [ip, bits] = who.split('/') as [string, string | undefined];
    const family = net.isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    const list = new net.BlockList();
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
    return {
      allow: action === 'allow',
      match: (addr: string) => list.check(addr, net.isIP(addr) === 6 ? 'ipv6' : 'ipv4'),
    };
  });
  return (raw) => {
    if (!raw) return true;
    const addr = raw.startsWith('::ffff:') ? raw.slice(7) : raw;
    for (const r of rules) if (r.match(addr)) return r.allow;
    return true;
  };
}

/** A client's SUBSCRIBE entry against mqtt.* and the zone: undefined when allowed, else why not. */
export function subscriptionProblem(client: Client, sub: Subscription, config: Config, zone: ZoneConfig): string | undefined {
  const problem = topicFilterProblem(sub.topic, config.mqtt);
  if (problem) return `topic filter ${problem}`;
  const subs = (client as AedesClient).subscriptions;
  if (zone.max_subscriptions > 0 && subs && !(sub.topic in subs) && Object.keys(subs).length >= zone.max_subscriptions) {
    return `max_subscriptions (${zone.max_subscriptions}) reached`;
  }
  return undefined;
}

/** A client's PUBLISH against mqtt.*; a violation closes the connection (MQTT 3.1.1 has no reason codes). */
export function publishProblem(packet: PublishPacket, mqtt: Config['mqtt']): string | undefined {
  if (packet.qos > mqtt.max_qos_allowed) return `QoS ${packet.qos} above mqtt.max_qos_allowed (${mqtt.max_qos_allowed})`;
  if (packet.retain && !mqtt.retain_available) return 'retained messages are disabled (mqtt.retain_available = false)';
  // aedes itself refuses more than 100 levels: count only when the configured limit is lower
  if (mqtt.max_topic_levels > 0 && mqtt.max_topic_levels < 100) {
    let levels = 1;
    for (let i = 0; i < packet.topic.length; i++) if (packet.topic.charCodeAt(i) === 47) levels++;
    if (levels > mqtt.max_topic_levels) return `topic has more than mqtt.max_topic_levels (${mqtt.max_topic_levels}) levels`;
  }
  return undefined;
}
