// Administrators, login/logout and API keys. These routes take a login token only (see the spec).
import { TernError } from '../../errors.ts';
import { BUILTIN_DEFAULT_PASSWORD } from '../services/admin.ts';
import { input, noContent, type ApiRoutes, type RouteServices } from '../router.ts';

export function register(r: ApiRoutes, { deps, admin, loginLimiter }: RouteServices) {
  r.post('/login', async (ctx) => {
    const { username, password } = input.body<{ username: string; password: string }>(ctx);
    loginLimiter.check(ctx.ip);
    const session = await admin.login(username, password);
    if (!session) {
      loginLimiter.fail(ctx.ip);
      deps.logger.warn({ username, address: ctx.ip }, 'failed dashboard login');
      throw new TernError('BAD_USERNAME_OR_PWD', 'wrong username or password', 401);
    }
    loginLimiter.reset(ctx.ip);
    ctx.body = {
      token: session.token,
      version: deps.version,
      expires_at: session.expires_at,
      role: 'administrator',
      default_password: password === BUILTIN_DEFAULT_PASSWORD,
    };
  });

  r.post('/logout', (ctx) => {
    const p = ctx.state.principal;
    if (p?.kind === 'token') admin.revoke(p.claims);
    noContent(ctx);
  });

  r.get('/users', async (ctx) => {
    ctx.body = await admin.listUsers();
  });

  r.post('/users', async (ctx) => {
    ctx.body = await admin.createUser(input.body(ctx));
  });

  r.put('/users/{username}', async (ctx) => {
    ctx.body = await admin.updateUser(input.param(ctx, 'username'), input.body(ctx));
  });

  r.delete('/users/{username}', async (ctx) => {
    await admin.deleteUser(input.param(ctx, 'username'));
    noContent(ctx);
  });

  r.post('/users/{username}/change_pwd', async (ctx) => {
    const { old_pwd, new_pwd } = input.body<{ old_pwd: string; new_pwd: string }>(ctx);
    // A stolen token must not turn into unlimited guesses at the password.
    loginLimiter.check(ctx.ip);
    if (!(await admin.changePassword(input.param(ctx, 'username'), old_pwd, new_pwd))) {
      loginLimiter.fail(ctx.ip);
      throw new TernError('BAD_REQUEST', 'body.old_pwd does not match the current password', 400);
    }
    noContent(ctx);
  });

  r.get('/api_key', async (ctx) => {
    ctx.body = await admin.listKeys();
  });

  r.post('/api_key', async (ctx) => {
    ctx.body = await admin.createKey(input.body(ctx));
  });

  r.get('/api_key/{name}', async (ctx) => {
    ctx.body = await admin.getKey(input.param(ctx, 'name'));
  });

  r.put('/api_key/{name}', async (ctx) => {
    ctx.body = await admin.updateKey(input.param(ctx, 'name'), input.body(ctx));
  });

  r.delete('/api_key/{name}', async (ctx) => {
    await admin.deleteKey(input.param(ctx, 'name'));
    noContent(ctx);
  });
}
