// The outermost middleware: every answer that is not a success becomes {code, message} with a real
// status. Services throw TernError; koa/bodyparser throw http-errors; anything else is a bug and
// answers 500 without details (they go to the log).
import type Koa from 'koa';
import type { Logger } from 'pino';
import { TernError } from '../../errors.ts';
import { TooManyRequests } from './rate-limit.ts';

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'ALREADY_EXISTS',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  501: 'NOT_IMPLEMENTED',
};

interface HttpishError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message?: string;
  limit?: number;
}

function send(ctx: Koa.Context, status: number, code: string, message: string) {
  ctx.status = status;
  ctx.body = { code, message };
}

export function errorHandler(logger: Logger, opts: { bodyLimitBytes: number }): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body == null) {
        if (ctx.status === 404) send(ctx, 404, 'NOT_FOUND', `no route ${ctx.method} ${ctx.path}`);
        else if (ctx.status === 405) send(ctx, 405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
        else if (ctx.status === 501) send(ctx, 501, 'NOT_IMPLEMENTED', `${ctx.method} is not implemented`);
      }
    } catch (raw) {
      if (raw instanceof TernError) {
        if (raw instanceof TooManyRequests) ctx.set('Retry-After', String(raw.retryAfterSec));
        if (raw.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="tern"');
        send(ctx, raw.status, raw.code, raw.message);
        if (raw.status >= 500) logger.error({ err: raw, method: ctx.method, path: ctx.path }, 'API request failed');
        return;
      }
      const err = (raw ?? {}) as HttpishError;
      const status = err.status ?? err.statusCode;
      if (status && status >= 400 && status < 500 && err.expose !== false) {
        // Errors raised while reading the body (raw-body / co-body) or by koa itself.
        if (status === 413 || err.type === 'entity.too.large') {
          send(ctx, 413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${err.limit ?? opts.bodyLimitBytes} bytes`);
        } else if (status === 400 && raw instanceof SyntaxError) {
          send(ctx, 400, 'BAD_REQUEST', `malformed JSON body: ${err.message}`);
        } else {
          send(ctx, status, CODES[status] ?? 'BAD_REQUEST', err.message ?? 'bad request');
        }
        return;
      }
      logger.error({ err: raw, method: ctx.method, path: ctx.path }, 'API request failed');
      send(ctx, 500, 'INTERNAL_ERROR', 'internal error; see the server log');
    }
  };
}
