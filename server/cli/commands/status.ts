// `tern ctl status`: is the node up, what it runs, and its listeners.
import type { Command } from 'commander';
import { action } from '../context.ts';
import { bytes, duration, keyValue, table } from '../output.ts';

interface Status { node: string; version: string; uptime: number; status: string }
interface NodeInfo { node: string; connections: number; memory_used: number; node_status: string; uptime: number }
interface Listener { id: string; type: string; bind: string; zone: string; running: boolean; current_connections: number; max_connections: number }
type Monitor = Record<string, number>;

export function register(ctl: Command) {
  ctl
    .command('status')
    .summary('the node: version, uptime, counts, listeners')
    .description('the node: version, uptime, connections, sessions, subscriptions, and its listeners')
    .action(
      action(async ({ api, out }) => {
        const status = await api.get<Status>('/status', undefined, { auth: false });
        // The rest needs credentials: a wrong login fails here, as for every other command.
        const [nodes, listeners, monitor] = await Promise.all([
          api.get<NodeInfo[]>('/nodes'),
          api.get<Listener[]>('/listeners'),
          api.get<Monitor>('/monitor_current'),
        ]);
        const node = nodes.find((n) => n.node === status.node) ?? nodes[0];
        out.print({ ...status, memory_used: node?.memory_used, stats: monitor, listeners }, () =>
          [
            keyValue([
              ['node', status.node],
              ['version', status.version],
              ['status', status.status],
              ['uptime', duration(status.uptime)],
              ['connections', monitor.live_connections],
              ['sessions', monitor.sessions],
              ['subscriptions', monitor.subscriptions],
              ['retained', monitor.retained_msg_count],
              ['memory', node ? bytes(node.memory_used) : undefined],
            ]),
            table(listeners, [
              { header: 'LISTENER', value: (l) => l.id },
              { header: 'BIND', value: (l) => l.bind },
              { header: 'ZONE', value: (l) => l.zone },
              { header: 'RUNNING', value: (l) => l.running },
              { header: 'CONNECTIONS', value: (l) => l.current_connections, right: true },
              { header: 'MAX', value: (l) => l.max_connections || 'no limit', right: true },
            ]),
          ].join('\n'),
        );
      }),
    );
}
