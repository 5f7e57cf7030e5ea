// Sessions, connected or not, and acting on a client's behalf.
import { badRequest, notFound } from '../../errors.ts';
import { topicFilterProblem } from '../../broker/protocol/topic.ts';
import type { QoS, SessionFilter, SessionInfo, SubscriptionInfo } from '../../broker/types.ts';
import { subscriptionView } from './subscriptions.ts';
import { input, noContent, pageMeta, type ApiContext, type ApiRoutes, type RouteServices } from '../router.ts';

const clientNotFound = (id: string) => notFound('CLIENTID_NOT_FOUND', `client ${id} not found`);

const FILTERS = ['clientid', 'username', 'conn_state', 'like_clientid', 'like_username', 'ip_address', 'clean_start', 'gte_mqueue_len', 'lte_mqueue_len', 'zone'] as const;

type SortKey = 'clientid' | 'username' | 'connected_at' | 'created_at' | 'mqueue_len' | 'mqueue_dropped' | 'subscriptions_cnt' | 'inflight_cnt' | 'recv_msg' | 'send_msg';

/** nulls last in either order; ties broken by client id so pages never overlap */
function compareBy(key: SortKey, order: 'asc' | 'desc') {
  const sign = order === 'desc' ? -1 : 1;
  return (a: SessionInfo, b: SessionInfo): number => {
    const x = a[key];
    const y = b[key];
    if (x !== y) {
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sign;
    }
    return a.clientid < b.clientid ? -1 : a.clientid > b.clientid ? 1 : 0;
  };
}

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { sessions } = deps;

  /** exactly the fields of the spec's Client, whatever else the registry carries */
  const row = (s: SessionInfo) => ({
    clientid: s.clientid,
    username: s.username,
    connected: s.connected,
    node: deps.config.get().node.name,
    zone: s.zone,
    listener: s.listener,
    ip_address: s.ip_address,
    port: s.port,
    keepalive: s.keepalive,
    clean_start: s.clean_start,
    expiry_interval: s.expiry_interval,
    proto_name: s.proto_name,
    proto_ver: s.proto_ver,
    created_at: s.created_at,
    connected_at: s.connected_at,
    disconnected_at: s.disconnected_at,
    subscriptions_cnt: s.subscriptions_cnt,
    inflight_cnt: s.inflight_cnt,
    inflight_max: s.inflight_max,
    mqueue_len: s.mqueue_len,
    mqueue_max: s.mqueue_max,
    mqueue_dropped: s.mqueue_dropped,
    recv_msg: s.recv_msg,
    send_msg: s.send_msg,
  });

  const existing = (ctx: ApiContext) => {
    const id = input.param(ctx, 'clientid');
    const session = sessions.get(id);
    if (!session) throw clientNotFound(id);
    return session;
  };

  const checkFilter = (topic: string) => {
    const problem = topicFilterProblem(topic, deps.config.get().mqtt);
    if (problem) throw badRequest(`body.topic ${problem}`);
  };

  const subscriptionRow = (s: SubscriptionInfo) => subscriptionView(s, deps.config.get().node.name);

  r.get('/clients', (ctx) => {
    const q = input.query<Record<string, unknown> & { page: number; limit: number; order_by?: SortKey; order: 'asc' | 'desc' }>(ctx);
    const filter: Record<string, unknown> = {};
    for (const key of FILTERS) if (q[key] !== undefined) filter[key] = q[key];
    if (!q.order_by) {
      const res = sessions.list(filter as SessionFilter, { page: q.page, limit: q.limit });
      ctx.body = { data: res.data.map(row), meta: pageMeta(q.page, q.limit, res.count) };
      return;
    }
    // Sorting needs every match; the registry is in memory, so this is one pass and a sort.
    const all = sessions.list(filter as SessionFilter, { page: 1, limit: Number.MAX_SAFE_INTEGER }).data;
    all.sort(compareBy(q.order_by, q.order));
    const start = (q.page - 1) * q.limit;
    ctx.body = { data: all.slice(start, start + q.limit).map(row), meta: pageMeta(q.page, q.limit, all.length) };
  });

  r.get('/clients/{clientid}', (ctx) => {
    ctx.body = row(existing(ctx));
  });

  // EMQX's kick: the connection closes and the session (subscriptions, queue) ends with it, also
  // for an offline persistent session.
  r.delete('/clients/{clientid}', async (ctx) => {
    const id = input.param(ctx, 'clientid');
    if (!(await sessions.kick(id))) throw clientNotFound(id);
    noContent(ctx);
  });

  r.get('/clients/{clientid}/subscriptions', (ctx) => {
    const { clientid } = existing(ctx);
    ctx.body = sessions.subscriptions(clientid).map(subscriptionRow);
  });

  r.post('/clients/{clientid}/subscribe', async (ctx) => {
    const { clientid } = existing(ctx);
    const { topic, qos } = input.body<{ topic: string; qos: QoS }>(ctx);
    checkFilter(topic);
    // answered with what the broker granted (it may downgrade the QoS)
    ctx.body = subscriptionRow(await sessions.subscribe(clientid, topic, qos));
  });

  r.post('/clients/{clientid}/unsubscribe', async (ctx) => {
    const { clientid } = existing(ctx);
    const { topic } = input.body<{ topic: string }>(ctx);
    checkFilter(topic);
    await sessions.unsubscribe(clientid, topic);
    noContent(ctx);
  });

  r.get('/clients/{clientid}/mqueue_messages', async (ctx) => {
    const { clientid } = existing(ctx);
    const q = input.query<{ page: number; limit: number; payload: 'base64' | 'plain' | 'none' }>(ctx);
    const res = await sessions.queuedMessages(clientid, { page: q.page, limit: q.limit });
    ctx.body = {
      data: res.data.map((m) => ({
        topic: m.topic,
        qos: m.qos,
        payload: q.payload === 'none' ? null : m.payload.toString(q.payload === 'plain' ? 'utf8' : 'base64'),
        retain: m.retain,
        publish_at: m.publish_at,
        inflight: m.inflight,
        from_clientid: m.from_clientid,
      })),
      meta: pageMeta(q.page, q.limit, res.count),
    };
  });
}
