// Counts, counters, node info and current rates.
import { notFound } from '../../errors.ts';
import type { NodeInfo } from '../../broker/types.ts';
import { input, type ApiRoutes, type RouteServices } from '../router.ts';
import { monitorGauges } from '../services/monitor.ts';

export function register(r: ApiRoutes, { deps, monitor }: RouteServices) {
  const { broker } = deps;
  const counters = (values: Record<string, number>, aggregate: boolean) =>
    aggregate ? { ...values } : [{ node: deps.config.get().node.name, ...values }];

  const node = (n: NodeInfo) => ({
    node: n.node,
    version: n.version,
    uptime: Math.max(0, Math.round(n.uptime)),
    node_status: n.node_status,
    connections: n.connections,
    sysdescr: n.sysdescr,
    memory_used: Math.round(n.memory_used),
    process_available: n.process_available,
  });

  r.get('/stats', (ctx) => {
    ctx.body = counters(broker.stats(), input.query<{ aggregate: boolean }>(ctx).aggregate);
  });

  r.get('/metrics', (ctx) => {
    ctx.body = counters({ ...broker.metrics(), ...deps.hooks.metrics() }, input.query<{ aggregate: boolean }>(ctx).aggregate);
  });

  r.get('/nodes', (ctx) => {
    ctx.body = [node(broker.nodeInfo())];
  });

  r.get('/nodes/{node}', (ctx) => {
    const info = broker.nodeInfo();
    const name = input.param(ctx, 'node');
    if (name !== info.node) throw notFound('NOT_FOUND', `node ${name} not found`);
    ctx.body = node(info);
  });

  r.get('/monitor_current', (ctx) => {
    ctx.body = {
      ...monitorGauges(broker),
      ...monitor.rates(),
    };
  });
}
