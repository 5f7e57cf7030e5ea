// Authorization: which client may publish or subscribe to what. Sources in EMQX's order, first
// match wins: (1) rules managed through the API (EMQX 5's built_in_database source: the client
// id's rules, then the username's, then the rules for all), (2) acl_file (EMQX 4's acl.conf),
// (3) acl_nomatch. Superusers bypass every rule.
//
// Rules live in memory, so a check is synchronous; each connection keeps a small cache of its
// decisions (acl_cache_max_size, acl_cache_ttl), and every rule change bumps a generation number
// that invalidates all caches at once: the next packet of a connected client sees the new rules.
import type { Kysely } from 'kysely';
import type { ConfigSource } from '../../config/source.ts';
import type { Database } from '../../store/database.ts';
import type { Logger } from '../../logger.ts';
import type { EventBus } from '../events.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { ClientContext } from '../core/hook-chain.ts';
import { badRequest, notFound } from '../../errors.ts';
import { loadAclFile, type AclRules } from './acl-file.ts';
import { filterProblem, firstMatch, topicPattern, type AclAction, type AclRule, type AclSubject, type Permission, type RuleOrigin } from './acl-rules.ts';

/** a rule of the built_in_database source, EMQX 5's shape; `topic` may start with "eq " */
export interface ApiRule {
  topic: string;
  permission: Permission;
  action: 'publish' | 'subscribe' | 'all';
}

export type RuleKind = 'clientid' | 'username';

export type DecisionSource = 'built_in_database' | 'file' | 'nomatch' | 'superuser';

export interface AclDecision {
  result: 'allow' | 'deny';
  source: DecisionSource;
  /** the deciding rule; null for nomatch and superuser */
  rule: RuleOrigin | null;
}

export interface Acl {
  /** the hot-path check: true = allowed. Counts, emits client.check_acl, uses the cache. */
  check(ctx: ClientContext, action: AclAction, topic: string): boolean;
  /** the same decision without cache or side effects, naming the deciding rule */
  explain(subject: AclSubject & { isSuperuser: boolean }, action: AclAction, topic: string): AclDecision;

  listRules(kind: RuleKind, opts: { page: number; limit: number; like?: string }): { data: { who: string; rules: ApiRule[] }[]; count: number };
  getRules(kind: RuleKind, who: string): ApiRule[] | undefined;
  /** replaces the rules of each principal named; validated as a whole before anything is stored */
  setRules(kind: RuleKind, entries: { who: string; rules: ApiRule[] }[]): Promise<void>;
  /** false when the principal had no rules */
  deleteRules(kind: RuleKind, who: string): Promise<boolean>;
  getAllRules(): ApiRule[];
  /** the stored rule a built_in_database origin points at */
  describeApiRule(origin: RuleOrigin & { source: 'built_in_database' }): ApiRule | undefined;
  setAllRules(rules: ApiRule[]): Promise<void>;

  /** reads acl_file again (throws ConfigError and keeps the old rules when it does not parse) */
  reloadFile(): void;
  /** the file's rules in force, undefined without acl_file */
  fileRules(): AclRules | undefined;
  close(): void;
}

export interface AclDeps {
  db: Kysely<Database>;
  config: ConfigSource;
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** ms; injected by tests */
  now?: () => number;
}

interface CacheEntry {
  allow: boolean;
  at: number;
}

interface DecisionCache {
  /** the rules' generation it was made under */
  gen: number;
  pub: Map<string, CacheEntry>;
  sub: Map<string, CacheEntry>;
}

/** $share/<group>/<filter> and $queue/<filter> are authorized by their filter, as EMQX does */
function realFilter(topic: string): string {
  if (topic.charCodeAt(0) !== 36 /* $ */) return topic;
  if (topic.startsWith('$queue/')) return topic.slice(7);
  if (topic.startsWith('$share/')) {
    const slash = topic.indexOf('/', 7);
    return slash < 0 ? topic : topic.slice(slash + 1);
  }
  return topic;
}

function compileApiRules(kind: RuleKind | 'all', who: string | null, rules: ApiRule[], where: string): AclRule[] {
  return rules.map((r, index) => {
    const eq = r.topic.startsWith('eq ');
    const topic = eq ? r.topic.slice(3) : r.topic;
    const problem = topic === '' ? 'must not be empty' : eq ? undefined : filterProblem(topic);
    if (problem) throw badRequest(`${where}[${index}].topic ${JSON.stringify(r.topic)} ${problem}`);
    return {
      permission: r.permission,
      who: { kind: 'all' },
      access: r.action === 'all' ? 'pubsub' : r.action,
      topics: [topicPattern(topic, eq)],
      origin: { source: 'built_in_database', kind, who, index },
    } satisfies AclRule;
  });
}

