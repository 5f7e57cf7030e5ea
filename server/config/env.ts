// EMQX_* environment overrides -> entries for the same schema the file goes through, so a value
// is validated identically wherever it comes from. EMQX_ZONE__EXTERNAL__IDLE_TIMEOUT=30s becomes
// zone.external.idle_timeout = 30s; "__" is the separator because "." can't appear in a variable
// name and a single "_" is already part of keys like data_dir.
import { isValidKey, type Entry } from './parse.ts';

const PREFIX = 'EMQX_';

export function envEntries(env: NodeJS.ProcessEnv): { entries: Entry[]; warnings: string[] } {
  const entries: Entry[] = [];
  const warnings: string[] = [];
  // Sorted so the result doesn't depend on how the environment happened to be ordered.
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (!name.startsWith(PREFIX) || value === undefined) continue;
    const key = name.slice(PREFIX.length).toLowerCase().replaceAll('__', '.');
    const where = `env ${name}`;
    if (!isValidKey(key)) {
      // Not something a file could say either; it can only be a stray variable, not a config error.
      warnings.push(`${where}: does not map to a config key (ignored)`);
      continue;
    }
    // Values are taken verbatim (no comments or quotes in the environment), only trimmed.
    entries.push({ key, value: value.trim(), where });
  }
  return { entries, warnings };
}
