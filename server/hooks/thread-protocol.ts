// The messages between the broker's thread (delivery-host.ts) and the delivery thread
// (delivery-thread.ts).
import type { Hook } from './types.ts';
import type { Outcome } from './worker.ts';

export interface ThreadInit {
  /** the store's SQLite file, opened read-only by the thread */
  file: string;
  userAgent: string;
  /** the commit counter and wake-up slots over a SharedArrayBuffer (commit-gate.ts) */
  commits: Int32Array;
}

export type ToThread =
  /** the enabled hooks (any other loop stops), each with the cursor the broker's thread knows */
  | { t: 'hooks'; hooks: { hook: Hook; cursor: number }[]; node: string }
  /** dead letters were moved back to the queue (the retry API): look again */
  | { t: 'kick'; ids: number[] }
  /** stop every loop, close the reader, then answer 'stopped' */
  | { t: 'stop' };

export type FromThread =
  | { t: 'sending'; hookId: number; last: number }
  | ({ t: 'outcome' } & Outcome)
  | { t: 'error'; message: string }
  | { t: 'stopped' };
