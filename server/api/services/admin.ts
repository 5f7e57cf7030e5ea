// Administrators, their login tokens, and API keys: the identities of the management plane.
// Admin passwords are scrypt hashes (server/passwords.ts). API key secrets are 256 random bits, so
// a SHA-256 of them is as safe as a slow hash and cheap enough to check on every request.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../store/database.ts';
import type { Config } from '../../config/types.ts';
import type { ConfigSource } from '../../config/source.ts';
import { hashPassword, verifyPassword } from '../../passwords.ts';
import { alreadyExists, badRequest, notFound } from '../../errors.ts';

/** the well-known password EMQX ships with; a warning is logged while an admin still uses it */
export const BUILTIN_DEFAULT_PASSWORD = 'public';

export interface AdminUserView {
  username: string;
  description: string;
  role: 'administrator';
  created_at: string;
}

export interface ApiKeyView {
  name: string;
  api_key: string;
  desc: string;
  enable: boolean;
  expired_at: string;
  expired: boolean;
  created_at: string;
  last_used_at: string | null;
}

export interface TokenClaims {
  /** username */
  sub: string;
  /** ms since the epoch */
  iat: number;
  exp: number;
  /** token id, for logout */
  jti: string;
  /** fingerprint of the password hash at issue time: changing the password revokes the token */
  pwf: string;
}

export type Principal = { kind: 'token'; username: string; claims: TokenClaims } | { kind: 'api_key'; name: string };

const iso = (ms: number) => new Date(ms).toISOString();
const sha256 = (s: string) => createHash('sha256').update(s).digest();
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function fingerprint(passwordHash: string): string {
  return sha256(passwordHash).subarray(0, 12).toString('base64url');
}

/** Equal-time comparison of two strings of possibly different length. */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export interface AdminServiceDeps {
  db: Kysely<Database>;
  config: ConfigSource;
  logger: Logger;
  tokenTtlMs: number;
  /** ms since the epoch; default Date.now */
  now?: () => number;
}

export type AdminService = ReturnType<typeof createAdminService>;

