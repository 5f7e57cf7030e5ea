// The audit log of management changes (services/audit.ts), newest first.
import { badRequest } from '../../errors.ts';
import { input, pageMeta, type ApiRoutes, type RouteServices } from '../router.ts';

const time = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(ms)) throw badRequest(`query.${name} must be an RFC 3339 time or milliseconds since the epoch`);
  return ms;
};

export function register(r: ApiRoutes, { audit }: RouteServices) {
  r.get('/audit', async (ctx) => {
    const q = input.query<{
      page: number;
      limit: number;
      who?: string;
      who_type?: 'admin' | 'api_key';
      operation?: string;
      http_method?: string;
      gte_created_at?: string;
      lte_created_at?: string;
    }>(ctx);
    const res = await audit.list(
      {
        who: q.who,
        who_type: q.who_type,
        operation: q.operation,
        http_method: q.http_method,
        gte_created_at: time('gte_created_at', q.gte_created_at),
        lte_created_at: time('lte_created_at', q.lte_created_at),
      },
      { page: q.page, limit: q.limit },
    );
    ctx.body = { data: res.data, meta: pageMeta(q.page, q.limit, res.count) };
  });
}
