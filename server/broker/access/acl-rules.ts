// ACL rules as the engine matches them, whatever their source (acl.conf or the API's built-in
// database), and the matching itself, with EMQX 4's semantics (emqx_access_rule, emqx_topic):
// a rule's topic is a filter matched against the client's topic, which for a SUBSCRIBE is itself
// a filter ("a/+" is matched by the rule "a/#"); "$"-topics are not matched by a leading + or #;
// {eq, T} matches exactly T; %c and %u (and EMQX 5's ${clientid} ${username}) are filled in per
// client, and a rule naming %u does not match a client without a username.
import net from 'node:net';

export type Permission = 'allow' | 'deny';
/** pubsub (acl.conf) and all (API) both mean publish and subscribe */
export type Access = 'publish' | 'subscribe' | 'pubsub';
export type AclAction = 'publish' | 'subscribe';

export type Who =
  | { kind: 'all' }
  /** value: a name, true for the atom all, or {re, "regex"} (EMQX 4.4) */
  | { kind: 'user'; value: string | true | RegExp }
  | { kind: 'clientid'; value: string | true | RegExp }
  | { kind: 'ipaddr'; cidr: Cidr }
  | { kind: 'ipaddrs'; cidrs: Cidr[] }
  | { kind: 'and' | 'or'; conds: Who[] };

export type TopicPattern =
  | { kind: 'eq'; topic: string }
  /** levels pre-split; `vars` when a level holds %c %u ${clientid} ${username} */
  | { kind: 'filter'; filter: string; levels: string[]; vars: boolean };

export interface AclRule {
  permission: Permission;
  who: Who;
  access: Access;
  /** undefined: every topic ({allow, all}.) */
  topics: TopicPattern[] | undefined;
  /** where it came from, for authorization/check and logs */
  origin: RuleOrigin;
}

export type RuleOrigin =
  | { source: 'file'; file: string; line: number; text: string }
  | { source: 'built_in_database'; kind: 'clientid' | 'username' | 'all'; who: string | null; index: number };

/** what a rule is matched against */
export interface AclSubject {
  clientid: string;
  username: string | null;
  /** read only when an ipaddr rule needs it */
  peerhost(): string | null;
}

export interface Cidr {
  /** normalised: "10.0.0.0/8", or the bare address for a single host */
  text: string;
  /** 4 or 16 bytes */
  bytes: Uint8Array;
  prefix: number;
}

/**
 * An IPv4 or IPv6 address as bytes, or undefined. An IPv4-mapped IPv6 address (::ffff:1.2.3.4, as
 * a dual-stack socket reports IPv4 peers) is read as the IPv4 address. Hand-written because
 * net.BlockList costs microseconds per check, and a rule walk may do dozens.
 */
export function parseIp(ip: string): Uint8Array | undefined {
  if (net.isIPv4(ip)) return Uint8Array.from(ip.split('.'), Number);
  if (!net.isIPv6(ip)) return undefined;
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // a trailing dotted IPv4 part becomes two groups
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

/** "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8"; undefined when not an address. */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, bits, extra] = text.trim().split('/');
  if (extra !== undefined || !ip) return undefined;
  const bytes = parseIp(ip);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  const prefix = bits === undefined ? max : /^\d+$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { text: bits === undefined ? ip : `${ip}/${prefix}`, bytes, prefix };
}

// the last address parsed: the same peer is matched against every ipaddr rule of a walk
let lastIp: string | null = null;
let lastBytes: Uint8Array | undefined;

export function cidrMatch(cidr: Cidr, address: string | null): boolean {
  if (!address) return false;
  if (address !== lastIp) {
    lastIp = address;
    lastBytes = parseIp(address);
  }
  const ip = lastBytes;
  if (!ip || ip.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[full]! & mask) === (cidr.bytes[full]! & mask);
}

const VAR = /%[cu]|\$\{(clientid|username)\}/;

export function topicPattern(text: string, eq: boolean): TopicPattern {
  if (eq) return { kind: 'eq', topic: text };
  return { kind: 'filter', filter: text, levels: text.split('/'), vars: VAR.test(text) };
}

/** undefined when the filter is valid, else why not ([MQTT-4.7.1-2], [MQTT-4.7.1-3]) */
export function filterProblem(filter: string): string | undefined {
  if (filter === '') return 'must not be empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return 'may use # only as the whole last level';
    if (l.includes('+') && l !== '+') return 'may use + only as a whole level';
  }
  return undefined;
}

export function matchWho(who: Who, s: AclSubject): boolean {
  switch (who.kind) {
    case 'all':
      return true;
    case 'user':
      if (who.value === true) return true;
      if (s.username === null) return false;
      return typeof who.value === 'string' ? s.username === who.value : who.value.test(s.username);
    case 'clientid':
      if (who.value === true) return true;
      return typeof who.value === 'string' ? s.clientid === who.value : who.value.test(s.clientid);
    case 'ipaddr':
      return cidrMatch(who.cidr, s.peerhost());
    case 'ipaddrs': {
      const ip = s.peerhost();
      return who.cidrs.some((c) => cidrMatch(c, ip));
    }
    case 'and':
      return who.conds.every((c) => matchWho(c, s));
    case 'or':
      return who.conds.some((c) => matchWho(c, s));
  }
}

/** one level with its placeholders filled; null when the client lacks the value */
function fillLevel(level: string, s: AclSubject): string | null {
  if (!VAR.test(level)) return level;
  let missing = false;
  const out = level.replace(/%[cu]|\$\{(clientid|username)\}/g, (m) => {
    const username = m === '%u' || m === '${username}';
    if (!username) return s.clientid;
    if (s.username === null || s.username === '') missing = true;
    return s.username ?? '';
  });
  return missing ? null : out;
}

/**
 * emqx_topic:match(Name, Filter): `name` may hold wildcards itself (a SUBSCRIBE's filter), which
 * the rule's filter matches level by level: its + takes any one level, its # the rest.
 */
export function matchLevels(name: string[], filter: string[], s: AclSubject | null): boolean {
  if (name.length > 0 && name[0]!.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    let f = filter[i]!;
    if (f === '#' && i === filter.length - 1) return true;
    if (i >= name.length) return false;
    if (f === '+') continue;
    if (s) {
      const filled = fillLevel(f, s);
      if (filled === null) return false;
      f = filled;
    }
    if (f !== name[i]) return false;
  }
  return filter.length === name.length;
}

export function matchTopic(p: TopicPattern, topic: string, levels: string[], s: AclSubject): boolean {
  if (p.kind === 'eq') return p.topic === topic;
  return matchLevels(levels, p.levels, p.vars ? s : null);
}

export function accessCovers(access: Access, action: AclAction): boolean {
  return access === 'pubsub' || access === action;
}

/** the first rule of `rules` that applies, or undefined */
export function firstMatch(rules: readonly AclRule[], s: AclSubject, action: AclAction, topic: string, levels: string[]): AclRule | undefined {
  for (const rule of rules) {
    if (!accessCovers(rule.access, action)) continue;
    if (!matchWho(rule.who, s)) continue;
    if (rule.topics === undefined || rule.topics.some((p) => matchTopic(p, topic, levels, s))) return rule;
  }
  return undefined;
}
