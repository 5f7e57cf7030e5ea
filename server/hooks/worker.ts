// One hook's delivery loop, off the broker's path: it reads committed outbox rows in id order,
// batch_size at a time, and has one request in flight. A failure is retried after an exponential
// backoff with jitter (retry_interval doubling up to max_retry_interval) until max_attempts,
// then the rows become dead letters and the loop goes on with the next ones. Events of one hook
// are therefore delivered in order, except dead letters resent through the retry API (they go to
// the end of the queue).
import type { Outbox, OutboxRow } from './outbox.ts';
import type { SendResult } from './delivery.ts';
import type { HookStats } from './stats.ts';
import type { Hook } from './types.ts';

export interface WorkerDeps {
  outbox: Outbox;
  send: (hook: Hook, body: string, stop: AbortSignal) => Promise<SendResult>;
  logger: { warn(obj: object, msg: string): void };
  /** after every delivery attempt, whatever its outcome, once the outbox has committed it */
  attempted?: (hookId: number) => void;
}

/** ms to wait before try `attempts + 1`: full exponential, then "equal jitter" (half fixed, half random) */
export function backoff(hook: Pick<Hook, 'retry_interval' | 'max_retry_interval'>, attempts: number, random = Math.random): number {
  const exp = Math.min(hook.max_retry_interval, hook.retry_interval * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

export class HookWorker {
  #hook: Hook;
  readonly stats: HookStats;
  readonly #d: WorkerDeps;
  /** every row with an id up to this one is delivered or a dead letter */
  #cursor = 0;
  #inflight: OutboxRow[] | null = null;
  #running = false;
  #stopped = false;
  #abort = new AbortController();
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | null = null;

  constructor(hook: Hook, stats: HookStats, deps: WorkerDeps) {
    this.#hook = hook;
    this.stats = stats;
    this.#d = deps;
  }

  get hook(): Hook {
    return this.#hook;
  }

  /** the highest outbox id this worker holds in flight (the outbox never drops those) */
  inflightMax(): number {
    const rows = this.#inflight;
    return rows ? rows[rows.length - 1]!.id : this.#cursor;
  }

  /** new rows are committed */
  kick(): void {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  /** a new definition: used from the next request on; a backoff wait ends now */
  update(hook: Hook): void {
    this.#hook = hook;
    this.#sleep?.wake();
  }

  /** ends the loop; a request in flight is abandoned (its rows stay pending) */
  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    this.#sleep?.wake();
  }

  async #loop(): Promise<void> {
    const { outbox } = this.#d;
    try {
      while (!this.#stopped) {
        let hook = this.#hook;
        let rows = this.#inflight ?? outbox.next(hook.id, this.#cursor, hook.batch_size);
        if (rows.length === 0) break;
        if (!this.#inflight && rows.length < hook.batch_size && hook.batch_time > 0) {
          // a partial batch: give the next commits a moment to fill it
          await this.#wait(hook.batch_time);
          if (this.#stopped) break;
          hook = this.#hook;
          rows = outbox.next(hook.id, this.#cursor, hook.batch_size);
          if (rows.length === 0) continue;
        }
        this.#inflight = rows;
        const body = hook.batch_size > 1 ? `[${rows.map((r) => r.body).join(',')}]` : rows[0]!.body;
        let attempts = 0;
        for (const r of rows) attempts = Math.max(attempts, r.attempts);
        if (attempts > 0) this.stats.retried += rows.length;
        const res = await this.#d.send(hook, body, this.#abort.signal);
        if (this.#stopped) break;
        attempts++;
        this.stats.request(res.ms);
        const last = rows[rows.length - 1]!.id;
        if (res.ok) {
          const committed = outbox.delivered(hook.id, rows, attempts);
          this.stats.success(rows.length);
          this.#cursor = last;
          this.#inflight = null;
          this.#notify(hook.id, committed);
          continue;
        }
        const error = res.error ?? 'failed';
        this.stats.error(error);
        for (const r of rows) r.attempts = attempts;
        if (attempts >= this.#hook.max_attempts) {
          const committed = outbox.failed(hook.id, rows, attempts, error);
          this.stats.failed += rows.length;
          this.#cursor = last;
          this.#inflight = null;
          this.#d.logger.warn({ hook: hook.name, events: rows.length, attempts, error }, 'webhook delivery failed: dead letter');
          this.#notify(hook.id, committed);
          continue;
        }
        this.#notify(hook.id, outbox.attempted(hook.id, rows, attempts, error));
        await this.#wait(backoff(this.#hook, attempts));
      }
    } finally {
      this.#running = false;
    }
  }

  /** tells who waits on deliveries, once the attempt's outcome is committed (the API reads it from the database) */
  #notify(hookId: number, committed: Promise<void>): void {
    const attempted = this.#d.attempted;
    if (attempted) void committed.then(() => attempted(hookId));
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleep = null;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleep = { timer, wake };
    });
  }
}
