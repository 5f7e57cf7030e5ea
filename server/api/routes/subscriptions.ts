import type { QoS } from '../../broker/types.ts';
import { input, paginate, type ApiRoutes, type RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.get('/subscriptions', (ctx) => {
    const q = input.query<{ page: number; limit: number; clientid?: string; topic?: string; qos?: QoS; share_group?: string; match_topic?: string }>(ctx);
    const rows = deps.sessions.allSubscriptions({
      clientid: q.clientid,
      topic: q.topic,
      qos: q.qos,
      share_group: q.share_group,
      match_topic: q.match_topic,
    });
    const node = deps.config.get().node.name;
    const page = paginate(rows, q.page, q.limit);
    ctx.body = { data: page.data.map((s) => ({ clientid: s.clientid, topic: s.topic, qos: s.qos, node })), meta: page.meta };
  });
}
