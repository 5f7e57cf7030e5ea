// What the management API needs from the rest of Tern. Everything is passed in, so tests can
// run several Terns in one process.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ConfigSource } from '../config/source.ts';
import type { Database } from '../store/database.ts';
import type { AuthService, BrokerControl, SessionRegistry } from '../broker/types.ts';
import type { Acl } from '../broker/access/acl.ts';
import type { Banned } from '../broker/access/banned.ts';
import type { ReloadOptions, ReloadReport } from '../reload.ts';
import type { HookService } from '../hooks/index.ts';
import type { BrokerSubscriptions } from '../broker/routing/broker-subscriptions.ts';
import type { SharedSubscriptions } from '../broker/routing/shared-subscriptions.ts';

export interface ApiDeps {
  /** read at request time (never copied), so a later config reload can swap it in place */
  config: ConfigSource;
  db: Kysely<Database>;
  auth: AuthService;
  /** authorization: the built_in_database rules and the check */
  acl: Acl;
  banned: Banned;
  sessions: SessionRegistry;
  broker: BrokerControl;
  /** webhooks (server/hooks) */
  hooks: HookService;
  /** subscriptions made by the broker, and the shared-subscription groups */
  routing: {
    brokerSubscriptions: Omit<BrokerSubscriptions, 'attach'>;
    shared: Pick<SharedSubscriptions, 'groups'>;
  };
  logger: Logger;
  version: string;
  /** ms since the epoch */
  startedAt: number;
  /** re-reads emqx.conf and applies it (server/reload.ts); absent where no broker runs */
  reload?: (opts: ReloadOptions) => Promise<ReloadReport>;
  /** where each value in force came from, by Config path (config/value-sources.ts); absent: all defaults */
  configOrigins?: () => Record<string, string>;
}

/** Tunables with production defaults; tests shorten them. */
export interface ApiOptions {
  /** lifetime of a login token, default 1 h */
  tokenTtlMs?: number;
  /** largest accepted JSON body, default max(1 MiB, 2 × mqtt.max_packet_size) so a base64 publish of a maximal packet fits */
  bodyLimitBytes?: number;
  /** failed logins per source address before 429, default 5 per 60 s */
  loginFailures?: { max: number; windowMs: number };
  /** the clock of token and API key expiry and of the login failure window (ms since the
   *  epoch), default Date.now; tests step it instead of waiting */
  now?: () => number;
  /** how often the /monitor_current sampler reads the broker's counters, default 1000 ms */
  monitorSampleMs?: number;
  /** how often a /monitor history sample is stored, default 10 000 ms */
  monitorHistoryMs?: number;
  /** period of /monitor/stream events, default 1000 ms */
  monitorStreamMs?: number;
  /** the built dashboard served at dashboard.base_path, default dashboard/dist */
  dashboardDir?: string;
  /** the OpenAPI file, default api-spec/openapi.yaml */
  specFile?: string;
  /** stops the sampler, like close() */
  signal?: AbortSignal;
}
