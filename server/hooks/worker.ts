// One hook's delivery loop, on the delivery thread (delivery-thread.ts): it reads committed outbox
// rows in id order, batch_size at a time, formats their bodies and has one request in flight. A
// failure is retried after an exponential backoff with jitter (retry_interval doubling up to
// max_retry_interval) until max_attempts, then the rows become dead letters and the loop goes on
// with the next ones. Events of one hook are therefore delivered in order, except dead letters
// resent through the retry API (they go to the end of the queue). Every outcome is reported to
// the broker's thread, which records it (outbox.ts) and counts it (stats.ts).
import type { QueuedEvent } from './pack.ts';
import type { SendResult } from './delivery.ts';
import type { Hook } from './types.ts';

/** one request's outcome, for rows first..last (n of them) of the hook */
export interface Outcome {
  hookId: number;
  first: number;
  last: number;
  n: number;
  ok: boolean;
  /** tries of these rows so far, this one included */
  attempts: number;
  /** the rows had been tried before (this was a retry) */
  retry: boolean;
  /** attempts reached max_attempts: the rows are dead letters now */
  dead: boolean;
  error: string | null;
  ms: number;
}

export interface WorkerDeps {
  next: (hookId: number, afterId: number, limit: number) => QueuedEvent[];
  /** the request body of these events (an array when the hook batches) */
  body: (rows: QueuedEvent[], hook: Hook) => Buffer | string;
  send: (hook: Hook, body: Buffer | string, stop: AbortSignal) => Promise<SendResult>;
  /** a request for rows up to `last` is about to leave (the outbox must not drop them) */
  sending: (hookId: number, last: number) => void;
  outcome: (o: Outcome) => void;
  /** the commit counter now */
  commits: () => number;
  /** resolves once `need` rows were committed after `from` (any hook), after timeoutMs, or on wake(hookId) */
  waitCommits: (hookId: number, from: number, need: number, timeoutMs: number) => Promise<void>;
  wake: (hookId: number) => void;
}

/** ms to wait before try `attempts + 1`: full exponential, then "equal jitter" (half fixed, half random) */
export function backoff(hook: Pick<Hook, 'retry_interval' | 'max_retry_interval'>, attempts: number, random = Math.random): number {
  const exp = Math.min(hook.max_retry_interval, hook.retry_interval * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

interface WorkerAhead {
  /** the cursor it follows */
  after: number;
  hook: Hook;
  rows: QueuedEvent[];
  body: Buffer | string;
}

export class HookWorker {
  #hook: Hook;
  readonly #d: WorkerDeps;
  /** every row with an id up to this one is delivered or a dead letter */
  #cursor: number;
  #inflight: QueuedEvent[] | null = null;
  /** the next full batch, read and formatted while the request before it was out */
  #ahead: WorkerAhead | null = null;
  #running = false;
  #stopped = false;
  #abort = new AbortController();
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | null = null;

  constructor(hook: Hook, cursor: number, deps: WorkerDeps) {
    this.#hook = hook;
    this.#cursor = cursor;
    this.#d = deps;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** starts the loop; it then runs until stop(), sleeping on the commit counter when there is nothing to send */
  start(): void {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  /** rows went back to the queue outside a commit of new events (the retry API) */
  kick(): void {
    this.#d.wake(this.#hook.id);
  }

  /** a new definition: used from the next request on; a backoff wait ends now */
  update(hook: Hook): void {
    this.#hook = hook;
    this.#sleep?.wake();
    this.#d.wake(hook.id);
  }

  /** ends the loop; a request in flight is abandoned (its rows stay pending) */
  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    this.#sleep?.wake();
    this.#d.wake(this.#hook.id);
  }

  async #loop(): Promise<void> {
    const d = this.#d;
    try {
      while (!this.#stopped) {
        let hook = this.#hook;
        const ahead = this.#ahead;
        this.#ahead = null;
        let rows: QueuedEvent[];
        let body: Buffer | string;
        if (ahead && !this.#inflight && ahead.after === this.#cursor && ahead.hook === hook) {
          rows = ahead.rows;
          body = ahead.body;
        } else {
          // the counter before the read: a commit after it is not in what the read returns
          const mark = d.commits();
          rows = this.#inflight ?? d.next(hook.id, this.#cursor, hook.batch_size);
          if (rows.length === 0) {
            await d.waitCommits(hook.id, mark, 1, Infinity);
            continue;
          }
          if (!this.#inflight && rows.length < hook.batch_size && hook.batch_time > 0) {
            rows = await this.#fill(rows, mark);
            if (this.#stopped) break;
            hook = this.#hook;
            if (rows.length === 0) continue;
          }
          body = d.body(rows, hook);
        }
        this.#inflight = rows;
        let attempts = 0;
        for (const r of rows) attempts = Math.max(attempts, r.attempts);
        const retry = attempts > 0;
        const first = rows[0]!.id;
        const last = rows[rows.length - 1]!.id;
        d.sending(hook.id, last);
        const sent = d.send(hook, body, this.#abort.signal);
        // One request is in flight per hook, so a busy hook's rate is one batch per round trip:
        // read and format the next full batch while this one is out, not after its answer.
        if (!this.#stopped) this.#ahead = this.#readAhead(hook, last);
        const res = await sent;
        if (this.#stopped) break;
        attempts++;
        const dead = !res.ok && attempts >= this.#hook.max_attempts;
        d.outcome({ hookId: hook.id, first, last, n: rows.length, ok: res.ok, attempts, retry, dead, error: res.ok ? null : (res.error ?? 'failed'), ms: res.ms });
        if (res.ok || dead) {
          this.#cursor = last;
          this.#inflight = null;
          continue;
        }
        for (const r of rows) r.attempts = attempts;
        await this.#wait(backoff(this.#hook, attempts));
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * A partial batch, given the next commits up to batch_time to fill it (a flood fills it at
   * once). The commit counter counts every hook's rows, and a commit between the noted count
   * (`mark`) and the read is counted twice, in the rows and in the count: a wait can end a row
   * or more early. So the rows are read again after each wait, and the wait goes on from a fresh
   * count until the batch is full or batch_time (of the hook's definition now) has passed.
   */
  async #fill(rows: QueuedEvent[], mark: number): Promise<QueuedEvent[]> {
    const d = this.#d;
    const start = performance.now();
    for (;;) {
      const hook = this.#hook;
      const left = start + hook.batch_time - performance.now();
      if (left <= 0 || rows.length >= hook.batch_size) return rows;
      await d.waitCommits(hook.id, mark, hook.batch_size - rows.length, left);
      if (this.#stopped) return rows;
      mark = d.commits();
      rows = d.next(this.#hook.id, this.#cursor, this.#hook.batch_size);
      if (rows.length === 0) return rows;
    }
  }

  /**
   * The full batch after `after`, formatted, or null. Its rows are reported as in flight only when
   * it is sent (a message per request, not two): if the outbox drops some of them for space
   * meanwhile, they are delivered anyway (the receiver gets more, never less; see outbox.delivered).
   */
  #readAhead(hook: Hook, after: number): WorkerAhead | null {
    const rows = this.#d.next(hook.id, after, hook.batch_size);
    if (rows.length < hook.batch_size) return null;
    return { after, hook, rows, body: this.#d.body(rows, hook) };
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
