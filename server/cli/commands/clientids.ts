// `tern ctl clientids add|list|del`: the client-id allow-list (a listed id is let in).
import type { Command } from 'commander';
import { listAll, pathOf } from '../client.ts';
import { action } from '../context.ts';
import { table } from '../output.ts';

const CLIENTIDS = '/authentication/clientids';

export function register(ctl: Command) {
  const clientids = ctl.command('clientids').description('the client-id allow-list: a client id on it is let in without a password');

  clientids
    .command('add')
    .description('allow a client id')
    .argument('<clientid>')
    .action(
      action(async ({ api, out }, clientid: string) => {
        const res = await api.post<{ clientid: string }>(CLIENTIDS, { clientid });
        out.print(res, () => `added client id ${res.clientid}`);
      }),
    );

  clientids
    .command('list')
    .description('every allowed client id')
    .action(
      action(async ({ api, out }) => {
        const rows = await listAll<{ clientid: string }>(api, CLIENTIDS);
        out.print(rows, () => table(rows, [{ header: 'CLIENTID', value: (r) => r.clientid }], '(no client ids)'));
      }),
    );

  clientids
    .command('del')
    .description('remove a client id from the list')
    .argument('<clientid>')
    .action(
      action(async ({ api, out }, clientid: string) => {
        await api.del(`${CLIENTIDS}${pathOf(clientid)}`);
        out.print({ clientid, deleted: true }, () => `deleted client id ${clientid}`);
      }),
    );
}
