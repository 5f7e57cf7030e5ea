// What a reload would change, and how each change applies: the difference between the config in
// force and the newly loaded one, by emqx.conf key, each classified
//   hot      applied in place (modules read the config source at use time)
//   rebind   a listener starts, stops, moves, or takes new settings or TLS files
//   restart  keeps its old value until the next start; named in the answer, never ignored
// Pure: no I/O. server/reload.ts loads, checks, plans with this, then applies.
import { defaultConfig, defaultZone } from './defaults.ts';
import { diffConfig } from './source.ts';
import { maskSecrets } from './mask.ts';
import type { Config, ListenerConfig } from './types.ts';

export type ChangeClass = 'hot' | 'rebind' | 'restart';

/** One changed key, as the API answers it (values masked). */
export interface KeyChange {
  /** the emqx.conf name: zone.external.max_mqueue_len, listener.tcp.external (its address) */
  key: string;
  old: unknown;
  new: unknown;
  class: ChangeClass;
  /** how it applies when that is not simply "at once, for everyone", or why it does not */
  note?: string;
}

export interface ReloadPlan {
  changes: KeyChange[];
  /** keys of class restart: they keep their old value in `effective` */
  restart_required: string[];
  /** the config to put in force: the new one (the same object when no key needs a restart), with every restart key at its value in force */
  effective: Config;
}

export interface PlanOptions {
  /**
   * Values set through the API that win over the file, by emqx.conf key
   * (zone.external.allow_anonymous → false): a change to such a key says so.
   */
  apiOverrides?: Record<string, unknown>;
  /** files named by the config whose content changed while their path did not */
  changedFiles?: { key: string; file: string }[];
  /** the answer says whether a removed listener's clients stay */
  closeRemovedListenerClients?: boolean;
}

interface Rule {
  key: RegExp;
  class: ChangeClass;
  note?: string | ((c: { key: string; old: unknown; new: unknown }) => string | undefined);
}

const alt = (names: string[]) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
// Only the keys known today are hot; a key added later is "restart" until a rule says otherwise,
// so a new key is never reported as applied when nothing applies it.
const MQTT_KEYS = alt(Object.keys(defaultConfig().mqtt));
const ZONE_KEYS = alt(Object.keys(defaultZone('external')));
const NEW_CONNECTIONS = 'applies to connections made from now on; connected clients keep the value they connected with';

/** First match wins. Exported so a module that learns to apply a key can say so in one place. */
export const RULES: Rule[] = [
  { key: /^(node\.name|node\.data_dir|persistence|dashboard\.listener\.http)$/, class: 'restart' },
  { key: /^log\.level$/, class: 'hot' },
  { key: /^(allow_anonymous|acl_nomatch|acl_file)$/, class: 'hot' },
  { key: new RegExp(`^mqtt\\.(${MQTT_KEYS})$`), class: 'hot' },
  { key: /^zone\.[^.]+\.session_expiry_interval$/, class: 'hot', note: 'applies to sessions that connect from now on' },
  { key: /^zone\.[^.]+\.idle_timeout$/, class: 'hot', note: 'applies to connections accepted from now on' },
  { key: /^zone\.[^.]+\.max_inflight$/, class: 'hot', note: 'reported as inflight_max; not enforced yet' },
  { key: /^zone\.[^.]+\.(retry_interval|await_rel_timeout)$/, class: 'hot', note: 'read, not applied yet' },
  { key: new RegExp(`^zone\\.[^.]+\\.(${ZONE_KEYS})$`), class: 'hot' },
  {
    key: /^zone\.[^.]+$/,
    class: 'hot',
    note: (c) => (c.new === null ? 'zone removed: sessions still in it use the external zone\'s settings' : 'zone added'),
  },
  {
    key: /^listener\.[^.]+\.[^.]+$/,
    class: 'rebind',
    note: (c) =>
      c.old === null
        ? 'listener starts'
        : c.new === null
          ? 'listener stops accepting'
          : `listener moves: it accepts on ${String(c.new)} from now on and no longer on ${String(c.old)}; established connections stay`,
  },
  {
    key: /^listener\.[^.]+\.[^.]+\.zone$/,
    class: 'rebind',
    note: (c) => `new connections join zone ${String(c.new)}; connected clients stay in zone ${String(c.old)}`,
  },
  {
    key: /^listener\.[^.]+\.[^.]+\.(keyfile|certfile|cacertfile)$/,
    class: 'rebind',
    note: 'new TLS handshakes use it; established TLS sessions are untouched',
  },
  { key: /^listener\.[^.]+\.[^.]+\.mqtt_path$/, class: 'rebind', note: 'new WebSocket upgrades use it; connected clients stay' },
  { key: /^listener\.[^.]+\.[^.]+\.(max_connections|max_conn_rate|access)$/, class: 'rebind', note: NEW_CONNECTIONS },
  { key: /^broker\.(sys_interval|sys_heartbeat|shared_subscription_strategy)$/, class: 'hot' },
  {
    key: /^dashboard\.default_user\.(login|password)$/,
    class: 'hot',
    note: 'only creates the first administrator when there is none; existing administrators are managed through the API (/users) and stay as they are',
  },
  {
    key: /^auth\.(user|client)$/,
    class: 'hot',
    note: 'seeds: new entries are inserted now; entries seeded before stay as the API left them (the API value stays in force)',
  },
  { key: /^module\.subscription$/, class: 'hot', note: 'applies to clients that connect from now on' },
  { key: /^(config\.watch|reload\.close_removed_listener_clients)$/, class: 'hot' },
];

