// Which keys Tern reads, what each accepts, and how entries become a Config. Entries are applied
// in order onto defaultConfig(), so a later entry for the same key wins (file, then env); checks
// that span keys (a listener's zone exists, a user has both username and password) run once at
// the end, so the order of lines in the file never matters for them.
import { defaultConfig, defaultListener, defaultZone } from './defaults.ts';
import { ConfigError, Expected } from './errors.ts';
import type { Entry } from './parse.ts';
import type { Config, ListenerConfig, ListenerProto, LogLevel, SharedStrategy, SysTopicsWho, WebHookRule, ZoneConfig } from './types.ts';
import * as v from './values.ts';

type Setter<T> = (target: T, raw: string) => void;

// EMQX 4 spells some levels differently; accept them so an EMQX emqx.conf loads unchanged.
const LOG_LEVELS: Record<string, LogLevel> = {
  trace: 'trace', debug: 'debug', info: 'info', notice: 'info', warn: 'warn', warning: 'warn',
  error: 'error', fatal: 'fatal', critical: 'fatal', alert: 'fatal', emergency: 'fatal',
  silent: 'silent', none: 'silent',
};
function logLevel(raw: string): LogLevel {
  const level = Object.hasOwn(LOG_LEVELS, raw) ? LOG_LEVELS[raw] : undefined;
  if (level) return level;
  throw new Expected('one of trace, debug, info, warn, error, fatal, silent (or EMQX\'s notice, warning, critical, alert, emergency, none)');
}

const STRATEGIES: SharedStrategy[] = ['random', 'round_robin', 'round_robin_per_group', 'sticky', 'hash_clientid', 'hash_topic'];
const SYS_WHO: SysTopicsWho[] = ['internal_zone', 'superuser', 'dashboard', 'all'];

/** "internal_zone,superuser": a non-empty comma-separated list of SYS_WHO, or "none" */
function sysTopicsAllow(raw: string): SysTopicsWho[] {
  if (raw.trim().toLowerCase() === 'none') return [];
  const items = raw.split(',').map((x) => x.trim());
  if (items.length > 0 && items.every((x) => (SYS_WHO as string[]).includes(x))) return [...new Set(items)] as SysTopicsWho[];
  throw new Expected(`a comma-separated list of ${SYS_WHO.join(', ')} (or none)`);
}
/** MQTT's Remaining Length tops out at 268,435,455 bytes; a larger limit could never be hit. */
const MQTT_MAX_PACKET = 268_435_455;

