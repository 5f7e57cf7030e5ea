// The metrics history (GET /monitor, 10 s samples kept 24 h) and its live continuation
// (GET /monitor/stream, server-sent events of the same numbers every second).
import { PassThrough } from 'node:stream';
import { input, type ApiRoutes, type RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { monitorHistory, streamMs, streams }: RouteServices) {
  r.get('/monitor', async (ctx) => {
    const { latest } = input.query<{ latest: number }>(ctx);
    ctx.body = await monitorHistory.latest(latest);
  });

  // EventSource cannot send an Authorization header, so the dashboard reads this with fetch();
  // curl -N works too. `count` ends the stream after that many events (scripts, tests).
  r.get('/monitor/stream', (ctx) => {
    const { count } = input.query<{ count?: number }>(ctx);
    const out = new PassThrough();
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set('Cache-Control', 'no-cache, no-transform');
    // nginx would otherwise buffer the stream
    ctx.set('X-Accel-Buffering', 'no');
    ctx.type = 'text/event-stream';
    ctx.status = 200;
    ctx.body = out;
    let sent = 0;
    const send = () => {
      out.write(`event: monitor\ndata: ${JSON.stringify(monitorHistory.now())}\n\n`);
      sent++;
      if (count !== undefined && sent >= count) stop();
    };
    const timer = setInterval(send, streamMs);
    const stop = () => {
      clearInterval(timer);
      streams.delete(stop);
      out.end();
    };
    streams.add(stop);
    ctx.req.once('close', stop);
    // the client tells how long to wait before reconnecting, then gets the first event at once
    out.write(`retry: ${Math.max(1000, streamMs)}\n\n`);
    send();
  });
}
