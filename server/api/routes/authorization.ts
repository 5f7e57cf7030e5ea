// Authorization rules of the built_in_database source (EMQX 5's shapes) and the "why was I
// refused" check. Rules are edited through the same engine the broker asks on every PUBLISH and
// SUBSCRIBE: a change applies to the next packet of connected clients.
import { badRequest } from '../../errors.ts';
import { notFoundRules, type ApiRule, type RuleKind } from '../../broker/access/acl.ts';
import { input, noContent, pageMeta, type ApiRoutes, type RouteServices } from '../router.ts';

const BASE = '/authorization/sources/built_in_database/rules';

export function register(r: ApiRoutes, { deps }: RouteServices) {
  const { acl } = deps;

  for (const [kind, plural, field] of [
    ['clientid', 'clients', 'clientid'],
    ['username', 'users', 'username'],
  ] as const satisfies readonly [RuleKind, string, string][]) {
    const one = (who: string, rules: ApiRule[]) => ({ [field]: who, rules });

    r.get(`${BASE}/${plural}`, (ctx) => {
      const q = input.query<{ page: number; limit: number; like_clientid?: string; like_username?: string }>(ctx);
      const res = acl.listRules(kind, { page: q.page, limit: q.limit, like: kind === 'clientid' ? q.like_clientid : q.like_username });
      ctx.body = { data: res.data.map((e) => one(e.who, e.rules)), meta: pageMeta(q.page, q.limit, res.count) };
    });

    r.post(`${BASE}/${plural}`, async (ctx) => {
      const body = input.body<({ rules: ApiRule[] } & Record<string, string | ApiRule[]>)[]>(ctx);
      const seen = new Set<string>();
      const entries = body.map((e, i) => {
        const who = e[field] as string;
        if (seen.has(who)) throw badRequest(`body[${i}].${field} ${JSON.stringify(who)} appears twice`);
        seen.add(who);
        return { who, rules: e.rules };
      });
      await acl.setRules(kind, entries);
      noContent(ctx);
    });

    const item = `${BASE}/${plural}/{${field}}`;
    r.get(item, (ctx) => {
      const who = input.param(ctx, field);
      const rules = acl.getRules(kind, who);
      if (!rules) throw notFoundRules(kind, who);
      ctx.body = one(who, rules);
    });

    r.put(item, async (ctx) => {
      const who = input.param(ctx, field);
      const body = input.body<{ rules: ApiRule[] } & Record<string, unknown>>(ctx);
      if (body[field] !== undefined && body[field] !== who) throw badRequest(`body.${field} must equal the ${field} in the path (${who})`);
      await acl.setRules(kind, [{ who, rules: body.rules }]);
      noContent(ctx);
    });

    r.delete(item, async (ctx) => {
      const who = input.param(ctx, field);
      if (!(await acl.deleteRules(kind, who))) throw notFoundRules(kind, who);
      noContent(ctx);
    });
  }

  r.get(`${BASE}/all`, (ctx) => {
    ctx.body = { rules: acl.getAllRules() };
  });

  r.post(`${BASE}/all`, async (ctx) => {
    await acl.setAllRules(input.body<{ rules: ApiRule[] }>(ctx).rules);
    noContent(ctx);
  });

  r.delete(`${BASE}/all`, async (ctx) => {
    await acl.setAllRules([]);
    noContent(ctx);
  });

  // acl_file's rules in force, read-only: the file is edited on disk and put in force by a reload
  r.get('/authorization/sources/file/rules', (ctx) => {
    const f = acl.fileRules();
    ctx.body = {
      file: f?.file ?? null,
      rules: (f?.rules ?? []).map((rule) => {
        const o = rule.origin as { line: number; text: string };
        return { line: o.line, text: o.text, permission: rule.permission };
      }),
    };
  });

  r.post('/authorization/check', async (ctx) => {
    const b = input.body<{ clientid: string; username?: string | null; peerhost?: string | null; action: 'publish' | 'subscribe'; topic: string }>(ctx);
    const username = b.username ?? null;
    const user = username === null ? undefined : await deps.auth.getUser(username);
    const decision = acl.explain(
      { clientid: b.clientid, username, peerhost: () => b.peerhost ?? null, isSuperuser: user?.is_superuser === true },
      b.action,
      b.topic,
    );
    const rule = decision.rule;
    ctx.body = {
      result: decision.result,
      source: decision.source,
      rule:
        rule === null
          ? null
          : rule.source === 'file'
            ? { source: 'file', file: rule.file, line: rule.line, text: rule.text }
            : { source: 'built_in_database', kind: rule.kind, who: rule.who, index: rule.index, ...acl.describeApiRule(rule) },
    };
  });
}
