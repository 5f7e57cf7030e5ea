// `tern ctl clients list|show|kick`: connected clients.
import type { Command } from 'commander';
import { listAll, pathOf } from '../client.ts';
import { action } from '../context.ts';
import { keyValue, table } from '../output.ts';
import type { SessionInfo } from '../../broker/types.ts';

/** a client or session as GET /clients answers it: the API serialises the registry's SessionInfo */
export type Client = SessionInfo;

interface Subscription { clientid: string; topic: string; qos: number }

const address = (c: Client) => (c.ip_address ? (c.ip_address.includes(':') ? `[${c.ip_address}]:${c.port}` : `${c.ip_address}:${c.port}`) : undefined);

export function register(ctl: Command) {
  const clients = ctl.command('clients').description('connected clients: list, show, kick');

  clients
    .command('list')
    .description('connected clients (offline persistent sessions: `sessions list`)')
    .option('--zone <zone>', 'only clients of this zone')
    .option('--like <text>', 'only client ids containing this text')
    .option('--mqtt-username <name>', 'only clients that logged in with this username')
    .action(
      action(async ({ api, out }, opts: { zone?: string; like?: string; mqttUsername?: string }) => {
        const rows = await listAll<Client>(api, '/clients', {
          conn_state: 'connected',
          zone: opts.zone,
          like_clientid: opts.like,
          username: opts.mqttUsername,
        });
        out.print(rows, () =>
          table(
            rows,
            [
              { header: 'CLIENTID', value: (c) => c.clientid },
              { header: 'USERNAME', value: (c) => c.username },
              { header: 'ADDRESS', value: address },
              { header: 'LISTENER', value: (c) => c.listener },
              { header: 'ZONE', value: (c) => c.zone },
              { header: 'PROTO', value: (c) => `${c.proto_name} ${c.proto_ver}` },
              { header: 'KEEPALIVE', value: (c) => c.keepalive, right: true },
              { header: 'SUBS', value: (c) => c.subscriptions_cnt, right: true },
              { header: 'INFLIGHT', value: (c) => c.inflight_cnt, right: true },
              { header: 'CONNECTED_AT', value: (c) => c.connected_at },
            ],
            '(no connected clients)',
          ),
        );
      }),
    );

  clients
    .command('show')
    .description('one client or session: its connection, counters and subscriptions')
    .argument('<clientid>')
    .action(
      action(async ({ api, out }, clientid: string) => {
        const c = await api.get<Client>(pathOf('clients', clientid));
        const subs = await api.get<Subscription[]>(pathOf('clients', clientid, 'subscriptions'));
        out.print({ ...c, subscriptions: subs }, () =>
          [
            keyValue([
              ['clientid', c.clientid],
              ['username', c.username],
              ['connected', c.connected],
              ['address', address(c)],
              ['listener', c.listener],
              ['zone', c.zone],
              ['protocol', `${c.proto_name} ${c.proto_ver}`],
              ['keepalive', `${c.keepalive} s`],
              ['clean_start', c.clean_start],
              ['expiry_interval', `${c.expiry_interval} s`],
              ['created_at', c.created_at],
              ['connected_at', c.connected_at],
              ['disconnected_at', c.disconnected_at],
              ['inflight', `${c.inflight_cnt}/${c.inflight_max}`],
              ['mqueue', `${c.mqueue_len}/${c.mqueue_max || 'no limit'}`],
              ['mqueue_dropped', c.mqueue_dropped],
              ['recv_msg', c.recv_msg],
              ['send_msg', c.send_msg],
            ]),
            table(
              subs,
              [
                { header: 'TOPIC', value: (s) => s.topic },
                { header: 'QOS', value: (s) => s.qos, right: true },
              ],
              '(no subscriptions)',
            ),
          ].join('\n'),
        );
      }),
    );

  clients
    .command('kick')
    .summary('disconnect a client and end its session')
    .description('disconnect a client and end its session (subscriptions and queue), as EMQX does')
    .argument('<clientid>')
    .action(
      action(async ({ api, out }, clientid: string) => {
        await api.del(pathOf('clients', clientid));
        out.print({ clientid, kicked: true }, () => `kicked ${clientid}`);
      }),
    );
}
