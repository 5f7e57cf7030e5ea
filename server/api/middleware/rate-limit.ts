// Counts failures (wrong login passwords, wrong old_pwd) per source address in a sliding window.
// An address over the limit is refused until its oldest failure leaves the window, even with the
// right password, so guessing cannot continue at any speed.
import { TernError } from '../../errors.ts';

export interface FailureLimiter {
  /** throws TernError 429 TOO_MANY_REQUESTS (with retryAfterSec) when the address is over the limit */
  check(address: string): void;
  fail(address: string): void;
  reset(address: string): void;
}

export class TooManyRequests extends TernError {
  constructor(readonly retryAfterSec: number) {
    super('TOO_MANY_REQUESTS', `too many failed attempts from this address; retry in ${retryAfterSec} s`, 429);
  }
}

/** Bound on tracked addresses, so a spray of sources cannot grow memory without limit. */
const MAX_ADDRESSES = 10_000;

export function createFailureLimiter(opts: { max: number; windowMs: number; now?: () => number }): FailureLimiter {
  const now = opts.now ?? Date.now;
  const failures = new Map<string, number[]>();

  const recent = (address: string, t: number): number[] => {
    const list = (failures.get(address) ?? []).filter((at) => t - at < opts.windowMs);
    if (list.length === 0) failures.delete(address);
    else failures.set(address, list);
    return list;
  };

  return {
    check(address) {
      const t = now();
      const list = recent(address, t);
      if (list.length >= opts.max) {
        throw new TooManyRequests(Math.max(1, Math.ceil((list[0]! + opts.windowMs - t) / 1000)));
      }
    },
    fail(address) {
      const t = now();
      const list = recent(address, t);
      list.push(t);
      failures.delete(address); // re-insert: Map order is then least recently failed first
      failures.set(address, list);
      while (failures.size > MAX_ADDRESSES) failures.delete(failures.keys().next().value!);
    },
    reset(address) {
      failures.delete(address);
    },
  };
}
