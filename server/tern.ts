// The whole product in one process: store, broker, listeners and the management HTTP server.
// main.ts calls startTern() with the loaded config, its file and the environment (so a reload
// can read them again); tests call it with every port set to 0.
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
import { createAcl, type Acl } from './broker/access/acl.ts';
import { registerAcl } from './broker/access/acl-step.ts';
import { aclReloadCheck } from './broker/access/acl-reload-check.ts';
import { createBanned, type Banned } from './broker/access/banned.ts';
import { createFlapping, type Flapping } from './broker/access/flapping.ts';
import { registerSysTopicsPolicy } from './broker/sys/sys-topics.ts';
import { registerMetricsPolicy } from './broker/sys/metrics-policy.ts';
import { registerSharedSubscriptions, type SharedSubscriptions } from './broker/routing/shared-subscriptions.ts';
import { createBrokerSubscriptions, type BrokerSubscriptions } from './broker/routing/broker-subscriptions.ts';
import { startListeners, ListenerError, type Listeners } from './broker/transport/listeners.ts';
import type { AedesBroker } from './broker/core/aedes-types.ts';
import { hasLiveSubscriber } from './broker/core/internals/aedes.ts';
import type { AuthService, BrokerControl } from './broker/types.ts';
import { createEventBus, type EventBus } from './broker/events.ts';
import { createMetrics, type Metrics } from './broker/sys/metrics.ts';
import { createSessions, type Sessions } from './broker/session/sessions.ts';
import { createBrokerControl } from './broker/control.ts';
import { startSysPublisher, type SysPublisher } from './broker/sys/sys-publisher.ts';
import { createPersistence, type TernPersistence } from './broker/persistence/index.ts';
import { createApiApp, ensureDefaultAdmin, type ApiApp, type ApiOptions } from './api/app.ts';
import { createGroupCommit, type BatchWriter } from './store/group-commit.ts';
import { createWebhooks, type Webhooks } from './hooks/index.ts';
import { VERSION } from './version.ts';
import { loadConfig } from './config/index.ts';
import { originsAfterReload } from './config/value-sources.ts';
import { confKeyOf } from './config/reload.ts';
import { createReloader, type ReloadCheck, type ReloadOptions, type ReloadReport } from './reload.ts';

export interface Tern {
  /** the config in force now (configSource.get()) */
  readonly config: Config;
  configSource: ConfigSource;
  chain: HookChain;
  logger: Logger;
  store: Store;
  aedes: AedesBroker;
  auth: AuthService;
  acl: Acl;
  banned: Banned;
  flapping: Flapping;
  events: EventBus;
  metrics: Metrics;
  sessions: Sessions;
  persistence: TernPersistence;
  webhooks: Webhooks;
  shared: SharedSubscriptions;
  brokerSubscriptions: BrokerSubscriptions;
  sys: SysPublisher;
  control: BrokerControl;
  listeners: Listeners;
  api: ApiApp;
  http: http.Server;
  ports: { http: number; tcp: Record<string, number>; ws: Record<string, number>; ssl: Record<string, number>; wss: Record<string, number> };
  startedAt: number;
  /** re-reads emqx.conf (+ env) and applies what changed; throws ConfigError, changing nothing */
  reload(opts?: ReloadOptions): Promise<ReloadReport>;
  /** administrators whose password was still the built-in default at start-up (the banner warns) */
  defaultPasswordAdmins: string[];
  close(): Promise<void>;
}

/** Clocks and schedules of the access policies, for tests. */
export interface AccessOptions {
  /** ms since the epoch, used for bans, flapping windows and ACL cache ages; default Date.now */
  now?: () => number;
  /** how often expired bans are deleted, default 10 s */
  banSweepIntervalMs?: number;
}

export interface StartOptions {
  /** the configuration to start with (loadConfig({file, env}).config) */
  config: Config;
  /**
   * Where a reload reads the configuration again: the emqx.conf `config` came from and the
   * environment of its EMQX_* overrides. Without either (a Config built in code, as most tests
   * do), there is nothing to re-read: a reload reports no change.
   */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** where each value of `config` came from (loadConfig().pathOrigins); none: every value is a default */
  pathOrigins?: Record<string, string>;
  logger?: Logger;
  api?: ApiOptions;
  access?: AccessOptions;
  reload?: {
    /** validations of the files the config names (ACL file, ...), run before a reload changes anything */
    checks?: ReloadCheck[];
    /** after each applied reload, e.g. for the audit log */
    onReload?: (report: ReloadReport) => void;
    /** after each refused one (a bad file), with the message */
    onRefused?: (refusal: { trigger: string; by?: string; file: string | null; message: string }) => void;
    watchDebounceMs?: number;
  };
}

