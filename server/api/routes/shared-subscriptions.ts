// The shared-subscription groups with their members and counters.
import { input, paginate, type ApiRoutes, type RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.get('/shared_subscriptions', (ctx) => {
    const q = input.query<{ page: number; limit: number; group?: string }>(ctx);
    const node = deps.config.get().node.name;
    const rows = deps.routing.shared.groups().filter((g) => q.group === undefined || g.group === q.group);
    const page = paginate(rows, q.page, q.limit);
    ctx.body = { data: page.data.map((g) => ({ ...g, node })), meta: page.meta };
  });
}
