// Per-hook delivery counters and request latency percentiles over the last LATENCY_SAMPLES
// requests. The counters and last error/success are kept in the hook's state row (outbox.ts), so
// they survive a restart; the latency samples are since start. pending and dead_letters are the
// outbox's counts, not counters.
import type { PersistedCounters } from './outbox.ts';
import type { HookStatsView } from './types.ts';

const LATENCY_SAMPLES = 1024;

export class HookStats {
  delivered = 0;
  failed = 0;
  dropped = 0;
  retried = 0;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  lastSuccessAt: number | null = null;
  readonly #latency = new Float64Array(LATENCY_SAMPLES);
  #samples = 0;

  constructor(from?: PersistedCounters) {
    if (!from) return;
    this.delivered = from.delivered;
    this.failed = from.failed;
    this.dropped = from.dropped;
    this.retried = from.retried;
    this.lastError = from.last_error;
    this.lastErrorAt = from.last_error_at;
    this.lastSuccessAt = from.last_success_at;
  }

  counters(): PersistedCounters {
    return {
      delivered: this.delivered,
      failed: this.failed,
      dropped: this.dropped,
      retried: this.retried,
      last_error: this.lastError,
      last_error_at: this.lastErrorAt,
      last_success_at: this.lastSuccessAt,
    };
  }

  request(ms: number): void {
    this.#latency[this.#samples++ % LATENCY_SAMPLES] = ms;
  }

  success(events: number, at = Date.now()): void {
    this.delivered += events;
    this.lastSuccessAt = at;
  }

  error(message: string, at = Date.now()): void {
    this.lastError = message;
    this.lastErrorAt = at;
  }

  /** the request latencies kept (the last LATENCY_SAMPLES), in no order */
  latencies(): Float64Array {
    return this.#latency.subarray(0, Math.min(this.#samples, LATENCY_SAMPLES));
  }

  view(pending: number, deadLetters: number): HookStatsView {
    const [p50, p99] = latencyPercentiles([this.latencies()]);
    return {
      delivered: this.delivered,
      failed: this.failed,
      pending,
      dropped: this.dropped,
      retried: this.retried,
      dead_letters: deadLetters,
      last_error: this.lastError,
      last_error_at: this.lastErrorAt,
      last_success_at: this.lastSuccessAt,
      latency_p50_ms: p50,
      latency_p99_ms: p99,
    };
  }
}

/** p50 and p99 (ms, 2 decimals) of the latencies of one or more hooks together; null with none */
export function latencyPercentiles(sets: Float64Array[]): [number | null, number | null] {
  const n = sets.reduce((a, s) => a + s.length, 0);
  if (n === 0) return [null, null];
  const all = new Float64Array(n);
  let o = 0;
  for (const s of sets) {
    all.set(s, o);
    o += s.length;
  }
  all.sort();
  const pct = (p: number) => Math.round(all[Math.min(n - 1, Math.floor((p / 100) * n))]! * 100) / 100;
  return [pct(50), pct(99)];
}
