// Flapping detection (EMQX 4's emqx_flapping): a client id that disconnects more than max_count
// times within window_time is banned for ban_time, in zones with enable_flapping_detect on. The
// ban is an ordinary one (banned.ts, by "flapping"), so it is listed and removable in /banned.
// Counting needs the zone, which a disconnect does not carry: the CONNECT step notes it for the
// client ids of zones that detect flapping, and only those disconnects are counted.
import type { ConfigSource } from '../../config/source.ts';
import type { Logger } from '../../logger.ts';
import type { HookChain } from '../core/hook-chain.ts';
import type { EventBus } from '../events.ts';
import type { Banned } from './banned.ts';

export interface FlappingDeps {
  config: ConfigSource;
  events: EventBus;
  banned: Banned;
  logger: Logger;
  /** ms; injected by tests */
  now?: () => number;
}

interface Entry {
  zone: string;
  /** disconnects in the current window */
  count: number;
  /** ms, when the current window began */
  since: number;
}

export interface Flapping {
  registerSteps(chain: HookChain): void;
  /** client ids being watched (for tests and diagnostics) */
  size(): number;
  close(): void;
}

export function createFlapping(deps: FlappingDeps): Flapping {
  const { config, events, banned } = deps;
  const log = deps.logger.child({ module: 'flapping' });
  const now = deps.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const enabled = (zone: string) => config.get().zones[zone]?.enable_flapping_detect === true;

  // `when`: only clients the connect step watches count, so with none watched (detection off in
  // every zone) no disconnect builds its client.disconnected payload for this listener
  const off = events.on('client.disconnected', (e) => {
    const entry = entries.get(e.clientid);
    if (!entry || !enabled(entry.zone)) return;
    const { max_count, window_time, ban_time } = config.get().flapping_detect_policy;
    const t = now();
    if (t - entry.since > window_time) {
      entry.count = 0;
      entry.since = t;
    }
    entry.count++;
    if (entry.count <= max_count) return;
    entries.delete(e.clientid);
    const reason = `flapping: ${entry.count} disconnects within ${window_time / 1000} s`;
    log.warn({ clientid: e.clientid, disconnects: entry.count, window_ms: window_time, ban_ms: ban_time }, 'flapping client banned');
    banned.add({ as: 'clientid', who: e.clientid, reason, by: 'flapping', at: t, until: t + ban_time }).catch((err: unknown) => {
      // banned meanwhile (by an admin, or a second detection racing this one): nothing to do
      if ((err as { code?: string }).code !== 'ALREADY_EXISTS') log.error({ err, clientid: e.clientid }, 'banning a flapping client failed');
    });
  }, { when: () => entries.size > 0 });

  // forget clients whose window passed: they start afresh on their next CONNECT
  const timer = setInterval(() => {
    const t = now();
    const window = config.get().flapping_detect_policy.window_time;
    for (const [id, entry] of entries) if (t - entry.since > window) entries.delete(id);
  }, 30_000);
  timer.unref();

  return {
    registerSteps(chain) {
      chain.add('connect', 'banned', (ctx, info) => {
        if (info.clientid === '' || !enabled(ctx.zone)) return undefined;
        const entry = entries.get(info.clientid);
        if (entry) entry.zone = ctx.zone;
        else entries.set(info.clientid, { zone: ctx.zone, count: 0, since: now() });
        return undefined;
      });
    },
    size: () => entries.size,
    close() {
      off();
      clearInterval(timer);
    },
  };
}
