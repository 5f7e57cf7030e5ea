// Helpers for the management API tests: an API-only harness (real SQLite store, real AuthService)
// for middleware tests, and helpers to drive a whole Tern through its HTTP port.
import fs from 'node:fs';
import { staticConfig } from '../../server/config/source.ts';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import request from 'supertest';
import type { MqttClient, IClientOptions } from 'mqtt';
import { openStore, type Store } from '../../server/store/open.ts';
import { createAuthService } from '../../server/broker/access/auth.ts';
import { createApiApp, ensureDefaultAdmin, type ApiApp, type ApiOptions } from '../../server/api/app.ts';
import type { ApiDeps } from '../../server/api/deps.ts';
import type { BrokerControl, SessionRegistry } from '../../server/broker/types.ts';
import type { Config } from '../../server/config/types.ts';
import { testConfig, connect, startTestTern } from './tern.ts';
import type { Tern } from '../../server/tern.ts';

/** A pino logger whose lines are kept for assertions. */
export function capturingLogger(level: pino.LevelWithSilent = 'info'): { logger: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines: () => out.map((l) => JSON.parse(l)) };
}

/** Where the broker is not under test; a call means the test reached further than it meant to. */
function notUnderTest<T extends object>(what: string, partial: Partial<T> = {}): T {
  return new Proxy(partial as T, {
    get(target, prop) {
      if (prop in target) return (target as Record<string | symbol, unknown>)[prop];
      return () => {
        throw new Error(`${what}.${String(prop)} is not part of this test`);
      };
    },
  });
}

export interface ApiHarness {
  app: ApiApp;
  http: ReturnType<typeof request>;
  store: Store;
  config: Config;
  deps: ApiDeps;
  logLines: () => { level: number; msg: string; [k: string]: unknown }[];
  close(): Promise<void>;
}

/**
 * The API over a real SQLite store and the real AuthService, without listeners: for the
 * middleware (auth, validation, errors, admin users, API keys). Sessions and broker control are
 * not under test here; the integration tests use the whole Tern.
 */
export async function startApiOnly(opts: { config?: Config; api?: ApiOptions; broker?: Partial<BrokerControl>; sessions?: Partial<SessionRegistry> } = {}): Promise<ApiHarness> {
  const config = opts.config ?? testConfig();
  const { logger, lines } = capturingLogger('debug');
  const store = await openStore({ dataDir: config.node.data_dir, logger });
  const source = staticConfig(config);
  const auth = await createAuthService({ db: store.db, config: source, logger });
  const deps: ApiDeps = {
    config: source,
    db: store.db,
    auth,
    sessions: notUnderTest<SessionRegistry>('sessions', opts.sessions),
    broker: notUnderTest<BrokerControl>('broker', { metrics: () => ({}), stats: () => ({}), ...opts.broker }),
    logger,
    version: '0.0.0-test',
    startedAt: Date.now(),
  };
  await ensureDefaultAdmin(deps);
  const app = createApiApp(deps, opts.api);
  return {
    app,
    http: request(app.callback()),
    store,
    config,
    deps,
    logLines: lines,
    async close() {
      app.close();
      await store.close();
      fs.rmSync(config.node.data_dir, { recursive: true, force: true });
    },
  };
}

export async function login(http: ReturnType<typeof request>, username = 'admin', password = 'public'): Promise<string> {
  const res = await http.post('/api/v5/login').send({ username, password });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const basic = (key: string, secret: string) => ({ Authorization: `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}` });

/** Opens n clients in batches (the machine is small), resolving when all have their CONNACK. */
export async function openClients(url: string, n: number, opts: (i: number) => IClientOptions, batch = 50): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < n; i += batch) {
      const part = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => connect(url, opts(i + j))));
      clients.push(...part);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    throw err;
  }
  return clients;
}

// ---- the whole Tern ------------------------------------------------------------------------------

export interface TernApi {
  tern: Tern;
  /** supertest against the real HTTP port */
  http: ReturnType<typeof request>;
  token: string;
  /** the Authorization header of the logged-in admin */
  auth: { Authorization: string };
  mqttUrl(listener?: string): string;
  close(): Promise<void>;
}

/** Starts Tern on port 0 everywhere and logs in as the default admin. */
export async function startTernApi(config: Config = testConfig()): Promise<TernApi> {
  const tern = await startTestTern(config);
  try {
    const http = request(`http://127.0.0.1:${tern.ports.http}`);
    const token = await login(http);
    return {
      tern,
      http,
      token,
      auth: bearer(token),
      mqttUrl: (listener = 'external') => `mqtt://127.0.0.1:${tern.ports.tcp[listener]}`,
      close: () => tern.close(),
    };
  } catch (err) {
    await tern.close();
    throw err;
  }
}
