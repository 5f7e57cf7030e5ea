// Authentication's step on the CONNECT chain: the auth service (client-id allow-list, built-in
// users, the zone's anonymous setting) decides; the step records the verdict on the client,
// counts failures and emits client.authenticate.
import type { HookChain } from '../core/hook-chain.ts';
import type { EventBus } from '../events.ts';
import type { Metrics } from '../sys/metrics.ts';
import type { AuthResult, AuthService } from '../types.ts';

export function registerAuthentication(chain: HookChain, deps: { auth: AuthService; events: EventBus; metrics: Metrics }): void {
  const { auth, events, metrics } = deps;
  chain.add('connect', 'authentication', (ctx, info) => {
    const settle = (result: AuthResult) => {
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
        return undefined;
      }
      metrics['client.auth.failure']++;
      return { returnCode: result.returnCode, reason: result.returnCode === 4 ? 'bad user name or password' : 'not authorized' };
    };
    const verdict = auth.authenticate({ zone: ctx.zone, clientId: info.clientid, username: info.username, password: info.password });
    // the usual verdicts (anonymous, allow-list) arrive synchronously: no promise
    return verdict instanceof Promise ? verdict.then(settle) : settle(verdict);
  });
}
