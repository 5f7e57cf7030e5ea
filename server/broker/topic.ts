// MQTT topic helpers used outside aedes' own matcher (API filters, shared-subscription names, the
// granted QoS of a delivery): the broker's shared vocabulary, like types.ts, imported by every part.

/** [MQTT-4.7] does `filter` (with + and #) match the topic name? `$` topics need an explicit first level. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** `$share/<group>/<filter>` → group; `$queue/<filter>` → "$queue"; otherwise undefined. */
export function shareGroup(topic: string): string | undefined {
  if (topic.startsWith('$queue/')) return '$queue';
  if (!topic.startsWith('$share/')) return undefined;
  const end = topic.indexOf('/', 7);
  return end > 7 ? topic.slice(7, end) : undefined;
}

/** `$share/<group>/<filter>` or `$queue/<filter>` split, or undefined for a plain filter. */
export function parseShared(topic: string): { group: string; filter: string } | undefined {
  if (topic.startsWith('$queue/')) return { group: '$queue', filter: topic.slice(7) };
  if (!topic.startsWith('$share/')) return undefined;
  const slash = topic.indexOf('/', 7);
  if (slash <= 7 || slash === topic.length - 1) return undefined;
  return { group: topic.slice(7, slash), filter: topic.slice(slash + 1) };
}

/** A subscription's filter: `$share/<group>/<filter>` and `$queue/<filter>` give `<filter>`. */
export function plainFilter(filter: string): string {
  return parseShared(filter)?.filter ?? filter;
}

/**
 * The QoS a message on `topic` goes to a client with, given its subscriptions (filter → granted
 * QoS): the highest of those that match [MQTT-3.3.5-1], shared ones by their filter; undefined
 * when none does.
 */
export function highestGrantedQoS(subscriptions: Readonly<Record<string, { qos: number }>>, topic: string): number | undefined {
  let best: number | undefined;
  for (const filter in subscriptions) {
    const qos = subscriptions[filter]!.qos || 0;
    if ((best === undefined || qos > best) && topicMatches(plainFilter(filter), topic)) best = qos;
  }
  return best;
}
