// Banned clients (EMQX 5's /banned). A ban applies to the next CONNECT and closes the connections
// it matches at once; see broker/access/banned.ts.
import { notFound } from '../../errors.ts';
import type { Ban, BanKind } from '../../broker/access/banned.ts';
import { principalName } from '../middleware/audit.ts';
import { input, noContent, pageMeta, type ApiRoutes, type RouteServices } from '../router.ts';

const view = (b: Ban) => ({
  as: b.as,
  who: b.who,
  reason: b.reason,
  by: b.by,
  at: new Date(b.at).toISOString(),
  until: b.until === null ? 'infinity' : new Date(b.until).toISOString(),
});

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { banned } = deps;

  r.get('/banned', (ctx) => {
    const q = input.query<{ page: number; limit: number }>(ctx);
    const res = banned.list(q);
    ctx.body = { data: res.data.map(view), meta: pageMeta(q.page, q.limit, res.count) };
  });

  r.post('/banned', async (ctx) => {
    const b = input.body<{ as: BanKind; who: string; reason: string; by?: string; until?: string }>(ctx);
    const ban = await banned.add({
      as: b.as,
      who: b.who,
      reason: b.reason,
      by: b.by ?? principalName(ctx.state.principal),
      until: b.until === undefined || b.until === 'infinity' ? null : Date.parse(b.until),
    });
    ctx.body = view(ban);
  });

  r.delete('/banned/{as}/{who}', async (ctx) => {
    const as = input.param(ctx, 'as') as BanKind;
    const who = input.param(ctx, 'who');
    if (!(await banned.remove(as, who))) throw notFound('NOT_FOUND', `${as} ${who} is not banned`);
    noContent(ctx);
  });
}
