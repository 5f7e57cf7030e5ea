// The effective configuration. Secrets are masked wherever they sit: any key that names a
// password, secret or token, at any depth, so a field added to Config later is masked too.
import type { ApiRoutes, RouteServices } from '../router.ts';

const MASK = '******';
const SECRET_KEY = /pass(word)?$|passwd|secret|token|private_?key$/i;

export function maskSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, k);
    return out;
  }
  if (SECRET_KEY.test(key) && typeof value === 'string') return MASK;
  return value === undefined ? null : value;
}

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
    ctx.body = { ...masked, overrides };
  });
}
