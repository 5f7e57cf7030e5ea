// The broker's side of the delivery thread (delivery-thread.ts): starts it when the first enabled
// hook appears (no thread, no cost, when there is none), hands it the hooks and the commits, and
// passes its reports on. A thread that dies is started again from the cursors this side has
// recorded: an event whose outcome was not recorded yet is sent again (at least once).
import { Worker } from 'node:worker_threads';
import type { FromThread, ThreadInit, ToThread } from './thread-protocol.ts';
import type { Hook } from './types.ts';
import type { Outcome } from './worker.ts';

export interface DeliveryHostDeps {
  init: ThreadInit;
  /** the enabled hooks now, each with its recorded cursor */
  hooks: () => { hook: Hook; cursor: number }[];
  node: () => string;
  sending: (hookId: number, last: number) => void;
  outcome: (o: Outcome) => void;
  logger: { error(obj: object, msg: string): void };
}

const ENTRY = new URL('./delivery-thread.mjs', import.meta.url);
/** how long close() waits for the thread to stop its loops before terminating it */
const STOP_WAIT_MS = 2000;
const RESTART_DELAY_MS = 1000;

export class DeliveryHost {
  readonly #d: DeliveryHostDeps;
  #worker: Worker | null = null;
  #closed = false;
  /** kicks since the last message, sent once per turn of the event loop */
  readonly #kicks = new Set<number>();
  #kickScheduled = false;

  constructor(deps: DeliveryHostDeps) {
    this.#d = deps;
  }

  /** the hooks changed: (start the thread and) send the enabled ones */
  sync(): void {
    if (this.#closed) return;
    const hooks = this.#d.hooks();
    if (!this.#worker && hooks.length === 0) return;
    this.#post({ t: 'hooks', hooks, node: this.#d.node() });
  }

  kick(ids: Iterable<number>): void {
    if (!this.#worker || this.#closed) return;
    for (const id of ids) this.#kicks.add(id);
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(() => {
      this.#kickScheduled = false;
      if (this.#kicks.size === 0) return;
      const ids = [...this.#kicks];
      this.#kicks.clear();
      this.#post({ t: 'kick', ids });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#worker;
    this.#worker = null;
    if (!w) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_WAIT_MS);
      w.on('message', (m: FromThread) => {
        if (m.t === 'stopped') {
          clearTimeout(timer);
          resolve();
        }
      });
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ t: 'stop' } satisfies ToThread);
    });
    await w.terminate();
  }

  #post(m: ToThread): void {
    (this.#worker ?? this.#start()).postMessage(m);
  }

  #start(): Worker {
    // execArgv []: not the main thread's flags (a bench probe, --cpu-prof); the entry loads tsx
    const w = new Worker(ENTRY, { workerData: this.#d.init, execArgv: [] });
    this.#worker = w;
    w.on('message', (m: FromThread) => {
      if (w !== this.#worker) return;
      if (m.t === 'outcome') this.#d.outcome(m);
      else if (m.t === 'sending') this.#d.sending(m.hookId, m.last);
      else if (m.t === 'error') this.#d.logger.error({ err: m.message }, 'webhooks: delivery thread error');
    });
    w.on('error', (err) => this.#d.logger.error({ err }, 'webhooks: the delivery thread failed; starting it again'));
    w.on('exit', (code) => {
      if (w !== this.#worker || this.#closed) return;
      this.#worker = null;
      this.#d.logger.error({ code }, 'webhooks: the delivery thread exited; starting it again in a second');
      // a second apart: a thread that cannot start (say, the file is gone) does not spin
      setTimeout(() => this.sync(), RESTART_DELAY_MS).unref();
    });
    return w;
  }
}