export async function createAcl(deps: AclDeps): Promise<Acl> {
  const { db, config, events, metrics } = deps;
  const log = deps.logger.child({ module: 'acl' });
  const now = deps.now ?? Date.now;

  // ---- the built_in_database source: stored rules, compiled once ------------------------------
  const stored = { clientid: new Map<string, ApiRule[]>(), username: new Map<string, ApiRule[]>() };
  const compiled = { clientid: new Map<string, AclRule[]>(), username: new Map<string, AclRule[]>() };
  let allStored: ApiRule[] = [];
  let allCompiled: AclRule[] = [];
  for (const row of await db.selectFrom('acl_rule').selectAll().execute()) {
    const rules = JSON.parse(row.rules) as ApiRule[];
    if (row.kind === 'all') {
      allStored = rules;
      allCompiled = compileApiRules('all', null, rules, 'rules');
    } else {
      stored[row.kind].set(row.who, rules);
      compiled[row.kind].set(row.who, compileApiRules(row.kind, row.who, rules, 'rules'));
    }
  }

  // ---- the file source -------------------------------------------------------------------------
  let file: AclRules | undefined;
  let fileFor: string | undefined;
  const loadFile = () => {
    const path = config.get().acl_file;
    file = path === undefined ? undefined : loadAclFile(path);
    fileFor = path;
    if (file) log.info({ file: file.file, rules: file.rules.length }, 'acl_file loaded');
  };
  loadFile();

  // every change bumps the generation: caches made under an older one are dropped on next use.
  // A connection's cache sits on its session record (a field read, not a WeakMap lookup, on the
  // hot path); any other context gets one in the WeakMap.
  let gen = 0;
  const caches = new WeakMap<object, DecisionCache>();
  const cacheOf = (ctx: ClientContext): DecisionCache | undefined => {
    const own = (ctx as { aclCache?: object }).aclCache;
    return own !== undefined ? (own as DecisionCache) : caches.get(ctx);
  };
  const setCache = (ctx: ClientContext, cache: DecisionCache) => {
    if ('aclCache' in ctx) (ctx as { aclCache?: object }).aclCache = cache;
    else caches.set(ctx, cache);
  };

  // Ages of cached decisions need no more than a second's precision: read a clock the timer
  // advances instead of calling Date.now() per packet (an injected clock is read directly).
  let coarse = Date.now();
  const ticker = deps.now ? undefined : setInterval(() => (coarse = Date.now()), 1000);
  ticker?.unref();
  const cacheClock = deps.now ?? (() => coarse);
  const anyRules = () =>
    allCompiled.length > 0 || compiled.clientid.size > 0 || compiled.username.size > 0 || (file !== undefined && file.rules.length > 0);
  let hasRules = anyRules();
  const changed = () => {
    gen++;
    hasRules = anyRules();
  };

  const unsubscribe = config.onChange((change) => {
    if (!change.keys.some((k) => k.startsWith('acl_') || /^zones\.[^.]+\.acl_deny_action$/.test(k))) return;
    if (change.keys.includes('acl_file') || fileFor !== config.get().acl_file) {
      try {
        loadFile();
      } catch (err) {
        // the reload validates with loadAclFile first; this is a file edited in between
        log.error({ err: (err as Error).message }, 'acl_file did not load; the previous rules stay in force');
      }
    }
    changed();
  });

  /** the first rule of the sources that applies, or undefined (acl_nomatch decides) */
  function match(s: AclSubject, action: AclAction, topic: string): AclRule | undefined {
    if (!hasRules) return undefined;
    const levels = topic.split('/');
    let rule: AclRule | undefined;
    const byClient = compiled.clientid.get(s.clientid);
    if (byClient) rule = firstMatch(byClient, s, action, topic, levels);
    if (!rule && s.username !== null) {
      const byUser = compiled.username.get(s.username);
      if (byUser) rule = firstMatch(byUser, s, action, topic, levels);
    }
    if (!rule && allCompiled.length > 0) rule = firstMatch(allCompiled, s, action, topic, levels);
    if (!rule && file) rule = firstMatch(file.rules, s, action, topic, levels);
    return rule;
  }

  function emit(ctx: ClientContext, action: AclAction, topic: string, allow: boolean, source: string) {
    events.emit('client.check_acl', {
      clientid: ctx.clientid,
      username: ctx.username,
      ipaddress: ctx.peerhost(),
      action,
      topic,
      result: allow ? 'allow' : 'deny',
      source,
    });
  }

  const count = (allow: boolean) => {
    if (allow) metrics['authorization.allow']++;
    else metrics['authorization.deny']++;
  };

  async function storeRules(kind: RuleKind | 'all', who: string, rules: ApiRule[]) {
    const value = JSON.stringify(rules.map((r) => ({ topic: r.topic, permission: r.permission, action: r.action })));
    const updated_at = now();
    await db
      .insertInto('acl_rule')
      .values({ kind, who, rules: value, updated_at })
      .onConflict((oc) => oc.columns(['kind', 'who']).doUpdateSet({ rules: value, updated_at }))
      .execute();
  }

  return {
    check(ctx, action, rawTopic) {
      const topic = action === 'subscribe' ? realFilter(rawTopic) : rawTopic;
      if (ctx.isSuperuser) {
        metrics['authorization.superuser']++;
        metrics['authorization.allow']++;
        if (events.has('client.check_acl')) emit(ctx, action, topic, true, 'superuser');
        return true;
      }
      const cfg = config.get();
      if (!hasRules) {
        // no rules anywhere: acl_nomatch decides, without a cache or an allocation
        const allow = cfg.acl_nomatch === 'allow';
        metrics['authorization.nomatch']++;
        count(allow);
        if (events.has('client.check_acl')) emit(ctx, action, topic, allow, 'nomatch');
        return allow;
      }
      const max = cfg.acl_cache_max_size;
      let cache: DecisionCache | undefined;
      let t = 0;
      if (max > 0) {
        cache = cacheOf(ctx);
        t = cacheClock();
        if (cache === undefined || cache.gen !== gen) {
          cache = { gen, pub: new Map(), sub: new Map() };
          setCache(ctx, cache);
        } else {
          const hit = (action === 'publish' ? cache.pub : cache.sub).get(topic);
          if (hit !== undefined && t - hit.at < cfg.acl_cache_ttl) {
            metrics['authorization.cache_hit']++;
            count(hit.allow);
            if (events.has('client.check_acl')) emit(ctx, action, topic, hit.allow, 'cache');
            return hit.allow;
          }
        }
      }
      const rule = match(ctx, action, topic);
      const allow = rule ? rule.permission === 'allow' : cfg.acl_nomatch === 'allow';
      if (!rule) metrics['authorization.nomatch']++;
      count(allow);
      if (cache !== undefined) {
        const map = action === 'publish' ? cache.pub : cache.sub;
        map.delete(topic);
        if (cache.pub.size + cache.sub.size >= max) {
          // the oldest entry goes (Maps iterate in insertion order)
          const victim = map.size > 0 ? map : action === 'publish' ? cache.sub : cache.pub;
          victim.delete(victim.keys().next().value!);
        }
        map.set(topic, { allow, at: t });
      }
      if (events.has('client.check_acl')) emit(ctx, action, topic, allow, rule ? rule.origin.source : 'nomatch');
      return allow;
    },

    explain(subject, action, rawTopic) {
      if (subject.isSuperuser) return { result: 'allow', source: 'superuser', rule: null };
      const topic = action === 'subscribe' ? realFilter(rawTopic) : rawTopic;
      const rule = match(subject, action, topic);
      if (!rule) return { result: config.get().acl_nomatch === 'allow' ? 'allow' : 'deny', source: 'nomatch', rule: null };
      return { result: rule.permission === 'allow' ? 'allow' : 'deny', source: rule.origin.source, rule: rule.origin };
    },

    listRules(kind, { page, limit, like }) {
      let all = [...stored[kind].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (like) all = all.filter(([who]) => who.includes(like));
      return { data: all.slice((page - 1) * limit, page * limit).map(([who, rules]) => ({ who, rules })), count: all.length };
    },

    getRules: (kind, who) => stored[kind].get(who),

    async setRules(kind, entries) {
      const next = entries.map((e, i) => ({ ...e, compiled: compileApiRules(kind, e.who, e.rules, `body[${i}].rules`) }));
      await db.transaction().execute(async (trx) => {
        for (const e of next) {
          const value = JSON.stringify(e.rules.map((r) => ({ topic: r.topic, permission: r.permission, action: r.action })));
          const updated_at = now();
          await trx
            .insertInto('acl_rule')
            .values({ kind, who: e.who, rules: value, updated_at })
            .onConflict((oc) => oc.columns(['kind', 'who']).doUpdateSet({ rules: value, updated_at }))
            .execute();
        }
      });
      for (const e of next) {
        stored[kind].set(e.who, e.rules);
        compiled[kind].set(e.who, e.compiled);
      }
      changed();
      log.info({ kind, who: next.map((e) => e.who) }, 'authorization rules changed');
    },

    async deleteRules(kind, who) {
      if (!stored[kind].has(who)) return false;
      await db.deleteFrom('acl_rule').where('kind', '=', kind).where('who', '=', who).execute();
      stored[kind].delete(who);
      compiled[kind].delete(who);
      changed();
      log.info({ kind, who }, 'authorization rules deleted');
      return true;
    },

    getAllRules: () => allStored,

    describeApiRule(origin) {
      const list = origin.kind === 'all' ? allStored : stored[origin.kind].get(origin.who ?? '');
      return list?.[origin.index];
    },

    async setAllRules(rules) {
      const next = compileApiRules('all', null, rules, 'body.rules');
      if (rules.length === 0) await db.deleteFrom('acl_rule').where('kind', '=', 'all').execute();
      else await storeRules('all', '', rules);
      allStored = rules;
      allCompiled = next;
      changed();
      log.info({ kind: 'all', rules: rules.length }, 'authorization rules changed');
    },

    reloadFile() {
      loadFile();
      changed();
    },

    fileRules: () => file,

    close() {
      unsubscribe();
      clearInterval(ticker);
    },
  };
}

export function notFoundRules(kind: RuleKind, who: string) {
  return notFound('NOT_FOUND', `no authorization rules for ${kind} ${who}`);
}