// Maps (not object literals) so a key like "constructor" can't find Object.prototype members.
const GLOBAL_KEYS = new Map<string, Setter<Config>>([
  ['node.name', (c, raw) => { c.node.name = v.nodeName(raw); }],
  ['node.data_dir', (c, raw) => { c.node.data_dir = v.nonEmpty(raw); }],
  ['log.level', (c, raw) => { c.log.level = logLevel(raw); }],
  ['log.format', (c, raw) => { c.log.format = v.oneOf(['auto', 'text', 'json'] as const)(raw); }],
  // EMQX 4.3's spelling of the same key
  ['log.formatter', (c, raw) => { c.log.format = v.oneOf(['auto', 'text', 'json'] as const)(raw); }],
  ['log.to', (c, raw) => { c.log.to = v.oneOf(['console', 'file', 'both'] as const)(raw); }],
  ['log.file', (c, raw) => { c.log.file = v.nonEmpty(raw); }],
  ['log.rotation', (c, raw) => { c.log.rotation.enable = v.bool(raw); }],
  ['log.rotation.size', (c, raw) => { c.log.rotation.size = v.size(raw, 1024); }],
  ['log.rotation.count', (c, raw) => { c.log.rotation.count = v.int(raw, 1, 1000); }],
  ['allow_anonymous', (c, raw) => { c.allow_anonymous = v.bool(raw); }],
  ['acl_nomatch', (c, raw) => { c.acl_nomatch = v.oneOf(['allow', 'deny'] as const)(raw); }],
  // An empty value unsets it again (e.g. EMQX_ACL_FILE= over a file that sets one).
  ['acl_file', (c, raw) => { c.acl_file = raw === '' ? undefined : v.existingFile(raw); }],
  ['acl_deny_action', (c, raw) => { c.acl_deny_action = v.oneOf(['ignore', 'disconnect'] as const)(raw); }],
  ['acl_cache_max_size', (c, raw) => { c.acl_cache_max_size = v.int(raw, 0, 1_000_000); }],
  ['acl_cache_ttl', (c, raw) => { c.acl_cache_ttl = v.duration(raw); }],
  ['flapping_detect_policy', (c, raw) => { c.flapping_detect_policy = v.flappingPolicy(raw); }],
  ['audit.max_rows', (c, raw) => { c.audit.max_rows = v.int(raw, 1, 100_000_000); }],
  ['persistence', (c, raw) => { c.persistence = v.oneOf(['memory', 'sqlite'] as const)(raw); }],
  ['mqtt.max_packet_size', (c, raw) => { c.mqtt.max_packet_size = v.size(raw, 1, MQTT_MAX_PACKET); }],
  // MQTT strings are at most 65535 bytes long, so a larger limit is meaningless.
  ['mqtt.max_clientid_len', (c, raw) => { c.mqtt.max_clientid_len = v.int(raw, 1, 65535); }],
  ['mqtt.max_topic_levels', (c, raw) => { c.mqtt.max_topic_levels = v.int(raw, 0, 65535); }],
  ['mqtt.max_qos_allowed', (c, raw) => { c.mqtt.max_qos_allowed = v.qos(raw); }],
  ['mqtt.retain_available', (c, raw) => { c.mqtt.retain_available = v.bool(raw); }],
  ['mqtt.wildcard_subscription', (c, raw) => { c.mqtt.wildcard_subscription = v.bool(raw); }],
  ['mqtt.shared_subscription', (c, raw) => { c.mqtt.shared_subscription = v.bool(raw); }],
  ['broker.sys_interval', (c, raw) => { c.broker.sys_interval = v.duration(raw); }],
  ['broker.sys_heartbeat', (c, raw) => { c.broker.sys_heartbeat = v.duration(raw); }],
  ['broker.shared_subscription_strategy', (c, raw) => {
    c.broker.shared_subscription_strategy = v.oneOf(STRATEGIES)(raw);
  }],
  ['broker.sys_topics.allow', (c, raw) => { c.broker.sys_topics_allow = sysTopicsAllow(raw); }],
  ['dashboard.listener.http', (c, raw) => { c.dashboard.listener = v.address(raw); }],
  ['dashboard.default_user.login', (c, raw) => { c.dashboard.default_user.login = v.nonEmpty(raw); }],
  ['dashboard.default_user.password', (c, raw) => { c.dashboard.default_user.password = v.nonEmpty(raw); }],
  ['config.watch', (c, raw) => { c.config.watch = v.bool(raw); }],
  ['reload.close_removed_listener_clients', (c, raw) => { c.reload.close_removed_listener_clients = v.bool(raw); }],
  ['web.hook.url', (c, raw) => { c.web_hook.url = raw === '' ? undefined : v.httpUrl(raw); }],
  ['web.hook.body.encoding_of_payload_field', (c, raw) => {
    // EMQX 4 also had base62, which no receiver decodes without a library: not offered
    c.web_hook.encoding_of_payload_field = v.oneOf(['plain', 'base64'] as const)(raw);
  }],
  ['web.hook.outbox_max', (c, raw) => { c.web_hook.outbox_max = v.int(raw, 1); }],
  ['dashboard.base_path', (c, raw) => { c.dashboard.base_path = v.basePath(raw); }],
]);

/** The EMQX hook points a web.hook.rule.<event>.<n> may name (server/broker/events.ts has the same list). */
export const WEB_HOOK_EVENTS: readonly string[] = [
  'client.connect', 'client.connack', 'client.connected', 'client.disconnected', 'client.authenticate',
  'client.check_acl', 'client.subscribe', 'client.unsubscribe', 'session.created', 'session.resumed',
  'session.subscribed', 'session.unsubscribed', 'session.takeovered', 'session.discarded', 'session.terminated',
  'message.publish', 'message.delivered', 'message.acked', 'message.dropped',
];