export async function startTern(opts: StartOptions): Promise<Tern> {
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

    const now = opts.access?.now;
    const acl = await createAcl({ db: store.db, config: configSource, events, metrics, logger, now });
    cleanups.push(async () => acl.close());

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
    // The webhook outbox shares the persistence's group commit; with persistence = memory there is
    // none, and the outbox (still in SQLite: events are as durable as in sqlite mode) gets its own.
    let outboxWriter: BatchWriter = persistence;
    if (!durable) {
      const own = createGroupCommit(store.sqlite, logger.child({ module: 'webhooks' }));
      cleanups.push(() => own.close());
      outboxWriter = own;
    }

    const banned = await createBanned({ db: store.db, sessions, metrics, logger, now, sweepIntervalMs: opts.access?.banSweepIntervalMs });
    cleanups.push(async () => banned.close());
    const flapping = createFlapping({ config: configSource, events, banned, logger, now });
    cleanups.push(async () => flapping.close());

    // The hook chain: each policy adds its steps; POLICY_ORDER (hook-chain.ts) decides the order.
    const chain = createHookChain(logger.child({ module: 'hook-chain' }));
    registerProtocolPolicy(chain, { config: configSource });
    banned.registerSteps(chain); // a banned CONNECT is refused first...
    flapping.registerSteps(chain); // ...so only admitted ones are watched for flapping
    registerAuthentication(chain, { auth, events, metrics });
    registerSysTopicsPolicy(chain, { config: configSource, metrics, logger });
    registerAcl(chain, { acl, config: configSource });
    const shared = registerSharedSubscriptions(chain, { config: configSource, events, metrics, logger });
    sessions.registerSteps(chain);
    registerMetricsPolicy(chain, metrics);
    // the webhooks' published step is added by createWebhooks, below (it needs the persistence set up)
    let webhooks: Webhooks | undefined;

    const aedes = await createBroker({
      config: configSource,
      chain,
      logger,
      persistence,
      events,
      metrics,
      routeBeforePuback: (topic) =>
        (durable && (persistence.hasDurableSubscriber(topic) || shared.hasDurableMember(topic))) || (webhooks?.routeBeforePuback(topic) ?? false),
    });
    sessions.attach(aedes, persistence);
    shared.attach(aedes, persistence);
    sessions.onEnding(shared.sessionEnding);
    const brokerSubscriptions = await createBrokerSubscriptions({ db: store.db, config: configSource, sessions, events, logger });
    sessions.setSubscriptionSource(brokerSubscriptions.isBrokerMade);
    brokerSubscriptions.attach(aedes);
    cleanups.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())));

    webhooks = await createWebhooks({
      db: store.db,
      sqlite: store.sqlite,
      writer: outboxWriter,
      events,
      chain,
      config: configSource,
      logger: logger.child({ module: 'webhooks' }),
      version: VERSION,
    });
    const hooks = webhooks;
    // before aedes closes: the workers stop; what is pending stays in the outbox for the next start
    cleanups.push(async () => hooks.close());
    await hooks.seedFromConfig();

    const listeners = await startListeners({ config: configSource, aedes, logger });
    cleanups.push(() => listeners.close());

    // log.level applies in place: child loggers made without options of their own inherit it
    configSource.onChange(({ keys, current }) => {
      if (keys.includes('log.level')) logger.level = current.log.level;
    });
    const ports: Tern['ports'] = { http: 0, tcp: {}, ws: {}, ssl: {}, wss: {} };
    const refreshPorts = () => {
      for (const proto of ['tcp', 'ws', 'ssl', 'wss'] as const) {
        for (const name of Object.keys(ports[proto])) delete ports[proto][name];
      }
      for (const r of listeners.running) ports[r.config.proto][r.config.name] = r.port;
    };
    refreshPorts();
    const reloadable = opts.file !== undefined || opts.env !== undefined;
    // the sources of the values in force (GET /configs): replaced by an applied reload's
    let pathOrigins: Record<string, string> = opts.pathOrigins ?? {};
    let lastRead: Record<string, string> = pathOrigins;
    const reloader = createReloader({
      config: configSource,
      file: opts.file,
      read: reloadable
        ? () => {
            const loaded = loadConfig({ file: opts.file, env: opts.env });
            lastRead = loaded.pathOrigins ?? {};
            return loaded;
          }
        : () => ({ config: structuredClone(configSource.get()), file: undefined, origins: {}, warnings: ['started from a configuration built in code, not a file: nothing to re-read'] }),
      listeners,
      auth,
      logger,
      checks: [aclReloadCheck(acl, () => configSource.get().acl_file), ...(opts.reload?.checks ?? [])],
      watchDebounceMs: opts.reload?.watchDebounceMs,
      onReload: (report) => {
        // reloads run one at a time, so lastRead is this one's; restart keys keep their old value and source
        const restart = new Set(report.restart_required);
        pathOrigins = originsAfterReload(pathOrigins, lastRead, (path) => restart.has(confKeyOf(path)));
        refreshPorts();
        opts.reload?.onReload?.(report);
      },
      onRefused: opts.reload?.onRefused,
    });
    cleanups.push(async () => reloader.close());

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
      events,
    });
    cleanups.push(async () => control.close());
    chain.add('published', 'metrics', (packet) => {
      if (packet.retain) control.noteRetained();
    });
    const sys = startSysPublisher({
      config: configSource,
      aedes,
      events,
      control,
      version: VERSION,
      startedAt,
      listenerPort: (id) => listeners.port(id),
      logger,
    });
    cleanups.push(async () => sys.close());

    const apiDeps = {
      config: configSource,
      db: store.db,
      auth,
      acl,
      banned,
      sessions,
      broker: control,
      hooks,
      routing: { brokerSubscriptions, shared },
      logger,
      version: VERSION,
      startedAt,
      reload: reloader.reload,
      configOrigins: () => pathOrigins,
    };
    const defaultPasswordAdmins = await ensureDefaultAdmin(apiDeps);
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

    ports.http = httpPort;

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
      acl,
      banned,
      flapping,
      events,
      metrics,
      sessions,
      persistence,
      webhooks: hooks,
      shared,
      brokerSubscriptions,
      sys,
      control,
      listeners,
      api: app,
      http: server,
      ports,
      startedAt,
      reload: reloader.reload,
      defaultPasswordAdmins,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

