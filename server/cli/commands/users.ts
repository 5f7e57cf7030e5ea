// `tern ctl users add|list|del|passwd`: MQTT users of the built-in database (as EMQX's
// `emqx_ctl users`), not dashboard administrators.
import type { Command } from 'commander';
import { listAll, pathOf } from '../client.ts';
import { action, secretArg } from '../context.ts';
import { table } from '../output.ts';

const USERS = '/authentication/password_based:built_in_database/users';

interface User { user_id: string; is_superuser: boolean }

export function register(ctl: Command) {
  const users = ctl.command('users').description('MQTT users (username + password) of the built-in database');

  users
    .command('add')
    .description('add a user; the next CONNECT with these credentials is accepted')
    .argument('<username>')
    .argument('[password]', 'read from standard input when left out')
    .option('--superuser', 'the user bypasses ACL checks')
    .action(
      action(async ({ api, out }, username: string, password: string | undefined, opts: { superuser?: boolean }) => {
        const secret = await secretArg(password, 'the password');
        const u = await api.post<User>(USERS, { user_id: username, password: secret, is_superuser: opts.superuser === true });
        out.print(u, () => `added user ${u.user_id}${u.is_superuser ? ' (superuser)' : ''}`);
      }),
    );

  users
    .command('list')
    .description('every user')
    .option('--like <text>', 'only usernames containing this text')
    .action(
      action(async ({ api, out }, opts: { like?: string }) => {
        const rows = await listAll<User>(api, USERS, { like_user_id: opts.like });
        out.print(rows, () =>
          table(
            rows,
            [
              { header: 'USERNAME', value: (u) => u.user_id },
              { header: 'SUPERUSER', value: (u) => u.is_superuser },
            ],
            '(no users)',
          ),
        );
      }),
    );

  users
    .command('del')
    .description('delete a user; their next CONNECT is refused (connected clients stay)')
    .argument('<username>')
    .action(
      action(async ({ api, out }, username: string) => {
        await api.del(`${USERS}${pathOf(username)}`);
        out.print({ user_id: username, deleted: true }, () => `deleted user ${username}`);
      }),
    );

  users
    .command('passwd')
    .description("change a user's password")
    .argument('<username>')
    .argument('[password]', 'read from standard input when left out')
    .action(
      action(async ({ api, out }, username: string, password: string | undefined) => {
        const secret = await secretArg(password, 'the new password');
        const u = await api.put<User>(`${USERS}${pathOf(username)}`, { password: secret });
        out.print(u, () => `changed the password of ${u.user_id}`);
      }),
    );
}
