// Rates for /monitor_current: the broker keeps cumulative counters; a sampler reads them every
// second and a rate is the difference over the last ~10 s. The timer is unref'd and stops on
// close() or the abort signal, so it never keeps a process or a test alive.
import type { BrokerControl } from '../../broker/types.ts';

const RATE_COUNTERS = {
  received_msg_rate: 'messages.received',
  sent_msg_rate: 'messages.sent',
  dropped_msg_rate: 'messages.dropped',
  received_bytes_rate: 'bytes.received',
  sent_bytes_rate: 'bytes.sent',
} as const;

export type RateName = keyof typeof RATE_COUNTERS;

/** the gauges of /monitor_current, the stored samples and the live stream, in EMQX's names */
export function monitorGauges(broker: BrokerControl) {
  const s = broker.stats();
  const n = (k: string) => s[k] ?? 0;
  return {
    connections: n('sessions.count'),
    live_connections: n('connections.count'),
    sessions: n('sessions.count'),
    subscriptions: n('subscriptions.count'),
    shared_subscriptions: n('subscriptions.shared.count'),
    topics: n('topics.count'),
    retained_msg_count: n('retained.count'),
  };
}

interface Sample {
  at: number;
  values: Record<string, number>;
}

export interface Monitor {
  rates(): Record<RateName, number>;
  close(): void;
}

export function createMonitor(broker: BrokerControl, opts: { sampleMs: number; windowMs?: number; signal?: AbortSignal }): Monitor {
  const windowMs = opts.windowMs ?? 10_000;
  const samples: Sample[] = [];
  const take = (): Sample => {
    const m = broker.metrics();
    const values: Record<string, number> = {};
    for (const name of Object.values(RATE_COUNTERS)) values[name] = m[name] ?? 0;
    return { at: Date.now(), values };
  };
  const record = () => {
    samples.push(take());
    // keep one sample older than the window, as the base of the rate
    while (samples.length > 2 && samples[1]!.at <= Date.now() - windowMs) samples.shift();
  };
  record();
  const timer = setInterval(record, opts.sampleMs);
  timer.unref();
  const close = () => clearInterval(timer);
  opts.signal?.addEventListener('abort', close, { once: true });

  return {
    rates() {
      const now = take();
      const base = samples.find((s) => s.at >= now.at - windowMs) ?? samples[0]!;
      const seconds = (now.at - base.at) / 1000;
      const out = {} as Record<RateName, number>;
      for (const [rate, counter] of Object.entries(RATE_COUNTERS) as [RateName, string][]) {
        const delta = now.values[counter]! - base.values[counter]!;
        out[rate] = seconds > 0 && delta > 0 ? Math.round((delta / seconds) * 100) / 100 : 0;
      }
      return out;
    },
    close,
  };
}