const UNRULED = 'no reload rule for this key: it keeps its old value until a restart';
const RESTART = 'keeps its old value until a restart';

export function classify(key: string): Rule {
  return RULES.find((r) => r.key.test(key)) ?? { key: /.*/, class: 'restart', note: UNRULED };
}

/** The emqx.conf key a Config path belongs to (a listener's host and port are its one address key). */
export function confKeyOf(path: string): string {
  const parts = path.split('.');
  if (parts[0] === 'zones') return ['zone', ...parts.slice(1)].join('.');
  if (parts[0] === 'listeners') {
    const base = `listener.${parts[1]}.${parts[2]}`;
    return parts.length === 3 || parts[3] === 'host' || parts[3] === 'port' ? base : `${base}.${parts.slice(3).join('.')}`;
  }
  if (path.startsWith('dashboard.listener.')) return 'dashboard.listener.http';
  if (path === 'auth.users') return 'auth.user';
  if (path === 'auth.clientids') return 'auth.client';
  if (path === 'auto_subscriptions') return 'module.subscription';
  return path;
}

export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function findListener(c: Config, proto: string, name: string): ListenerConfig | undefined {
  return c.listeners.find((l) => l.proto === proto && l.name === name);
}

function getPath(obj: unknown, parts: string[]): unknown {
  let v = obj;
  for (const p of parts) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** The value of an emqx.conf key in a config, as the answer shows it (null when unset). */
export function valueOf(c: Config, key: string): unknown {
  const parts = key.split('.');
  let v: unknown;
  if (parts[0] === 'listener') {
    const l = findListener(c, parts[1]!, parts[2]!);
    v = parts.length === 3 ? (l ? formatAddress(l) : undefined) : getPath(l, parts.slice(3));
  } else if (parts[0] === 'zone') {
    v = getPath(c.zones, parts.slice(1));
  } else if (key === 'dashboard.listener.http') {
    v = formatAddress(c.dashboard.listener);
  } else if (key === 'auth.user') {
    v = c.auth.users;
  } else if (key === 'auth.client') {
    v = c.auth.clientids;
  } else if (key === 'module.subscription') {
    v = c.auto_subscriptions;
  } else {
    v = getPath(c, parts);
  }
  return maskSecrets(v, parts[parts.length - 1]);
}

/** Sets the value at a Config path (listeners addressed as listeners.<proto>.<name>...). */
function setPath(c: Config, path: string, value: unknown): void {
  const parts = path.split('.');
  if (parts[0] === 'listeners') {
    // no listener key is of class restart today; kept whole for a rule that makes one so
    const [, proto, name] = parts;
    const i = c.listeners.findIndex((l) => l.proto === proto && l.name === name);
    if (parts.length === 3) {
      if (value === undefined) {
        if (i >= 0) c.listeners.splice(i, 1);
      } else if (i >= 0) c.listeners[i] = structuredClone(value) as ListenerConfig;
      else c.listeners.push(structuredClone(value) as ListenerConfig);
      return;
    }
    if (i < 0) return;
    setIn(c.listeners[i] as unknown as Record<string, unknown>, parts.slice(3), value);
    return;
  }
  setIn(c as unknown as Record<string, unknown>, parts, value);
}

function setIn(obj: Record<string, unknown>, parts: string[], value: unknown): void {
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (o[p] === null || typeof o[p] !== 'object') o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = structuredClone(value);
}

function pathValue(c: Config, path: string): unknown {
  const parts = path.split('.');
  if (parts[0] === 'listeners') {
    const l = findListener(c, parts[1]!, parts[2]!);
    return parts.length === 3 ? l : getPath(l, parts.slice(3));
  }
  return getPath(c, parts);
}

/** The plan for putting `next` in force over `current`. */
export function planReload(current: Config, next: Config, opts: PlanOptions = {}): ReloadPlan {
  const byKey = new Map<string, string[]>();
  for (const path of diffConfig(current, next)) {
    const key = confKeyOf(path);
    byKey.set(key, [...(byKey.get(key) ?? []), path]);
  }
  // (a listener or zone added or removed is one path, so one change: diffConfig doesn't recurse into it)

  // `next` itself when no key needs a restart: a config built by loadConfig(), as the one Tern
  // started with, so the objects the hot paths read keep the shapes V8 has optimised for
  const needsRestart = [...byKey.keys()].some((key) => classify(key).class === 'restart');
  const effective = needsRestart ? structuredClone(next) : next;
  const changes: KeyChange[] = [];
  const restart: string[] = [];
  for (const [key, paths] of byKey) {
    const rule = classify(key);
    const change: KeyChange = { key, old: valueOf(current, key), new: valueOf(next, key), class: rule.class };
    let note = typeof rule.note === 'function' ? rule.note(change) : rule.note;
    if (rule.class === 'restart') {
      restart.push(key);
      note ??= RESTART;
      for (const path of paths) setPath(effective, path, pathValue(current, path));
    }
    if (rule.class === 'rebind' && change.new === null && /^listener\.[^.]+\.[^.]+$/.test(key)) {
      note += opts.closeRemovedListenerClients
        ? '; its clients are disconnected (reload.close_removed_listener_clients = on)'
        : '; its clients stay connected until they leave';
    }
    const override = opts.apiOverrides && Object.hasOwn(opts.apiOverrides, key) ? opts.apiOverrides[key] : undefined;
    if (override !== undefined) {
      note = `set through the API to ${JSON.stringify(override)}: the API value stays in force over the file`;
    } else if (key === 'allow_anonymous' && opts.apiOverrides) {
      const zones = Object.keys(opts.apiOverrides).filter((k) => /^zone\.[^.]+\.allow_anonymous$/.test(k)).map((k) => k.split('.')[1]);
      if (zones.length) note = `zones ${zones.join(', ')} keep the value set through the API`;
    }
    if (note) change.note = note;
    changes.push(change);
  }
  for (const f of opts.changedFiles ?? []) {
    if (byKey.has(f.key)) continue;
    const rule = classify(f.key);
    changes.push({
      key: f.key,
      old: f.file,
      new: f.file,
      class: rule.class,
      note: `the file's content changed${typeof rule.note === 'string' ? `: ${rule.note}` : ''}`,
    });
  }
  changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { changes, restart_required: restart.sort(), effective };
}

/**
 * Validates a file the config names (the ACL file, ...) before anything changes: throws
 * ConfigError naming file:line. `where(key)` is the file:line that set an emqx.conf key. May
 * return the step that puts what it read in force (it runs only once the reload is committed),
 * and the files whose content changed under an unchanged key, for the answer
 * ({ apply, changedFiles: [{ key: 'acl_file', file }] }).
 */
export type ReloadCheck = (
  next: Config,
  where: (key: string) => string,
) => void | (() => void) | { apply?: () => void; changedFiles?: { key: string; file: string }[] };
