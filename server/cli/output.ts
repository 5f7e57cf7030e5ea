// What `tern ctl` prints: aligned tables and key/value blocks for people, the API's JSON for
// scripts (--json). Commands hand over data and columns; they never format by hand.
import { durationParts } from '../duration-parts.ts';

export interface Column<T> {
  header: string;
  /** the cell; undefined and null print as "-" */
  value: (row: T) => unknown;
  /** right-align (numbers) */
  right?: boolean;
}

export interface Output {
  readonly json: boolean;
  /** --json: the value as JSON; otherwise `human()`'s text */
  print(value: unknown, human: () => string): void;
}

export function createOutput(json: boolean, write: (s: string) => void = (s) => process.stdout.write(s)): Output {
  return {
    json,
    print(value, human) {
      write(json ? JSON.stringify(value ?? null, null, 2) + '\n' : ensureNewline(human()));
    },
  };
}

const ensureNewline = (s: string) => (s === '' || s.endsWith('\n') ? s : s + '\n');

export function cell(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(cell).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  // one row per line, whatever a client id or topic holds
  return String(v).replace(/[\r\n\t]/g, ' ');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return empty + '\n';
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        if (columns[i]!.right) return v.padStart(widths[i]!);
        return i === values.length - 1 ? v : v.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** "key   value" lines, keys padded to the longest. */
export function keyValue(pairs: readonly [string, unknown][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n') + '\n';
}

/**
 * A table for rows whose shape this CLI does not fix (APIs of other modules): the preferred
 * columns that occur, then every other field that occurs, in first-seen order.
 */
export function looseTable(rows: readonly Record<string, unknown>[], preferred: readonly string[] = [], empty = '(none)'): string {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  const keys = [...preferred.filter((k) => seen.has(k)), ...[...seen].filter((k) => !preferred.includes(k))];
  return table(
    rows,
    keys.map((k) => ({ header: k.toUpperCase(), value: (r: Record<string, unknown>) => r[k], right: rows.every((r) => typeof r[k] === 'number' || r[k] == null) && rows.some((r) => typeof r[k] === 'number') })),
    empty,
  );
}

/** An object as key/value lines; nested objects are flattened with dots. */
export function looseObject(obj: Record<string, unknown>): string {
  return keyValue(flatten(obj));
}

export function flatten(value: unknown, prefix = ''): [string, unknown][] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return prefix ? [[prefix, '{}']] : [];
    return entries.flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  if (Array.isArray(value) && value.some((v) => v && typeof v === 'object')) {
    return value.flatMap((v, i) => flatten(v, `${prefix}.${i}`));
  }
  return [[prefix, value]];
}

/** The rows of a list answer: a bare array or EMQX's {data: [...]}. */
export function rowsOf(res: unknown): Record<string, unknown>[] {
  if (Array.isArray(res)) return res as Record<string, unknown>[];
  const data = (res as { data?: unknown } | null)?.data;
  return Array.isArray(data) ? (data as Record<string, unknown>[]) : [];
}

export function duration(ms: number): string {
  const { days: d, hours: h, minutes: m, seconds } = durationParts(ms);
  return [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${seconds}s`].filter(Boolean).join(' ');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
