import type { ApiRoutes, RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.get('/status', (ctx) => {
    ctx.body = { node: deps.config.get().node.name, version: deps.version, uptime: Math.max(0, Date.now() - deps.startedAt), status: 'running' };
  });
}
