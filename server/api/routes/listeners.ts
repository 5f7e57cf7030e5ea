import type { ApiRoutes, RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.get('/listeners', (ctx) => {
    const configured = new Map(deps.config.get().listeners.map((l) => [`${l.proto}:${l.name}`, l]));
    ctx.body = deps.broker.listeners().map((l) => {
      const c = configured.get(l.id);
      return {
        id: l.id,
        type: l.type,
        name: l.name,
        bind: l.bind,
        zone: l.zone,
        running: l.running,
        current_connections: l.current_connections,
        max_connections: l.max_connections,
        max_conn_rate: c?.max_conn_rate ?? 0,
        ...(l.type === 'ws' || l.type === 'wss' ? { mqtt_path: c?.mqtt_path ?? '/mqtt' } : {}),
      };
    });
  });
}
