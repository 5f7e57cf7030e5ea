// $SYS access on the hook chain.
// - Subscribe: only the clients broker.sys_topics.allow names (by default the internal zone,
//   superusers and the dashboard user, as EMQX's default acl.conf) may subscribe to $SYS/...,
//   also through a shared subscription ($share/<g>/$SYS/...). Anyone else gets SUBACK 0x80; the
//   refusal is logged and counted (authorization.sys_topics.deny). With an acl_file configured,
//   its rules decide instead (EMQX's default acl.conf holds the $SYS rules), so this step defers.
// - Publish: clients never publish to $SYS [MQTT-3.3.5-2 lets a server drop what it will not
//   accept]: the PUBLISH is acknowledged as usual and dropped, as EMQX does, instead of closing
//   the connection.
import type { ConfigSource } from '../../config/source.ts';
import type { Logger } from '../../logger.ts';
import type { ClientContext, HookChain } from '../core/hook-chain.ts';
import type { Metrics } from './metrics.ts';

export interface SysTopicsDeps {
  config: ConfigSource;
  metrics: Metrics;
  logger: Logger;
}

const SYS_PUBLISH_REFUSED = { drop: 'not_authorized', reason: 'clients may not publish to $SYS' } as const;

/** the filter a subscription really matches: `$share/<g>/<f>` and `$queue/<f>` → `<f>` */
function realFilter(topic: string): string {
  if (topic.startsWith('$queue/')) return topic.slice(7);
  if (topic.startsWith('$share/')) {
    const slash = topic.indexOf('/', 7);
    return slash < 0 ? '' : topic.slice(slash + 1);
  }
  return topic;
}

export function mayReadSys(ctx: ClientContext & { authVia?: string | null }, allow: readonly string[]): boolean {
  for (const who of allow) {
    if (who === 'all') return true;
    if (who === 'internal_zone' && ctx.zone === 'internal') return true;
    if (who === 'superuser' && ctx.isSuperuser) return true;
    // the built-in user named "dashboard" (EMQX's acl.conf: {allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}),
    // logged in with its password: an anonymous client may claim any user name
    if (who === 'dashboard' && ctx.username === 'dashboard' && ctx.authVia === 'password') return true;
  }
  return false;
}

export function registerSysTopicsPolicy(chain: HookChain, deps: SysTopicsDeps): void {
  const log = deps.logger.child({ module: 'sys-topics' });
  chain.add('authorizeSubscribe', 'sys-topics', (ctx, sub) => {
    // '$' is 36; '#' and '+' never match $SYS topics [MQTT-4.7.2-1]
    if (sub.topic.charCodeAt(0) !== 36) return undefined;
    const filter = realFilter(sub.topic);
    if (filter !== '$SYS' && !filter.startsWith('$SYS/')) return undefined;
    const config = deps.config.get();
    // with an acl_file its rules decide, as in EMQX (its default file holds the $SYS rules)
    if (config.acl_file !== undefined) return undefined;
    if (mayReadSys(ctx, config.broker.sys_topics_allow)) return undefined;
    deps.metrics['authorization.sys_topics.deny']++;
    log.warn({ clientid: ctx.clientid, username: ctx.username, zone: ctx.zone, topic: sub.topic }, '$SYS subscription refused (broker.sys_topics.allow)');
    return 'not allowed to subscribe to $SYS (broker.sys_topics.allow)';
  });
  chain.add('authorizePublish', 'sys-topics', (_ctx, packet) =>
    packet.topic.charCodeAt(0) === 36 && packet.topic.startsWith('$SYS/') ? SYS_PUBLISH_REFUSED : undefined,
  );
}
