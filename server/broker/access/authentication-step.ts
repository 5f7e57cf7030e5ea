// Authentication's step on the CONNECT chain: the auth service (client-id allow-list, built-in
// users, the zone's anonymous setting) decides; the step records the verdict on the client,
// counts failures and emits client.authenticate.
import type { ClientContext, ConnectInfo, ConnectRefusal, HookChain } from '../core/hook-chain.ts';
import type { EventBus } from '../events.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { AuthResult, AuthService } from '../types.ts';

export function registerAuthentication(chain: HookChain, deps: { auth: AuthService; events: EventBus; metrics: Metrics }): void {
  const { auth, events, metrics } = deps;
  // once per broker, with what it needs as arguments: a closure made per CONNECT would cost a
  // defineProperty too (tsx keeps function names)
  const settle = (ctx: ClientContext, info: ConnectInfo, result: AuthResult): ConnectRefusal | undefined => {
    if (events.has('client.authenticate')) {
      events.emit('client.authenticate', {
        clientid: info.clientid,
        username: info.username ?? null,
        ipaddress: ctx.peerhost(),
        zone: ctx.zone,
        result: result.ok ? 'success' : 'failure',
        via: result.ok ? result.via : null,
        is_superuser: result.ok && result.isSuperuser,
      });
    }
    if (result.ok) {
      ctx.isSuperuser = result.isSuperuser;
      (ctx as { authVia?: string }).authVia = result.via;
      return undefined;
    }
    metrics['client.auth.failure']++;
    return { returnCode: result.returnCode, reason: result.returnCode === 4 ? 'bad user name or password' : 'not authorized' };
  };
  chain.add('connect', 'authentication', (ctx, info) => {
    const verdict = auth.authenticate({ zone: ctx.zone, clientId: info.clientid, username: info.username, password: info.password });
    // the usual verdicts (anonymous, allow-list) arrive synchronously: no promise, no closure
    return verdict instanceof Promise ? verdict.then((result) => settle(ctx, info, result)) : settle(ctx, info, verdict);
  });
}
