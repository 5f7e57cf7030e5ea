// Banned clients (EMQX's emqx_banned): by client id, username, or peer address (an IP or a CIDR).
// Bans are stored in SQLite and mirrored in memory, so the check at CONNECT is a Map lookup (and,
// only while a peerhost ban exists, one address match per ban). A banned CONNECT gets CONNACK 5
// before authentication does any work; a new ban closes the connections it matches at once.
// Expired bans no longer match and are deleted on a schedule.
import type { Kysely } from 'kysely';
import type { Database } from '../../store/database.ts';
import type { Logger } from '../../logger.ts';
import type { HookChain, ConnectRefusal } from '../core/hook-chain.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { SessionRegistry } from '../types.ts';
import { alreadyExists, badRequest } from '../../errors.ts';
import { cidrMatch, parseCidr, type Cidr } from './acl-rules.ts';

export type BanKind = 'clientid' | 'username' | 'peerhost';

export interface Ban {
  as: BanKind;
  who: string;
  reason: string;
  /** the admin or API key that banned, or "flapping" */
  by: string;
  /** ms */
  at: number;
  /** ms; null = never expires */
  until: number | null;
}

export interface Banned {
  /** the ban that applies to this CONNECT, if any (synchronous) */
  match(clientid: string, username: string | null, peerhost: () => string | null): Ban | undefined;
  list(opts: { page: number; limit: number }): { data: Ban[]; count: number };
  /** 409 ALREADY_EXISTS when an unexpired ban exists; closes the connections it matches */
  add(ban: Omit<Ban, 'at'> & { at?: number }): Promise<Ban>;
  /** false when there was no such ban */
  remove(as: BanKind, who: string): Promise<boolean>;
  /** deletes expired bans now; returns how many */
  sweep(): Promise<number>;
  registerSteps(chain: HookChain): void;
  close(): void;
}

export interface BannedDeps {
  db: Kysely<Database>;
  sessions: SessionRegistry;
  metrics: Metrics;
  logger: Logger;
  /** ms; injected by tests */
  now?: () => number;
  /** how often expired bans are deleted, default 10 s */
  sweepIntervalMs?: number;
}

const REFUSAL: ConnectRefusal = { returnCode: 5, reason: 'banned' };

/** the key a ban is stored under: peerhost addresses and CIDRs normalised ("10.0.0.0/8", "::1") */
export function normaliseBan(as: BanKind, who: string): { who: string; cidr?: Cidr } {
  if (as !== 'peerhost') {
    if (who === '') throw badRequest('body.who must not be empty');
    return { who };
  }
  const cidr = parseCidr(who);
  if (!cidr) throw badRequest(`body.who ${JSON.stringify(who)} is not an IP address or CIDR (e.g. 192.168.1.7 or 10.0.0.0/8)`);
  return { who: cidr.text, cidr };
}

