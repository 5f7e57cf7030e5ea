// The emqx.conf loader: file (EMQX 4.x syntax) + EMQX_* env overrides -> validated Config.
// Syntax lives in parse.ts, keys and value rules in schema.ts/values.ts, defaults in defaults.ts.
import fs from 'node:fs';
import path from 'node:path';
import { envEntries } from './env.ts';
import { ConfigError } from './errors.ts';
import { parseConfigText } from './parse.ts';
import { ConfigBuilder } from './schema.ts';
import type { LoadedConfig } from './types.ts';

export { ConfigError } from './errors.ts';
export { defaultConfig } from './defaults.ts';
export type * from './types.ts';

export interface LoadConfigOptions {
  /** emqx.conf to read; without it the defaults (plus env) are used */
  file?: string;
  /**
   * EMQX_* overrides, applied after the file so they win. Not defaulted to process.env, so
   * tests stay hermetic: main.ts passes process.env explicitly.
   */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads the file (if any), applies env overrides, validates. Unknown keys and other non-fatal
 * findings become warnings; anything else throws ConfigError naming file:line (or the variable).
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const builder = new ConfigBuilder();
  const fromFile = new Map<string, string>();
  const overriddenByEnv: string[] = [];
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${opts.file}: ${(err as Error).message}`);
    }
    for (const entry of parseConfigText(text, opts.file)) {
      builder.apply(entry);
      fromFile.set(entry.key, entry.where);
    }
  }
  const env = envEntries(opts.env ?? {});
  env.warnings.forEach((w) => builder.warn(w));
  for (const entry of env.entries) {
    const line = fromFile.get(entry.key);
    if (line) overriddenByEnv.push(`${line}: ${entry.key} is overridden by ${entry.where.replace(/^env /, '')} (the environment wins over the file)`);
    builder.apply(entry);
  }
  const { config, warnings, origins, pathOrigins } = builder.finish();
  return { config, file: opts.file, warnings, origins, pathOrigins, overriddenByEnv };
}

/**
 * The config file to use: `--config <path>` / `--config=<path>` (relative to cwd), else
 * ./emqx.conf if it exists, else undefined (run on defaults). A named file that is missing is an
 * error rather than a silent fallback to defaults.
 */
export function configFileFromArgs(argv: string[], cwd: string): string | undefined {
  let given: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config') {
      given = argv[i + 1];
      if (given === undefined || given === '' || given.startsWith('--')) {
        throw new ConfigError('--config needs a path, e.g. --config /etc/tern/emqx.conf');
      }
      i++;
    } else if (arg.startsWith('--config=')) {
      given = arg.slice('--config='.length);
      if (given === '') throw new ConfigError('--config needs a path, e.g. --config=/etc/tern/emqx.conf');
    }
  }
  if (given !== undefined) {
    const file = path.resolve(cwd, given);
    if (!isFile(file)) throw new ConfigError(`--config ${given}: ${file} does not exist or is not a file`);
    return file;
  }
  const fallback = path.join(cwd, 'emqx.conf');
  return isFile(fallback) ? fallback : undefined;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
