// Per-operation authentication, driven by the operation's `security` in the spec: public routes
// pass, bearer-only routes (administrators, API keys) refuse API keys, the rest take either.
import type Koa from 'koa';
import { TernError } from '../../errors.ts';
import type { Operation } from '../spec.ts';
import type { AdminService, Principal } from '../services/admin.ts';

const unauthorized = (code: string, message: string) => new TernError(code, message, 401);

export function authenticate(op: Operation, admin: AdminService): Koa.Middleware {
  return async (ctx, next) => {
    if (op.security.public) return next();
    const header = ctx.get('Authorization');
    const space = header.indexOf(' ');
    const scheme = space > 0 ? header.slice(0, space).toLowerCase() : '';
    const value = space > 0 ? header.slice(space + 1).trim() : '';
    let principal: Principal;

    if (scheme === 'bearer' && value) {
      const claims = await admin.verifyToken(value);
      if (!claims) throw unauthorized('BAD_TOKEN', 'the token is invalid, expired or revoked: get a new one with POST /api/v5/login');
      principal = { kind: 'token', username: claims.sub, claims };
    } else if (scheme === 'basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = colon > 0 ? await admin.verifyKey(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
      if (!name) throw unauthorized('BAD_API_KEY_OR_SECRET', 'the API key or secret is wrong, or the key is disabled or expired');
      if (!op.security.basic) {
        throw new TernError('FORBIDDEN', 'API keys cannot manage administrators or API keys: log in and use a Bearer token', 403);
      }
      principal = { kind: 'api_key', name };
    } else {
      throw unauthorized(
        'BAD_TOKEN',
        'authentication required: send "Authorization: Bearer <token>" (POST /api/v5/login) or "Authorization: Basic <api_key:api_secret>"',
      );
    }
    if (principal.kind === 'token' && !op.security.bearer) {
      throw new TernError('FORBIDDEN', 'this route needs an API key', 403);
    }
    ctx.state.principal = principal;
    return next();
  };
}