/** web.hook.rule.<event>.<n> = {"action": "on_<event with _>", "topic": "<filter>"} */
function webHookRule(event: string, raw: string): WebHookRule {
  const action = 'on_' + event.replace('.', '_');
  const expected = `a JSON object such as {"action": "${action}"${event.startsWith('message.') ? ', "topic": "a/#"' : ''}}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Expected(expected);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Expected(expected);
  const o = parsed as Record<string, unknown>;
  if (o.action !== action) throw new Expected(`"action": "${action}" (the action of ${event}) in ${expected}`);
  let topic: string | undefined;
  if (o.topic !== undefined) {
    if (!event.startsWith('message.')) throw new Expected(`no "topic": only message.* rules filter by topic`);
    if (typeof o.topic !== 'string') throw new Expected('"topic" to be a topic filter string such as "a/#"');
    topic = v.topicFilter(o.topic);
  }
  for (const k of Object.keys(o)) {
    if (k !== 'action' && k !== 'topic') throw new Expected(`only "action" and "topic" in ${expected}, not ${JSON.stringify(k)}`);
  }
  return { event, action, topic };
}

/** zone.<name>.<key> */
const ZONE_KEYS = new Map<string, Setter<ZoneConfig>>([
  ['allow_anonymous', (z, raw) => { z.allow_anonymous = v.bool(raw); }],
  // Timers: 0 would mean "fire continuously", never "off", so they must be positive.
  ['idle_timeout', (z, raw) => { z.idle_timeout = v.duration(raw, true); }],
  ['max_subscriptions', (z, raw) => { z.max_subscriptions = v.int(raw); }],
  // Packet identifiers are 16-bit, so more than 65535 messages can never be in flight.
  ['max_inflight', (z, raw) => { z.max_inflight = v.int(raw, 1, 65535); }],
  ['retry_interval', (z, raw) => { z.retry_interval = v.duration(raw, true); }],
  ['max_awaiting_rel', (z, raw) => { z.max_awaiting_rel = v.int(raw); }],
  ['await_rel_timeout', (z, raw) => { z.await_rel_timeout = v.duration(raw, true); }],
  ['session_expiry_interval', (z, raw) => { z.session_expiry_interval = v.duration(raw); }],
  ['max_mqueue_len', (z, raw) => { z.max_mqueue_len = v.int(raw); }],
  ['mqueue_store_qos0', (z, raw) => { z.mqueue_store_qos0 = v.bool(raw); }],
  ['acl_deny_action', (z, raw) => { z.acl_deny_action = v.oneOf(['ignore', 'disconnect'] as const)(raw); }],
  ['enable_flapping_detect', (z, raw) => { z.enable_flapping_detect = v.bool(raw); }],
]);

const PROTOS: readonly ListenerProto[] = ['tcp', 'ws', 'ssl', 'wss'];

/** listener.<proto>.<name>.<key>; `protos` lists where the key means something. */
const LISTENER_KEYS = new Map<string, { protos: readonly ListenerProto[]; set: Setter<ListenerConfig> }>([
  ['zone', { protos: PROTOS, set: (l, raw) => { l.zone = v.zoneName(raw); } }],
  ['max_connections', { protos: PROTOS, set: (l, raw) => { l.max_connections = v.int(raw); } }],
  ['max_conn_rate', { protos: PROTOS, set: (l, raw) => { l.max_conn_rate = v.int(raw); } }],
  ['mqtt_path', { protos: ['ws', 'wss'], set: (l, raw) => { l.mqtt_path = v.mqttPath(raw); } }],
  ['keyfile', { protos: ['ssl', 'wss'], set: (l, raw) => { l.keyfile = v.existingFile(raw); } }],
  ['certfile', { protos: ['ssl', 'wss'], set: (l, raw) => { l.certfile = v.existingFile(raw); } }],
  ['cacertfile', { protos: ['ssl', 'wss'], set: (l, raw) => { l.cacertfile = v.existingFile(raw); } }],
]);

/** What we remember about a listener beyond its ListenerConfig, for the end-of-load checks. */
interface ListenerSlot {
  cfg: ListenerConfig;
  /** `listener.<proto>.<name> = off` removes a listener, including a built-in one. */
  disabled: boolean;
  /** where its address was set ('built-in' for the defaults), undefined if never set */
  addressWhere: string | undefined;
  /** where the first sub-key was set, to blame if the address never comes */
  firstWhere: string;
  /** where `.zone` was set, to blame if the zone doesn't exist */
  zoneWhere: string | undefined;
  access: Map<number, string>;
}

interface Indexed<T> {
  fields: Partial<T>;
  /** where the first key of this <n> was set */
  where: string;
}

/** Accumulates entries onto a Config; finish() runs the cross-key checks. */
export class ConfigBuilder {
  private readonly config: Config = defaultConfig();
  private readonly warnings: string[] = [];
  private readonly origins: Record<string, string> = {};
  /** where each Config path was last written, e.g. "zones.external.idle_timeout" → "emqx.conf:12" */
  private readonly pathOrigins: Record<string, string> = Object.create(null) as Record<string, string>;
  private readonly listeners = new Map<string, ListenerSlot>();
  private readonly users = new Map<number, Indexed<{ username: string; password: string }>>();
  private readonly clients = new Map<number, string>();
  private readonly subscriptions = new Map<number, Indexed<{ topic: string; qos: 0 | 1 | 2 }>>();
  private dashboardWhere = 'built-in';
  private readonly webHookRules = new Map<string, Map<number, WebHookRule>>();
  private webHookRuleWhere: string | undefined;

  constructor() {
    for (const cfg of this.config.listeners) {
      this.listeners.set(`${cfg.proto}.${cfg.name}`, {
        cfg, disabled: false, addressWhere: 'built-in', firstWhere: 'built-in', zoneWhere: undefined, access: new Map(),
      });
    }
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  apply(entry: Entry): void {
    const { key, value, where } = entry;
    // Runs a setter, turning its Expected into the full "where: key = value: expected ..." text.
    const run = (set: (raw: string) => void): void => {
      try {
        set(value);
      } catch (err) {
        if (err instanceof Expected) {
          throw new ConfigError(`${where}: ${key} = ${JSON.stringify(value)}: expected ${err.message}`);
        }
        throw err;
      }
    };
    const parts = key.split('.');
    this.origins[key] = where;

    const global = GLOBAL_KEYS.get(key);
    if (global) {
      run((raw) => global(this.track(this.config, '', where), raw));
      if (key === 'dashboard.listener.http') this.dashboardWhere = where;
      return;
    }

    // broker.<group>.shared_subscription_strategy
    if (parts[0] === 'broker' && parts.length === 3 && parts[2] === 'shared_subscription_strategy') {
      const group = parts[1]!;
      run((raw) => {
        setGroupStrategy(this.config, group, v.oneOf(STRATEGIES)(raw));
      });
      this.pathOrigins[`broker.group_strategies.${group}`] = where;
      return;
    }

    if (parts[0] === 'zone' && parts.length === 3) {
      const set = ZONE_KEYS.get(parts[2]!);
      if (set) {
        // Only a known key creates a zone: an ignored line shouldn't change what exists.
        const zones = this.config.zones;
        const name = parts[1]!;
        const zone = Object.hasOwn(zones, name) ? zones[name]! : (zones[name] = defaultZone(name));
        run((raw) => set(this.track(zone, `zones.${name}`, where), raw));
        return;
      }
    }

    if (parts[0] === 'listener' && parts.length >= 3 && (PROTOS as string[]).includes(parts[1]!)) {
      const proto = parts[1] as ListenerProto;
      const name = parts[2]!;
      if (parts.length === 3) {
        const slot = this.listener(proto, name, where);
        if (value.toLowerCase() === 'off') {
          slot.disabled = true;
        } else {
          run((raw) => Object.assign(this.track(slot.cfg, `listeners.${proto}.${name}`, where), v.address(raw)));
          slot.disabled = false;
          slot.addressWhere = where;
        }
        return;
      }
      if (parts.length === 5 && parts[3] === 'access' && /^\d+$/.test(parts[4]!)) {
        const slot = this.listener(proto, name, where);
        run((raw) => slot.access.set(Number(parts[4]), v.accessRule(raw)));
        this.pathOrigins[`listeners.${proto}.${name}.access`] = where;
        return;
      }
      const sub = parts.length === 4 ? LISTENER_KEYS.get(parts[3]!) : undefined;
      if (sub) {
        if (!sub.protos.includes(proto)) {
          this.warn(`${where}: ${key} only applies to ${sub.protos.join('/')} listeners (ignored)`);
          return;
        }
        const slot = this.listener(proto, name, where);
        run((raw) => sub.set(this.track(slot.cfg, `listeners.${proto}.${name}`, where), raw));
        if (parts[3] === 'zone') slot.zoneWhere = where;
        return;
      }
    }

    // auth.user.<n>.username|password, auth.client.<n>.clientid, module.subscription.<n>.topic|qos
    const indexed = /^(auth\.user|auth\.client|module\.subscription)\.(\d+)\.([a-z_]+)$/.exec(key);
    if (indexed) {
      const [, group, n, field] = indexed as unknown as [string, string, string, string];
      const index = Number(n);
      if (group === 'auth.user' && (field === 'username' || field === 'password')) {
        const user = this.indexed(this.users, index, where);
        run((raw) => { user.fields[field] = v.nonEmpty(raw); });
        this.pathOrigins['auth.users'] = where;
        return;
      }
      if (group === 'auth.client' && field === 'clientid') {
        run((raw) => this.clients.set(index, v.nonEmpty(raw)));
        this.pathOrigins['auth.clientids'] = where;
        return;
      }
      if (group === 'module.subscription' && (field === 'topic' || field === 'qos')) {
        const sub = this.indexed(this.subscriptions, index, where);
        if (field === 'topic') run((raw) => { sub.fields.topic = v.topicFilter(raw); });
        else run((raw) => { sub.fields.qos = v.qos(raw); });
        this.pathOrigins.auto_subscriptions = where;
        return;
      }
    }

    // web.hook.headers.<name>, web.hook.rule.<event>.<n>
    if (parts[0] === 'web' && parts[1] === 'hook') {
      if (parts[2] === 'headers' && parts.length === 4) {
        const name = parts[3]!;
        run((raw) => { this.config.web_hook.headers[name] = v.nonEmpty(raw); });
        this.pathOrigins[`web_hook.headers.${name}`] = where;
        return;
      }
      if (parts[2] === 'rule' && parts.length === 6 && /^\d+$/.test(parts[5]!)) {
        const event = `${parts[3]}.${parts[4]}`;
        if (!WEB_HOOK_EVENTS.includes(event)) {
          throw new ConfigError(`${where}: ${key}: unknown hook point ${JSON.stringify(event)}: expected one of ${WEB_HOOK_EVENTS.join(', ')}`);
        }
        let rules = this.webHookRules.get(event);
        if (!rules) this.webHookRules.set(event, (rules = new Map()));
        const n = Number(parts[5]);
        run((raw) => rules.set(n, webHookRule(event, raw)));
        this.pathOrigins['web_hook.rules'] = where;
        this.webHookRuleWhere ??= where;
        return;
      }
    }

    this.warn(`${where}: unknown key ${JSON.stringify(key)} (ignored)`);
  }

  /** Cross-key checks, then the final Config. Throws ConfigError on the first problem. */
  finish(): { config: Config; warnings: string[]; origins: Record<string, string>; pathOrigins: Record<string, string> } {
    const config = this.config;
    const started: { label: string; where: string; host: string; port: number }[] = [];

    config.listeners = [];
    for (const [id, slot] of this.listeners) {
      if (slot.disabled) continue;
      const l = slot.cfg;
      if (slot.addressWhere === undefined) {
        throw new ConfigError(
          `${slot.firstWhere}: listener.${id} has settings but no address: expected a line ` +
            `"listener.${id} = [ip:]port" (or remove its settings)`,
        );
      }
      if (!Object.hasOwn(config.zones, l.zone)) {
        throw new ConfigError(
          `${slot.zoneWhere ?? slot.addressWhere}: listener.${id}.zone = ${JSON.stringify(l.zone)}: ` +
            `expected a defined zone (${Object.keys(config.zones).join(', ')}); ` +
            `define it with zone.${l.zone}.<key> = <value>`,
        );
      }
      if (slot.access.size > 0) l.access = sortedValues(slot.access);
      const tls = l.proto === 'ssl' || l.proto === 'wss';
      if (tls && (l.keyfile === undefined) !== (l.certfile === undefined)) {
        this.warn(
          `${slot.addressWhere}: listener.${id} has ${l.keyfile ? 'keyfile but no certfile' : 'certfile but no keyfile'}; ` +
            `it will not start until both are set`,
        );
      }
      if (!tls || (l.keyfile && l.certfile)) {
        started.push({ label: `listener.${id}`, where: slot.addressWhere, host: l.host, port: l.port });
      }
      config.listeners.push(l);
    }
    started.push({ label: 'dashboard.listener.http', where: this.dashboardWhere, ...config.dashboard.listener });
    checkPortClashes(started);

    config.auth.users = [...sortedEntries(this.users)].map(([n, { fields, where }]) => {
      if (fields.username === undefined || fields.password === undefined) {
        const missing = fields.username === undefined ? 'username' : 'password';
        throw new ConfigError(`${where}: auth.user.${n} has no ${missing}: expected auth.user.${n}.${missing} = <value>`);
      }
      return { username: fields.username, password: fields.password };
    });
    config.auth.clientids = sortedValues(this.clients);
    config.auto_subscriptions = [...sortedEntries(this.subscriptions)].map(([n, { fields, where }]) => {
      if (fields.topic === undefined) {
        throw new ConfigError(`${where}: module.subscription.${n} has no topic: expected module.subscription.${n}.topic = <filter>`);
      }
      // EMQX 5's auto_subscribe defaults qos to 0; the file may leave it out.
      return { topic: fields.topic, qos: fields.qos ?? 0 };
    });
    config.web_hook.rules = WEB_HOOK_EVENTS.flatMap((e) => {
      const rules = this.webHookRules.get(e);
      return rules ? sortedValues(rules) : [];
    });
    if (config.web_hook.rules.length > 0 && config.web_hook.url === undefined) {
      throw new ConfigError(`${this.webHookRuleWhere}: web.hook.rule.* needs an endpoint: expected web.hook.url = http://host:port/path`);
    }
    return { config, warnings: this.warnings, origins: this.origins, pathOrigins: this.pathOrigins };
  }

  /**
   * `obj` (at Config path `base`) as the setters see it: every property they write, at any
   * depth, is recorded as set by `where`. The setters stay plain assignments; which Config path
   * an emqx.conf key ends up in is learnt from what its setter does, not from a second table.
   */
  private track<T extends object>(obj: T, base: string, where: string): T {
    const at = (prop: string | symbol) => (base ? `${base}.${String(prop)}` : String(prop));
    return new Proxy(obj, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        return value !== null && typeof value === 'object' && typeof prop === 'string' ? this.track(value, at(prop), where) : value;
      },
      set: (target, prop, value) => {
        this.pathOrigins[at(prop)] = where;
        return Reflect.set(target, prop, value);
      },
      defineProperty: (target, prop, desc) => {
        this.pathOrigins[at(prop)] = where;
        return Reflect.defineProperty(target, prop, desc);
      },
      deleteProperty: (target, prop) => {
        this.pathOrigins[at(prop)] = where;
        return Reflect.deleteProperty(target, prop);
      },
    });
  }

  private listener(proto: ListenerProto, name: string, where: string): ListenerSlot {
    const id = `${proto}.${name}`;
    let slot = this.listeners.get(id);
    if (!slot) {
      // Port 0 is a placeholder; finish() refuses a listener whose address never gets set.
      slot = {
        cfg: defaultListener(proto, name, '0.0.0.0', 0),
        disabled: false, addressWhere: undefined, firstWhere: where, zoneWhere: undefined, access: new Map(),
      };
      this.listeners.set(id, slot);
    }
    return slot;
  }

  private indexed<T>(map: Map<number, Indexed<T>>, n: number, where: string): Indexed<T> {
    let item = map.get(n);
    if (!item) map.set(n, (item = { fields: {}, where }));
    return item;
  }
}

