// $SYS access on the hook chain. Clients never publish to $SYS [MQTT-3.3.5-2 lets a server drop
// what it will not accept]: the PUBLISH is acknowledged as usual and dropped, as EMQX does, instead
// of closing the connection.
import type { HookChain } from '../core/hook-chain.ts';

export function registerSysTopicsPolicy(chain: HookChain): void {
  chain.add('authorizePublish', 'sys-topics', (_ctx, packet) =>
    packet.topic.startsWith('$SYS/') ? { drop: 'not_authorized', reason: 'clients may not publish to $SYS' } : undefined,
  );
}
