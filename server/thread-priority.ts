// The webhook delivery thread runs at a lower scheduling priority than the broker's thread. Its
// work can wait: a hook's events are durable in the outbox and go out when there is CPU to spare.
// The broker's thread cannot: on a machine with few cores every millisecond the delivery thread
// takes from it delays the CONNECTs and PUBLISHes of every client, which is what a webhook must
// never do (issue 10). Measured on a 2-core machine: a QoS 0 flood with a message.publish hook on
// every message kept 0.71 of the no-hook rate with equal priorities, 0.74 with the delivery thread
// at nice 10 (BENCHMARKS.md, webhook scenarios, "Fifth round").
//
// The WAL checkpoint thread (store/checkpointer.ts) keeps the process's priority: at nice 10 its
// checkpoints can lag under QoS 1 persistence and let the WAL grow instead of being reused; in 3
// alternating runs each, qos1-pairs read ~3.5% lower with it lowered.
//
// Linux keeps a nice value per thread: setpriority(PRIO_PROCESS, tid) (os.setPriority) given a
// thread's kernel id changes that thread alone. A process may always lower its own threads'
// priority. Elsewhere (no /proc/thread-self) nothing changes.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** the nice value of a background thread (the broker's thread keeps the process's, usually 0) */
export const BACKGROUND_NICE = 10;

/** the calling thread's kernel id (Linux: /proc/thread-self links to /proc/<pid>/task/<tid>), or null */
export function currentThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** gives the thread `tid` (by default the calling one) the background priority; false where it cannot */
export function runInBackground(tid: number | null = currentThreadId()): boolean {
  if (tid === null) return false;
  try {
    setPriority(tid, BACKGROUND_NICE);
    return true;
  } catch {
    return false;
  }
}
