// Retained messages, EMQX 5's retainer shapes: read from and deleted in the broker's persistence.
import { notFound } from '../../errors.ts';
import type { RetainedMessage } from '../../broker/types.ts';
import { input, noContent, paginate, type ApiRoutes, type RouteServices } from '../router.ts';

const render = (m: RetainedMessage, withPayload: boolean) => ({
  topic: m.topic,
  qos: m.qos,
  from_clientid: m.from_clientid,
  payload_size: m.payload.length,
  ...(withPayload ? { payload: m.payload.toString('base64') } : {}),
});

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { broker } = deps;

  r.get('/mqtt/retainer/messages', async (ctx) => {
    const q = input.query<{ page: number; limit: number; topic?: string; like_topic?: string }>(ctx);
    let rows = await broker.retained(q.topic ?? '#');
    if (q.like_topic) rows = rows.filter((m) => m.topic.includes(q.like_topic!));
    rows.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    const page = paginate(rows, q.page, q.limit);
    ctx.body = { data: page.data.map((m) => render(m, false)), meta: page.meta };
  });

  r.get('/mqtt/retainer/message/{topic}', async (ctx) => {
    const topic = input.param(ctx, 'topic');
    const found = (await broker.retained(topic)).find((m) => m.topic === topic);
    if (!found) throw notFound('NOT_FOUND', `no retained message on topic ${topic}`);
    ctx.body = render(found, true);
  });

  r.delete('/mqtt/retainer/message/{topic}', async (ctx) => {
    const topic = input.param(ctx, 'topic');
    if (!(await broker.deleteRetained(topic))) throw notFound('NOT_FOUND', `no retained message on topic ${topic}`);
    noContent(ctx);
  });
}
