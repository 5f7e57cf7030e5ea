// Process entry: load emqx.conf (+ EMQX_* overrides), start Tern, stop cleanly on SIGTERM/SIGINT.
import { loadConfig, configFileFromArgs, ConfigError } from './config/index.ts';
import { createLogger } from './logger.ts';
import { startTern } from './tern.ts';
import { StoreError } from './store/open.ts';
import { ListenerError } from './broker/transport/listeners.ts';

async function main(): Promise<number> {
  let loaded;
  try {
    const file = configFileFromArgs(process.argv.slice(2), process.cwd());
    loaded = loadConfig({ file, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tern: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(loaded.config.log.level);
  for (const w of loaded.warnings) logger.warn(w);
  logger.info({ file: loaded.file ?? '(built-in defaults)' }, 'configuration loaded');

  let tern;
  try {
    tern = await startTern({ config: loaded.config, logger });
  } catch (err) {
    if (err instanceof StoreError || err instanceof ListenerError) {
      logger.fatal(err.message);
      process.stderr.write(`tern: ${err.message}\n`);
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
      process.exit(1);
    }, 10_000);
    force.unref();
    tern.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`tern: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
