// Records every successful change made through the API in the audit log. One middleware around
// the router, so a route added later is covered without doing anything: whatever answers a
// POST, PUT, PATCH or DELETE with a 2xx under an authenticated operation is a change, unless the
// spec marks the operation `x-audit: false` (a query sent as POST, e.g. /authorization/check).
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { ApiSpec } from '../spec.ts';
import { fromKoaPath } from '../spec.ts';
import type { Principal } from '../services/admin.ts';
import type { AuditLog } from '../services/audit.ts';
import type { ValidatedInput } from '../spec.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function auditTrail(spec: ApiSpec, audit: AuditLog, logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (!MUTATING.has(ctx.method) || ctx.status < 200 || ctx.status >= 300) return;
    const state = ctx.state as { principal?: Principal; input?: ValidatedInput };
    const principal = state.principal;
    const matched = (ctx as { _matchedRoute?: string })._matchedRoute;
    if (!principal || !matched) return; // public operations (login) have no one to record
    const op = spec.find(ctx.method, fromKoaPath(matched).slice(spec.basePath.length));
    if (!op || op.raw['x-audit'] === false) return;
    try {
      await audit.record({
        who_type: principal.kind === 'token' ? 'admin' : 'api_key',
        who: principal.kind === 'token' ? principal.username : principal.name,
        operation: op.operationId,
        http_method: ctx.method,
        // with the query: a dry run (POST /configs/reload?dry_run=true) must read as one
        target: ctx.path.slice(spec.basePath.length) + (ctx.querystring ? `?${ctx.querystring}` : ''),
        body: state.input?.body,
        status: ctx.status,
        source_ip: ctx.ip || null,
      });
    } catch (err) {
      // the change is made and answered; a lost audit row is logged, not turned into an error
      logger.error({ err, method: ctx.method, path: ctx.path }, 'audit log write failed');
    }
  };
}

/** the name of whoever made a request, for fields like a ban's `by` */
export function principalName(p: Principal | undefined): string {
  if (!p) return 'unknown';
  return p.kind === 'token' ? p.username : `api_key:${p.name}`;
}
