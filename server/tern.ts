// The whole product in one process: store, broker, listeners and the management HTTP server.
// main.ts calls startTern() with the loaded config; tests call it with every port set to 0.
import http from 'node:http';
import net from 'node:net';
import Koa from 'koa';
import type { Config } from './config/types.ts';
import { createLogger, type Logger } from './logger.ts';
import { openStore, type Store } from './store/open.ts';
import { createAuthService } from './broker/auth.ts';
import { createBroker } from './broker/broker.ts';
import { startListeners, ListenerError, type Listeners } from './broker/listeners.ts';
import type { AedesBroker } from './broker/aedes-types.ts';
import type { AuthService } from './broker/types.ts';
import { VERSION } from './version.ts';

export interface Tern {
  config: Config;
  logger: Logger;
  store: Store;
  aedes: AedesBroker;
  auth: AuthService;
  listeners: Listeners;
  http: http.Server;
  ports: { http: number; tcp: Record<string, number>; ws: Record<string, number>; ssl: Record<string, number>; wss: Record<string, number> };
  startedAt: number;
  close(): Promise<void>;
}

export async function startTern(opts: { config: Config; logger?: Logger }): Promise<Tern> {
  const config = opts.config;
  const logger = opts.logger ?? createLogger(config.log.level);
  const startedAt = Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
      }
    }
    cleanups.length = 0;
  };

  try {
    const store = await openStore({ dataDir: config.node.data_dir, logger });
    cleanups.push(() => store.close());

    const auth = await createAuthService({ db: store.db, config: () => config, logger });
    await auth.seedFromConfig();

    const aedes = await createBroker({ config: () => config, auth, logger });
    cleanups.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())));

    const listeners = await startListeners({ config, aedes, logger });
    cleanups.push(() => listeners.close());

    const app = new Koa();
    app.use(async (ctx, next) => {
      if (ctx.path === '/api/v5/status') {
        ctx.body = { node: config.node.name, version: VERSION, uptime: Date.now() - startedAt, status: 'running' };
        return;
      }
      await next();
    });
    const server = http.createServer(app.callback());
    const { host, port } = config.dashboard.listener;
    const httpPort = await new Promise<number>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new ListenerError(
            `dashboard listener http cannot bind ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is already in use' : err.message}`,
          ),
        ),
      );
      server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    logger.info({ listener: 'dashboard:http', bind: `${host}:${httpPort}` }, 'listening');

    const ports: Tern['ports'] = { http: httpPort, tcp: {}, ws: {}, ssl: {}, wss: {} };
    for (const r of listeners.running) ports[r.config.proto][r.config.name] = r.port;

    logger.info({ node: config.node.name, version: VERSION }, 'Tern started');
    return {
      config,
      logger,
      store,
      aedes,
      auth,
      listeners,
      http: server,
      ports,
      startedAt,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
