// Webhooks: definitions (persisted, live on change), a test request, and the outbox per hook
// (pending, dead letters, recent deliveries) with a retry of dead letters.
import type { DeliveryStatus, HookInput, HookView } from '../../hooks/index.ts';
import type { TernEventName } from '../../broker/events.ts';
import { input, noContent, pageMeta, type ApiRoutes, type RouteServices } from '../router.ts';

/** the secret is write-only: the API says whether one is set */
const show = (h: HookView) => {
  const { secret, ...rest } = h;
  return { ...rest, has_secret: secret !== null };
};

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { hooks } = deps;
  const id = (ctx: Parameters<Parameters<ApiRoutes['get']>[1]>[0]) => Number(input.param(ctx, 'id'));

  r.get('/hooks', (ctx) => {
    ctx.body = hooks.list().map(show);
  });

  r.post('/hooks', async (ctx) => {
    const h = await hooks.create(input.body<HookInput>(ctx));
    ctx.status = 201;
    ctx.body = show(h);
  });

  r.get('/hooks/{id}', (ctx) => {
    ctx.body = show(hooks.get(id(ctx)));
  });

  r.put('/hooks/{id}', async (ctx) => {
    ctx.body = show(await hooks.update(id(ctx), input.body<Partial<HookInput>>(ctx)));
  });

  r.delete('/hooks/{id}', async (ctx) => {
    await hooks.remove(id(ctx));
    noContent(ctx);
  });

  r.post('/hooks/{id}/test', async (ctx) => {
    const body = input.body<{ event?: TernEventName } | undefined>(ctx);
    ctx.body = await hooks.test(id(ctx), body?.event);
  });

  r.get('/hooks/{id}/deliveries', (ctx) => {
    const q = input.query<{ status: DeliveryStatus; page: number; limit: number }>(ctx);
    const res = hooks.deliveries(id(ctx), q.status, q.page, q.limit);
    ctx.body = { data: res.data, meta: pageMeta(q.page, q.limit, res.count) };
  });

  r.post('/hooks/{id}/deliveries/retry', async (ctx) => {
    const body = input.body<{ ids?: number[] } | undefined>(ctx);
    ctx.body = { retried: await hooks.retry(id(ctx), body?.ids) };
  });
}
