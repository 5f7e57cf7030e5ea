// `tern ctl sessions list`: every session, connected or not, with its message queue.
import type { Command } from 'commander';
import { listAll } from '../client.ts';
import { action } from '../context.ts';
import { table } from '../output.ts';
import type { Client } from './clients.ts';

export function register(ctl: Command) {
  const sessions = ctl.command('sessions').description('sessions, connected or offline, with their mqueue');

  sessions
    .command('list')
    .summary('every session with its mqueue depth')
    .description('every session with its inflight window and mqueue depth (queued/max, dropped)')
    .option('--offline', 'only offline sessions (clients gone, messages queueing)')
    .option('--online', 'only sessions with a connected client')
    .option('--zone <zone>', 'only sessions of this zone')
    .option('--min-mqueue <n>', 'only sessions with at least n queued messages')
    .action(
      action(async ({ api, out }, opts: { offline?: boolean; online?: boolean; zone?: string; minMqueue?: string }) => {
        const state = opts.offline && !opts.online ? 'disconnected' : opts.online && !opts.offline ? 'connected' : undefined;
        const rows = await listAll<Client>(api, '/clients', { conn_state: state, zone: opts.zone, gte_mqueue_len: opts.minMqueue });
        out.print(rows, () =>
          table(
            rows,
            [
              { header: 'CLIENTID', value: (c) => c.clientid },
              { header: 'CONNECTED', value: (c) => c.connected },
              { header: 'ZONE', value: (c) => c.zone },
              { header: 'CLEAN_START', value: (c) => c.clean_start },
              { header: 'EXPIRY', value: (c) => `${c.expiry_interval}s`, right: true },
              { header: 'SUBS', value: (c) => c.subscriptions_cnt, right: true },
              { header: 'INFLIGHT', value: (c) => `${c.inflight_cnt}/${c.inflight_max}`, right: true },
              { header: 'MQUEUE', value: (c) => c.mqueue_len, right: true },
              { header: 'MQUEUE_MAX', value: (c) => c.mqueue_max || 'no limit', right: true },
              { header: 'DROPPED', value: (c) => c.mqueue_dropped, right: true },
              { header: 'DISCONNECTED_AT', value: (c) => (c.connected ? undefined : c.disconnected_at) },
            ],
            '(no sessions)',
          ),
        );
      }),
    );
}
