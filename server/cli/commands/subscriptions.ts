// `tern ctl subscriptions list`
import type { Command } from 'commander';
import { listAll } from '../client.ts';
import { action, intIn } from '../context.ts';
import { table } from '../output.ts';

interface Subscription { clientid: string; topic: string; qos: number; node: string }

export function register(ctl: Command) {
  const subscriptions = ctl.command('subscriptions').description('subscriptions of every session');

  subscriptions
    .command('list')
    .description('subscriptions, optionally filtered')
    .option('--clientid <id>', 'of this client')
    .option('--topic <filter>', 'exactly this topic filter')
    .option('--match <filter>', 'subscriptions whose topic matches this filter (wildcards allowed)')
    .option('--qos <qos>', 'granted at this QoS', intIn(0, 2))
    .option('--share-group <group>', 'shared subscriptions of this group')
    .action(
      action(async ({ api, out }, opts: { clientid?: string; topic?: string; match?: string; qos?: number; shareGroup?: string }) => {
        const rows = await listAll<Subscription>(api, '/subscriptions', {
          clientid: opts.clientid,
          topic: opts.topic,
          match_topic: opts.match,
          qos: opts.qos,
          share_group: opts.shareGroup,
        });
        out.print(rows, () =>
          table(
            rows,
            [
              { header: 'CLIENTID', value: (s) => s.clientid },
              { header: 'TOPIC', value: (s) => s.topic },
              { header: 'QOS', value: (s) => s.qos, right: true },
            ],
            '(no subscriptions)',
          ),
        );
      }),
    );
}
