// The mqtt.* and zone limits of emqx.conf that aedes has no option for (or only a global one):
// packet size, topic levels, QoS, retain, wildcard and shared subscriptions, subscriptions per
// client, and the listeners' access rules.
import net from 'node:net';
import type { Config, ListenerConfig, ZoneConfig } from '../../config/types.ts';
import type { ClientContext, MessagePacket, SubscribeRequest } from '../core/hook-chain.ts';
export { packetSizeLimiter, limitSubscribeQos, setMaxQosAllowed } from '../core/internals/mqtt-packet.ts';
import { topicFilterProblem } from './topic.ts';

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
export function subscriptionProblem(ctx: ClientContext, sub: SubscribeRequest, config: Config, zone: ZoneConfig): string | undefined {
  const problem = topicFilterProblem(sub.topic, config.mqtt);
  if (problem) return `topic filter ${problem}`;
  if (zone.max_subscriptions > 0 && !ctx.hasSubscription(sub.topic) && ctx.subscriptionCount() >= zone.max_subscriptions) {
    return `max_subscriptions (${zone.max_subscriptions}) reached`;
  }
  return undefined;
}

/** A client's PUBLISH against mqtt.*; a violation closes the connection (MQTT 3.1.1 has no reason codes). */
export function publishProblem(packet: MessagePacket, mqtt: Config['mqtt']): string | undefined {
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