export async function createBanned(deps: BannedDeps): Promise<Banned> {
  const { db, sessions, metrics } = deps;
  const log = deps.logger.child({ module: 'banned' });
  const now = deps.now ?? Date.now;

  const byClientId = new Map<string, Ban>();
  const byUsername = new Map<string, Ban>();
  const byPeer = new Map<string, { ban: Ban; cidr: Cidr }>();
  let total = 0;
  // listing order: oldest first, and in the order they were made when made in the same ms
  const order = new WeakMap<Ban, number>();
  let seq = 0;

  const mapOf = (as: 'clientid' | 'username') => (as === 'clientid' ? byClientId : byUsername);
  const live = (b: Ban, t: number) => b.until === null || b.until > t;

  function put(ban: Ban) {
    if (!order.has(ban)) order.set(ban, seq++);
    if (ban.as === 'peerhost') byPeer.set(ban.who, { ban, cidr: parseCidr(ban.who)! });
    else mapOf(ban.as).set(ban.who, ban);
    total = byClientId.size + byUsername.size + byPeer.size;
  }
  function drop(as: BanKind, who: string) {
    if (as === 'peerhost') byPeer.delete(who);
    else mapOf(as).delete(who);
    total = byClientId.size + byUsername.size + byPeer.size;
  }

  for (const row of await db.selectFrom('banned').selectAll().execute()) {
    if (row.as === 'peerhost' && !parseCidr(row.who)) continue;
    put({ as: row.as, who: row.who, reason: row.reason, by: row.by, at: row.at, until: row.until });
  }

  function match(clientid: string, username: string | null, peerhost: () => string | null): Ban | undefined {
    if (total === 0) return undefined;
    const t = now();
    let b = byClientId.get(clientid);
    if (b && live(b, t)) return b;
    if (username !== null) {
      b = byUsername.get(username);
      if (b && live(b, t)) return b;
    }
    if (byPeer.size > 0) {
      const ip = peerhost();
      for (const p of byPeer.values()) if (live(p.ban, t) && cidrMatch(p.cidr, ip)) return p.ban;
    }
    return undefined;
  }

  /** closes the live connections a new ban matches */
  async function kickMatching(ban: Ban, cidr: Cidr | undefined) {
    const targets: string[] = [];
    if (ban.as === 'clientid') {
      if (sessions.get(ban.who)?.connected) targets.push(ban.who);
    } else {
      const filter = ban.as === 'username' ? { username: ban.who, conn_state: 'connected' as const } : { conn_state: 'connected' as const };
      for (const s of sessions.list(filter, { page: 1, limit: Number.MAX_SAFE_INTEGER }).data) {
        if (ban.as === 'username' || cidrMatch(cidr!, s.ip_address)) targets.push(s.clientid);
      }
    }
    for (const id of targets) {
      await sessions.kick(id, { banned: true });
      log.info({ clientid: id, as: ban.as, who: ban.who }, 'banned client disconnected');
    }
  }

  async function sweep(): Promise<number> {
    const t = now();
    const expired: Ban[] = [];
    for (const b of byClientId.values()) if (!live(b, t)) expired.push(b);
    for (const b of byUsername.values()) if (!live(b, t)) expired.push(b);
    for (const p of byPeer.values()) if (!live(p.ban, t)) expired.push(p.ban);
    if (expired.length === 0) return 0;
    await db.deleteFrom('banned').where('until', 'is not', null).where('until', '<=', t).execute();
    for (const b of expired) drop(b.as, b.who);
    log.info({ count: expired.length }, 'expired bans removed');
    return expired.length;
  }

  let sweeping: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    sweeping = sweep().catch((err: unknown) => log.error({ err }, 'removing expired bans failed'));
  }, deps.sweepIntervalMs ?? 10_000);
  timer.unref();

  return {
    match,

    list({ page, limit }) {
      const t = now();
      const all = [...byClientId.values(), ...byUsername.values(), ...[...byPeer.values()].map((p) => p.ban)]
        .filter((b) => live(b, t))
        .sort((a, b) => a.at - b.at || order.get(a)! - order.get(b)!);
      return { data: all.slice((page - 1) * limit, page * limit), count: all.length };
    },

    async add(input) {
      const { who, cidr } = normaliseBan(input.as, input.who);
      const t = now();
      const ban: Ban = { as: input.as, who, reason: input.reason, by: input.by, at: input.at ?? t, until: input.until };
      if (ban.until !== null && ban.until <= t) throw badRequest('body.until must be in the future');
      const existing = input.as === 'peerhost' ? byPeer.get(who)?.ban : mapOf(input.as).get(who);
      if (existing && live(existing, t)) throw alreadyExists(`${input.as} ${who} is already banned`);
      // in force at once (a flapping client's next CONNECT may be on its way), then stored
      put(ban);
      try {
        await db
          .insertInto('banned')
          .values(ban)
          .onConflict((oc) => oc.columns(['as', 'who']).doUpdateSet({ reason: ban.reason, by: ban.by, at: ban.at, until: ban.until }))
          .execute();
      } catch (err) {
        if (existing) put(existing);
        else drop(ban.as, ban.who);
        throw err;
      }
      log.info({ as: ban.as, who: ban.who, by: ban.by, until: ban.until }, 'client banned');
      await kickMatching(ban, cidr);
      return ban;
    },

    async remove(as, rawWho) {
      const who = as === 'peerhost' ? (parseCidr(rawWho)?.text ?? rawWho) : rawWho;
      const existing = as === 'peerhost' ? byPeer.get(who)?.ban : mapOf(as).get(who);
      if (!existing || !live(existing, now())) return false;
      await db.deleteFrom('banned').where('as', '=', as).where('who', '=', who).execute();
      drop(as, who);
      log.info({ as, who }, 'ban removed');
      return true;
    },

    sweep,

    registerSteps(chain) {
      chain.add('connect', 'banned', (ctx, info) => {
        if (total === 0) return undefined;
        if (!match(info.clientid, info.username ?? null, () => ctx.peerhost())) return undefined;
        metrics['client.banned']++;
        return REFUSAL;
      });
    },

    close() {
      clearInterval(timer);
      void sweeping;
    },
  };
}
