// MQTT client authentication data, edited through the same AuthService the broker asks on every
// CONNECT: a change here applies to the next CONNECT, and the service persists it.
import { badRequest, notFound } from '../../errors.ts';
import type { AnonymousSetting } from '../../broker/types.ts';
import { input, noContent, pageMeta, paginate, type ApiRoutes, type RouteServices } from '../router.ts';

const USERS = '/authentication/password_based:built_in_database/users';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { auth } = deps;

  r.get(USERS, async (ctx) => {
    const q = input.query<{ page: number; limit: number; like_user_id?: string }>(ctx);
    const res = await auth.listUsers({ page: q.page, limit: q.limit, like_user_id: q.like_user_id });
    ctx.body = { data: res.data.map((u) => ({ user_id: u.user_id, is_superuser: u.is_superuser })), meta: pageMeta(q.page, q.limit, res.count) };
  });

  r.post(USERS, async (ctx) => {
    const u = await auth.addUser(input.body(ctx));
    ctx.status = 201;
    ctx.body = { user_id: u.user_id, is_superuser: u.is_superuser };
  });

  r.get(`${USERS}/{user_id}`, async (ctx) => {
    const id = input.param(ctx, 'user_id');
    const u = await auth.getUser(id);
    if (!u) throw notFound('NOT_FOUND', `user ${id} not found`);
    ctx.body = { user_id: u.user_id, is_superuser: u.is_superuser };
  });

  r.put(`${USERS}/{user_id}`, async (ctx) => {
    const u = await auth.updateUser(input.param(ctx, 'user_id'), input.body(ctx));
    ctx.body = { user_id: u.user_id, is_superuser: u.is_superuser };
  });

  r.delete(`${USERS}/{user_id}`, async (ctx) => {
    await auth.deleteUser(input.param(ctx, 'user_id'));
    noContent(ctx);
  });

  r.get('/authentication/clientids', async (ctx) => {
    const q = input.query<{ page: number; limit: number }>(ctx);
    const page = paginate(await auth.listClientIds(), q.page, q.limit);
    ctx.body = { data: page.data.map((clientid) => ({ clientid })), meta: page.meta };
  });

  r.post('/authentication/clientids', async (ctx) => {
    const { clientid } = input.body<{ clientid: string }>(ctx);
    await auth.addClientId(clientid);
    ctx.status = 201;
    ctx.body = { clientid };
  });

  r.delete('/authentication/clientids/{clientid}', async (ctx) => {
    await auth.deleteClientId(input.param(ctx, 'clientid'));
    noContent(ctx);
  });

  const anonymousView = (settings: Record<string, AnonymousSetting>) => {
    const zones: Record<string, boolean> = {};
    const sources: Record<string, 'api' | 'config'> = {};
    for (const [zone, s] of Object.entries(settings)) {
      zones[zone] = s.allow;
      sources[zone] = s.source;
    }
    return { zones, sources };
  };

  r.get('/authentication/anonymous', async (ctx) => {
    ctx.body = anonymousView(await auth.getAnonymous());
  });

  r.put('/authentication/anonymous', async (ctx) => {
    const { zones } = input.body<{ zones: Record<string, boolean> }>(ctx);
    const known = Object.keys(deps.config.get().zones);
    for (const zone of Object.keys(zones)) {
      if (!known.includes(zone)) throw badRequest(`body.zones.${zone} is not a configured zone (zones: ${known.join(', ')})`);
    }
    ctx.body = anonymousView(await auth.setAnonymous(zones));
  });
}