export function createAdminService(deps: AdminServiceDeps) {
  const { db, logger } = deps;
  const clock = deps.now ?? Date.now;
  // Per app instance: tokens do not survive a restart (a re-login is cheap; nothing to leak at rest).
  const tokenSecret = randomBytes(32);
  const revoked = new Map<string, number>(); // jti → exp
  // Compared against when the username is unknown, so a miss costs the same time as a hit.
  let dummyHash: Promise<string> | undefined;

  const toUser = (r: { username: string; description: string; created_at: number }): AdminUserView => ({
    username: r.username,
    description: r.description,
    role: 'administrator',
    created_at: iso(r.created_at),
  });

  const toKey = (r: Database['api_key']): ApiKeyView => ({
    name: r.name,
    api_key: r.api_key,
    desc: r.description,
    enable: r.enabled === 1,
    expired_at: r.expired_at === null ? 'infinity' : iso(r.expired_at),
    expired: r.expired_at !== null && r.expired_at <= clock(),
    created_at: iso(r.created_at),
    last_used_at: r.last_used_at === null ? null : iso(r.last_used_at),
  });

  const parseExpiry = (v: string | undefined): number | null => {
    if (v === undefined || v === 'infinity') return null;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw badRequest('body.expired_at must be an RFC 3339 time or "infinity"');
    return t;
  };

  const findUser = (username: string) =>
    db.selectFrom('admin_user').selectAll().where('username', '=', username).executeTakeFirst();

  function sign(claims: TokenClaims): string {
    const payload = b64url(JSON.stringify(claims));
    const mac = createHmac('sha256', tokenSecret).update(payload).digest('base64url');
    return `${payload}.${mac}`;
  }

  function pruneRevoked(now: number) {
    for (const [jti, exp] of revoked) if (exp <= now) revoked.delete(jti);
  }

  const service = {
    /** Creates dashboard.default_user when there is no administrator at all (EMQX does the same). */
    async ensureDefault(): Promise<void> {
      const { login, password } = deps.config.get().dashboard.default_user;
      const any = await db.selectFrom('admin_user').select('username').limit(1).executeTakeFirst();
      if (!any) {
        const now = clock();
        await db
          .insertInto('admin_user')
          .values({ username: login, password_hash: await hashPassword(password), description: 'default administrator', created_at: now, updated_at: now })
          .onConflict((oc) => oc.doNothing())
          .execute();
        logger.info({ username: login }, 'created the default dashboard administrator');
      }
      await service.warnIfDefaultPassword();
    },

    /** Logs a warning for each administrator whose password is still the built-in default. */
    async warnIfDefaultPassword(): Promise<string[]> {
      const rows = await db.selectFrom('admin_user').select(['username', 'password_hash']).execute();
      const weak: string[] = [];
      for (const r of rows) if (await verifyPassword(BUILTIN_DEFAULT_PASSWORD, r.password_hash)) weak.push(r.username);
      for (const username of weak) {
        logger.warn(
          { username },
          `dashboard user "${username}" still has the default password: ` +
            `change it (POST /api/v5/users/${username}/change_pwd)`,
        );
      }
      return weak;
    },

    async login(username: string, password: string): Promise<{ token: string; expires_at: string } | undefined> {
      const row = await findUser(username);
      const ok = await verifyPassword(password, row?.password_hash ?? (await (dummyHash ??= hashPassword(randomBytes(16)))));
      if (!row || !ok) return undefined;
      if (password === BUILTIN_DEFAULT_PASSWORD) {
        logger.warn({ username }, `dashboard user "${username}" logged in with the default password: change it`);
      }
      const now = clock();
      const claims: TokenClaims = { sub: username, iat: now, exp: now + deps.tokenTtlMs, jti: b64url(randomBytes(12)), pwf: fingerprint(row.password_hash) };
      return { token: sign(claims), expires_at: iso(claims.exp) };
    },

    /** undefined for a token that is forged, expired, revoked, or whose user is gone or changed password */
    async verifyToken(token: string): Promise<TokenClaims | undefined> {
      const dot = token.indexOf('.');
      if (dot <= 0) return undefined;
      const payload = token.slice(0, dot);
      const mac = Buffer.from(token.slice(dot + 1), 'base64url');
      const expected = createHmac('sha256', tokenSecret).update(payload).digest();
      if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
      let claims: TokenClaims;
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
      } catch {
        return undefined;
      }
      const now = clock();
      if (typeof claims.exp !== 'number' || claims.exp <= now) return undefined;
      if (revoked.has(claims.jti)) return undefined;
      const row = await findUser(claims.sub);
      if (!row || fingerprint(row.password_hash) !== claims.pwf) return undefined;
      return claims;
    },

    revoke(claims: TokenClaims): void {
      pruneRevoked(clock());
      revoked.set(claims.jti, claims.exp);
    },

    async listUsers(): Promise<AdminUserView[]> {
      const rows = await db.selectFrom('admin_user').select(['username', 'description', 'created_at']).orderBy('username').execute();
      return rows.map(toUser);
    },

    async createUser(u: { username: string; password: string; description: string }): Promise<AdminUserView> {
      if (await findUser(u.username)) throw alreadyExists(`administrator ${u.username} already exists`);
      const now = clock();
      const row = { username: u.username, password_hash: await hashPassword(u.password), description: u.description, created_at: now, updated_at: now };
      try {
        await db.insertInto('admin_user').values(row).execute();
      } catch (err) {
        // two concurrent creates of one name: the loser is a conflict, not a 500
        if (await findUser(u.username)) throw alreadyExists(`administrator ${u.username} already exists`);
        throw err;
      }
      return toUser(row);
    },

    async updateUser(username: string, u: { description: string }): Promise<AdminUserView> {
      const res = await db.updateTable('admin_user').set({ description: u.description, updated_at: clock() }).where('username', '=', username).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw notFound('NOT_FOUND', `administrator ${username} not found`);
      return toUser((await findUser(username))!);
    },

    async deleteUser(username: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('admin_user').select('username').execute();
        if (!rows.some((r) => r.username === username)) throw notFound('NOT_FOUND', `administrator ${username} not found`);
        if (rows.length === 1) throw badRequest(`${username} is the last administrator and cannot be deleted`);
        await trx.deleteFrom('admin_user').where('username', '=', username).execute();
      });
    },

    /** false when old_pwd does not match */
    async changePassword(username: string, oldPwd: string, newPwd: string): Promise<boolean> {
      const row = await findUser(username);
      if (!row) throw notFound('NOT_FOUND', `administrator ${username} not found`);
      if (!(await verifyPassword(oldPwd, row.password_hash))) return false;
      await db
        .updateTable('admin_user')
        .set({ password_hash: await hashPassword(newPwd), updated_at: clock() })
        .where('username', '=', username)
        .execute();
      logger.info({ username }, 'dashboard user password changed');
      return true;
    },

    async listKeys(): Promise<ApiKeyView[]> {
      return (await db.selectFrom('api_key').selectAll().orderBy('name').execute()).map(toKey);
    },

    async getKey(name: string): Promise<ApiKeyView> {
      const row = await db.selectFrom('api_key').selectAll().where('name', '=', name).executeTakeFirst();
      if (!row) throw notFound('NOT_FOUND', `API key ${name} not found`);
      return toKey(row);
    },

    async createKey(k: { name: string; desc: string; enable: boolean; expired_at?: string }): Promise<ApiKeyView & { api_secret: string }> {
      const exists = await db.selectFrom('api_key').select('name').where('name', '=', k.name).executeTakeFirst();
      if (exists) throw alreadyExists(`API key ${k.name} already exists`);
      const apiKey = randomBytes(8).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      const row: Database['api_key'] = {
        name: k.name,
        api_key: apiKey,
        secret_hash: sha256(secret).toString('hex'),
        description: k.desc,
        enabled: k.enable ? 1 : 0,
        expired_at: parseExpiry(k.expired_at),
        created_at: clock(),
        last_used_at: null,
      };
      try {
        await db.insertInto('api_key').values(row).execute();
      } catch (err) {
        if (await db.selectFrom('api_key').select('name').where('name', '=', k.name).executeTakeFirst()) {
          throw alreadyExists(`API key ${k.name} already exists`);
        }
        throw err;
      }
      return { ...toKey(row), api_secret: secret };
    },

    async updateKey(name: string, k: { desc?: string; enable?: boolean; expired_at?: string }): Promise<ApiKeyView> {
      const set: Partial<Database['api_key']> = {};
      if (k.desc !== undefined) set.description = k.desc;
      if (k.enable !== undefined) set.enabled = k.enable ? 1 : 0;
      if (k.expired_at !== undefined) set.expired_at = parseExpiry(k.expired_at);
      const res = await db.updateTable('api_key').set(set).where('name', '=', name).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw notFound('NOT_FOUND', `API key ${name} not found`);
      return service.getKey(name);
    },

    async deleteKey(name: string): Promise<void> {
      const res = await db.deleteFrom('api_key').where('name', '=', name).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound('NOT_FOUND', `API key ${name} not found`);
    },

    /** the key's name when key and secret match an enabled, unexpired key */
    async verifyKey(apiKey: string, secret: string): Promise<string | undefined> {
      const row = await db.selectFrom('api_key').selectAll().where('api_key', '=', apiKey).executeTakeFirst();
      const ok = safeEqual(sha256(secret).toString('hex'), row?.secret_hash ?? '');
      if (!row || !ok || row.enabled !== 1) return undefined;
      const now = clock();
      if (row.expired_at !== null && row.expired_at <= now) return undefined;
      // Bookkeeping only: at most one write a minute per key.
      if (row.last_used_at === null || now - row.last_used_at > 60_000) {
        await db.updateTable('api_key').set({ last_used_at: now }).where('name', '=', row.name).execute();
      }
      return row.name;
    },
  };
  return service;
}
