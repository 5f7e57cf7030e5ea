// The management HTTP app: /api/v5 (the contract is api-spec/openapi.yaml) and /api-docs.
// Other apps (the dashboard) may be mounted after it with app.use(): anything this app does not
// answer falls through, and a request nobody answers gets the JSON 404.
import Koa from 'koa';
import type Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { ApiDeps, ApiOptions } from './deps.ts';
import { loadSpec, type ApiSpec } from './spec.ts';
import { createApiRouter, type RouteServices } from './router.ts';
import { errorHandler } from './middleware/errors.ts';
import { createFailureLimiter } from './middleware/rate-limit.ts';
import { createAdminService, type AdminService } from './services/admin.ts';
import { createMonitor } from './services/monitor.ts';
import { createAuditLog, type AuditLog } from './services/audit.ts';
import { auditTrail } from './middleware/audit.ts';
import { createMonitorHistory, type MonitorHistory } from './services/monitor-history.ts';
import { apiDocs } from './docs.ts';
import { dashboardStatic, stripBasePath } from './dashboard-static.ts';
import * as statusRoutes from './routes/status.ts';
import * as adminRoutes from './routes/admin.ts';
import * as clientRoutes from './routes/clients.ts';
import * as subscriptionRoutes from './routes/subscriptions.ts';
import * as publishRoutes from './routes/publish.ts';
import * as statsRoutes from './routes/stats.ts';
import * as authenticationRoutes from './routes/authentication.ts';
import * as listenerRoutes from './routes/listeners.ts';
import * as configRoutes from './routes/configs.ts';
import * as authorizationRoutes from './routes/authorization.ts';
import * as bannedRoutes from './routes/banned.ts';
import * as auditRoutes from './routes/audit.ts';
import * as hookRoutes from './routes/hooks.ts';
import * as brokerSubscriptionRoutes from './routes/broker-subscriptions.ts';
import * as sharedSubscriptionRoutes from './routes/shared-subscriptions.ts';
import * as monitorRoutes from './routes/monitor.ts';
import * as retainerRoutes from './routes/retainer.ts';

export type { ApiDeps, ApiOptions } from './deps.ts';

/** One module per resource; later issues (hooks, auto-subscribe, reload, banned) add theirs here. */
const ROUTE_MODULES: { register(r: import('./router.ts').ApiRoutes, s: RouteServices): void }[] = [
  statusRoutes,
  adminRoutes,
  clientRoutes,
  subscriptionRoutes,
  publishRoutes,
  statsRoutes,
  authenticationRoutes,
  listenerRoutes,
  configRoutes,
  authorizationRoutes,
  bannedRoutes,
  auditRoutes,
  hookRoutes,
  brokerSubscriptionRoutes,
  sharedSubscriptionRoutes,
  monitorRoutes,
  retainerRoutes,
];

export interface ApiApp extends Koa {
  /** the /api/v5 router, for the spec-coverage test */
  readonly apiRouter: Router;
  readonly spec: ApiSpec;
  readonly admin: AdminService;
  readonly audit: AuditLog;
  /** the /monitor history (tests take a sample at a moment of their choosing) */
  readonly monitorHistory: MonitorHistory;
  /** stops the /monitor_current and /monitor samplers and ends /monitor/stream responses */
  close(): void;
}

const MiB = 1024 * 1024;

export function createApiApp(deps: ApiDeps, opts: ApiOptions = {}): ApiApp {
  const spec = loadSpec(opts.specFile);
  const logger = deps.logger.child({ module: 'api' });
  // read per request: a reload of mqtt.max_packet_size moves the limit of a base64 publish with it
  const bodyLimit = () => opts.bodyLimitBytes ?? Math.max(MiB, 2 * deps.config.get().mqtt.max_packet_size);

  const now = opts.now ?? Date.now;
  const admin = createAdminService({ db: deps.db, config: deps.config, logger, tokenTtlMs: opts.tokenTtlMs ?? 3600_000, now });
  const monitor = createMonitor(deps.broker, { sampleMs: opts.monitorSampleMs ?? 1000, signal: opts.signal });
  const loginFailures = opts.loginFailures ?? { max: 5, windowMs: 60_000 };
  const audit = createAuditLog({ db: deps.db, config: deps.config, logger });
  const monitorHistory = createMonitorHistory({ db: deps.db, broker: deps.broker, monitor, logger, sampleMs: opts.monitorHistoryMs ?? 10_000 });
  const streams = new Set<() => void>();
  const services: RouteServices = {
    deps,
    admin,
    monitor,
    audit,
    loginLimiter: createFailureLimiter({ ...loginFailures, now }),
    monitorHistory,
    streamMs: opts.monitorStreamMs ?? 1000,
    streams,
  };

  let parser: { limit: number; parse: Koa.Middleware } | undefined;
  const parseBody: Koa.Middleware = (ctx, next) => {
    const limit = bodyLimit();
    if (parser?.limit !== limit) {
      parser = { limit, parse: bodyParser({ enableTypes: ['json'], jsonLimit: limit, encoding: 'utf-8' }) as unknown as Koa.Middleware };
    }
    return parser.parse(ctx, next);
  };
  const { router, routes } = createApiRouter(spec, admin, parseBody);
  for (const m of ROUTE_MODULES) m.register(routes, services);

  const app = new Koa() as ApiApp;
  // Koa would print errors to stderr; ours are already answered and logged by errorHandler.
  app.silent = true;
  app.use(requestLog(logger));
  app.use(errorHandler(logger, { get bodyLimitBytes() { return bodyLimit(); } }));
  app.use(stripBasePath(() => deps.config.get().dashboard.base_path));
  app.use(normalizeEmqxPaths(spec.basePath));
  app.use(apiDocs(spec));
  app.use(auditTrail(spec, audit, logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use(dashboardStatic({ dir: opts.dashboardDir, basePath: () => deps.config.get().dashboard.base_path, apiBase: spec.basePath }));
  const close = () => {
    monitor.close();
    monitorHistory.close();
    for (const end of [...streams]) end();
  };
  Object.assign(app, { apiRouter: router, spec, admin, audit, monitorHistory, close });
  return app;
}

/**
 * Creates dashboard.default_user (default admin/public) when no administrator exists, and warns
 * while an administrator still has the default password. startTern calls it once at start-up,
 * before the HTTP listener opens. Answers the administrators still on the default password (for the
 * start banner).
 */
export async function ensureDefaultAdmin(deps: Pick<ApiDeps, 'db' | 'config' | 'logger'>): Promise<string[]> {
  const admin = createAdminService({ db: deps.db, config: deps.config, logger: deps.logger.child({ module: 'api' }), tokenTtlMs: 0 });
  return admin.ensureDefault();
}

function requestLog(logger: ApiDeps['logger']): Koa.Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      // Debug level: the API is also polled by the dashboard. Never logs bodies (passwords).
      logger.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - start) }, 'api request');
    }
  };
}

/** EMQX clients often send the authenticator id URL-encoded (password_based%3Abuilt_in_database). */
function normalizeEmqxPaths(basePath: string): Koa.Middleware {
  const prefix = `${basePath}/authentication/`;
  return async (ctx, next) => {
    if (ctx.path.startsWith(prefix) && /%3a/i.test(ctx.path)) {
      const rest = ctx.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      const first = slash < 0 ? rest : rest.slice(0, slash);
      ctx.path = prefix + first.replace(/%3a/gi, ':') + (slash < 0 ? '' : rest.slice(slash));
    }
    return next();
  };
}
