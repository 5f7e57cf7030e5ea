// Checks a request against its operation in the spec and hands the route coerced, defaulted
// input in ctx.state.input. The body is parsed here (after authentication), so an anonymous
// caller cannot make the server read and parse large bodies.
import type Koa from 'koa';
import type { RouterContext } from '@koa/router';
import { TernError } from '../../errors.ts';
import type { Operation, ValidatedInput } from '../spec.ts';

export function validate(op: Operation, parseBody: Koa.Middleware): Koa.Middleware {
  return async (ctx, next) => {
    if (op.hasBody) {
      const sent = ctx.get('Transfer-Encoding') !== '' || Number(ctx.get('Content-Length') || 0) > 0;
      if (sent && !ctx.is('application/json', '+json')) {
        throw new TernError('UNSUPPORTED_MEDIA_TYPE', `the body must be JSON (Content-Type: application/json), got ${ctx.get('Content-Type') || 'none'}`, 415);
      }
      await parseBody(ctx, async () => {});
    }
    const rctx = ctx as unknown as RouterContext;
    const input: ValidatedInput = op.validate({
      params: (rctx.params ?? {}) as Record<string, string>,
      query: ctx.query as Record<string, unknown>,
      body: op.hasBody ? (ctx.request as { body?: unknown }).body : undefined,
    });
    ctx.state.input = input;
    return next();
  };
}
