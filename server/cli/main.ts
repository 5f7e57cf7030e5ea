// `tern ctl ...`: the command line of a running node. Every command is a thin call of the node's
// HTTP API (server/cli/client.ts), printed as a table or, with --json, as the API's JSON
// (server/cli/output.ts). One file per command group in server/cli/commands/.
//
// Run as `npx tern ctl ...` (bin/tern.js) or `node --import tsx server/cli/main.ts ctl ...`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './client.ts';
import { DEFAULT_URL } from './context.ts';
import { VERSION } from '../version.ts';
import * as status from './commands/status.ts';
import * as clients from './commands/clients.ts';
import * as sessions from './commands/sessions.ts';
import * as subscriptions from './commands/subscriptions.ts';
import * as users from './commands/users.ts';
import * as clientids from './commands/clientids.ts';
import * as anonymous from './commands/anonymous.ts';
import * as hooks from './commands/hooks.ts';
import * as acl from './commands/acl.ts';
import * as banned from './commands/banned.ts';
import * as conf from './commands/conf.ts';
import * as publish from './commands/publish.ts';

const GROUPS = [status, clients, sessions, subscriptions, users, clientids, anonymous, hooks, acl, banned, conf, publish];

const CTL_HELP = `
Address and credentials (flags win over the environment):
  TERN_API_URL                     the node's API, default ${DEFAULT_URL}
  TERN_API_KEY=<key>:<secret>      an API key (POST /api/v5/api_key)
  TERN_USERNAME, TERN_PASSWORD     a dashboard administrator
  With no credentials the default administrator (admin/public) is tried.

Output: aligned tables; --json prints the API's JSON for scripts.

Exit codes:
  0  done
  1  the node refused the request (its {code, message} is printed) or failed
  2  bad arguments
  3  the node cannot be reached
  4  the credentials were refused

Examples:
  tern ctl status
  tern ctl clients list --json
  tern ctl users add alice            (password read from standard input)
  tern ctl anonymous set external off
  tern ctl conf reload --dry-run
  TERN_API_URL=http://10.0.0.5:18083 TERN_API_KEY=k:s tern ctl sessions list
`;

export function buildProgram(): Command {
  const program = new Command('tern')
    .description('Tern, an MQTT broker with a management plane')
    .version(VERSION)
    .exitOverride()
    // One line, like every other failure: "tern ctl: missing required argument 'payload' (see --help)".
    .configureOutput({ outputError: (str, write) => write(`tern ctl: ${str.replace(/^error: /, '').trimEnd()} (see --help)\n`) });

  const ctl: Command = program
    .command('ctl')
    .description("manage a running Tern node through its HTTP API")
    .addOption(new Option('--url <url>', "the node's management API").env('TERN_API_URL').default(DEFAULT_URL))
    .addOption(new Option('--api-key <key:secret>', 'authenticate with an API key').env('TERN_API_KEY'))
    .addOption(new Option('--username <name>', 'log in as this dashboard administrator').env('TERN_USERNAME'))
    .addOption(new Option('--password <password>', "that administrator's password").env('TERN_PASSWORD'))
    .addOption(new Option('--timeout <ms>', 'give up on an answer after this long').default(30_000).argParser((v) => Number(v)).hideHelp())
    .option('--json', 'print JSON (the API answer) instead of tables')
    .addHelpText('after', (): string => `\nEvery command (tern ctl <command> --help for its options):\n${everyCommand(ctl)}${CTL_HELP}`);
  for (const g of GROUPS) g.register(ctl);
  // `tern ctl clients` alone shows what it holds rather than nothing.
  for (const cmd of ctl.commands) if (cmd.commands.length > 0) cmd.action(() => cmd.help({ error: false }));
  return program;
}

function everyCommand(ctl: Command): string {
  const rows: [string, string][] = [];
  for (const group of ctl.commands) {
    if (group.name() === 'help') continue;
    const leaves = group.commands.length > 0 ? group.commands : [group];
    for (const leaf of leaves) {
      const name = leaf === group ? group.name() : `${group.name()} ${leaf.name()}`;
      const args = leaf.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
      rows.push([`${name} ${args}`.trim(), leaf.summary() || leaf.description()]);
    }
  }
  const width = Math.max(...rows.map(([u]) => u.length));
  return rows.map(([u, d]) => `  ${u.padEnd(width)}  ${d}`).join('\n') + '\n';
}

/** Runs one command line; answers the exit code. Errors are one line on stderr. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; commander has printed its message already
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`tern ctl: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`tern ctl: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.refused;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await run(process.argv.slice(2));
  // Leave once stdout has drained; an idle keep-alive socket must not hold the process.
  process.stdout.write('', () => process.exit(code));
}
