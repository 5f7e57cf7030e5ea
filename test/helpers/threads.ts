// This process's threads as Linux shows them (/proc/self/task): their nice values.
import { readdirSync, readFileSync } from 'node:fs';

/** the nice value of this process's thread `tid` (field 19 of its stat line) */
export function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // the fields after the command, which is in parentheses and may hold spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

/** the nice value of each thread of this process, by kernel id */
export function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc/self/task')) {
    try {
      out.set(Number(d), niceOf(Number(d)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
