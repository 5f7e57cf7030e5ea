import { badRequest } from '../../errors.ts';
import type { QoS } from '../../broker/types.ts';
import { input, type ApiRoutes, type RouteServices } from '../router.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.post('/publish', async (ctx) => {
    const b = input.body<{ topic: string; payload: string; payload_encoding: 'plain' | 'base64'; qos: QoS; retain: boolean }>(ctx);
    let payload: Buffer;
    if (b.payload_encoding === 'base64') {
      const compact = b.payload.replace(/\s+/g, '');
      if (!BASE64.test(compact)) throw badRequest('body.payload is not valid base64 (payload_encoding is base64)');
      payload = Buffer.from(compact, 'base64');
    } else {
      payload = Buffer.from(b.payload, 'utf8');
    }
    const { mqtt } = deps.config.get();
    if (b.retain && !mqtt.retain_available) throw badRequest('body.retain: retained messages are off (mqtt.retain_available)');
    if (mqtt.max_topic_levels > 0 && b.topic.split('/').length > mqtt.max_topic_levels) {
      throw badRequest(`body.topic has more than mqtt.max_topic_levels (${mqtt.max_topic_levels}) levels`);
    }
    const max = mqtt.max_packet_size;
    if (max > 0 && payload.length > max) {
      throw badRequest(`body.payload is ${payload.length} bytes, more than mqtt.max_packet_size (${max})`);
    }
    const res = await deps.broker.publish({ topic: b.topic, payload, qos: b.qos, retain: b.retain });
    if (res.matched) {
      ctx.body = { id: res.id };
    } else {
      ctx.status = 202;
      ctx.body = { reason_code: 16, message: 'no_matching_subscribers' };
    }
  });
}
