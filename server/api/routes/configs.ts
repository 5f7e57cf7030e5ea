// The effective configuration (secrets masked: config/mask.ts), and reloading emqx.conf.
import { input, type ApiRoutes, type RouteServices } from '../router.ts';
import { maskSecrets } from '../../config/mask.ts';
import { valueSources } from '../../config/value-sources.ts';
import { ConfigError } from '../../config/errors.ts';
import { TernError } from '../../errors.ts';
import type { Principal } from '../services/admin.ts';

export { maskSecrets };

export function register(r: ApiRoutes, { deps }: RouteServices) {
  r.get('/configs', async (ctx) => {
    const masked = maskSecrets(deps.config.get()) as Record<string, unknown> & { zones: Record<string, Record<string, unknown>> };
    // Values set through the API win over the file: show them in place and list them.
    const overrides: Record<string, unknown> = {};
    for (const [zone, s] of Object.entries(await deps.auth.getAnonymous())) {
      if (s.source !== 'api') continue;
      overrides[`zones.${zone}.allow_anonymous`] = s.allow;
      if (masked.zones[zone]) masked.zones[zone]!.allow_anonymous = s.allow;
    }
    const sources = valueSources(deps.config.get(), deps.configOrigins?.() ?? {}, Object.keys(overrides));
    ctx.body = { ...masked, overrides, sources };
  });

  r.post('/configs/reload', async (ctx) => {
    if (!deps.reload) throw new TernError('NOT_IMPLEMENTED', 'this node cannot reload its configuration', 501);
    const { dry_run } = input.query<{ dry_run: boolean }>(ctx);
    const p = ctx.state.principal as Principal | undefined;
    const by = p === undefined ? undefined : p.kind === 'token' ? p.username : `api_key:${p.name}`;
    try {
      ctx.body = await deps.reload({ dryRun: dry_run, trigger: 'api', by });
    } catch (err) {
      // a file that does not load is the caller's to fix: 400 with the line, the old config stays
      if (err instanceof ConfigError) throw new TernError('BAD_CONFIG', err.message, 400);
      throw err;
    }
  });
}
