// The whole product in one process: store, broker, listeners and the management HTTP server.
// main.ts calls startTern() with the loaded config; tests call it with every port set to 0.
import http from 'node:http';
import net from 'node:net';
import type { Config } from './config/types.ts';
import { createLogger, type Logger } from './logger.ts';
import { openStore, type Store } from './store/open.ts';
import { createAuthService } from './broker/access/auth.ts';
import { createBroker } from './broker/core/broker.ts';
import { createHookChain, type HookChain } from './broker/core/hook-chain.ts';
import { createConfigSource, type ConfigSource } from './config/source.ts';
import { registerProtocolPolicy } from './broker/protocol/protocol-policy.ts';
import { registerAuthentication } from './broker/access/authentication-step.ts';
import { registerSysTopicsPolicy } from './broker/sys/sys-topics.ts';
import { registerMetricsPolicy } from './broker/sys/metrics-policy.ts';
import { startListeners, ListenerError, type Listeners } from './broker/transport/listeners.ts';
import type { AedesBroker } from './broker/core/aedes-types.ts';
import { hasLiveSubscriber } from './broker/core/internals/aedes.ts';
import type { AuthService, BrokerControl } from './broker/types.ts';
import { createEventBus, type EventBus } from './broker/events.ts';
import { createMetrics, type Metrics } from './broker/sys/metrics.ts';
import { createSessions, type Sessions } from './broker/session/sessions.ts';
import { createBrokerControl } from './broker/control.ts';
import { createPersistence, type TernPersistence } from './broker/persistence/index.ts';
import { createApiApp, ensureDefaultAdmin, type ApiApp, type ApiOptions } from './api/app.ts';
import { VERSION } from './version.ts';

export interface Tern {
  /** the config in force now (configSource.get()) */
  readonly config: Config;
  configSource: ConfigSource;
  chain: HookChain;
  logger: Logger;
  store: Store;
  aedes: AedesBroker;
  auth: AuthService;
  events: EventBus;
  metrics: Metrics;
  sessions: Sessions;
  persistence: TernPersistence;
  control: BrokerControl;
  listeners: Listeners;
  api: ApiApp;
  http: http.Server;
  ports: { http: number; tcp: Record<string, number>; ws: Record<string, number>; ssl: Record<string, number>; wss: Record<string, number> };
  startedAt: number;
  close(): Promise<void>;
}

export async function startTern(opts: { config: Config; logger?: Logger; api?: ApiOptions }): Promise<Tern> {
  const config = opts.config;
  const logger = opts.logger ?? createLogger(config.log.level);
  const configSource = createConfigSource(config, (err) => logger.error({ err }, 'config change listener failed'));
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

    const auth = await createAuthService({ db: store.db, config: configSource, logger });
    await auth.seedFromConfig();

    const events = createEventBus((name, err) => logger.error({ err, event: name }, 'event listener failed'));
    const metrics = createMetrics();

    const durable = config.persistence === 'sqlite';
    const sessions = createSessions({ config: configSource, events, logger, metrics, sqlite: durable ? store.sqlite : undefined });
    cleanups.push(async () => sessions.close());
    const persistence = createPersistence({
      mode: config.persistence,
      db: durable ? store.sqlite : undefined,
      policy: sessions.queuePolicy,
      logger: logger.child({ module: 'persistence' }),
    });
    // after aedes has closed (cleanups run in reverse): commit the last batch
    cleanups.push(() => persistence.destroy());

    // The hook chain: each policy adds its steps; POLICY_ORDER (hook-chain.ts) decides the order.
    const chain = createHookChain(logger.child({ module: 'hook-chain' }));
    registerProtocolPolicy(chain, { config: configSource });
    registerAuthentication(chain, { auth, events, metrics });
    registerSysTopicsPolicy(chain);
    sessions.registerSteps(chain);
    registerMetricsPolicy(chain, metrics);

    const aedes = await createBroker({
      config: configSource,
      chain,
      logger,
      persistence,
      events,
      metrics,
      routeBeforePuback: durable ? (topic) => persistence.hasDurableSubscriber(topic) : () => false,
    });
    sessions.attach(aedes, persistence);
    cleanups.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())));

    const listeners = await startListeners({ config: configSource, aedes, logger });
    cleanups.push(() => listeners.close());

    const control = createBrokerControl({
      config: configSource,
      aedes,
      listeners,
      sessions,
      persistence,
      metrics,
      version: VERSION,
      startedAt,
      hasLiveSubscriber: (topic) => hasLiveSubscriber(aedes, topic),
    });

    const apiDeps = { config: configSource, db: store.db, auth, sessions, broker: control, logger, version: VERSION, startedAt };
    await ensureDefaultAdmin(apiDeps);
    const app = createApiApp(apiDeps, opts.api);
    cleanups.push(async () => app.close());
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
      get config() {
        return configSource.get();
      },
      configSource,
      chain,
      logger,
      store,
      aedes,
      auth,
      events,
      metrics,
      sessions,
      persistence,
      control,
      listeners,
      api: app,
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

