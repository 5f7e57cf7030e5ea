// Where each value in force comes from: built-in default, emqx.conf (file:line), an EMQX_*
// variable, or the API (a value set through it wins over the file). Keyed by Config path with
// listeners as listeners.<proto>.<name>, the paths diffConfig reports. Pure: the caller passes the
// origins of the config in force (LoadedConfig.pathOrigins) and the paths the API set.
import { keyedListeners } from './source.ts';
import type { Config } from './types.ts';

export interface ValueSource {
  source: 'default' | 'file' | 'env' | 'api';
  /** file:line, or the EMQX_* variable */
  where?: string;
}

function leafPaths(value: unknown, path: string, out: string[]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leafPaths(v, path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(path);
}

/** the origin of `path`: its own, else the nearest enclosing path's (a whole object set by one line) */
function originOf(origins: Record<string, string>, path: string): string | undefined {
  for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    if (Object.hasOwn(origins, p)) return origins[p];
  }
  return undefined;
}

export function valueSources(config: Config, origins: Record<string, string>, apiPaths: Iterable<string> = []): Record<string, ValueSource> {
  const paths: string[] = [];
  leafPaths(keyedListeners(config), '', paths);
  const api = new Set(apiPaths);
  const out: Record<string, ValueSource> = {};
  for (const path of paths.sort()) {
    if (api.has(path)) {
      out[path] = { source: 'api' };
      continue;
    }
    const where = originOf(origins, path);
    if (where === undefined) out[path] = { source: 'default' };
    else if (where.startsWith('env ')) out[path] = { source: 'env', where: where.slice('env '.length) };
    else out[path] = { source: 'file', where };
  }
  return out;
}

/**
 * The origins after a reload: the new file's, except for the paths of keys that keep their old
 * value until a restart (their value, so their source, is still the old one).
 */
export function originsAfterReload(
  before: Record<string, string>,
  after: Record<string, string>,
  keepsOld: (path: string) => boolean,
): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [p, w] of Object.entries(after)) if (!keepsOld(p)) out[p] = w;
  for (const [p, w] of Object.entries(before)) if (keepsOld(p)) out[p] = w;
  return out;
}
