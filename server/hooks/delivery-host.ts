// The broker's side of the delivery thread (delivery-thread.ts): starts it when the first enabled
// hook appears (no thread, no cost, when there is none), hands it the hooks and the commits, and
// passes its reports on. A thread that dies is started again from the cursors this side has
// recorded: an event whose outcome was not recorded yet is sent again (at least once).
import { Worker } from 'node:worker_threads';
import type { FromThread, ThreadInit, ToThread } from './thread-protocol.ts';
import type { Hook } from './types.ts';
import type { Outcome } from './worker.ts';
import { COMMIT_SLOTS, signalCommitted } from './commit-gate.ts';

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

/** `--cpu-prof` and its options (`--cpu-prof-dir DIR` or `--cpu-prof-dir=DIR`, ...) */
export function profilerFlags(execArgv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (!a.startsWith('--cpu-prof')) continue;
    out.push(a);
    if (a !== '--cpu-prof' && !a.includes('=') && i + 1 < execArgv.length) out.push(execArgv[++i]!);
  }
  return out;
}

export class DeliveryHost {
  readonly #d: DeliveryHostDeps;
  #worker: Worker | null = null;
  #closed = false;
  readonly #commits: Int32Array;

  constructor(deps: Omit<DeliveryHostDeps, 'init'> & { init: Omit<ThreadInit, 'commits'> }) {
    this.#commits = new Int32Array(new SharedArrayBuffer(COMMIT_SLOTS * 4));
    this.#d = { ...deps, init: { ...deps.init, commits: this.#commits } };
  }

  /** the hooks changed: (start the thread and) send the enabled ones */
  sync(): void {
    if (this.#closed) return;
    const hooks = this.#d.hooks();
    if (!this.#worker && hooks.length === 0) return;
    this.#post({ t: 'hooks', hooks, node: this.#d.node() });
  }

  /** `n` rows were committed (wakes the thread only if a loop waits for rows) */
  committed(n: number): void {
    signalCommitted(this.#commits, n);
  }

  /** rows went back to the hook's queue outside a commit of new events (the retry API) */
  kick(hookId: number): void {
    if (this.#worker && !this.#closed) this.#post({ t: 'kick', ids: [hookId] });
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
    // not the main thread's flags (a bench probe's --import, say: the entry loads tsx itself),
    // except --cpu-prof, so a profiled broker profiles its delivery thread too
    const w = new Worker(ENTRY, { workerData: this.#d.init, execArgv: profilerFlags(process.execArgv) });
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
