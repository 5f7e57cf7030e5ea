// The Settings page's table: GET /configs flattened to one row per value, each with its source
// (default, file:line, env variable, API) from the answer's `sources`.
import { flatten } from './flatten.ts';

export interface ValueSource {
  source: 'default' | 'file' | 'env' | 'api';
  where?: string;
}
export interface ConfigRow {
  key: string;
  value: unknown;
  source: ValueSource;
}

interface Doc {
  listeners?: { proto: string; name: string }[];
  overrides?: Record<string, unknown>;
  sources?: Record<string, ValueSource>;
  [k: string]: unknown;
}

/** the source of `key`, or of the nearest path above it (an array of objects has one source) */
function sourceOf(sources: Record<string, ValueSource>, key: string): ValueSource {
  for (let p = key; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    if (Object.hasOwn(sources, p)) return sources[p]!;
  }
  return { source: 'default' };
}

export function configRows(doc: Doc): ConfigRow[] {
  const { overrides: _o, sources = {}, listeners = [], ...rest } = doc;
  // listeners by <proto>.<name>, as the API's sources (and emqx.conf) name them
  const keyed = Object.fromEntries(listeners.map((l) => [`${l.proto}.${l.name}`, l]));
  return flatten({ ...rest, listeners: keyed }).map(([key, value]) => ({ key, value, source: sourceOf(sources, key) }));
}

/** the badge text: "file", "env", "API", "default" */
export const sourceLabel = (s: ValueSource): string => (s.source === 'api' ? 'API' : s.source);
