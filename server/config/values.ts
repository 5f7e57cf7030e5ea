// Value parsers: raw text -> typed value, or throw Expected("<what was expected>"). They know
// nothing about keys or lines; schema.ts wraps their complaints into a full ConfigError.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Expected } from './errors.ts';

export function bool(raw: string): boolean {
  switch (raw.toLowerCase()) {
    case 'on':
    case 'true':
      return true;
    case 'off':
    case 'false':
      return false;
  }
  throw new Expected('on, off, true or false');
}

export function int(raw: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
  throw new Expected(
    max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`,
  );
}

export function qos(raw: string): 0 | 1 | 2 {
  if (raw === '0' || raw === '1' || raw === '2') return Number(raw) as 0 | 1 | 2;
  throw new Expected('a QoS of 0, 1 or 2');
}

export function oneOf<T extends string>(allowed: readonly T[]) {
  return (raw: string): T => {
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    throw new Expected(`one of ${allowed.join(', ')}`);
  };
}

// cuttlefish's units (minus its fortnight); 'ms' is listed before 'm' so the regex prefers it.
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^(\d+(ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+)(ms|s|m|h|d|w)/g;

/**
 * "15s", "2m", "1h30m", "500ms"; a bare number is milliseconds, as in EMQX. `positive` is for
 * timers where 0 would mean "fire continuously" rather than "off".
 */
export function duration(raw: string, positive = false): number {
  const s = raw.toLowerCase();
  let ms = NaN;
  if (/^\d+$/.test(s)) {
    ms = Number(s);
  } else if (DURATION.test(s)) {
    ms = 0;
    for (const [, n, unit] of s.matchAll(DURATION_PART)) ms += Number(n) * DURATION_UNITS[unit!]!;
  }
  if (!Number.isSafeInteger(ms)) {
    throw new Expected('a duration such as 15s, 2m, 1h (a bare number is milliseconds)');
  }
  if (positive && ms === 0) throw new Expected('a duration greater than 0, such as 15s, 2m, 1h');
  return ms;
}

// Binary multiples, as cuttlefish's bytesize.
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "64KB", "1MB", "1G", "512"; a bare number is bytes. Sizes are always at least `min`. */
export function size(raw: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const m = /^(\d+)\s*([kmg]?b?)$/i.exec(raw);
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new Expected('a size such as 64KB, 1MB, 1GB (a bare number is bytes)');
  }
  if (bytes < min || bytes > max) {
    throw new Expected(`a size from ${formatSize(min)} to ${formatSize(max)}`);
  }
  return bytes;
}

function formatSize(bytes: number): string {
  for (const [unit, n] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return bytes === 1 ? '1 byte' : `${bytes} bytes`;
}

export function nonEmpty(raw: string): string {
  if (raw === '') throw new Expected('a non-empty value');
  return raw;
}

/** Ends up in $SYS topic names, so it must not contain topic separators or wildcards. */
export function nodeName(raw: string): string {
  if (/^[A-Za-z0-9_.-]+@[A-Za-z0-9_.:-]+$/.test(raw)) return raw;
  throw new Expected('a node name such as tern@127.0.0.1 (name@host, no spaces, "/", "+" or "#")');
}

/**
 * "[ip:]port": "1883" (all interfaces), "127.0.0.1:1883", "[::1]:1883". Port 0 is allowed so
 * tests can let the OS pick. Hostnames are refused, as in EMQX: a listener binds an address.
 */
export function address(raw: string): { host: string; port: number } {
  let host = '0.0.0.0';
  let portText = raw;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(raw);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (net.isIPv6(host)) host = host.toLowerCase();
    else throw new Expected('an IPv6 address inside [ ], such as [::1]:1883');
  } else if (raw.includes(':')) {
    const colon = raw.lastIndexOf(':');
    host = raw.slice(0, colon);
    portText = raw.slice(colon + 1);
    if (!net.isIPv4(host)) {
      throw new Expected('[ip:]port such as 1883 or 127.0.0.1:1883 (IPv6 as [::1]:1883)');
    }
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new Expected('[ip:]port with a port from 0 to 65535, such as 1883 or 127.0.0.1:1883');
  }
  return { host, port: Number(portText) };
}

export function mqttPath(raw: string): string {
  if (/^\/[^\s?#]*$/.test(raw)) return raw;
  throw new Expected('a path starting with "/", such as /mqtt');
}

/** A URL path prefix such as /tern (a trailing "/" is dropped; "/" alone is the root). */
export function basePath(raw: string): string {
  if (/^\/[A-Za-z0-9._~\/-]*$/.test(raw) && !raw.includes('//')) return raw.length > 1 ? raw.replace(/\/$/, '') : raw;
  throw new Expected('a URL path starting with "/", such as / or /tern (letters, digits, "-", "_", ".", "~", "/")');
}

/** Zone names referenced by listeners; must be a name zone.<name>.<key> can define. */
export function zoneName(raw: string): string {
  if (/^[a-z0-9][a-z0-9_-]*$/.test(raw)) return raw;
  throw new Expected('a zone name such as external (lowercase letters, digits, "_", "-")');
}

/**
 * A file the broker will read later (TLS key/certs, ACL file). Checked now so a typo is reported
 * at its line instead of as an ENOENT from deep inside the TLS setup. Relative paths are
 * resolved against the working directory, as the broker will.
 */
export function existingFile(raw: string): string {
  nonEmpty(raw);
  const full = path.resolve(raw);
  let isFile = false;
  try {
    isFile = fs.statSync(full).isFile();
  } catch {
    // falls through to the Expected below
  }
  if (!isFile) throw new Expected(`an existing file (${full} does not exist or is not a file)`);
  return raw;
}

/**
 * Auto-subscribe topic templates are kept verbatim (both %c/%u and ${clientid}/${username});
 * only the wildcard rules of a topic filter are checked, since those can't be fixed later.
 */
export function topicFilter(raw: string): string {
  const levels = raw.split('/');
  const ok =
    raw !== '' &&
    !raw.includes('\u0000') &&
    levels.every((level, i) => {
      if (level.includes('#')) return level === '#' && i === levels.length - 1;
      if (level.includes('+')) return level === '+';
      return true;
    });
  if (ok) return raw;
  throw new Expected('a topic filter such as client/%c/# ("#" only as the whole last level, "+" only as a whole level)');
}

/**
 * EMQX listener access rules, "allow all" / "deny 10.0.0.0/8" / "allow 192.168.1.7". Normalised
 * to single spaces and kept as strings; the listener module enforces them.
 */
export function accessRule(raw: string): string {
  const m = /^(allow|deny)\s+(\S+)$/.exec(raw.trim());
  if (m) {
    const [, action, who] = m as unknown as [string, string, string];
    if (who === 'all') return `${action} all`;
    const [ip, bits, extra] = who.split('/');
    const family = net.isIP(ip!);
    const maxBits = family === 4 ? 32 : 128;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family !== 0 && bitsOk && extra === undefined) return `${action} ${who}`;
  }
  throw new Expected('an access rule such as "allow all", "deny 192.168.0.0/24" or "allow 10.0.0.7"');
}

/** EMQX 4's flapping_detect_policy: "<max disconnects>, <window>, <ban time>", e.g. "30, 1m, 5m". */
export function flappingPolicy(raw: string): { max_count: number; window_time: number; ban_time: number } {
  const parts = raw.split(',').map((p) => p.trim());
  const what = 'three values "<max disconnects>, <window>, <ban time>" such as 30, 1m, 5m (window and ban time > 0)';
  if (parts.length !== 3) throw new Expected(what);
  try {
    return { max_count: int(parts[0]!, 1), window_time: duration(parts[1]!, true), ban_time: duration(parts[2]!, true) };
  } catch {
    throw new Expected(what);
  }
}

/** An http:// or https:// URL with a host (webhook endpoints). */
export function httpUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') return raw;
  throw new Expected('an http:// or https:// URL such as http://127.0.0.1:8080/hook');
}
