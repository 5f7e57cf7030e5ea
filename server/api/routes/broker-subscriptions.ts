// Subscriptions made by the broker: the auto-subscribe templates and the per-client lists.
import type { BrokerSubscription, SubscriptionTemplate } from '../../broker/routing/broker-subscriptions.ts';
import type { QoS } from '../../broker/types.ts';
import { notFound } from '../../errors.ts';
import { input, noContent, paginate, type ApiRoutes, type RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const service = deps.routing.brokerSubscriptions;

  /** the QoS the client holds the topic with now (online, or stored for its offline session) */
  const grantedQos = (clientid: string, topic: string): QoS | null => {
    if (!deps.sessions.get(clientid)) return null;
    return deps.sessions.subscriptions(clientid).find((s) => s.topic === topic)?.qos ?? null;
  };
  const row = (s: BrokerSubscription, granted: QoS | null) => ({
    clientid: s.clientid,
    topic: s.topic,
    qos: s.qos,
    rh: s.rh,
    rap: s.rap,
    nl: s.nl,
    created_at: new Date(s.created_at).toISOString(),
    granted_qos: granted,
  });

  r.get('/mqtt/auto_subscribe', (ctx) => {
    ctx.body = service.templates();
  });

  r.put('/mqtt/auto_subscribe', async (ctx) => {
    ctx.body = await service.setTemplates(input.body<SubscriptionTemplate[]>(ctx));
  });

  r.get('/mqtt/broker_subscriptions', (ctx) => {
    const q = input.query<{ page: number; limit: number; clientid?: string }>(ctx);
    const page = paginate(service.list({ clientid: q.clientid }), q.page, q.limit);
    ctx.body = { data: page.data.map((s) => row(s, grantedQos(s.clientid, s.topic))), meta: page.meta };
  });

  r.post('/mqtt/broker_subscriptions', async (ctx) => {
    const body = input.body<Omit<BrokerSubscription, 'created_at'>>(ctx);
    const { subscription, granted_qos } = await service.add(body);
    ctx.body = row(subscription, granted_qos ?? grantedQos(subscription.clientid, subscription.topic));
  });

  r.delete('/mqtt/broker_subscriptions/{clientid}/{topic}', async (ctx) => {
    const clientid = input.param(ctx, 'clientid');
    const topic = input.param(ctx, 'topic');
    if (!(await service.remove(clientid, topic))) throw notFound('NOT_FOUND', `no broker subscription of ${clientid} to ${topic}`);
    noContent(ctx);
  });
}