/** An own property even for names like "__proto__" or "constructor"; readers use Object.hasOwn. */
function setGroupStrategy(c: Config, group: string, strategy: SharedStrategy): void {
  Object.defineProperty(c.broker.group_strategies, group, { value: strategy, enumerable: true, writable: true, configurable: true });
}

/** <n> is any integer and only orders the entries; gaps are fine. */
function sortedEntries<T>(map: Map<number, T>): [number, T][] {
  return [...map].sort(([a], [b]) => a - b);
}
function sortedValues<T>(map: Map<number, T>): T[] {
  return sortedEntries(map).map(([, value]) => value);
}

/**
 * Two started listeners on the same port would fail at bind time with a bare EADDRINUSE; say
 * which keys clash instead. Port 0 never clashes (the OS picks), and a wildcard host clashes
 * with every host.
 */
function checkPortClashes(started: { label: string; where: string; host: string; port: number }[]): void {
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  started.forEach((b, i) => {
    for (const a of started.slice(0, i)) {
      if (b.port === 0 || a.port !== b.port) continue;
      if (a.host !== b.host && !wildcard(a.host) && !wildcard(b.host)) continue;
      // Blame a line the user wrote rather than a built-in default.
      const [blamed, other] = b.where === 'built-in' ? [a, b] : [b, a];
      throw new ConfigError(
        `${blamed.where}: ${blamed.label} = ${blamed.host}:${blamed.port}: expected a port not already ` +
          `used by ${other.label} (${other.host}:${other.port})`,
      );
    }
  });
}
