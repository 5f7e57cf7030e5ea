// emqx.conf text -> ordered (key, value, where) entries. Only syntax lives here; what a key means
// and which values it accepts is schema.ts' business, so the env overrides (env.ts) can feed the
// same schema without pretending to be a file.
import { ConfigError } from './errors.ts';

export interface Entry {
  /** dotted lowercase key, e.g. zone.external.idle_timeout */
  key: string;
  /** the raw value text: trimmed, trailing comment and surrounding quotes removed */
  value: string;
  /** "file:line" or "env EMQX_VAR"; prefixes every message about this entry */
  where: string;
}

/**
 * Each dot-separated part starts with a letter or digit. Besides matching every EMQX key, this
 * keeps "__proto__" and friends from ever becoming zone or listener names.
 */
const KEY = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

export function isValidKey(key: string): boolean {
  return KEY.test(key);
}

/**
 * Splits the file into entries, in file order (later duplicates win when applied, as in
 * cuttlefish). Throws ConfigError on a malformed line; says nothing about unknown keys.
 */
export function parseConfigText(text: string, source: string): Entry[] {
  const entries: Entry[] = [];
  // Editors on Windows add a BOM and CRLF; neither should turn into a "bad key" error.
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, i) => {
    const where = `${source}:${i + 1}`;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;

    // The first '=' separates: keys never contain one, values (passwords) may.
    const eq = trimmed.indexOf('=');
    if (eq < 0) {
      throw new ConfigError(`${where}: expected "key = value", got ${JSON.stringify(trimmed)}`);
    }
    const key = trimmed.slice(0, eq).trim();
    if (key === '') {
      throw new ConfigError(`${where}: missing key before "=" in ${JSON.stringify(trimmed)}`);
    }
    if (!isValidKey(key)) {
      throw new ConfigError(
        `${where}: invalid key ${JSON.stringify(key)}: expected lowercase letters, digits, "_" ` +
          `or "-" in dot-separated parts, such as zone.external.idle_timeout`,
      );
    }
    entries.push({ key, value: parseValue(trimmed.slice(eq + 1), where, key), where });
  });
  return entries;
}

/**
 * A value is either "quoted" (taken verbatim up to the next quote, for values with leading
 * spaces or " #") or bare. In a bare value a '#' that follows whitespace starts a trailing
 * comment; a '#' inside a word (a/#, pass#1) or as the first character (topic = #) is data,
 * because topic filters and passwords need it.
 */
function parseValue(rest: string, where: string, key: string): string {
  const v = rest.trim();
  if (v.startsWith('"')) {
    const end = v.indexOf('"', 1);
    if (end < 0) {
      throw new ConfigError(`${where}: ${key} = ${v}: expected a closing quote (")`);
    }
    const after = v.slice(end + 1).trim();
    if (after !== '' && !after.startsWith('#')) {
      throw new ConfigError(
        `${where}: ${key} = ${v}: expected only a comment after the closing quote, got ${JSON.stringify(after)}`,
      );
    }
    return v.slice(1, end);
  }
  const comment = /\s#/.exec(v);
  return comment ? v.slice(0, comment.index).trimEnd() : v;
}
