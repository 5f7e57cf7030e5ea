// The metrics history behind GET /monitor and the live numbers behind GET /monitor/stream.
// Every `sampleMs` (10 s) one row goes to monitor_sample: the counts at that moment and the
// messages received/sent/dropped since the previous sample; rows older than `keepMs` (24 h) are
// pruned on each write. The table survives restarts, so the dashboard's charts are not empty on
// open. The timer is unref'd and stops on close().
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { BrokerControl } from '../../broker/types.ts';
import type { Database, MonitorSampleTable } from '../../store/database.ts';
import { monitorGauges, type Monitor } from './monitor.ts';

export interface MonitorPoint extends MonitorSampleTable {
  received_msg_rate: number;
  sent_msg_rate: number;
  dropped_msg_rate: number;
}

export interface MonitorHistory {
  /** samples of the last `latestSeconds`, oldest first */
  latest(latestSeconds: number): Promise<MonitorPoint[]>;
  /** the current counts and rates (10 s averages), stamped now: one event of /monitor/stream */
  now(): LivePoint;
  /** writes a sample at once (also what the timer does) */
  sample(): Promise<void>;
  /** called after each sample is stored; returns the unsubscribe function */
  onSample(fn: (row: MonitorSampleTable) => void): () => void;
  close(): void;
}

/** a sample as the live stream sends it: the stored gauges, the counters as rates per second */
export type LivePoint = Omit<MonitorSampleTable, 'received' | 'sent' | 'dropped' | 'interval_ms'> & {
  received_msg_rate: number;
  sent_msg_rate: number;
  dropped_msg_rate: number;
};

const COUNTERS = { received: 'messages.received', sent: 'messages.sent', dropped: 'messages.dropped' } as const;

const rate = (n: number, ms: number) => (ms > 0 ? Math.round((n / (ms / 1000)) * 100) / 100 : 0);

export function toPoint(row: MonitorSampleTable): MonitorPoint {
  return {
    ...row,
    received_msg_rate: rate(row.received, row.interval_ms),
    sent_msg_rate: rate(row.sent, row.interval_ms),
    dropped_msg_rate: rate(row.dropped, row.interval_ms),
  };
}

export function createMonitorHistory(deps: {
  db: Kysely<Database>;
  broker: BrokerControl;
  monitor: Monitor;
  logger: Logger;
  sampleMs: number;
  keepMs?: number;
}): MonitorHistory {
  const keepMs = deps.keepMs ?? 24 * 3600_000;
  const counts = () => monitorGauges(deps.broker);
  const counters = () => {
    const m = deps.broker.metrics();
    return { received: m[COUNTERS.received] ?? 0, sent: m[COUNTERS.sent] ?? 0, dropped: m[COUNTERS.dropped] ?? 0 };
  };
  // The counters start at 0 with the process, so the first interval starts now.
  let last = { at: Date.now(), ...counters() };
  let closed = false;
  const sampled = new Set<(row: MonitorSampleTable) => void>();

  async function sample(): Promise<void> {
    if (closed) return;
    // time_stamp is the key: two samples within one millisecond (a manual sample() next to the
    // timer's) must not collide
    const at = Math.max(Date.now(), last.at + 1);
    const c = counters();
    const row: MonitorSampleTable = {
      time_stamp: at,
      ...counts(),
      received: Math.max(0, c.received - last.received),
      sent: Math.max(0, c.sent - last.sent),
      dropped: Math.max(0, c.dropped - last.dropped),
      interval_ms: at - last.at,
    };
    last = { at, ...c };
    await deps.db.insertInto('monitor_sample').values(row).onConflict((oc) => oc.doNothing()).execute();
    await deps.db.deleteFrom('monitor_sample').where('time_stamp', '<', at - keepMs).execute();
    for (const fn of sampled) fn(row);
  }

  const timer = setInterval(() => {
    sample().catch((err) => {
      if (!closed) deps.logger.warn({ err }, 'monitor sample not written');
    });
  }, deps.sampleMs);
  timer.unref();

  return {
    async latest(latestSeconds) {
      const rows = await deps.db
        .selectFrom('monitor_sample')
        .selectAll()
        .where('time_stamp', '>=', Date.now() - latestSeconds * 1000)
        .orderBy('time_stamp')
        .execute();
      return rows.map(toPoint);
    },
    now() {
      const r = deps.monitor.rates();
      return {
        time_stamp: Date.now(),
        ...counts(),
        received_msg_rate: r.received_msg_rate,
        sent_msg_rate: r.sent_msg_rate,
        dropped_msg_rate: r.dropped_msg_rate,
      };
    },
    sample,
    onSample(fn) {
      sampled.add(fn);
      return () => sampled.delete(fn);
    },
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
