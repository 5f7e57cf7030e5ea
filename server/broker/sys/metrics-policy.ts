// The per-message counters, as the metrics policy's steps on the hook chain: a plain increment
// per packet where the broker already is, instead of an event payload per message. Everything
// else (connections, sessions, drops) is counted where the event is emitted.
import type { HookChain } from '../core/hook-chain.ts';
import type { SessionRecord } from '../session/session-record.ts';
import type { Metrics } from './metrics.ts';

export function registerMetricsPolicy(chain: HookChain, metrics: Metrics): void {
  chain.add('published', 'metrics', (packet, publisher) => {
    metrics['messages.publish']++;
    if (!publisher) return;
    (publisher as SessionRecord).recvMsg++;
    metrics['messages.received']++;
    if (packet.qos === 0) metrics['messages.qos0.received']++;
    else if (packet.qos === 1) metrics['messages.qos1.received']++;
    else metrics['messages.qos2.received']++;
    if (packet.retain) metrics['messages.retained']++;
  });
  chain.add('authorizeForward', 'metrics', (receiver) => {
    (receiver as SessionRecord).sendMsg++;
    metrics['messages.sent']++;
    metrics['messages.delivered']++;
    return true;
  });
}
