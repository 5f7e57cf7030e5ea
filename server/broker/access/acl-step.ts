// The ACL policy's steps on the hook chain: one check per SUBSCRIBE entry (refused: SUBACK 0x80)
// and per PUBLISH (refused: acknowledged and dropped as not_authorized, or the connection closed
// when the zone's acl_deny_action is disconnect). The acl engine (acl.ts) decides, synchronously.
import type { ConfigSource } from '../../config/source.ts';
import type { HookChain, PublishRefusal } from '../core/hook-chain.ts';
import type { Acl } from './acl.ts';

const SUBSCRIBE_REFUSED = 'not authorized (ACL)';
const PUBLISH_DROPPED: PublishRefusal = { drop: 'not_authorized', reason: 'not authorized (ACL)' };
const PUBLISH_DISCONNECT: PublishRefusal = { disconnect: 'not authorized (ACL), acl_deny_action = disconnect' };

export function registerAcl(chain: HookChain, deps: { acl: Acl; config: ConfigSource }): void {
  const { acl, config } = deps;
  chain.add('authorizeSubscribe', 'acl', (ctx, sub) => (acl.check(ctx, 'subscribe', sub.topic) ? undefined : SUBSCRIBE_REFUSED));
  chain.add('authorizePublish', 'acl', (ctx, packet) => {
    if (acl.check(ctx, 'publish', packet.topic)) return undefined;
    const c = config.get();
    const action = c.zones[ctx.zone]?.acl_deny_action ?? c.acl_deny_action;
    return action === 'disconnect' ? PUBLISH_DISCONNECT : PUBLISH_DROPPED;
  });
}
