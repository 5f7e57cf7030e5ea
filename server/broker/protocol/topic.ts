// The topic filter check for subscriptions made by the broker (the matcher itself: ../topic.ts).
import type { Config } from '../../config/types.ts';

/**
 * Topic filter checks for subscriptions made by the broker (on a client's behalf): refuse what a
 * CONNECTed client would be refused, naming the rule, instead of storing a filter that never matches.
 */
/** undefined when valid, else why not */
export function topicFilterProblem(filter: string, mqtt: Config['mqtt']): string | undefined {
  if (filter.includes('\u0000')) return 'must not contain U+0000';
  if (Buffer.byteLength(filter) > 65535) return 'must be at most 65535 bytes';
  let real = filter;
  const shared = filter.startsWith('$share/') || filter.startsWith('$queue/');
  if (shared) {
    if (!mqtt.shared_subscription) return 'is a shared subscription, but mqtt.shared_subscription is off';
    if (filter.startsWith('$queue/')) {
      real = filter.slice('$queue/'.length);
    } else {
      const rest = filter.slice('$share/'.length);
      const slash = rest.indexOf('/');
      const group = slash < 0 ? rest : rest.slice(0, slash);
      if (group === '' || /[+#]/.test(group)) return 'needs a share group name without + or # ($share/<group>/<filter>)';
      if (slash < 0) return 'needs a filter after the share group ($share/<group>/<filter>)';
      real = rest.slice(slash + 1);
    }
  }
  if (real === '') return 'must not be empty';
  const levels = real.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    // [MQTT-4.7.1-2] '#' alone in the last level; [MQTT-4.7.1-3] '+' alone in its level
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "may use # only as the whole last level (e.g. a/#)";
    if (level.includes('+') && level !== '+') return 'may use + only as a whole level (e.g. a/+/c)';
  }
  if (!mqtt.wildcard_subscription && /[+#]/.test(real)) return 'uses a wildcard, but mqtt.wildcard_subscription is off';
  if (mqtt.max_topic_levels > 0 && levels.length > mqtt.max_topic_levels) return `has more than mqtt.max_topic_levels (${mqtt.max_topic_levels}) levels`;
  return undefined;
}
