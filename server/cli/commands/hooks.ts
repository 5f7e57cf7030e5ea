// `tern ctl hooks list|show|retry`: webhooks and their delivery outbox (issue 10's API).
import type { Command } from 'commander';
import { pathOf } from '../client.ts';
import { action } from '../context.ts';
import { looseObject, looseTable, rowsOf } from '../output.ts';

const COLUMNS = ['id', 'name', 'url', 'events', 'enable', 'status', 'pending', 'failed', 'delivered', 'last_error'];

export function register(ctl: Command) {
  const hooks = ctl.command('hooks').description('webhooks: list, show, retry failed deliveries');

  hooks
    .command('list')
    .description('every webhook with its state')
    .action(
      action(async ({ api, out }) => {
        const res = await api.get('/hooks');
        out.print(res, () => looseTable(rowsOf(res), COLUMNS, '(no webhooks)'));
      }),
    );

  hooks
    .command('show')
    .description('one webhook: its settings and delivery counters')
    .argument('<id>')
    .action(
      action(async ({ api, out }, id: string) => {
        const res = await api.get<Record<string, unknown>>(pathOf('hooks', id));
        out.print(res, () => looseObject(res));
      }),
    );

  hooks
    .command('retry')
    .description("retry a webhook's failed deliveries now")
    .argument('<id>')
    .action(
      action(async ({ api, out }, id: string) => {
        const res = await api.post<Record<string, unknown> | undefined>(pathOf('hooks', id, 'deliveries', 'retry'));
        out.print(res ?? { id, retried: true }, () => (res && Object.keys(res).length ? looseObject(res) : `retrying the failed deliveries of ${id}`));
      }),
    );
}
