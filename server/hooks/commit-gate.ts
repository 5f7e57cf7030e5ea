// How the broker's thread tells the delivery thread that outbox rows were committed, without a
// message per commit (a commit happens every millisecond or so under load; a message, or even an
// unconditional Atomics.notify, costs the broker tens of µs each time under contention). Shared
// Int32Array (thread-protocol.ts ThreadInit.commits):
//   [0] rows committed so far, all hooks (wrapping int32)
//   [1] the value of [0] the delivery thread wants to be woken at
//   [2] 1 while the delivery thread sleeps waiting for [1]; the committer clears it and notifies
// So the broker's thread pays an atomic add per commit, and a notify only when a loop waits for
// exactly what this commit brought. Even that notify (waking another thread) costs the broker
// tens of µs on a loaded machine, so while commits keep coming (BUSY_MS) the delivery thread
// looks at the counter every POLL_MS on its own timer instead: the broker never wakes it then.

export const COMMIT_SLOTS = 3;
/** commits this recent mean more are coming: poll instead of sleeping on a notify */
const BUSY_MS = 100;
const POLL_MS = 1;

/** the broker's thread: `n` rows were committed */
export function signalCommitted(c: Int32Array, n: number): void {
  const now = (Atomics.add(c, 0, n) + n) | 0;
  if (Atomics.load(c, 2) === 1 && ((now - Atomics.load(c, 1)) | 0) >= 0 && Atomics.compareExchange(c, 2, 1, 0) === 1) Atomics.notify(c, 2);
}

// Node 20 has it; the TypeScript lib of this project's target does not declare it yet
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> | string } }).waitAsync;

interface Waiter {
  key: number;
  /** wake when [0] reaches this */
  at: number;
  resolve: () => void;
  timer: NodeJS.Timeout | null;
}

/** the delivery thread's side */
export class CommitGate {
  readonly #c: Int32Array;
  readonly #waiters = new Set<Waiter>();
  #pumping = false;
  #lastValue = 0;
  #lastChange = 0;

  constructor(c: Int32Array) {
    this.#c = c;
  }

  /** the commit counter now (a loop notes it when it reads rows) */
  now(): number {
    return Atomics.load(this.#c, 0);
  }

  /** resolves once `need` rows were committed after `from`, after `timeoutMs`, or on wake(key) */
  wait(key: number, from: number, need: number, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const w: Waiter = { key, at: (from + need) | 0, resolve: () => {}, timer: null };
      w.resolve = () => {
        if (w.timer) clearTimeout(w.timer);
        this.#waiters.delete(w);
        resolve();
      };
      if (Number.isFinite(timeoutMs)) w.timer = setTimeout(w.resolve, timeoutMs);
      this.#waiters.add(w);
      // a pump sleeping on a farther threshold must look again
      const kick = this.#kickPump;
      this.#kickPump = null;
      kick?.();
      void this.#pump();
    });
  }

  /** ends the waits of `key` now (a stop, a requeue, a new definition) */
  wake(key: number): void {
    for (const w of [...this.#waiters]) if (w.key === key) w.resolve();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const c = this.#c;
    try {
      while (this.#waiters.size > 0) {
        const seen = Atomics.load(c, 0);
        const t = performance.now();
        if (seen !== this.#lastValue) {
          this.#lastValue = seen;
          this.#lastChange = t;
        }
        if (t - this.#lastChange < BUSY_MS) {
          for (const w of [...this.#waiters]) if (((seen - w.at) | 0) >= 0) w.resolve();
          if (this.#waiters.size === 0) break;
          await new Promise<void>((resolve) => setTimeout(resolve, POLL_MS));
          continue;
        }
        let min: number | undefined;
        for (const w of this.#waiters) if (min === undefined || ((w.at - min) | 0) < 0) min = w.at;
        Atomics.store(c, 1, min!);
        Atomics.store(c, 2, 1);
        const now = Atomics.load(c, 0);
        if (((now - min!) | 0) < 0) {
          const r = waitAsync(c, 2, 1);
          // woken by a commit, or by a newer, nearer wait (see below) or a timeout re-pumping
          if (r.async) await Promise.race([r.value, this.#repump()]);
        }
        Atomics.store(c, 2, 0);
        const at = Atomics.load(c, 0);
        for (const w of [...this.#waiters]) if (((at - w.at) | 0) >= 0) w.resolve();
      }
    } finally {
      Atomics.store(c, 2, 0);
      this.#pumping = false;
    }
  }

  #kickPump: (() => void) | null = null;

  /** resolves when the set of waiters changes (a nearer threshold, a timeout, a wake) */
  #repump(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#kickPump = resolve;
    });
  }
}
