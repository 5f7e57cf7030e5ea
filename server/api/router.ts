// Routes are registered by OpenAPI path and method; each gets authentication, body parsing and
// validation from its operation in the spec. A route the spec does not describe is a start-up
// error, so code and contract cannot drift apart silently.
import type Koa from 'koa';
import Router, { type RouterMiddleware } from '@koa/router';
import type { ApiDeps } from './deps.ts';
import type { ApiSpec, HttpMethod, ValidatedInput } from './spec.ts';
import { toKoaPath } from './spec.ts';
import type { AdminService, Principal } from './services/admin.ts';
import type { Monitor } from './services/monitor.ts';
import type { AuditLog } from './services/audit.ts';
import type { MonitorHistory } from './services/monitor-history.ts';
import type { FailureLimiter } from './middleware/rate-limit.ts';
import { authenticate } from './middleware/auth.ts';
import { validate } from './middleware/validate.ts';

export interface ApiState {
  input: ValidatedInput;
  principal?: Principal;
}

export type ApiContext = Koa.ParameterizedContext<ApiState>;
export type Handler = (ctx: ApiContext) => Promise<void> | void;

/** What route modules get: the app's dependencies and the API's own services. */
export interface RouteServices {
  deps: ApiDeps;
  admin: AdminService;
  monitor: Monitor;
  loginLimiter: FailureLimiter;
  audit: AuditLog;
  monitorHistory: MonitorHistory;
  /** period of GET /monitor/stream events, ms */
  streamMs: number;
  /** open /monitor/stream responses; each entry ends its stream (app.close() ends them all) */
  streams: Set<() => void>;
}

export interface ApiRoutes {
  get(path: string, handler: Handler): void;
  post(path: string, handler: Handler): void;
  put(path: string, handler: Handler): void;
  delete(path: string, handler: Handler): void;
}

export function createApiRouter(spec: ApiSpec, admin: AdminService, parseBody: Koa.Middleware): { router: Router; routes: ApiRoutes } {
  const router = new Router({ prefix: spec.basePath });
  const add = (method: HttpMethod) => (path: string, handler: Handler) => {
    const op = spec.find(method, path);
    if (!op) throw new Error(`route ${method.toUpperCase()} ${path} is not in ${spec.file}: describe it there first`);
    router.register(toKoaPath(path), [method.toUpperCase()], [authenticate(op, admin), validate(op, parseBody), handler as unknown as RouterMiddleware]);
  };
  return { router, routes: { get: add('get'), post: add('post'), put: add('put'), delete: add('delete') } };
}

// ---- helpers for route handlers --------------------------------------------------------------

export const input = {
  body: <T>(ctx: ApiContext) => ctx.state.input.body as T,
  query: <T>(ctx: ApiContext) => ctx.state.input.query as T,
  param: (ctx: ApiContext, name: string) => String(ctx.state.input.params[name]),
};

export interface PageMeta {
  page: number;
  limit: number;
  count: number;
  hasnext: boolean;
}

export const pageMeta = (page: number, limit: number, count: number): PageMeta => ({ page, limit, count, hasnext: page * limit < count });

/** one page of an in-memory list */
export function paginate<T>(rows: T[], page: number, limit: number): { data: T[]; meta: PageMeta } {
  return { data: rows.slice((page - 1) * limit, page * limit), meta: pageMeta(page, limit, rows.length) };
}

export function noContent(ctx: ApiContext) {
  ctx.status = 204;
  ctx.body = null;
}
