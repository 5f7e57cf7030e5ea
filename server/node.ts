// A Tern node as a process runs it: load emqx.conf (+ EMQX_* overrides), start Tern, print the
// start banner, stop cleanly on SIGTERM/SIGINT, reload the configuration on SIGHUP. main.ts runs
// it; a bench entry runs the very same with something added (test/bench/tern-bus-counter.ts).
import { loadConfig, configFileFromArgs, ConfigError } from './config/index.ts';
import { createLogOutput } from './logger.ts';
import { formatBanner, startInfo } from './banner.ts';
import { VERSION } from './version.ts';
import { startTern } from './tern.ts';
import { StoreError } from './store/open.ts';
import { ListenerError } from './broker/transport/listeners.ts';
import type { Tern } from './tern.ts';

export interface NodeOptions {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** called once Tern is up, before the banner (a bench entry adds its listeners here) */
  onStarted?: (tern: Tern) => void;
}

async function main({ argv, env, onStarted }: NodeOptions): Promise<number> {
  let loaded;
  try {
    const file = configFileFromArgs(argv, process.cwd());
    loaded = loadConfig({ file, env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tern: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let output;
  try {
    output = createLogOutput(loaded.config.log);
  } catch (err) {
    process.stderr.write(`tern: cannot open log.file ${loaded.config.log.file}: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = output.logger;
  // Buffered file lines are written out before the process leaves.
  const exit = (code: number) => {
    output.close().finally(() => process.exit(code));
  };
  for (const w of loaded.warnings) logger.warn(w);
  logger.info({ file: loaded.file ?? '(built-in defaults)' }, 'configuration loaded');

  let tern;
  try {
    tern = await startTern({ config: loaded.config, file: loaded.file, env, pathOrigins: loaded.pathOrigins, logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      // a file the config names (acl_file) that does not parse
      logger.fatal(err.message);
      process.stderr.write(`tern: configuration error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StoreError || err instanceof ListenerError) {
      logger.fatal(err.message);
      process.stderr.write(`tern: ${err.message}\n`);
      await output.close();
      return 1;
    }
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A stuck close must not keep the process alive forever.
    const force = setTimeout(() => {
      logger.error('shutdown took too long, exiting');
      exit(1);
    }, 10_000);
    force.unref();
    tern.close().then(
      () => {
        logger.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // the reload logs its outcome, refused or applied; a refused one leaves the config in force
  process.on('SIGHUP', () => void tern.reload({ trigger: 'SIGHUP' }).catch(() => {}));

  onStarted?.(tern);

  // Last: whoever waits for the banner (a person, a script, a test) may stop the node at once.
  const info = startInfo(tern, VERSION, output.file);
  if (output.console === 'text' || (output.console === 'none' && process.stdout.isTTY)) {
    process.stdout.write(formatBanner(info, process.stdout.isTTY === true && !process.env.NO_COLOR));
  } else {
    logger.info(info, 'Tern is ready');
  }
  return -1;
}

/** Runs the node; the process exits when start-up fails, and stays up otherwise. */
export function runNode(options: NodeOptions): void {
  main(options).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`tern: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
