// What every command needs, built from the options of `tern ctl` (flags, else TERN_* variables):
// the API client of the node addressed and the output (tables or --json).
import { InvalidArgumentError, type Command } from 'commander';
import { CliError, EXIT, createApiClient, type ApiClient } from './client.ts';
import { createOutput, type Output } from './output.ts';

export const DEFAULT_URL = 'http://127.0.0.1:18083';

export interface GlobalOptions {
  url: string;
  apiKey?: string;
  username?: string;
  password?: string;
  json?: boolean;
  timeout?: number;
}

export interface CliContext {
  api: ApiClient;
  out: Output;
}

export function contextOf(cmd: Command): CliContext {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  let apiKey: { key: string; secret: string } | undefined;
  if (o.apiKey !== undefined) {
    const colon = o.apiKey.indexOf(':');
    if (colon <= 0 || colon === o.apiKey.length - 1) {
      throw new CliError('--api-key (or TERN_API_KEY) must be <api_key>:<api_secret>', EXIT.usage);
    }
    apiKey = { key: o.apiKey.slice(0, colon), secret: o.apiKey.slice(colon + 1) };
  }
  if ((o.username === undefined) !== (o.password === undefined) && !apiKey) {
    throw new CliError(`--${o.username === undefined ? 'username' : 'password'} (or TERN_${o.username === undefined ? 'USERNAME' : 'PASSWORD'}) is missing: give both or neither`, EXIT.usage);
  }
  const api = createApiClient({ url: o.url, apiKey, username: o.username, password: o.password, timeoutMs: o.timeout });
  return { api, out: createOutput(o.json === true) };
}

/** An action with the context of the command it runs in (commander passes the Command last). */
export function action<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    await fn(contextOf(cmd), ...(args.slice(0, -1) as A));
  };
}

/** For argParser: commander turns the InvalidArgumentError into its usage error. */
export function intIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer from ${min}` : `expected an integer from ${min} to ${max}`);
    }
    return Number(raw);
  };
}

/** A secret given as an argument, else read from standard input (so it stays out of `ps`). */
export async function secretArg(given: string | undefined, what: string): Promise<string> {
  if (given !== undefined) return given;
  if (process.stdin.isTTY) throw new CliError(`${what}: give it as an argument or on standard input (echo ... | tern ctl ...)`, EXIT.usage);
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new CliError(`${what}: standard input was empty`, EXIT.usage);
  return value;
}
