// Authentication in EMQX's order: client-id allow-list, then the built-in user table, then the
// zone's anonymous setting. The API edits users, client ids and anonymous settings through this
// same service, so a change applies to the next CONNECT without a restart.
import type { Kysely } from 'kysely';
import type { Database } from '../../store/database.ts';
import type { Config } from '../../config/types.ts';
import type { ConfigSource } from '../../config/source.ts';
import type { AuthService, AuthRequest, AuthResult, AuthUser, AnonymousSetting } from '../types.ts';
import { hashPassword, verifyPassword } from '../../passwords.ts';
import { alreadyExists, badRequest, notFound } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

const ANONYMOUS_KEY = 'authentication.anonymous';
/** the config seeds already applied, so a seed deleted through the API stays deleted */
const SEEDED_KEY = 'authentication.seeded';

export interface AuthServiceDeps {
  db: Kysely<Database>;
  /** read on every call, so a config reload takes effect */
  config: ConfigSource;
  logger: Logger;
}

export async function createAuthService(deps: AuthServiceDeps): Promise<AuthService & { seedFromConfig(): Promise<void> }> {
  const { db, logger } = deps;

  // The allow-list and the API's anonymous overrides are read on every CONNECT: keep them in
  // memory. This service is their only writer, so the copies cannot go stale.
  const clientIds = new Set(
    (await db.selectFrom('mqtt_clientid').select('clientid').execute()).map((r) => r.clientid),
  );
  const anonymousOverrides = new Map<string, boolean>();
  const row = await db.selectFrom('setting').select('value').where('key', '=', ANONYMOUS_KEY).executeTakeFirst();
  if (row) {
    for (const [zone, allow] of Object.entries(JSON.parse(row.value) as Record<string, boolean>)) {
      anonymousOverrides.set(zone, allow);
    }
  }

  function anonymousFor(zone: string): AnonymousSetting {
    const override = anonymousOverrides.get(zone);
    if (override !== undefined) return { allow: override, source: 'api' };
    const config = deps.config.get();
    const zoneValue = config.zones[zone]?.allow_anonymous;
    return { allow: zoneValue ?? config.allow_anonymous, source: 'config' };
  }

  const toUser = (r: { user_id: string; is_superuser: number }): AuthUser => ({
    user_id: r.user_id,
    is_superuser: r.is_superuser === 1,
  });

  async function addUser(u: { user_id: string; password: string; is_superuser?: boolean }): Promise<AuthUser> {
    const existing = await db.selectFrom('mqtt_user').select('user_id').where('user_id', '=', u.user_id).executeTakeFirst();
    if (existing) throw alreadyExists(`user ${u.user_id} already exists`);
    await db
      .insertInto('mqtt_user')
      .values({
        user_id: u.user_id,
        password_hash: await hashPassword(u.password),
        is_superuser: u.is_superuser ? 1 : 0,
        created_at: Date.now(),
      })
      .execute();
    return { user_id: u.user_id, is_superuser: !!u.is_superuser };
  }

  async function addClientId(clientId: string): Promise<void> {
    if (clientIds.has(clientId)) throw alreadyExists(`client id ${clientId} is already on the allow-list`);
    await db.insertInto('mqtt_clientid').values({ clientid: clientId, created_at: Date.now() }).execute();
    clientIds.add(clientId);
  }

  function anonymous(zone: string): AuthResult {
    return anonymousFor(zone).allow ? { ok: true, via: 'anonymous', isSuperuser: false } : { ok: false, returnCode: 5 };
  }

  async function checkUser(req: AuthRequest): Promise<AuthResult> {
    const user = await db
      .selectFrom('mqtt_user')
      .select(['password_hash', 'is_superuser'])
      .where('user_id', '=', req.username!)
      .executeTakeFirst();
    if (!user) return anonymous(req.zone); // an unknown username falls through, as EMQX's chain "ignores" it
    if (req.password !== undefined && (await verifyPassword(req.password, user.password_hash))) {
      return { ok: true, via: 'password', isSuperuser: user.is_superuser === 1 };
    }
    return { ok: false, returnCode: 4 };
  }

  async function getAnonymous(): Promise<Record<string, AnonymousSetting>> {
    const out: Record<string, AnonymousSetting> = {};
    for (const zone of Object.keys(deps.config.get().zones)) out[zone] = anonymousFor(zone);
    return out;
  }

  return {
    authenticate(req: AuthRequest): AuthResult | Promise<AuthResult> {
      if (clientIds.has(req.clientId)) return { ok: true, via: 'clientid', isSuperuser: false };
      if (req.username !== undefined && req.username !== '') return checkUser(req);
      return anonymous(req.zone);
    },

    async listUsers({ page, limit, like_user_id }) {
      let q = db.selectFrom('mqtt_user');
      if (like_user_id) q = q.where('user_id', 'like', `%${like_user_id.replace(/[%_\\]/g, '\\$&')}%`);
      const { count } = await q.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      const rows = await q
        .select(['user_id', 'is_superuser'])
        .orderBy('user_id')
        .limit(limit)
        .offset((page - 1) * limit)
        .execute();
      return { data: rows.map(toUser), count: Number(count) };
    },

    async getUser(userId) {
      const r = await db.selectFrom('mqtt_user').select(['user_id', 'is_superuser']).where('user_id', '=', userId).executeTakeFirst();
      return r ? toUser(r) : undefined;
    },

    addUser,

    async updateUser(userId, u) {
      const r = await db.selectFrom('mqtt_user').select(['user_id', 'is_superuser']).where('user_id', '=', userId).executeTakeFirst();
      if (!r) throw notFound('NOT_FOUND', `user ${userId} not found`);
      const values: { password_hash?: string; is_superuser?: number } = {};
      if (u.password !== undefined) values.password_hash = await hashPassword(u.password);
      if (u.is_superuser !== undefined) values.is_superuser = u.is_superuser ? 1 : 0;
      if (Object.keys(values).length > 0) await db.updateTable('mqtt_user').set(values).where('user_id', '=', userId).execute();
      return { user_id: userId, is_superuser: u.is_superuser ?? r.is_superuser === 1 };
    },

    async deleteUser(userId) {
      const res = await db.deleteFrom('mqtt_user').where('user_id', '=', userId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound('NOT_FOUND', `user ${userId} not found`);
    },

    async listClientIds() {
      return [...clientIds].sort();
    },

    addClientId,

    async deleteClientId(clientId) {
      if (!clientIds.has(clientId)) throw notFound('NOT_FOUND', `client id ${clientId} is not on the allow-list`);
      await db.deleteFrom('mqtt_clientid').where('clientid', '=', clientId).execute();
      clientIds.delete(clientId);
    },

    getAnonymous,

    async setAnonymous(zones) {
      const known = deps.config.get().zones;
      for (const zone of Object.keys(zones)) {
        if (!known[zone]) throw badRequest(`zones.${zone}: unknown zone (configured zones: ${Object.keys(known).join(', ')})`);
      }
      const next = new Map(anonymousOverrides);
      for (const [zone, allow] of Object.entries(zones)) next.set(zone, allow);
      const value = JSON.stringify(Object.fromEntries(next));
      await db
        .insertInto('setting')
        .values({ key: ANONYMOUS_KEY, value, updated_at: Date.now() })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: Date.now() }))
        .execute();
      for (const [zone, allow] of next) anonymousOverrides.set(zone, allow);
      logger.info({ zones }, 'anonymous access changed');
      return getAnonymous();
    },

    /**
     * Config seeds (auth.user.<n>, auth.client.<n>) are inserted once: a seed is remembered when
     * applied, so neither an API edit nor an API delete is undone by the next start.
     */
    async seedFromConfig() {
      const config = deps.config.get();
      const row = await db.selectFrom('setting').select('value').where('key', '=', SEEDED_KEY).executeTakeFirst();
      const seeded: { users: string[]; clientids: string[] } = row ? JSON.parse(row.value) : { users: [], clientids: [] };
      const users = new Set(seeded.users);
      const ids = new Set(seeded.clientids);
      let changed = false;
      for (const u of config.auth.users) {
        if (users.has(u.username)) continue;
        const exists = await db.selectFrom('mqtt_user').select('user_id').where('user_id', '=', u.username).executeTakeFirst();
        if (!exists) await addUser({ user_id: u.username, password: u.password });
        users.add(u.username);
        changed = true;
      }
      for (const id of config.auth.clientids) {
        if (ids.has(id)) continue;
        if (!clientIds.has(id)) await addClientId(id);
        ids.add(id);
        changed = true;
      }
      if (!changed) return;
      const value = JSON.stringify({ users: [...users], clientids: [...ids] });
      await db
        .insertInto('setting')
        .values({ key: SEEDED_KEY, value, updated_at: Date.now() })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: Date.now() }))
        .execute();
    },
  };
}
