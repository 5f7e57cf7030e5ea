// `tern ctl banned list|add|del`: banned client ids, usernames and addresses (issue 12's API).
import { Argument, InvalidArgumentError, type Command } from 'commander';
import { listAll, pathOf } from '../client.ts';
import { action } from '../context.ts';
import { looseTable } from '../output.ts';

const AS = ['clientid', 'username', 'peerhost'];
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "1h", "7d", "30m" from now, or an RFC 3339 time; answered as RFC 3339. */
export function untilArg(raw: string): string {
  const rel = /^(\d+)([smhdw])$/.exec(raw);
  if (rel) return new Date(Date.now() + Number(rel[1]) * UNITS[rel[2]!]!).toISOString();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected a duration from now (30m, 1h, 7d) or an RFC 3339 time (2027-01-01T00:00:00Z)');
  return new Date(t).toISOString();
}

export function register(ctl: Command) {
  const banned = ctl.command('banned').description('bans by client id, username or address');

  banned
    .command('list')
    .description('every ban in force')
    .action(
      action(async ({ api, out }) => {
        const rows = await listAll<Record<string, unknown>>(api, '/banned');
        out.print(rows, () => looseTable(rows, ['as', 'who', 'reason', 'at', 'until', 'by'], '(nobody is banned)'));
      }),
    );

  banned
    .command('add')
    .description('ban a client id, username or address; a connected client that matches is disconnected')
    .addArgument(new Argument('<as>').choices(AS))
    .argument('<who>')
    .option('--reason <text>', 'why (shown in the list)')
    .option('--until <when>', 'end of the ban: a duration from now (1h, 7d) or an RFC 3339 time; default: for good', untilArg)
    .action(
      action(async ({ api, out }, as: string, who: string, opts: { reason?: string; until?: string }) => {
        const res = await api.post<Record<string, unknown>>('/banned', { as, who, reason: opts.reason, until: opts.until });
        out.print(res ?? { as, who }, () => `banned ${as} ${who}${opts.until ? ` until ${opts.until}` : ''}`);
      }),
    );

  banned
    .command('del')
    .description('lift a ban')
    .addArgument(new Argument('<as>').choices(AS))
    .argument('<who>')
    .action(
      action(async ({ api, out }, as: string, who: string) => {
        await api.del(pathOf('banned', as, who));
        out.print({ as, who, deleted: true }, () => `lifted the ban on ${as} ${who}`);
      }),
    );
}
